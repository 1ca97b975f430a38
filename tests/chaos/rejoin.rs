//! One read of Coder per stream under a long outage (issue #23): with two file sinks and
//! an S3 sink sharing the audit stream's reader, S3 goes down for 2 minutes under live
//! traffic. Its sink leaves the shared reader, the file sinks keep their pace, and once
//! S3 is back the sink catches up alone and joins the shared reader again, while rows
//! still arrive. Nothing lost; duplicates counted.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};

use super::common::{self, delivered, peers, scrape};
use super::report::{self, PeakRss};

const OUTAGE: Duration = Duration::from_secs(120);

fn metric(metrics: &str, name: &str, labels: &[&str]) -> f64 {
    scrape::metric(metrics, name, labels).unwrap_or(0.0)
}

#[test]
fn a_sink_down_for_two_minutes_under_live_traffic_rejoins_with_nothing_lost() {
    let _alone = super::PEERS.write().unwrap_or_else(|e| e.into_inner());
    let rt = common::runtime();
    let s3 = peers::s3();
    let bucket = rt.block_on(async {
        let client = common::s3::client(&s3).await;
        common::s3::new_bucket(&client).await
    });
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(
        1_000,
        Duration::from_secs(3_600),
        Utc::now() - TimeDelta::seconds(5),
    );
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str| dir.path().join(format!("{name}.ndjson"));
    let cfg = common::shipper_config(
        dir.path(),
        &sim.url(),
        200,
        &format!(
            r#"{server}
[sinks.a]
type = "file"
path = "{a}"

[sinks.b]
type = "file"
path = "{b}"

[sinks.s3]
type = "s3"
bucket = "{bucket}"
region = "{region}"
endpoint = "{endpoint}"
force_path_style = true
batch_timeout = "1s"
"#,
            server = scrape::SERVER,
            a = file("a").display(),
            b = file("b").display(),
            region = s3["AWS_REGION"],
            endpoint = s3["S3_ENDPOINT"],
        ),
    );
    let ids = |sink: &str| match sink {
        "s3" => delivered::s3(&rt, &s3, &bucket),
        other => delivered::file(&file(other)),
    };
    let sinks = ["a", "b", "s3"];
    let mut child = common::s3::run_command(&cfg, &s3).spawn().unwrap();
    let peak = PeakRss::default();
    peak.watch(child.id());
    let live = common::spawn_live(&rt, &sim, 20.0);
    let shipped = common::wait_until(Duration::from_secs(60), || {
        sinks.iter().all(|s| ids(s).len() >= 1_000)
    });
    assert!(shipped, "{}", common::run_log(&cfg));

    let start = Instant::now();
    peers::stop("s3");
    // The file sinks hold, 10 s later, what Coder had recorded near the end of the outage.
    std::thread::sleep(OUTAGE - Duration::from_secs(10));
    let snapshot: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    std::thread::sleep(start + OUTAGE - Instant::now());
    let mut stalls = Vec::new();
    for s in ["a", "b"] {
        let (got, _) = delivered::distinct(&ids(s));
        let behind = snapshot.difference(&got).count();
        if behind > 0 {
            stalls.push(format!(
                "{s} lacked {behind} rows 10 s after they were recorded"
            ));
        }
    }
    peers::ensure("s3");
    let address = scrape::metrics_address(&cfg).expect("the listener's address");
    let mut metrics = String::new();
    let s3_sink = "component_id=\"s3\"";
    // Rows keep arriving while it catches up and joins.
    let rejoined = common::wait_until(Duration::from_secs(120), || {
        metrics = scrape::http_get(&address, "/metrics").unwrap_or_default();
        metric(
            &metrics,
            "component_join_attempts_total",
            &[s3_sink, "outcome=\"joined\""],
        ) >= 1.0
    });
    std::thread::sleep(Duration::from_secs(5));
    live.abort();
    let all: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    let caught_up = common::wait_until(Duration::from_secs(120), || {
        sinks
            .iter()
            .all(|s| delivered::distinct(&ids(s)).0.is_superset(&all))
    });
    let status = common::stop_gracefully(&mut child);
    let log = common::run_log(&cfg);
    assert!(rejoined, "the S3 sink never rejoined\n{metrics}\n{log}");
    assert!(caught_up, "not every sink caught up\n{log}");
    assert!(status.success(), "{status}\n{log}");
    assert!(stalls.is_empty(), "{stalls:#?}\n{log}");
    assert!(
        metric(&metrics, "component_detached_total", &[s3_sink]) >= 1.0,
        "the S3 sink never left the shared reader\n{metrics}"
    );
    for sink in sinks {
        let t = common::tally(&sim, &ids(sink), DateTime::<Utc>::MIN_UTC);
        report::record(
            "s3 down 2 min beside two file sinks, one shared read, live 20/s",
            sink,
            t.lost.len(),
            t.duplicates,
            &peak,
            &format!(
                "{} ids; the s3 sink detached and rejoined; the file sinks did not stall",
                t.expected
            ),
        );
        assert!(t.lost.is_empty(), "{sink} lost {:?}", t.lost);
        if sink != "s3" {
            assert_eq!(t.duplicates, 0, "{sink}\n{log}");
        }
    }
}
