//! The connection log (Coder v2.25+) end to end: sessions whose rows change after they are
//! read ship as a connect and, once the row says so, a disconnect; a restart between the two
//! loses neither; the stream turns itself off on Coder's 403 "Premium feature" and on the
//! 404 of an older Coder, and the audit stream runs on.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use coder_audit_shipper::checkpoint::CheckpointStore;
use coder_audit_shipper::coder::{Cursor, Stream, Tailer};
use coder_audit_shipper::pipeline::SinkOutlet;
use coder_sim::{ApiVersion, Sim, SimConfig, SimHandle};
use common::{Harness, delivered, run_log, scrape, spawn_run, stop_gracefully, wait_until};
use serde_json::Value;

/// A harness tailing the connection log from an hour ago.
fn harness() -> (Harness, Cursor) {
    let mut h = Harness::new(50, TimeDelta::minutes(1));
    h.stream = Stream::Connection;
    let from = Utc::now() - TimeDelta::hours(1);
    (h, Cursor::starting_at(from, Some(from)))
}

/// Every raw record the file sink wrote: the row as Coder served it.
fn rows(h: &Harness) -> Vec<Value> {
    std::fs::read_to_string(h.output())
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn copies(rows: &[Value], id: &str) -> Vec<Value> {
    rows.iter().filter(|r| r["id"] == id).cloned().collect()
}

fn has_disconnect(row: &Value) -> bool {
    row["ssh_info"]["disconnect_time"].is_string()
}

/// The sessions a cursor still waits on.
fn open_sessions(h: &Harness) -> HashSet<String> {
    h.store()
        .load(&h.key())
        .expect("checkpoint readable")
        .map(|c| c.cursor.sessions.keys().map(|k| k.to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn a_session_ships_its_connect_then_its_disconnect() {
    let rt = common::runtime();
    rt.block_on(async {
        let sim = common::unlimited_sim().await;
        let now = Utc::now();
        let open = sim.open_session(now - TimeDelta::minutes(30));
        let web = sim.insert_web_connection(now - TimeDelta::minutes(20));
        // Ended before the shipper ever read it: both moments come at once.
        let short = sim.open_session(now - TimeDelta::minutes(10));
        assert!(sim.close_session(&short, now - TimeDelta::minutes(9)));

        let (h, start) = harness();
        let (mut tailer, mut outlet) = h.tailer(&sim, &start);
        common::drain(&mut tailer, &mut outlet, 20).await.unwrap();
        let first = rows(&h);
        assert_eq!(first.len(), 3, "{first:#?}");
        assert!(!has_disconnect(&copies(&first, &open)[0]));
        assert!(has_disconnect(&copies(&first, &short)[0]));
        assert_eq!(copies(&first, &web).len(), 1);
        assert_eq!(
            open_sessions(&h),
            [open.clone()].into(),
            "only the open session is waited on"
        );

        // The row changes in place; the next scan ships the disconnect, once.
        assert!(sim.close_session(&open, Utc::now()));
        common::drain(&mut tailer, &mut outlet, 20).await.unwrap();
        common::drain(&mut tailer, &mut outlet, 20).await.unwrap();
        let after = rows(&h);
        let open_copies = copies(&after, &open);
        assert_eq!(open_copies.len(), 2, "{after:#?}");
        assert!(!has_disconnect(&open_copies[0]) && has_disconnect(&open_copies[1]));
        assert_eq!(after.len(), 4, "nothing else is shipped again");
        assert!(open_sessions(&h).is_empty());
    });
}

#[test]
fn a_restart_between_connect_and_disconnect_still_ships_the_disconnect() {
    let rt = common::runtime();
    rt.block_on(async {
        let sim = common::unlimited_sim().await;
        let ids: Vec<String> = (0..5)
            .map(|i| sim.open_session(Utc::now() - TimeDelta::minutes(40 - i)))
            .collect();
        let (h, start) = harness();
        {
            let (mut tailer, mut outlet) = h.tailer(&sim, &start);
            common::drain(&mut tailer, &mut outlet, 20).await.unwrap();
            outlet.close().await.unwrap();
        }
        assert_eq!(
            open_sessions(&h),
            ids.iter().cloned().collect(),
            "the checkpoint remembers the open sessions"
        );
        // While the shipper is down, three sessions end.
        for id in &ids[..3] {
            assert!(sim.close_session(id, Utc::now()));
        }
        let (mut tailer, mut outlet) = h.tailer(&sim, &start);
        common::drain(&mut tailer, &mut outlet, 20).await.unwrap();
        let got = rows(&h);
        for (i, id) in ids.iter().enumerate() {
            let c = copies(&got, id);
            if i < 3 {
                assert_eq!(
                    c.len(),
                    2,
                    "{id}: connect, then disconnect after the restart"
                );
                assert!(has_disconnect(&c[1]));
            } else {
                assert_eq!(c.len(), 1, "{id} is still open");
            }
        }
        assert_eq!(open_sessions(&h), ids[3..].iter().cloned().collect());
    });
}

/// Coder keys a row by `(connection_id, workspace_id, agent_name)`, so a
/// `connection_id:` search may answer with other agents' rows first; the ended session is
/// on a later page, and reading only the first one would give it up as deleted.
#[test]
fn an_ended_session_is_found_behind_other_rows_with_its_connection_id() {
    let rt = common::runtime();
    rt.block_on(async {
        let sim = common::unlimited_sim().await;
        let (h, mut tailer, mut outlet, ended, others) = behind_four_others(&sim).await;
        let others: HashSet<String> = others.into_iter().collect();
        assert_eq!(open_sessions(&h).len(), 5);
        assert!(sim.close_session(&ended, Utc::now()));
        common::drain(&mut tailer, &mut outlet, 50).await.unwrap();
        let got = rows(&h);
        let c = copies(&got, &ended);
        assert_eq!(c.len(), 2, "its connect, then its disconnect: {got:#?}");
        assert!(has_disconnect(&c[1]));
        assert_eq!(open_sessions(&h), others, "not given up as deleted");
    });
}

#[test]
fn an_ended_session_is_not_given_up_when_a_purge_moves_it_between_two_pages_of_its_search() {
    let rt = common::runtime();
    rt.block_on(async {
        let sim = common::unlimited_sim().await;
        let (h, mut tailer, mut outlet, ended, others) = behind_four_others(&sim).await;
        assert!(sim.close_session(&ended, Utc::now()));
        // The search by connection id reads the four others on its pages 1 and 2, and
        // `ended` would be on page 3; two of the others are purged just after page 2, so
        // `ended` moves up to offset 2, where the search has already been.
        sim.delete_connections_after_page("connection_id:", 2, &others[2..]);
        common::drain(&mut tailer, &mut outlet, 50).await.unwrap();
        let got = rows(&h);
        let c = copies(&got, &ended);
        assert_eq!(c.len(), 2, "its connect, then its disconnect: {got:#?}");
        assert!(has_disconnect(&c[1]));
    });
}

/// What both `connection_id` search tests start from: a session the tailer has seen open
/// (pages of 2), then four newer open rows with its connection id on other agents, so a
/// `connection_id:` search shows them on its pages 1 and 2 and the session only on page 3.
/// Returns the harness, tailer and outlet, the session's id and the others' ids.
async fn behind_four_others(sim: &SimHandle) -> (Harness, Tailer, SinkOutlet, String, Vec<String>) {
    let ended = sim.open_session(Utc::now() - TimeDelta::minutes(30));
    let (mut h, start) = harness();
    h.page_size = 2;
    let (mut tailer, mut outlet) = h.tailer(sim, &start);
    common::drain(&mut tailer, &mut outlet, 20).await.unwrap();
    let connection_id = waited_on_connection_id(&h, &ended);
    let others: Vec<String> = (1..=4)
        .map(|i| {
            sim.open_session_with_connection_id(
                Utc::now() + TimeDelta::microseconds(i),
                &connection_id,
                &format!("agent-{i}"),
            )
        })
        .collect();
    common::drain(&mut tailer, &mut outlet, 50).await.unwrap();
    (h, tailer, outlet, ended, others)
}

/// The `connection_id` the checkpoint keeps for session `id`.
fn waited_on_connection_id(h: &Harness, id: &str) -> String {
    h.store()
        .load(&h.key())
        .expect("checkpoint readable")
        .and_then(|c| {
            c.cursor
                .sessions
                .iter()
                .find(|(k, _)| k.to_string() == id)
                .map(|(_, s)| s.connection_id.clone())
        })
        .expect("the session is waited on")
}

#[test]
fn sessions_older_than_the_horizon_or_deleted_are_given_up() {
    let rt = common::runtime();
    rt.block_on(async {
        let sim = common::unlimited_sim().await;
        let (mut h, start) = harness();
        h.session_horizon = TimeDelta::minutes(30);
        let old = sim.open_session(Utc::now() - TimeDelta::minutes(45));
        let recent = sim.open_session(Utc::now() - TimeDelta::minutes(5));
        let (mut tailer, mut outlet) = h.tailer(&sim, &start);
        common::drain(&mut tailer, &mut outlet, 20).await.unwrap();
        assert_eq!(copies(&rows(&h), &old).len(), 1, "its connect still ships");
        assert_eq!(
            open_sessions(&h),
            [recent.clone()].into(),
            "a session opened before the horizon is not waited on"
        );
        // Retention deletes the open session's row: it is given up, not waited on for ever.
        assert_eq!(
            sim.delete_connections_older_than(Utc::now() - TimeDelta::minutes(1)),
            2
        );
        common::drain(&mut tailer, &mut outlet, 20).await.unwrap();
        assert!(open_sessions(&h).is_empty());
        assert_eq!(rows(&h).len(), 2, "no disconnect was invented");
    });
}

/// A config with a file sink `archive` (raw) and `streams`, and the metrics listener.
fn config(dir: &Path, sim: &SimHandle, streams: &str) -> std::path::PathBuf {
    common::shipper_config(
        dir,
        &sim.url(),
        100,
        &format!(
            "{}\n[sinks.archive]\ntype = \"file\"\npath = \"{}\"\n",
            scrape::SERVER,
            dir.join("archive.ndjson").display()
        ),
    )
    .with_streams(streams)
}

trait WithStreams {
    fn with_streams(self, streams: &str) -> Self;
}

impl WithStreams for std::path::PathBuf {
    /// Put `streams = …` into the `[coder]` table of the config at this path, with open
    /// sessions looked at every second.
    fn with_streams(self, streams: &str) -> Self {
        let text = std::fs::read_to_string(&self).unwrap();
        let text = text.replacen(
            "[coder]\n",
            &format!("[coder]\nstreams = {streams}\nsession_poll_interval = \"1s\"\n"),
            1,
        );
        std::fs::write(&self, text).unwrap();
        self
    }
}

/// The audit stream ships everything while the connection stream is off: one warning
/// naming why, the availability gauge at 0, and the process keeps running.
fn the_connection_stream_turns_off(sim: SimHandle, rt: &tokio::runtime::Runtime, why: &str) {
    let _in_runtime = rt.enter();
    sim.backlog(50, Duration::from_secs(3_600), Utc::now());
    let all: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &sim, r#"["audit", "connection"]"#);
    let mut child = spawn_run(&cfg);
    let out = dir.path().join("archive.ndjson");
    let shipped = wait_until(Duration::from_secs(30), || {
        delivered::file(&out).len() >= all.len()
    });
    let (gauge, exposition) =
        scrape::wait_for_metric(&cfg, "coder_connection_log_available", &[], 0.0);
    let still_running = child.try_wait().unwrap().is_none();
    stop_gracefully(&mut child);
    let log = run_log(&cfg);
    assert!(shipped, "the audit stream shipped:\n{log}");
    let (got, duplicates) = delivered::distinct(&delivered::file(&out));
    assert_eq!(got, all);
    assert_eq!(duplicates, 0);
    assert!(still_running, "no crash, no exit:\n{log}");
    assert_eq!(
        log.matches("the connection stream is off").count(),
        1,
        "one clear line:\n{log}"
    );
    assert!(log.contains(why), "{why:?} not in:\n{log}");
    assert!(gauge, "{exposition}");
    assert_eq!(
        scrape::metric(&exposition, "coder_connection_log_available", &[]),
        Some(0.0)
    );
    // The request that found the log unavailable is counted (`coder_requests_total`); no
    // stream's series is.
    assert!(
        !exposition
            .lines()
            .any(|l| l.starts_with("component_") && l.contains("stream=\"connection\"")),
        "no connection stream runs"
    );
}

#[test]
fn without_the_premium_license_the_connection_stream_is_off_and_audit_runs_on() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    sim.set_connection_log_licensed(false);
    the_connection_stream_turns_off(sim, &rt, "Connection Log is a Premium feature");
}

#[test]
fn a_coder_older_than_v2_25_has_no_connection_log_and_audit_runs_on() {
    let rt = common::runtime();
    let sim = rt
        .block_on(Sim::start(SimConfig {
            version: ApiVersion { minor: 24 },
            rate_limit: None,
            ..SimConfig::default()
        }))
        .unwrap();
    the_connection_stream_turns_off(sim, &rt, "older than v2.25");
}

/// Every sink (needs all the sink features).
#[cfg(all(
    feature = "kafka",
    feature = "s3",
    feature = "splunk",
    feature = "syslog"
))]
mod every_sink {
    use super::*;
    use std::collections::HashMap;

    /// The ids a sink must end with: every connection's id, and `<id>:disconnect` for each
    /// session that ended.
    fn expected(all: &[String], ended: &[String]) -> HashSet<String> {
        all.iter()
            .cloned()
            .chain(ended.iter().map(|id| format!("{id}:disconnect")))
            .collect()
    }

    /// `event.id` (ECS) or `metadata.uid` (OCSF) of every line of a file sink's output.
    fn event_ids(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| {
                v["event"]["id"]
                    .as_str()
                    .or(v["metadata"]["uid"].as_str())
                    .map(str::to_owned)
            })
            .collect()
    }

    #[test]
    fn connection_events_reach_every_sink_in_every_format() {
        let rt = common::runtime();
        let sim = rt.block_on(common::unlimited_sim());
        let kafka = common::peers::kafka();
        let s3_env = common::peers::s3();
        let hec = common::peers::hec();
        let syslog = common::peers::syslog();
        let s3 = rt.block_on(common::s3::client(&s3_env));
        let bucket = rt.block_on(common::s3::new_bucket(&s3));
        let topic = common::unique("cas-conn");
        let source = common::unique("cas-conn");
        let (cef_app, leef_app) = (common::unique("cef"), common::unique("leef"));

        // Four sessions that ended before the shipper starts, four that end while it runs, and
        // four web connections (apps, port forwards, tunnels).
        let now = Utc::now();
        let mut all = Vec::new();
        let mut ended_before = Vec::new();
        let mut open = Vec::new();
        for i in 0..4 {
            let t = now - TimeDelta::minutes(50 - 10 * i);
            let id = sim.open_session(t);
            assert!(sim.close_session(&id, t + TimeDelta::minutes(2)));
            ended_before.push(id.clone());
            all.push(id);
            let id = sim.open_session(t + TimeDelta::minutes(3));
            open.push(id.clone());
            all.push(id);
            all.push(sim.insert_web_connection(t + TimeDelta::minutes(4)));
        }
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, format: &str| {
            format!(
                "[sinks.{name}]\ntype = \"file\"\npath = \"{}\"\n{format}\n",
                dir.path().join(format!("{name}.ndjson")).display()
            )
        };
        let sinks = [
            file("raw", "format = \"raw\""),
            file("ecs", "format = \"ecs\""),
            file("ocsf", "format = \"ocsf\""),
            file("lake", "format = \"ocsf\"\nocsf_version = \"1.1.0\""),
            format!(
                "[sinks.kafka]\ntype = \"kafka\"\nbrokers = \"{kafka}\"\ntopic = \"{topic}\"\nformat = \"ocsf\"\nmessage_timeout = \"5s\"\n"
            ),
            format!(
                "[sinks.s3]\ntype = \"s3\"\nbucket = \"{bucket}\"\nregion = \"{}\"\nendpoint = \"{}\"\nforce_path_style = true\nformat = \"ecs\"\nbatch_timeout = \"500ms\"\n",
                s3_env["AWS_REGION"], s3_env["S3_ENDPOINT"]
            ),
            format!(
                "[sinks.hec]\ntype = \"splunk_hec\"\nendpoint = \"{}\"\ntoken = \"{}\"\nindex = \"coder\"\nsource = \"{source}\"\nformat = \"ocsf\"\nbatch_timeout = \"200ms\"\n",
                hec["HEC_URL"], hec["HEC_TOKEN"]
            ),
            format!(
                "[sinks.cef]\ntype = \"syslog\"\naddress = \"{}\"\napp_name = \"{cef_app}\"\nbody = \"cef\"\n",
                syslog["SYSLOG_TCP"]
            ),
            format!(
                "[sinks.leef]\ntype = \"syslog\"\naddress = \"{}\"\napp_name = \"{leef_app}\"\nbody = \"leef\"\n",
                syslog["SYSLOG_TCP"]
            ),
        ]
        .concat();
        let cfg = common::shipper_config(dir.path(), &sim.url(), 100, &sinks)
            .with_streams(r#"["connection"]"#);
        let mut child = common::s3::run_command(&cfg, &s3_env).spawn().unwrap();

        let normalized_ids = |which: &str| -> Vec<String> {
            match which {
                "ecs" | "ocsf" | "lake" => event_ids(&dir.path().join(format!("{which}.ndjson"))),
                "hec" => delivered::hec(&hec["HEC_EVENTS_FILE"], &source),
                "cef" => delivered::syslog(&syslog["SYSLOG_OUT_DIR"], "tcp", &cef_app),
                "leef" => delivered::syslog(&syslog["SYSLOG_OUT_DIR"], "tcp", &leef_app),
                "s3" => rt
                    .block_on(common::s3::read_bucket(&s3, &bucket))
                    .values()
                    .flatten()
                    .filter_map(|d| d["event"]["id"].as_str().map(str::to_owned))
                    .collect(),
                _ => unreachable!(),
            }
        };
        let sinks = ["ecs", "ocsf", "lake", "hec", "cef", "leef", "s3"];
        // First the connects (and both moments of the sessions that had ended).
        let connects = expected(&all, &ended_before);
        let arrived = wait_until(Duration::from_secs(60), || {
            sinks.iter().all(|s| {
                let got: HashSet<String> = normalized_ids(s).into_iter().collect();
                got == connects
            })
        });
        assert!(arrived, "connects missing:\n{}", run_log(&cfg));
        // Then the open sessions end, and their disconnects follow.
        for id in &open {
            assert!(sim.close_session(id, Utc::now()));
        }
        let ended: Vec<String> = ended_before.iter().chain(&open).cloned().collect();
        let want = expected(&all, &ended);
        let arrived = wait_until(Duration::from_secs(60), || {
            sinks.iter().all(|s| {
                let got: HashSet<String> = normalized_ids(s).into_iter().collect();
                got == want
            })
        });
        let raw = dir.path().join("raw.ndjson");
        let raw_done = wait_until(Duration::from_secs(20), || {
            delivered::file(&raw).len() >= all.len() + open.len()
        });
        let status = stop_gracefully(&mut child);
        let log = run_log(&cfg);
        assert!(arrived && raw_done, "disconnects missing:\n{log}");
        assert!(status.success(), "{status}\n{log}");
        let mut report = HashMap::new();
        for s in sinks {
            let ids = normalized_ids(s);
            let (got, duplicates) = delivered::distinct(&ids);
            assert_eq!(got, want, "{s}");
            report.insert(s, duplicates);
        }
        let kafka_keys: HashSet<String> = delivered::kafka(&kafka, &topic).into_iter().collect();
        assert_eq!(kafka_keys, want, "kafka keys");
        // Raw: each row as Coder served it, once per change: the sessions that ended while
        // the shipper ran appear twice, the second copy with its disconnect.
        let raw_rows: Vec<Value> = std::fs::read_to_string(&raw)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(raw_rows.len(), all.len() + open.len(), "{raw_rows:#?}");
        for id in &open {
            let c = copies(&raw_rows, id);
            assert_eq!(c.len(), 2, "{id}");
            assert!(!has_disconnect(&c[0]) && has_disconnect(&c[1]), "{id}");
        }
        assert!(
            report.values().all(|d| *d == 0),
            "duplicates in a healthy run: {report:?}"
        );
    }
}

#[test]
fn losing_the_license_while_running_turns_the_connection_stream_off_once() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    let _in_runtime = rt.enter();
    let session = sim.open_session(Utc::now() - TimeDelta::minutes(5));
    sim.backlog(20, Duration::from_secs(600), Utc::now());
    let dir = tempfile::tempdir().unwrap();
    // Two sinks: two connection streams, one warning.
    let cfg = config(dir.path(), &sim, r#"["audit", "connection"]"#);
    let text = std::fs::read_to_string(&cfg).unwrap()
        + &format!(
            "\n[sinks.copy]\ntype = \"file\"\npath = \"{}\"\n",
            dir.path().join("copy.ndjson").display()
        );
    std::fs::write(&cfg, text).unwrap();
    let mut child = spawn_run(&cfg);
    let out = dir.path().join("copy.ndjson");
    assert!(
        wait_until(Duration::from_secs(30), || {
            delivered::file(&out).contains(&session)
        }),
        "{}",
        run_log(&cfg)
    );
    sim.set_connection_log_licensed(false);
    let later = sim.insert_at(Utc::now());
    let shipped = wait_until(Duration::from_secs(30), || {
        delivered::file(&out).contains(&later)
            && run_log(&cfg).contains("Coder stopped serving /api/v2/connectionlog")
    });
    // The audit streams are ready; the connection streams are no longer judged.
    let addr = scrape::metrics_address(&cfg).unwrap();
    let ready = wait_until(Duration::from_secs(10), || {
        scrape::http_status(&addr, "/readyz").is_some_and(|(s, _)| s == 200)
    });
    let running = child.try_wait().unwrap().is_none();
    let status = stop_gracefully(&mut child);
    let log = run_log(&cfg);
    assert!(shipped && running, "{log}");
    assert!(ready, "{log}");
    assert!(
        status.success(),
        "a stream turned off is no failure: {status}\n{log}"
    );
    assert_eq!(
        log.matches("the connection stream is off").count(),
        1,
        "one line for both sinks:\n{log}"
    );
    assert!(log.contains("Premium feature"), "{log}");
}

#[test]
fn a_backfill_ships_the_connections_of_its_range_too() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    let end = Utc::now() - TimeDelta::hours(1);
    sim.connection_backlog(60, 4, Duration::from_secs(2 * 86_400), end);
    sim.backlog(30, Duration::from_secs(2 * 86_400), end);
    let connections: HashSet<String> = sim
        .connections_inserted()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let audit: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &sim, r#"["audit", "connection"]"#);
    let from = (end - TimeDelta::days(3))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let to = Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_coder-audit-shipper"))
            .args([
                "backfill",
                "--config",
                cfg.to_str().unwrap(),
                "--from",
                &from,
                "--to",
                &to,
            ])
            .output()
            .unwrap()
    };
    let o = run();
    let text = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{text}");
    let out = dir.path().join("archive.ndjson");
    let (got, duplicates) = delivered::distinct(&delivered::file(&out));
    let want: HashSet<String> = connections.union(&audit).cloned().collect();
    assert_eq!(got, want, "{text}");
    assert_eq!(duplicates, 0);
    // Run again: the range is done for both streams, nothing is sent twice.
    let before = delivered::file(&out).len();
    assert!(run().status.success());
    assert_eq!(delivered::file(&out).len(), before);
}

/// Sessions that never end (agents drop reports when their queue is full, and Coder closes
/// no such row) would make every sweep page through all of them. Sessions older than a day
/// are looked at on one sweep in thirty; younger ones on every sweep.
#[test]
fn sessions_older_than_a_day_are_looked_at_again_less_often() {
    let rt = common::runtime();
    rt.block_on(async {
        let sim = common::unlimited_sim().await;
        let mut h = Harness::new(50, TimeDelta::minutes(1));
        h.stream = Stream::Connection;
        let from = Utc::now() - TimeDelta::days(3);
        let start = Cursor::starting_at(from, Some(from));
        let old = sim.open_session(Utc::now() - TimeDelta::days(2));
        let young = sim.open_session(Utc::now() - TimeDelta::hours(2));
        let (mut tailer, mut outlet) = h.tailer(&sim, &start);
        common::drain(&mut tailer, &mut outlet, 30).await.unwrap();
        assert_eq!(open_sessions(&h), [old.clone(), young.clone()].into());

        assert!(sim.close_session(&old, Utc::now()));
        assert!(sim.close_session(&young, Utc::now()));
        tailer.step(&mut outlet).await.unwrap();
        assert_eq!(
            copies(&rows(&h), &young).len(),
            2,
            "the young session's end ships at once"
        );
        assert_eq!(
            copies(&rows(&h), &old).len(),
            1,
            "the old one waits for an old sweep"
        );
        for _ in 0..31 {
            tailer.step(&mut outlet).await.unwrap();
        }
        assert_eq!(copies(&rows(&h), &old).len(), 2, "and ships on it");
        assert!(open_sessions(&h).is_empty());
    });
}
