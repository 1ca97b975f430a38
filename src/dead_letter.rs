//! The dead-letter file: records a peer refused for good (larger than a Kafka broker
//! takes, say), kept with the reason so nothing is silently skipped.
//!
//! One NDJSON file per sink, `<checkpoint dir>/dead-letter/<sink>.ndjson`, appended and
//! fsynced before the checkpoint moves past the batch: a record is either delivered, in
//! this file, or still ahead of the checkpoint.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sink_core::{Batch, DeadRecord};

#[derive(Debug, Clone)]
pub struct DeadLetters {
    path: PathBuf,
}

#[derive(Serialize)]
struct Line<'a> {
    sink: &'a str,
    id: &'a str,
    reason: &'a str,
    dead_lettered_at: String,
    /// The record as the sink would have sent it (UTF-8 JSON for every format we encode).
    payload: std::borrow::Cow<'a, str>,
}

impl DeadLetters {
    pub fn new(checkpoint_dir: &Path, sink: &str) -> Self {
        Self {
            path: checkpoint_dir
                .join("dead-letter")
                .join(format!("{sink}.ndjson")),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append `dead` (indexes into `batch`) and fsync.
    pub fn write(&self, sink: &str, batch: &Batch, dead: &[DeadRecord]) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut out = Vec::new();
        let now = chrono::Utc::now().to_rfc3339();
        for d in dead {
            let Some(record) = batch.records().get(d.index) else {
                continue;
            };
            let line = Line {
                sink,
                id: &record.id,
                reason: &d.reason,
                dead_lettered_at: now.clone(),
                payload: String::from_utf8_lossy(&record.payload),
            };
            serde_json::to_writer(&mut out, &line).map_err(std::io::Error::other)?;
            out.push(b'\n');
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        file.write_all(&out)?;
        file.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sink_core::Record;

    #[test]
    fn dead_records_are_appended_with_their_reason() {
        let dir = tempfile::tempdir().unwrap();
        let dl = DeadLetters::new(dir.path(), "stream");
        let batch = Batch::new(
            ["a", "b"]
                .iter()
                .map(|id| Record {
                    id: (*id).into(),
                    time_micros: None,
                    resource_type: None,
                    action: None,
                    payload: format!(r#"{{"id":"{id}"}}"#).into(),
                })
                .collect(),
        );
        let dead = [DeadRecord {
            index: 1,
            reason: "message too large".into(),
        }];
        dl.write("stream", &batch, &dead).unwrap();
        dl.write("stream", &batch, &dead).unwrap();
        let text = std::fs::read_to_string(dl.path()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["id"], "b");
        assert_eq!(lines[0]["reason"], "message too large");
        assert_eq!(lines[0]["payload"], r#"{"id":"b"}"#);
    }
}
