//! The Elasticsearch sink end to end: the Coder simulator → `coder-audit-shipper run` →
//! a bulk endpoint.
//!
//! The transport (bulk NDJSON, gzip, kill -9 and a 30 s outage) is tested against a real
//! Bulk API server, Tenzir's `accept_elasticsearch` (`tests/peers/start-elasticsearch.sh`).
//! It takes every action and keeps nothing, so per-item answers (409 for an id the index
//! has, 429 for one item, a mapping error for another) are tested against
//! `coder_sim::elastic`, a simulator written from Elastic's Bulk API documentation: no
//! installable peer gives them.
#![cfg(feature = "elasticsearch")]

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use coder_sim::elastic::{EsOptions, EsSim};
use common::{delivered, peers, run_log, scrape, spawn_run, stop_gracefully, wait_until};

const AUDIT: &str = "logs-coder.audit-default";
const CONNECTION: &str = "logs-coder.connection-default";

/// The config with one Elasticsearch sink, `elastic`, in ECS, made of `extra`'s lines.
fn write_config(dir: &Path, coder_url: &str, es: &EsSim, extra: &str) -> PathBuf {
    common::shipper_config(
        dir,
        coder_url,
        100,
        &format!(
            "{}\n[sinks.elastic]\ntype = \"elasticsearch\"\nformat = \"ecs\"\nendpoint = \"{}\"\n\
             api_key = \"{}\"\nbatch_timeout = \"200ms\"\n{extra}",
            scrape::SERVER,
            es.url(),
            EsOptions::default().api_key
        ),
    )
}

fn ids_of(sim: &coder_sim::SimHandle) -> HashSet<String> {
    sim.inserted().into_iter().map(|(id, _)| id).collect()
}

#[test]
fn per_item_answers_resend_only_what_was_refused_for_now_and_dead_letter_mapping_errors() {
    let rt = common::runtime();
    let marker = "refuse-me-es-0123456789";
    let sim = rt.block_on(common::unlimited_sim());
    let busy_items = 7;
    let es = rt
        .block_on(EsSim::start(EsOptions {
            busy_requests: 2,
            busy_items,
            reject_marker: Some(marker.into()),
            ..EsOptions::default()
        }))
        .unwrap();
    let t = Utc::now() - TimeDelta::minutes(30);
    sim.backlog(300, Duration::from_secs(600), t);
    sim.connection_backlog(20, 0, Duration::from_secs(600), t);
    let (bad_id, bad) = common::marked_entry(marker, t - TimeDelta::minutes(3));
    assert!(sim.insert_entry(&bad));
    let mut expected = ids_of(&sim);
    expected.remove(&bad_id);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sim.url(), &es, "");
    common::read_streams(&cfg, r#"["audit", "connection"]"#);
    let mut child = spawn_run(&cfg);
    let dead_file = dir.path().join("state/dead-letter/elastic.ndjson");
    let done = wait_until(Duration::from_secs(60), || {
        let stored: HashSet<String> = es.documents(AUDIT).into_keys().collect();
        stored == expected && dead_file.exists() && !es.documents(CONNECTION).is_empty()
    });
    let metrics = scrape::metrics_address(&cfg)
        .and_then(|a| scrape::http_get(&a, "/metrics"))
        .unwrap_or_default();
    stop_gracefully(&mut child);
    let log = run_log(&cfg);
    assert!(done, "{log}");

    let stored = es.documents(AUDIT);
    for (id, doc) in &stored {
        assert_eq!(doc["event"]["id"], id.as_str(), "_id is the audit id");
        assert!(doc["@timestamp"].is_string());
        assert_eq!(doc["event"]["dataset"], "coder.audit");
    }
    // Each refused-for-now item came once more; nothing else was sent twice: not the
    // batch of a refused item, not the 200 created items around it.
    let received = es.received();
    let copies: usize = received.values().sum();
    let audit_copies: usize = expected.iter().map(|id| received[id]).sum();
    let connection_docs = es.documents(CONNECTION).len();
    assert_eq!(
        copies,
        expected.len() + 1 + connection_docs + busy_items,
        "every document once, the bad one once, and one more copy per busy item"
    );
    assert!(audit_copies >= expected.len());
    assert_eq!(
        es.conflicts(),
        0,
        "nothing was resent that had been created"
    );
    assert!(!stored.contains_key(&bad_id));
    let dead = std::fs::read_to_string(&dead_file).unwrap();
    assert_eq!(dead.lines().count(), 1, "{dead}");
    assert!(
        dead.contains(&bad_id) && dead.contains("document_parsing_exception"),
        "{dead}"
    );
    // The connection log went to its own data stream, as ECS with its own dataset.
    let sessions: HashSet<String> = sim
        .connections_inserted()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let shipped: HashSet<String> = es
        .documents(CONNECTION)
        .values()
        .filter_map(|d| d["coder"]["connection"]["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(shipped, sessions);
    // Installed by each stream's instance before its first write (PUT is idempotent);
    // the two instances run at once, so their requests interleave, but each puts the
    // component template before the index template that names it.
    let templates = es.templates();
    let component = "_component_template/coder-audit-shipper@mappings";
    let index_template = "_index_template/logs-coder";
    let count = |name: &str, list: &[String]| list.iter().filter(|t| *t == name).count();
    assert_eq!(count(component, &templates), 2, "{templates:?}");
    assert_eq!(count(index_template, &templates), 2, "{templates:?}");
    for n in 1..=templates.len() {
        let prefix = &templates[..n];
        assert!(
            count(index_template, prefix) <= count(component, prefix),
            "an index template before its component: {templates:?}"
        );
    }
    assert!(
        scrape::metric(
            &metrics,
            "component_sent_events_total",
            &["component_id=\"elastic\""]
        )
        .is_some(),
        "{metrics}"
    );
}

#[test]
fn a_resend_after_lost_answers_and_kill_9_is_answered_409_and_nothing_is_indexed_twice() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    let es = rt
        .block_on(EsSim::start(EsOptions {
            lose_replies: 3,
            lose_from: 2,
            ..EsOptions::default()
        }))
        .unwrap();
    sim.backlog(
        3_000,
        Duration::from_secs(3_600),
        Utc::now() - TimeDelta::minutes(5),
    );
    let expected = ids_of(&sim);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &sim.url(),
        &es,
        "max_request_bytes = \"64KiB\"\nbatch_max_bytes = \"128KiB\"",
    );
    // SIGKILL three times mid-run: whatever was indexed past the checkpoint is sent again.
    for round in 0..3 {
        let mut child = spawn_run(&cfg);
        let before = es.documents(AUDIT).len();
        let moved = wait_until(Duration::from_secs(30), || {
            es.documents(AUDIT).len() > before + 200
        });
        let _ = child.kill();
        let _ = child.wait();
        assert!(moved, "round {round}: {}", run_log(&cfg));
    }
    let mut child = spawn_run(&cfg);
    let done = wait_until(Duration::from_secs(60), || {
        es.documents(AUDIT).len() >= expected.len()
    });
    let metrics = scrape::metrics_address(&cfg)
        .and_then(|a| scrape::http_get(&a, "/metrics"))
        .unwrap_or_default();
    stop_gracefully(&mut child);
    let log = run_log(&cfg);
    assert!(done, "{log}");
    let stored: HashSet<String> = es.documents(AUDIT).into_keys().collect();
    assert_eq!(stored, expected, "every id, and (a map keyed by _id) once");
    // The resends happened (lost answers, kills) and each came back 409: counted copies,
    // none of them indexed.
    let received = es.received();
    let resent: usize = received.values().map(|n| n - 1).sum();
    assert!(resent > 0, "no resend: the test proved nothing");
    assert_eq!(es.conflicts(), resent, "every resend was answered 409");
    assert!(log.contains("already in the index (409)"), "{log}");
    let counted = scrape::metric(
        &metrics,
        "component_already_delivered_events_total",
        &["component_id=\"elastic\""],
    );
    assert!(counted.is_some_and(|n| n > 0.0), "{metrics}");
}

#[test]
fn wrong_credentials_end_the_run_with_an_error_that_hides_them_and_validate_says_so() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    let es = rt.block_on(EsSim::start(EsOptions::default())).unwrap();
    sim.backlog(10, Duration::from_secs(600), Utc::now());
    let dir = tempfile::tempdir().unwrap();
    let secret = "d3JvbmctaHVudGVyMg==";
    let key_file = dir.path().join("es-api-key");
    std::fs::write(&key_file, format!("{secret}\n")).unwrap();
    let cfg = write_config(dir.path(), &sim.url(), &es, "");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        &format!("api_key = \"{}\"", EsOptions::default().api_key),
        &format!("api_key_file = \"{}\"", key_file.display()),
    );
    std::fs::write(&cfg, text).unwrap();
    let run = |command: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_coder-audit-shipper"))
            .args([command, "--config", cfg.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let out = run("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a refused key ends the run:\n{err}");
    assert!(err.contains("401") && err.contains("credentials"), "{err}");
    assert!(
        !err.contains("d3JvbmctaHVudGVyMg"),
        "the key leaked:\n{err}"
    );
    assert!(
        es.received().is_empty(),
        "nothing was sent with the wrong key"
    );

    let out = run("validate");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("NOT reachable") && text.contains("401"),
        "{text}"
    );
    assert!(!text.contains("d3JvbmctaHVudGVyMg"));
}

#[test]
fn validate_says_whether_the_credentials_may_write() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    let dir = tempfile::tempdir().unwrap();
    for (may_write, says) in [
        (true, "reachable"),
        (false, "may not write to logs-coder.audit-default"),
    ] {
        let es = rt
            .block_on(EsSim::start(EsOptions {
                may_write,
                ..EsOptions::default()
            }))
            .unwrap();
        let cfg = write_config(dir.path(), &sim.url(), &es, "");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_coder-audit-shipper"))
            .args(["validate", "--config", cfg.to_str().unwrap()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(says), "{text}");
        assert_eq!(text.contains("NOT reachable"), !may_write, "{text}");
        assert!(es.received().is_empty(), "validate writes no event");
    }
}

/// The `_id` of every `create` action Tenzir received, each copy, in order.
fn tenzir_ids(events_file: &str) -> Vec<String> {
    std::fs::read_to_string(events_file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["create"]["_id"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn kill_9_and_a_30_second_outage_of_a_real_bulk_endpoint_lose_nothing() {
    let peer = peers::elasticsearch();
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(
        3_000,
        Duration::from_secs(86_400),
        Utc::now() - TimeDelta::minutes(5),
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::shipper_config(
        dir.path(),
        &sim.url(),
        200,
        &format!(
            "[sinks.elastic]\ntype = \"elasticsearch\"\nformat = \"ecs\"\nendpoint = \"{}\"\n\
             api_key = \"any\"\nbatch_timeout = \"200ms\"\nmax_request_bytes = \"256KiB\"\n\
             request_timeout = \"3s\"",
            peer["ES_URL"]
        ),
    );
    let recorded = || -> HashSet<String> { ids_of(&sim) };
    // Tenzir starts a new file when it restarts: what it held before is kept here.
    let mut before: Vec<String> = Vec::new();
    let held = |before: &[String]| -> Vec<String> {
        let all = recorded();
        before
            .iter()
            .cloned()
            .chain(tenzir_ids(&peer["ES_EVENTS_FILE"]))
            .filter(|id| all.contains(id))
            .collect()
    };
    // Two SIGKILLs while the backlog goes out.
    for round in 0..2 {
        let mut child = spawn_run(&cfg);
        let start = held(&before).len();
        let moved = wait_until(Duration::from_secs(30), || {
            held(&before).len() > start + 300
        });
        let _ = child.kill();
        let _ = child.wait();
        assert!(moved, "round {round}: {}", run_log(&cfg));
    }
    let mut child = spawn_run(&cfg);
    let caught_up = wait_until(Duration::from_secs(60), || {
        delivered::distinct(&held(&before)).0 == recorded()
    });
    assert!(caught_up, "{}", run_log(&cfg));
    // The endpoint goes away for 30 s while Coder records 20 rows a second.
    let during = common::recorded_during_outage(
        &rt,
        &sim,
        Duration::from_secs(30),
        || {
            before = held(&[]);
            peers::stop("elasticsearch");
        },
        || {
            peers::elasticsearch();
        },
    );
    assert!(during.len() >= 500, "only {} live rows", during.len());
    let all = wait_until(Duration::from_secs(90), || {
        delivered::distinct(&held(&before)).0 == recorded()
    });
    stop_gracefully(&mut child);
    let log = run_log(&cfg);
    let (got, copies) = delivered::distinct(&held(&before));
    let missing: Vec<String> = recorded().difference(&got).cloned().collect();
    assert!(
        all && missing.is_empty(),
        "{} lost: {missing:?}\n{log}",
        missing.len()
    );
    assert!(log.contains("retrying"), "the outage was noticed:\n{log}");
    // Tenzir keeps nothing, so it takes a resend as a new document; a cluster answers it
    // 409 (tested above against the simulator). The copies are counted, not hidden.
    eprintln!(
        "{} ids, {copies} resent copies (each a 409 at a real cluster)",
        got.len()
    );
}

/// Basic and bearer credentials, each from its file, are what the cluster is sent: the
/// right ones write, a wrong password is refused.
#[test]
fn basic_and_bearer_credentials_from_files_write_and_a_wrong_password_is_refused() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(
        20,
        Duration::from_secs(600),
        Utc::now() - TimeDelta::minutes(5),
    );
    let expected = ids_of(&sim);
    let es = rt
        .block_on(EsSim::start(EsOptions {
            basic: Some(("shipper".into(), "s3cret-pass".into())),
            bearer: Some("bearer-t0ken".into()),
            ..EsOptions::default()
        }))
        .unwrap();
    for (credentials, secret) in [
        ("user = \"shipper\"\npassword_file", "s3cret-pass"),
        ("bearer_token_file", "bearer-t0ken"),
        ("user = \"shipper\"\npassword_file", "wrong-pass"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, format!("{secret}\n")).unwrap();
        let cfg = common::shipper_config(
            dir.path(),
            &sim.url(),
            100,
            &format!(
                "[sinks.elastic]\ntype = \"elasticsearch\"\nformat = \"ecs\"\nendpoint = \"{}\"\n\
                 {credentials} = \"{}\"\nindex = \"logs-coder.{{stream}}-{}\"\nbatch_timeout = \"200ms\"",
                es.url(),
                file.display(),
                &secret[..6]
            ),
        );
        let index = format!("logs-coder.audit-{}", &secret[..6]);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_coder-audit-shipper"))
            .args(["validate", "--config", cfg.to_str().unwrap()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(!text.contains(secret), "{text}");
        if secret == "wrong-pass" {
            assert!(
                text.contains("NOT reachable") && text.contains("401"),
                "{text}"
            );
            continue;
        }
        assert!(text.contains("sink elastic: reachable"), "{secret}: {text}");
        let mut child = spawn_run(&cfg);
        let done = wait_until(Duration::from_secs(30), || {
            es.documents(&index).into_keys().collect::<HashSet<_>>() == expected
        });
        stop_gracefully(&mut child);
        assert!(done, "{secret}: {}", run_log(&cfg));
    }
}
