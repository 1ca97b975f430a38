//! Putting objects: one client, one bucket, the encryption every write carries; a single
//! PUT for small bodies and a multipart upload above the part size, aborted if a part
//! fails so no half object is left behind (S3 shows a multipart object only once it is
//! completed: "Uploading and copying objects using multipart upload", Amazon S3 user
//! guide). The SDK adds its own checksums, which S3 verifies.
//!
//! The S3 sink and the Security Lake sink both write through an [`Uploader`].

use std::io::Read;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption as Sse};
use sink_core::{Delivery, KeyError};

use crate::config::ServerSideEncryption;
use crate::outcome::classify;

/// S3's smallest part of a multipart upload ("Amazon S3 multipart upload limits": 5 MiB,
/// except the last part).
pub const MIN_PART: u64 = 5 << 20;

/// Where objects go: what both sinks' tables say of the bucket.
#[derive(Debug, Clone)]
pub struct Target {
    pub bucket: String,
    pub region: String,
    /// A custom endpoint (MinIO, Ceph, s3s-fs); `None` is AWS.
    pub endpoint: Option<String>,
    pub force_path_style: bool,
    pub server_side_encryption: Option<ServerSideEncryption>,
    pub ssekms_key_id: Option<String>,
    /// Bodies larger than this go up in parts of this size.
    pub part_size: usize,
}

impl Target {
    /// The checks both sinks' tables share: the part size and the KMS key.
    pub fn validate(&self) -> Result<(), KeyError> {
        if (self.part_size as u64) < MIN_PART {
            return Err(KeyError::new(
                "multipart_threshold",
                "must be at least 5MiB (S3's smallest part)",
            ));
        }
        if self.ssekms_key_id.is_some()
            && self.server_side_encryption != Some(ServerSideEncryption::AwsKms)
        {
            return Err(KeyError::new(
                "ssekms_key_id",
                "needs server_side_encryption = \"aws:kms\"",
            ));
        }
        Ok(())
    }

    /// Why the objects cross the network in clear text, if they do.
    pub fn exposure(&self) -> Option<String> {
        self.endpoint
            .as_deref()
            .is_some_and(sink_core::is_plain_http)
            .then(|| {
                "endpoint is http://: objects (the audit trail) cross the network in clear \
                 text (the secret key itself is never sent: SigV4 signs with it)"
                    .to_owned()
            })
    }
}

/// What an object is, for readers that look at its headers.
#[derive(Debug, Clone, Copy)]
pub struct Content {
    pub content_type: &'static str,
    pub content_encoding: Option<&'static str>,
}

/// Writes objects into one bucket for one sink.
pub struct Uploader {
    sink: String,
    target: Target,
    client: Client,
}

impl Uploader {
    /// A client from aws-config's standard credential chain (environment, shared profile
    /// files, web identity, container and instance roles), with the target's region and
    /// endpoint. `sink` names the sink in log lines.
    pub async fn connect(sink: &str, target: Target) -> Self {
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(target.region.clone()))
            .load()
            .await;
        let mut s3 =
            aws_sdk_s3::config::Builder::from(&shared).force_path_style(target.force_path_style);
        if let Some(endpoint) = &target.endpoint {
            s3 = s3.endpoint_url(endpoint);
        }
        Uploader {
            sink: sink.to_owned(),
            client: Client::from_conf(s3.build()),
            target,
        }
    }

    pub fn bucket(&self) -> &str {
        &self.target.bucket
    }

    fn sse(&self) -> Option<Sse> {
        self.target
            .server_side_encryption
            .as_ref()
            .map(|s| match s {
                ServerSideEncryption::Aes256 => Sse::Aes256,
                ServerSideEncryption::AwsKms => Sse::AwsKms,
            })
    }

    /// The bucket exists and the credentials may use it.
    pub async fn check_bucket(&self) -> Result<(), String> {
        match self.client.head_bucket().bucket(self.bucket()).send().await {
            Ok(_) => Ok(()),
            Err(e) => Err(reason(classify(&e))),
        }
    }

    /// Write and delete a small object under `key`: the credentials may write where the
    /// sink will write (Security Lake's role is scoped to a prefix, so a bucket check
    /// alone says little).
    pub async fn check_write(&self, key: &str) -> Result<(), String> {
        self.put(
            key,
            b"coder-audit-shipper validate".to_vec(),
            Content {
                content_type: "text/plain",
                content_encoding: None,
            },
        )
        .await
        .map_err(reason)?;
        self.client
            .delete_object()
            .bucket(self.bucket())
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "wrote {key} but could not delete it: {}",
                    reason(classify(&e))
                )
            })
    }

    /// Write `body` as `key`.
    pub async fn put(&self, key: &str, body: Vec<u8>, content: Content) -> Result<(), Delivery> {
        if body.len() > self.target.part_size {
            let len = body.len() as u64;
            return self
                .put_from(key, &mut std::io::Cursor::new(body), len, content)
                .await;
        }
        self.put_whole(key, body, content).await
    }

    /// Write the `len` bytes `body` yields as `key`: one PUT up to the part size, a
    /// multipart upload above it, read a part at a time (so a body spilled to disk is
    /// never whole in memory).
    pub async fn put_from(
        &self,
        key: &str,
        body: &mut (dyn Read + Send),
        len: u64,
        content: Content,
    ) -> Result<(), Delivery> {
        if len > self.target.part_size as u64 {
            return self.put_multipart(key, body, content).await;
        }
        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        body.read_to_end(&mut bytes)
            .map_err(|e| Delivery::retry(format!("reading the body of {key}: {e}")))?;
        self.put_whole(key, bytes, content).await
    }

    /// One PUT.
    async fn put_whole(&self, key: &str, body: Vec<u8>, content: Content) -> Result<(), Delivery> {
        self.client
            .put_object()
            .bucket(self.bucket())
            .key(key)
            .body(ByteStream::from(body))
            .content_type(content.content_type)
            .set_content_encoding(content.content_encoding.map(str::to_owned))
            .set_server_side_encryption(self.sse())
            .set_ssekms_key_id(self.target.ssekms_key_id.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&e))
    }

    async fn put_multipart(
        &self,
        key: &str,
        body: &mut (dyn Read + Send),
        content: Content,
    ) -> Result<(), Delivery> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(self.bucket())
            .key(key)
            .content_type(content.content_type)
            .set_content_encoding(content.content_encoding.map(str::to_owned))
            .set_server_side_encryption(self.sse())
            .set_ssekms_key_id(self.target.ssekms_key_id.clone())
            .send()
            .await
            .map_err(|e| classify(&e))?;
        let Some(upload_id) = created.upload_id() else {
            return Err(Delivery::retry(
                "S3 started a multipart upload without an upload id",
            ));
        };
        let part_size = self.target.part_size.max(MIN_PART as usize);
        let mut parts = Vec::new();
        for number in 1.. {
            let chunk = match read_part(body, part_size) {
                Ok(c) if c.is_empty() => break,
                Ok(c) => c,
                Err(e) => {
                    self.abort(key, upload_id).await;
                    return Err(Delivery::retry(format!("reading the body of {key}: {e}")));
                }
            };
            let uploaded = self
                .client
                .upload_part()
                .bucket(self.bucket())
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .body(ByteStream::from(chunk))
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
            .bucket(self.bucket())
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
            .bucket(self.bucket())
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
        {
            tracing::warn!(sink = %self.sink, key, "aborting a failed multipart upload: {}", aws_sdk_s3::error::DisplayErrorContext(&e));
        }
    }
}

/// Up to `size` bytes of `body`; fewer only at its end.
fn read_part(body: &mut (dyn Read + Send), size: usize) -> std::io::Result<Vec<u8>> {
    let mut chunk = Vec::with_capacity(size);
    body.take(size as u64).read_to_end(&mut chunk)?;
    Ok(chunk)
}

/// The words of a failed outcome, for `validate`.
fn reason(outcome: Delivery) -> String {
    match outcome {
        Delivery::Reject { reason } | Delivery::Retry { reason, .. } => reason,
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_read_in_whole_parts_and_a_short_last_one() {
        let data: Vec<u8> = (0..25u8).collect();
        let mut body = std::io::Cursor::new(data.clone());
        let parts: Vec<Vec<u8>> =
            std::iter::from_fn(|| read_part(&mut body, 10).ok().filter(|p| !p.is_empty()))
                .collect();
        assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 5]);
        assert_eq!(parts.concat(), data);
    }
}
