//! SIGKILL at random moments: the checkpoint never moves ahead of delivery, so every id
//! reaches every sink however often the process dies; what dies between a delivery and
//! its checkpoint is sent again, and counted here as duplicates.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

use super::common::{self, delivered, peers};
use super::report::{self, PeakRss};

const KILLS: usize = 20;
const BACKLOG: usize = 50_000;

fn config(
    dir: &Path,
    coder: &str,
    topic: &str,
    buckets: (&str, &str),
    s3: &HashMap<String, String>,
) -> std::path::PathBuf {
    let (bucket, lake_bucket) = buckets;
    common::shipper_config(
        dir,
        coder,
        500,
        &format!(
            r#"[sinks.archive]
type = "file"
path = "{out}"

[sinks.stream]
type = "kafka"
brokers = "{brokers}"
topic = "{topic}"
message_timeout = "5s"

[sinks.lake]
type = "s3"
bucket = "{bucket}"
region = "{region}"
endpoint = "{endpoint}"
force_path_style = true
batch_max_bytes = "1MiB"
batch_timeout = "1s"
{security_lake}"#,
            security_lake = security_lake_table(lake_bucket, s3),
            out = dir.join("audit.ndjson").display(),
            brokers = peers::kafka(),
            region = s3["AWS_REGION"],
            endpoint = s3["S3_ENDPOINT"],
        ),
    )
}

/// A Security Lake sink (OCSF 1.1.0 Parquet) into `bucket`, batching for 1 s.
pub fn security_lake_table(bucket: &str, s3: &HashMap<String, String>) -> String {
    let sources: String = [
        "account_change",
        "authentication",
        "user_access",
        "group_management",
        "api_activity",
        "ssh_activity",
        "network_activity",
    ]
    .iter()
    .map(|c| format!("{c} = \"coder-{c}\"\n"))
    .collect();
    format!(
        "\n[sinks.security_lake]\ntype = \"security_lake\"\nformat = \"ocsf\"\n\
         ocsf_version = \"1.1.0\"\nbucket = \"{bucket}\"\nregion = \"{region}\"\n\
         account_id = \"123456789012\"\nendpoint = \"{endpoint}\"\nforce_path_style = true\n\
         max_age = \"1s\"\nallow_short_max_age = true\n[sinks.security_lake.sources]\n{sources}",
        region = s3["AWS_REGION"],
        endpoint = s3["S3_ENDPOINT"],
    )
}

#[test]
fn twenty_kill_9_under_live_traffic_lose_nothing_in_file_kafka_s3_and_security_lake() {
    let _shared = super::PEERS.read().unwrap_or_else(|e| e.into_inner());
    let s3 = peers::s3();
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(BACKLOG, Duration::from_secs(2 * 86_400), Utc::now());
    let (bucket, lake) = rt.block_on(async {
        let client = common::s3::client(&s3).await;
        (
            common::s3::new_bucket(&client).await,
            common::s3::new_bucket(&client).await,
        )
    });
    let topic = common::unique("chaos");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &sim.url(), &topic, (&bucket, &lake), &s3);
    let live = common::spawn_live(&rt, &sim, 20.0);

    let peak = PeakRss::default();
    let mut rng = rand::rng();
    let mut lived = Vec::new();
    for _ in 0..KILLS {
        let mut child = common::s3::run_command(&cfg, &s3).spawn().unwrap();
        peak.watch(child.id());
        let ms = rng.random_range(300..3_000);
        lived.push(ms);
        std::thread::sleep(Duration::from_millis(ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let _ = std::fs::rename(
            cfg.with_file_name("run.log"),
            cfg.with_file_name(format!("run-{}.log", lived.len())),
        );
    }

    // A last run, left to catch up once Coder goes quiet, then stopped as an operator would.
    let mut child = common::s3::run_command(&cfg, &s3).spawn().unwrap();
    peak.watch(child.id());
    std::thread::sleep(Duration::from_secs(2));
    live.abort();
    let all: Vec<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    let file = dir.path().join("audit.ndjson");
    let caught_up = common::wait_until(Duration::from_secs(180), || {
        let (got, _) = delivered::distinct(&delivered::file(&file));
        all.iter().all(|id| got.contains(id))
            && delivered::distinct(&delivered::s3(&rt, &s3, &bucket))
                .0
                .len()
                >= all.len()
            && delivered::distinct(&delivered::lake(&rt, &s3, &lake))
                .0
                .len()
                >= all.len()
    });
    let status = common::stop_gracefully(&mut child);
    let log = common::run_log(&cfg);
    assert!(caught_up, "the last run did not catch up:\n{log}");
    assert!(status.success(), "{status}\n{log}");

    let from = DateTime::<Utc>::MIN_UTC;
    let sinks = [
        ("file", delivered::file(&file)),
        ("kafka", delivered::kafka(&peers::kafka(), &topic)),
        ("s3", delivered::s3(&rt, &s3, &bucket)),
        ("security_lake", delivered::lake(&rt, &s3, &lake)),
    ];
    for (sink, ids) in &sinks {
        let t = common::tally(&sim, ids, from);
        report::record(
            "20 × kill -9, 50k backlog + live 20/s",
            sink,
            t.lost.len(),
            t.duplicates,
            &peak,
            &format!(
                "{} ids; killed after {}-{} ms",
                t.expected,
                lived.iter().min().unwrap_or(&0),
                lived.iter().max().unwrap_or(&0)
            ),
        );
        if !t.lost.is_empty() {
            let times: HashMap<String, DateTime<Utc>> = sim.inserted().into_iter().collect();
            let mut lost: Vec<_> = t.lost.iter().map(|id| (times[id], id)).collect();
            lost.sort();
            let logs: String = (1..=KILLS)
                .map(|n| {
                    std::fs::read_to_string(cfg.with_file_name(format!("run-{n}.log")))
                        .unwrap_or_default()
                })
                .collect::<Vec<_>>()
                .join("\n----- kill -9 -----\n");
            let notable: Vec<&str> = logs
                .lines()
                .filter(|l| {
                    (l.contains("WARN")
                        || l.contains("ERROR")
                        || l.contains("resuming")
                        || l.contains("kill -9"))
                        && !l.contains("rdkafka")
                })
                .collect();
            let kept = dir.keep();
            panic!(
                "{sink} lost {} of {}: {lost:?}\nlogs in {}\n{}",
                t.lost.len(),
                t.expected,
                kept.display(),
                notable.join("\n")
            );
        }
        assert!(t.unexpected.is_empty(), "{sink}: ids Coder never had");
    }
}
