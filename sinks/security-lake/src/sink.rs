//! Sending a batch: route its records to (class, day) objects, write each as Parquet off
//! the async threads, and upload them; the batch is delivered only when every object is
//! in the bucket, so the checkpoint never passes an event that is not in the lake.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use sink_core::{Batch, DeadRecord, Delivery, Record, Sink};
use sink_s3::{Content, Uploader};

use crate::config::SecurityLakeSinkConfig;
use crate::conform::conform;
use crate::object::{self, SourcePrefix};
use crate::parquet_file::{self, ParquetFile};
use crate::route::{Route, route};
use crate::schema::Catalog;

const PARQUET: Content = Content {
    content_type: "application/vnd.apache.parquet",
    content_encoding: None,
};

pub struct LakeSink {
    name: String,
    config: Arc<SecurityLakeSinkConfig>,
    prefixes: Arc<BTreeMap<u32, SourcePrefix>>,
    uploader: Uploader,
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
        }
    }
}

/// Write every object of `records` (CPU work: run it off the async threads).
fn write_objects(
    writer: &str,
    config: &SecurityLakeSinkConfig,
    prefixes: &BTreeMap<u32, SourcePrefix>,
    records: &[Record],
) -> Result<(Vec<Written>, Vec<DeadRecord>), String> {
    let routes = route(records, |class| prefixes.contains_key(&class));
    let mut dead = routes.dead;
    let mut written = Vec::with_capacity(routes.objects.len());
    for r in &routes.objects {
        let Some(w) = write_object(writer, config, prefixes, records, r, &mut dead)? else {
            continue;
        };
        written.push(w);
    }
    dead.sort_by_key(|d| d.index);
    Ok((written, dead))
}

/// One object; `None` when none of its rows fit the schema (they are all in `dead`).
fn write_object(
    writer: &str,
    config: &SecurityLakeSinkConfig,
    prefixes: &BTreeMap<u32, SourcePrefix>,
    records: &[Record],
    r: &Route,
    dead: &mut Vec<DeadRecord>,
) -> Result<Option<Written>, String> {
    let (Some(class), Some(prefix)) = (
        Catalog::get().class(r.class_uid),
        prefixes.get(&r.class_uid),
    ) else {
        // `route` sends only mapped classes, and every mappable class has a schema.
        for (_, index) in &r.rows {
            dead.push(DeadRecord {
                index: *index,
                reason: format!("OCSF class {} has no Parquet schema", r.class_uid),
            });
        }
        return Ok(None);
    };
    let mut ids = Vec::with_capacity(r.rows.len());
    let rows = r.rows.iter().filter_map(|(_, index)| {
        let record = &records[*index];
        let mut row = Vec::with_capacity(record.payload.len());
        match conform(&record.payload, &class.root, &mut row) {
            Ok(()) => {
                ids.push(record.id.as_str());
                Some(row)
            }
            Err(misfit) => {
                dead.push(DeadRecord {
                    index: *index,
                    reason: format!("does not fit OCSF 1.1.0 {}: {misfit}", class.name),
                });
                None
            }
        }
    });
    let file = parquet_file::write(class, rows, config.compression)
        .map_err(|e| format!("writing the Parquet file of {}: {e}", class.name))?;
    if file.rows == 0 {
        return Ok(None);
    }
    let Some(first) = r.rows.first().map(|(t, _)| *t) else {
        return Ok(None);
    };
    let partition = object::partition(prefix, &config.region, &config.account_id, r.day);
    Ok(Some(Written {
        key: object::key(&partition, writer, first, &ids),
        file,
    }))
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

    async fn deliver(&mut self, batch: &Batch) -> Delivery {
        // CPU work, off the async threads: the tailer reads the next pages meanwhile.
        // (`block_in_place`, which saves copying the records, measured no better:
        // BENCHMARKS.md.)
        let records = batch.records().to_vec();
        let (writer, config, prefixes) = (
            self.name.clone(),
            self.config.clone(),
            self.prefixes.clone(),
        );
        let written = tokio::task::spawn_blocking(move || {
            write_objects(&writer, &config, &prefixes, &records)
        })
        .await;
        let (objects, dead) = match written {
            Ok(Ok(w)) => w,
            // A file that could not be written (the spool's disk full): try again later.
            Ok(Err(reason)) => return Delivery::retry(reason),
            Err(e) => return Delivery::retry(format!("writing Parquet files: {e}")),
        };
        for mut object in objects {
            let (len, rows) = (object.file.len, object.file.rows);
            if let Err(outcome) = self
                .uploader
                .put_from(&object.key, &mut object.file.body, len, PARQUET)
                .await
            {
                return outcome;
            }
            tracing::debug!(sink = %self.name, key = %object.key, rows, bytes = len, "object written");
        }
        if dead.is_empty() {
            Delivery::Delivered
        } else {
            Delivery::PartlyDelivered { dead }
        }
    }
}
