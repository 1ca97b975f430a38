//! The batch being gathered, on disk.
//!
//! A Security Lake batch fills for `max_age` (five minutes at least) or up to `max_bytes`,
//! while Coder's pages come one at a time. Held in memory until it is due, a batch would
//! cost its size in OCSF JSON and again in Arrow's arrays and the Parquet encoder. So each
//! page's events are conformed to their class's row as they arrive and appended to a
//! temporary file of their partition (class, event day); memory keeps 32 bytes a row
//! (its time and its place in the file). When the batch is due, each partition's rows are
//! read back in time order into its Parquet file.
//!
//! The files are unlinked as they are made (`tempfile::tempfile`, under `$TMPDIR`): a crash
//! leaves nothing to clean up, and loses nothing, because the checkpoint waits for the
//! upload and the restart reads the batch from Coder again.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};

use chrono::{DateTime, NaiveDate, Utc};
use sink_core::{DeadRecord, Record};

use crate::conform::conform;
use crate::object::IdDigest;
use crate::route::route;
use crate::schema::Catalog;

/// Which partition a row goes to: OCSF class and event day.
pub type PartitionKey = (u32, NaiveDate);

/// Every partition of the batch being gathered.
#[derive(Default)]
pub struct Staged {
    partitions: BTreeMap<PartitionKey, Partition>,
}

/// One partition's rows, in the order they came, in a file of their own.
pub struct Partition {
    file: File,
    /// Bytes written to `file`.
    len: u64,
    rows: Vec<StagedRow>,
    ids: IdDigest,
}

/// Where a row is, and its time (for the sort).
#[derive(Debug, Clone, Copy)]
struct StagedRow {
    time: DateTime<Utc>,
    at: u64,
    len: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("staging rows under {dir}: {source}")]
pub struct StageError {
    dir: String,
    source: std::io::Error,
}

impl StageError {
    fn new(source: std::io::Error) -> Self {
        StageError {
            dir: std::env::temp_dir().display().to_string(),
            source,
        }
    }
}

/// A page's rows for one partition, conformed, before they are written.
struct Chunk {
    key: PartitionKey,
    bytes: Vec<u8>,
    rows: Vec<StagedRow>,
    ids: IdDigest,
}

impl Staged {
    /// Stage `records`; those that can never be a row (not OCSF, no source for their class,
    /// no time, not fitting their class's schema) are returned as dead. On an error nothing
    /// of `records` stays staged, so the same records may be staged again.
    pub fn add(
        &mut self,
        records: &[Record],
        mapped: impl Fn(u32) -> bool,
    ) -> Result<Vec<DeadRecord>, StageError> {
        let routes = route(records, mapped);
        let mut dead = routes.dead;
        let mut chunks = Vec::with_capacity(routes.objects.len());
        for r in routes.objects {
            let Some(class) = Catalog::get().class(r.class_uid) else {
                // `route` sends only mapped classes, and every mappable class has a schema.
                dead.extend(r.rows.iter().map(|(_, index)| DeadRecord {
                    index: *index,
                    reason: format!("OCSF class {} has no Parquet schema", r.class_uid),
                }));
                continue;
            };
            let mut chunk = Chunk {
                key: (r.class_uid, r.day),
                bytes: Vec::new(),
                rows: Vec::with_capacity(r.rows.len()),
                ids: IdDigest::default(),
            };
            for (time, index) in r.rows {
                let record = &records[index];
                let start = chunk.bytes.len();
                match conform(&record.payload, &class.root, &mut chunk.bytes) {
                    Ok(()) => {
                        chunk.rows.push(StagedRow {
                            time,
                            at: start as u64,
                            len: (chunk.bytes.len() - start) as u64,
                        });
                        chunk.ids.add(&record.id);
                    }
                    Err(misfit) => dead.push(DeadRecord {
                        index,
                        reason: format!("does not fit OCSF 1.1.0 {}: {misfit}", class.name),
                    }),
                }
            }
            if !chunk.rows.is_empty() {
                chunks.push(chunk);
            }
        }
        self.append(chunks)?;
        dead.sort_by_key(|d| d.index);
        Ok(dead)
    }

    /// Write `chunks` to their partitions' files, all or none.
    fn append(&mut self, chunks: Vec<Chunk>) -> Result<(), StageError> {
        // Each touched partition's state before (length, rows, ids), to undo a failed
        // append; `None` for a partition this append made.
        type Before = Option<(u64, usize, IdDigest)>;
        let mut marks: Vec<(PartitionKey, Before)> = Vec::new();
        let mut failed = None;
        for chunk in chunks {
            let before = self
                .partitions
                .get(&chunk.key)
                .map(|p| (p.len, p.rows.len(), p.ids));
            marks.push((chunk.key, before));
            if let Err(e) = self.append_chunk(chunk) {
                failed = Some(e);
                break;
            }
        }
        let Some(e) = failed else {
            return Ok(());
        };
        for (key, before) in marks {
            match before {
                None => {
                    self.partitions.remove(&key);
                }
                Some((len, rows, ids)) => {
                    let Some(p) = self.partitions.get_mut(&key) else {
                        continue;
                    };
                    p.rows.truncate(rows);
                    p.ids = ids;
                    // Writes go to the end the length says; a tail left by a failed
                    // write is cut off if it can be, and overwritten otherwise.
                    let _ = p.file.set_len(len);
                    p.len = len;
                }
            }
        }
        Err(e)
    }

    fn append_chunk(&mut self, chunk: Chunk) -> Result<(), StageError> {
        let partition = match self.partitions.entry(chunk.key) {
            std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => v.insert(Partition {
                file: tempfile::tempfile().map_err(StageError::new)?,
                len: 0,
                rows: Vec::new(),
                ids: IdDigest::default(),
            }),
        };
        partition
            .file
            .seek(SeekFrom::Start(partition.len))
            .and_then(|_| partition.file.write_all(&chunk.bytes))
            .map_err(StageError::new)?;
        let base = partition.len;
        partition
            .rows
            .extend(chunk.rows.into_iter().map(|r| StagedRow {
                at: base + r.at,
                ..r
            }));
        partition.len += chunk.bytes.len() as u64;
        partition.ids.add_all(&chunk.ids);
        Ok(())
    }

    /// The first partition, to be written and uploaded; it stays staged until
    /// [`Self::remove`] after its upload, so nothing is lost if either fails.
    pub fn first(&mut self) -> Option<(PartitionKey, &mut Partition)> {
        self.partitions
            .iter_mut()
            .next()
            .map(|(key, partition)| (*key, partition))
    }

    /// Forget a partition (uploaded).
    pub fn remove(&mut self, key: PartitionKey) {
        self.partitions.remove(&key);
    }
}

impl Partition {
    pub fn ids(&self) -> &IdDigest {
        &self.ids
    }

    /// The earliest row's time.
    pub fn first_time(&self) -> Option<DateTime<Utc>> {
        self.rows.iter().map(|r| r.time).min()
    }

    /// The rows' JSON text, by time; rows of the same time in the order they were staged.
    pub fn rows_by_time(&mut self) -> impl Iterator<Item = std::io::Result<Vec<u8>>> + '_ {
        // Stable: ties keep their staging order, which is Coder's.
        self.rows.sort_by_key(|r| r.time);
        let mut reader = BufReader::with_capacity(64 << 10, &self.file);
        // Where the reader is, when known; pages arrive as sorted runs, so most rows
        // follow the one before and need no seek.
        let mut at: Option<u64> = None;
        self.rows.iter().map(move |row| {
            match at {
                Some(pos) if pos == row.at => {}
                Some(pos) => reader.seek_relative(row.at as i64 - pos as i64)?,
                None => {
                    reader.seek(SeekFrom::Start(row.at))?;
                }
            }
            let mut bytes = vec![0; usize::try_from(row.len).unwrap_or(usize::MAX)];
            reader.read_exact(&mut bytes)?;
            at = Some(row.at + row.len);
            Ok(bytes)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY1: i64 = 1_772_841_600_000; // 2026-03-07T00:00:00Z, in ms

    fn record(id: &str, class_uid: u32, time_ms: i64) -> Record {
        Record {
            id: id.into(),
            time_micros: None,
            resource_type: None,
            action: None,
            payload: format!(
                r#"{{"class_uid":{class_uid},"time":{time_ms},"metadata":{{"uid":"{id}"}}}}"#
            )
            .into(),
        }
    }

    impl Staged {
        fn is_empty(&self) -> bool {
            self.partitions.is_empty()
        }

        fn rows(&self) -> usize {
            self.partitions.values().map(|p| p.rows.len()).sum()
        }
    }

    #[test]
    fn a_staged_row_costs_the_32_bytes_the_module_says() {
        assert_eq!(std::mem::size_of::<StagedRow>(), 32);
    }

    /// The first partition, taken out of `staged`.
    fn take_first(staged: &mut Staged) -> Option<(PartitionKey, Partition)> {
        staged.partitions.pop_first()
    }

    fn uids(partition: &mut Partition) -> Vec<String> {
        partition
            .rows_by_time()
            .map(|row| {
                let row: serde_json::Value = serde_json::from_slice(&row.unwrap()).unwrap();
                row["metadata"]["uid"].as_str().unwrap().to_owned()
            })
            .collect()
    }

    #[test]
    fn pages_staged_apart_come_back_per_partition_by_time_ties_in_staging_order() {
        let mut staged = Staged::default();
        // Two pages, the second older (Coder pages newest first), with a tie across them.
        let dead = staged
            .add(
                &[
                    record("a", 3002, DAY1 + 50),
                    record("b", 6003, DAY1 + 10),
                    record("c", 3002, DAY1 + 40),
                ],
                |_| true,
            )
            .unwrap();
        assert!(dead.is_empty());
        let dead = staged
            .add(
                &[
                    record("d", 3002, DAY1 + 40),
                    record("e", 3002, DAY1 - 1),
                    record("f", 3002, DAY1 + 5),
                ],
                |_| true,
            )
            .unwrap();
        assert!(dead.is_empty());
        assert_eq!(staged.rows(), 6);

        let (key, mut first) = take_first(&mut staged).unwrap();
        assert_eq!(key, (3002, NaiveDate::from_ymd_opt(2026, 3, 6).unwrap()));
        assert_eq!(uids(&mut first), ["e"]);
        let (key, mut second) = take_first(&mut staged).unwrap();
        assert_eq!(key, (3002, NaiveDate::from_ymd_opt(2026, 3, 7).unwrap()));
        assert_eq!(uids(&mut second), ["f", "c", "d", "a"]);
        assert_eq!(
            second.first_time().unwrap().timestamp_millis(),
            DAY1 + 5,
            "the earliest, not the first staged"
        );
        let (key, mut third) = take_first(&mut staged).unwrap();
        assert_eq!(key.0, 6003);
        assert_eq!(uids(&mut third), ["b"]);
        assert!(take_first(&mut staged).is_none());
        assert!(staged.is_empty());

        // Read twice (a retried write) gives the same rows.
        assert_eq!(uids(&mut second), ["f", "c", "d", "a"]);
        let mut ids = IdDigest::default();
        for id in ["a", "c", "d", "f"] {
            ids.add(id);
        }
        assert_eq!(*second.ids(), ids);
    }

    #[test]
    fn what_can_never_be_a_row_is_dead_with_its_index_and_the_rest_is_staged() {
        let mut staged = Staged::default();
        let mut misfit = record("m", 3002, DAY1);
        misfit.payload = format!(r#"{{"class_uid":3002,"time":{DAY1},"no_such_attr":1}}"#).into();
        let dead = staged
            .add(
                &[
                    record("ok", 3002, DAY1),
                    misfit,
                    record("unmapped", 4007, DAY1),
                ],
                |class| class != 4007,
            )
            .unwrap();
        let indices: Vec<usize> = dead.iter().map(|d| d.index).collect();
        assert_eq!(indices, [1, 2]);
        assert!(dead[0].reason.contains("no_such_attr"), "{:?}", dead[0]);
        let (_, mut partition) = take_first(&mut staged).unwrap();
        assert_eq!(uids(&mut partition), ["ok"]);
        assert!(staged.is_empty());
    }

    #[test]
    fn a_failed_append_leaves_nothing_of_the_page_staged() {
        let mut staged = Staged::default();
        staged.add(&[record("old", 3002, DAY1)], |_| true).unwrap();
        // The 3002 partition's file now refuses writes (opened read-only), as a full disk
        // would; the 3001 partition sorts before it, so it is made and written first.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("read-only");
        std::fs::write(&path, b"").unwrap();
        let key = (3002, NaiveDate::from_ymd_opt(2026, 3, 7).unwrap());
        let (_, mut partition) = take_first(&mut staged).unwrap();
        let mut good = std::mem::replace(&mut partition.file, File::open(&path).unwrap());
        staged.partitions.insert(key, partition);

        let err = staged
            .add(
                &[record("new", 3002, DAY1 + 1), record("x", 3001, DAY1)],
                |_| true,
            )
            .unwrap_err();
        assert!(err.to_string().starts_with("staging rows under "), "{err}");
        assert_eq!(staged.rows(), 1, "only the row staged before");
        let (k, mut partition) = take_first(&mut staged).unwrap();
        assert_eq!(k, key);
        assert!(
            staged.is_empty(),
            "the partition the failed page made is gone"
        );
        // The same page staged again once the disk is back: each row once.
        std::mem::swap(&mut partition.file, &mut good);
        staged.partitions.insert(key, partition);
        staged
            .add(
                &[record("new", 3002, DAY1 + 1), record("x", 3001, DAY1)],
                |_| true,
            )
            .unwrap();
        let (_, mut p3001) = take_first(&mut staged).unwrap();
        assert_eq!(uids(&mut p3001), ["x"]);
        let (_, mut p3002) = take_first(&mut staged).unwrap();
        assert_eq!(uids(&mut p3002), ["old", "new"]);
    }
}
