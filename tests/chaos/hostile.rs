//! Hostile content from Coder: an entry far past the response cap, diffs nested past the
//! parser's limit, control characters and the delimiters of CEF, LEEF and syslog in every
//! string field, and secrets, which must reach no output, log line or metric.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use coder_sim::SimConfig;
use serde_json::{Value, json};

use super::coder_faults::file_config;
use super::common::{self, delivered, peers, scrape};
use super::report::{self, PeakRss};

/// What an attacker who can name a workspace or a template puts in it.
const HOSTILE: &str = "a|b=c\\d\ne\tf\r\u{0}\u{7}\u{1b}[31m] \"x\" <13>1 CEF:0|v|p|1|LEEF:2.0|%n%s ${jndi:ldap://x} \u{2028}é";
const SECRET_OLD: &str = "OldDiffSecret-9f2c1a";
const SECRET_NEW: &str = "NewDiffSecret-7b4e0d";

fn hostile_entry(i: usize) -> Value {
    // Built, not parsed: serde_json refuses to read more than 128 levels.
    let deep = (0..300).fold(json!(1), |v, _| json!([v]));
    let diff: Value = if i % 2 == 0 {
        json!({ "hashed_password": {"old": SECRET_OLD, "new": SECRET_NEW, "secret": true},
                "name": {"old": HOSTILE, "new": "b", "secret": false} })
    } else {
        json!({ "readme": {"old": deep, "new": "x", "secret": false} })
    };
    json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "request_id": uuid::Uuid::new_v4().to_string(),
        "time": (Utc::now() - TimeDelta::seconds(600 - i as i64)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "ip": HOSTILE,
        "user_agent": HOSTILE,
        "resource_type": "template",
        "resource_id": uuid::Uuid::new_v4().to_string(),
        "resource_target": HOSTILE,
        "resource_icon": HOSTILE,
        "action": "write",
        "diff": diff,
        "status_code": 200,
        "additional_fields": {"k": HOSTILE, "workspace_name": HOSTILE},
        "description": format!("{{user}} updated template {{target}} {HOSTILE}"),
        "resource_link": HOSTILE,
        "is_deleted": false,
        "organization_id": uuid::Uuid::new_v4().to_string(),
        "user": {"id": uuid::Uuid::new_v4().to_string(), "username": format!("u{i}{HOSTILE}"),
                 "email": HOSTILE, "name": HOSTILE, "status": "active", "roles": []},
    })
}

#[test]
fn hostile_strings_deep_diffs_and_secrets_stay_in_their_fields_and_out_of_logs() {
    let _shared = super::PEERS.read().unwrap_or_else(|e| e.into_inner());
    let syslog = peers::syslog();
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    let entries: Vec<Value> = (0..40).map(hostile_entry).collect();
    for e in &entries {
        assert!(sim.insert_entry(e));
    }
    let ids: Vec<String> = entries
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    let app = common::unique("hostile");
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::shipper_config(
        dir.path(),
        &sim.url(),
        7,
        &format!(
            r#"{server}
[sinks.raw]
type = "file"
path = "{d}/raw.ndjson"

[sinks.ecs]
type = "file"
path = "{d}/ecs.ndjson"
format = "ecs"

[sinks.ocsf]
type = "file"
path = "{d}/ocsf.ndjson"
format = "ocsf"

[sinks.cef]
type = "syslog"
address = "{tcp}"
app_name = "{app}"
body = "cef"
"#,
            server = scrape::SERVER,
            d = dir.path().display(),
            tcp = syslog["SYSLOG_TCP"],
        ),
    );
    let mut child = common::run_command(&cfg)
        .env("RUST_LOG", "debug")
        .spawn()
        .unwrap();
    let peak = PeakRss::default();
    peak.watch(child.id());
    let raw_lines = || std::fs::read_to_string(dir.path().join("raw.ndjson")).unwrap_or_default();
    let arrived = common::wait_until(Duration::from_secs(60), || {
        let raw = raw_lines();
        ids.iter()
            .all(|id| raw.contains(&format!("\"id\":\"{id}\"")))
            && delivered::syslog(&syslog["SYSLOG_OUT_DIR"], "tcp", &app).len() >= ids.len()
            && delivered::file(&dir.path().join("ocsf.ndjson")).len() >= ids.len()
    });
    let metrics = scrape::metrics_address(&cfg)
        .and_then(|a| scrape::http_get(&a, "/metrics"))
        .unwrap_or_default();
    let status = common::stop_gracefully(&mut child);
    let log = common::run_log(&cfg);
    assert!(arrived, "{log}");
    assert!(status.success(), "{status}\n{log}");
    assert!(metrics.contains("component_sent_events_total"), "{metrics}");

    // Every entry exactly once in every sink, each line whole.
    let raw = raw_lines();
    assert_eq!(raw.lines().count(), ids.len(), "one raw line per entry");
    for (sink, got) in [
        ("ecs", delivered::file(&dir.path().join("ecs.ndjson"))),
        ("ocsf", delivered::file(&dir.path().join("ocsf.ndjson"))),
        (
            "cef",
            delivered::syslog(&syslog["SYSLOG_OUT_DIR"], "tcp", &app),
        ),
    ] {
        let t = common::tally(&sim, &got, chrono::DateTime::<Utc>::MIN_UTC);
        report::record(
            "hostile strings, 300-deep diffs, secret diffs",
            sink,
            t.lost.len(),
            t.duplicates,
            &peak,
            "40 entries",
        );
        assert!(
            t.lost.is_empty() && t.duplicates == 0,
            "{sink}: lost {:?}, {} duplicates",
            t.lost,
            t.duplicates
        );
    }

    // The hostile value survives intact inside its field (JSON escaping, not mangling).
    let ecs = std::fs::read_to_string(dir.path().join("ecs.ndjson")).unwrap();
    let names: Vec<String> = ecs
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["user"]["name"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert!(
        names.iter().any(|n| n == &format!("u0{HOSTILE}")),
        "{names:?}"
    );

    // Secrets: redacted in every normalized output, and nowhere in logs or metrics.
    let ocsf = std::fs::read_to_string(dir.path().join("ocsf.ndjson")).unwrap();
    let cef =
        std::fs::read_to_string(std::path::Path::new(&syslog["SYSLOG_OUT_DIR"]).join("tcp.log"))
            .unwrap();
    for secret in [SECRET_OLD, SECRET_NEW, SimConfig::DEFAULT_TOKEN] {
        for (what, text) in [
            ("ecs", &ecs),
            ("ocsf", &ocsf),
            ("cef", &cef),
            ("log", &log),
            ("metrics", &metrics),
        ] {
            assert!(!text.contains(secret), "{secret} in the {what} output");
        }
    }
    // The entries whose diff could not be read were still normalized, and said so.
    assert!(log.contains("nested too deep to read"), "{log}");
}

#[test]
fn a_200_mb_entry_ships_without_its_diff_marked_with_bounded_memory_and_the_stream_goes_on() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    let base = Utc::now() - TimeDelta::hours(1);
    for i in 0..50 {
        sim.insert_at(base - TimeDelta::seconds(100 - i));
    }
    let mut huge = hostile_entry(0);
    huge["time"] = json!(base.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    huge["diff"] =
        json!({"readme": {"old": "x".repeat(200 * 1024 * 1024), "new": "y", "secret": false}});
    let huge_id = huge["id"].as_str().unwrap_or_default().to_owned();
    assert!(sim.insert_entry(&huge));
    drop(huge);
    for i in 1..=50 {
        sim.insert_at(base + TimeDelta::seconds(i));
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = file_config(dir.path(), &sim.url());
    let mut child = common::run_command(&cfg)
        .env("CODER_AUDIT_SHIPPER__CODER__MAX_RESPONSE_BYTES", "8388608")
        .spawn()
        .unwrap();
    let peak = PeakRss::default();
    peak.watch(child.id());
    let out = dir.path().join("audit.ndjson");
    let all: Vec<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    let caught_up = common::wait_until(Duration::from_secs(120), || {
        let (got, _) = delivered::distinct(&delivered::file(&out));
        all.iter().all(|id| got.contains(id))
    });
    let metrics = scrape::metrics_address(&cfg)
        .and_then(|a| scrape::http_get(&a, "/metrics"))
        .unwrap_or_default();
    let status = common::stop_gracefully(&mut child);
    let log = common::run_log(&cfg);
    assert!(caught_up, "not every row arrived:\n{log}");
    assert!(status.success(), "{status}\n{log}");
    let (_, duplicates) = delivered::distinct(&delivered::file(&out));
    assert_eq!(duplicates, 0);
    // The huge entry is there, without its diff, and says so.
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let line: Value = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["id"] == huge_id.as_str())
        .unwrap_or(Value::Null);
    assert_eq!(line["diff"], Value::Null, "{line}");
    assert_eq!(
        line["coder_audit_shipper_truncated"]["fields_omitted"],
        json!(["diff"])
    );
    assert!(text.len() < 8 * 1024 * 1024, "no line carries the diff");
    assert!(
        log.contains("larger than coder.max_response_bytes"),
        "{log}"
    );
    assert_eq!(
        scrape::metric(
            &metrics,
            "component_errors_total",
            &["component_id=\"coder\"", "error_type=\"oversized_entry\""],
        ),
        Some(1.0),
        "{metrics}"
    );
    report::record(
        "a 200 MB entry, max_response_bytes = 8 MiB",
        "file",
        0,
        duplicates,
        &peak,
        "shipped without its diff, marked; the rest whole",
    );
    assert!(peak.mib() < 8.0 + 64.0, "peak RSS {:.1} MiB", peak.mib());
}
