//! The HTTP sink end to end: the Coder simulator → `coder-audit-shipper run` → an intake.
//!
//! The transport (NDJSON and JSON-array bodies, gzip) is checked against a real HTTP
//! server, Tenzir's `accept_http` (`tests/peers/start-http.sh`). The status rule (429 with
//! `Retry-After`, a 400 refusing a request, 403) is checked against `coder_sim::intake`,
//! written from Datadog's and Sumo Logic's documented statuses: `accept_http` answers 200
//! to everything.
#![cfg(feature = "http")]

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use coder_sim::intake::{IntakeOptions, IntakeSim};
use common::{delivered, peers, run_log, spawn_run, stop_gracefully, wait_until};
use serde_json::Value;

fn write_config(dir: &Path, coder_url: &str, sink: &str) -> PathBuf {
    common::shipper_config(
        dir,
        coder_url,
        100,
        &format!("[sinks.siem]\ntype = \"http\"\nbatch_timeout = \"200ms\"\n{sink}"),
    )
}

/// The audit ids of `lines` (raw `id` or ECS `event.id`), each copy.
fn ids(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .filter_map(|v| v["id"].as_str().or_else(|| v["event"]["id"].as_str()))
        .map(str::to_owned)
        .collect()
}

fn read_lines(file: &str) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn every_event_reaches_a_real_intake_once_as_ndjson_and_as_a_json_array() {
    let rt = common::runtime();
    for (encoding, format) in [("ndjson", "raw"), ("json_array", "ecs")] {
        let peer = peers::http(encoding);
        let sim = rt.block_on(common::unlimited_sim());
        sim.backlog(
            500,
            Duration::from_secs(3_600),
            Utc::now() - TimeDelta::minutes(5),
        );
        let expected: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
        let dir = tempfile::tempdir().unwrap();
        let cfg = write_config(
            dir.path(),
            &sim.url(),
            &format!(
                "uri = \"{}\"\nencoding = \"{encoding}\"\nformat = \"{format}\"\n\
                 max_request_events = 50",
                peer["HTTP_URL"]
            ),
        );
        let mine = |records: &[Value]| -> Vec<String> {
            ids(records)
                .into_iter()
                .filter(|id| expected.contains(id))
                .collect()
        };
        let mut child = spawn_run(&cfg);
        let done = wait_until(Duration::from_secs(60), || {
            delivered::distinct(&mine(&read_lines(&peer["HTTP_EVENTS_FILE"]))).0 == expected
        });
        stop_gracefully(&mut child);
        assert!(done, "{encoding}: {}", run_log(&cfg));
        let (got, copies) = delivered::distinct(&mine(&read_lines(&peer["HTTP_EVENTS_FILE"])));
        assert_eq!(got, expected);
        assert_eq!(copies, 0, "{encoding}: each event once");
        let log = std::fs::read_to_string(
            Path::new(&peers::run_dir()).join(format!("http-{encoding}.log")),
        )
        .unwrap_or_default();
        assert!(
            !log.contains("expected"),
            "the intake could not read a body as {encoding}: {log}"
        );
    }
}

#[test]
fn throttling_is_waited_out_and_a_refused_record_is_dead_lettered_alone() {
    let rt = common::runtime();
    let marker = "refuse-me-http-0123456789";
    let key = "dd-key-do-not-print";
    let intake = rt
        .block_on(IntakeSim::start(IntakeOptions {
            auth: Some(("DD-API-KEY".into(), key.into())),
            throttle: 3,
            reject_marker: Some(marker.into()),
            ..IntakeOptions::default()
        }))
        .unwrap();
    let sim = rt.block_on(common::unlimited_sim());
    let t = Utc::now() - TimeDelta::minutes(30);
    sim.backlog(200, Duration::from_secs(600), t);
    let (bad_id, bad) = common::marked_entry(marker, t - TimeDelta::minutes(3));
    assert!(sim.insert_entry(&bad));
    let mut expected: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    expected.remove(&bad_id);
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("dd-api-key");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    // The URL from a file, as a Sumo Logic source's (whose path is its token) would be.
    let uri_file = dir.path().join("intake-url");
    std::fs::write(
        &uri_file,
        format!("{}?token=sumo-secret-path", intake.url()),
    )
    .unwrap();
    let cfg = write_config(
        dir.path(),
        &sim.url(),
        &format!(
            "uri_file = \"{}\"\nencoding = \"json_array\"\nformat = \"ecs\"\n\
             auth_header = \"DD-API-KEY\"\nauth_file = \"{}\"\nmax_request_events = 40\n\
             [sinks.siem.headers]\n\"DD-SOURCE\" = \"coder\"",
            uri_file.display(),
            key_file.display()
        ),
    );
    let mut child = spawn_run(&cfg);
    let dead_file = dir.path().join("state/dead-letter/siem.ndjson");
    let done = wait_until(Duration::from_secs(60), || {
        delivered::distinct(&ids(&intake.records())).0 == expected && dead_file.exists()
    });
    stop_gracefully(&mut child);
    let log = run_log(&cfg);
    assert!(done, "{log}");
    let copies: HashMap<String, usize> =
        ids(&intake.records())
            .into_iter()
            .fold(HashMap::new(), |mut m, id| {
                *m.entry(id).or_default() += 1;
                m
            });
    // A refused request keeps nothing, so halving it sends its good records once each
    // in the end: no copies.
    assert!(copies.values().all(|&n| n == 1), "{copies:?}");
    assert!(!copies.contains_key(&bad_id));
    let dead = std::fs::read_to_string(&dead_file).unwrap();
    assert_eq!(dead.lines().count(), 1, "{dead}");
    assert!(
        dead.contains(&bad_id) && dead.contains("HTTP 400"),
        "{dead}"
    );
    assert!(intake.refused() >= 2, "halving took more than one refusal");
    assert!(
        intake
            .content_types()
            .iter()
            .all(|c| c == "application/json")
    );
    assert!(log.contains("retrying") || log.contains("429"), "{log}");
    assert!(!log.contains(key), "the key leaked: {log}");
    assert!(!log.contains("sumo-secret-path"), "the URL leaked: {log}");
}

#[test]
fn a_refused_key_ends_the_run_and_validate_hides_the_url_from_a_file() {
    let rt = common::runtime();
    let intake = rt
        .block_on(IntakeSim::start(IntakeOptions {
            auth: Some(("DD-API-KEY".into(), "right".into())),
            ..IntakeOptions::default()
        }))
        .unwrap();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(5, Duration::from_secs(600), Utc::now());
    let dir = tempfile::tempdir().unwrap();
    let uri_file = dir.path().join("intake-url");
    std::fs::write(
        &uri_file,
        format!("{}?token=sumo-secret-path", intake.url()),
    )
    .unwrap();
    let cfg = write_config(
        dir.path(),
        &sim.url(),
        &format!(
            "uri_file = \"{}\"\nauth_header = \"DD-API-KEY\"\nauth = \"wrong-key-do-not-print\"",
            uri_file.display()
        ),
    );
    let run = |command: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_coder-audit-shipper"))
            .args([command, "--config", cfg.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let out = run("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("HTTP 403") && err.contains("auth_file"),
        "{err}"
    );
    assert!(
        !err.contains("wrong-key-do-not-print") && !err.contains("sumo-secret-path"),
        "{err}"
    );
    let out = run("validate");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("http POST the URL in"), "{text}");
    assert!(!text.contains("sumo-secret-path"), "{text}");
}
