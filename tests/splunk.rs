//! The Splunk HEC sink end to end: the Coder simulator → `coder-audit-shipper run` → a real
//! HEC server (Tenzir's `accept_splunk`, started by `tests/peers/start-hec.sh`), and, for
//! indexer acknowledgement, the HEC simulator of `coder_sim::hec`: Tenzir's ack endpoint
//! never reports true, so no installable peer can confirm an ack.
#![cfg(feature = "splunk")]

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use coder_sim::hec::{HecOptions, HecSim};
use common::{peers, run_log, spawn_run, stop_gracefully, wait_until};
use serde_json::Value;

/// The restart test stops Tenzir: it runs alone, the others share it.
static HEC: RwLock<()> = RwLock::new(());

/// The config with one HEC sink, `splunk`, made of `sink`'s lines.
fn write_config(dir: &Path, coder_url: &str, sink: &str) -> PathBuf {
    common::shipper_config(
        dir,
        coder_url,
        200,
        &format!("[sinks.splunk]\ntype = \"splunk_hec\"\nbatch_timeout = \"200ms\"\n{sink}"),
    )
}

/// The envelopes Tenzir wrote with `source` (each test ships under its own source).
fn received(events_file: &str, source: &str) -> Vec<Value> {
    std::fs::read_to_string(events_file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["source"] == source)
        .collect()
}

/// Envelopes past the first for each audit id: a set of ids would hide them.
fn copies_past_first(envelopes: &[Value]) -> usize {
    envelopes.len() - audit_ids(envelopes).len()
}

fn audit_ids(envelopes: &[Value]) -> HashSet<String> {
    envelopes
        .iter()
        .filter_map(|v| v["fields"]["coder_audit_id"].as_str().map(str::to_owned))
        .collect()
}

fn inserted(sim: &coder_sim::SimHandle) -> HashMap<String, chrono::DateTime<Utc>> {
    sim.inserted().into_iter().collect()
}

#[test]
fn every_event_reaches_hec_in_a_gzip_batch_with_its_envelope() {
    let _shared = HEC.read().unwrap_or_else(|e| e.into_inner());
    let hec = peers::hec();
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(
        400,
        Duration::from_secs(86_400),
        Utc::now() - TimeDelta::minutes(5),
    );
    let rows = inserted(&sim);
    let source = common::unique("cas");
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &sim.url(),
        &format!(
            r#"endpoint = "{}"
token = "{}"
index = "coder"
source = "{source}"
compression = "gzip"
max_request_bytes = "64KiB""#,
            hec["HEC_URL"], hec["HEC_TOKEN"]
        ),
    );
    let mut child = spawn_run(&cfg);
    let all = wait_until(Duration::from_secs(90), || {
        audit_ids(&received(&hec["HEC_EVENTS_FILE"], &source)).len() >= rows.len()
    });
    let status = stop_gracefully(&mut child);
    assert!(
        status.success(),
        "SIGTERM with nothing pending exits 0: {status}\n{}",
        run_log(&cfg)
    );
    let got = received(&hec["HEC_EVENTS_FILE"], &source);
    assert!(
        all,
        "{} of {} arrived\n{}",
        audit_ids(&got).len(),
        rows.len(),
        run_log(&cfg)
    );
    assert_eq!(
        audit_ids(&got),
        rows.keys().cloned().collect::<HashSet<_>>()
    );
    assert_eq!(copies_past_first(&got), 0, "each event once");
    for e in &got {
        let id = e["fields"]["coder_audit_id"].as_str().unwrap();
        assert_eq!(
            e["event"]["id"], id,
            "raw format: the event is Coder's entry"
        );
        assert_eq!(e["sourcetype"], "coder:audit");
        assert_eq!(e["index"], "coder");
        assert_eq!(
            e["host"], "127.0.0.1",
            "the host defaults to the Coder URL's"
        );
        // Tenzir turns the epoch seconds back into RFC 3339, with float rounding.
        let t = chrono::DateTime::parse_from_rfc3339(e["time"].as_str().unwrap()).unwrap();
        let skew = (t.with_timezone(&Utc) - rows[id])
            .num_microseconds()
            .unwrap()
            .abs();
        assert!(skew <= 1, "time {t} vs {} for {id}", rows[id]);
    }
}

#[test]
fn ocsf_over_https_with_a_custom_ca_and_refused_without_it() {
    let _shared = HEC.read().unwrap_or_else(|e| e.into_inner());
    let hec = peers::hec_tls();
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(
        100,
        Duration::from_secs(3_600),
        Utc::now() - TimeDelta::minutes(5),
    );
    let rows = inserted(&sim);
    let source = common::unique("cas-tls");
    let dir = tempfile::tempdir().unwrap();
    let sink = format!(
        r#"endpoint = "{}"
token = "{}"
source = "{source}"
format = "ocsf"
tls_ca_file = "{}""#,
        hec["HEC_URL"], hec["HEC_TOKEN"], hec["HEC_CA_FILE"]
    );
    let cfg = write_config(dir.path(), &sim.url(), &sink);
    let mut child = spawn_run(&cfg);
    let all = wait_until(Duration::from_secs(90), || {
        audit_ids(&received(&hec["HEC_EVENTS_FILE"], &source)).len() >= rows.len()
    });
    stop_gracefully(&mut child);
    let got = received(&hec["HEC_EVENTS_FILE"], &source);
    assert!(
        all,
        "{} of {} arrived\n{}",
        audit_ids(&got).len(),
        rows.len(),
        run_log(&cfg)
    );
    assert_eq!(copies_past_first(&got), 0, "each event once");
    for e in &got {
        assert_eq!(e["sourcetype"], "ocsf:coder:audit");
        assert_eq!(e["event"]["metadata"]["version"], "1.8.0");
        let uid = e["event"]["metadata"]["uid"].as_str().unwrap();
        assert!(uid.starts_with(e["fields"]["coder_audit_id"].as_str().unwrap()));
    }

    // The same server is not trusted with the system's CAs only.
    let dir = tempfile::tempdir().unwrap();
    let untrusted = sink
        .lines()
        .filter(|l| !l.starts_with("tls_ca_file"))
        .collect::<Vec<_>>()
        .join("\n");
    let cfg = write_config(dir.path(), &sim.url(), &untrusted);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coder-audit-shipper"))
        .args(["validate", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("sink splunk: NOT reachable"), "{text}");
    assert!(text.to_lowercase().contains("certificate"), "{text}");
}

#[test]
fn a_wrong_token_stops_the_sink_with_a_clear_error_that_hides_the_token() {
    let _shared = HEC.read().unwrap_or_else(|e| e.into_inner());
    let hec = peers::hec();
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(
        5,
        Duration::from_secs(600),
        Utc::now() - TimeDelta::minutes(5),
    );
    let dir = tempfile::tempdir().unwrap();
    let secret = "Wr0ng-T0ken-d0-not-print";
    let token_file = dir.path().join("hec-token");
    std::fs::write(&token_file, format!("{secret}\n")).unwrap();
    let cfg = write_config(
        dir.path(),
        &sim.url(),
        &format!(
            "endpoint = \"{}\"\ntoken_file = \"{}\"\nsource = \"{}\"",
            hec["HEC_URL"],
            token_file.display(),
            common::unique("cas-bad")
        ),
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coder-audit-shipper"))
        .args(["run", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a refused token ends the run:\n{err}"
    );
    assert!(err.contains("Invalid token"), "{err}");
    assert!(
        err.contains("token_file"),
        "the message says what to fix:\n{err}"
    );
    assert!(!err.contains(secret), "the token leaked:\n{err}");
    // Nothing was delivered, so no checkpoint was written.
    let checkpoints: Vec<_> = std::fs::read_dir(dir.path().join("state"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    assert!(checkpoints.is_empty(), "{checkpoints:?}");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coder-audit-shipper"))
        .args(["validate", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("NOT reachable") && text.contains("Invalid token"),
        "{text}"
    );
    assert!(!text.contains(secret));
}

#[test]
fn a_hec_restarted_mid_run_loses_nothing() {
    let _alone = HEC.write().unwrap_or_else(|e| e.into_inner());
    let hec = peers::hec();
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(
        200,
        Duration::from_secs(3_600),
        Utc::now() - TimeDelta::minutes(5),
    );
    let before: HashSet<String> = inserted(&sim).into_keys().collect();
    let source = common::unique("cas-restart");
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &sim.url(),
        &format!(
            "endpoint = \"{}\"\ntoken = \"{}\"\nsource = \"{source}\"\nrequest_timeout = \"3s\"",
            hec["HEC_URL"], hec["HEC_TOKEN"]
        ),
    );
    let mut child = spawn_run(&cfg);
    assert!(
        wait_until(Duration::from_secs(60), || {
            audit_ids(&received(&hec["HEC_EVENTS_FILE"], &source)).len() >= before.len()
        }),
        "{}",
        run_log(&cfg)
    );

    // HEC goes away for 10 s while Coder keeps recording. (Tenzir's output file starts
    // empty again: the check is on what Coder recorded meanwhile.)
    let during = common::recorded_during_outage(
        &rt,
        &sim,
        Duration::from_secs(10),
        || peers::stop("hec"),
        || {
            peers::hec();
        },
    );
    assert!(during.len() >= 150, "only {} live rows", during.len());
    let all = wait_until(Duration::from_secs(60), || {
        audit_ids(&received(&hec["HEC_EVENTS_FILE"], &source)).is_superset(&during)
    });
    stop_gracefully(&mut child);
    let envelopes = received(&hec["HEC_EVENTS_FILE"], &source);
    // Without acks, a request HEC took just before it stopped and whose answer was lost is
    // sent again: such copies are counted and shown, not hidden by a set.
    eprintln!(
        "{} duplicate envelope(s) across the restart",
        copies_past_first(&envelopes)
    );
    let got = audit_ids(&envelopes);
    let missing: Vec<_> = during.difference(&got).collect();
    let log = run_log(&cfg);
    assert!(
        all && missing.is_empty(),
        "{} of {} lost: {missing:?}\n{log}",
        missing.len(),
        during.len()
    );
    assert!(
        log.contains("retrying"),
        "the outage was noticed and retried:\n{log}"
    );
}

/// How the HEC simulator stands: one instance, or several behind a load balancer.
enum Hec {
    One(HecOptions),
    Balanced { options: HecOptions, sticky: bool },
}

/// What an acknowledged run left behind.
struct AckRun {
    hec: HecSim,
    ids: HashSet<String>,
    cfg: PathBuf,
    _dir: tempfile::TempDir,
    /// The highest `component_pending_acks` seen on `/metrics` meanwhile.
    most_pending: f64,
    /// `/metrics` at the end.
    metrics: String,
}

/// A run into the HEC simulator with acknowledgement on, until the sink has sent (and had
/// acknowledged) every event.
fn ack_run(hec: Hec, rows: usize, extra: &str) -> AckRun {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    let (hec, token) = match hec {
        Hec::One(options) => (
            rt.block_on(HecSim::start(options.clone())).unwrap(),
            options.token,
        ),
        Hec::Balanced { options, sticky } => (
            rt.block_on(HecSim::start_balanced(options.clone(), 2, sticky))
                .unwrap(),
            options.token,
        ),
    };
    sim.backlog(
        rows,
        Duration::from_secs(86_400),
        Utc::now() - TimeDelta::minutes(5),
    );
    let ids: HashSet<String> = inserted(&sim).into_keys().collect();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &sim.url(),
        &format!(
            "endpoint = \"{}\"\ntoken = \"{token}\"\nack = true\nack_first_poll = \"100ms\"\nack_poll_interval = \"100ms\"\n{extra}",
            hec.url(),
        ),
    );
    // The listener too, to watch the pending-acks gauge and the events sent.
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "[sinks.splunk]",
        &format!("{}\n[sinks.splunk]", common::scrape::SERVER),
    );
    std::fs::write(&cfg, text).unwrap();
    let mut child = spawn_run(&cfg);
    let mut most_pending: f64 = 0.0;
    let mut metrics = String::new();
    let splunk = ["component_id=\"splunk\""];
    // Sent means acknowledged: the sink counts a batch once every ack came.
    let done = wait_until(Duration::from_secs(90), || {
        if let Some(m) = common::scrape::metrics_address(&cfg)
            .and_then(|a| common::scrape::http_get(&a, "/metrics"))
        {
            if let Some(p) = common::scrape::metric(&m, "component_pending_acks", &splunk) {
                most_pending = most_pending.max(p);
            }
            metrics = m;
        }
        common::scrape::metric(&metrics, "component_sent_events_total", &splunk)
            .is_some_and(|n| n >= ids.len() as f64)
    });
    // Keep the simulators' runtime alive until the shipper is done with them.
    std::thread::sleep(Duration::from_millis(500));
    stop_gracefully(&mut child);
    assert!(done, "not everything was acknowledged:\n{}", run_log(&cfg));
    drop(rt);
    AckRun {
        hec,
        ids,
        cfg,
        _dir: dir,
        most_pending,
        metrics,
    }
}

/// How many times HEC indexed each audit id: every copy counts, so a duplicate shows.
fn copies(hec: &HecSim) -> HashMap<String, usize> {
    let mut n = HashMap::new();
    for e in hec.indexed() {
        if let Some(id) = e["fields"]["coder_audit_id"].as_str() {
            *n.entry(id.to_owned()).or_insert(0) += 1;
        }
    }
    n
}

/// The ids in `expected` indexed no time, and the copies beyond the first of all.
fn missing_and_duplicates(
    copies: &HashMap<String, usize>,
    expected: &HashSet<String>,
) -> (Vec<String>, usize) {
    let missing = expected
        .iter()
        .filter(|id| !copies.contains_key(*id))
        .cloned()
        .collect();
    let duplicates = copies.values().map(|n| n - 1).sum();
    (missing, duplicates)
}

#[test]
fn a_batch_counts_as_delivered_only_once_the_indexers_acknowledge_it() {
    let run = ack_run(
        Hec::One(HecOptions {
            ack_delay: Duration::from_millis(300),
            busy: 2,
            lose: 1,
            ..HecOptions::default()
        }),
        600,
        "ack_timeout = \"2s\"\nmax_request_bytes = \"32KiB\"",
    );
    let (missing, duplicates) = missing_and_duplicates(&copies(&run.hec), &run.ids);
    assert!(
        missing.is_empty(),
        "every event indexed, the lost request's included: {missing:?}"
    );
    // The lost request was never indexed and the busy ones never accepted: resending them
    // made no copy.
    assert_eq!(duplicates, 0);
    assert_eq!(run.hec.lost(), 1);
    assert!(run.hec.acks_reported() >= 2);
    let log = run_log(&run.cfg);
    assert!(
        log.contains("Server is busy"),
        "503 busy was retried:\n{log}"
    );
    assert!(
        log.contains("no indexer acknowledgement in time; sending the events again"),
        "the request whose ack never came was sent again:\n{log}"
    );
    assert!(log.contains("dead_lettered=0"), "{log}");
    assert!(
        run.most_pending >= 1.0,
        "requests awaiting acks showed on /metrics: {}",
        run.most_pending
    );
}

#[test]
fn a_503_in_the_middle_of_a_batch_sends_again_only_what_hec_refused() {
    // Requests 3 and 4 are refused "busy"; 0..2 of the same batch were accepted, indexed
    // and await their acks. A retry that sent the whole batch again would index them twice.
    let run = ack_run(
        Hec::One(HecOptions {
            ack_delay: Duration::from_millis(300),
            busy: 2,
            busy_from: 3,
            ..HecOptions::default()
        }),
        600,
        "max_request_bytes = \"16KiB\"",
    );
    let (missing, duplicates) = missing_and_duplicates(&copies(&run.hec), &run.ids);
    assert!(missing.is_empty(), "{missing:?}");
    assert_eq!(duplicates, 0, "requests HEC took were sent again");
    let log = run_log(&run.cfg);
    assert!(log.contains("Server is busy"), "{log}");
}

#[test]
fn pending_acks_are_capped() {
    // The simulator answers 503 busy past 2 unqueried acks on a channel; with the sink's
    // cap at 2 it never has to.
    let run = ack_run(
        Hec::One(HecOptions {
            ack_delay: Duration::from_millis(100),
            max_pending: 2,
            ..HecOptions::default()
        }),
        300,
        "max_pending_acks = 2\nmax_request_bytes = \"8KiB\"",
    );
    assert!(
        run.hec.requests() >= 10,
        "the batch was split into many requests"
    );
    let log = run_log(&run.cfg);
    assert!(!log.contains("Server is busy"), "{log}");
    let (missing, duplicates) = missing_and_duplicates(&copies(&run.hec), &run.ids);
    assert!(missing.is_empty(), "{missing:?}");
    assert_eq!(duplicates, 0);
    assert!(
        run.most_pending <= 2.0,
        "the gauge never passed the cap: {}",
        run.most_pending
    );
}

/// Each instance loses the first request it takes (its ack never turns true), so a request
/// whose ack id another instance's `true` "confirmed" would be lost for good.
fn lossy_instances() -> HecOptions {
    HecOptions {
        ack_delay: Duration::from_millis(200),
        lose: 1,
        ..HecOptions::default()
    }
}

#[test]
fn behind_a_sticky_load_balancer_the_sink_keeps_to_one_hec_instance() {
    let run = ack_run(
        Hec::Balanced {
            options: lossy_instances(),
            sticky: true,
        },
        400,
        "ack_timeout = \"2s\"\nmax_request_bytes = \"16KiB\"",
    );
    let by_instance = run.hec.requests_by_instance();
    assert_eq!(
        by_instance.iter().filter(|n| **n > 0).count(),
        1,
        "the stickiness cookie kept every request on one instance: {by_instance:?}"
    );
    let (missing, duplicates) = missing_and_duplicates(&copies(&run.hec), &run.ids);
    assert!(missing.is_empty(), "{missing:?}");
    assert_eq!(duplicates, 0);
    let log = run_log(&run.cfg);
    assert!(!log.contains("twice on one channel"), "{log}");
}

#[test]
fn behind_a_load_balancer_without_stickiness_a_repeated_ack_id_confirms_neither_request() {
    let run = ack_run(
        Hec::Balanced {
            options: lossy_instances(),
            sticky: false,
        },
        400,
        "ack_timeout = \"2s\"\nmax_request_bytes = \"16KiB\"",
    );
    let by_instance = run.hec.requests_by_instance();
    assert!(
        by_instance.iter().all(|n| *n > 0),
        "round robin used both instances: {by_instance:?}"
    );
    let (missing, duplicates) = missing_and_duplicates(&copies(&run.hec), &run.ids);
    assert!(
        missing.is_empty(),
        "a request confirmed by another instance's ack was lost: {missing:?}"
    );
    let repeated = common::scrape::metric(
        &run.metrics,
        "component_errors_total",
        &["component_id=\"splunk\"", "error_type=\"duplicate_ack_id\""],
    )
    .unwrap_or(0.0);
    assert!(repeated >= 1.0, "repeated ack ids were counted: {repeated}");
    let log = run_log(&run.cfg);
    assert_eq!(
        log.matches("twice on one channel").count(),
        1,
        "one warning, not one per repeat:\n{log}"
    );
    // Both requests of a repeated id are sent again, so copies are expected: counted here,
    // bounded by the repeats (two requests each, of at most 16 KiB of events).
    eprintln!("{repeated} repeated ack ids, {duplicates} duplicate events");
    assert!(
        duplicates as f64 <= repeated * 2.0 * 40.0,
        "{duplicates} duplicates for {repeated} repeated ack ids"
    );
}

#[test]
fn an_event_hec_refuses_is_dead_lettered_and_the_rest_of_its_request_delivered() {
    let rt = common::runtime();
    let marker = "refuse-me-0123456789";
    let sim = rt.block_on(common::unlimited_sim());
    let hec = rt
        .block_on(HecSim::start(HecOptions {
            reject_marker: Some(marker.into()),
            ack_delay: Duration::from_millis(50),
            ..HecOptions::default()
        }))
        .unwrap();
    let t = Utc::now() - TimeDelta::minutes(30);
    sim.backlog(50, Duration::from_secs(600), t);
    let (bad_id, bad) = common::marked_entry(marker, t - TimeDelta::minutes(3));
    assert!(sim.insert_entry(&bad));
    let ids: HashSet<String> = inserted(&sim).into_keys().collect();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &sim.url(),
        &format!(
            "endpoint = \"{}\"\ntoken = \"{}\"\nack = true\nack_poll_interval = \"100ms\"",
            hec.url(),
            HecOptions::default().token
        ),
    );
    let mut child = spawn_run(&cfg);
    let dead_file = dir.path().join("state/dead-letter/splunk.ndjson");
    let mut expected = ids.clone();
    expected.remove(&bad_id);
    let done = wait_until(Duration::from_secs(60), || {
        missing_and_duplicates(&copies(&hec), &expected)
            .0
            .is_empty()
            && dead_file.exists()
    });
    stop_gracefully(&mut child);
    let log = run_log(&cfg);
    assert!(done, "{log}");
    let copies = copies(&hec);
    assert!(!copies.contains_key(&bad_id));
    // HEC (as simulated: unverified) indexed the events before the bad one in its request;
    // the sink sends them again, since nothing says they are safe. Each is one counted copy.
    let (missing, duplicates) = missing_and_duplicates(&copies, &expected);
    assert!(missing.is_empty(), "{missing:?}");
    let refusals = hec.refusals();
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(
        duplicates, refusals[0],
        "one copy per event before the bad one"
    );
    let dead = std::fs::read_to_string(&dead_file).unwrap();
    assert_eq!(dead.lines().count(), 1, "{dead}");
    assert!(
        dead.contains(&bad_id) && dead.contains("Invalid data format"),
        "{dead}"
    );
    assert!(log.contains("dead_lettered=1"), "{log}");

    // replay-dead-letters: still refused, the record goes back to the file...
    let replay = |cfg: &Path| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_coder-audit-shipper"))
            .args([
                "replay-dead-letters",
                "--sink",
                "splunk",
                "--config",
                cfg.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{text}");
        text
    };
    let again = replay(&cfg);
    assert!(
        again.contains("0 dead letters sent again, 1 refused again"),
        "{again}"
    );
    let dead = std::fs::read_to_string(&dead_file).unwrap();
    assert_eq!(dead.lines().count(), 1, "{dead}");
    assert!(
        !dir.path()
            .join("state/dead-letter/splunk.replaying.ndjson")
            .exists()
    );
    // ... and once the peer takes it, it is indexed, as it was first encoded, and the file
    // is gone.
    let fixed = rt
        .block_on(HecSim::start(HecOptions {
            ack_delay: Duration::from_millis(50),
            ..HecOptions::default()
        }))
        .unwrap();
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace(&hec.url(), &fixed.url());
    std::fs::write(&cfg, text).unwrap();
    let done = replay(&cfg);
    assert!(done.contains("1 dead letters sent again"), "{done}");
    let indexed = fixed.indexed();
    assert_eq!(indexed.len(), 1);
    assert_eq!(indexed[0]["fields"]["coder_audit_id"], bad_id.as_str());
    assert_eq!(indexed[0]["event"]["user_agent"], marker);
    assert!(!dead_file.exists());
    let none = replay(&cfg);
    assert!(none.contains("sink splunk: no dead letters in"), "{none}");
}

#[test]
fn sigterm_gives_up_after_shutdown_timeout_without_moving_the_checkpoint_past_unacked_events() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    // The indexers never acknowledge anything.
    let hec = rt
        .block_on(HecSim::start(HecOptions {
            lose: usize::MAX,
            ..HecOptions::default()
        }))
        .unwrap();
    sim.backlog(
        50,
        Duration::from_secs(600),
        Utc::now() - TimeDelta::minutes(30),
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &sim.url(),
        &format!(
            "endpoint = \"{}\"\ntoken = \"{}\"\nack = true\nack_timeout = \"1h\"",
            hec.url(),
            HecOptions::default().token
        ),
    );
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("shutdown_timeout = \"2s\"\n{text}")).unwrap();
    let mut child = spawn_run(&cfg);
    assert!(
        wait_until(Duration::from_secs(30), || hec.requests() >= 1),
        "{}",
        run_log(&cfg)
    );
    let status = stop_gracefully(&mut child);
    let log = run_log(&cfg);
    assert!(
        !status.success(),
        "giving up on pending events is an error exit:\n{log}"
    );
    assert!(log.contains("within shutdown_timeout (2s)"), "{log}");
    let checkpoints: Vec<_> = std::fs::read_dir(dir.path().join("state"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        checkpoints.is_empty(),
        "no event was acknowledged, so no checkpoint: {checkpoints:?}"
    );
}
