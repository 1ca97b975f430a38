//! Sending a batch: its records are staged as they come ([`crate::stage`]), each page
//! routed to its (class, day) partition and conformed to its row off the async threads;
//! when the batch is due each partition is written as Parquet and uploaded. The batch is
//! delivered only when every object is in the bucket, so the checkpoint never passes an
//! event that is not in the lake.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use sink_core::{Batch, Delivery, Sink};
use sink_s3::{Content, Uploader};

use crate::config::SecurityLakeSinkConfig;
use crate::object::{self, SourcePrefix};
use crate::parquet_file::{self, ParquetFile};
use crate::schema::Catalog;
use crate::stage::{Partition, PartitionKey, Staged};

const PARQUET: Content = Content {
    content_type: "application/vnd.apache.parquet",
    content_encoding: None,
};

pub struct LakeSink {
    name: String,
    config: Arc<SecurityLakeSinkConfig>,
    prefixes: Arc<BTreeMap<u32, SourcePrefix>>,
    uploader: Uploader,
    /// The batch being gathered. Shared with the blocking task that stages or writes it;
    /// one task at a time, since the outlet awaits each call.
    staged: Arc<Mutex<Staged>>,
}

/// An object ready to upload.
struct Written {
    key: String,
    file: ParquetFile,
}

impl LakeSink {
    pub async fn new(
        name: &str,
        config: SecurityLakeSinkConfig,
        prefixes: BTreeMap<u32, SourcePrefix>,
    ) -> Self {
        LakeSink {
            name: name.to_owned(),
            uploader: Uploader::connect(name, config.target()).await,
            config: Arc::new(config),
            prefixes: Arc::new(prefixes),
            staged: Arc::default(),
        }
    }

    fn staged(&self) -> MutexGuard<'_, Staged> {
        self.staged.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One partition's object (CPU work: run it off the async threads).
fn write_object(
    writer: &str,
    config: &SecurityLakeSinkConfig,
    prefixes: &BTreeMap<u32, SourcePrefix>,
    (class_uid, day): PartitionKey,
    partition: &mut Partition,
) -> Result<Written, String> {
    let (Some(class), Some(prefix), Some(first)) = (
        Catalog::get().class(class_uid),
        prefixes.get(&class_uid),
        partition.first_time(),
    ) else {
        // Staging takes only rows of mapped classes with a schema, and stages no
        // partition without rows.
        return Err(format!("OCSF class {class_uid}: no schema, source or rows"));
    };
    let partition_path = object::partition(prefix, &config.region, &config.account_id, day);
    let key = object::key(&partition_path, writer, first, partition.ids());
    let file = parquet_file::write(class, partition.rows_by_time(), config.compression)
        .map_err(|e| format!("writing the Parquet file of {}: {e}", class.name))?;
    Ok(Written { key, file })
}

#[async_trait]
impl Sink for LakeSink {
    fn name(&self) -> &str {
        &self.name
    }

    /// Every source's prefix can be written: a probe object is put and deleted in each
    /// (Security Lake's provider role may write only under its sources' prefixes). Its
    /// name starts with `_`, which Athena skips ("Athena ignores files that begin with an
    /// underscore or a dot", Athena user guide, tables and S3 locations), outside any
    /// partition, so a probe left behind (no `s3:DeleteObject`) is never read as data.
    async fn check(&mut self) -> Result<(), String> {
        // Batches are staged under $TMPDIR (read-only in a locked-down container unless a
        // volume is mounted there).
        tempfile::tempfile().map_err(|e| {
            format!(
                "batches are staged under {}, which cannot be written: {e}",
                std::env::temp_dir().display()
            )
        })?;
        self.uploader.check_bucket().await?;
        for prefix in self.prefixes.values() {
            let key = format!(
                "{}_coder-audit-shipper-validate-{}",
                prefix.as_str(),
                self.name
            );
            self.uploader
                .check_write(&key)
                .await
                .map_err(|e| format!("writing under {}: {e}", prefix.as_str()))?;
        }
        Ok(())
    }

    /// The batch alone: anything staged is dropped first, so a retry of the same batch
    /// stages it afresh. (The pipeline stages; this serves a one-off send, `replay`.)
    async fn deliver(&mut self, batch: &Batch) -> Delivery {
        *self.staged() = Staged::default();
        let dead = match self.stage(batch).await {
            Delivery::Delivered => Vec::new(),
            Delivery::PartlyDelivered { dead } => dead,
            other => return other,
        };
        match self.deliver_staged().await {
            Delivery::Delivered if dead.is_empty() => Delivery::Delivered,
            Delivery::Delivered => Delivery::PartlyDelivered { dead },
            other => other,
        }
    }

    fn stages(&self) -> bool {
        true
    }

    async fn stage(&mut self, batch: &Batch) -> Delivery {
        // CPU work, off the async threads: the tailer reads the next pages meanwhile.
        let records = batch.records().to_vec();
        let (staged, prefixes) = (self.staged.clone(), self.prefixes.clone());
        let added = tokio::task::spawn_blocking(move || {
            let mut staged = staged.lock().unwrap_or_else(|e| e.into_inner());
            staged.add(&records, |class| prefixes.contains_key(&class))
        })
        .await;
        match added {
            Ok(Ok(dead)) if dead.is_empty() => Delivery::Delivered,
            Ok(Ok(dead)) => Delivery::PartlyDelivered { dead },
            // Nothing of it staged (the disk full): try again later.
            Ok(Err(e)) => Delivery::retry(e.to_string()),
            // A panic: what it left staged is unknown, so the stream stops before its
            // checkpoint moves, and is read again.
            Err(e) => Delivery::reject(format!("staging rows: {e}")),
        }
    }

    async fn deliver_staged(&mut self) -> Delivery {
        loop {
            // Each partition stays staged until it is uploaded: a failed write or upload,
            // even a panic, leaves it for the next attempt (or the next run: the checkpoint
            // has not moved).
            let (staged, writer, config, prefixes) = (
                self.staged.clone(),
                self.name.clone(),
                self.config.clone(),
                self.prefixes.clone(),
            );
            let written = tokio::task::spawn_blocking(move || {
                let mut staged = staged.lock().unwrap_or_else(|e| e.into_inner());
                let (key, partition) = staged.first()?;
                Some((
                    key,
                    write_object(&writer, &config, &prefixes, key, partition),
                ))
            })
            .await;
            let (key, written) = match written {
                Ok(Some(w)) => w,
                Ok(None) => return Delivery::Delivered,
                Err(e) => return Delivery::retry(format!("writing a Parquet file: {e}")),
            };
            let mut object = match written {
                Ok(o) => o,
                // The spool's disk full, most likely: try again later.
                Err(reason) => return Delivery::retry(reason),
            };
            let (len, rows) = (object.file.len, object.file.rows);
            if let Err(outcome) = self
                .uploader
                .put_from(&object.key, &mut object.file.body, len, PARQUET)
                .await
            {
                return outcome;
            }
            self.staged().remove(key);
            tracing::debug!(sink = %self.name, key = %object.key, rows, bytes = len, "object written");
        }
    }
}
