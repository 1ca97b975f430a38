//! The S3 sink: each batch becomes gzip NDJSON objects under a key template partitioned by
//! event time, named from the batch itself so a resend overwrites instead of duplicating.
//!
//! * [`config`]: bucket, endpoint, key template, compression, encryption;
//! * [`object`]: which records go to which object, and the object's name;
//! * [`body`]: the object's bytes (NDJSON, gzip);
//! * [`outcome`]: which S3 errors are retried and which stop the sink;
//! * [`upload`]: the client, single and multipart uploads (the Security Lake sink's too);
//! * [`sink`]: a batch as objects.

pub mod body;
pub mod config;
pub mod object;
pub mod outcome;
pub mod sink;
pub mod upload;

pub use config::{S3Compression, S3SinkConfig, ServerSideEncryption};
pub use sink::S3Sink;
pub use upload::{Content, MIN_PART, Target, Uploader};
