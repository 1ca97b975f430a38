//! Sending a batch: one object per partition, through the [`Uploader`].

use async_trait::async_trait;
use sink_core::{Batch, Delivery, Sink};

use crate::body;
use crate::config::S3SinkConfig;
use crate::object;
use crate::upload::{Content, Uploader};

pub struct S3Sink {
    name: String,
    config: S3SinkConfig,
    uploader: Uploader,
}

impl S3Sink {
    pub async fn new(name: &str, config: S3SinkConfig) -> Self {
        Self {
            name: name.to_owned(),
            uploader: Uploader::connect(name, config.target()).await,
            config,
        }
    }

    fn content(&self) -> Content {
        Content {
            content_type: "application/x-ndjson",
            content_encoding: matches!(self.config.compression, crate::S3Compression::Gzip)
                .then_some("gzip"),
        }
    }
}

#[async_trait]
impl Sink for S3Sink {
    fn name(&self) -> &str {
        &self.name
    }

    /// The bucket exists and the credentials may use it.
    async fn check(&mut self) -> Result<(), String> {
        self.uploader.check_bucket().await
    }

    async fn deliver(&mut self, batch: &Batch) -> Delivery {
        let extension = body::extension(self.config.compression);
        for object in object::split(
            batch,
            &self.config.key_prefix,
            &self.name,
            extension,
            chrono::Utc::now(),
        ) {
            let body = match body::encode(&object.records, self.config.compression) {
                Ok(b) => b,
                Err(e) => return Delivery::retry(format!("compressing {}: {e}", object.key)),
            };
            if let Err(outcome) = self.uploader.put(&object.key, body, self.content()).await {
                return outcome;
            }
            tracing::debug!(sink = %self.name, key = %object.key, records = object.records.len(), "object written");
        }
        Delivery::Delivered
    }
}
