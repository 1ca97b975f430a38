//! The lenient view of one audit entry.
//!
//! Coder's shape drifts between versions (fields appear, vanish, change type: `build_number`
//! is a string, `organization_ids` is `null` before v2.13, enums grow every release). A field
//! we cannot read is never a reason to drop an event, so every field here is optional, every
//! enum is an open `String`, a field of the wrong type reads as `None`, and unknown fields
//! are kept in `extra`. The raw bytes travel beside this view (see [`super::Event`]).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// Read a field as `T`, or `None` when it is absent, `null`, or of another type.
fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let v = Value::deserialize(d)?;
    Ok(T::deserialize(v).ok())
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct AuditEntry {
    #[serde(deserialize_with = "lenient")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub request_id: Option<String>,
    /// Kept as text: the tailer parses it, and a bad value must not hide the entry.
    #[serde(deserialize_with = "lenient")]
    pub time: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub ip: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub user_agent: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub resource_type: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub resource_id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub resource_target: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub resource_icon: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub action: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub diff: Option<Map<String, Value>>,
    #[serde(deserialize_with = "lenient")]
    pub status_code: Option<i64>,
    #[serde(deserialize_with = "lenient")]
    pub additional_fields: Option<Value>,
    #[serde(deserialize_with = "lenient")]
    pub description: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub resource_link: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub is_deleted: Option<bool>,
    #[serde(deserialize_with = "lenient")]
    pub organization_id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub organization: Option<Organization>,
    /// `null` for agent events, unauthenticated app opens and test rows.
    #[serde(deserialize_with = "lenient")]
    pub user: Option<User>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// Fields left out of this view because they could not be read at all: nested deeper
    /// than the parser's limit of 128 levels (a hostile or pathological diff). The raw
    /// bytes still carry them.
    #[serde(skip)]
    pub unreadable: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Organization {
    #[serde(deserialize_with = "lenient")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub name: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub display_name: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub icon: Option<String>,
}

/// `codersdk.User` as joined at read time: it reflects the user's *current* state.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct User {
    #[serde(deserialize_with = "lenient")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub username: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub name: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub email: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub status: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub login_type: Option<String>,
    /// Role objects vary by version (`{name, display_name, organization_id?}`); kept raw.
    #[serde(deserialize_with = "lenient")]
    pub roles: Option<Vec<Value>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AuditEntry {
    /// Parse one entry's JSON. Never fails: a value that is not even an object gives an
    /// entry with every field empty, which the tailer still forwards (raw) and counts.
    pub fn parse(raw: &str) -> Self {
        serde_json::from_str(raw).unwrap_or_else(|_| Self::parse_fields(raw))
    }

    /// The fields one at a time, for an entry that did not parse whole: a value nested past
    /// serde_json's recursion limit (kept, because deeper values would overflow the stack of
    /// every recursive walk over them) then costs only itself, not the id, time and user
    /// that the cursor and the SIEM need.
    fn parse_fields(raw: &str) -> Self {
        type Fields<'a> = std::collections::BTreeMap<String, &'a serde_json::value::RawValue>;
        let Ok(fields) = serde_json::from_str::<Fields>(raw) else {
            return Self::default();
        };
        let mut object = Map::new();
        let mut unreadable = Vec::new();
        for (name, value) in fields {
            match serde_json::from_str::<Value>(value.get()) {
                Ok(v) => {
                    object.insert(name, v);
                }
                Err(_) => unreadable.push(name),
            }
        }
        let mut entry: Self = serde_json::from_value(Value::Object(object)).unwrap_or_default();
        entry.unreadable = unreadable;
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_types_read_as_none_and_keep_the_rest() {
        let e = AuditEntry::parse(
            r#"{"id":"a","status_code":"200","user":null,"is_deleted":1,"new_field":{"x":1}}"#,
        );
        assert_eq!(e.id.as_deref(), Some("a"));
        assert_eq!(e.status_code, None);
        assert_eq!(e.user, None);
        assert_eq!(e.is_deleted, None);
        assert_eq!(e.extra["new_field"]["x"], 1);
    }

    #[test]
    fn legacy_user_shapes_parse() {
        let e = AuditEntry::parse(
            r#"{"user":{"id":"u","username":"mia","organization_ids":null,"roles":[{"name":"owner"}]}}"#,
        );
        let u = e.user.unwrap();
        assert_eq!(u.username.as_deref(), Some("mia"));
        assert_eq!(u.roles.unwrap().len(), 1);
        assert!(u.extra["organization_ids"].is_null());
    }

    #[test]
    fn a_non_object_is_an_empty_entry_not_an_error() {
        assert_eq!(AuditEntry::parse("42"), AuditEntry::default());
        assert_eq!(AuditEntry::parse("{broken"), AuditEntry::default());
    }
}
