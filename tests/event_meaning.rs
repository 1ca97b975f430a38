//! What the events *mean* (issue 20): outcomes, actors and categories a SOC searches by,
//! checked against Coder's own behaviour. Each test names the point it pins; the goldens
//! in `tests/golden/` show the same entries whole.
//!
//! Coder's behaviour cited here (read from `coder/coder`):
//! * `coderd/userauth.go`: a successful GitHub or OIDC sign-in answers 307; the same
//!   request records `login` or `register` and, on the way, user writes (a dormant account
//!   reactivated, a password account converted).
//! * `coderd/audit.go` `auditLogDescription`: 303 is "was redirected attempting to",
//!   ≥ 400 "unsuccessfully attempted to"; a password reset request has no `{user}` because
//!   "anyone that knows the email of a user" can make it, and the entry's user is that
//!   account (`postRequestOneTimePasscode` sets `aReq.UserID = user.ID`).
//! * `coderd/workspaceapps/db.go`: an unauthenticated app request is redirected to sign in
//!   (303); an authenticated one without permission gets 404 ("insufficient permissions").
//! * `coder-api/NOTES.md` §1: agent rows (v2.20–v2.24) carry exit codes; autobuilds record
//!   the owner and 127.0.0.1.

#[path = "common/entries.rs"]
mod entries;

use chrono::{TimeZone, Utc};
use coder_audit_shipper::coder::{AuditEntry, ConnectionEvent, ConnectionLog, Phase};
use coder_audit_shipper::normalize::{ClassStrategy, Normalizer, OcsfVersion, Target};
use serde_json::{Value, json};

use entries::{OCSF_11, OCSF_18};

fn events(target: Target, entry: &Value) -> Vec<Value> {
    let read_at = Utc.with_ymd_and_hms(2026, 8, 21, 0, 0, 0).unwrap();
    Normalizer::new(target, entries::enrichment(), None)
        .to_values(&AuditEntry::parse(&entry.to_string()), read_at)
}

fn one(target: Target, entry: &Value) -> Value {
    let mut e = events(target, entry);
    assert_eq!(e.len(), 1, "{e:?}");
    e.remove(0)
}

/// A generated entry by alice (variant 0) with no background-task fields, patched.
fn entry(resource_type: &str, action: &str, patch: Value) -> Value {
    let mut e = entries::generated(resource_type, action, 0);
    e["additional_fields"] = json!({});
    e["ip"] = json!("198.51.100.7");
    for (k, v) in patch.as_object().unwrap() {
        e[k] = v.clone();
    }
    e
}

fn connection(row: Value, phase: Phase) -> Vec<(Value, Value)> {
    let read_at = Utc.with_ymd_and_hms(2026, 8, 21, 0, 0, 0).unwrap();
    let event = ConnectionEvent {
        log: ConnectionLog::parse(&row.to_string()),
        phase,
    };
    let of = |target| {
        Normalizer::new(target, entries::enrichment(), None)
            .encode_connection(&event, read_at)
            .into_iter()
            .map(|(_, e)| serde_json::from_slice::<Value>(&e.payload).unwrap())
            .collect::<Vec<_>>()
    };
    of(Target::Ecs).into_iter().zip(of(OCSF_18)).collect()
}

const WORKSPACE: &str = "01f110cb-19bb-4185-a050-988d57185767";

#[test]
fn p1_sso_sign_ins_and_their_user_writes_answered_307_are_successes() {
    for (rt, action) in [
        ("api_key", "login"),
        ("api_key", "register"),
        ("user", "write"),
    ] {
        let e = entry(rt, action, json!({"status_code": 307}));
        assert_eq!(
            one(Target::Ecs, &e)["event"]["outcome"],
            "success",
            "{action}"
        );
        for event in events(OCSF_18, &e) {
            assert_eq!(
                (event["status_id"].clone(), event["status"].clone()),
                (json!(1), json!("Success")),
                "{action}"
            );
        }
    }
    // 303 stays what Coder calls it.
    let e = entry("api_key", "login", json!({"status_code": 303}));
    assert_eq!(one(Target::Ecs, &e)["event"]["outcome"], "unknown");
}

#[test]
fn p2_agent_exit_codes_are_outcomes_never_http_statuses() {
    let row = |action: &str, code: i64| {
        entry(
            "workspace_agent",
            action,
            json!({"status_code": code, "user": null,
                   "additional_fields": {"workspace_name": "dev", "connection_type": "SSH"}}),
        )
    };
    for (action, code, outcome, signal) in [
        ("disconnect", 0, "success", None),
        ("disconnect", 255, "failure", None),
        ("disconnect", 130, "failure", Some("SIGINT")),
        ("disconnect", 137, "failure", Some("SIGKILL")),
        ("disconnect", 143, "failure", Some("SIGTERM")),
        ("connect", 0, "success", None),
    ] {
        let e = row(action, code);
        let ecs = one(Target::Ecs, &e);
        assert_eq!(ecs["event"]["outcome"], outcome, "{action} {code}");
        assert!(ecs["http"]["response"].is_null(), "{code}: {ecs}");
        if action == "disconnect" {
            assert_eq!(ecs["coder"]["audit"]["exit_code"], code);
            assert_eq!(ecs["coder"]["audit"]["exit_signal"], json!(signal));
        }
        for target in [OCSF_18, OCSF_11, entries_single()] {
            let ocsf = one(target, &e);
            assert!(ocsf["http_response"].is_null() && ocsf["api"]["response"].is_null());
            if action == "disconnect" {
                let detail = ocsf["status_detail"].as_str().unwrap_or_default();
                assert!(detail.starts_with(&format!("exit code {code}")), "{ocsf}");
            }
        }
    }
}

fn entries_single() -> Target {
    Target::Ocsf {
        version: OcsfVersion::V1_8_0,
        classes: ClassStrategy::Single,
    }
}

#[test]
fn p2_connection_log_sessions_that_exit_non_zero_failed() {
    let row = json!({"id": "r1", "connect_time": "2026-08-20T10:00:00Z", "type": "ssh",
        "workspace_name": "dev", "agent_name": "main",
        "ssh_info": {"connection_id": "c1", "disconnect_time": "2026-08-20T10:05:00Z", "exit_code": 137}});
    let moments = connection(row, Phase::ConnectAndDisconnect);
    let (ecs, ocsf) = &moments[1];
    assert_eq!(ecs["event"]["outcome"], "failure");
    assert_eq!(ecs["coder"]["connection"]["exit_signal"], "SIGKILL");
    assert_eq!(ocsf["status_id"], 2);
    assert_eq!(ocsf["status_detail"], "exit code 137 (SIGKILL)");
}

#[test]
fn p3_a_redirect_to_sign_in_is_not_access() {
    // The audit row (v2.20–v2.24).
    let e = entry(
        "workspace_app",
        "open",
        json!({"status_code": 303, "user": null}),
    );
    let ecs = one(Target::Ecs, &e);
    assert_ne!(ecs["event"]["outcome"], "success");
    assert!(
        !ecs["event"]["type"]
            .as_array()
            .unwrap()
            .contains(&json!("access"))
    );
    let ocsf = one(OCSF_18, &e);
    assert_ne!(ocsf["status_id"], 1);
    // The connection log (v2.25+).
    let row = json!({"id": "r2", "connect_time": "2026-08-20T10:00:00Z", "type": "workspace_app",
        "workspace_name": "dev", "web_info": {"slug_or_port": "code-server", "status_code": 303}});
    let (ecs, ocsf) = &connection(row, Phase::Connect)[0];
    assert_ne!(ecs["event"]["outcome"], "success");
    assert_eq!(ecs["event"]["type"], json!(["info"]));
    assert_ne!(ocsf["activity_id"], 1, "not Open");
    assert_eq!(ocsf["status"], "Redirected to sign-in");
    assert_eq!(
        (ocsf["action_id"].clone(), ocsf["disposition_id"].clone()),
        (json!(2), json!(23))
    );
}

#[test]
fn p4_scheduled_builds_are_coder_acting_on_the_owners_workspace() {
    for reason in [
        "autostart",
        "autostop",
        "dormancy",
        "failedstop",
        "autodelete",
        "task_auto_pause",
    ] {
        let e = entry(
            "workspace_build",
            "start",
            json!({"ip": "127.0.0.1", "user_agent": "",
                   "additional_fields": {"workspace_name": "dev", "build_reason": reason, "workspace_id": WORKSPACE}}),
        );
        let ecs = one(Target::Ecs, &e);
        assert!(
            ecs["user"]["name"].is_null() && ecs["user"]["id"].is_null(),
            "{reason}: {ecs}"
        );
        assert_eq!(ecs["user"]["target"]["name"], "alice");
        assert!(
            ecs["source"].is_null() && ecs["related"]["ip"].is_null(),
            "{ecs}"
        );
        assert_eq!(ecs["event"]["reason"], reason);
        for (target, app_name) in [(OCSF_18, json!("coderd")), (OCSF_11, Value::Null)] {
            let ocsf = one(target, &e);
            assert!(ocsf["actor"]["user"].is_null(), "{ocsf}");
            assert_eq!(ocsf["actor"]["invoked_by"], reason);
            assert_eq!(ocsf["actor"]["app_name"], app_name);
            assert!(ocsf["src_endpoint"]["ip"].is_null());
            assert_eq!(ocsf["resources"][0]["owner"]["name"], "alice");
        }
    }
    // A person's build from the CLI is that person's.
    let e = entry(
        "workspace_build",
        "start",
        json!({"additional_fields": {"workspace_name": "dev", "build_reason": "cli"}}),
    );
    assert_eq!(one(Target::Ecs, &e)["user"]["name"], "alice");
}

#[test]
fn p5_a_password_reset_request_targets_the_account_and_names_no_actor() {
    let e = entry(
        "user",
        "request_password_reset",
        json!({"status_code": 204, "resource_target": "alice",
               "resource_id": "7a0b1c2d-0000-4000-8000-000000000003"}),
    );
    let ecs = one(Target::Ecs, &e);
    assert!(ecs["user"]["name"].is_null(), "{ecs}");
    assert_eq!(ecs["user"]["target"]["name"], "alice");
    assert_eq!(
        ecs["source"]["ip"], "198.51.100.7",
        "the caller's address stays"
    );
    for target in [OCSF_18, OCSF_11] {
        let ocsf = one(target, &e);
        assert!(ocsf["actor"].is_null(), "{ocsf}");
        assert_eq!(ocsf["user"]["name"], "alice");
        assert_eq!(ocsf["activity_id"], 4);
    }
}

#[test]
fn p6_register_is_also_a_first_logon() {
    let e = entry("api_key", "register", json!({"status_code": 307}));
    for target in [OCSF_18, OCSF_11] {
        let all = events(target, &e);
        let classes: Vec<_> = all
            .iter()
            .map(|e| (e["class_uid"].clone(), e["activity_id"].clone()))
            .collect();
        assert_eq!(
            classes,
            vec![(json!(3001), json!(1)), (json!(3002), json!(1))]
        );
        assert_eq!(all[1]["is_new_logon"], true);
        assert_eq!(all[1]["user"]["name"], "alice");
    }
    let ecs = one(Target::Ecs, &e);
    assert!(
        ecs["event"]["category"]
            .as_array()
            .unwrap()
            .contains(&json!("authentication"))
    );
    assert!(
        ecs["event"]["type"]
            .as_array()
            .unwrap()
            .contains(&json!("start"))
    );
}

#[test]
fn p7_memberships_and_keys_change_accounts_they_create_none() {
    for action in ["create", "delete"] {
        let e = entry(
            "organization_member",
            action,
            json!({"resource_target": "bob"}),
        );
        let ecs = one(Target::Ecs, &e);
        assert_eq!(ecs["event"]["type"], json!(["group", "change"]));
        assert_eq!(ecs["group"]["name"], "coder");
        assert_eq!(ecs["user"]["target"]["name"], "bob");
        for rt in ["api_key", "git_ssh_key", "user_secret", "ai_seat"] {
            let ecs = one(Target::Ecs, &entry(rt, action, json!({})));
            assert_eq!(
                ecs["event"]["type"],
                json!(["user", "change"]),
                "{rt}.{action}"
            );
        }
    }
}

#[test]
fn p8_actor_attributes_are_named_for_the_actor() {
    let e = entry("user", "create", json!({"resource_target": "carol"}));
    let ocsf = one(OCSF_18, &e);
    let unmapped = &ocsf["unmapped"]["coder"];
    assert_eq!(unmapped["actor_roles"], json!(["owner"]));
    assert_eq!(unmapped["actor_login_type"], "oidc");
    assert_eq!(unmapped["actor_status"], "active");
    for old in ["user_roles", "user_status", "login_type"] {
        assert!(unmapped[old].is_null(), "{old}");
    }
}

#[test]
fn p9_a_password_someone_else_set_is_a_reset() {
    let pw = json!({"hashed_password": {"secret": true}});
    // An admin (alice) setting bob's password.
    let admin = entry(
        "user",
        "write",
        json!({"diff": pw, "resource_id": "1d2e3f40-0000-4000-8000-000000000004"}),
    );
    assert_eq!(one(OCSF_18, &admin)["activity_id"], 4);
    // Alice changing her own.
    let own = entry(
        "user",
        "write",
        json!({"diff": pw, "resource_id": "7a0b1c2d-0000-4000-8000-000000000003"}),
    );
    assert_eq!(one(OCSF_18, &own)["activity_id"], 3);
    // Alice's one-time passcode setting it (Coder records her as the user).
    let otp = entry(
        "user",
        "write",
        json!({"resource_id": "7a0b1c2d-0000-4000-8000-000000000003", "diff": {
            "hashed_password": {"secret": true},
            "one_time_passcode_expires_at": {"old": {"Time": "2026-08-20T10:00:00Z", "Valid": true},
                                             "new": {"Time": "0001-01-01T00:00:00Z", "Valid": false}, "secret": false}}}),
    );
    assert_eq!(one(OCSF_18, &otp)["activity_id"], 4);
}

#[test]
fn p10_every_1_8_event_names_its_coder_entry() {
    let e = entry("workspace", "create", json!({}));
    let ocsf = one(OCSF_18, &e);
    assert_eq!(ocsf["metadata"]["original_event_uid"], e["id"]);
    assert!(
        one(OCSF_11, &e)["metadata"]["original_event_uid"].is_null(),
        "1.1.0 has none"
    );
}

#[test]
fn p11_status_other_says_what_the_source_said() {
    let e = entry("workspace", "create", json!({"status_code": 1}));
    let ocsf = one(OCSF_18, &e);
    assert_eq!(ocsf["status_id"], 99);
    assert_ne!(ocsf["status"], "Other");
    let e = entry("template", "write", json!({"status_code": 303}));
    assert_eq!(one(OCSF_18, &e)["status"], "Redirected");
}

#[test]
fn p12_a_forbidden_web_connection_is_an_open_that_was_denied() {
    let row = json!({"id": "r3", "connect_time": "2026-08-20T10:00:00Z", "type": "workspace_app",
        "workspace_name": "dev", "web_info": {"slug_or_port": "code-server", "status_code": 403}});
    let (ecs, ocsf) = &connection(row, Phase::Connect)[0];
    assert_eq!(ecs["event"]["type"], json!(["denied"]));
    assert_eq!(
        (ocsf["activity_id"].clone(), ocsf["status_id"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(ocsf["action_id"], 2);
    assert!(
        ocsf["metadata"]["profiles"]
            .as_array()
            .unwrap()
            .contains(&json!("security_control"))
    );
}

#[test]
fn p13_the_web_terminal_is_not_ssh() {
    let row = json!({"id": "r4", "connect_time": "2026-08-20T10:00:00Z", "type": "reconnecting_pty",
        "workspace_name": "dev", "agent_name": "main", "ssh_info": {"connection_id": "c4"}});
    let (ecs, ocsf) = &connection(row, Phase::Connect)[0];
    assert_eq!(ocsf["class_uid"], 4001);
    assert!(ecs["network"]["protocol"].is_null());
}

#[test]
fn p14_the_agent_is_an_agent_not_a_service() {
    let row = json!({"id": "r5", "connect_time": "2026-08-20T10:00:00Z", "type": "ssh",
        "workspace_name": "dev", "agent_name": "main", "ssh_info": {"connection_id": "c5"}});
    let (_, ocsf) = &connection(row, Phase::Connect)[0];
    assert!(ocsf["dst_endpoint"]["svc_name"].is_null());
    assert_eq!(ocsf["dst_endpoint"]["agent_list"][0]["name"], "main");
}

#[test]
fn p15_builds_name_the_workspace_where_sessions_do() {
    let e = entry(
        "workspace_build",
        "start",
        json!({"additional_fields": {"workspace_name": "dev", "build_reason": "initiator", "workspace_id": WORKSPACE}}),
    );
    let ecs = one(Target::Ecs, &e);
    assert_eq!(ecs["host"], json!({"id": WORKSPACE, "name": "dev"}));
    for target in [OCSF_18, OCSF_11] {
        let ocsf = one(target, &e);
        assert_eq!(ocsf["dst_endpoint"]["uid"], WORKSPACE);
        assert_eq!(ocsf["dst_endpoint"]["name"], "dev");
    }
}

#[test]
fn p16_current_roles_are_not_roles_at_the_event() {
    let ecs = one(Target::Ecs, &entry("workspace", "create", json!({})));
    assert!(ecs["user"]["roles"].is_null());
    assert_eq!(ecs["coder"]["audit"]["user"]["roles"], json!(["owner"]));
}

#[test]
fn p17_agent_rows_are_the_sessions_the_connection_log_reports() {
    for (ct, class) in [
        ("SSH", 4007),
        ("VS Code", 4007),
        ("JetBrains", 4007),
        ("Web Terminal", 4001),
    ] {
        let e = entry(
            "workspace_agent",
            "connect",
            json!({"status_code": 0, "user": null, "request_id": "c0ffee00-0000-4000-8000-000000000001",
                   "additional_fields": {"workspace_name": "dev", "connection_type": ct}}),
        );
        for target in [OCSF_18, OCSF_11] {
            let ocsf = one(target, &e);
            assert_eq!(
                (ocsf["class_uid"].clone(), ocsf["activity_id"].clone()),
                (json!(class), json!(1)),
                "{ct}"
            );
            assert_eq!(
                ocsf["metadata"]["correlation_uid"],
                "c0ffee00-0000-4000-8000-000000000001"
            );
        }
    }
}
