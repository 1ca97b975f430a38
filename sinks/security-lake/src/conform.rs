//! An OCSF event as its class's Parquet row: JSON attributes (`unmapped`, `json_t`, objects
//! past the nesting depth) become JSON text, nulls are left out, and an attribute the
//! class's schema does not have is refused by path, never dropped: a column that is not
//! there would lose what the event says without a word.
//!
//! The event is read as raw JSON and the row written as JSON text for Arrow's decoder:
//! only objects the schema has columns for are parsed, a JSON attribute's text is copied
//! as it came (`unmapped` holds most of an event's bytes), and no `serde_json::Value` tree
//! is built and dropped per event.

use std::collections::BTreeMap;

use arrow_schema::DataType;
use serde_json::value::RawValue;

use crate::schema::{Node, Shape};

/// Why an event does not fit its class's schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct Misfit {
    pub path: String,
    pub problem: String,
}

impl Misfit {
    fn at(path: &str, problem: impl Into<String>) -> Self {
        Misfit {
            path: path.to_owned(),
            problem: problem.into(),
        }
    }
}

/// `event` (one OCSF event's JSON) as the row `root` describes, appended to `row` as one
/// JSON object (JSON text, for Arrow's decoder). On a misfit `row` is left as it was.
pub fn conform(
    event: &[u8],
    root: &BTreeMap<String, Node>,
    row: &mut Vec<u8>,
) -> Result<(), Misfit> {
    let start = row.len();
    let raw: &RawValue =
        serde_json::from_slice(event).map_err(|e| Misfit::at("", format!("not JSON: {e}")))?;
    let result = object(raw, root, "", row);
    if result.is_err() {
        row.truncate(start);
    }
    result
}

fn object(
    raw: &RawValue,
    nodes: &BTreeMap<String, Node>,
    at: &str,
    out: &mut Vec<u8>,
) -> Result<(), Misfit> {
    // Members in the order of the text.
    let fields: Vec<(String, &RawValue)> = serde_json::from_str::<Fields>(raw.get())
        .map_err(|_| Misfit::at(at, format!("an object in OCSF, got {}", kind(raw))))?
        .0;
    out.push(b'{');
    let mut first = true;
    for (name, value) in fields {
        let path = if at.is_empty() {
            name.clone()
        } else {
            format!("{at}.{name}")
        };
        if value.get() == "null" {
            continue;
        }
        let Some(node) = nodes.get(&name) else {
            return Err(Misfit::at(
                &path,
                "no column in this class's schema (OCSF 1.1.0 does not define it here, or \
                 the schema was made before the normalizer filled it: \
                 scripts/gen-lake-schema.py)",
            ));
        };
        if !first {
            out.push(b',');
        }
        first = false;
        push_string(out, &name);
        out.push(b':');
        attribute(value, node, &path, out)?;
    }
    out.push(b'}');
    Ok(())
}

fn attribute(raw: &RawValue, node: &Node, path: &str, out: &mut Vec<u8>) -> Result<(), Misfit> {
    if !node.array {
        return item(raw, &node.shape, path, out);
    }
    let items: Vec<&RawValue> = serde_json::from_str(raw.get())
        .map_err(|_| Misfit::at(path, format!("a list in OCSF, got {}", kind(raw))))?;
    out.push(b'[');
    let mut first = true;
    for v in items.into_iter().filter(|v| v.get() != "null") {
        if !first {
            out.push(b',');
        }
        first = false;
        item(v, &node.shape, path, out)?;
    }
    out.push(b']');
    Ok(())
}

fn item(raw: &RawValue, shape: &Shape, path: &str, out: &mut Vec<u8>) -> Result<(), Misfit> {
    match shape {
        Shape::Json => {
            push_string(out, raw.get());
            Ok(())
        }
        Shape::Object(children) => object(raw, children, path, out),
        Shape::Scalar(t) if fits(t, raw.get()) => {
            out.extend_from_slice(raw.get().as_bytes());
            Ok(())
        }
        Shape::Scalar(t) => Err(Misfit::at(
            path,
            format!("{} in OCSF, got {}", expected(t), kind(raw)),
        )),
    }
}

/// An object's members in order, borrowed.
struct Fields<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Fields<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut m: M,
            ) -> Result<Self::Value, M::Error> {
                let mut fields = Vec::with_capacity(m.size_hint().unwrap_or(8));
                while let Some(entry) = m.next_entry::<String, &'de RawValue>()? {
                    fields.push(entry);
                }
                Ok(Fields(fields))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// `s` as a JSON string.
fn push_string(out: &mut Vec<u8>, s: &str) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Whether the Arrow decoder takes the JSON text `v` into a `t` column as it is (it
/// coerces nothing, and a refusal there would name a whole batch, not the row).
fn fits(t: &DataType, v: &str) -> bool {
    match t {
        DataType::Boolean => v == "true" || v == "false",
        DataType::Utf8 => v.starts_with('"'),
        DataType::Int32 => v.parse::<i32>().is_ok(),
        DataType::Int64 => v.parse::<i64>().is_ok(),
        DataType::Float64 => v.parse::<f64>().is_ok(),
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

fn kind(raw: &RawValue) -> &'static str {
    match raw.get().as_bytes().first() {
        Some(b'n') => "null",
        Some(b't' | b'f') => "a boolean",
        Some(b'"') => "a string",
        Some(b'[') => "a list",
        Some(b'{') => "an object",
        _ => "a number",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::schema::Catalog;

    fn auth() -> &'static BTreeMap<String, Node> {
        &Catalog::get().class(3002).unwrap().root
    }

    fn row(event: Value) -> Result<Value, Misfit> {
        let mut out = Vec::new();
        conform(event.to_string().as_bytes(), auth(), &mut out)?;
        Ok(serde_json::from_slice(&out).expect("the row is JSON"))
    }

    #[test]
    fn json_attributes_become_text_and_nulls_go() {
        let event = json!({
            "class_uid": 3002,
            "unmapped": {"coder": {"diff": {"name": {"old": "a", "new": null}}}},
            "actor": {"user": {"uid": "u1", "org": {"name": "acme"}, "email_addr": null}},
            "message": null,
        });
        let mut row = row(event).unwrap();
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
        let e = row(json!({"actor": {"user": {"nickname": "x"}}})).unwrap_err();
        assert_eq!(e.path, "actor.user.nickname");
        let e = row(json!({"actor": "x"})).unwrap_err();
        assert_eq!(e.path, "actor");
        assert!(e.problem.contains("an object"), "{e}");
        let e = row(json!({"metadata": {"profiles": "host"}})).unwrap_err();
        assert_eq!(e.path, "metadata.profiles");
        assert!(e.problem.contains("a list"), "{e}");
        let e = row(json!({"severity_id": "1"})).unwrap_err();
        assert_eq!(e.path, "severity_id");
        assert!(e.problem.contains("32-bit integer"), "{e}");
        let e = row(json!({"severity_id": 1u64 << 40})).unwrap_err();
        assert!(e.problem.contains("32-bit integer"), "{e}");
        let e = row(json!({"message": 5})).unwrap_err();
        assert!(e.problem.contains("a string"), "{e}");
        let e = row(json!({"time": 1.5})).unwrap_err();
        assert!(e.problem.contains("64-bit integer"), "{e}");
    }

    #[test]
    fn a_misfit_leaves_the_output_as_it_was() {
        let mut out = b"{\"earlier\":1}".to_vec();
        let bad = json!({"class_uid": 3002, "actor": {"user": {"nickname": "x"}}});
        assert!(conform(bad.to_string().as_bytes(), auth(), &mut out).is_err());
        assert_eq!(out, b"{\"earlier\":1}");
        assert!(conform(b"not json", auth(), &mut out).is_err());
        assert_eq!(out, b"{\"earlier\":1}");
    }
}
