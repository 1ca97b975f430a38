//! The operator's dashboard and alerts (`deploy/monitoring/`), proven against a live
//! Prometheus.
//!
//! `promtool` checks the rules and runs their unit tests (each alert firing and not);
//! `scripts/check-deploy.sh` checks the manifests (kustomize, kubernetes-validate, the
//! PrometheusRule holding the same rules as the plain file).
//! Then Debian's `prometheus` server scrapes a running shipper with three sinks (a file, a
//! syslog sink to a private rsyslog, a Splunk HEC with indexer acknowledgement) and
//! evaluates the rules every second: the syslog peer is stopped, and its alerts must go
//! pending while the file sink's stay quiet; every dashboard panel's query must return data.
//! `tests/peers/ensure-promtool.sh` installs the `prometheus` package (promtool and the
//! server); a missing one fails these tests, never skips them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn monitoring(file: &str) -> PathBuf {
    root().join("deploy/monitoring").join(file)
}

/// promtool's path (installed with Debian's prometheus package when missing).
fn promtool() -> String {
    let out = Command::new("bash")
        .arg(root().join("tests/peers/ensure-promtool.sh"))
        .output()
        .expect("run ensure-promtool.sh");
    assert!(out.status.success(), "ensure-promtool.sh failed");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn the_rules_pass_promtool_check_and_their_unit_tests() {
    let promtool = promtool();
    for args in [
        vec!["check", "rules", "prometheus-rules.yml"],
        vec!["test", "rules", "prometheus-rules.test.yml"],
    ] {
        let out = Command::new(&promtool)
            .args(&args)
            .current_dir(monitoring(""))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "promtool {args:?}:\n{text}");
        assert!(text.contains("SUCCESS"), "{text}");
    }
}

/// The live half needs the syslog and Splunk HEC sinks (default features).
#[cfg(all(feature = "splunk", feature = "syslog"))]
mod live {
    use std::net::TcpListener;
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    use chrono::Utc;
    use coder_sim::hec::{HecOptions, HecSim};
    use serde_json::Value;

    use super::{common, monitoring, root};
    use crate::common::scrape;

    /// A port free now on 127.0.0.1.
    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port")
    }

    /// Percent-encode a query string value (everything but unreserved characters).
    fn encode(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }

    /// A process killed when dropped, so a failing assertion leaves nothing running.
    struct Killed(Child);

    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// A private rsyslog (tests/peers/start-syslog.sh in its own run directory and ports),
    /// stopped by the test, not shared with the syslog suite.
    struct Rsyslog {
        run: PathBuf,
        tcp: String,
    }

    impl Rsyslog {
        fn start(run: &Path) -> Self {
            let (tcp, tls) = (free_port(), free_port());
            let status = Command::new("bash")
                .arg(root().join("tests/peers/start-syslog.sh"))
                .env("PEERS_RUN", run)
                .env("SYSLOG_TCP_PORT", tcp.to_string())
                .env("SYSLOG_UDP_PORT", tcp.to_string())
                .env("SYSLOG_TLS_PORT", tls.to_string())
                .stdout(Stdio::null())
                .status()
                .expect("start-syslog.sh");
            assert!(status.success(), "start-syslog.sh failed");
            Rsyslog {
                run: run.to_owned(),
                tcp: format!("127.0.0.1:{tcp}"),
            }
        }

        fn stop(&self) {
            let _ = Command::new("bash")
                .arg(root().join("tests/peers/stop-peers.sh"))
                .arg("syslog")
                .env("PEERS_RUN", &self.run)
                .status();
        }
    }

    impl Drop for Rsyslog {
        fn drop(&mut self) {
            self.stop();
        }
    }

    /// Debian's prometheus server scraping `target` every second and evaluating the rules.
    fn prometheus(dir: &Path, target: &str) -> (Killed, String) {
        let listen = format!("127.0.0.1:{}", free_port());
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - {rules}\n\
                 scrape_configs:\n  - job_name: coder-audit-shipper\n    static_configs:\n      \
                 - targets: [\"{target}\"]\n",
                rules = monitoring("prometheus-rules.yml").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={listen}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus (Debian's prometheus package: tests/peers/ensure-promtool.sh)");
        (Killed(child), listen)
    }

    /// An instant query's result vector (empty on any failure).
    fn query(prometheus: &str, expr: &str) -> Vec<Value> {
        scrape::http_get(prometheus, &format!("/api/v1/query?query={}", encode(expr)))
            .and_then(|body| serde_json::from_str::<Value>(&body).ok())
            .and_then(|v| v["data"]["result"].as_array().cloned())
            .unwrap_or_default()
    }

    /// The alerts Prometheus holds now: `(alertname, component_id, state)`.
    fn alerts(prometheus: &str) -> Vec<(String, String, String)> {
        let body = scrape::http_get(prometheus, "/api/v1/alerts").unwrap_or_default();
        let v: Value = serde_json::from_str(&body).unwrap_or_default();
        v["data"]["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|a| {
                let s = |k: &str| a["labels"][k].as_str().unwrap_or_default().to_owned();
                (
                    s("alertname"),
                    s("component_id"),
                    a["state"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// Every panel's query with the dashboard's variables set as Grafana would for this job.
    fn panel_queries() -> Vec<(String, String)> {
        let text = std::fs::read_to_string(monitoring("grafana-dashboard.json")).unwrap();
        let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
        dashboard["panels"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["type"] != "row")
            .flat_map(|p| {
                let title = p["title"].as_str().unwrap().to_owned();
                let targets = p["targets"].as_array().cloned().unwrap_or_default();
                assert!(!targets.is_empty(), "panel {title} has no query");
                targets.into_iter().map(move |t| {
                    let expr = t["expr"]
                        .as_str()
                        .unwrap()
                        .replace("$job", "coder-audit-shipper")
                        .replace("$__rate_interval", "1m");
                    (title.clone(), expr)
                })
            })
            .collect()
    }

    #[test]
    fn a_live_prometheus_raises_a_stopped_sinks_alert_and_every_panel_has_data() {
        let rt = common::runtime();
        let sim = rt.block_on(common::unlimited_sim());
        sim.set_workspaces_readable(true);
        let now = Utc::now();
        sim.backlog(300, Duration::from_secs(3_600), now);
        sim.connection_backlog(40, 4, Duration::from_secs(3_600), now);
        // Coder answering some requests with a fault: the errors panel has a source to show.
        sim.set_fault_rate(0.05);
        let hec_options = HecOptions::default();
        let hec = rt.block_on(HecSim::start(hec_options.clone())).unwrap();
        let _guard = rt.enter();
        let dir = tempfile::tempdir().unwrap();
        let rsyslog = Rsyslog::start(&dir.path().join("peers"));
        // The archive in ECS: look-ups are made only for streams with a normalized sink,
        // and the "Look-ups" panel needs some.
        let cfg = common::shipper_config(
            dir.path(),
            &sim.url(),
            100,
            &format!(
                "{server}[fanout]\ndetach_after = \"2s\"\n\n\
                 [sinks.archive]\ntype = \"file\"\npath = \"{archive}\"\nformat = \"ecs\"\n\n\
                 [sinks.syslog]\ntype = \"syslog\"\naddress = \"{syslog}\"\ntransport = \"tcp\"\n\n\
                 [sinks.siem]\ntype = \"splunk_hec\"\nendpoint = \"{hec}\"\ntoken = \"{token}\"\n\
                 ack = true\nbatch_timeout = \"100ms\"\nack_poll_interval = \"200ms\"\n",
                server = scrape::SERVER,
                archive = dir.path().join("archive.ndjson").display(),
                syslog = rsyslog.tcp,
                hec = hec.url(),
                token = hec_options.token,
            ),
        );
        common::read_streams(&cfg, r#"["audit", "connection"]"#);
        let live = common::spawn_live(&rt, &sim, 10.0);
        let shipper = Killed(common::spawn_run(&cfg));
        let mut address = None;
        assert!(
            common::wait_until(Duration::from_secs(30), || {
                address = scrape::metrics_address(&cfg);
                address.is_some()
            }),
            "{}",
            common::run_log(&cfg)
        );
        let address = address.unwrap();
        let (server, prom) = prometheus(dir.path(), &address);
        let prom_log =
            || std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();

        // Scraped, every stream ready, and quiet: no alert of ours pending or firing.
        let ready = common::wait_until(Duration::from_secs(60), || {
            query(&prom, r#"up{job="coder-audit-shipper"} == 1"#).len() == 1
                && query(&prom, "component_ready == 1").len() == 6
        });
        assert!(ready, "{}\n{}", prom_log(), common::run_log(&cfg));
        // Catching up on the backlog, the lag alert may be pending a moment: it must clear.
        let mut held = Vec::new();
        let quiet = common::wait_until(Duration::from_secs(60), || {
            held = alerts(&prom);
            held.is_empty()
        });
        assert!(quiet, "alerts before anything failed: {held:?}");

        rsyslog.stop();
        let pending = |name: &str, sink: &str| {
            let want = (name.to_owned(), sink.to_owned(), "pending".to_owned());
            common::wait_until(Duration::from_secs(90), || alerts(&prom).contains(&want))
        };
        assert!(
            pending("CoderAuditShipperStreamNotReady", "syslog"),
            "{:?}\n{}",
            alerts(&prom),
            common::run_log(&cfg)
        );
        assert!(
            pending("CoderAuditShipperSinkRetrying", "syslog"),
            "{:?}",
            alerts(&prom)
        );
        let mut others = Vec::new();
        let only_syslog = common::wait_until(Duration::from_secs(30), || {
            others = alerts(&prom)
                .into_iter()
                .filter(|(_, sink, _)| sink != "syslog")
                .collect();
            others.is_empty()
        });
        assert!(only_syslog, "only the stopped sink's alerts: {others:?}");

        // Every panel has data once the syslog sink has left the shared read.
        let panels = panel_queries();
        let mut empty = Vec::new();
        let all_data = common::wait_until(Duration::from_secs(90), || {
            empty = panels
                .iter()
                .filter(|(_, expr)| query(&prom, expr).is_empty())
                .cloned()
                .collect();
            empty.is_empty()
        });
        live.abort();
        drop(server);
        drop(shipper);
        assert!(all_data, "panels without data: {empty:#?}");
    }
}
