//! An audit entry written as Coder's Go encoder writes it: struct fields in their declared
//! order, not sorted.
//!
//! `encoding/json` writes a struct's fields in declaration order (`codersdk.AuditLog` in
//! `coder/coder:codersdk/audit.go`; the order is the table in `coder-api/NOTES.md`, "JSON
//! field order as Go emits it at HEAD"). serde_json's `Value` keeps object keys sorted, so
//! without this the simulator would put `action` first and `id` and `time` near the end.
//! A reader that stops once it has `id`, `time`, `resource_type` and `action` (the
//! shipper's glance) would then be measured on a shape Coder never sends.
//!
//! Maps stay as serde_json has them: `diff` is a Go map, which `encoding/json` writes with
//! sorted keys, like serde_json. `additional_fields` is raw jsonb, whose order (length,
//! then bytes) is not imitated here (unverified against a real Coder; no reader depends
//! on it).

use serde_json::{Map, Value};

/// `codersdk.AuditLog`'s fields in declaration order.
const AUDIT_LOG: [&str; 19] = [
    "id",
    "request_id",
    "time",
    "ip",
    "user_agent",
    "resource_type",
    "resource_id",
    "resource_target",
    "resource_icon",
    "action",
    "diff",
    "status_code",
    "additional_fields",
    "description",
    "resource_link",
    "is_deleted",
    "organization_id",
    "organization",
    "user",
];

/// `codersdk.User` (its embedded `ReducedUser` and `MinimalUser` first).
const USER: [&str; 15] = [
    "id",
    "username",
    "name",
    "avatar_url",
    "email",
    "created_at",
    "updated_at",
    "last_seen_at",
    "status",
    "login_type",
    "is_service_account",
    "theme_preference",
    "organization_ids",
    "roles",
    "has_ai_seat",
];

/// `codersdk.MinimalOrganization`.
const ORGANIZATION: [&str; 4] = ["id", "name", "display_name", "icon"];

/// `entry` as Coder writes it. Fields Coder does not declare (a test's own) come after the
/// declared ones, sorted. Anything that is not an object is written as it is.
pub fn audit_entry(entry: &Value) -> String {
    let mut out = String::with_capacity(1024);
    match entry {
        Value::Object(fields) => object(&mut out, fields, &AUDIT_LOG, |key| match key {
            "user" => Some(&USER[..]),
            "organization" => Some(&ORGANIZATION[..]),
            _ => None,
        }),
        other => out.push_str(&other.to_string()),
    }
    out
}

fn object(
    out: &mut String,
    fields: &Map<String, Value>,
    order: &[&str],
    nested: fn(&str) -> Option<&'static [&'static str]>,
) {
    out.push('{');
    let declared = order.iter().filter_map(|k| fields.get_key_value(*k));
    let others = fields.iter().filter(|(k, _)| !order.contains(&k.as_str()));
    for (i, (key, value)) in declared.chain(others).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&Value::from(key.as_str()).to_string());
        out.push(':');
        match (value, nested(key)) {
            (Value::Object(inner), Some(order)) => object(out, inner, order, |_| None),
            // Deeper objects are Go maps or raw JSON: as serde_json writes them.
            _ => out.push_str(&value.to_string()),
        }
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_come_in_go_order_and_the_value_is_unchanged() {
        let entry = json!({
            "action": "login", "zz_test_field": 1, "time": "2026-01-01T00:00:00Z",
            "user": {"roles": [], "username": "mia", "id": "u"},
            "diff": {"b": {"new": 1}, "a": {"old": 2}},
            "id": "7c9a8f1e-0000-4000-8000-000000000001", "organization": {"name": "o", "id": "x"},
        });
        let text = audit_entry(&entry);
        assert_eq!(
            text,
            concat!(
                r#"{"id":"7c9a8f1e-0000-4000-8000-000000000001","time":"2026-01-01T00:00:00Z","#,
                r#""action":"login","diff":{"a":{"old":2},"b":{"new":1}},"#,
                r#""organization":{"id":"x","name":"o"},"#,
                r#""user":{"id":"u","username":"mia","roles":[]},"zz_test_field":1}"#
            )
        );
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, entry);
    }

    #[test]
    fn what_is_not_an_object_is_written_as_it_is() {
        assert_eq!(audit_entry(&json!(17)), "17");
        assert_eq!(audit_entry(&json!(null)), "null");
    }
}
