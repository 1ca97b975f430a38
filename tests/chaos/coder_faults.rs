//! Coder misbehaving: every fault gives a clear log line (and, while the process runs, a
//! metric), none crashes the process, and none moves a checkpoint past an undelivered row.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use chrono::{DateTime, Utc};
use coder_sim::server::Fault;
use coder_sim::{Sim, SimConfig};

use super::common::{self, delivered, scrape};
use super::report::{self, PeakRss};

/// A shipper of `coder_url` into `dir/audit.ndjson`, with its metrics listener.
pub fn file_config(dir: &Path, coder_url: &str) -> PathBuf {
    common::shipper_config(
        dir,
        coder_url,
        100,
        &format!(
            "{}\n[sinks.archive]\ntype = \"file\"\npath = \"{}\"\n",
            scrape::SERVER,
            dir.join("audit.ndjson").display()
        ),
    )
}

/// Wait until `dir/audit.ndjson` holds every row the simulator has, then SIGTERM the
/// shipper; assert both went well and return its log.
pub fn catch_up_and_stop(
    sim: &coder_sim::SimHandle,
    dir: &Path,
    child: &mut Child,
    cfg: &Path,
    within: Duration,
) -> String {
    let all: Vec<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    let out = dir.join("audit.ndjson");
    let caught_up = common::wait_until(within, || {
        let (got, _) = delivered::distinct(&delivered::file(&out));
        all.iter().all(|id| got.contains(id))
    });
    let status = common::stop_gracefully(child);
    let log = common::run_log(cfg);
    assert!(caught_up, "not caught up:\n{log}");
    assert!(status.success(), "{status}\n{log}");
    log
}

/// `run` with a short request timeout (so a hanging page is a fault, not a wait).
fn run(cfg: &Path) -> Command {
    let mut c = common::run_command(cfg);
    c.env("CODER_AUDIT_SHIPPER__CODER__REQUEST_TIMEOUT", "1s");
    c
}

#[test]
fn rate_limit_storms_5xx_bad_bodies_and_hangs_are_retried_with_a_metric_each() {
    let rt = common::runtime();
    let sim = rt
        .block_on(Sim::start(SimConfig {
            // A 429 storm: far fewer requests allowed than the tailer wants.
            rate_limit: Some((15, Duration::from_secs(2))),
            ..SimConfig::default()
        }))
        .unwrap();
    sim.backlog(3_000, Duration::from_secs(86_400), Utc::now());
    sim.push_fault(Fault::Hang(Duration::from_secs(3)));
    sim.set_fault_rate(0.3);
    let dir = tempfile::tempdir().unwrap();
    let cfg = file_config(dir.path(), &sim.url());
    let mut child = run(&cfg).spawn().unwrap();
    let peak = PeakRss::default();
    peak.watch(child.id());
    let live = common::spawn_live(&rt, &sim, 10.0);
    // Every kind of fault seen at least once, as a metric.
    let kinds = [
        "rate_limited",
        "server_error",
        "malformed_response",
        // The hang, past coder.request_timeout.
        "timeout",
    ];
    let mut exposition = String::new();
    for kind in kinds {
        let (seen, last) = scrape::wait_for_metric(
            &cfg,
            "component_errors_total",
            &["component_id=\"coder\"", &format!("error_type=\"{kind}\"")],
            1.0,
        );
        assert!(
            seen,
            "no {kind} error counted:\n{last}\n{}",
            common::run_log(&cfg)
        );
        exposition = last;
    }
    live.abort();
    sim.set_fault_rate(0.0);
    let log = catch_up_and_stop(&sim, dir.path(), &mut child, &cfg, Duration::from_secs(120));
    let out = dir.path().join("audit.ndjson");
    for line in [
        "Coder rate-limited the request (429)",
        "Coder answered 50",
        "is not a valid page",
        "within coder.request_timeout",
    ] {
        assert!(log.contains(line), "no {line:?} in the log:\n{log}");
    }
    assert!(
        !log.contains(SimConfig::DEFAULT_TOKEN),
        "the token was logged"
    );
    assert!(
        !exposition.contains(SimConfig::DEFAULT_TOKEN),
        "the token is in a metric"
    );
    let t = common::tally(&sim, &delivered::file(&out), DateTime::<Utc>::MIN_UTC);
    report::record(
        "429 storm + 30 % random 5xx/truncated/HTML + a hang",
        "file",
        t.lost.len(),
        t.duplicates,
        &peak,
        &format!(
            "{} ids, {} faults served",
            t.expected,
            sim.stats().faults_served + sim.stats().rate_limited
        ),
    );
    assert!(t.lost.is_empty(), "lost {:?}", t.lost);
    assert_eq!(t.duplicates, 0, "one run emits no event twice");
}

#[test]
fn a_token_revoked_mid_run_stops_with_one_clear_error_and_the_restart_loses_nothing() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(500, Duration::from_secs(3_600), Utc::now());
    let dir = tempfile::tempdir().unwrap();
    let cfg = file_config(dir.path(), &sim.url());
    let out = dir.path().join("audit.ndjson");
    let mut child = run(&cfg).spawn().unwrap();
    let peak = PeakRss::default();
    peak.watch(child.id());
    assert!(common::wait_until(
        Duration::from_secs(30),
        || delivered::file(&out).len() >= 500
    ));

    sim.revoke_all_tokens();
    for _ in 0..50 {
        sim.insert_at(Utc::now());
    }
    let status = common::wait_exit(&mut child, Duration::from_secs(30));
    let log = common::run_log(&cfg);
    let status = status.unwrap_or_else(|| panic!("still running after the 401:\n{log}"));
    assert!(
        !status.success(),
        "a stopped stream is a failed run: {status}"
    );
    assert!(
        log.contains("Coder rejected the session token (401)"),
        "{log}"
    );
    assert!(log.contains("its checkpoint is kept"), "{log}");
    assert!(
        !log.contains(SimConfig::DEFAULT_TOKEN),
        "the token was logged:\n{log}"
    );

    // A new token; the restart resumes from the checkpoint and ships what came meanwhile.
    sim.add_token(SimConfig::DEFAULT_TOKEN);
    let mut child = run(&cfg).spawn().unwrap();
    peak.watch(child.id());
    let all: Vec<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    let caught_up = common::wait_until(Duration::from_secs(30), || {
        let (got, _) = delivered::distinct(&delivered::file(&out));
        all.iter().all(|id| got.contains(id))
    });
    assert!(common::stop_gracefully(&mut child).success());
    assert!(caught_up, "{}", common::run_log(&cfg));
    let t = common::tally(&sim, &delivered::file(&out), DateTime::<Utc>::MIN_UTC);
    report::record(
        "token revoked mid-run, restarted with a new one",
        "file",
        t.lost.len(),
        t.duplicates,
        &peak,
        "exit 1 with the 401 line",
    );
    assert!(t.lost.is_empty(), "lost {:?}", t.lost);
}

#[test]
fn forbidden_and_route_not_found_stop_with_what_to_change() {
    for (fault, expect) in [
        (Fault::Forbidden, "needs the Auditor or Owner role"),
        (Fault::RouteNotFound, "Coder has no /api/v2/audit (404)"),
    ] {
        let rt = common::runtime();
        let sim = rt.block_on(common::unlimited_sim());
        sim.backlog(100, Duration::from_secs(3_600), Utc::now());
        sim.push_fault(fault);
        let dir = tempfile::tempdir().unwrap();
        let cfg = file_config(dir.path(), &sim.url());
        let mut child = run(&cfg).spawn().unwrap();
        let status = common::wait_exit(&mut child, Duration::from_secs(30));
        let log = common::run_log(&cfg);
        let status = status.unwrap_or_else(|| panic!("still running:\n{log}"));
        assert!(!status.success());
        assert!(log.contains(expect), "no {expect:?}:\n{log}");
        assert!(delivered::file(&dir.path().join("audit.ndjson")).is_empty());
        assert!(
            !dir.path().join("state").read_dir().is_ok_and(|mut d| d
                .any(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json")))),
            "a checkpoint was written without a delivery"
        );
    }
}

#[test]
fn an_untrusted_certificate_is_retried_with_a_clear_line_and_a_metric() {
    // A real TLS server whose certificate no system root signed: the HEC peer over HTTPS.
    let hec = common::peers::hec_tls();
    let dir = tempfile::tempdir().unwrap();
    let cfg = file_config(dir.path(), &hec["HEC_URL"]);
    let mut child = run(&cfg).spawn().unwrap();
    let (seen, exposition) = scrape::wait_for_metric(
        &cfg,
        "component_errors_total",
        &["component_id=\"coder\"", "error_type=\"transport\""],
        2.0,
    );
    let status = common::stop_gracefully(&mut child);
    let log = common::run_log(&cfg);
    assert!(seen, "{exposition}\n{log}");
    assert!(
        status.success(),
        "SIGTERM while Coder is unreachable is a clean stop: {status}\n{log}"
    );
    assert!(log.to_lowercase().contains("certificate"), "{log}");
}

#[test]
fn a_name_that_does_not_resolve_is_retried_with_a_clear_line() {
    // No network namespace of our own, no DNS: the lookup fails at once, on this machine,
    // without a query leaving it.
    let dir = tempfile::tempdir().unwrap();
    let cfg = file_config(dir.path(), "http://coder.invalid:3000");
    let std_cmd = run(&cfg);
    let mut unshared = Command::new("unshare");
    unshared
        .arg("--net")
        .arg(std_cmd.get_program())
        .args(std_cmd.get_args());
    for (k, v) in std_cmd.get_envs() {
        match v {
            Some(v) => unshared.env(k, v),
            None => unshared.env_remove(k),
        };
    }
    let log_file = std::fs::File::create(cfg.with_file_name("run.log")).unwrap();
    let mut child = unshared
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log_file)
        .spawn()
        .expect("unshare (util-linux) runs as root here");
    let logged = common::wait_until(Duration::from_secs(20), || {
        common::run_log(&cfg).contains("request to Coder failed")
    });
    let status = common::stop_gracefully(&mut child);
    let log = common::run_log(&cfg);
    assert!(logged, "{log}");
    assert!(status.success(), "{status}\n{log}");
    assert!(log.contains("dns error") || log.contains("lookup"), "{log}");
}
