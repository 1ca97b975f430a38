//! The Kafka sink end to end: the Coder simulator → `coder-audit-shipper run` → a real
//! Kafka-protocol broker (Tansu, started by `tests/peers/start-kafka.sh`) → a consumer.
#![cfg(feature = "kafka")]

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use common::peers;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_coder-audit-shipper");

/// The outage test stops the broker: it runs alone, the others share it.
static BROKER: RwLock<()> = RwLock::new(());

/// The config with one Kafka sink, `stream`, and `extra` lines in its table.
fn write_config(dir: &Path, url: &str, bootstrap: &str, topic: &str, extra: &str) -> PathBuf {
    common::shipper_config(
        dir,
        url,
        200,
        &format!(
            r#"[sinks.stream]
type = "kafka"
brokers = "{bootstrap}"
topic = "{topic}"
format = "ocsf"
compression = "zstd"
message_timeout = "5s"
{extra}"#
        ),
    )
}

/// One consumed message.
#[derive(Debug, Clone)]
struct Consumed {
    topic: String,
    partition: i32,
    key: String,
    headers: HashMap<String, String>,
    /// The message timestamp, epoch milliseconds.
    timestamp: Option<i64>,
    event: Value,
}

/// Reads every partition of every topic starting with `prefix`, from the beginning, with
/// `assign` (no consumer group: Tansu's group join takes seconds).
struct Reader {
    consumer: BaseConsumer,
    prefix: String,
    assigned: HashSet<(String, i32)>,
}

impl Reader {
    fn new(bootstrap: &str, prefix: &str) -> Self {
        Self::with(bootstrap, prefix, &[])
    }

    fn with(bootstrap: &str, prefix: &str, extra: &[(&str, &str)]) -> Self {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", bootstrap)
            .set("group.id", common::unique("reader"))
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest");
        for (k, v) in extra {
            config.set(*k, *v);
        }
        let consumer: BaseConsumer = config.create().unwrap();
        Reader {
            consumer,
            prefix: prefix.to_owned(),
            assigned: HashSet::new(),
        }
    }

    /// Assign partitions of topics that appeared since the last call.
    fn refresh(&mut self) {
        let Ok(md) = self.consumer.fetch_metadata(None, Duration::from_secs(5)) else {
            return;
        };
        let mut grew = false;
        for t in md.topics() {
            if t.name().starts_with(&self.prefix) {
                for p in t.partitions() {
                    grew |= self.assigned.insert((t.name().to_owned(), p.id()));
                }
            }
        }
        if grew {
            let mut tpl = TopicPartitionList::new();
            for (t, p) in &self.assigned {
                tpl.add_partition_offset(t, *p, Offset::Beginning).unwrap();
            }
            self.consumer.assign(&tpl).unwrap();
        }
    }

    /// Read until `done` says so or the deadline passes.
    fn read_until(
        &mut self,
        deadline: Duration,
        mut done: impl FnMut(&[Consumed]) -> bool,
    ) -> Vec<Consumed> {
        let end = Instant::now() + deadline;
        let mut out = Vec::new();
        let mut last_refresh = Instant::now() - Duration::from_secs(10);
        while Instant::now() < end && !done(&out) {
            if last_refresh.elapsed() > Duration::from_secs(1) {
                self.refresh();
                last_refresh = Instant::now();
            }
            if self.assigned.is_empty() {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            if let Some(Ok(m)) = self.consumer.poll(Duration::from_millis(200)) {
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| {
                                (
                                    h.key.to_owned(),
                                    String::from_utf8_lossy(h.value.unwrap_or_default())
                                        .into_owned(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(Consumed {
                    topic: m.topic().to_owned(),
                    partition: m.partition(),
                    key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                    headers,
                    timestamp: m.timestamp().to_millis(),
                    event: serde_json::from_slice(m.payload().unwrap_or_default()).unwrap(),
                });
            }
        }
        out
    }
}

fn audit_id(event: &Value) -> String {
    let uid = event["metadata"]["uid"].as_str().unwrap();
    uid.split(':').next().unwrap().to_owned()
}

fn ids(consumed: &[Consumed]) -> HashSet<String> {
    consumed.iter().map(|c| audit_id(&c.event)).collect()
}

/// Messages past the first for each audit id in `of`: a set would hide them.
fn duplicates(consumed: &[Consumed], of: &HashSet<String>) -> usize {
    let mut seen = HashSet::new();
    consumed
        .iter()
        .map(|c| audit_id(&c.event))
        .filter(|id| of.contains(id) && !seen.insert(id.clone()))
        .count()
}

#[test]
fn every_event_arrives_keyed_by_audit_id_with_headers_on_its_resource_topic() {
    let _shared = BROKER.read().unwrap_or_else(|e| e.into_inner());
    let bootstrap = peers::kafka();
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(
        1_000,
        Duration::from_secs(3 * 86_400),
        Utc::now() - TimeDelta::minutes(5),
    );
    let inserted: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    let prefix = common::unique("cas");
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &sim.url(),
        &bootstrap,
        &format!("{prefix}-{{resource_type}}"),
        "",
    );
    let mut child = common::spawn_run(&cfg);

    let mut reader = Reader::new(&bootstrap, &prefix);
    let consumed = reader.read_until(Duration::from_secs(120), |c| ids(c).len() >= inserted.len());
    child.kill().unwrap();
    child.wait().unwrap();
    let log = std::fs::read_to_string(dir.path().join("run.log")).unwrap_or_default();

    assert_eq!(ids(&consumed), inserted, "log:\n{log}");
    assert_eq!(
        duplicates(&consumed, &inserted),
        0,
        "a healthy broker gets each event once"
    );
    let mut partition_of: HashMap<String, (String, i32)> = HashMap::new();
    for c in &consumed {
        let id = audit_id(&c.event);
        assert_eq!(c.key, id, "the message key is the audit id");
        assert_eq!(c.headers["content-type"], "application/json");
        assert_eq!(c.headers["coder-audit-format"], "ocsf");
        assert_eq!(c.headers["coder-audit-schema"], "ocsf 1.8.0");
        let rt = c.event["unmapped"]["coder"]["resource_type"]
            .as_str()
            .unwrap();
        assert_eq!(c.topic, format!("{prefix}-{rt}"));
        // Same key, same partition: every event of one entry lands together, in order.
        let place = (c.topic.clone(), c.partition);
        assert_eq!(
            partition_of.entry(id).or_insert_with(|| place.clone()),
            &place
        );
    }
}

/// Old events (a backfill of last month) stamped with the produce time by default, so
/// the topic's time retention counts from delivery; with `timestamp = "event"`, with their
/// own time. The event time is in `coder-audit-event-time` either way.
#[test]
fn old_events_carry_the_produce_time_unless_the_event_time_is_asked_for() {
    let _shared = BROKER.read().unwrap_or_else(|e| e.into_inner());
    let bootstrap = peers::kafka();
    let rt = common::runtime();
    for (setting, event_time) in [("", false), ("timestamp = \"event\"", true)] {
        let sim = rt.block_on(common::unlimited_sim());
        sim.backlog(
            50,
            Duration::from_secs(86_400),
            Utc::now() - TimeDelta::days(30),
        );
        let times: HashMap<String, i64> = sim
            .inserted()
            .into_iter()
            .map(|(id, t)| (id, t.timestamp_millis()))
            .collect();
        let topic = common::unique("cas-time");
        let dir = tempfile::tempdir().unwrap();
        let cfg = write_config(dir.path(), &sim.url(), &bootstrap, &topic, setting);
        let started = Utc::now().timestamp_millis();
        let mut child = common::spawn_run(&cfg);
        let mut reader = Reader::new(&bootstrap, &topic);
        let consumed = reader.read_until(Duration::from_secs(120), |c| ids(c).len() >= times.len());
        child.kill().unwrap();
        child.wait().unwrap();
        let log = std::fs::read_to_string(dir.path().join("run.log")).unwrap_or_default();
        assert_eq!(
            ids(&consumed).len(),
            times.len(),
            "{setting:?}, log:\n{log}"
        );
        for c in &consumed {
            let want = times[&audit_id(&c.event)];
            assert_eq!(
                c.headers["coder-audit-event-time"],
                want.to_string(),
                "{setting:?}"
            );
            let ts = c.timestamp.expect("a message timestamp");
            if event_time {
                assert_eq!(ts, want, "{setting:?}");
            } else {
                assert!(ts >= started - 1_000, "{setting:?}: {ts} is before the run");
            }
        }
    }
}

#[test]
fn a_broker_down_for_20_seconds_loses_nothing() {
    let _alone = BROKER.write().unwrap_or_else(|e| e.into_inner());
    let bootstrap = peers::kafka();
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(
        300,
        Duration::from_secs(3_600),
        Utc::now() - TimeDelta::minutes(5),
    );
    let before: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    let topic = common::unique("cas-outage");
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sim.url(), &bootstrap, &topic, "");
    let mut child = common::spawn_run(&cfg);

    // Phase 1: the backlog arrives.
    let mut reader = Reader::new(&bootstrap, &topic);
    let first = reader.read_until(Duration::from_secs(90), |c| ids(c).len() >= before.len());
    assert_eq!(ids(&first), before);
    assert_eq!(duplicates(&first, &before), 0);
    drop(reader);

    // Phase 2: the broker dies; Coder goes on recording for the 20 s it is away. (Tansu
    // keeps topics in memory, so what it held is gone with it: the check is on what Coder
    // recorded while the broker was down, none of which the old broker ever saw.)
    let mut stopped_at = Utc::now();
    let mut back_at = Utc::now();
    let during = common::recorded_during_outage(
        &rt,
        &sim,
        Duration::from_secs(20),
        || {
            stopped_at = Utc::now();
            peers::stop("kafka");
        },
        || {
            peers::ensure("kafka");
            back_at = Utc::now();
        },
    );
    assert!(during.len() >= 300, "only {} live rows", during.len());

    let mut reader = Reader::new(&bootstrap, &topic);
    let second = reader.read_until(Duration::from_secs(120), |c| ids(c).is_superset(&during));
    child.kill().unwrap();
    child.wait().unwrap();
    let got = ids(&second);
    let missing: Vec<_> = during.difference(&got).collect();
    // Resent are only the records whose delivery failed; none of these reached the old
    // broker, so a copy would come from a record timed out in flight and written anyway
    // (possible, librdkafka's INTRODUCTION.md says): counted and shown, not hidden.
    let copies = duplicates(&second, &during);
    eprintln!(
        "{copies} duplicate(s) among {} events recorded during the outage",
        during.len()
    );
    assert!(
        copies <= during.len() / 20,
        "{copies} duplicates among {} events",
        during.len()
    );
    let log = std::fs::read_to_string(dir.path().join("run.log")).unwrap_or_default();
    if !missing.is_empty() {
        // Say where each missing event went: its row (when Coder stamped it), whether the
        // shipper dead-lettered it, and the shipper's own warnings (librdkafka's connection
        // errors left out).
        let rows: Vec<_> = sim
            .inserted()
            .into_iter()
            .filter(|(id, _)| missing.contains(&id))
            .collect();
        let dead = std::fs::read_to_string(dir.path().join("state/dead-letter/stream.ndjson"))
            .unwrap_or_default();
        let ours: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("coder_audit_shipper") && !l.contains(" INFO "))
            .collect();
        panic!(
            "{} of {} lost: {rows:?}\nbroker stopped at {stopped_at}, back at {back_at}\n\
             dead letters:\n{dead}\nshipper warnings:\n{}",
            missing.len(),
            during.len(),
            ours.join("\n")
        );
    }
    assert!(
        log.contains("retrying"),
        "the outage was noticed and retried:\n{log}"
    );
}

#[test]
fn a_message_too_large_for_the_broker_is_dead_lettered_and_the_stream_goes_on() {
    let _shared = BROKER.read().unwrap_or_else(|e| e.into_inner());
    let bootstrap = peers::kafka();
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    let t = Utc::now() - TimeDelta::minutes(30);
    sim.backlog(50, Duration::from_secs(600), t);
    let mut huge = serde_json::json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "request_id": uuid::Uuid::new_v4().to_string(),
        "time": (t - TimeDelta::minutes(20)).to_rfc3339(),
        "ip": "10.0.0.1", "user_agent": "x", "resource_type": "template", "resource_id": uuid::Uuid::new_v4().to_string(),
        "resource_target": "big", "resource_icon": "", "action": "write", "status_code": 200,
        "additional_fields": {}, "description": "{user} updated template {target}", "resource_link": "",
        "is_deleted": false, "organization_id": uuid::Uuid::new_v4().to_string(), "user": null
    });
    huge["diff"] =
        serde_json::json!({"source": {"old": "", "new": "x".repeat(200_000), "secret": false}});
    assert!(sim.insert_entry(&huge));
    let inserted: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    let huge_id = huge["id"].as_str().unwrap().to_owned();

    let topic = common::unique("cas-large");
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &sim.url(),
        &bootstrap,
        &topic,
        "[sinks.stream.librdkafka]\n\"message.max.bytes\" = \"100000\"\n",
    );
    let mut child = common::spawn_run(&cfg);
    let mut reader = Reader::new(&bootstrap, &topic);
    let want = inserted.len() - 1;
    let consumed = reader.read_until(Duration::from_secs(90), |c| ids(c).len() >= want);
    let dead_file = dir.path().join("state/dead-letter/stream.ndjson");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !dead_file.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let got = ids(&consumed);
    assert!(!got.contains(&huge_id));
    assert_eq!(got.len(), want, "every other event arrived");
    let dead: Vec<Value> = std::fs::read_to_string(&dead_file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(dead.iter().any(|d| d["id"] == huge_id.as_str()), "{dead:?}");
    assert!(
        dead[0]["reason"].as_str().unwrap().contains("too large"),
        "{dead:?}"
    );
}

#[test]
fn validate_reaches_the_brokers_or_says_it_cannot() {
    let _shared = BROKER.read().unwrap_or_else(|e| e.into_inner());
    let bootstrap = peers::kafka();
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    let dir = tempfile::tempdir().unwrap();
    let validate = |brokers: &str| {
        let cfg = write_config(dir.path(), &sim.url(), brokers, "coder-audit", "");
        let o = Command::new(BIN)
            .args(["validate", "--config", cfg.to_str().unwrap()])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        (o.status.success(), text)
    };
    let (ok, text) = validate(&bootstrap);
    assert!(ok && text.contains("sink stream: reachable"), "{text}");
    let (ok, text) = validate("127.0.0.1:1");
    assert!(!ok && text.contains("sink stream: NOT reachable"), "{text}");
}

#[test]
fn tls_settings_pass_through_to_librdkafka() {
    // The broker is reachable only through TLS (socat in front of Tansu, whose own TLS
    // listener does not work): the sink must verify it with the configured CA.
    let (bootstrap, ca) = peers::kafka_tls();
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(
        200,
        Duration::from_secs(3_600),
        Utc::now() - TimeDelta::minutes(5),
    );
    let inserted: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    let topic = common::unique("cas-tls");
    let dir = tempfile::tempdir().unwrap();
    let tls = format!(
        "[sinks.stream.librdkafka]\n\"security.protocol\" = \"SSL\"\n\"ssl.ca.location\" = \"{ca}\"\n"
    );
    let cfg = write_config(dir.path(), &sim.url(), &bootstrap, &topic, &tls);

    // Without the CA the broker's certificate is not trusted: validate says so.
    std::fs::create_dir_all(dir.path().join("untrusted")).unwrap();
    let untrusted = write_config(
        &dir.path().join("untrusted"),
        &sim.url(),
        &bootstrap,
        &topic,
        "[sinks.stream.librdkafka]\n\"security.protocol\" = \"SSL\"\n",
    );
    let o = Command::new(BIN)
        .args(["validate", "--config", untrusted.to_str().unwrap()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        !o.status.success() && said.contains("sink stream: NOT reachable"),
        "{said}"
    );

    let mut child = common::spawn_run(&cfg);
    let mut reader = Reader::with(
        &bootstrap,
        &topic,
        &[
            ("security.protocol", "SSL"),
            ("ssl.ca.location", ca.as_str()),
        ],
    );
    let consumed = reader.read_until(Duration::from_secs(90), |c| ids(c).len() >= inserted.len());
    child.kill().unwrap();
    child.wait().unwrap();
    let log = std::fs::read_to_string(dir.path().join("run.log")).unwrap_or_default();
    assert_eq!(ids(&consumed), inserted, "log:\n{log}");
}
