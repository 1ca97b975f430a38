//! Per-sink routing through `run`: `[sinks.NAME] streams` sends a sink some of the logs.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use common::{delivered, scrape};

/// Two file sinks over both logs, one of them taking the audit log only: it gets every
/// audit id and no connection id, keeps no connection checkpoint and exposes no connection
/// series; the other gets both logs, each id once.
#[test]
fn a_sink_taking_the_audit_log_only_gets_no_connection_event() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    let now = Utc::now();
    sim.backlog(120, Duration::from_secs(3_600), now);
    sim.connection_backlog(40, 0, Duration::from_secs(3_600), now);
    let audit: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    let connections: HashSet<String> = sim
        .connections_inserted()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let (siem, lake) = (
        dir.path().join("siem.ndjson"),
        dir.path().join("lake.ndjson"),
    );
    let cfg = common::shipper_config(
        dir.path(),
        &sim.url(),
        100,
        &format!(
            "{}[sinks.siem]\ntype = \"file\"\npath = \"{}\"\nstreams = [\"audit\"]\n\n\
             [sinks.lake]\ntype = \"file\"\npath = \"{}\"\n",
            scrape::SERVER,
            siem.display(),
            lake.display()
        ),
    );
    common::read_streams(&cfg, r#"["audit", "connection"]"#);
    let mut child = common::spawn_run(&cfg);
    let shipped = common::wait_until(Duration::from_secs(60), || {
        let (siem_got, _) = delivered::distinct(&delivered::file(&siem));
        let (lake_got, _) = delivered::distinct(&delivered::file(&lake));
        audit.is_subset(&siem_got) && audit.union(&connections).all(|id| lake_got.contains(id))
    });
    let metrics = scrape::metrics_address(&cfg)
        .and_then(|a| scrape::http_get(&a, "/metrics"))
        .unwrap_or_default();
    let status = common::stop_gracefully(&mut child);
    let log = common::run_log(&cfg);
    assert!(shipped, "{log}");
    assert!(status.success(), "{log}");

    let siem_ids = delivered::file(&siem);
    let (siem_got, siem_copies) = delivered::distinct(&siem_ids);
    assert_eq!(siem_got, audit, "the audit log, and nothing else");
    assert_eq!(siem_copies, 0);
    let lake_ids = delivered::file(&lake);
    let (lake_got, lake_copies) = delivered::distinct(&lake_ids);
    assert_eq!(lake_got, audit.union(&connections).cloned().collect());
    assert_eq!(lake_copies, 0);

    let checkpoints: Vec<String> = std::fs::read_dir(dir.path().join("state"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        checkpoints
            .iter()
            .any(|f| f.contains("siem") && f.contains("audit")),
        "{checkpoints:?}"
    );
    assert!(
        !checkpoints
            .iter()
            .any(|f| f.contains("siem") && f.contains("connection")),
        "{checkpoints:?}"
    );
    assert!(
        metrics.contains(r#"component_id="lake",component_type="file",stream="connection""#),
        "{metrics}"
    );
    assert!(
        !metrics.contains(r#"component_id="siem",component_type="file",stream="connection""#),
        "{metrics}"
    );
}

/// When no sink takes the connection log, it is not read at all, even though
/// `coder.streams` names it.
#[test]
fn a_log_no_sink_takes_is_not_read() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(50, Duration::from_secs(3_600), Utc::now());
    let audit: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("siem.ndjson");
    let cfg = common::shipper_config(
        dir.path(),
        &sim.url(),
        100,
        &format!(
            "[sinks.siem]\ntype = \"file\"\npath = \"{}\"\nstreams = [\"audit\"]\n",
            out.display()
        ),
    );
    common::read_streams(&cfg, r#"["audit", "connection"]"#);
    let mut child = common::spawn_run(&cfg);
    let shipped = common::wait_until(Duration::from_secs(30), || {
        let (got, _) = delivered::distinct(&delivered::file(&out));
        audit.is_subset(&got)
    });
    // A few more polls, in which a connection stream would have read its log.
    std::thread::sleep(Duration::from_secs(1));
    let status = common::stop_gracefully(&mut child);
    let log = common::run_log(&cfg);
    assert!(shipped, "{log}");
    assert!(status.success(), "{log}");
    assert_eq!(sim.stats().connection_requests, 0, "{log}");
    assert!(log.contains("no sink takes the connection stream"), "{log}");
}

/// `[sinks.NAME.filter]` through `tap` and `run`: the filtered sink gets exactly the
/// events its rules admit (judged here from the unfiltered sink's ECS), each once; the
/// rest is counted in `component_filtered_events_total`, and `tap --sink` shows what the
/// sink would get.
#[test]
fn a_filtered_sink_gets_what_its_rules_admit_and_counts_the_rest() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(200, Duration::from_secs(3_600), Utc::now());
    let all: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    let dir = tempfile::tempdir().unwrap();
    let (siem, lake) = (
        dir.path().join("siem.ndjson"),
        dir.path().join("lake.ndjson"),
    );
    let cfg = common::shipper_config(
        dir.path(),
        &sim.url(),
        50,
        &format!(
            "{}[sinks.siem]\ntype = \"file\"\npath = \"{}\"\nformat = \"ecs\"\n\
             [sinks.siem.filter]\ninclude = [{{ outcome = [\"failure\"] }}, \
             {{ resource_type = [\"user\", \"api_key\"], action = [\"write\", \"create\"] }}]\n\
             exclude = [{{ user = [\"carol\"] }}]\n\n\
             [sinks.lake]\ntype = \"file\"\npath = \"{}\"\nformat = \"ecs\"\n",
            scrape::SERVER,
            siem.display(),
            lake.display()
        ),
    );
    // What the filter admits, read from the unfiltered ECS: the oracle.
    let admits = |doc: &serde_json::Value| {
        let s = |p: &str| doc.pointer(p).and_then(|v| v.as_str());
        let included = s("/event/outcome") == Some("failure")
            || (matches!(s("/coder/audit/resource/type"), Some("user" | "api_key"))
                && matches!(s("/coder/audit/action"), Some("write" | "create")));
        included && s("/user/name") != Some("carol")
    };

    // tap, before any checkpoint exists: from the beginning, once.
    let tapped = std::process::Command::new(env!("CARGO_BIN_EXE_coder-audit-shipper"))
        .args([
            "tap",
            "--config",
            cfg.to_str().unwrap(),
            "--sink",
            "siem",
            "--once",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        tapped.status.success(),
        "{}",
        String::from_utf8_lossy(&tapped.stderr)
    );
    let tapped: Vec<serde_json::Value> = String::from_utf8_lossy(&tapped.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!tapped.is_empty());
    assert!(
        tapped.iter().all(admits),
        "tap shows only what the filter admits"
    );

    let mut child = common::spawn_run(&cfg);
    let shipped = common::wait_until(Duration::from_secs(60), || {
        let (got, _) = delivered::distinct(&delivered::file(&lake));
        all.is_subset(&got)
    });
    let lake_docs: Vec<serde_json::Value> = std::fs::read_to_string(&lake)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut wanted: Vec<String> = lake_docs
        .iter()
        .filter(|d| admits(d))
        .map(|d| d["event"]["id"].as_str().unwrap().to_owned())
        .collect();
    wanted.sort();
    let left_out = (all.len() - wanted.len()) as f64;
    let (counted, metrics) = scrape::wait_for_metric(
        &cfg,
        "component_filtered_events_total",
        &["component_id=\"siem\""],
        left_out,
    );
    let status = common::stop_gracefully(&mut child);
    let log = common::run_log(&cfg);
    assert!(shipped, "{log}");
    assert!(status.success(), "{log}");
    assert!(counted, "{metrics}");
    let siem_filtered = scrape::metric(
        &metrics,
        "component_filtered_events_total",
        &["component_id=\"siem\""],
    );
    assert_eq!(
        siem_filtered,
        Some(left_out),
        "every event left out is counted, once"
    );
    assert!(
        !wanted.is_empty() && wanted.len() < all.len(),
        "a filter that matters"
    );
    let mut got = delivered::file(&siem);
    got.sort();
    assert_eq!(got, wanted, "exactly what the rules admit, each once");
    let mut shown: Vec<String> = tapped
        .iter()
        .map(|d| d["event"]["id"].as_str().unwrap().to_owned())
        .collect();
    shown.sort();
    assert_eq!(shown, wanted, "tap --sink shows what the sink gets");
}
