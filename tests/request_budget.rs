//! `coder.max_requests_per_minute`: the process's requests to Coder stay within it while a
//! stream catches up on a long history, and the stream that is live still ships at once.
//! The binary, as users run it, against the simulator with its own rate limit off (so the
//! only thing holding requests back is the shipper's budget).

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use coder_sim::SimConfig;
use common::scrape;

const BUDGET: u64 = 120;

#[test]
fn requests_stay_within_the_budget_and_live_tailing_goes_first() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    // Sixty days of audit history: hundreds of pages of 50 to catch up on.
    sim.backlog(
        20_000,
        Duration::from_secs(60 * 86_400),
        Utc::now() - TimeDelta::minutes(5),
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    let cfg = dir.path().join("shipper.toml");
    std::fs::write(
        &cfg,
        format!(
            "{server}[coder]\nurl = \"{url}\"\ntoken = \"{token}\"\nstart_at = \"beginning\"\n\
             streams = [\"audit\", \"connection\"]\npage_size = 50\npoll_interval = \"2s\"\n\
             session_poll_interval = \"1h\"\nlate_horizon = \"0s\"\n\
             max_requests_per_minute = {BUDGET}\n\
             [checkpoint]\ndir = \"{state}\"\n\
             [sinks.archive]\ntype = \"file\"\npath = \"{out}\"\n",
            server = scrape::SERVER,
            url = sim.url(),
            token = SimConfig::DEFAULT_TOKEN,
            state = dir.path().join("state").display(),
            out = out.display(),
        ),
    )
    .unwrap();
    let started = Instant::now();
    let before = sim.stats();
    let mut child = common::spawn_run(&cfg);

    // The connection log is empty, so its stream is live once it has looked for where the
    // log begins; what Coder records there then must ship while the audit stream is still
    // deep in its history.
    assert!(
        common::wait_until(Duration::from_secs(30), || {
            common::run_log(&cfg).contains("stream=connection")
        }),
        "the connection stream never started\n{}",
        common::run_log(&cfg)
    );
    std::thread::sleep(Duration::from_secs(1));
    let live: Vec<String> = (0..3)
        .map(|_| {
            let id = sim.insert_web_connection(Utc::now());
            std::thread::sleep(Duration::from_millis(700));
            id
        })
        .collect();
    let mut shipped_live = false;
    common::wait_until(Duration::from_secs(15), || {
        let got: HashSet<String> = common::read_ids(&out).into_iter().collect();
        shipped_live = live.iter().all(|id| got.contains(id));
        shipped_live
    });
    let audit_shipped = common::read_ids(&out)
        .iter()
        .filter(|id| !live.contains(id))
        .count();

    let address = scrape::metrics_address(&cfg).expect("the listener's address");
    let metrics = scrape::http_get(&address, "/metrics").expect("/metrics");
    let after = sim.stats();
    let elapsed = started.elapsed();
    let status = common::stop_gracefully(&mut child);
    let log = common::run_log(&cfg);

    let requests = (after.audit_requests + after.connection_requests)
        - (before.audit_requests + before.connection_requests);
    eprintln!(
        "{requests} page requests in {elapsed:?}; {audit_shipped} audit rows shipped; live \
         connections shipped: {shipped_live}"
    );
    assert!(
        elapsed < Duration::from_secs(60),
        "the test outran a minute"
    );
    assert!(
        requests <= BUDGET,
        "{requests} requests within a minute, over the budget of {BUDGET}\n{log}"
    );
    assert!(
        shipped_live,
        "live connections waited behind the catch-up\n{log}"
    );
    assert!(
        audit_shipped < 20_000,
        "the audit stream caught up: the budget did not hold it back"
    );
    // What the budget was spent on, and what waited.
    let spent = |purpose: &str| {
        scrape::metric(
            &metrics,
            "coder_requests_total",
            &[&format!("purpose=\"{purpose}\"")],
        )
        .unwrap_or(0.0)
    };
    assert!(spent("catch_up") > 0.0, "{metrics}");
    assert!(spent("live") > 0.0, "{metrics}");
    assert!(
        scrape::metric(
            &metrics,
            "coder_request_budget_wait_seconds_count",
            &["purpose=\"catch_up\""]
        )
        .is_some_and(|n| n > 0.0),
        "catch-up never waited for the budget:\n{metrics}"
    );
    assert!(status.success(), "{status:?}\n{log}");
}
