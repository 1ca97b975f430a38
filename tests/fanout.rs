//! One read of Coder per stream for the sinks that start at the same place (issue #23):
//! five sinks ask Coder no more than one does, every sink still receives every row once,
//! and a sink that falls behind leaves the shared reader and goes on alone while the
//! others keep their pace. The binary, as users run it, against the simulator.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use coder_sim::SimConfig;
use common::{delivered, scrape};

/// A config with `sinks` file sinks (`s0`, `s1`, ...), both streams, and `extra` tables.
fn config(dir: &Path, url: &str, sinks: usize, extra: &str) -> std::path::PathBuf {
    let cfg = dir.join("shipper.toml");
    let mut text = format!(
        "{server}[coder]\nurl = \"{url}\"\ntoken = \"{token}\"\nstart_at = \"beginning\"\n\
         streams = [\"audit\", \"connection\"]\npoll_interval = \"500ms\"\n\
         max_requests_per_minute = 0\n[checkpoint]\ndir = \"{state}\"\n{extra}\n",
        server = scrape::SERVER,
        token = SimConfig::DEFAULT_TOKEN,
        state = dir.join("state").display(),
    );
    for i in 0..sinks {
        text += &format!(
            "[sinks.s{i}]\ntype = \"file\"\npath = \"{}\"\n",
            dir.join(format!("s{i}.ndjson")).display()
        );
    }
    std::fs::write(&cfg, text).unwrap();
    cfg
}

fn requests(cfg: &Path) -> f64 {
    let address = scrape::metrics_address(cfg).expect("the listener's address");
    let metrics = scrape::http_get(&address, "/metrics").expect("/metrics");
    scrape::metric(&metrics, "coder_requests_total", &[]).unwrap_or(0.0)
}

#[test]
fn five_sinks_read_coder_as_often_as_one_and_each_gets_every_row_once() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    let _guard = rt.enter();
    sim.backlog(
        1_000,
        Duration::from_secs(86_400),
        Utc::now() - TimeDelta::minutes(1),
    );
    let all: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    // Requests over the same quiet 8 s once everything is shipped, with 1 and with 5 sinks.
    let mut per_run = Vec::new();
    for sinks in [1, 5] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), &sim.url(), sinks, "");
        let mut child = common::spawn_run(&cfg);
        let shipped = common::wait_until(Duration::from_secs(60), || {
            (0..sinks).all(|i| {
                delivered::file(&dir.path().join(format!("s{i}.ndjson"))).len() >= all.len()
            })
        });
        let before = requests(&cfg);
        std::thread::sleep(Duration::from_secs(8));
        let quiet = requests(&cfg) - before;
        common::stop_gracefully(&mut child);
        let log = common::run_log(&cfg);
        assert!(shipped, "{sinks} sinks did not ship the backlog\n{log}");
        for i in 0..sinks {
            let ids = delivered::file(&dir.path().join(format!("s{i}.ndjson")));
            let (got, duplicates) = delivered::distinct(&ids);
            assert_eq!(got, all, "s{i} of {sinks}");
            assert_eq!(duplicates, 0, "s{i} of {sinks}");
        }
        if sinks > 1 {
            assert!(log.contains("one read of Coder for these sinks"), "{log}");
        }
        per_run.push(quiet);
    }
    eprintln!(
        "requests in 8 quiet seconds: 1 sink {}, 5 sinks {}",
        per_run[0], per_run[1]
    );
    assert!(per_run[0] > 0.0);
    assert!(
        per_run[1] <= per_run[0] * 1.2 + 2.0,
        "5 sinks asked {} times, 1 sink {}",
        per_run[1],
        per_run[0]
    );
}

/// A HEC whose acknowledgements take 5 s, one request in flight at a time: the sink falls
/// behind live traffic, leaves the shared reader, and ships everything alone, while the
/// file sinks keep up; nothing lost, nothing twice.
#[cfg(feature = "splunk")]
#[test]
fn a_slow_sink_leaves_the_shared_reader_and_the_others_keep_their_pace() {
    use coder_sim::hec::{HecOptions, HecSim};
    use std::time::Instant;
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    let hec_options = HecOptions {
        ack_delay: Duration::from_secs(5),
        ..HecOptions::default()
    };
    let hec = rt.block_on(HecSim::start(hec_options.clone())).unwrap();
    let _guard = rt.enter();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &sim.url(),
        2,
        &format!(
            "[fanout]\ndetach_after = \"2s\"\n[sinks.slow]\ntype = \"splunk_hec\"\n\
             endpoint = \"{}\"\ntoken = \"{}\"\nack = true\nmax_pending_acks = 1\n\
             batch_timeout = \"100ms\"\nack_poll_interval = \"200ms\"\n",
            hec.url(),
            hec_options.token
        ),
    );
    let mut child = common::spawn_run(&cfg);
    let live = common::spawn_live(&rt, &sim, 20.0);
    // The file sinks hold, 5 s later, what was recorded 10 s into the run.
    std::thread::sleep(Duration::from_secs(10));
    let snapshot: Vec<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    std::thread::sleep(Duration::from_secs(5));
    for i in 0..2 {
        let got: HashSet<String> = delivered::file(&dir.path().join(format!("s{i}.ndjson")))
            .into_iter()
            .collect();
        let behind = snapshot.iter().filter(|id| !got.contains(*id)).count();
        assert_eq!(
            behind,
            0,
            "s{i} fell behind with the slow sink\n{}",
            common::run_log(&cfg)
        );
    }
    live.abort();
    let all: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    let hec_ids = || -> Vec<String> {
        hec.indexed()
            .iter()
            .filter_map(|e| e["fields"]["coder_audit_id"].as_str().map(str::to_owned))
            .collect()
    };
    // Sent means acknowledged: stopping earlier would cancel a request HEC holds and send
    // it again at close (at least once, as documented), which this test does not measure.
    let address = scrape::metrics_address(&cfg).expect("the listener's address");
    let mut metrics = String::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        metrics = scrape::http_get(&address, "/metrics").unwrap_or_default();
        let sent = scrape::metric(
            &metrics,
            "component_sent_events_total",
            &["component_id=\"slow\""],
        );
        // Rejoining waits for a live scan after the last row and for the next offer (at
        // most every 5 s), which may come after the last acknowledgement: wait for both.
        if sent.is_some_and(|n| n >= all.len() as f64) && joined(&metrics, "slow", "audit") >= 1.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let status = common::stop_gracefully(&mut child);
    let log = common::run_log(&cfg);
    let (got, duplicates) = delivered::distinct(&hec_ids());
    assert_eq!(got, all, "the slow sink lost rows\n{log}");
    assert_eq!(duplicates, 0, "{log}");
    for i in 0..2 {
        let (got, duplicates) =
            delivered::distinct(&delivered::file(&dir.path().join(format!("s{i}.ndjson"))));
        assert_eq!(got, all);
        assert_eq!(duplicates, 0);
    }
    assert!(
        scrape::metric(
            &metrics,
            "component_detached_total",
            &["component_id=\"slow\""]
        )
        .is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
    assert!(log.contains("goes on reading Coder alone"), "{log}");
    // Caught up once the traffic stopped, it read through the shared reader again.
    assert!(
        joined(&metrics, "slow", "audit") >= 1.0,
        "the slow sink never rejoined\n{metrics}\n{log}"
    );
    assert!(status.success(), "{status}\n{log}");
}

/// Times `sink` joined the shared reader of `stream`.
fn joined(metrics: &str, sink: &str, stream: &str) -> f64 {
    let (sink, stream) = (
        format!("component_id=\"{sink}\""),
        format!("stream=\"{stream}\""),
    );
    scrape::metric(
        metrics,
        "component_join_attempts_total",
        &[&sink, &stream, "outcome=\"joined\""],
    )
    .unwrap_or(0.0)
}

/// A sink added to two that have shipped for a while starts at the beginning of the log:
/// it reads alone (the others' reader does not wait for it), catches up under live
/// traffic, and joins them, on both streams. Every sink gets every row once.
#[test]
fn a_sink_added_later_reads_alone_until_it_catches_up_then_joins() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    let _guard = rt.enter();
    // Five days: s2 reads closed days alone before it reaches the present.
    sim.backlog(
        3_000,
        Duration::from_secs(5 * 86_400),
        Utc::now() - TimeDelta::minutes(1),
    );
    let dir = tempfile::tempdir().unwrap();
    let file = |i: usize| dir.path().join(format!("s{i}.ndjson"));
    let cfg = config(dir.path(), &sim.url(), 2, "");
    let mut child = common::spawn_run(&cfg);
    let first: usize = sim.inserted().len();
    let shipped = common::wait_until(Duration::from_secs(60), || {
        (0..2).all(|i| delivered::file(&file(i)).len() >= first)
    });
    common::stop_gracefully(&mut child);
    assert!(shipped, "{}", common::run_log(&cfg));

    let live = common::spawn_live(&rt, &sim, 20.0);
    let cfg = config(dir.path(), &sim.url(), 3, "");
    let mut child = common::spawn_run(&cfg);
    let mut address = None;
    common::wait_until(Duration::from_secs(10), || {
        address = scrape::metrics_address(&cfg);
        address.is_some()
    });
    let address = address.expect("the listener's address");
    let mut metrics = String::new();
    // The connection log has no rows: all three start there together, s2 too.
    let joined_up = common::wait_until(Duration::from_secs(90), || {
        metrics = scrape::http_get(&address, "/metrics").unwrap_or_default();
        joined(&metrics, "s2", "audit") >= 1.0
    });
    let ready = scrape::http_status(&address, "/readyz").map(|(_, body)| body);
    // Live rows after the join reach s2 through the shared reader.
    std::thread::sleep(Duration::from_secs(3));
    live.abort();
    let all: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    let shipped = common::wait_until(Duration::from_secs(60), || {
        (0..3).all(|i| delivered::file(&file(i)).len() >= all.len())
    });
    let status = common::stop_gracefully(&mut child);
    let log = common::run_log(&cfg);
    assert!(joined_up, "s2 did not join\n{metrics}\n{log}");
    assert!(shipped, "{log}");
    for i in 0..3 {
        let (got, duplicates) = delivered::distinct(&delivered::file(&file(i)));
        assert_eq!(got, all, "s{i}\n{log}");
        assert_eq!(duplicates, 0, "s{i}\n{log}");
    }
    assert!(
        log.contains("stream=audit sinks=[\"s0\", \"s1\"] apart=[\"s2\"]"),
        "{log}"
    );
    let ready = ready.unwrap_or_default();
    assert!(
        ready.contains("s2: reads through the shared reader"),
        "{ready}"
    );
    assert!(status.success(), "{status}\n{log}");
}

/// A backfill into three sinks reads Coder as often as one into one sink, and each sink
/// gets every row of the range once.
#[test]
fn a_backfill_into_three_sinks_reads_coder_once() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    let from = (Utc::now() - TimeDelta::days(10))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let to = from + TimeDelta::days(4);
    sim.backlog(
        5_000,
        Duration::from_secs(4 * 86_400),
        to - TimeDelta::seconds(1),
    );
    let want: HashSet<String> = sim
        .inserted()
        .into_iter()
        .filter(|(_, t)| *t >= from && *t < to)
        .map(|(id, _)| id)
        .collect();
    let mut requests = Vec::new();
    for sinks in [1, 3] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), &sim.url(), sinks, "");
        let before = sim.stats().audit_requests;
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_coder-audit-shipper"))
            .args(["backfill", "--config"])
            .arg(&cfg)
            .args(["--from", &from.to_rfc3339(), "--to", &to.to_rfc3339()])
            .env_remove("CODER_SESSION_TOKEN")
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{log}");
        requests.push(sim.stats().audit_requests - before);
        for i in 0..sinks {
            let (got, duplicates) =
                delivered::distinct(&delivered::file(&dir.path().join(format!("s{i}.ndjson"))));
            assert_eq!(got, want, "s{i} of {sinks}");
            assert_eq!(duplicates, 0, "s{i} of {sinks}");
        }
    }
    eprintln!(
        "audit requests: 1 sink {}, 3 sinks {}",
        requests[0], requests[1]
    );
    assert!(requests[0] > 0);
    assert_eq!(requests[1], requests[0], "3 sinks read Coder more than one");
}
