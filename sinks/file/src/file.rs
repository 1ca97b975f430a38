//! An append-only NDJSON file with optional size-based rotation.
//!
//! Durability rule: a batch is `Delivered` only after `write_all` + `sync_data`. A write
//! that fails part-way (a full disk) is cut back to the length the file had before the
//! batch, so a retry never leaves a torn line in the middle of the file.
//!
//! Every sink instance writing to one path in this process shares one [`Writer`]: a sink
//! gets one instance per stream (the audit log and the connection log), and two writers
//! with their own idea of the file's length would cut each other's lines when undoing a
//! failed write, and rotate the file twice.

use std::collections::HashMap;
use std::fs::File;
use std::io::{IoSlice, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use async_trait::async_trait;
use bytes::Bytes;
use sink_core::{Batch, Delivery, Sink};

use crate::config::FileSinkConfig;

pub struct FileSink {
    name: String,
    config: FileSinkConfig,
    writer: Writer,
}

/// The open file and its length, shared by every sink of this process on the same path;
/// the lock is held for a whole batch, so batches never interleave.
type Writer = Arc<Mutex<Option<Open>>>;

/// Every path a writer of this process has open.
type Writers = Mutex<HashMap<PathBuf, Weak<Mutex<Option<Open>>>>>;

struct Open {
    file: File,
    len: u64,
}

/// The writer of `path`: the one already open in this process, or a new one.
fn writer_for(path: &Path) -> Writer {
    static WRITERS: OnceLock<Writers> = OnceLock::new();
    let mut writers = WRITERS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    writers.retain(|_, w| w.strong_count() > 0);
    if let Some(w) = writers.get(path).and_then(Weak::upgrade) {
        return w;
    }
    let w: Writer = Arc::new(Mutex::new(None));
    writers.insert(path.to_owned(), Arc::downgrade(&w));
    w
}

impl FileSink {
    pub fn new(name: impl Into<String>, config: FileSinkConfig) -> Self {
        let writer = writer_for(&config.path);
        Self {
            name: name.into(),
            config,
            writer,
        }
    }

    pub fn path(&self) -> &Path {
        &self.config.path
    }
}

#[async_trait]
impl Sink for FileSink {
    fn name(&self) -> &str {
        &self.name
    }

    async fn deliver(&mut self, batch: &Batch) -> Delivery {
        // The payloads are shared, not copied: each sink of a shared read writes the
        // same buffers, and the kernel's copy into the page cache is the only one.
        let lines: Vec<Bytes> = batch.records().iter().map(|r| r.payload.clone()).collect();
        let config = self.config.clone();
        let writer = self.writer.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let mut state = writer.lock().unwrap_or_else(|e| e.into_inner());
            let (open, written) = write_batch(&config, state.take(), &lines);
            *state = open;
            written
        })
        .await;
        match joined {
            Ok(Ok(())) => Delivery::Delivered,
            Ok(Err(e)) => Delivery::retry(format!("writing {}: {e}", self.config.path.display())),
            Err(e) => Delivery::retry(format!("file writer task failed: {e}")),
        }
    }

    async fn close(&mut self) -> Result<(), String> {
        // Synced, and left open for any other sink on the same path; the file closes when
        // the last of them is dropped.
        let writer = self.writer.clone();
        let synced = tokio::task::spawn_blocking(move || {
            let state = writer.lock().unwrap_or_else(|e| e.into_inner());
            match state.as_ref() {
                Some(open) => open.file.sync_all(),
                None => Ok(()),
            }
        })
        .await;
        match synced {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("syncing {}: {e}", self.config.path.display())),
            Err(e) => Err(format!("file writer task failed: {e}")),
        }
    }
}

fn write_batch(
    config: &FileSinkConfig,
    state: Option<Open>,
    lines: &[Bytes],
) -> (Option<Open>, std::io::Result<()>) {
    let chunk_len: u64 = lines.iter().map(|l| l.len() as u64 + 1).sum();
    let mut open = match state {
        Some(open) => open,
        None => match open_append(&config.path) {
            Ok(open) => open,
            Err(e) => return (None, Err(e)),
        },
    };
    if let Some(max) = config.max_bytes
        && open.len > 0
        && open.len + chunk_len > max
    {
        drop(open);
        if let Err(e) = rotate(&config.path, config.max_files) {
            return (None, Err(e));
        }
        open = match open_append(&config.path) {
            Ok(open) => open,
            Err(e) => return (None, Err(e)),
        };
    }
    let before = open.len;
    let result = write_lines(&mut open.file, lines).and_then(|()| open.file.sync_data());
    match result {
        Ok(()) => {
            open.len += chunk_len;
            (Some(open), Ok(()))
        }
        Err(e) => {
            // Cut any torn tail so the retry starts on a line boundary. If even that
            // fails, drop the handle: the next attempt reopens and re-reads the length.
            let restored = open
                .file
                .set_len(before)
                .and_then(|()| open.file.sync_data());
            match restored {
                Ok(()) => (Some(open), Err(e)),
                Err(_) => (None, Err(e)),
            }
        }
    }
}

/// Each line and its `\n`, in `writev` calls of up to [`IOV_MAX`] slices.
fn write_lines(file: &mut File, lines: &[Bytes]) -> std::io::Result<()> {
    /// Linux's and POSIX's least `IOV_MAX`: more slices in one call are refused.
    const IOV_MAX: usize = 1024;
    for group in lines.chunks(IOV_MAX / 2) {
        let mut slices: Vec<IoSlice<'_>> = group
            .iter()
            .flat_map(|l| [IoSlice::new(l), IoSlice::new(b"\n")])
            .collect();
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            match file.write_vectored(rest) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => IoSlice::advance_slices(&mut rest, n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

fn open_append(path: &Path) -> std::io::Result<Open> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        sink_core::private_file::create_dir(dir)?;
    }
    let file = sink_core::private_file::open_append(path)?;
    let mut len = file.metadata()?.len();
    let whole = complete_lines_len(&file, len)?;
    if whole < len {
        // A process killed mid-write left half a line. That batch was never confirmed,
        // so it will be sent again: cut the torn tail rather than glue onto it.
        tracing::warn!(
            path = %path.display(),
            torn_bytes = len - whole,
            "removing an incomplete last line left by an interrupted write"
        );
        file.set_len(whole)?;
        file.sync_data()?;
        len = whole;
    }
    Ok(Open { file, len })
}

/// The length of the file up to and including its last `\n`.
fn complete_lines_len(file: &File, len: u64) -> std::io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        file.read_exact_at(chunk, start)?;
        if let Some(i) = chunk.iter().rposition(|b| *b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// `audit.ndjson` becomes `audit.ndjson.1`, `.1` becomes `.2`, ... and the oldest beyond
/// `max_files` is removed. With `max_files == 0` the live file is simply removed.
fn rotate(path: &Path, max_files: u32) -> std::io::Result<()> {
    let numbered = |n: u32| {
        let mut p = path.as_os_str().to_owned();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    };
    if max_files == 0 {
        return std::fs::remove_file(path);
    }
    let oldest = numbered(max_files);
    if oldest.exists() {
        std::fs::remove_file(&oldest)?;
    }
    for n in (1..max_files).rev() {
        let from = numbered(n);
        if from.exists() {
            std::fs::rename(&from, numbered(n + 1))?;
        }
    }
    std::fs::rename(path, numbered(1))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sink_core::Record;

    fn batch(ids: &[&str]) -> Batch {
        ids.iter()
            .map(|id| Record {
                id: (*id).into(),
                time_micros: None,
                resource_type: None,
                action: None,
                payload: format!("{{\"id\":\"{id}\"}}").into(),
            })
            .collect()
    }

    fn sink(dir: &Path, max_bytes: Option<u64>) -> FileSink {
        FileSink::new(
            "archive",
            FileSinkConfig {
                path: dir.join("sub/audit.ndjson"),
                max_bytes,
                max_files: 2,
                batch_max_bytes: 0,
                batch_timeout: std::time::Duration::ZERO,
            },
        )
    }

    #[tokio::test]
    async fn appends_ndjson_and_creates_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sink(dir.path(), None);
        assert_eq!(s.deliver(&batch(&["a", "b"])).await, Delivery::Delivered);
        assert_eq!(s.deliver(&batch(&["c"])).await, Delivery::Delivered);
        let text = std::fs::read_to_string(s.path()).unwrap();
        assert_eq!(text, "{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"c\"}\n");
    }

    #[tokio::test]
    async fn a_reopened_sink_appends_instead_of_truncating() {
        let dir = tempfile::tempdir().unwrap();
        sink(dir.path(), None).deliver(&batch(&["a"])).await;
        let mut again = sink(dir.path(), None);
        again.deliver(&batch(&["b"])).await;
        let text = std::fs::read_to_string(again.path()).unwrap();
        assert_eq!(text.lines().count(), 2);
    }

    #[tokio::test]
    async fn a_batch_of_more_lines_than_one_writev_takes_is_written_whole_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let ids: Vec<String> = (0..2_500).map(|i| format!("{i:05}")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let mut s = sink(dir.path(), None);
        assert_eq!(s.deliver(&batch(&ids)).await, Delivery::Delivered);
        let text = std::fs::read_to_string(s.path()).unwrap();
        let expected: String = ids
            .iter()
            .map(|id| format!("{{\"id\":\"{id}\"}}\n"))
            .collect();
        assert_eq!(text, expected);
    }

    #[tokio::test]
    async fn rotates_by_size_and_keeps_max_files() {
        let dir = tempfile::tempdir().unwrap();
        // Each batch is 11 bytes; allow two per file.
        let mut s = sink(dir.path(), Some(22));
        for id in ["a", "b", "c", "d", "e", "f", "g"] {
            assert_eq!(s.deliver(&batch(&[id])).await, Delivery::Delivered);
        }
        let read = |suffix: &str| {
            std::fs::read_to_string(dir.path().join(format!("sub/audit.ndjson{suffix}")))
        };
        assert_eq!(read("").unwrap(), "{\"id\":\"g\"}\n");
        assert_eq!(read(".1").unwrap(), "{\"id\":\"e\"}\n{\"id\":\"f\"}\n");
        assert_eq!(read(".2").unwrap(), "{\"id\":\"c\"}\n{\"id\":\"d\"}\n");
        assert!(read(".3").is_err(), "only max_files rotated files are kept");
    }

    #[tokio::test]
    async fn a_torn_last_line_from_a_crash_is_cut_before_appending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/audit.ndjson");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "{\"id\":\"a\"}\n{\"id\":\"b").unwrap();
        let mut s = sink(dir.path(), None);
        assert_eq!(s.deliver(&batch(&["b"])).await, Delivery::Delivered);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "{\"id\":\"a\"}\n{\"id\":\"b\"}\n");
    }

    #[tokio::test]
    async fn two_sinks_on_one_path_share_its_length_and_its_rotation() {
        let dir = tempfile::tempdir().unwrap();
        // The audit and the connection stream of one sink: each batch 11 bytes, two per file.
        let mut audit = sink(dir.path(), Some(22));
        let mut connections = sink(dir.path(), Some(22));
        for (i, id) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            let s = if i % 2 == 0 {
                &mut audit
            } else {
                &mut connections
            };
            assert_eq!(s.deliver(&batch(&[id])).await, Delivery::Delivered);
        }
        let read = |suffix: &str| {
            std::fs::read_to_string(dir.path().join(format!("sub/audit.ndjson{suffix}")))
                .unwrap_or_default()
        };
        // One writer: rotated once per two batches, nothing lost or cut.
        assert_eq!(read(""), "{\"id\":\"e\"}\n");
        assert_eq!(read(".1"), "{\"id\":\"c\"}\n{\"id\":\"d\"}\n");
        assert_eq!(read(".2"), "{\"id\":\"a\"}\n{\"id\":\"b\"}\n");
        audit.close().await.unwrap();
        assert_eq!(
            connections.deliver(&batch(&["f"])).await,
            Delivery::Delivered,
            "closing one leaves the other writing"
        );
        assert_eq!(read(""), "{\"id\":\"e\"}\n{\"id\":\"f\"}\n");
    }

    #[tokio::test]
    async fn an_unwritable_path_is_a_retry_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be: opening it for append fails.
        std::fs::create_dir_all(dir.path().join("sub/audit.ndjson")).unwrap();
        let mut s = sink(dir.path(), None);
        match s.deliver(&batch(&["a"])).await {
            Delivery::Retry { reason, .. } => assert!(reason.contains("audit.ndjson"), "{reason}"),
            other => panic!("expected a retry, got {other:?}"),
        }
    }
}
