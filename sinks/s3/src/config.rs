//! The S3 sink's settings. Credentials are not here: they come from aws-config's standard
//! chain (environment, shared profile files, web identity, container and instance roles),
//! so no secret sits in the shipper's config.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use sink_core::size::byte_size;
use sink_core::{Batching, BuildError, Built, DeliveryGuarantee, KeyError, SinkContext, SinkSpec};

use crate::object;
use crate::sink::S3Sink;
use crate::upload::Target;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum S3Compression {
    None,
    #[default]
    Gzip,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub enum ServerSideEncryption {
    #[serde(rename = "AES256")]
    Aes256,
    #[serde(rename = "aws:kms")]
    AwsKms,
}

/// `[sinks.NAME]` with `type = "s3"`: gzip NDJSON objects, batched by size and age.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3SinkConfig {
    pub bucket: String,
    pub region: String,
    /// A custom endpoint (MinIO, Ceph, s3s-fs); `None` is AWS.
    pub endpoint: Option<String>,
    #[serde(default)]
    pub force_path_style: bool,
    /// strftime template of the object key's prefix, from each record's event time.
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
    #[serde(default)]
    pub compression: S3Compression,
    /// An object is written once the batch holds this much (e.g. "10MiB").
    #[serde(default = "default_batch_max_bytes", deserialize_with = "byte_size")]
    pub batch_max_bytes: u64,
    /// ... or once its oldest record has waited this long.
    #[serde(default = "default_batch_timeout", with = "humantime_serde")]
    pub batch_timeout: Duration,
    pub server_side_encryption: Option<ServerSideEncryption>,
    pub ssekms_key_id: Option<String>,
    /// Bodies larger than this go up as a multipart upload, in parts of this size (at
    /// least 5MiB, S3's smallest part).
    #[serde(
        default = "default_multipart_threshold",
        deserialize_with = "byte_size"
    )]
    pub multipart_threshold: u64,
}

fn default_key_prefix() -> String {
    "coder/audit/year=%Y/month=%m/day=%d/".into()
}

fn default_batch_max_bytes() -> u64 {
    10 << 20
}

fn default_batch_timeout() -> Duration {
    Duration::from_secs(300)
}

fn default_multipart_threshold() -> u64 {
    16 << 20
}

impl S3SinkConfig {
    /// Where and how objects are written.
    pub(crate) fn target(&self) -> Target {
        Target {
            bucket: self.bucket.clone(),
            region: self.region.clone(),
            endpoint: self.endpoint.clone(),
            force_path_style: self.force_path_style,
            server_side_encryption: self.server_side_encryption.clone(),
            ssekms_key_id: self.ssekms_key_id.clone(),
            part_size: usize::try_from(self.multipart_threshold).unwrap_or(usize::MAX),
        }
    }
}

#[async_trait]
impl SinkSpec for S3SinkConfig {
    const TYPE: &'static str = "s3";

    fn validate(&self) -> Result<(), KeyError> {
        if !object::valid_key_prefix(&self.key_prefix) {
            return Err(KeyError::new(
                "key_prefix",
                format!("{:?} is not a valid strftime template", self.key_prefix),
            ));
        }
        self.target().validate()
    }

    fn describe(&self) -> String {
        format!(
            "s3 bucket {} ({}) prefix {}",
            self.bucket, self.region, self.key_prefix
        )
    }

    fn guarantee(&self) -> DeliveryGuarantee {
        DeliveryGuarantee::Stored
    }

    /// Object names carry the sink's name, so two sinks cannot overwrite each other; one
    /// place per sink still keeps each sink's objects apart for whoever reads them
    /// (Athena, Security Lake), and a copy of a sink under a new name would otherwise
    /// write everything twice unnoticed.
    fn destination(&self) -> Option<(&'static str, String)> {
        Some((
            "key_prefix",
            format!(
                "bucket {:?} and key_prefix {:?}{}",
                self.bucket,
                self.key_prefix,
                self.endpoint
                    .as_deref()
                    .map(|e| format!(" at {e}"))
                    .unwrap_or_default()
            ),
        ))
    }

    fn exposure(&self) -> Option<String> {
        self.target().exposure()
    }

    async fn build(&self, ctx: &SinkContext<'_>) -> Result<Built, BuildError> {
        Ok(Built {
            sink: Box::new(S3Sink::new(ctx.name, self.clone()).await),
            batching: Batching::by_size_and_age(self.batch_max_bytes, self.batch_timeout),
        })
    }
}
