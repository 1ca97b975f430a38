//! Conformance: every sample entry and every generated action × resource entry, normalized
//! to ECS 9.4, OCSF 1.8.0 and OCSF 1.1.0 (semantic and single-class), validated against the
//! upstream schema packages — JSON Schema draft 2020-12 with formats for OCSF, plus the
//! rules JSON Schema cannot express (`type_uid`, captions); the `EcsFlat` field table for ECS.
//! Connection-log events (Coder v2.25+) too: each moment of every row shape.

mod ecs_check;
#[path = "../common/entries.rs"]
mod entries;
mod lake_paths;
mod schemas;
mod typed_strings;

use std::collections::BTreeSet;
use std::io::Write;

use chrono::{TimeZone, Utc};
use coder_audit_shipper::coder::{AuditEntry, ConnectionEvent, ConnectionLog, Phase};
use coder_audit_shipper::normalize::{ClassStrategy, Normalizer, OcsfVersion, Target};
use serde_json::{Value, json};

use schemas::schemas;

fn targets() -> Vec<(String, Target)> {
    let mut t = vec![("ecs".to_owned(), Target::Ecs)];
    for version in [OcsfVersion::V1_8_0, OcsfVersion::V1_1_0] {
        for classes in [ClassStrategy::Semantic, ClassStrategy::Single] {
            t.push((
                format!("ocsf {} {classes:?}", version.as_str()),
                Target::Ocsf { version, classes },
            ));
        }
    }
    t
}

/// Every problem with one OCSF event, or none.
fn ocsf_problems(event: &Value) -> Vec<String> {
    let s = schemas();
    let version = event["metadata"]["version"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let class_uid = event["class_uid"].as_u64().unwrap_or_default();
    let captions = s.ocsf_captions(&version, class_uid);
    let Some(class) = captions["name"].as_str() else {
        return vec![format!(
            "class_uid {class_uid} is not a class this test knows"
        )];
    };
    let profiles: Vec<&str> = event["metadata"]["profiles"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut problems: Vec<String> = s
        .ocsf_validator(&version, &profiles, class)
        .iter_errors(event)
        .map(|e| {
            // The message starts with the whole instance when it is an object: keep the end.
            let msg = e.to_string();
            let tail = match msg.len() {
                n if n > 240 => {
                    let cut = (n - 120..n).find(|i| msg.is_char_boundary(*i)).unwrap_or(0);
                    format!("...{}", &msg[cut..])
                }
                _ => msg,
            };
            format!("{}: {tail}", e.instance_path())
        })
        .collect();
    let activity_id = event["activity_id"].as_u64().unwrap_or(u64::MAX);
    if event["type_uid"].as_u64() != Some(class_uid * 100 + activity_id) {
        problems.push(format!(
            "type_uid {} != class_uid*100 + activity_id",
            event["type_uid"]
        ));
    }
    let caption = |table: &str, id: &Value| captions[table][id.to_string()].clone();
    let mut expect = |field: &str, want: Value| {
        if event[field] != want {
            problems.push(format!(
                "{field} is {}, the export says {want}",
                event[field]
            ));
        }
    };
    expect("class_name", captions["caption"].clone());
    expect("category_uid", captions["category_uid"].clone());
    expect("category_name", captions["category_name"].clone());
    expect("type_name", caption("type_uid", &event["type_uid"]));
    expect("severity", caption("severity_id", &event["severity_id"]));
    if activity_id != 99 {
        expect(
            "activity_name",
            caption("activity_id", &event["activity_id"]),
        );
    }
    if event["status_id"] != 99 {
        expect("status", caption("status_id", &event["status_id"]));
    }
    if !event["auth_protocol_id"].is_null() && event["auth_protocol_id"] != 99 {
        expect(
            "auth_protocol",
            caption("auth_protocol_id", &event["auth_protocol_id"]),
        );
    }
    if version == "1.1.0" {
        problems.extend(lake_problem(event));
    }
    problems
}

/// Why a 1.1.0 event would not fit the Security Lake sink's Parquet schema of its class:
/// an attribute the schema lacks would be dead-lettered there instead of shipped.
fn lake_problem(event: &Value) -> Option<String> {
    use sink_security_lake::{conform::conform, schema::Catalog};
    let uid = event["class_uid"]
        .as_u64()
        .and_then(|u| u32::try_from(u).ok())?;
    let Some(class) = Catalog::get().class(uid) else {
        return Some(format!("security lake: no Parquet schema for class {uid}"));
    };
    conform(event.to_string().as_bytes(), &class.root, &mut Vec::new())
        .err()
        .map(|misfit| format!("security lake Parquet schema: {misfit}"))
}

/// Normalize `entry` to every target and validate each event; returns the classes seen.
/// With `[enrich.coder]`'s answers attached: every field they add must conform too.
fn check_entry(label: &str, entry: &Value, seen: &mut BTreeSet<(String, u64)>) -> Vec<String> {
    let parsed = entries::with_context(entry);
    let read_at = Utc.with_ymd_and_hms(2026, 8, 21, 0, 0, 0).unwrap();
    let mut failures = Vec::new();
    for (name, target) in targets() {
        let events = Normalizer::new(target, entries::enrichment_with_geoip(), None)
            .to_values(&parsed, read_at);
        if events.is_empty() {
            failures.push(format!("{label} [{name}]: no event"));
        }
        for event in events {
            let problems = match target {
                Target::Ecs => ecs_check::check(&event, &schemas().ecs_fields),
                Target::Ocsf { .. } => {
                    seen.insert((
                        name.clone(),
                        event["class_uid"].as_u64().unwrap_or_default(),
                    ));
                    ocsf_problems(&event)
                }
                Target::Cef | Target::Leef => vec!["targets() lists JSON schemas only".into()],
            };
            if !problems.is_empty() {
                failures.push(format!(
                    "{label} [{name}]: {}\n    event: {event}",
                    problems.join("; ")
                ));
            }
        }
    }
    failures
}

#[test]
fn every_sample_entry_conforms_to_ecs_and_both_ocsf_versions() {
    let entries = entries::sample_entries();
    // The repository's fixtures hold 23 entries; the shared pages beside a checkout add more.
    let dirs = entries::sample_dirs();
    assert!(
        entries.len() >= 23 * dirs.len(),
        "only {} sample entries in {dirs:?}",
        entries.len()
    );
    if dirs.len() == 1 {
        // Outside the captured output: the user should know what was not checked.
        let _ = writeln!(
            std::io::stderr(),
            "note: no extra Coder sample pages (set CODER_API_SAMPLES to a directory of them): \
             checked the repository's fixtures only"
        );
    }
    let mut seen = BTreeSet::new();
    let failures: Vec<String> = entries
        .iter()
        .enumerate()
        .flat_map(|(i, (page, e))| check_entry(&format!("{page} #{i}"), e, &mut seen))
        .collect();
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_generated_action_and_resource_conforms_in_every_shape() {
    let pairs = entries::action_resource_pairs();
    let mut seen = BTreeSet::new();
    let mut failures = Vec::new();
    let mut count = 0;
    for (rt, action) in &pairs {
        for variant in 0..12 {
            let entry = entries::generated(rt, action, variant);
            failures.extend(check_entry(
                &format!("{rt}.{action} variant {variant}"),
                &entry,
                &mut seen,
            ));
            count += 1;
        }
    }
    assert!(count > 1000, "{count} entries");
    let shown: Vec<_> = failures.iter().take(15).collect();
    assert!(
        failures.is_empty(),
        "{} failures, first ones:\n{}",
        failures.len(),
        shown
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The semantic mode reached all seven classes in both versions (SSH and Network
    // Activity from v2.20–v2.24 agent rows); single mode only 6003.
    for version in ["1.8.0", "1.1.0"] {
        let semantic: BTreeSet<u64> = seen
            .iter()
            .filter(|(n, _)| n == &format!("ocsf {version} Semantic"))
            .map(|(_, c)| *c)
            .collect();
        assert_eq!(
            semantic,
            [3001, 3002, 3005, 3006, 4001, 4007, 6003].into(),
            "{version}"
        );
        let single: BTreeSet<u64> = seen
            .iter()
            .filter(|(n, _)| n == &format!("ocsf {version} Single"))
            .map(|(_, c)| *c)
            .collect();
        assert_eq!(single, [6003].into(), "{version}");
    }
}

#[test]
fn the_validators_reject_what_they_should() {
    // An honest check needs a failing case: each broken document must be caught.
    let s = schemas();
    let good = json!({"@timestamp": "2026-08-20T14:12:55.447001Z", "ecs": {"version": "9.4.0"},
        "event": {"kind": "event", "category": ["iam"], "type": ["user", "change"]}});
    assert_eq!(ecs_check::check(&good, &s.ecs_fields), Vec::<String>::new());
    for (broken, why) in [
        (json!({"ecs": {"version": "9.4.0"}}), "@timestamp"),
        (
            json!({"@timestamp": "x", "coderaudit": 1}),
            "not an ECS field",
        ),
        (
            json!({"@timestamp": "2026-01-01T00:00:00Z", "event": {"kind": "signal-ish"}}),
            "not one of",
        ),
        (
            json!({"@timestamp": "2026-01-01T00:00:00Z", "event": {"category": "iam"}}),
            "expects an array",
        ),
        (
            json!({"@timestamp": "2026-01-01T00:00:00Z", "source": {"ip": "not-an-ip"}}),
            "valid ip",
        ),
        (
            json!({"@timestamp": "2026-01-01T00:00:00Z", "labels": {"a": 1}}),
            "labels",
        ),
        (
            json!({"@timestamp": "2026-01-01T00:00:00Z", "event": {"category": ["authentication"], "type": ["creation"]}}),
            "not expected",
        ),
    ] {
        let errors = ecs_check::check(&broken, &s.ecs_fields);
        assert!(
            errors.iter().any(|e| e.contains(why)),
            "{broken} should fail with {why:?}: {errors:?}"
        );
    }

    let entry = entries::generated("workspace", "create", 0);
    let parsed = AuditEntry::parse(&entry.to_string());
    let target = Target::Ocsf {
        version: OcsfVersion::V1_8_0,
        classes: ClassStrategy::Semantic,
    };
    let event = Normalizer::new(target, entries::enrichment_with_geoip(), None)
        .to_values(&parsed, Utc::now())
        .remove(0);
    assert_eq!(ocsf_problems(&event), Vec::<String>::new());
    let mut broken = event.clone();
    broken.as_object_mut().unwrap().remove("actor");
    broken["src_endpoint"]["ip"] = json!("not-an-ip");
    broken["coder"] = json!({});
    broken["type_uid"] = json!(600302);
    broken["activity_name"] = json!("Delete");
    let problems = ocsf_problems(&broken).join("\n");
    for why in [
        "actor",
        "/src_endpoint/ip",
        "coder",
        "type_uid",
        "activity_name",
    ] {
        assert!(problems.contains(why), "expected {why:?} in:\n{problems}");
    }
    // A 1.8.0 event is not a 1.1.0 one: http_response does not exist there.
    let mut old = event;
    old["metadata"]["version"] = json!("1.1.0");
    let problems = ocsf_problems(&old).join("\n");
    assert!(problems.contains("http_response"), "{problems}");
    // ... and has no column in the Security Lake sink's Parquet schema either.
    assert!(
        problems.contains("security lake Parquet schema: actor.app_name"),
        "{problems}"
    );
}

#[test]
fn events_cut_to_max_event_bytes_still_conform() {
    let mut entry = entries::generated("template", "write", 0);
    entry["diff"] = json!({
        "source": {"old": "", "new": "x".repeat(300 * 1024), "secret": false},
        "name": {"old": "a", "new": "b", "secret": false}
    });
    entry["additional_fields"] = json!({"blob": "y".repeat(100 * 1024)});
    let parsed = AuditEntry::parse(&entry.to_string());
    for (name, target) in targets() {
        for encoded in Normalizer::new(target, entries::enrichment_with_geoip(), Some(16 * 1024))
            .encode(&parsed, Utc::now())
        {
            assert!(
                encoded.truncated && !encoded.over_limit && encoded.payload.len() <= 16 * 1024,
                "{name}"
            );
            let event: Value = serde_json::from_slice(&encoded.payload).unwrap();
            let problems = match target {
                Target::Ecs => ecs_check::check(&event, &schemas().ecs_fields),
                Target::Ocsf { .. } => ocsf_problems(&event),
                Target::Cef | Target::Leef => vec!["targets() lists JSON schemas only".into()],
            };
            assert!(problems.is_empty(), "{name}: {problems:?}");
        }
    }
}

/// Connection-log rows in every shape: the frontend's mocks, and the simulator's rows as
/// v2.25 (ip always a string), v2.27 (ip omitted when null) and v2.36 (tunnels) send them,
/// open and ended.
fn connection_rows() -> Vec<(String, Value)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let page: Value =
        serde_json::from_slice(
            &std::fs::read(root.join(
                "tests/fixtures/coder-api/connectionlog/page-fixture-site-entities-mocks.json",
            ))
            .unwrap(),
        )
        .unwrap();
    let mut rows: Vec<(String, Value)> = page["connection_logs"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, r)| (format!("mock #{i}"), r.clone()))
        .collect();
    let mut rng = rand::rng();
    let t = Utc.with_ymd_and_hms(2026, 8, 20, 10, 0, 0).unwrap();
    for minor in [25, 27, 36] {
        let version = coder_sim::ApiVersion { minor };
        for i in 0..40 {
            let session = i % 2 == 0;
            let row =
                coder_sim::connections::row(version, &format!("id-{i}"), t, session, &mut rng);
            let mut store = coder_sim::connections::ConnectionStore::default();
            store.insert(row);
            if session && i % 4 == 0 {
                let (reason, code) = coder_sim::connections::reason(&mut rng);
                store.close(
                    &format!("id-{i}"),
                    t + chrono::TimeDelta::minutes(3),
                    reason,
                    code,
                );
            }
            let value = store.rows()[0].value.clone();
            rows.push((format!("v2.{minor} row {i}"), value));
        }
    }
    rows
}

#[test]
fn every_connection_event_conforms_to_ecs_and_both_ocsf_versions() {
    let read_at = Utc.with_ymd_and_hms(2026, 8, 21, 0, 0, 0).unwrap();
    let mut failures = Vec::new();
    let mut classes = BTreeSet::new();
    let mut count = 0;
    for (label, row) in connection_rows() {
        let mut log = ConnectionLog::parse(&row.to_string());
        log.context = Some(entries::coder_context());
        // Each moment a row can be reported in: first seen open, first seen ended, and
        // the disconnect of a session seen open before.
        let phases = if log.is_closed() {
            vec![Phase::ConnectAndDisconnect, Phase::Disconnect]
        } else {
            vec![Phase::Connect]
        };
        for phase in phases {
            let event = ConnectionEvent {
                log: log.clone(),
                phase,
            };
            for (name, target) in targets() {
                let encoded = Normalizer::new(target, entries::enrichment_with_geoip(), None)
                    .encode_connection(&event, read_at);
                if encoded.is_empty() {
                    failures.push(format!("{label} {phase:?} [{name}]: no event"));
                }
                for (_, e) in encoded {
                    count += 1;
                    let doc: Value = serde_json::from_slice(&e.payload).unwrap();
                    let problems = match target {
                        Target::Ecs => ecs_check::check(&doc, &schemas().ecs_fields),
                        Target::Ocsf { version, .. } => {
                            classes.insert((
                                version.as_str(),
                                doc["class_uid"].as_u64().unwrap_or_default(),
                            ));
                            ocsf_problems(&doc)
                        }
                        Target::Cef | Target::Leef => {
                            vec!["targets() lists JSON schemas only".into()]
                        }
                    };
                    if !problems.is_empty() {
                        failures.push(format!(
                            "{label} {phase:?} [{name}]: {}\n    event: {doc}",
                            problems.join("; ")
                        ));
                    }
                }
            }
        }
    }
    assert!(count > 500, "{count} events");
    let shown: Vec<&str> = failures.iter().take(15).map(String::as_str).collect();
    assert!(
        failures.is_empty(),
        "{} failures, first ones:\n{}",
        failures.len(),
        shown.join("\n")
    );
    // Sessions are SSH Activity, web connections Network Activity, in both versions.
    assert_eq!(
        classes,
        [
            ("1.1.0", 4001),
            ("1.1.0", 4007),
            ("1.8.0", 4001),
            ("1.8.0", 4007)
        ]
        .into()
    );
}

#[test]
fn a_connection_event_missing_what_its_class_requires_is_caught() {
    // The honest failing case for the connection classes: 1.1.0 requires both endpoints.
    let row = r#"{"id":"a","connect_time":"2026-08-20T10:00:00Z","workspace_name":"dev","type":"ssh","ssh_info":{"connection_id":"c"}}"#;
    let event = ConnectionEvent {
        log: ConnectionLog::parse(row),
        phase: Phase::Connect,
    };
    let target = Target::Ocsf {
        version: OcsfVersion::V1_1_0,
        classes: ClassStrategy::Semantic,
    };
    let (_, encoded) = Normalizer::new(target, entries::enrichment_with_geoip(), None)
        .encode_connection(&event, Utc::now())
        .remove(0);
    let doc: Value = serde_json::from_slice(&encoded.payload).unwrap();
    assert_eq!(ocsf_problems(&doc), Vec::<String>::new());
    let mut broken = doc.clone();
    broken.as_object_mut().unwrap().remove("dst_endpoint");
    assert!(ocsf_problems(&broken).join("\n").contains("dst_endpoint"));
    let mut owner = doc;
    owner["dst_endpoint"]["owner"] = json!({"name": "alice"});
    assert!(
        ocsf_problems(&owner).join("\n").contains("owner"),
        "1.1.0 has no network_endpoint.owner"
    );
}
