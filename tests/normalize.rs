//! Normalization edge cases (schemas/NOTES.md §5.4 and issue 3), each asserting the exact
//! fields it is about, and golden files a reviewer can read side by side with their input:
//! `tests/golden/<name>.input.json` → `<name>.ecs.json`, `<name>.ocsf-1.8.0.json`,
//! `<name>.ocsf-1.1.0.json`; connection-log events likewise in `tests/golden/connection/`
//! (a row and the moment reported). `UPDATE_GOLDENS=1 cargo test --test normalize` rewrites
//! them; review the diff before committing.

#[path = "common/entries.rs"]
mod entries;

use std::path::Path;

use chrono::{TimeZone, Utc};
use coder_audit_shipper::coder::{
    AuditEntry, CoderContext, ConnectionEvent, ConnectionLog, Phase, parse_page,
};
use coder_audit_shipper::normalize::{Normalizer, Target};
use coder_audit_shipper::pipeline::Encoder;
use serde_json::{Value, json};

use entries::{OCSF_11, OCSF_18};

fn read_at() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 8, 21, 0, 0, 0).unwrap()
}

fn normalize(target: Target, entry: &Value) -> Vec<Value> {
    Normalizer::new(target, entries::enrichment(), None)
        .to_values(&AuditEntry::parse(&entry.to_string()), read_at())
}

fn one(target: Target, entry: &Value) -> Value {
    let mut events = normalize(target, entry);
    assert_eq!(events.len(), 1, "{events:?}");
    events.remove(0)
}

/// A workspace create by alice (no background-task fields), with `patch` applied.
fn entry(patch: Value) -> Value {
    let mut e = entries::generated("workspace", "create", 0);
    e["additional_fields"] = json!({});
    for (k, v) in patch.as_object().unwrap() {
        e[k] = v.clone();
    }
    e
}

#[test]
fn a_null_user_is_omitted_in_ecs_and_coderd_in_ocsf() {
    let e = entry(json!({"user": null}));
    let ecs = one(Target::Ecs, &e);
    assert!(ecs["user"].is_null(), "{}", ecs["user"]);
    assert!(
        ecs["message"]
            .as_str()
            .unwrap()
            .starts_with("Unknown user ")
    );
    let ocsf = one(OCSF_18, &e);
    assert_eq!(ocsf["actor"], json!({"invoked_by": "coderd"}));
    // Authentication requires a user: a failed login by nobody names the resource.
    let mut login = entries::generated("api_key", "login", 0);
    login["user"] = Value::Null;
    login["status_code"] = json!(401);
    let auth = one(OCSF_18, &login);
    assert_eq!(auth["class_uid"], 3002);
    assert_eq!(
        auth["user"],
        json!({"uid": "7a0b1c2d-0000-4000-8000-000000000003"})
    );
    assert_eq!(
        (auth["status_id"].clone(), auth["severity_id"].clone()),
        (json!(2), json!(3))
    );
    login["resource_id"] = json!("00000000-0000-0000-0000-000000000000");
    assert_eq!(one(OCSF_11, &login)["user"], json!({"name": "unknown"}));
}

#[test]
fn an_empty_ip_gives_no_source_and_a_service_endpoint() {
    let e = entry(json!({"ip": ""}));
    let ecs = one(Target::Ecs, &e);
    assert!(
        ecs["source"].is_null() && ecs["related"]["ip"].is_null(),
        "{ecs}"
    );
    assert_eq!(
        one(OCSF_18, &e)["src_endpoint"],
        json!({"svc_name": "coderd"})
    );
    // Garbage is kept for the record, but never as an IP field.
    let e = entry(json!({"ip": "garbage"}));
    let ecs = one(Target::Ecs, &e);
    assert_eq!(ecs["source"], json!({"address": "garbage"}));
    assert_eq!(ecs["coder"]["audit"]["ip"], "garbage");
    let ocsf = one(OCSF_18, &e);
    assert_eq!(ocsf["src_endpoint"], json!({"svc_name": "coderd"}));
    assert_eq!(ocsf["unmapped"]["coder"]["ip"], "garbage");
}

#[test]
fn ipv6_and_ipv4_mapped_addresses() {
    let ecs = one(Target::Ecs, &entry(json!({"ip": "2001:db8::7"})));
    assert_eq!(
        ecs["source"],
        json!({"ip": "2001:db8::7", "address": "2001:db8::7"})
    );
    let e = entry(json!({"ip": "::ffff:10.1.2.3"}));
    let ecs = one(Target::Ecs, &e);
    assert_eq!(
        ecs["source"],
        json!({"ip": "10.1.2.3", "address": "::ffff:10.1.2.3"})
    );
    assert_eq!(ecs["related"]["ip"], json!(["10.1.2.3"]));
    assert_eq!(one(OCSF_11, &e)["src_endpoint"]["ip"], "10.1.2.3");
}

#[test]
fn nil_uuids_are_omitted_and_the_singleton_id_is_kept() {
    let nil = "00000000-0000-0000-0000-000000000000";
    let e = entry(
        json!({"organization_id": nil, "organization": null, "request_id": nil, "resource_id": nil}),
    );
    let ecs = one(Target::Ecs, &e);
    assert!(
        ecs["organization"].is_null() && ecs["http"]["request"].is_null(),
        "{ecs}"
    );
    assert!(ecs["coder"]["audit"]["resource"]["id"].is_null());
    let ocsf = one(OCSF_18, &e);
    assert!(ocsf["metadata"]["correlation_uid"].is_null() && ocsf["api"]["request"].is_null());
    assert!(ocsf["resources"][0]["uid"].is_null());
    assert!(!ocsf.to_string().contains(nil), "{ocsf}");
    let singleton = "51a51c00-0000-0000-0000-000000000000";
    let e = entries::generated("health_settings", "write", 0);
    let e = json!({"resource_id": singleton, "resource_target": ""})
        .as_object()
        .unwrap()
        .iter()
        .fold(e, |mut e, (k, v)| {
            e[k] = v.clone();
            e
        });
    assert_eq!(one(OCSF_18, &e)["resources"][0]["uid"], singleton);
}

#[test]
fn times_with_offsets_are_the_same_instant_in_utc() {
    let e = entry(json!({"time": "2026-08-20T16:12:55.5+02:00"}));
    let ecs = one(Target::Ecs, &e);
    assert_eq!(ecs["@timestamp"], "2026-08-20T14:12:55.500000Z");
    let ocsf = one(OCSF_18, &e);
    assert_eq!(ocsf["time"], 1_787_235_175_500_i64);
    assert_eq!(ocsf["timezone_offset"], 120);
    assert_eq!(
        ocsf["metadata"]["original_time"],
        "2026-08-20T16:12:55.5+02:00"
    );
    // A time that does not parse still ships, stamped with the read time, raw value kept.
    let ecs = one(Target::Ecs, &entry(json!({"time": "yesterday"})));
    assert_eq!(ecs["@timestamp"], "2026-08-21T00:00:00.000000Z");
    assert_eq!(ecs["coder"]["audit"]["original_time"], "yesterday");
}

#[test]
fn workspace_builds_keep_build_number_as_a_string_and_name_the_workspace() {
    let e = entries::generated("workspace_build", "start", 0);
    let ecs = one(Target::Ecs, &e);
    assert_eq!(
        ecs["coder"]["audit"]["additional_fields"]["build_number"],
        "7"
    );
    assert_eq!(ecs["coder"]["audit"]["resource"]["name"], "dev");
    assert_eq!(ecs["event"]["category"], json!(["host"]));
    let ocsf = one(OCSF_18, &e);
    assert_eq!(ocsf["resources"][0]["data"]["build_number"], "7");
    assert_eq!(ocsf["resources"][0]["name"], "dev");
    assert_eq!(
        (ocsf["activity_id"].clone(), ocsf["activity_name"].clone()),
        (json!(99), json!("Start"))
    );
}

#[test]
fn status_code_zero_and_exit_codes_are_not_http() {
    let zero = entry(json!({"status_code": 0}));
    let ecs = one(Target::Ecs, &zero);
    assert!(
        ecs["event"]["outcome"].is_null() && ecs["http"]["response"].is_null(),
        "{ecs}"
    );
    let ocsf = one(OCSF_18, &zero);
    assert_eq!(
        (ocsf["status_id"].clone(), ocsf["status_code"].clone()),
        (json!(0), json!("0"))
    );
    // A number that is no HTTP status on an HTTP row: kept, said to be unknown.
    let odd = entry(json!({"status_code": 1}));
    let ecs = one(Target::Ecs, &odd);
    assert!(ecs["event"]["outcome"].is_null());
    assert!(ecs["http"]["response"].is_null());
    assert_eq!(ecs["coder"]["audit"]["status_code"], 1);
    let ocsf = one(OCSF_18, &odd);
    assert_eq!(
        (ocsf["status_id"].clone(), ocsf["status"].clone()),
        (json!(99), json!("Status 1"))
    );
    assert!(ocsf["http_response"].is_null());
    assert!(ocsf["api"]["response"].is_null());
}

#[test]
fn unknown_actions_and_resource_types_are_mapped_not_dropped() {
    let e = entries::generated("time_machine", "rewind", 0);
    let ecs = one(Target::Ecs, &e);
    assert_eq!(ecs["event"]["action"], "time_machine.rewind");
    assert_eq!(ecs["event"]["category"], json!(["configuration"]));
    let ocsf = one(OCSF_18, &e);
    assert_eq!(
        (
            ocsf["class_uid"].clone(),
            ocsf["activity_id"].clone(),
            ocsf["activity_name"].clone()
        ),
        (json!(6003), json!(99), json!("Rewind"))
    );
    // Not even an action or a resource type: still an event.
    let bare = json!({"id": "x1", "time": "2026-08-20T00:00:00Z"});
    assert_eq!(
        one(Target::Ecs, &bare)["event"]["action"],
        "unknown.unknown"
    );
    assert_eq!(one(OCSF_11, &bare)["class_uid"], 6003);
}

#[test]
fn secret_diff_values_are_never_emitted() {
    let e = entry(json!({"diff": {
        "password": {"old": "hunter2-old", "new": "hunter2-new", "secret": true},
        "name": {"old": "a", "new": "b", "secret": false}
    }}));
    for target in [Target::Ecs, OCSF_18, OCSF_11] {
        for event in normalize(target, &e) {
            let text = event.to_string();
            assert!(!text.contains("hunter2"), "{target:?}: {text}");
            assert!(
                text.contains(r#""password":{"secret":true}"#),
                "{target:?}: {text}"
            );
        }
    }
}

#[test]
fn a_huge_diff_is_cut_to_max_event_bytes_and_counted() {
    let big = "x".repeat(400 * 1024);
    let e = entry(json!({"diff": {
        "template_source": {"old": "", "new": big, "secret": false},
        "status": {"old": "stopped", "new": "running", "secret": false}
    }}));
    let parsed = AuditEntry::parse(&e.to_string());
    for target in [Target::Ecs, OCSF_18, OCSF_11] {
        let n = Normalizer::new(target, entries::enrichment(), Some(64 * 1024));
        let out = n.encode(&parsed, read_at());
        assert_eq!(out.len(), 1);
        let encoded = &out[0];
        assert!(encoded.truncated && !encoded.over_limit, "{target:?}");
        assert!(
            encoded.payload.len() <= 64 * 1024,
            "{target:?}: {}",
            encoded.payload.len()
        );
        let v: Value = serde_json::from_slice(&encoded.payload).unwrap();
        let (diff, truncation) = match target {
            Target::Ecs => (
                &v["coder"]["audit"]["diff"],
                &v["coder"]["audit"]["truncation"],
            ),
            _ => (
                &v["unmapped"]["coder"]["diff"],
                &v["unmapped"]["coder"]["truncation"],
            ),
        };
        assert_eq!(diff["status"]["new"], "running", "the small field stays");
        assert!(diff["template_source"].is_null(), "the huge field goes");
        assert_eq!(truncation["diff_fields_omitted"], 1);
        assert!(truncation["original_bytes"].as_u64().unwrap() > 400 * 1024);
        if target == OCSF_18 {
            assert_eq!(v["metadata"]["is_truncated"], true);
        }
        // Without a limit nothing is cut.
        let whole = Normalizer::new(target, entries::enrichment(), None).encode(&parsed, read_at());
        assert!(!whole[0].truncated && whole[0].payload.len() > 400 * 1024);
    }

    // The pipeline counts what it cut.
    let page = format!(r#"{{"audit_logs":[{e}],"count":1}}"#);
    let events = parse_page(page.into()).unwrap().events;
    let encoder = Encoder::Normalized(Normalizer::new(
        Target::Ecs,
        entries::enrichment(),
        Some(64 * 1024),
    ));
    let (batch, truncated) = encoder.encode(&events);
    assert_eq!((batch.len(), truncated), (1, 1));
}

#[test]
fn an_event_too_large_even_without_its_diff_ships_whole_and_says_so() {
    // A description no trimming can shorten: the event is not dropped and not mangled;
    // `over_limit` tells the sink (which dead-letters or sends it, by its own rules).
    let e = entry(
        json!({"description": "z".repeat(8 * 1024), "diff": {"a": {"new": 1}},
        "additional_fields": {"slug_or_port": "8080"}}),
    );
    let parsed = AuditEntry::parse(&e.to_string());
    let out = Normalizer::new(Target::Ecs, entries::enrichment(), Some(4 * 1024))
        .encode(&parsed, read_at());
    assert!(out[0].truncated && out[0].over_limit);
    let v: Value = serde_json::from_slice(&out[0].payload).unwrap();
    assert_eq!(v["message"].as_str().unwrap().len(), 8 * 1024);
    assert_eq!(v["coder"]["audit"]["truncation"]["diff_fields_omitted"], 1);
    assert_eq!(
        v["coder"]["audit"]["truncation"]["additional_fields_omitted"],
        true
    );
}

#[test]
fn legacy_user_shapes_normalize() {
    // v2.0-era users: roles as bare strings, `organization_ids: null`, no name, no login type.
    let e = entry(
        json!({"user": {"id": "70d0705a-693b-4d6a-81bd-b1e4cae9b618", "username": "mia",
        "email": "mia@x.example", "organization_ids": null, "roles": ["owner"]}}),
    );
    let ecs = one(Target::Ecs, &e);
    // Roles as Coder reads them now: not `user.roles` ("at the time of the event").
    assert_eq!(ecs["coder"]["audit"]["user"]["roles"], json!(["owner"]));
    assert!(ecs["user"]["roles"].is_null());
    assert_eq!(ecs["user"]["name"], "mia");
    assert!(ecs["user"]["full_name"].is_null());
    let ocsf = one(OCSF_18, &e);
    assert_eq!(ocsf["actor"]["user"]["type_id"], 2, "owner is an admin");
    // v2.9: role changes arrive as `rbac_roles`.
    let mut w = entries::generated("user", "write", 1);
    w["diff"] = json!({"rbac_roles": {"old": [], "new": ["template-admin"], "secret": false}});
    let uam = one(OCSF_18, &w);
    assert_eq!(
        (uam["class_uid"].clone(), uam["privileges"].clone()),
        (json!(3005), json!(["template-admin"]))
    );
    assert_eq!(
        one(Target::Ecs, &w)["user"]["changes"]["roles"],
        json!(["template-admin"])
    );
}

#[test]
fn one_entry_with_several_members_gives_one_event_each_with_distinct_uids() {
    let mut e = entries::generated("group", "write", 0);
    e["diff"] = json!({"members": {"old": [], "new": ["u1", "u2"], "secret": false}});
    let events = normalize(OCSF_18, &e);
    assert_eq!(events.len(), 2);
    let id = e["id"].as_str().unwrap();
    assert_eq!(events[0]["metadata"]["uid"], format!("{id}:0"));
    assert_eq!(events[1]["metadata"]["uid"], format!("{id}:1"));
    assert_eq!(events[1]["metadata"]["original_event_uid"], id);
    assert_eq!(events[1]["user"], json!({"uid": "u2"}));
    assert_eq!(
        normalize(Target::Ecs, &e).len(),
        1,
        "ECS keeps one document per entry"
    );
}

#[test]
fn enrichment_reaches_both_schemas() {
    let e = entry(json!({"resource_link": "/@alice/dev"}));
    let ecs = one(Target::Ecs, &e);
    assert_eq!(ecs["event"]["url"], "https://coder.example.com/@alice/dev");
    assert_eq!(ecs["observer"]["name"], "prod-eu");
    assert_eq!(ecs["labels"]["team"], "platform");
    assert_eq!(ecs["tags"], json!(["coder", "audit", "pci"]));
    assert_eq!(ecs["service"]["version"], "v2.24.1");
    let ocsf = one(OCSF_18, &e);
    assert_eq!(
        ocsf["unmapped"]["coder"]["resource_link"],
        "https://coder.example.com/@alice/dev"
    );
    assert_eq!(ocsf["metadata"]["labels"], json!(["pci", "team:platform"]));
    assert_eq!(ocsf["metadata"]["product"]["version"], "v2.24.1");
}

/// The golden files of `dir`: each `<name>.input.json` against `<name>.<target>.json` for
/// ECS and both OCSF versions, as `normalize` makes them; the mismatches.
fn check_goldens(dir: &Path, count: usize, normalize: impl Fn(Target, &Value) -> Vec<Value>) {
    let update = std::env::var_os("UPDATE_GOLDENS").is_some();
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|f| f.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".input.json").map(str::to_owned))
        .collect();
    names.sort();
    assert_eq!(names.len(), count, "{names:?}");
    let mut mismatches = Vec::new();
    for name in names {
        let input: Value =
            serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.input.json"))).unwrap())
                .unwrap();
        for (suffix, target) in [
            ("ecs", Target::Ecs),
            ("ocsf-1.8.0", OCSF_18),
            ("ocsf-1.1.0", OCSF_11),
        ] {
            let events = normalize(target, &input);
            let got = serde_json::to_string_pretty(&if events.len() == 1 {
                events[0].clone()
            } else {
                Value::Array(events)
            })
            .unwrap()
                + "\n";
            let path = dir.join(format!("{name}.{suffix}.json"));
            if update {
                std::fs::write(&path, &got).unwrap();
                continue;
            }
            let want = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDENS=1 writes it)", path.display()));
            if want != got {
                mismatches.push(format!("{}:\n{got}", path.display()));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "golden mismatches (UPDATE_GOLDENS=1 rewrites):\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn connection_goldens() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/connection");
    check_goldens(&dir, 4, |target, input| {
        let phase = match input["phase"].as_str() {
            Some("connect") => Phase::Connect,
            Some("disconnect") => Phase::Disconnect,
            Some("connect_and_disconnect") => Phase::ConnectAndDisconnect,
            other => panic!("phase {other:?}"),
        };
        connection_values(
            target,
            ConnectionLog::parse(&input["row"].to_string()),
            phase,
        )
    });
}

/// Every event of `log` reported at `phase`, as `target` makes them.
fn connection_values(target: Target, log: ConnectionLog, phase: Phase) -> Vec<Value> {
    let event = ConnectionEvent { log, phase };
    Normalizer::new(target, entries::enrichment(), None)
        .encode_connection(&event, read_at())
        .into_iter()
        .map(|(_, e)| serde_json::from_slice(&e.payload).unwrap())
        .collect()
}

#[test]
fn goldens() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    check_goldens(&dir, 13, normalize);
}

/// `[enrich.coder]`'s answers as a golden input states them (`"looked_up"`).
fn looked_up(input: &Value) -> std::sync::Arc<CoderContext> {
    use coder_audit_shipper::coder::context::{
        OrganizationInfo, TemplateInfo, UserInfo, WorkspaceInfo,
    };
    fn part<T: serde::de::DeserializeOwned>(v: &Value) -> Option<std::sync::Arc<T>> {
        (!v.is_null()).then(|| std::sync::Arc::new(serde_json::from_value(v.clone()).unwrap()))
    }
    let l = &input["looked_up"];
    std::sync::Arc::new(CoderContext {
        workspace: part::<WorkspaceInfo>(&l["workspace"]),
        template: part::<TemplateInfo>(&l["template"]),
        organization: part::<OrganizationInfo>(&l["organization"]),
        user: part::<UserInfo>(&l["user"]),
        owner: part::<UserInfo>(&l["owner"]),
    })
}

/// The same entries as their goldens without look-ups, with what `[enrich.coder]` found:
/// `tests/golden/looked_up/` (a reviewer diffs the two).
#[test]
fn looked_up_goldens() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/looked_up");
    check_goldens(&dir, 3, |target, input| {
        let mut entry = AuditEntry::parse(&input["entry"].to_string());
        entry.context = Some(looked_up(input));
        Normalizer::new(target, entries::enrichment(), None).to_values(&entry, read_at())
    });
}

#[test]
fn looked_up_connection_goldens() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/looked_up/connection");
    check_goldens(&dir, 1, |target, input| {
        let mut log = ConnectionLog::parse(&input["row"].to_string());
        log.context = Some(looked_up(input));
        connection_values(target, log, Phase::ConnectAndDisconnect)
    });
}

/// Without answers, an entry is exactly what it was: the look-ups add, never change.
#[test]
fn an_empty_context_changes_nothing() {
    for entry in entries::all_generated(4) {
        for target in [Target::Ecs, OCSF_18, OCSF_11, Target::Cef, Target::Leef] {
            let n = Normalizer::new(target, entries::enrichment(), None);
            let plain = AuditEntry::parse(&entry.to_string());
            let mut empty = plain.clone();
            empty.context = Some(std::sync::Arc::new(CoderContext::default()));
            let payloads = |e: &AuditEntry| {
                n.encode(e, read_at())
                    .into_iter()
                    .map(|e| e.payload)
                    .collect::<Vec<_>>()
            };
            assert_eq!(payloads(&plain), payloads(&empty), "{entry}");
        }
    }
}

/// CEF and LEEF carry the template and the owner's e-mail; a connection line, which names
/// the owner already, names it once.
#[test]
fn looked_up_fields_in_cef_and_leef() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/looked_up");
    let input: Value = serde_json::from_slice(
        &std::fs::read(dir.join("workspace_build_start.input.json")).unwrap(),
    )
    .unwrap();
    let mut entry = AuditEntry::parse(&input["entry"].to_string());
    entry.context = Some(looked_up(&input));
    let line = |target: Target| -> String {
        let encoded =
            Normalizer::new(target, entries::enrichment(), None).encode(&entry, read_at());
        String::from_utf8(encoded[0].payload.clone()).unwrap()
    };
    let cef = line(Target::Cef);
    for kv in [
        "CoderCoderTemplateName=docker-dev",
        "CoderCoderTemplateId=7e57c0de-0000-4000-9000-000000000001",
        "CoderCoderWorkspaceOwner=alice",
        "CoderCoderWorkspaceOwnerEmail=alice@acme.example",
    ] {
        assert!(cef.contains(kv), "{kv}: {cef}");
    }
    let leef = line(Target::Leef);
    for kv in [
        "templateName=docker-dev",
        "templateDisplayName=Docker (dev)",
        "workspaceOwnerEmail=alice@acme.example",
    ] {
        assert!(leef.contains(kv), "{kv}: {leef}");
    }

    let input: Value = serde_json::from_slice(
        &std::fs::read(dir.join("connection/ssh_session_ended.input.json")).unwrap(),
    )
    .unwrap();
    let mut log = ConnectionLog::parse(&input["row"].to_string());
    log.context = Some(looked_up(&input));
    let event = ConnectionEvent {
        log,
        phase: Phase::Connect,
    };
    for (target, owner, email) in [
        (
            Target::Leef,
            "workspaceOwner=",
            "workspaceOwnerEmail=alice@acme.example",
        ),
        (
            Target::Cef,
            "CoderCoderWorkspaceOwner=",
            "CoderCoderWorkspaceOwnerEmail=alice@acme.example",
        ),
    ] {
        let (_, encoded) = Normalizer::new(target, entries::enrichment(), None)
            .encode_connection(&event, read_at())
            .remove(0);
        let text = String::from_utf8(encoded.payload).unwrap();
        assert!(
            text.contains(email)
                && text.contains("templateName=docker-dev") == (target == Target::Leef),
            "{text}"
        );
        let named = text.matches(owner).count();
        assert_eq!(named, if target == Target::Leef { 1 } else { 0 }, "{text}");
    }
}
