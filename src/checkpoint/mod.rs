//! Checkpoints: one saved [`Cursor`] per stream, sink and namespace.
//!
//! Each sink has its own checkpoint, so a slow or dead sink never holds back a healthy one;
//! `run` and each `backfill` range have their own namespace, so a backfill never moves the
//! live cursor. A checkpoint is written only after the sink confirmed what it covers.

mod file;
pub mod postgres;
pub mod postgres_tls;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use file::FileStore;
pub use postgres::PostgresStore;

use crate::coder::{Cursor, Stream};

/// The on-disk format version. Bump it when the format changes, and keep reading the old.
pub const FORMAT_VERSION: u32 = 1;

/// Which checkpoint: `namespace` is `run` or `backfill-<from>-<to>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointKey {
    pub namespace: String,
    pub stream: String,
    pub sink: String,
}

impl CheckpointKey {
    pub fn run(sink: &str) -> Self {
        Self {
            namespace: "run".into(),
            stream: "audit".into(),
            sink: sink.into(),
        }
    }

    /// The same checkpoint for another of Coder's logs (`run` and `backfill` name the
    /// audit stream).
    pub fn with_stream(mut self, stream: Stream) -> Self {
        self.stream = stream.name().into();
        self
    }

    pub fn backfill(sink: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        Self {
            namespace: format!(
                "backfill-{}-{}",
                from.format("%Y%m%dT%H%M%SZ"),
                to.format("%Y%m%dT%H%M%SZ")
            ),
            stream: "audit".into(),
            sink: sink.into(),
        }
    }
}

/// A checkpoint as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub version: u32,
    pub namespace: String,
    pub stream: String,
    pub sink: String,
    pub updated_at: DateTime<Utc>,
    pub cursor: Cursor,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(
        "checkpoint {path} is corrupt: {reason}. Refusing to guess where to resume. Inspect the file; to start over, move it aside (mv {path} {path}.bad) and set coder.start_at to the time to resume from"
    )]
    Corrupt { path: String, reason: String },
    #[error(
        "checkpoint {path} has format version {found}, this build reads version {FORMAT_VERSION}; use the release that wrote it or move the file aside"
    )]
    Version { path: String, found: u32 },
    #[error(
        "checkpoint {path} not written: this replica (leader epoch {epoch}) is no longer the leader; another replica ships from the shared checkpoints"
    )]
    Fenced { path: String, epoch: i64 },
    #[error("checkpoint {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Where checkpoints live. `file` is the embedded default.
pub trait CheckpointStore: Send + Sync {
    fn load(&self, key: &CheckpointKey) -> Result<Option<Checkpoint>, CheckpointError>;
    fn save(&self, key: &CheckpointKey, cursor: &Cursor) -> Result<(), CheckpointError>;
    /// Every checkpoint in the store, for `checkpoint show`.
    fn list(&self) -> Result<Vec<Checkpoint>, CheckpointError>;
}
