//! Each peer down for 30 s in turn, under live traffic, with all six sinks in one
//! shipper: the sink whose peer is down waits and then catches up (zero lost), and the
//! others never stall: 10 s after a snapshot taken 20 s into the outage, each of them holds
//! every row Coder had recorded by then. They share one read of Coder: each sink whose
//! peer went down leaves it and, caught up, joins it again.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::common::{self, delivered, peers, scrape};
use super::report::{self, PeakRss};

const OUTAGE: Duration = Duration::from_secs(30);

/// The six sinks' peers and where each keeps what it received (the S3 server holds two
/// sinks' buckets: the S3 sink's and the Security Lake sink's).
struct Peers {
    s3: HashMap<String, String>,
    hec: HashMap<String, String>,
    syslog: HashMap<String, String>,
    topic: String,
    bucket: String,
    /// The Security Lake sink's bucket (the same S3 peer as the S3 sink).
    lake_bucket: String,
    source: String,
    app: String,
    /// Tenzir's output file starts empty when it restarts: what it held before is kept here.
    hec_before: Vec<String>,
    /// Tansu keeps its log in memory: a consumer reads it all along, and what it read
    /// before a restart is kept here.
    kafka: Option<delivered::KafkaTail>,
    kafka_before: Vec<String>,
}

impl Peers {
    fn ids(&self, rt: &tokio::runtime::Runtime, dir: &Path, sink: &str) -> Vec<String> {
        match sink {
            "file" => delivered::file(&dir.join("audit.ndjson")),
            "kafka" => {
                let mut ids = self.kafka_before.clone();
                ids.extend(self.kafka.as_ref().map(|k| k.ids()).unwrap_or_default());
                ids
            }
            "s3" => delivered::s3(rt, &self.s3, &self.bucket),
            "security_lake" => delivered::lake(rt, &self.s3, &self.lake_bucket),
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

impl Peers {
    /// How many of `want` each sink lacks, for a failure message.
    fn behind(
        &self,
        rt: &tokio::runtime::Runtime,
        dir: &Path,
        want: &HashSet<String>,
    ) -> Vec<String> {
        SINKS
            .iter()
            .map(|s| {
                let (got, _) = delivered::distinct(&self.ids(rt, dir, s));
                format!("{s}: {} missing", want.difference(&got).count())
            })
            .collect()
    }
}

const SINKS: [&str; 6] = ["file", "kafka", "s3", "security_lake", "hec", "syslog"];

/// The peer a sink writes to: the Security Lake sink's is the S3 server.
fn peer_of(sink: &str) -> &str {
    match sink {
        "security_lake" => "s3",
        other => other,
    }
}

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
        lake_bucket: String::new(),
        source: common::unique("outage"),
        app: common::unique("outage"),
        hec_before: Vec::new(),
        kafka: None,
        kafka_before: Vec::new(),
    };
    (p.bucket, p.lake_bucket) = rt.block_on(async {
        let client = common::s3::client(&p.s3).await;
        (
            common::s3::new_bucket(&client).await,
            common::s3::new_bucket(&client).await,
        )
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
{security_lake}"#,
            security_lake = super::kill9::security_lake_table(&p.lake_bucket, &p.s3),
            server = scrape::SERVER,
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
    let live = common::spawn_live(&rt, &sim, 20.0);
    let file = dir.path().join("audit.ndjson");
    let backlog_in_file = common::wait_until(Duration::from_secs(60), || {
        delivered::file(&file).len() >= 2_000
    });
    assert!(backlog_in_file, "{}", common::run_log(&cfg));
    p.kafka = Some(delivered::KafkaTail::start(&peers::kafka(), &p.topic));

    let mut stalls = Vec::new();
    let mut live = Some(live);
    for down in ["kafka", "s3", "hec", "syslog"] {
        // Quiet first, until every sink holds everything recorded so far: a peer that
        // forgets on restart (Tansu keeps its log in memory, Tenzir starts a new file)
        // then forgets nothing this test has not already counted.
        if let Some(l) = live.take() {
            l.abort();
        }
        let recorded: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
        let quiet = common::wait_until(Duration::from_secs(90), || {
            SINKS.iter().all(|s| {
                delivered::distinct(&p.ids(&rt, dir.path(), s))
                    .0
                    .is_superset(&recorded)
            })
        });
        assert!(
            quiet,
            "before {down} went down, not every sink caught up: {:?}\n{}",
            p.behind(&rt, dir.path(), &recorded),
            common::run_log(&cfg)
        );
        let start = Instant::now();
        peers::stop(down);
        match down {
            "hec" => p.hec_before = delivered::hec(&p.hec["HEC_EVENTS_FILE"], &p.source),
            "kafka" => p.kafka_before = p.kafka.take().map(|k| k.ids()).unwrap_or_default(),
            _ => {}
        }
        live = Some(common::spawn_live(&rt, &sim, 20.0));
        std::thread::sleep(OUTAGE - Duration::from_secs(10));
        let snapshot: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
        std::thread::sleep(start + OUTAGE - Instant::now());
        for other in SINKS.iter().filter(|s| peer_of(s) != down) {
            let (got, _) = delivered::distinct(&p.ids(&rt, dir.path(), other));
            let behind = snapshot.difference(&got).count();
            if behind > 0 {
                stalls.push(format!(
                    "{other} lacked {behind} rows 10 s after they were recorded, while {down} was down"
                ));
            }
        }
        peers::ensure(down);
        if down == "kafka" {
            p.kafka = Some(delivered::KafkaTail::start(&peers::kafka(), &p.topic));
        }
    }
    let live = live.expect("live traffic");
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
    // One read of Coder: each sink whose peer went down left the shared reader, and
    // joins it again once caught up (it asks every 5 s).
    let address = scrape::metrics_address(&cfg).expect("the listener's address");
    let mut metrics = String::new();
    let count = |metrics: &str, sink: &str, name: &str, extra: &[&str]| {
        let sink = format!("component_id=\"{sink}\"");
        let labels: Vec<&str> = [sink.as_str()]
            .into_iter()
            .chain(extra.iter().copied())
            .collect();
        scrape::metric(metrics, name, &labels).unwrap_or(0.0)
    };
    let downed = ["kafka", "s3", "security_lake", "hec", "syslog"];
    common::wait_until(Duration::from_secs(30), || {
        metrics = scrape::http_get(&address, "/metrics").unwrap_or_default();
        downed.iter().all(|s| {
            count(
                &metrics,
                s,
                "component_join_attempts_total",
                &["outcome=\"joined\""],
            ) >= 1.0
        })
    });
    let status = common::stop_gracefully(&mut child);
    let log = common::run_log(&cfg);
    assert!(
        caught_up,
        "not every sink caught up after the outages: {:?}\n{log}",
        p.behind(&rt, dir.path(), &all)
    );
    assert!(status.success(), "{status}\n{log}");
    assert!(stalls.is_empty(), "{stalls:#?}");
    for down in downed {
        assert!(
            count(&metrics, down, "component_detached_total", &[]) >= 1.0,
            "{down} never detached\n{metrics}"
        );
        assert!(
            count(
                &metrics,
                down,
                "component_join_attempts_total",
                &["outcome=\"joined\""]
            ) >= 1.0,
            "{down} never rejoined\n{metrics}"
        );
    }

    for sink in SINKS {
        let t = common::tally(
            &sim,
            &p.ids(&rt, dir.path(), sink),
            DateTime::<Utc>::MIN_UTC,
        );
        report::record(
            "kafka, s3 (and security lake), hec, syslog each down 30 s, live 20/s",
            sink,
            t.lost.len(),
            t.duplicates,
            &peak,
            &format!("{} ids; no other sink stalled", t.expected),
        );
        assert!(t.lost.is_empty(), "{sink} lost {:?}", t.lost);
    }
}
