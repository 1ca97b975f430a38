//! The S3 sink's settings. Credentials are not here: they come from aws-config's standard
//! chain (environment, shared profile files, web identity, container and instance roles),
//! so no secret sits in the shipper's config.

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

#[derive(Debug, Clone)]
pub struct S3SinkConfig {
    pub bucket: String,
    pub region: String,
    /// A custom endpoint (MinIO, Ceph, s3s-fs); `None` is AWS.
    pub endpoint: Option<String>,
    pub force_path_style: bool,
    /// strftime template of the object key's prefix, from each record's event time.
    pub key_prefix: String,
    pub compression: S3Compression,
    pub server_side_encryption: Option<ServerSideEncryption>,
    pub ssekms_key_id: Option<String>,
    /// Bodies larger than this go up as a multipart upload, in parts of this size.
    pub multipart_threshold: usize,
}
