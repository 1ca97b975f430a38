//! `[checkpoint]`: where each sink's cursor is kept, a directory or a PostgreSQL table with
//! a leader lock.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use sink_core::KeyError;

use crate::secret::Secret;

/// `[checkpoint]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointConfig {
    #[serde(default)]
    pub store: StoreKind,
    /// `store = "file"`: the directory (also the default home of the dead letters).
    #[serde(default = "default_dir")]
    pub dir: PathBuf,
    /// `store = "postgres"`: `postgres://user:password@host:port/database`, or a file
    /// holding it. A secret: it never reaches a log line.
    pub url: Option<Secret>,
    pub url_file: Option<PathBuf>,
    /// `store = "postgres"`: the schema of the shipper's tables (created when missing).
    /// Replicas that share it share checkpoints and the leader lock.
    #[serde(default = "default_schema")]
    pub schema: String,
    /// `store = "postgres"`: how often a standby tries to take the leader lock and the
    /// leader checks that it still holds it: a standby takes over within about this long
    /// of the leader's death.
    #[serde(default = "default_takeover_interval", with = "humantime_serde")]
    pub takeover_interval: Duration,
    /// How long a sink's checkpoint may wait behind what the sink confirmed, so that a
    /// backfill writes it about once a second, not once a page. Only duplicates depend on
    /// it: after a `kill -9` at most this much is sent again (never lost; a stop saves
    /// the newest). Filebeat's registry flushes once a second by default too. `"0s"` saves
    /// after every page.
    #[serde(default = "default_save_interval", with = "humantime_serde")]
    pub save_interval: Duration,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self {
            store: StoreKind::File,
            dir: default_dir(),
            url: None,
            url_file: None,
            schema: default_schema(),
            takeover_interval: default_takeover_interval(),
            save_interval: default_save_interval(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    #[default]
    File,
    /// A table in PostgreSQL, with a leader lock: of several replicas exactly one ships.
    Postgres,
}

impl CheckpointConfig {
    /// What types alone cannot check.
    pub(super) fn check(&self) -> Result<(), KeyError> {
        if self.store != StoreKind::Postgres {
            return Ok(());
        }
        match (&self.url, &self.url_file) {
            (None, None) => {
                return Err(KeyError::new(
                    "checkpoint.url",
                    "store = \"postgres\" needs checkpoint.url or checkpoint.url_file",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(KeyError::new(
                    "checkpoint.url",
                    "set checkpoint.url or checkpoint.url_file, not both",
                ));
            }
            _ => {}
        }
        let schema = &self.schema;
        if schema.is_empty()
            || schema.len() > 63
            || !schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            || schema.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err(KeyError::new(
                "checkpoint.schema",
                format!(
                    "a PostgreSQL identifier of lower-case letters, digits and '_', got {schema:?}"
                ),
            ));
        }
        if self.takeover_interval.is_zero() {
            return Err(KeyError::new(
                "checkpoint.takeover_interval",
                "must be more than 0",
            ));
        }
        Ok(())
    }
}

fn default_dir() -> PathBuf {
    "/var/lib/coder-audit-shipper".into()
}
fn default_schema() -> String {
    "coder_audit_shipper".into()
}
fn default_takeover_interval() -> Duration {
    Duration::from_secs(2)
}

fn default_save_interval() -> Duration {
    Duration::from_secs(1)
}
