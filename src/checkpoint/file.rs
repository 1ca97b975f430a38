//! The file checkpoint store: one small JSON file per checkpoint.
//!
//! A save writes a temp file, fsyncs it, renames it over the old one and fsyncs the
//! directory: after a crash the file is either the old checkpoint or the new one, never a
//! torn mix. A file that does not parse is an error that names it; starting over from zero
//! would silently re-ship (or, with `start_at = now`, silently skip) history.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::Utc;

use super::{Checkpoint, CheckpointError, CheckpointKey, CheckpointStore, FORMAT_VERSION};
use crate::coder::Cursor;

#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn path(&self, key: &CheckpointKey) -> PathBuf {
        self.dir.join(format!(
            "{}.{}.{}.json",
            key.namespace, key.stream, key.sink
        ))
    }

    fn read(path: &Path) -> Result<Checkpoint, CheckpointError> {
        let shown = path.display().to_string();
        let text = fs::read(path).map_err(|source| CheckpointError::Io {
            path: shown.clone(),
            source,
        })?;
        // Read the version first so a future format says "version", not "corrupt".
        #[derive(serde::Deserialize)]
        struct Versioned {
            version: u32,
        }
        let v: Versioned = serde_json::from_slice(&text).map_err(|e| CheckpointError::Corrupt {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        if v.version != FORMAT_VERSION {
            return Err(CheckpointError::Version {
                path: shown,
                found: v.version,
            });
        }
        serde_json::from_slice(&text).map_err(|e| CheckpointError::Corrupt {
            path: shown,
            reason: e.to_string(),
        })
    }
}

impl CheckpointStore for FileStore {
    fn load(&self, key: &CheckpointKey) -> Result<Option<Checkpoint>, CheckpointError> {
        let path = self.path(key);
        if !path.exists() {
            return Ok(None);
        }
        Self::read(&path).map(Some)
    }

    fn save(&self, key: &CheckpointKey, cursor: &Cursor) -> Result<(), CheckpointError> {
        let path = self.path(key);
        let io = |source| CheckpointError::Io {
            path: path.display().to_string(),
            source,
        };
        let checkpoint = Checkpoint {
            version: FORMAT_VERSION,
            namespace: key.namespace.clone(),
            stream: key.stream.clone(),
            sink: key.sink.clone(),
            updated_at: Utc::now(),
            cursor: cursor.clone(),
        };
        let text =
            serde_json::to_vec_pretty(&checkpoint).map_err(|e| io(std::io::Error::other(e)))?;
        fs::create_dir_all(&self.dir).map_err(io)?;
        // A temp file of its own per save: two writers (a save still running in a
        // cancelled task, a second replica) never rename each other's half-written file.
        let mut tmp = tempfile::Builder::new()
            .prefix(".checkpoint-")
            .suffix(".tmp")
            .tempfile_in(&self.dir)
            .map_err(io)?;
        tmp.write_all(&text).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(&path).map_err(|e| io(e.error))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        Ok(())
    }

    fn list(&self) -> Result<Vec<Checkpoint>, CheckpointError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(CheckpointError::Io {
                    path: self.dir.display().to_string(),
                    source,
                });
            }
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| CheckpointError::Io {
                path: self.dir.display().to_string(),
                source,
            })?;
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json") {
                out.push(Self::read(&path)?);
            }
        }
        out.sort_by(|a, b| (&a.namespace, &a.sink).cmp(&(&b.namespace, &b.sink)));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn cursor() -> Cursor {
        let t = DateTime::parse_from_rfc3339("2026-01-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        Cursor::starting_at(t, None)
    }

    #[test]
    fn save_then_load() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("state"));
        let key = CheckpointKey::run("archive");
        assert!(store.load(&key).unwrap().is_none());
        store.save(&key, &cursor()).unwrap();
        let back = store.load(&key).unwrap().unwrap();
        assert_eq!(back.cursor, cursor());
        assert_eq!(back.sink, "archive");
        assert_eq!(store.list().unwrap().len(), 1);
        // No temp file is left behind.
        let names: Vec<_> = fs::read_dir(dir.path().join("state")).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_it_and_the_way_out() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path());
        let key = CheckpointKey::run("archive");
        fs::write(store.path(&key), b"{\"version\":1,\"cursor\":").unwrap();
        let err = store.load(&key).unwrap_err().to_string();
        assert!(err.contains("run.audit.archive.json"), "{err}");
        assert!(err.contains("corrupt") && err.contains("start_at"), "{err}");
    }

    #[test]
    fn a_future_version_is_reported_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path());
        let key = CheckpointKey::run("archive");
        fs::write(store.path(&key), br#"{"version":9}"#).unwrap();
        assert!(matches!(
            store.load(&key),
            Err(CheckpointError::Version { found: 9, .. })
        ));
    }

    #[test]
    fn backfill_ranges_have_their_own_files() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let store = FileStore::new("/x");
        let a = store.path(&CheckpointKey::backfill(
            "s",
            t("2026-01-01T00:00:00Z"),
            t("2026-02-01T00:00:00Z"),
        ));
        assert_eq!(
            a,
            PathBuf::from("/x/backfill-20260101T000000Z-20260201T000000Z.audit.s.json")
        );
        assert_ne!(a, store.path(&CheckpointKey::run("s")));
    }
}
