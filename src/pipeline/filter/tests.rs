use bytes::Bytes;
use serde_json::json;

use super::*;
use crate::coder::{Stream, parse_stream_page};

fn audit(resource_type: &str, action: &str, status: i64, user: Option<&str>) -> Event {
    let user = user.map(|u| json!({"id": "70d43e6e-5e1b-4875-b07a-91a1f6a399c0", "username": u}));
    let entry = json!({
        "id": uuid::Uuid::new_v4().to_string(), "time": "2026-08-20T14:12:49Z",
        "resource_type": resource_type, "action": action, "status_code": status,
        "diff": {}, "user": user
    });
    page(Stream::Audit, "audit_logs", entry)
}

fn page(stream: Stream, key: &str, row: serde_json::Value) -> Event {
    let body = json!({key: [row], "count": 1}).to_string();
    parse_stream_page(stream, Bytes::from(body))
        .unwrap()
        .events
        .remove(0)
}

fn web(kind: &str, status: i64, user: Option<&str>) -> Event {
    page(
        Stream::Connection,
        "connection_logs",
        json!({
            "id": uuid::Uuid::new_v4().to_string(), "connect_time": "2026-08-20T14:12:49Z",
            "workspace_owner_username": "alice", "type": kind,
            "web_info": {"user": user.map(|u| json!({"username": u})), "status_code": status}
        }),
    )
}

fn filter(toml_text: &str) -> Filter {
    let value: toml::Value = toml::from_str(toml_text).unwrap();
    value.try_into().unwrap()
}

#[test]
fn no_filter_sends_everything() {
    let f = Filter::default();
    assert!(f.admits(&audit("user", "write", 200, Some("admin"))));
    assert!(f.admits(&web("workspace_app", 403, None)));
}

#[test]
fn include_rules_are_alternatives_and_keys_within_one_all_hold() {
    let f = filter(
        r#"include = [{ outcome = ["failure"] }, { resource_type = ["user"], action = ["write", "delete"] }]"#,
    );
    assert!(
        f.admits(&audit("api_key", "login", 401, Some("carol"))),
        "a failure"
    );
    assert!(
        f.admits(&audit("user", "write", 200, Some("admin"))),
        "a user change"
    );
    assert!(
        !f.admits(&audit("user", "create", 201, Some("admin"))),
        "create is not listed"
    );
    assert!(!f.admits(&audit("workspace", "write", 200, Some("bob"))));
    assert!(
        f.admits(&web("workspace_app", 403, Some("mallory"))),
        "a refused app: failure"
    );
    assert!(!f.admits(&web("workspace_app", 200, Some("alice"))));
}

#[test]
fn exclude_wins_over_include() {
    let f = filter(
        r#"include = [{ resource_type = ["api_key"] }]
           exclude = [{ user = ["ci-bot"] }, { action = ["logout"] }]"#,
    );
    assert!(f.admits(&audit("api_key", "login", 201, Some("alice"))));
    assert!(!f.admits(&audit("api_key", "login", 201, Some("ci-bot"))));
    assert!(!f.admits(&audit("api_key", "logout", 200, Some("alice"))));
    // A rule naming a user never matches an event without one.
    let only_bot = filter(r#"include = [{ user = ["ci-bot"] }]"#);
    assert!(!only_bot.admits(&audit("workspace_build", "start", 200, None)));
}

#[test]
fn class_uid_is_the_ocsf_class_with_semantic_classes() {
    let f = filter("include = [{ class_uid = [3002] }]");
    assert!(
        f.admits(&audit("api_key", "login", 201, Some("alice"))),
        "Authentication"
    );
    assert!(
        !f.admits(&audit("template", "write", 200, Some("tina"))),
        "API Activity"
    );
    let network = filter("include = [{ class_uid = [4001] }]");
    assert!(network.admits(&web("port_forwarding", 200, Some("bob"))));
}

#[test]
fn a_rule_naming_nothing_or_an_unknown_key_is_refused() {
    let f = filter("include = [{ outcome = [\"failure\"] }, {}]");
    let (key, why) = f.check().unwrap_err();
    assert_eq!(key, "include");
    assert!(why.contains("rule 2"), "{why}");
    let bad: Result<Filter, _> = toml::from_str::<toml::Value>("include = [{ users = [\"x\"] }]")
        .unwrap()
        .try_into();
    assert!(bad.unwrap_err().to_string().contains("users"));
    let bad: Result<Filter, _> =
        toml::from_str::<toml::Value>("include = [{ outcome = [\"ok\"] }]")
            .unwrap()
            .try_into();
    assert!(bad.is_err());
}
