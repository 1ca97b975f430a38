//! `validate --send-test-event`: one marked event through each sink, reported per sink.
//!
//! The file sink is real; Splunk HEC is the repository's simulator (`coder_sim::hec`,
//! which answers indexer acknowledgement as Splunk documents it and can refuse an event
//! with a 400, which no installable HEC peer does on demand).

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_coder-audit-shipper");

fn validate(cfg: &Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .args(["validate", "--config", cfg.to_str().unwrap()])
        .args(extra)
        .env_remove("CODER_SESSION_TOKEN")
        .stdin(Stdio::null())
        .output()
        .expect("run validate")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[cfg(feature = "splunk")]
fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[cfg(feature = "splunk")]
#[test]
fn each_sink_says_whether_its_peer_took_the_test_event() {
    use coder_sim::hec::{HecOptions, HecSim};
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    let ok = HecOptions::default();
    let siem = rt.block_on(HecSim::start(ok.clone())).unwrap();
    // Reachable, token good, but this event refused (400 "invalid data format").
    let picky_options = HecOptions {
        reject_marker: Some("coder_audit_shipper_test".into()),
        ..HecOptions::default()
    };
    let picky = rt.block_on(HecSim::start(picky_options.clone())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive.ndjson");
    let hec = |name: &str, url: String, token: &str| {
        format!(
            "[sinks.{name}]\ntype = \"splunk_hec\"\nendpoint = \"{url}\"\ntoken = \"{token}\"\n\
             ack = true\nack_poll_interval = \"200ms\"\n"
        )
    };
    let cfg = common::shipper_config(
        dir.path(),
        &sim.url(),
        100,
        &format!(
            "[sinks.archive]\ntype = \"file\"\npath = \"{}\"\nformat = \"ecs\"\n\n{}\n{}",
            archive.display(),
            hec("siem", siem.url(), &ok.token),
            hec("picky", picky.url(), &picky_options.token),
        ),
    );

    let o = validate(&cfg, &["--send-test-event"]);
    let out = text(&o);
    assert!(!o.status.success(), "one sink refused it: {out}");
    assert!(out.contains("sink archive: test event accepted"), "{out}");
    assert!(out.contains("sink siem: test event accepted"), "{out}");
    assert!(out.contains("sink picky: test event NOT accepted"), "{out}");
    assert!(out.contains("not accepted by: picky"), "{out}");
    // The id printed is the one each peer holds.
    let id = out
        .split("test event: id ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("the id is printed")
        .to_owned();
    let written = lines(&archive);
    assert_eq!(written.len(), 1, "{written:?}");
    assert_eq!(written[0]["event"]["id"], id.as_str());
    assert_eq!(
        written[0]["coder"]["audit"]["resource"]["type"],
        "coder_audit_shipper_test"
    );
    let indexed = siem.indexed();
    assert_eq!(indexed.len(), 1, "{indexed:?}");
    assert!(indexed[0].to_string().contains(&id), "{}", indexed[0]);
    assert!(picky.indexed().is_empty());
    // It moved no checkpoint.
    let state = dir.path().join("state");
    let checkpoints = std::fs::read_dir(&state).map(|d| d.count()).unwrap_or(0);
    assert_eq!(checkpoints, 0, "no checkpoint in {}", state.display());

    // To one sink only.
    let o = validate(&cfg, &["--send-test-event", "--sink", "archive"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(lines(&archive).len(), 2);
    assert_eq!(siem.indexed().len(), 1, "siem was not sent one");
    let o = validate(&cfg, &["--send-test-event", "--sink", "nope"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("no sink \"nope\""), "{}", text(&o));
}

/// The flags make sense together or are refused before anything is sent.
#[test]
fn a_test_event_needs_the_network_and_a_sink_filter_needs_a_test_event() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::shipper_config(
        dir.path(),
        "http://127.0.0.1:9",
        100,
        &format!(
            "[sinks.archive]\ntype = \"file\"\npath = \"{}\"\n",
            dir.path().join("a.ndjson").display()
        ),
    );
    let o = validate(&cfg, &["--send-test-event", "--offline"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("cannot be used with"), "{}", text(&o));
    let o = validate(&cfg, &["--sink", "archive"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("--send-test-event"), "{}", text(&o));
    assert!(!dir.path().join("a.ndjson").exists(), "nothing was sent");
}

/// The test event into Elasticsearch (the bulk simulator: a document keyed by the test
/// event's id in `logs-coder.audit-default`) and into an HTTP intake that refuses it.
#[cfg(all(feature = "elasticsearch", feature = "http"))]
#[test]
fn elasticsearch_and_http_sinks_say_whether_they_took_the_test_event() {
    use coder_sim::elastic::{EsOptions, EsSim};
    use coder_sim::intake::{IntakeOptions, IntakeSim};
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    let es = rt.block_on(EsSim::start(EsOptions::default())).unwrap();
    let refusing = rt
        .block_on(IntakeSim::start(IntakeOptions {
            reject_marker: Some("coder_audit_shipper_test".into()),
            ..IntakeOptions::default()
        }))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::shipper_config(
        dir.path(),
        &sim.url(),
        100,
        &format!(
            "[sinks.elastic]\ntype = \"elasticsearch\"\nformat = \"ecs\"\nendpoint = \"{}\"\n\
             api_key = \"{}\"\n\n[sinks.webhook]\ntype = \"http\"\nuri = \"{}\"\n",
            es.url(),
            EsOptions::default().api_key,
            refusing.url()
        ),
    );
    let o = validate(&cfg, &["--send-test-event"]);
    let out = text(&o);
    assert!(!o.status.success(), "one sink refused it: {out}");
    assert!(out.contains("sink elastic: test event accepted"), "{out}");
    assert!(
        out.contains("sink webhook: test event NOT accepted"),
        "{out}"
    );
    assert!(
        out.contains("HTTP 400"),
        "the intake's answer is shown: {out}"
    );
    let docs = es.documents("logs-coder.audit-default");
    assert_eq!(docs.len(), 1, "{docs:?}");
    let doc = docs.values().next().unwrap();
    assert_eq!(
        doc["coder"]["audit"]["resource"]["type"],
        "coder_audit_shipper_test"
    );
    assert!(refusing.records().is_empty());
}
