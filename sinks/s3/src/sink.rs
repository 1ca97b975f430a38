//! Uploading a batch: one object per partition, a single PUT for small bodies and a
//! multipart upload above the threshold (aborted if a part fails, so no half object is
//! left behind). The SDK adds its own checksums, which S3 verifies.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption as Sse};
use sink_core::{Batch, Delivery, Sink};

use crate::body;
use crate::config::{S3SinkConfig, ServerSideEncryption};
use crate::object;
use crate::outcome::classify;

pub struct S3Sink {
    name: String,
    config: S3SinkConfig,
    client: Client,
}

impl S3Sink {
    /// A client from aws-config's standard credential chain, with the configured region and
    /// endpoint.
    pub async fn new(name: &str, config: S3SinkConfig) -> Self {
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(config.region.clone()))
            .load()
            .await;
        let mut s3 =
            aws_sdk_s3::config::Builder::from(&shared).force_path_style(config.force_path_style);
        if let Some(endpoint) = &config.endpoint {
            s3 = s3.endpoint_url(endpoint);
        }
        Self {
            name: name.to_owned(),
            client: Client::from_conf(s3.build()),
            config,
        }
    }

    fn sse(&self) -> Option<Sse> {
        self.config
            .server_side_encryption
            .as_ref()
            .map(|s| match s {
                ServerSideEncryption::Aes256 => Sse::Aes256,
                ServerSideEncryption::AwsKms => Sse::AwsKms,
            })
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), Delivery> {
        if body.len() > self.config.part_size() {
            return self.put_multipart(key, body).await;
        }
        self.client
            .put_object()
            .bucket(&self.config.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .content_type("application/x-ndjson")
            .set_content_encoding(self.content_encoding())
            .set_server_side_encryption(self.sse())
            .set_ssekms_key_id(self.config.ssekms_key_id.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&e))
    }

    fn content_encoding(&self) -> Option<String> {
        matches!(self.config.compression, crate::S3Compression::Gzip).then(|| "gzip".to_owned())
    }

    async fn put_multipart(&self, key: &str, body: Vec<u8>) -> Result<(), Delivery> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.config.bucket)
            .key(key)
            .content_type("application/x-ndjson")
            .set_content_encoding(self.content_encoding())
            .set_server_side_encryption(self.sse())
            .set_ssekms_key_id(self.config.ssekms_key_id.clone())
            .send()
            .await
            .map_err(|e| classify(&e))?;
        let Some(upload_id) = created.upload_id() else {
            return Err(Delivery::retry(
                "S3 started a multipart upload without an upload id",
            ));
        };
        let mut parts = Vec::new();
        for (i, chunk) in body
            .chunks(self.config.part_size().max(5 * 1024 * 1024))
            .enumerate()
        {
            let number = i32::try_from(i + 1).unwrap_or(i32::MAX);
            let uploaded = self
                .client
                .upload_part()
                .bucket(&self.config.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .body(ByteStream::from(chunk.to_vec()))
                .send()
                .await;
            match uploaded {
                Ok(part) => parts.push(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(part.e_tag().map(str::to_owned))
                        .build(),
                ),
                Err(e) => {
                    self.abort(key, upload_id).await;
                    return Err(classify(&e));
                }
            }
        }
        let completed = self
            .client
            .complete_multipart_upload()
            .bucket(&self.config.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await;
        if let Err(e) = completed {
            self.abort(key, upload_id).await;
            return Err(classify(&e));
        }
        Ok(())
    }

    async fn abort(&self, key: &str, upload_id: &str) {
        if let Err(e) = self
            .client
            .abort_multipart_upload()
            .bucket(&self.config.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
        {
            tracing::warn!(sink = %self.name, key, "aborting a failed multipart upload: {}", aws_sdk_s3::error::DisplayErrorContext(&e));
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
        match self
            .client
            .head_bucket()
            .bucket(&self.config.bucket)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(match classify(&e) {
                Delivery::Reject { reason } | Delivery::Retry { reason, .. } => reason,
                other => format!("{other:?}"),
            }),
        }
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
            if let Err(outcome) = self.put(&object.key, body).await {
                return outcome;
            }
            tracing::debug!(sink = %self.name, key = %object.key, records = object.records.len(), "object written");
        }
        Delivery::Delivered
    }
}
