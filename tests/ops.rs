//! Operating a running shipper: `/metrics`, `/healthz` and `/readyz` tell whether events
//! flow and which sink is not, and SIGHUP reloads the config without losing or repeating
//! an event, refusing a config that does not load.

mod common;

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{delivered, scrape};

fn config(dir: &Path, coder_url: &str, sinks: &str) -> std::path::PathBuf {
    common::shipper_config(
        dir,
        coder_url,
        100,
        &format!("{}ready_staleness = \"30s\"\n{sinks}", scrape::SERVER),
    )
}

fn file_sink(dir: &Path, name: &str) -> String {
    format!(
        "[sinks.{name}]\ntype = \"file\"\npath = \"{}\"\n",
        dir.join(format!("{name}.ndjson")).display()
    )
}

/// The listener's address, once the shipper logged it.
fn address(cfg: &Path) -> String {
    let mut address = None;
    common::wait_until(Duration::from_secs(20), || {
        address = scrape::metrics_address(cfg);
        address.is_some()
    });
    address.unwrap_or_else(|| panic!("no listener address:\n{}", common::run_log(cfg)))
}

#[cfg(feature = "splunk")]
#[test]
fn metrics_and_probes_show_events_flowing_and_name_the_sink_that_is_not() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(300, Duration::from_secs(3_600), Utc::now());
    let dir = tempfile::tempdir().unwrap();
    // `siem` points at a port nothing listens on: its stream keeps retrying.
    let sinks = format!(
        "{}\n[sinks.siem]\ntype = \"splunk_hec\"\nendpoint = \"http://127.0.0.1:9\"\ntoken = \"hec-token-not-for-logs\"\n",
        file_sink(dir.path(), "archive")
    );
    let cfg = config(dir.path(), &sim.url(), &sinks);
    let mut child = common::run_command(&cfg)
        .env("CODER_AUDIT_SHIPPER__SHUTDOWN_TIMEOUT", "2s")
        .spawn()
        .unwrap();
    let addr = address(&cfg);
    assert_eq!(
        scrape::http_status(&addr, "/healthz").map(|(s, _)| s),
        Some(200)
    );
    let archive = dir.path().join("archive.ndjson");
    assert!(common::wait_until(Duration::from_secs(30), || {
        delivered::file(&archive).len() >= 300
    }));
    let (counted, _) = scrape::wait_for_metric(
        &cfg,
        "component_sent_events_total",
        &["component_id=\"archive\"", "component_type=\"file\""],
        300.0,
    );
    // Again, once `siem` has failed at least once (its first attempt waits for its batch
    // to come due).
    let (siem_retried, metrics) = scrape::wait_for_metric(
        &cfg,
        "component_retries_total",
        &["component_id=\"siem\""],
        1.0,
    );
    let mut not_ready = None;
    common::wait_until(Duration::from_secs(20), || {
        not_ready = scrape::http_status(&addr, "/readyz");
        not_ready.as_ref().is_some_and(|(s, body)| {
            *s == 503 && body.contains("siem: delivery or checkpoint failing")
        })
    });
    let status = common::stop_gracefully(&mut child);
    let log = common::run_log(&cfg);
    assert!(counted, "{metrics}\n{log}");
    assert!(siem_retried, "siem never retried:\n{metrics}\n{log}");
    // `siem` still holds what it could not send: past shutdown_timeout that is a failed
    // stop, its checkpoint before those events.
    assert!(!status.success(), "{status}\n{log}");
    assert!(log.contains("not sent within shutdown_timeout"), "{log}");
    for (name, labels) in [
        (
            "component_received_events_total",
            "component_id=\"archive\"",
        ),
        (
            "component_sent_event_bytes_total",
            "component_id=\"archive\"",
        ),
        ("checkpoint_lag_seconds", "component_id=\"archive\""),
        (
            "last_successful_poll_age_seconds",
            "component_id=\"archive\"",
        ),
        ("component_retries_total", "component_id=\"siem\""),
        ("coder_build_info", "version=\"v2.36.0+sim\""),
        ("coder_audit_log_entitled", ""),
    ] {
        assert!(
            scrape::metric(&metrics, name, &[labels]).is_some(),
            "no {name}{{{labels}}}:\n{metrics}"
        );
    }
    assert!(!metrics.contains("hec-token-not-for-logs") && !log.contains("hec-token-not-for-logs"));
    promtool_accepts(&metrics);
    let (_, body) = not_ready.unwrap_or_else(|| panic!("/readyz never said 503:\n{log}"));
    assert!(
        body.contains("siem: delivery or checkpoint failing"),
        "{body}"
    );
    // After the reasons, how each sink reads Coder (both through the shared reader).
    let (reasons, reading) = body.split_once("\nreading Coder:\n").unwrap_or((&body, ""));
    assert!(
        !reasons.contains("archive"),
        "the healthy sink is not named: {body}"
    );
    assert!(
        reading.contains("archive: reads through the shared reader"),
        "{body}"
    );
}

/// `promtool check metrics` (Prometheus's own linter) finds nothing in the exposition.
#[cfg(feature = "splunk")]
fn promtool_accepts(exposition: &str) {
    use std::io::Write;
    let tool = std::process::Command::new("bash")
        .arg(common::peers::script("ensure-promtool.sh"))
        .output()
        .expect("ensure-promtool.sh");
    assert!(
        tool.status.success(),
        "{}",
        String::from_utf8_lossy(&tool.stderr)
    );
    let path = String::from_utf8_lossy(&tool.stdout).trim().to_owned();
    let mut check = std::process::Command::new(path)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool");
    check
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}\n{exposition}"
    );
}

#[test]
fn readyz_answers_200_when_every_stream_moves() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(50, Duration::from_secs(3_600), Utc::now());
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &sim.url(), &file_sink(dir.path(), "archive"));
    let mut child = common::spawn_run(&cfg);
    let addr = address(&cfg);
    let ready = common::wait_until(Duration::from_secs(20), || {
        scrape::http_status(&addr, "/readyz").is_some_and(|(s, b)| s == 200 && b == "ready\n")
    });
    assert!(common::stop_gracefully(&mut child).success());
    assert!(ready, "{}", common::run_log(&cfg));
}

#[test]
fn sighup_adds_a_sink_without_loss_or_duplicates_and_refuses_a_bad_config() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(500, Duration::from_secs(3_600), Utc::now());
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &sim.url(), &file_sink(dir.path(), "archive"));
    let mut child = common::spawn_run(&cfg);
    let live = common::spawn_live(&rt, &sim, 20.0);
    let archive = dir.path().join("archive.ndjson");
    let lake = dir.path().join("lake.ndjson");
    assert!(common::wait_until(Duration::from_secs(30), || {
        delivered::file(&archive).len() >= 500
    }));
    let hup = |child: &std::process::Child| {
        let ok = std::process::Command::new("kill")
            .args(["-HUP", &child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    };

    // A second sink, by reload.
    let good = std::fs::read_to_string(&cfg).unwrap() + &file_sink(dir.path(), "lake");
    std::fs::write(&cfg, &good).unwrap();
    hup(&child);
    assert!(
        common::wait_until(Duration::from_secs(30), || delivered::file(&lake).len()
            >= 500),
        "{}",
        common::run_log(&cfg)
    );

    // A config that does not load is refused and the running one goes on.
    std::fs::write(
        &cfg,
        good.replace("page_size = 100", "page_size = \"many\""),
    )
    .unwrap();
    hup(&child);
    assert!(common::wait_until(Duration::from_secs(10), || {
        common::run_log(&cfg).contains("the new config is refused")
    }));
    let before = delivered::file(&archive).len();
    assert!(
        common::wait_until(Duration::from_secs(10), || delivered::file(&archive).len()
            > before),
        "still shipping with the old config"
    );
    std::thread::sleep(Duration::from_secs(1));
    live.abort();
    let all: Vec<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    let caught_up = common::wait_until(Duration::from_secs(30), || {
        [&archive, &lake].iter().all(|f| {
            let (got, _) = delivered::distinct(&delivered::file(f));
            all.iter().all(|id| got.contains(id))
        })
    });
    let status = common::stop_gracefully(&mut child);
    let log = common::run_log(&cfg);
    assert!(caught_up, "{log}");
    assert!(status.success(), "{status}\n{log}");
    assert!(log.contains("reloaded"), "{log}");
    for f in [&archive, &lake] {
        let t = common::tally(&sim, &delivered::file(f), DateTime::<Utc>::MIN_UTC);
        assert!(t.lost.is_empty(), "{}: lost {:?}", f.display(), t.lost);
        assert_eq!(
            t.duplicates,
            0,
            "{}: a reload sent events twice",
            f.display()
        );
    }
}

/// Any pod the network lets in can reach the metrics port. Connections that never send a
/// request are closed after the header-read timeout (5 s), and the probes answer meanwhile;
/// before, such connections were held open for ever.
#[test]
fn idle_connections_to_the_metrics_port_are_closed_and_the_probes_still_answer() {
    use std::io::Read;
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &sim.url(), &file_sink(dir.path(), "archive"));
    let mut child = common::spawn_run(&cfg);
    let addr = address(&cfg);
    let mut idle: Vec<std::net::TcpStream> = (0..100)
        .map(|_| std::net::TcpStream::connect(&addr).expect("connect"))
        .collect();
    let health = scrape::http_status(&addr, "/healthz");
    std::thread::sleep(Duration::from_secs(7));
    // Closed: end of stream, or a reset; still open: the read times out.
    let is_closed = |s: &mut std::net::TcpStream| {
        s.set_read_timeout(Some(Duration::from_millis(200))).ok();
        let mut b = [0u8; 64];
        match s.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        }
    };
    let closed = idle.iter_mut().map(is_closed).filter(|c| *c).count();
    let health_after = scrape::http_status(&addr, "/healthz");
    common::stop_gracefully(&mut child);
    assert_eq!(
        health.map(|h| h.0),
        Some(200),
        "/healthz among 100 idle connections"
    );
    assert_eq!(health_after.map(|h| h.0), Some(200));
    assert_eq!(closed, 100, "idle connections closed by the server");
}
