//! Each peer down for 30 s in turn, under live traffic, with all five sinks in one
//! shipper: the sink whose peer is down waits and then catches up (zero lost), and the
//! others never stall: 10 s after a snapshot taken 20 s into the outage, each of them holds
//! every row Coder had recorded by then.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use coder_sim::server::LiveTraffic;

use super::common::{self, delivered, peers};
use super::report::{self, PeakRss};

const OUTAGE: Duration = Duration::from_secs(30);

/// The five sinks' peers and where each keeps what it received.
struct Peers {
    s3: HashMap<String, String>,
    hec: HashMap<String, String>,
    syslog: HashMap<String, String>,
    topic: String,
    bucket: String,
    source: String,
    app: String,
    /// Tenzir's output file starts empty when it restarts: what it held before is kept here.
    hec_before: Vec<String>,
}

impl Peers {
    fn ids(&self, rt: &tokio::runtime::Runtime, dir: &Path, sink: &str) -> Vec<String> {
        match sink {
            "file" => delivered::file(&dir.join("audit.ndjson")),
            "kafka" => delivered::kafka(&peers::kafka(), &self.topic),
            "s3" => delivered::s3(rt, &self.s3, &self.bucket),
            "hec" => {
                let mut ids = self.hec_before.clone();
                ids.extend(delivered::hec(&self.hec["HEC_EVENTS_FILE"], &self.source));
                ids
            }
            "syslog" => delivered::syslog(&self.syslog["SYSLOG_OUT_DIR"], "tcp", &self.app),
            other => panic!("no sink {other}"),
        }
    }
}

const SINKS: [&str; 5] = ["file", "kafka", "s3", "hec", "syslog"];

#[test]
fn each_peer_down_for_30_seconds_loses_nothing_and_stalls_no_other_sink() {
    let _alone = super::PEERS.write().unwrap_or_else(|e| e.into_inner());
    let rt = common::runtime();
    let mut p = Peers {
        s3: peers::s3(),
        hec: peers::hec(),
        syslog: peers::syslog(),
        topic: common::unique("outage"),
        bucket: String::new(),
        source: common::unique("outage"),
        app: common::unique("outage"),
        hec_before: Vec::new(),
    };
    p.bucket = rt.block_on(async {
        let client = common::s3::client(&p.s3).await;
        common::s3::new_bucket(&client).await
    });
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(2_000, Duration::from_secs(86_400), Utc::now());
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::shipper_config(
        dir.path(),
        &sim.url(),
        200,
        &format!(
            r#"{server}
[sinks.file]
type = "file"
path = "{out}"

[sinks.kafka]
type = "kafka"
brokers = "{brokers}"
topic = "{topic}"
message_timeout = "5s"

[sinks.s3]
type = "s3"
bucket = "{bucket}"
region = "{region}"
endpoint = "{endpoint}"
force_path_style = true
batch_timeout = "1s"

[sinks.hec]
type = "splunk_hec"
endpoint = "{hec_url}"
token = "{hec_token}"
source = "{source}"
batch_timeout = "200ms"
request_timeout = "3s"

[sinks.syslog]
type = "syslog"
address = "{syslog}"
app_name = "{app}"
"#,
            server = report::SERVER,
            out = dir.path().join("audit.ndjson").display(),
            brokers = peers::kafka(),
            topic = p.topic,
            bucket = p.bucket,
            region = p.s3["AWS_REGION"],
            endpoint = p.s3["S3_ENDPOINT"],
            hec_url = p.hec["HEC_URL"],
            hec_token = p.hec["HEC_TOKEN"],
            source = p.source,
            syslog = p.syslog["SYSLOG_TCP"],
            app = p.app,
        ),
    );
    let mut child = common::s3::run_command(&cfg, &p.s3).spawn().unwrap();
    let peak = PeakRss::default();
    peak.watch(child.id());
    let live = {
        let _in = rt.enter();
        sim.spawn_live(LiveTraffic {
            rows_per_sec: 20.0,
            late_share: 0.1,
            late_max: Duration::from_secs(5),
            tie_share: 0.1,
        })
    };
    let backlog_done = common::wait_until(Duration::from_secs(60), || {
        SINKS
            .iter()
            .all(|s| delivered::distinct(&p.ids(&rt, dir.path(), s)).0.len() >= 2_000)
    });
    assert!(
        backlog_done,
        "the backlog did not arrive:\n{}",
        common::run_log(&cfg)
    );

    let mut stalls = Vec::new();
    for down in ["kafka", "s3", "hec", "syslog"] {
        let start = Instant::now();
        peers::stop(down);
        if down == "hec" {
            p.hec_before = delivered::hec(&p.hec["HEC_EVENTS_FILE"], &p.source);
        }
        std::thread::sleep(OUTAGE - Duration::from_secs(10));
        let snapshot: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
        std::thread::sleep(start + OUTAGE - Instant::now());
        for other in SINKS.iter().filter(|s| **s != down) {
            let (got, _) = delivered::distinct(&p.ids(&rt, dir.path(), other));
            let behind = snapshot.difference(&got).count();
            if behind > 0 {
                stalls.push(format!("{other} lacked {behind} rows 10 s after they were recorded, while {down} was down"));
            }
        }
        peers::ensure(down);
    }
    std::thread::sleep(Duration::from_secs(3));
    live.abort();
    let all: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    let caught_up = common::wait_until(Duration::from_secs(120), || {
        SINKS.iter().all(|s| {
            delivered::distinct(&p.ids(&rt, dir.path(), s))
                .0
                .is_superset(&all)
        })
    });
    let status = common::stop_gracefully(&mut child);
    let log = common::run_log(&cfg);
    assert!(
        caught_up,
        "not every sink caught up after the outages:\n{log}"
    );
    assert!(status.success(), "{status}\n{log}");
    assert!(stalls.is_empty(), "{stalls:#?}");

    for sink in SINKS {
        let t = common::tally(
            &sim,
            &p.ids(&rt, dir.path(), sink),
            DateTime::<Utc>::MIN_UTC,
        );
        report::record(
            "kafka, s3, hec, syslog each down 30 s, live 20/s",
            sink,
            t.lost.len(),
            t.duplicates,
            &peak,
            &format!("{} ids; no other sink stalled", t.expected),
        );
        assert!(t.lost.is_empty(), "{sink} lost {:?}", t.lost);
    }
}
