//! Checkpoints in PostgreSQL, and the leader lock that lets several replicas run with
//! exactly one of them shipping.
//!
//! The lock is a session-level advisory lock, held by the connection this store writes
//! through: the replica that takes it is the leader; the others poll for it every
//! `takeover_interval` and one of them gets it as soon as PostgreSQL ends the leader's
//! session (at once when the leader's process dies and its socket closes).
//!
//! Fencing: taking the lock bumps `leader.epoch`, and every checkpoint write is a single
//! statement that writes only while the epoch is still the writer's. A deposed leader
//! (its session ended, a standby in its place) therefore cannot move a checkpoint: its
//! write either fails with its connection or writes nothing and fails as `Fenced`. It
//! notices within `takeover_interval` ([`PostgresStore::deposed`]) and stops.
//!
//! `backfill`, `tap` and `checkpoint show` open the store without the lock
//! ([`PostgresStore::open`]): a backfill writes only its own range's checkpoints.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio_postgres::{Client, NoTls};

use super::postgres_tls::{PgTls, client_config, split};
use super::{Checkpoint, CheckpointError, CheckpointKey, CheckpointStore, FORMAT_VERSION};
use crate::coder::Cursor;
use crate::secret::Secret;

/// What can go wrong reaching the database (never with the URL in it: it holds a password).
#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    #[error("connecting to PostgreSQL (checkpoint.url): {0}")]
    Connect(String),
    #[error("PostgreSQL: {what}: {message}")]
    Query { what: &'static str, message: String },
}

pub struct PostgresStore {
    client: Arc<Client>,
    schema: String,
    /// The leader's epoch; `None` for a store opened without the lock.
    epoch: Option<i64>,
    runtime: tokio::runtime::Handle,
}

/// The advisory lock's key: the same for every replica that shares the schema.
fn lock_key(schema: &str) -> i64 {
    // FNV-1a: stable across builds and platforms, unlike `DefaultHasher`.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in "coder-audit-shipper:".bytes().chain(schema.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

/// Connect as the URL's `sslmode` asks (see [`super::postgres_tls`]).
async fn connect(url: &Secret) -> Result<Client, PostgresError> {
    let (url, tls) = split(url.expose()).map_err(PostgresError::Connect)?;
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| PostgresError::Connect(e.to_string()))?;
    let connect_error = |e: tokio_postgres::Error| {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        PostgresError::Connect(message)
    };
    let client = match tls {
        PgTls::Disable => {
            let (client, connection) = config.connect(NoTls).await.map_err(connect_error)?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::error!("the PostgreSQL connection ended: {e}");
                }
            });
            client
        }
        PgTls::Verify { root_cert } => {
            config.ssl_mode(tokio_postgres::config::SslMode::Require);
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(
                client_config(root_cert.as_ref()).map_err(PostgresError::Connect)?,
            );
            let (client, connection) = config.connect(tls).await.map_err(connect_error)?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::error!("the PostgreSQL connection ended: {e}");
                }
            });
            client
        }
    };
    Ok(client)
}

fn query_error(what: &'static str) -> impl Fn(tokio_postgres::Error) -> PostgresError {
    move |e| PostgresError::Query {
        what,
        message: e.to_string(),
    }
}

/// The schema and its two tables, created when missing.
async fn migrate(client: &Client, schema: &str) -> Result<(), PostgresError> {
    // `schema` is checked by the config to be a plain identifier.
    client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};
             CREATE TABLE IF NOT EXISTS {schema}.checkpoints (
                 namespace text NOT NULL,
                 stream text NOT NULL,
                 sink text NOT NULL,
                 version integer NOT NULL,
                 updated_at timestamptz NOT NULL,
                 cursor jsonb NOT NULL,
                 PRIMARY KEY (namespace, stream, sink));
             CREATE TABLE IF NOT EXISTS {schema}.leader (
                 id integer PRIMARY KEY CHECK (id = 1),
                 epoch bigint NOT NULL,
                 holder text,
                 since timestamptz);
             INSERT INTO {schema}.leader (id, epoch) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;"
        ))
        .await
        .map_err(query_error("creating the checkpoint tables"))
}

impl PostgresStore {
    /// The store without the leader lock (backfill, tap, checkpoint show).
    pub async fn open(url: &Secret, schema: &str) -> Result<Self, PostgresError> {
        let client = connect(url).await?;
        migrate(&client, schema).await?;
        Ok(Self {
            client: Arc::new(client),
            schema: schema.to_owned(),
            epoch: None,
            runtime: tokio::runtime::Handle::current(),
        })
    }

    /// Wait until this replica holds the leader lock, then return the store it writes
    /// through; `None` if `shutdown` came first.
    pub async fn lead(
        url: &Secret,
        schema: &str,
        every: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<Option<Self>, PostgresError> {
        let mut store = Self::open(url, schema).await?;
        let key = lock_key(schema);
        let mut waiting = false;
        loop {
            let got: bool = store
                .client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
                .await
                .map_err(query_error("taking the leader lock"))?
                .try_get(0)
                .map_err(query_error("taking the leader lock"))?;
            if got {
                break;
            }
            if !waiting {
                tracing::info!(
                    schema,
                    "standby: another replica holds the leader lock; taking over when it goes"
                );
                waiting = true;
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => return Ok(None),
            }
        }
        let holder = format!(
            "{}:{}",
            std::env::var("HOSTNAME").unwrap_or_default(),
            std::process::id()
        );
        let epoch: i64 = store
            .client
            .query_one(
                &format!(
                    "UPDATE {schema}.leader SET epoch = epoch + 1, holder = $1, since = now()
                     WHERE id = 1 RETURNING epoch"
                ),
                &[&holder],
            )
            .await
            .map_err(query_error("recording the new leader"))?
            .try_get(0)
            .map_err(query_error("recording the new leader"))?;
        tracing::info!(schema, epoch, "leader: this replica ships");
        store.epoch = Some(epoch);
        Ok(Some(store))
    }

    /// Resolves, with the reason, once this replica is no longer the leader: its lock
    /// session failed, or the epoch moved on. Checked every `every`.
    pub async fn deposed(&self, every: Duration) -> String {
        let Some(mine) = self.epoch else {
            return "the store was opened without the leader lock".into();
        };
        let sql = format!("SELECT epoch FROM {}.leader WHERE id = 1", self.schema);
        loop {
            tokio::time::sleep(every).await;
            let epoch = self
                .client
                .query_one(&sql, &[])
                .await
                .and_then(|row| row.try_get::<_, i64>(0));
            match epoch {
                Ok(epoch) if epoch == mine => {}
                Ok(epoch) => return format!("the leader epoch moved from {mine} to {epoch}"),
                Err(e) => return format!("the session holding the lock failed: {e}"),
            }
        }
    }

    /// Where a checkpoint lives, for error messages.
    fn place(&self, key: &CheckpointKey) -> String {
        format!(
            "postgres {}.checkpoints ({}, {}, {})",
            self.schema, key.namespace, key.stream, key.sink
        )
    }

    /// Run `f` from the synchronous store API, on a runtime worker or a blocking thread.
    fn block<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        tokio::task::block_in_place(|| self.runtime.block_on(f))
    }

    fn io(&self, place: String, e: tokio_postgres::Error) -> CheckpointError {
        CheckpointError::Io {
            path: place,
            source: std::io::Error::other(e.to_string()),
        }
    }

    /// The checkpoint in `row`, whose `version`, `updated_at` and `cursor` columns start at
    /// `first`. A row of other types (a table someone altered) is an error, not a panic.
    fn row_to_checkpoint(
        &self,
        key: CheckpointKey,
        row: &tokio_postgres::Row,
        first: usize,
    ) -> Result<Checkpoint, CheckpointError> {
        let columns = (|| {
            Ok::<_, tokio_postgres::Error>((
                row.try_get::<_, i32>(first)?,
                row.try_get::<_, DateTime<Utc>>(first + 1)?,
                row.try_get::<_, serde_json::Value>(first + 2)?,
            ))
        })();
        let (version, updated_at, cursor) = columns.map_err(|e| CheckpointError::Corrupt {
            path: self.place(&key),
            reason: e.to_string(),
        })?;
        let place = self.place(&key);
        let version = u32::try_from(version).unwrap_or(0);
        if version != FORMAT_VERSION {
            return Err(CheckpointError::Version {
                path: place,
                found: version,
            });
        }
        let cursor: Cursor =
            serde_json::from_value(cursor).map_err(|e| CheckpointError::Corrupt {
                path: place,
                reason: e.to_string(),
            })?;
        Ok(Checkpoint {
            version,
            namespace: key.namespace,
            stream: key.stream,
            sink: key.sink,
            updated_at,
            cursor,
        })
    }
}

impl CheckpointStore for PostgresStore {
    fn load(&self, key: &CheckpointKey) -> Result<Option<Checkpoint>, CheckpointError> {
        let sql = format!(
            "SELECT version, updated_at, cursor FROM {}.checkpoints
             WHERE namespace = $1 AND stream = $2 AND sink = $3",
            self.schema
        );
        let row = self
            .block(
                self.client
                    .query_opt(&sql, &[&key.namespace, &key.stream, &key.sink]),
            )
            .map_err(|e| self.io(self.place(key), e))?;
        row.map(|r| self.row_to_checkpoint(key.clone(), &r, 0))
            .transpose()
    }

    fn save(&self, key: &CheckpointKey, cursor: &Cursor) -> Result<(), CheckpointError> {
        let place = self.place(key);
        let cursor = serde_json::to_value(cursor).map_err(|e| CheckpointError::Io {
            path: place.clone(),
            source: std::io::Error::other(e),
        })?;
        let version = i32::try_from(FORMAT_VERSION).unwrap_or(i32::MAX);
        let schema = &self.schema;
        // One statement: the write happens only while the epoch is still ours.
        let fence = match self.epoch {
            Some(_) => format!("WHERE (SELECT epoch FROM {schema}.leader WHERE id = 1) = $6"),
            None => "WHERE $6::bigint IS NULL".to_owned(),
        };
        let sql = format!(
            "INSERT INTO {schema}.checkpoints (namespace, stream, sink, version, updated_at, cursor)
             SELECT $1, $2, $3, $4, now(), $5 {fence}
             ON CONFLICT (namespace, stream, sink) DO UPDATE
             SET version = EXCLUDED.version, updated_at = EXCLUDED.updated_at,
                 cursor = EXCLUDED.cursor"
        );
        let written = self
            .block(self.client.execute(
                &sql,
                &[
                    &key.namespace,
                    &key.stream,
                    &key.sink,
                    &version,
                    &cursor,
                    &self.epoch,
                ],
            ))
            .map_err(|e| self.io(place.clone(), e))?;
        if written == 0 {
            return Err(CheckpointError::Fenced {
                path: place,
                epoch: self.epoch.unwrap_or(0),
            });
        }
        Ok(())
    }

    fn list(&self) -> Result<Vec<Checkpoint>, CheckpointError> {
        let sql = format!(
            "SELECT namespace, stream, sink, version, updated_at, cursor FROM {}.checkpoints
             ORDER BY namespace, stream, sink",
            self.schema
        );
        let rows = self
            .block(self.client.query(&sql, &[]))
            .map_err(|e| self.io(format!("postgres {}.checkpoints", self.schema), e))?;
        rows.into_iter()
            .map(|r| {
                let text = |i: usize| {
                    r.try_get::<_, String>(i)
                        .map_err(|e| self.io(format!("postgres {}.checkpoints", self.schema), e))
                };
                let key = CheckpointKey {
                    namespace: text(0)?,
                    stream: text(1)?,
                    sink: text(2)?,
                };
                self.row_to_checkpoint(key, &r, 3)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_key_is_stable_and_differs_by_schema() {
        assert_eq!(
            lock_key("coder_audit_shipper"),
            lock_key("coder_audit_shipper")
        );
        assert_ne!(lock_key("coder_audit_shipper"), lock_key("other"));
        // Pinned (FNV-1a of "coder-audit-shipper:coder_audit_shipper", computed apart from
        // this code): replicas of different builds must agree on the key.
        assert_eq!(lock_key("coder_audit_shipper"), 7_484_259_806_603_698_001);
    }
}
