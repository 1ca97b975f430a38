//! An ECS 9.4 document check against `@elastic/ecs`'s `EcsFlat` table: the rules of
//! `schemas/NOTES.md` §3.3 (no maintained ECS validator exists). Returns every problem.

use std::net::IpAddr;

use serde_json::{Map, Value};

const CUSTOM_ROOTS: [&str; 1] = ["coder"];
const CONTAINERS: [&str; 3] = ["object", "flattened", "nested"];

pub fn check(doc: &Value, fields: &Map<String, Value>) -> Vec<String> {
    let mut errors = Vec::new();
    let Some(obj) = doc.as_object() else {
        return vec!["not an object".into()];
    };
    if !obj.contains_key("@timestamp") {
        errors.push("missing @timestamp (required)".into());
    }
    let mut leaves = Vec::new();
    collect_leaves(obj, "", fields, &mut leaves);
    for (path, value) in leaves {
        let Some(spec) = fields.get(&path) else {
            let parts: Vec<&str> = path.split('.').collect();
            if CUSTOM_ROOTS.contains(&parts[0]) {
                continue;
            }
            let container = (1..parts.len())
                .rev()
                .map(|i| parts[..i].join("."))
                .find(|p| fields.contains_key(p));
            match container {
                Some(c) if CONTAINERS.contains(&type_of(&fields[&c])) => {
                    if c == "labels" && !value.is_string() {
                        errors.push(format!("{path}: labels values must be strings"));
                    }
                }
                _ => errors.push(format!(
                    "{path}: not an ECS field (product data goes under coder.* or labels.*)"
                )),
            }
            continue;
        };
        let ty = type_of(spec);
        if path == "labels"
            && value
                .as_object()
                .is_some_and(|l| l.values().any(|v| !v.is_string()))
        {
            errors.push("labels: values must be strings (keyword)".into());
        }
        let is_array_field = spec["normalize"]
            .as_array()
            .is_some_and(|n| n.iter().any(|x| x == "array"));
        if is_array_field && !value.is_array() {
            errors.push(format!("{path}: ECS expects an array"));
        }
        let values: Vec<&Value> = match value {
            Value::Array(a) => a.iter().collect(),
            v => vec![v],
        };
        let allowed: Option<Vec<&str>> = spec["allowed_values"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v["name"].as_str()).collect());
        for v in values {
            if !scalar_ok(ty, v) {
                errors.push(format!("{path}: {v} is not a valid {ty}"));
            }
            if let (Some(allowed), Some(s)) = (&allowed, v.as_str()) {
                if !allowed.contains(&s) {
                    errors.push(format!("{path}: {s:?} is not one of {allowed:?}"));
                }
            }
        }
    }
    // Every event.type must be expected by at least one of the event's categories.
    let expected = |category: &str| -> Vec<String> {
        fields["event.category"]["allowed_values"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["name"] == category)
            .and_then(|c| c["expected_event_types"].as_array())
            .map(|t| {
                t.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let categories: Vec<&str> = doc["event"]["category"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for t in doc["event"]["type"].as_array().into_iter().flatten() {
        let t = t.as_str().unwrap_or_default();
        if !categories.is_empty()
            && !categories
                .iter()
                .any(|c| expected(c).iter().any(|e| e == t))
        {
            errors.push(format!(
                "event.type {t:?} is not expected for event.category {categories:?}"
            ));
        }
    }
    errors
}

fn type_of(spec: &Value) -> &str {
    spec["type"].as_str().unwrap_or("")
}

fn collect_leaves<'a>(
    obj: &'a Map<String, Value>,
    prefix: &str,
    fields: &Map<String, Value>,
    out: &mut Vec<(String, &'a Value)>,
) {
    for (k, v) in obj {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        if let Value::Object(inner) = v {
            let ty = fields.get(&path).map(type_of).unwrap_or("");
            // A geo_point given as `{"lat": …, "lon": …}` is one value, not two fields.
            if !CONTAINERS.contains(&ty) && ty != "geo_point" {
                collect_leaves(inner, &path, fields, out);
                continue;
            }
        }
        out.push((path, v));
    }
}

fn scalar_ok(ty: &str, v: &Value) -> bool {
    match ty {
        "keyword" | "constant_keyword" | "wildcard" | "match_only_text" | "text" => v.is_string(),
        "long" | "integer" | "short" | "byte" | "unsigned_long" => v.is_i64() || v.is_u64(),
        "float" | "double" | "scaled_float" | "half_float" => v.is_number(),
        "boolean" => v.is_boolean(),
        "date" => {
            v.as_str()
                .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok())
                || v.is_i64()
        }
        "ip" => v.as_str().is_some_and(|s| s.parse::<IpAddr>().is_ok()),
        "object" | "flattened" | "nested" => v.is_object(),
        // Elasticsearch's geo_point as an object: latitude within ±90, longitude ±180.
        "geo_point" => {
            let degrees = |key: &str, max: f64| v[key].as_f64().is_some_and(|d| d.abs() <= max);
            v.as_object().is_some_and(|o| o.len() == 2)
                && degrees("lat", 90.0)
                && degrees("lon", 180.0)
        }
        _ => true,
    }
}
