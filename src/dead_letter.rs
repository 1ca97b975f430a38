//! The dead-letter file: records a peer refused for good (larger than a Kafka broker
//! takes, say), kept with the reason so nothing is silently skipped.
//!
//! One NDJSON file per sink, `<dead_letter dir>/<sink>.ndjson` (by default under the
//! checkpoint directory), appended and fsynced before the checkpoint moves past the batch:
//! a record is either delivered, in this file, or still ahead of the checkpoint. Each line
//! keeps what the sink needs to send the record again (`replay-dead-letters`).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sink_core::{Batch, DeadRecord, Record};

#[derive(Debug, Clone)]
pub struct DeadLetters {
    path: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Line<'a> {
    sink: std::borrow::Cow<'a, str>,
    id: std::borrow::Cow<'a, str>,
    reason: std::borrow::Cow<'a, str>,
    dead_lettered_at: String,
    /// The record as the sink would have sent it (UTF-8 for every format we encode).
    payload: std::borrow::Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    time_micros: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resource_type: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    action: Option<std::borrow::Cow<'a, str>>,
}

/// Why a dead-letter file could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// A line that is not a dead-letter record: the file was edited or cut.
    #[error("{path}:{line}: not a dead-letter record: {message}")]
    BadLine {
        path: String,
        line: usize,
        message: String,
    },
}

impl DeadLetters {
    /// The dead letters of `sink` in `dir` (`[dead_letter] dir`).
    pub fn new(dir: &Path, sink: &str) -> Self {
        Self {
            path: dir.join(format!("{sink}.ndjson")),
        }
    }

    /// The records of a dead-letter file, in order, ready to be sent again.
    pub fn read(path: &Path) -> Result<Vec<Record>, ReadError> {
        let text = std::fs::read_to_string(path).map_err(|source| ReadError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let mut records = Vec::new();
        for (n, l) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let line: Line<'_> = serde_json::from_str(l).map_err(|e| ReadError::BadLine {
                path: path.display().to_string(),
                line: n + 1,
                message: e.to_string(),
            })?;
            records.push(Record {
                id: line.id.into(),
                time_micros: line.time_micros,
                resource_type: line.resource_type.map(Into::into),
                action: line.action.map(Into::into),
                payload: line.payload.into_owned().into(),
            });
        }
        Ok(records)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append `dead` (indexes into `batch`) and fsync.
    pub fn write(&self, sink: &str, batch: &Batch, dead: &[DeadRecord]) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            sink_core::private_file::create_dir(dir)?;
        }
        let mut out = Vec::new();
        let now = chrono::Utc::now().to_rfc3339();
        for d in dead {
            let Some(record) = batch.records().get(d.index) else {
                continue;
            };
            let line = Line {
                sink: sink.into(),
                id: (&*record.id).into(),
                reason: d.reason.as_str().into(),
                dead_lettered_at: now.clone(),
                payload: String::from_utf8_lossy(&record.payload),
                time_micros: record.time_micros,
                resource_type: record.resource_type.as_deref().map(Into::into),
                action: record.action.as_deref().map(Into::into),
            };
            serde_json::to_writer(&mut out, &line).map_err(std::io::Error::other)?;
            out.push(b'\n');
        }
        let mut file = sink_core::private_file::open_append(&self.path)?;
        // All or nothing: a write cut short (a full disk) is taken back, so the retry
        // appends whole lines after whole lines and the file stays readable.
        let before = file.metadata()?.len();
        let written = file.write_all(&out).and_then(|()| file.sync_all());
        if written.is_err() {
            let _ = file.set_len(before);
        }
        written
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
                    time_micros: Some(1_700_000_000_000_000),
                    resource_type: Some("workspace".into()),
                    action: Some("start".into()),
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
        let back = DeadLetters::read(dl.path()).unwrap();
        assert_eq!(
            back,
            vec![batch.records()[1].clone(), batch.records()[1].clone()]
        );
    }

    #[test]
    fn a_line_that_is_not_a_record_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.ndjson");
        std::fs::write(&path, "{\"sink\":\"s\"}\n").unwrap();
        let err = DeadLetters::read(&path).unwrap_err().to_string();
        assert!(err.contains("s.ndjson:1"), "{err}");
    }
}
