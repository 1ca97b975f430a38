//! The Security Lake sink end to end: the Coder simulator (audit and connection logs) →
//! `coder-audit-shipper run` → a real S3 server that verifies SigV4 (s3s-fs, started by
//! `tests/peers/start-s3.sh`), read back as Security Lake's readers would: pyarrow for
//! every file, DuckDB for the prefix as one table (`tests/lake/check.py`, in a venv from
//! `scripts/lake-check-venv.sh`), and OCSF 1.1.0's JSON Schemas for every row.
//!
//! The truth is a file sink in the same run with the same encoding: the lake must hold
//! exactly its events, each once.
#![cfg(feature = "security_lake")]

mod common;
#[path = "common/entries.rs"]
mod entries;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use chrono::{TimeDelta, TimeZone, Utc};
use coder_sim::SimConfig;
use common::s3::{client, new_bucket};
use common::{delivered, peers, scrape};
use serde_json::Value;

const ACCOUNT: &str = "123456789012";

/// Class name → custom source name, for every class the shipper emits.
const SOURCES: [(&str, u32, &str); 7] = [
    ("account_change", 3001, "coder-account-change"),
    ("authentication", 3002, "coder-authentication"),
    ("user_access", 3005, "coder-user-access"),
    ("group_management", 3006, "coder-group-management"),
    ("api_activity", 6003, "coder-api-activity"),
    ("network_activity", 4001, "coder-network-activity"),
    ("ssh_activity", 4007, "coder-ssh-activity"),
];

fn config(
    dir: &Path,
    url: &str,
    env: &HashMap<String, String>,
    bucket: &str,
    max_age: &str,
) -> PathBuf {
    let cfg = dir.join("shipper.toml");
    let sources: String = SOURCES
        .iter()
        .map(|(class, _, source)| format!("{class} = \"{source}\"\n"))
        .collect();
    let text = format!(
        "{server}[coder]\nurl = \"{url}\"\ntoken = \"{token}\"\nstart_at = \"beginning\"\n\
         streams = [\"audit\", \"connection\"]\npoll_interval = \"300ms\"\noverlap = \"1m\"\n\
         max_requests_per_minute = 0\n[checkpoint]\ndir = \"{state}\"\n\
         [sinks.truth]\ntype = \"file\"\npath = \"{truth}\"\nformat = \"ocsf\"\n\
         ocsf_version = \"1.1.0\"\n\
         [sinks.lake]\ntype = \"security_lake\"\nformat = \"ocsf\"\nocsf_version = \"1.1.0\"\n\
         bucket = \"{bucket}\"\nregion = \"{region}\"\naccount_id = \"{ACCOUNT}\"\n\
         endpoint = \"{endpoint}\"\nforce_path_style = true\nmax_age = \"{max_age}\"\n\
         allow_short_max_age = true\n[sinks.lake.sources]\n{sources}",
        server = scrape::SERVER,
        token = SimConfig::DEFAULT_TOKEN,
        state = dir.join("state").display(),
        truth = dir.join("truth.ndjson").display(),
        region = env["AWS_REGION"],
        endpoint = env["S3_ENDPOINT"],
    );
    std::fs::write(&cfg, text).unwrap();
    cfg
}

/// The venv with pyarrow, DuckDB and jsonschema, and the OCSF JSON Schemas (both made
/// once per target directory; a missing registry fails the test, never skips it).
fn checker() -> (PathBuf, PathBuf) {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (script, dir) in [
        ("scripts/conformance-schemas.sh", tmp.join("conformance")),
        ("scripts/lake-check-venv.sh", tmp.join("lake-check")),
    ] {
        let status = Command::new("bash")
            .arg(root.join(script))
            .arg(&dir)
            .status()
            .unwrap_or_else(|e| panic!("{script}: {e}"));
        assert!(
            status.success(),
            "{script} failed: it needs python3 and PyPI"
        );
    }
    (
        tmp.join("lake-check/venv/bin/python"),
        tmp.join("conformance"),
    )
}

/// Every object of the bucket written under `into` at its key, with its last-modified time.
fn download(
    rt: &tokio::runtime::Runtime,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    into: &Path,
) -> Vec<(String, SystemTime)> {
    rt.block_on(async {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = s3
                .list_objects_v2()
                .bucket(bucket)
                .set_continuation_token(token.clone())
                .send()
                .await
                .expect("list the bucket");
            for o in page.contents() {
                let key = o.key().unwrap().to_owned();
                let body = s3
                    .get_object()
                    .bucket(bucket)
                    .key(&key)
                    .send()
                    .await
                    .unwrap();
                let bytes = body.body.collect().await.unwrap().into_bytes();
                let path = into.join(&key);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &bytes).unwrap();
                let modified = o
                    .last_modified()
                    .and_then(|t| SystemTime::try_from(*t).ok())
                    .expect("a last-modified time");
                out.push((key, modified));
            }
            token = page.next_continuation_token().map(str::to_owned);
            if token.is_none() {
                return out;
            }
        }
    })
}

/// `v` without nulls, keys sorted: how two events compare whatever the reader.
fn canonical(v: &Value) -> String {
    fn strip(v: &Value) -> Option<Value> {
        match v {
            Value::Null => None,
            Value::Array(items) => Some(Value::Array(items.iter().filter_map(strip).collect())),
            Value::Object(m) => Some(Value::Object(
                m.iter()
                    .filter_map(|(k, v)| strip(v).map(|v| (k.clone(), v)))
                    .collect::<BTreeMap<_, _>>()
                    .into_iter()
                    .collect(),
            )),
            other => Some(other.clone()),
        }
    }
    let stripped = strip(v).unwrap_or(Value::Null);
    // serde_json writes maps in key order without `preserve_order`; sort explicitly anyway.
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                let sorted: BTreeMap<_, _> = m.iter().collect();
                out.push('{');
                for (i, (k, v)) in sorted.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(v, out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(v, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(&stripped, &mut out);
    out
}

fn counts<'a>(events: impl Iterator<Item = &'a String>) -> HashMap<&'a String, usize> {
    let mut c = HashMap::new();
    for e in events {
        *c.entry(e).or_default() += 1;
    }
    c
}

fn day_of(event: &Value) -> String {
    let ms = event["time"].as_i64().expect("an OCSF time");
    Utc.timestamp_millis_opt(ms)
        .single()
        .expect("a valid time")
        .format("%Y%m%d")
        .to_string()
}

#[test]
fn every_event_lands_once_as_parquet_in_its_class_source_and_day() {
    let env = peers::s3();
    let rt = common::runtime();
    let s3 = rt.block_on(client(&env));
    let bucket = rt.block_on(new_bucket(&s3));
    let sim = rt.block_on(common::unlimited_sim());
    let end = Utc::now() - TimeDelta::minutes(5);
    sim.backlog(1_500, Duration::from_secs(3 * 86_400), end);
    sim.connection_backlog(150, 5, Duration::from_secs(3 * 86_400), end);
    let dir = tempfile::tempdir().unwrap();
    let max_age = Duration::from_secs(4);
    let cfg = config(dir.path(), &sim.url(), &env, &bucket, "4s");
    let mut child = common::s3::run_command(&cfg, &env).spawn().unwrap();
    // Live rows too, so partitions get more than one object, each at least max_age apart.
    let live = common::spawn_live(&rt, &sim, 5.0);
    std::thread::sleep(Duration::from_secs(14));
    live.abort();
    let truth_path = dir.path().join("truth.ndjson");
    let inserted: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    let address = scrape::metrics_address(&cfg).expect("the listener's address");
    // Both sinks confirmed the same events (the shared reader hands them the same groups),
    // and the truth has every row Coder holds.
    let sent = |metrics: &str, sink: &str| -> f64 {
        let sink = format!("component_id=\"{sink}\"");
        ["audit", "connection"]
            .iter()
            .filter_map(|s| {
                let stream = format!("stream=\"{s}\"");
                scrape::metric(metrics, "component_sent_events_total", &[&sink, &stream])
            })
            .sum()
    };
    let caught_up = common::wait_until(Duration::from_secs(90), || {
        let have: HashSet<String> = delivered::file(&truth_path).into_iter().collect();
        let metrics = scrape::http_get(&address, "/metrics").unwrap_or_default();
        let truth = sent(&metrics, "truth");
        have.is_superset(&inserted) && truth > 0.0 && sent(&metrics, "lake") == truth
    });
    let stopping = SystemTime::now();
    let status = common::stop_gracefully(&mut child);
    let log = common::run_log(&cfg);
    assert!(caught_up, "the lake did not catch up with the truth\n{log}");
    assert!(status.success(), "{status}\n{log}");

    let lake_dir = tempfile::tempdir().unwrap();
    let objects = download(&rt, &s3, &bucket, lake_dir.path());
    let (python, schemas) = checker();
    let out = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lake/check.py"))
        .arg(lake_dir.path())
        .arg(&schemas)
        .output()
        .expect("run tests/lake/check.py");
    assert!(
        out.status.success(),
        "check.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("check.py prints JSON");

    // Each file: one class, under its class's source, region, account and the rows' day,
    // sorted by time, every row valid OCSF 1.1.0, zstd.
    let source_of: HashMap<u32, &str> = SOURCES.iter().map(|(_, uid, s)| (*uid, *s)).collect();
    let mut lake_events = Vec::new();
    let report_objects = report["objects"].as_array().unwrap();
    assert_eq!(
        report_objects.len(),
        objects.len(),
        "every object is Parquet"
    );
    for object in report_objects {
        let key = object["key"].as_str().unwrap();
        let rows = object["rows"].as_array().unwrap();
        assert!(!rows.is_empty(), "{key} is empty");
        let classes: HashSet<u64> = rows
            .iter()
            .map(|r| r["class_uid"].as_u64().unwrap())
            .collect();
        assert_eq!(classes.len(), 1, "{key} holds classes {classes:?}");
        let class = *classes.iter().next().unwrap() as u32;
        let days: HashSet<String> = rows.iter().map(day_of).collect();
        assert_eq!(days.len(), 1, "{key} holds days {days:?}");
        let prefix = format!(
            "ext/{}/region={}/accountId={ACCOUNT}/eventDay={}/",
            source_of[&class],
            env["AWS_REGION"],
            days.iter().next().unwrap()
        );
        assert!(key.starts_with(&prefix), "{key} is not under {prefix}");
        let times: Vec<i64> = rows.iter().map(|r| r["time"].as_i64().unwrap()).collect();
        assert!(times.is_sorted(), "{key}: rows are not sorted by time");
        assert_eq!(
            object["invalid"],
            Value::Array(vec![]),
            "{key}: invalid OCSF 1.1.0 rows"
        );
        assert_eq!(object["codec"], "ZSTD", "{key}");
        lake_events.extend(rows.iter().map(canonical));
    }
    for (source, n) in report["schemas_per_source"].as_object().unwrap() {
        assert_eq!(n, 1, "{source}: files of one source with different schemas");
    }

    // Exactly the truth's events, each as often (duplicates counted, not hidden by sets).
    let truth_text = std::fs::read_to_string(&truth_path).unwrap();
    let truth_docs: Vec<Value> = truth_text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let truth: Vec<String> = truth_docs.iter().map(canonical).collect();
    let (want, got) = (counts(truth.iter()), counts(lake_events.iter()));
    let missing = want.iter().filter(|(e, n)| got.get(*e) != Some(n)).count();
    let extra = got.iter().filter(|(e, _)| !want.contains_key(*e)).count();
    assert_eq!(
        (missing, extra, lake_events.len()),
        (0, 0, truth.len()),
        "the lake differs from the truth\n{log}"
    );
    let classes: HashSet<u64> = truth_docs
        .iter()
        .map(|d| d["class_uid"].as_u64().unwrap())
        .collect();
    assert!(
        classes.len() >= 5,
        "too few classes to mean much: {classes:?}"
    );

    // DuckDB over the whole prefix: counts by class and day match the truth.
    let mut want_counts: BTreeMap<(u64, String), u64> = BTreeMap::new();
    for d in &truth_docs {
        *want_counts
            .entry((d["class_uid"].as_u64().unwrap(), day_of(d)))
            .or_default() += 1;
    }
    let got_counts: BTreeMap<(u64, String), u64> = report["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["accountId"], ACCOUNT);
            assert_eq!(c["region"], env["AWS_REGION"].as_str());
            (
                (
                    c["class_uid"].as_u64().unwrap(),
                    c["eventDay"].as_str().unwrap().to_owned(),
                ),
                c["n"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got_counts, want_counts);

    // No partition got objects from one log closer together than max_age, but at
    // shutdown. (The audit and connection logs are read and batched apart, so SSH and
    // Network Activity partitions may get one object from each per max_age.)
    let log_of: HashMap<&str, &str> = report_objects
        .iter()
        .map(|o| {
            let log = o["rows"][0]["metadata"]["log_name"].as_str().unwrap();
            (o["key"].as_str().unwrap(), log)
        })
        .collect();
    let mut by_partition: BTreeMap<(String, &str), Vec<SystemTime>> = BTreeMap::new();
    for (key, modified) in &objects {
        let partition = key.rsplit_once('/').unwrap().0.to_owned();
        by_partition
            .entry((partition, log_of[key.as_str()]))
            .or_default()
            .push(*modified);
    }
    assert!(
        by_partition.values().any(|t| t.len() >= 2),
        "live traffic gave no partition a second object: the floor was not tried"
    );
    let floor = max_age - Duration::from_millis(1_000); // the store's clock resolution
    for (partition, mut times) in by_partition {
        times.sort();
        for pair in times.windows(2) {
            if pair[1] + Duration::from_millis(500) >= stopping {
                continue; // written by the shutdown's flush
            }
            let gap = pair[1].duration_since(pair[0]).unwrap_or_default();
            assert!(gap >= floor, "{partition:?}: objects {gap:?} apart");
        }
    }
}

/// `validate`: every source's prefix is written to (and cleaned up), bad keys are named
/// without the secret, a class with no source and any encoding but OCSF 1.1.0 are refused
/// naming the key.
#[test]
fn validate_writes_under_every_source_and_names_what_is_missing() {
    let env = peers::s3();
    let rt = common::runtime();
    let s3 = rt.block_on(client(&env));
    let bucket = rt.block_on(new_bucket(&s3));
    let sim = rt.block_on(common::unlimited_sim());
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &sim.url(), &env, &bucket, "5m");
    let validate = |cfg: &Path, secret: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_coder-audit-shipper"))
            .args(["validate", "--config", cfg.to_str().unwrap()])
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ACCESS_KEY_ID", &env["AWS_ACCESS_KEY_ID"])
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_REGION", &env["AWS_REGION"])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        (o.status.success(), text)
    };
    let (ok, text) = validate(&cfg, &env["AWS_SECRET_ACCESS_KEY"]);
    assert!(ok && text.contains("sink lake: reachable"), "{text}");
    let left = download(&rt, &s3, &bucket, dir.path());
    assert!(left.is_empty(), "validate left objects behind: {left:?}");
    let (ok, text) = validate(&cfg, "Wrong-Secret-0a1b2c3d");
    assert!(!ok && text.contains("sink lake: NOT reachable"), "{text}");
    assert!(!text.contains("Wrong-Secret"), "{text}");

    // Without a source for SSH Activity, which both logs may carry.
    let text = std::fs::read_to_string(&cfg).unwrap();
    let without_ssh = dir.path().join("without-ssh.toml");
    std::fs::write(
        &without_ssh,
        text.replace("ssh_activity = \"coder-ssh-activity\"\n", ""),
    )
    .unwrap();
    let (ok, out) = validate(&without_ssh, &env["AWS_SECRET_ACCESS_KEY"]);
    assert!(
        !ok && out.contains("no custom source for ssh_activity (4007)"),
        "{out}"
    );
    // ... unless the operator chose to dead-letter them.
    std::fs::write(
        &without_ssh,
        text.replace("ssh_activity = \"coder-ssh-activity\"\n", "")
            .replace(
                "allow_short_max_age = true\n",
                "allow_short_max_age = true\nunmapped_class = \"skip\"\n",
            ),
    )
    .unwrap();
    let (ok, out) = validate(&without_ssh, &env["AWS_SECRET_ACCESS_KEY"]);
    assert!(ok && out.contains("sink lake: reachable"), "{out}");

    let ocsf_18 = dir.path().join("ocsf-1.8.toml");
    std::fs::write(
        &ocsf_18,
        text.replacen(
            "type = \"security_lake\"\nformat = \"ocsf\"\nocsf_version = \"1.1.0\"",
            "type = \"security_lake\"\nformat = \"ocsf\"",
            1,
        ),
    )
    .unwrap();
    let (ok, out) = validate(&ocsf_18, &env["AWS_SECRET_ACCESS_KEY"]);
    assert!(
        !ok && out.contains("sinks.lake.format") && out.contains("ocsf_version = \"1.1.0\""),
        "{out}"
    );
}

/// kill -9 while a file goes up as a multipart upload: S3 shows an object only once its
/// upload completes ("Uploading and copying objects using multipart upload", Amazon S3
/// user guide), so nothing partial is visible; the next run writes it whole, once.
#[test]
fn a_kill_9_during_a_multipart_upload_leaves_no_partial_object_and_loses_nothing() {
    use rand::Rng;

    let env = peers::s3();
    let rt = common::runtime();
    let s3 = rt.block_on(client(&env));
    let bucket = rt.block_on(new_bucket(&s3));
    let sim = rt.block_on(common::unlimited_sim());
    // 40 template writes with 300 KB of random hex each: a Parquet file of several MiB,
    // above the 5 MiB multipart threshold, whatever zstd makes of it.
    let mut rng = rand::rng();
    let start = Utc::now() - TimeDelta::minutes(30);
    let mut ids = HashSet::new();
    for i in 0..40 {
        let mut entry = entries::generated("template", "write", i);
        let id = uuid::Uuid::new_v4().to_string();
        let noise: String = (0..300_000)
            .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap())
            .collect();
        entry["id"] = Value::String(id.clone());
        entry["time"] = Value::String(
            (start + TimeDelta::seconds(i as i64))
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        );
        entry["diff"] = serde_json::json!({"source": {"old": "", "new": noise, "secret": false}});
        assert!(sim.insert_entry(&entry));
        ids.insert(id);
    }
    // Short names: s3s-fs keeps a multipart upload's metadata in a file named from
    // base64(bucket), base64(key) and the upload id, which passes Linux's 255 bytes for a
    // key as long as a Security Lake partition's (S3 itself takes 1,024-byte keys).
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("shipper.toml");
    std::fs::write(
        &cfg,
        format!(
            "{server}[coder]\nurl = \"{url}\"\ntoken = \"{token}\"\nstart_at = \"beginning\"\n\
             poll_interval = \"300ms\"\nmax_requests_per_minute = 0\n\
             [checkpoint]\ndir = \"{state}\"\n\
             [sinks.l]\ntype = \"security_lake\"\nformat = \"ocsf\"\nocsf_version = \"1.1.0\"\n\
             bucket = \"{bucket}\"\nregion = \"{region}\"\naccount_id = \"1\"\n\
             endpoint = \"{endpoint}\"\nforce_path_style = true\nmax_age = \"1s\"\n\
             allow_short_max_age = true\nmultipart_threshold = \"5MiB\"\n\
             unmapped_class = \"skip\"\n[sinks.l.sources]\napi_activity = \"a\"\n",
            server = scrape::SERVER,
            url = sim.url(),
            token = SimConfig::DEFAULT_TOKEN,
            state = dir.path().join("state").display(),
            region = env["AWS_REGION"],
            endpoint = env["S3_ENDPOINT"],
        ),
    )
    .unwrap();

    // s3s-fs 0.14.1 answers ListMultipartUploads with 501 NotImplemented; an upload under
    // way is the record it keeps in its data directory from CreateMultipartUpload to
    // CompleteMultipartUpload (`.upload-{id}.json`, s3s-fs src/fs.rs).
    let data = peers::run_dir().join("s3-data");
    let uploads = || -> HashSet<String> {
        std::fs::read_dir(&data)
            .unwrap_or_else(|e| panic!("the S3 peer's data directory {}: {e}", data.display()))
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with(".upload-") && n.ends_with(".json"))
            .collect()
    };
    let before = uploads();
    let mut child = common::s3::run_command(&cfg, &env).spawn().unwrap();
    // Polled every 5 ms: a local upload of a few MiB takes tens of milliseconds.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let in_flight = loop {
        if !uploads().is_subset(&before) {
            break true;
        }
        if std::time::Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    child.kill().unwrap(); // SIGKILL, mid-upload
    child.wait().unwrap();
    let log = common::run_log(&cfg);
    assert!(in_flight, "no multipart upload was seen\n{log}");
    let visible = rt.block_on(common::s3::read_objects(&s3, &bucket));
    let parquet: Vec<&String> = visible
        .iter()
        .map(|(k, _)| k)
        .filter(|k| k.ends_with(".parquet"))
        .collect();
    assert!(
        parquet.is_empty(),
        "visible before the upload completed: {parquet:?}"
    );

    let _ = std::fs::rename(
        cfg.with_file_name("run.log"),
        cfg.with_file_name("run-1.log"),
    );
    let mut child = common::s3::run_command(&cfg, &env).spawn().unwrap();
    let whole = common::wait_until(Duration::from_secs(120), || {
        let (got, _) = delivered::distinct(&delivered::lake(&rt, &env, &bucket));
        got.is_superset(&ids)
    });
    let status = common::stop_gracefully(&mut child);
    let log = common::run_log(&cfg);
    assert!(whole && status.success(), "{status}\n{log}");
    let (got, duplicates) = delivered::distinct(&delivered::lake(&rt, &env, &bucket));
    assert_eq!(got, ids);
    assert_eq!(duplicates, 0, "{log}");
}
