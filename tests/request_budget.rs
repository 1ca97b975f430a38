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

/// Where sinks without a checkpoint start is found once per stream: three new sinks cost
/// the `beginning` probes of one, and start at the same position.
#[test]
fn new_sinks_share_one_search_for_where_the_log_begins() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(
        500,
        Duration::from_secs(200 * 86_400),
        Utc::now() - TimeDelta::days(20),
    );
    let probes = |sinks: usize| {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("shipper.toml");
        let mut text = format!(
            "{server}[coder]\nurl = \"{url}\"\ntoken = \"{token}\"\nstart_at = \"beginning\"\n\
             [checkpoint]\ndir = \"{state}\"\n",
            server = scrape::SERVER,
            url = sim.url(),
            token = SimConfig::DEFAULT_TOKEN,
            state = dir.path().join("state").display(),
        );
        for i in 0..sinks {
            text += &format!(
                "[sinks.s{i}]\ntype = \"file\"\npath = \"{}\"\n",
                dir.path().join(format!("s{i}.ndjson")).display()
            );
        }
        std::fs::write(&cfg, text).unwrap();
        let mut child = common::spawn_run(&cfg);
        let started = common::wait_until(Duration::from_secs(30), || {
            common::run_log(&cfg)
                .matches("no checkpoint; starting")
                .count()
                == sinks
        });
        let address = scrape::metrics_address(&cfg).expect("the listener's address");
        let metrics = scrape::http_get(&address, "/metrics").expect("/metrics");
        common::stop_gracefully(&mut child);
        let log = common::run_log(&cfg);
        assert!(started, "{log}");
        let positions: HashSet<&str> = log
            .lines()
            .filter(|l| l.contains("no checkpoint; starting"))
            .filter_map(|l| l.split("position=").nth(1))
            .collect();
        assert_eq!(positions.len(), 1, "{log}");
        scrape::metric(&metrics, "coder_requests_total", &["purpose=\"probe\""])
            .expect("probes counted")
    };
    let one = probes(1);
    let three = probes(3);
    assert!(one >= 2.0, "{one} probes to find the first day of 200");
    assert_eq!(
        one, three,
        "three new sinks probed {three} times, one {one}"
    );
}
