//! Reading Coder's `diff` (`{field: {old, new, secret}}`): what changed, with secret
//! values never emitted, and a way to leave fields out when an event must fit a size.
//!
//! Coder already blanks the values of `secret: true` fields, but we do not rely on it: a
//! secret field is emitted as `{"secret": true}` and nothing else, whatever Coder sent.

use std::borrow::Cow;
use std::collections::BTreeSet;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::coder::{JsonText, is_secret, write_raw};

/// Which diff fields an encoding keeps (all, unless the event had to be cut to size).
#[derive(Debug, Clone, Default)]
pub enum Keep {
    #[default]
    All,
    Only(BTreeSet<String>),
}

impl Keep {
    fn keeps(&self, field: &str) -> bool {
        match self {
            Keep::All => true,
            Keep::Only(set) => set.contains(field),
        }
    }
}

/// The diff as it is emitted: secrets redacted, limited to the kept fields. Each change
/// is written as the text Coder sent (see [`JsonText`]), never parsed into a tree.
pub struct Redacted<'a> {
    pub diff: &'a JsonText,
    pub keep: &'a Keep,
}

impl Serialize for Redacted<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (field, change) in self.diff.fields() {
            if self.keep.keeps(&field) {
                map.serialize_entry(&field, &RedactedChange::of(change, self.diff))?;
            }
        }
        map.end()
    }
}

struct RedactedChange<'a> {
    change: &'a RawValue,
    verbatim: bool,
}

impl<'a> RedactedChange<'a> {
    fn of(change: &'a RawValue, diff: &JsonText) -> Self {
        RedactedChange {
            change,
            verbatim: diff.verbatim(),
        }
    }
}

impl Serialize for RedactedChange<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if is_secret(self.change) {
            let mut map = s.serialize_map(Some(1))?;
            map.serialize_entry("secret", &true)?;
            map.end()
        } else {
            write_raw(self.change, self.verbatim, s)
        }
    }
}

/// The emitted size of each field (name and redacted change), for choosing what to keep.
pub fn field_sizes(diff: &JsonText) -> Vec<(Cow<'_, str>, usize)> {
    diff.fields()
        .into_iter()
        .map(|(field, change)| {
            let size = serde_json::to_vec(&RedactedChange::of(change, diff)).map_or(0, |v| v.len());
            let len = field.len();
            (field, len + size + 4)
        })
        .collect()
}

/// The change of a field that is not secret, from the tree. The tree cannot tell a
/// `secret` key given twice: there the last counts, where [`Redacted`] takes any that is
/// `true`. Coder (Go's `encoding/json`) never writes a key twice.
fn change<'a>(diff: Option<&'a JsonText>, field: &str) -> Option<&'a Value> {
    let change = diff?.object()?.get(field)?;
    if change.get("secret").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    Some(change)
}

/// The new value of a field that is not secret.
pub fn new_value<'a>(diff: Option<&'a JsonText>, field: &str) -> Option<&'a Value> {
    change(diff, field)?.get("new")
}

/// The old value of a field that is not secret.
pub fn old_value<'a>(diff: Option<&'a JsonText>, field: &str) -> Option<&'a Value> {
    change(diff, field)?.get("old")
}

/// Whether the diff mentions `field` at all (secret or not).
pub fn touches(diff: Option<&JsonText>, field: &str) -> bool {
    diff.and_then(JsonText::object)
        .is_some_and(|d| d.contains_key(field))
}

/// What was added to and removed from a list-valued field, by element identity: a string,
/// or the `user_id`/`id`/`name` of an object (group members are objects in some versions).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ListChange {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

impl ListChange {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

pub fn list_change(diff: Option<&JsonText>, field: &str) -> ListChange {
    let ids = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| a.iter().filter_map(element_id).collect())
            .unwrap_or_default()
    };
    let old = ids(old_value(diff, field));
    let new = ids(new_value(diff, field));
    let old_set: BTreeSet<&String> = old.iter().collect();
    let new_set: BTreeSet<&String> = new.iter().collect();
    ListChange {
        added: new
            .iter()
            .filter(|x| !old_set.contains(x))
            .cloned()
            .collect(),
        removed: old
            .iter()
            .filter(|x| !new_set.contains(x))
            .cloned()
            .collect(),
    }
}

fn element_id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(o) => ["user_id", "id", "name", "username"]
            .iter()
            .find_map(|k| o.get(*k).and_then(Value::as_str))
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        _ => None,
    }
}

/// Role changes in a user or member diff: `roles` today, `rbac_roles` before v2.13.
pub fn role_change(diff: Option<&JsonText>) -> ListChange {
    let change = list_change(diff, "roles");
    if change.is_empty() {
        list_change(diff, "rbac_roles")
    } else {
        change
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diff(json: &str) -> JsonText {
        JsonText::parse(json).unwrap()
    }

    #[test]
    fn secret_values_are_never_emitted_even_when_coder_sent_them() {
        let d = diff(
            r#"{"password":{"old":"hunter2","new":"hunter3","secret":true},"name":{"old":"a","new":"b","secret":false}}"#,
        );
        let out = serde_json::to_string(&Redacted {
            diff: &d,
            keep: &Keep::All,
        })
        .unwrap();
        assert!(!out.contains("hunter"), "{out}");
        assert!(out.contains(r#""password":{"secret":true}"#), "{out}");
        assert!(out.contains(r#""new":"b""#), "{out}");
        assert_eq!(new_value(Some(&d), "password"), None);
    }

    #[test]
    fn kept_fields_limit_the_output() {
        let d = diff(r#"{"a":{"new":1},"b":{"new":2}}"#);
        let keep = Keep::Only(["b".to_owned()].into());
        let out = serde_json::to_string(&Redacted {
            diff: &d,
            keep: &keep,
        })
        .unwrap();
        assert_eq!(out, r#"{"b":{"new":2}}"#);
    }

    #[test]
    fn list_changes_of_strings_and_member_objects() {
        let d = diff(r#"{"roles":{"old":["a","b"],"new":["b","c"],"secret":false}}"#);
        assert_eq!(
            role_change(Some(&d)),
            ListChange {
                added: vec!["c".into()],
                removed: vec!["a".into()]
            }
        );
        let d = diff(r#"{"rbac_roles":{"old":[],"new":["template-admin"]}}"#);
        assert_eq!(
            role_change(Some(&d)).added,
            vec!["template-admin".to_owned()]
        );
        let d = diff(
            r#"{"members":{"old":[{"user_id":"u1","group_id":"g"}],"new":[{"user_id":"u1"},{"user_id":"u2"}]}}"#,
        );
        let m = list_change(Some(&d), "members");
        assert_eq!(m.added, vec!["u2".to_owned()]);
        assert!(m.removed.is_empty());
        let d = diff(r#"{"members":{"new":[],"secret":false}}"#);
        assert!(list_change(Some(&d), "members").is_empty());
    }
}
