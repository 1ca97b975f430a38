//! What each sink's peer holds, as the audit ids of every copy it received: a test
//! counts loss against the simulator's ground truth and duplicates as copies past the first.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::Value;

/// Distinct ids, and how many copies there were beyond one of each.
pub fn distinct(ids: &[String]) -> (HashSet<String>, usize) {
    let set: HashSet<String> = ids.iter().cloned().collect();
    let duplicates = ids.len() - set.len();
    (set, duplicates)
}

/// The file sink's output in any format: the raw entry's `id`, ECS `event.id`, or the
/// audit id before the `:` of OCSF `metadata.uid`. A line still being written is left out.
pub fn file(path: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let complete = text.rfind('\n').map_or("", |i| &text[..i]);
    complete
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("output line is JSON");
            let id = v["id"]
                .as_str()
                .or_else(|| v["event"]["id"].as_str())
                .or_else(|| {
                    v["metadata"]["uid"]
                        .as_str()
                        .and_then(|u| u.split(':').next())
                })
                .expect("output line has an audit id");
            id.to_owned()
        })
        .collect()
}

/// Every message of `topic`, from the beginning of each partition until none has come
/// for 5 s (call it after the shipper stopped). The key is the audit id. Tansu's offsets
/// API reports a high watermark of 1 for any partition, so the read cannot stop there.
pub fn kafka(bootstrap: &str, topic: &str) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", super::unique("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("a Kafka consumer");
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("topic metadata");
    let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
        return Vec::new();
    };
    let mut tpl = TopicPartitionList::new();
    for p in t.partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
            .expect("assign a partition");
    }
    consumer.assign(&tpl).expect("assign");
    let mut ids = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut last = Instant::now();
    while last.elapsed() < Duration::from_secs(5) && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            ids.push(String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned());
            last = Instant::now();
        }
    }
    ids
}

/// Every object in the bucket, each line's `id` (raw format).
pub fn s3(
    rt: &tokio::runtime::Runtime,
    env: &HashMap<String, String>,
    bucket: &str,
) -> Vec<String> {
    let client = rt.block_on(super::s3::client(env));
    rt.block_on(super::s3::read_bucket(&client, bucket))
        .values()
        .flatten()
        .filter_map(|d| d["id"].as_str().map(str::to_owned))
        .collect()
}

/// Every Parquet object in a Security Lake bucket, as audit ids (the part of OCSF
/// `metadata.uid` before `:`): each entry's id once, and once more for every extra copy of
/// any of its events (an entry may give several, `id:0`, `id:1`, in different files), so
/// `distinct` counts every event written twice. Objects that are not whole Parquet files
/// fail the test: none may be visible.
pub fn lake(
    rt: &tokio::runtime::Runtime,
    env: &HashMap<String, String>,
    bucket: &str,
) -> Vec<String> {
    use arrow_array::{Array, StringArray, StructArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let client = rt.block_on(super::s3::client(env));
    let mut copies: HashMap<String, usize> = HashMap::new();
    for (key, bytes) in rt.block_on(super::s3::read_objects(&client, bucket)) {
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .and_then(|b| b.build())
            .unwrap_or_else(|e| panic!("{key} is not a whole Parquet file: {e}"));
        for batch in reader {
            let batch = batch.unwrap_or_else(|e| panic!("{key}: {e}"));
            let metadata = batch
                .column_by_name("metadata")
                .and_then(|c| c.as_any().downcast_ref::<StructArray>())
                .unwrap_or_else(|| panic!("{key}: no metadata column"));
            let uids = metadata
                .column_by_name("uid")
                .and_then(|c| c.as_any().downcast_ref::<StringArray>())
                .unwrap_or_else(|| panic!("{key}: no metadata.uid column"));
            for i in 0..uids.len() {
                *copies.entry(uids.value(i).to_owned()).or_default() += 1;
            }
        }
    }
    let mut ids = Vec::new();
    let mut entries = HashSet::new();
    for (uid, n) in copies {
        let id = uid.split(':').next().unwrap_or(&uid).to_owned();
        let extra = if entries.insert(id.clone()) { n } else { n - 1 };
        ids.extend(std::iter::repeat_n(id, extra));
    }
    ids
}

/// The HEC envelopes Tenzir wrote under `source`, by `fields.coder_audit_id`.
pub fn hec(events_file: &str, source: &str) -> Vec<String> {
    std::fs::read_to_string(events_file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["source"] == source)
        .filter_map(|v| v["fields"]["coder_audit_id"].as_str().map(str::to_owned))
        .collect()
}

/// The RFC 5424 messages rsyslog wrote for `listener` with APP-NAME `app`, by the
/// `id` parameter of their `[coder@32473 ...]` element.
pub fn syslog(out_dir: &str, listener: &str, app: &str) -> Vec<String> {
    let file = Path::new(out_dir).join(format!("{listener}.log"));
    let app = format!(" {app} ");
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&app))
        .filter_map(|l| {
            let start = l.find("[coder@32473 id=\"")? + "[coder@32473 id=\"".len();
            let len = l[start..].find('"')?;
            Some(l[start..start + len].to_owned())
        })
        .collect()
}

/// A consumer that follows `topic` from the beginning in a thread of its own, keeping the
/// key of every message it reads, until dropped. It follows the topic through a broker
/// restart too: Tansu keeps its log in memory, so the restarted broker's offsets are out of
/// range for it and it starts again from the (new) beginning.
pub struct KafkaTail {
    keys: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl KafkaTail {
    pub fn start(bootstrap: &str, topic: &str) -> Self {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", super::unique("tail"))
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "50")
            .create()
            .expect("a Kafka consumer");
        // The topic appears with the shipper's first message.
        let mut tpl = TopicPartitionList::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while tpl.count() == 0 && Instant::now() < deadline {
            if let Ok(md) = consumer.fetch_metadata(Some(topic), Duration::from_secs(5)) {
                for t in md.topics().iter().filter(|t| t.name() == topic) {
                    for p in t.partitions() {
                        tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
                            .expect("assign a partition");
                    }
                }
            }
            if tpl.count() == 0 {
                std::thread::sleep(Duration::from_millis(500));
            }
        }
        assert!(tpl.count() > 0, "topic {topic} never appeared");
        consumer.assign(&tpl).expect("assign");
        let keys = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (k, s) = (keys.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                    let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
                    k.lock().unwrap_or_else(|e| e.into_inner()).push(key);
                }
            }
        });
        KafkaTail { keys, stop }
    }

    /// Every key read so far, one per message.
    pub fn ids(&self) -> Vec<String> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for KafkaTail {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
