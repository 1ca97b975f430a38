//! Building sinks from their config. The pipeline only ever sees `Box<dyn Sink>` and how
//! that sink wants its records batched.

use sink_core::Sink;
use sink_file::{FileSink, FileSinkConfig, StdoutSink};
#[cfg(feature = "kafka")]
use sink_kafka::{KafkaSink, TopicTemplate};
#[cfg(feature = "s3")]
use sink_s3::S3Sink;

use crate::config::{Encoding, Format, SinkConfig};
use crate::normalize::Target;
use crate::pipeline::Batching;

pub struct BuiltSink {
    pub sink: Box<dyn Sink>,
    pub batching: Batching,
}

#[derive(Debug, thiserror::Error)]
#[error("sink {name}: {message}")]
pub struct BuildError {
    name: String,
    message: String,
}

impl BuildError {
    #[cfg_attr(not(feature = "kafka"), allow(dead_code))]
    fn new(name: &str, e: impl std::fmt::Display) -> Self {
        BuildError {
            name: name.to_owned(),
            message: e.to_string(),
        }
    }
}

pub async fn build(name: &str, config: &SinkConfig) -> Result<BuiltSink, BuildError> {
    let sink: Box<dyn Sink> = match config {
        SinkConfig::File(c) => Box::new(FileSink::new(
            name,
            FileSinkConfig {
                path: c.path.clone(),
                max_bytes: c.max_bytes,
                max_files: c.max_files,
            },
        )),
        SinkConfig::Stdout(_) => Box::new(StdoutSink::new(name)),
        #[cfg(feature = "kafka")]
        SinkConfig::Kafka(c) => {
            let encoding = config.encoding();
            Box::new(
                KafkaSink::new(
                    name,
                    sink_kafka::KafkaSinkConfig {
                        brokers: c.brokers.clone(),
                        topic: TopicTemplate::parse(&c.topic)
                            .map_err(|e| BuildError::new(name, e))?,
                        compression: c.compression,
                        message_timeout: c.message_timeout,
                        format: format_name(&encoding).to_owned(),
                        schema: schema_name(&encoding),
                        librdkafka: c.librdkafka.clone(),
                    },
                )
                .map_err(|e| BuildError::new(name, e))?,
            )
        }
        #[cfg(feature = "s3")]
        SinkConfig::S3(c) => Box::new(
            S3Sink::new(
                name,
                sink_s3::S3SinkConfig {
                    bucket: c.bucket.clone(),
                    region: c.region.clone(),
                    endpoint: c.endpoint.clone(),
                    force_path_style: c.force_path_style,
                    key_prefix: c.key_prefix.clone(),
                    compression: c.compression,
                    server_side_encryption: c.server_side_encryption.clone(),
                    ssekms_key_id: c.ssekms_key_id.clone(),
                    multipart_threshold: usize::try_from(c.multipart_threshold)
                        .unwrap_or(usize::MAX),
                },
            )
            .await,
        ),
    };
    let batching = match config {
        #[cfg(feature = "s3")]
        SinkConfig::S3(c) => Batching {
            max_bytes: usize::try_from(c.batch_max_bytes).unwrap_or(usize::MAX),
            max_events: usize::MAX,
            timeout: Some(c.batch_timeout),
        },
        _ => Batching::IMMEDIATE,
    };
    Ok(BuiltSink { sink, batching })
}

/// The `coder-audit-format` a consumer can dispatch on.
pub fn format_name(encoding: &Encoding) -> &'static str {
    match encoding.format {
        Format::Raw => "raw",
        Format::Ecs => "ecs",
        Format::Ocsf => "ocsf",
    }
}

/// The schema and version of the records: `ecs 9.4.0`, `ocsf 1.8.0`, or `coder` (raw).
pub fn schema_name(encoding: &Encoding) -> String {
    match encoding.target() {
        None => "coder".to_owned(),
        Some(Target::Ecs) => format!("ecs {}", crate::normalize::ecs::ECS_VERSION),
        Some(Target::Ocsf { version, .. }) => format!("ocsf {}", version.as_str()),
    }
}
