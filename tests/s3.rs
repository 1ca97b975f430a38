//! The S3 sink end to end: the Coder simulator → `coder-audit-shipper run` → a real S3
//! server that verifies SigV4 (s3s-fs, started by `tests/peers/start-s3.sh`), read back
//! with the AWS SDK.
#![cfg(feature = "s3")]

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use chrono::{TimeDelta, Utc};
use coder_sim::server::LiveTraffic;
use common::peers;
use common::s3::{client, new_bucket, read_bucket};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_coder-audit-shipper");

/// The restart test stops the server: it runs alone.
static SERVER: RwLock<()> = RwLock::new(());

/// The S3 server, a client of it, and a new bucket for one test.
struct Peer {
    env: HashMap<String, String>,
    rt: tokio::runtime::Runtime,
    s3: Client,
    bucket: String,
}

impl Peer {
    fn new() -> Self {
        let env = peers::s3();
        let rt = common::runtime();
        let s3 = rt.block_on(client(&env));
        let bucket = rt.block_on(new_bucket(&s3));
        Peer {
            env,
            rt,
            s3,
            bucket,
        }
    }
}

fn write_config(dir: &Path, url: &str, env: &HashMap<String, String>, bucket: &str) -> PathBuf {
    common::shipper_config(
        dir,
        url,
        500,
        &format!(
            r#"[sinks.lake]
type = "s3"
bucket = "{bucket}"
region = "{region}"
endpoint = "{endpoint}"
force_path_style = true
key_prefix = "coder/audit/year=%Y/month=%m/day=%d/"
format = "ecs"
batch_max_bytes = "256KiB"
batch_timeout = "1s""#,
            region = env["AWS_REGION"],
            endpoint = env["S3_ENDPOINT"],
        ),
    )
}

fn spawn_run(cfg: &Path, env: &HashMap<String, String>) -> Child {
    common::s3::run_command(cfg, env).spawn().unwrap()
}

fn ids(objects: &HashMap<String, Vec<Value>>) -> HashSet<String> {
    objects
        .values()
        .flatten()
        .map(|d| d["event"]["id"].as_str().unwrap().to_owned())
        .collect()
}

fn wait_for(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    bucket: &str,
    want: &HashSet<String>,
    within: Duration,
) -> HashMap<String, Vec<Value>> {
    let end = Instant::now() + within;
    loop {
        let objects = rt.block_on(read_bucket(client, bucket));
        if ids(&objects).is_superset(want) || Instant::now() > end {
            return objects;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn every_event_lands_in_gzip_ndjson_objects_partitioned_by_event_time() {
    let _shared = SERVER.read().unwrap_or_else(|e| e.into_inner());
    let Peer {
        env,
        rt,
        s3,
        bucket,
    } = Peer::new();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(
        3_000,
        Duration::from_secs(3 * 86_400),
        Utc::now() - TimeDelta::minutes(5),
    );
    let inserted: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sim.url(), &env, &bucket);
    let mut child = spawn_run(&cfg, &env);
    let objects = wait_for(&rt, &s3, &bucket, &inserted, Duration::from_secs(120));
    child.kill().unwrap();
    child.wait().unwrap();
    let log = std::fs::read_to_string(dir.path().join("run.log")).unwrap_or_default();

    assert_eq!(ids(&objects), inserted, "log:\n{log}");
    assert!(
        objects.len() >= 4,
        "batches of 256KiB over 3+ days: {} objects",
        objects.len()
    );
    for (key, docs) in &objects {
        assert!(key.ends_with(".ndjson.gz"), "{key}");
        for d in docs {
            // The partition is the event's own day, not the day it was shipped.
            let ts = d["@timestamp"].as_str().unwrap();
            let day = format!("year={}/month={}/day={}/", &ts[0..4], &ts[5..7], &ts[8..10]);
            assert!(key.contains(&day), "{key} holds an event of {ts}");
        }
    }
}

#[test]
fn an_s3_server_restarted_mid_run_loses_nothing() {
    let _alone = SERVER.write().unwrap_or_else(|e| e.into_inner());
    let Peer {
        env,
        rt,
        s3,
        bucket,
    } = Peer::new();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(
        500,
        Duration::from_secs(3_600),
        Utc::now() - TimeDelta::minutes(5),
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sim.url(), &env, &bucket);
    let mut child = spawn_run(&cfg, &env);
    let live = {
        let _in_runtime = rt.enter();
        sim.spawn_live(LiveTraffic {
            rows_per_sec: 30.0,
            late_share: 0.1,
            late_max: Duration::from_secs(5),
            tie_share: 0.1,
        })
    };
    std::thread::sleep(Duration::from_secs(3));
    peers::stop("s3");
    std::thread::sleep(Duration::from_secs(10));
    let env = peers::ensure("s3");
    std::thread::sleep(Duration::from_secs(3));
    live.abort();
    let inserted: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    let objects = wait_for(&rt, &s3, &bucket, &inserted, Duration::from_secs(120));
    child.kill().unwrap();
    child.wait().unwrap();
    let got = ids(&objects);
    let missing: Vec<_> = inserted.difference(&got).collect();
    let log = std::fs::read_to_string(dir.path().join("run.log")).unwrap_or_default();
    assert!(
        missing.is_empty(),
        "{} of {} lost\nlog:\n{log}",
        missing.len(),
        inserted.len()
    );
    assert!(log.contains("retrying"), "the outage was noticed:\n{log}");
    drop(env);
}

#[test]
fn wrong_credentials_are_one_clear_error_without_the_secret() {
    let _shared = SERVER.read().unwrap_or_else(|e| e.into_inner());
    let Peer {
        env,
        rt,
        s3,
        bucket,
    } = Peer::new();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(
        20,
        Duration::from_secs(600),
        Utc::now() - TimeDelta::minutes(5),
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sim.url(), &env, &bucket);
    let mut bad = env.clone();
    bad.insert(
        "AWS_SECRET_ACCESS_KEY".into(),
        "Wrong-Secret-9f8e7d6c5b4a".into(),
    );
    let mut child = spawn_run(&cfg, &bad);
    let end = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > end {
            child.kill().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = std::fs::read_to_string(dir.path().join("run.log")).unwrap_or_default();
    let status = status.unwrap_or_else(|| panic!("still running after 60 s:\n{log}"));
    assert!(!status.success());
    assert!(
        log.contains("credentials") && log.contains("SignatureDoesNotMatch"),
        "{log}"
    );
    assert!(!log.contains("Wrong-Secret"), "{log}");
    assert!(rt.block_on(read_bucket(&s3, &bucket)).is_empty());
}

#[test]
fn validate_reaches_the_bucket_and_names_bad_credentials() {
    let _shared = SERVER.read().unwrap_or_else(|e| e.into_inner());
    let Peer {
        env, bucket, rt, ..
    } = Peer::new();
    let sim = rt.block_on(common::unlimited_sim());
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sim.url(), &env, &bucket);
    let validate = |secret: &str| {
        let mut c = Command::new(BIN);
        c.args(["validate", "--config", cfg.to_str().unwrap()])
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ACCESS_KEY_ID", &env["AWS_ACCESS_KEY_ID"])
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_REGION", &env["AWS_REGION"]);
        let o = c.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        (o.status.success(), text)
    };
    let (ok, text) = validate(&env["AWS_SECRET_ACCESS_KEY"]);
    assert!(ok && text.contains("sink lake: reachable"), "{text}");
    let (ok, text) = validate("Wrong-Secret-0a1b2c3d");
    assert!(
        !ok && text.contains("NOT reachable") && text.contains("credentials"),
        "{text}"
    );
    assert!(!text.contains("Wrong-Secret"), "{text}");
}
