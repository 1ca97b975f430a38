//! The OCSF objects the normalizer emits in 1.1.0, by class: what the Security Lake sink's
//! Parquet schemas expand into columns (`sinks/security-lake/schema/emitted-1.1.0.json`,
//! read by `scripts/gen-lake-schema.py`). Every class's schema keeps every scalar
//! attribute, and of its objects only those the normalizer fills: all of OCSF 1.1.0
//! three deep is about 550 columns a class, most never set, and each column costs the
//! Parquet writer memory and time for every file.
//!
//! `UPDATE_LAKE_SCHEMA=1 cargo test --test conformance lake` rewrites the file; otherwise
//! this test fails when the normalizer emits an object the file lacks (regenerate both).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use coder_audit_shipper::coder::{AuditEntry, ConnectionEvent, ConnectionLog, Phase};
use coder_audit_shipper::normalize::{ClassStrategy, Normalizer, OcsfVersion, Target};
use serde_json::Value;

use super::{connection_rows, entries};

/// Object paths nest this deep at most (the sink's `DEPTH` less the leaf level).
const OBJECT_DEPTH: usize = 2;

fn object_paths(value: &Value, at: &str, depth: usize, out: &mut BTreeSet<String>) {
    let Value::Object(fields) = value else {
        return;
    };
    for (name, v) in fields {
        // Coder's own fields are one JSON text column, whatever is inside.
        if at.is_empty() && name == "unmapped" {
            continue;
        }
        let path = if at.is_empty() {
            name.clone()
        } else {
            format!("{at}.{name}")
        };
        let items: Vec<&Value> = match v {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        for item in items {
            if item.is_object() {
                out.insert(path.clone());
                if depth < OBJECT_DEPTH {
                    object_paths(item, &path, depth + 1, out);
                }
            }
        }
    }
}

/// Every OCSF 1.1.0 event of the conformance inputs, both class strategies.
fn events() -> Vec<Value> {
    let read_at = chrono::Utc::now();
    let mut events = Vec::new();
    for classes in [ClassStrategy::Semantic, ClassStrategy::Single] {
        let target = Target::Ocsf {
            version: OcsfVersion::V1_1_0,
            classes,
        };
        let normalizer = Normalizer::new(target, entries::enrichment_with_geoip(), None);
        let audit = entries::sample_entries()
            .into_iter()
            .map(|(_, e)| e)
            .chain(entries::all_generated(12));
        // With and without `[enrich.coder]`'s answers.
        for entry in audit {
            let parsed = AuditEntry::parse(&entry.to_string());
            events.extend(normalizer.to_values(&parsed, read_at));
            events.extend(normalizer.to_values(&entries::with_context(&entry), read_at));
        }
        // Each row also as a web connection whose user Coder knows (`web_info.user`).
        let rows = connection_rows().into_iter().flat_map(|(_, row)| {
            let mut web = row.clone();
            web["web_info"] = serde_json::json!({
                "user_agent": "Mozilla/5.0",
                "user": {"id": "7a0b1c2d-0000-4000-8000-000000000003", "username": "alice",
                         "email": "alice@acme.example"},
                "slug_or_port": "code-server",
                "status_code": 200,
            });
            [row, web]
        });
        for row in rows {
            let mut log = ConnectionLog::parse(&row.to_string());
            log.context = Some(entries::coder_context());
            for phase in [
                Phase::Connect,
                Phase::ConnectAndDisconnect,
                Phase::Disconnect,
            ] {
                let event = ConnectionEvent {
                    log: log.clone(),
                    phase,
                };
                for (_, encoded) in normalizer.encode_connection(&event, read_at) {
                    events.push(serde_json::from_slice(&encoded.payload).expect("JSON"));
                }
            }
        }
    }
    events
}

#[test]
fn the_lake_schema_keeps_every_object_the_normalizer_emits() {
    let mut emitted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for event in events() {
        let class = event["class_uid"].to_string();
        object_paths(&event, "", 0, emitted.entry(class).or_default());
    }
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sinks/security-lake/schema/emitted-1.1.0.json");
    if std::env::var_os("UPDATE_LAKE_SCHEMA").is_some() {
        let text = serde_json::to_string_pretty(&emitted).unwrap();
        std::fs::write(&file, text + "\n").unwrap();
        return;
    }
    let kept: BTreeMap<String, BTreeSet<String>> =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let missing: Vec<String> = emitted
        .iter()
        .flat_map(|(class, paths)| {
            paths
                .iter()
                .filter(|p| !kept.get(class).is_some_and(|k| k.contains(*p)))
                .map(move |p| format!("{class} {p}"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "the normalizer emits objects the Security Lake schema leaves out: {missing:?}\n\
         run UPDATE_LAKE_SCHEMA=1 cargo test --test conformance lake, then \
         scripts/gen-lake-schema.py (its header says how)"
    );
}
