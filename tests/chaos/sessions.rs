//! SIGKILL while connection sessions open and close: a session's connect and its later
//! disconnect both reach the sink however often the process dies between them, because the
//! open sessions live in the checkpoint and leave it only once their disconnect is
//! confirmed.

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use rand::Rng;

use super::common;
use super::report::{self, PeakRss};

const KILLS: usize = 10;

/// `id` for every connect and `id:disconnect` for every end, as the OCSF file holds them.
fn moments(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["metadata"]["uid"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn ten_kill_9_while_sessions_open_and_close_lose_no_connect_and_no_disconnect() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    let _in_runtime = rt.enter();
    sim.connection_backlog(2_000, 20, Duration::from_secs(86_400), Utc::now());
    let live = sim.spawn_live_connections(20.0, Duration::from_secs(3));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("connections.ocsf.ndjson");
    let cfg = common::shipper_config(
        dir.path(),
        &sim.url(),
        200,
        &format!(
            "[sinks.siem]\ntype = \"file\"\npath = \"{}\"\nformat = \"ocsf\"\n",
            out.display()
        ),
    );
    let text = std::fs::read_to_string(&cfg).unwrap().replacen(
        "[coder]\n",
        "[coder]\nstreams = [\"connection\"]\nsession_poll_interval = \"500ms\"\n",
        1,
    );
    std::fs::write(&cfg, text).unwrap();

    let peak = PeakRss::default();
    let mut rng = rand::rng();
    let mut lived = Vec::new();
    for n in 1..=KILLS {
        let mut child = common::spawn_run(&cfg);
        peak.watch(child.id());
        let ms = rng.random_range(300..2_500);
        lived.push(ms);
        std::thread::sleep(Duration::from_millis(ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let _ = std::fs::rename(
            cfg.with_file_name("run.log"),
            cfg.with_file_name(format!("run-{n}.log")),
        );
    }

    // A last run; the live sessions stop opening, and those still open end.
    let mut child = common::spawn_run(&cfg);
    peak.watch(child.id());
    std::thread::sleep(Duration::from_secs(2));
    live.abort();
    std::thread::sleep(Duration::from_secs(4));
    let all: Vec<String> = sim
        .connections_inserted()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let ended = sim.closed_sessions();
    let expected: HashSet<String> = all
        .iter()
        .cloned()
        .chain(ended.iter().map(|id| format!("{id}:disconnect")))
        .collect();
    let caught_up = common::wait_until(Duration::from_secs(120), || {
        let got: HashSet<String> = moments(&out).into_iter().collect();
        expected.is_subset(&got)
    });
    let status = common::stop_gracefully(&mut child);
    let log = common::run_log(&cfg);
    let got = moments(&out);
    let distinct: HashSet<String> = got.iter().cloned().collect();
    let lost: Vec<&String> = expected.difference(&distinct).collect();
    let unexpected: Vec<&String> = distinct.difference(&expected).collect();
    report::record(
        "10 × kill -9, connection log, 20 sessions/s",
        "file (ocsf)",
        lost.len(),
        got.len() - distinct.len(),
        &peak,
        &format!(
            "{} connections, {} ended: {} events; killed after {}-{} ms",
            all.len(),
            ended.len(),
            expected.len(),
            lived.iter().min().unwrap_or(&0),
            lived.iter().max().unwrap_or(&0)
        ),
    );
    assert!(
        caught_up && lost.is_empty(),
        "lost {} of {}: {:?}\n{log}",
        lost.len(),
        expected.len(),
        lost.iter().take(10).collect::<Vec<_>>()
    );
    assert!(
        unexpected.is_empty(),
        "events Coder never had: {unexpected:?}"
    );
    assert!(status.success(), "{status}\n{log}");
}
