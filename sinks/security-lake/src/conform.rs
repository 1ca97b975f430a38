//! An OCSF event as its class's Parquet row: JSON attributes (`unmapped`, `json_t`, objects
//! past the nesting depth) become JSON text, nulls are left out, and an attribute the
//! class does not define is refused by path, never dropped: a column that is not there
//! would lose what the event says without a word.

use std::collections::BTreeMap;

use arrow_schema::DataType;
use serde_json::{Map, Value};

use crate::schema::{Node, Shape};

/// Why an event does not fit its class's schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct Misfit {
    pub path: String,
    pub problem: String,
}

/// `event` (an OCSF object) made to fit `root`.
pub fn conform(event: Map<String, Value>, root: &BTreeMap<String, Node>) -> Result<Value, Misfit> {
    object(event, root, "")
}

fn object(
    fields: Map<String, Value>,
    nodes: &BTreeMap<String, Node>,
    at: &str,
) -> Result<Value, Misfit> {
    let mut out = Map::with_capacity(fields.len());
    for (name, value) in fields {
        let path = if at.is_empty() {
            name.clone()
        } else {
            format!("{at}.{name}")
        };
        if value.is_null() {
            continue;
        }
        let Some(node) = nodes.get(&name) else {
            return Err(Misfit {
                path,
                problem: "no column in this class's schema (OCSF 1.1.0 does not define it \
                          here, or the schema was made before the normalizer filled it: \
                          scripts/gen-lake-schema.py)"
                    .into(),
            });
        };
        out.insert(name, attribute(value, node, &path)?);
    }
    Ok(Value::Object(out))
}

fn attribute(value: Value, node: &Node, path: &str) -> Result<Value, Misfit> {
    if !node.array {
        return item(value, &node.shape, path);
    }
    match value {
        Value::Array(items) => items
            .into_iter()
            .filter(|v| !v.is_null())
            .map(|v| item(v, &node.shape, path))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => Err(Misfit {
            path: path.to_owned(),
            problem: format!("a list in OCSF, got {}", kind(&other)),
        }),
    }
}

fn item(value: Value, shape: &Shape, path: &str) -> Result<Value, Misfit> {
    match (shape, value) {
        (Shape::Json, v) => Ok(Value::String(v.to_string())),
        (Shape::Object(children), Value::Object(fields)) => object(fields, children, path),
        (Shape::Object(_), other) => Err(Misfit {
            path: path.to_owned(),
            problem: format!("an object in OCSF, got {}", kind(&other)),
        }),
        (Shape::Scalar(t), v) if fits(t, &v) => Ok(v),
        (Shape::Scalar(t), v) => Err(Misfit {
            path: path.to_owned(),
            problem: format!("{} in OCSF, got {}", expected(t), kind(&v)),
        }),
    }
}

/// Whether the Arrow decoder takes `v` into a `t` column as it is (it coerces nothing,
/// and a refusal there would name a whole batch, not the row).
fn fits(t: &DataType, v: &Value) -> bool {
    match (t, v) {
        (DataType::Boolean, Value::Bool(_)) | (DataType::Utf8, Value::String(_)) => true,
        (DataType::Int32, Value::Number(n)) => n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
        (DataType::Int64, Value::Number(n)) => n.as_i64().is_some(),
        (DataType::Float64, Value::Number(_)) => true,
        _ => false,
    }
}

fn expected(t: &DataType) -> &'static str {
    match t {
        DataType::Boolean => "a boolean",
        DataType::Int32 => "a 32-bit integer",
        DataType::Int64 => "a 64-bit integer",
        DataType::Float64 => "a number",
        _ => "a string",
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::schema::Catalog;

    fn auth() -> &'static BTreeMap<String, Node> {
        &Catalog::get().class(3002).unwrap().root
    }

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn json_attributes_become_text_and_nulls_go() {
        let event = json!({
            "class_uid": 3002,
            "unmapped": {"coder": {"diff": {"name": {"old": "a", "new": null}}}},
            "actor": {"user": {"uid": "u1", "org": {"name": "acme"}, "email_addr": null}},
            "message": null,
        });
        let mut row = conform(map(event), auth()).unwrap();
        // JSON text, read back, is what was there (nulls inside it stay).
        let text = row["unmapped"].as_str().unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(text).unwrap(),
            json!({"coder": {"diff": {"name": {"old": "a", "new": null}}}})
        );
        row["unmapped"] = json!("...");
        assert_eq!(
            row,
            json!({
                "class_uid": 3002,
                "unmapped": "...",
                "actor": {"user": {"uid": "u1", "org": r#"{"name":"acme"}"#}},
            })
        );
    }

    #[test]
    fn an_attribute_the_class_does_not_define_is_refused_by_path() {
        let e = conform(map(json!({"actor": {"user": {"nickname": "x"}}})), auth()).unwrap_err();
        assert_eq!(e.path, "actor.user.nickname");
        let e = conform(map(json!({"actor": "x"})), auth()).unwrap_err();
        assert_eq!(e.path, "actor");
        assert!(e.problem.contains("an object"), "{e}");
        let e = conform(map(json!({"metadata": {"profiles": "host"}})), auth()).unwrap_err();
        assert_eq!(e.path, "metadata.profiles");
        assert!(e.problem.contains("a list"), "{e}");
        let e = conform(map(json!({"severity_id": "1"})), auth()).unwrap_err();
        assert_eq!(e.path, "severity_id");
        assert!(e.problem.contains("32-bit integer"), "{e}");
        let e = conform(map(json!({"severity_id": 1u64 << 40})), auth()).unwrap_err();
        assert!(e.problem.contains("32-bit integer"), "{e}");
        let e = conform(map(json!({"message": 5})), auth()).unwrap_err();
        assert!(e.problem.contains("a string"), "{e}");
    }
}
