//! Building sinks from their config. The pipeline only ever sees `Box<dyn Sink>` and how
//! that sink wants its records batched.

use sink_core::Sink;
use sink_file::{FileSink, FileSinkConfig, StdoutSink};
#[cfg(feature = "kafka")]
use sink_kafka::{KafkaSink, TopicTemplate};
#[cfg(feature = "s3")]
use sink_s3::S3Sink;
#[cfg(feature = "splunk")]
use sink_splunk::HecSink;
#[cfg(feature = "syslog")]
use sink_syslog::SyslogSink;

use crate::config::{Body, Encoding, Format, SinkConfig};
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
    #[cfg_attr(
        not(any(feature = "kafka", feature = "splunk", feature = "syslog")),
        allow(dead_code)
    )]
    fn new(name: &str, e: impl std::fmt::Display) -> Self {
        BuildError {
            name: name.to_owned(),
            message: e.to_string(),
        }
    }
}

/// Build sink `name`. `origin` is the host the events come from (the Coder URL's), the
/// default HEC `host` and syslog HOSTNAME.
#[cfg_attr(
    not(any(feature = "splunk", feature = "syslog")),
    allow(unused_variables)
)]
pub async fn build(name: &str, config: &SinkConfig, origin: &str) -> Result<BuiltSink, BuildError> {
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
                        timestamp: c.timestamp,
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
        #[cfg(feature = "splunk")]
        SinkConfig::SplunkHec(c) => {
            let encoding = config.encoding();
            Box::new(hec(name, c, &encoding, origin)?)
        }
        #[cfg(feature = "syslog")]
        SinkConfig::Syslog(c) => Box::new(
            SyslogSink::new(
                name,
                sink_syslog::SyslogSinkConfig {
                    address: c.address.clone(),
                    transport: c.transport,
                    framing: c.framing,
                    facility: c.facility,
                    severity: c.severity,
                    hostname: c.hostname.clone().unwrap_or_else(|| origin.to_owned()),
                    app_name: c.app_name.clone(),
                    sd_id: c.sd_id.clone(),
                    bom: c.bom,
                    tls: sink_syslog::TlsFiles {
                        ca_file: c.tls_ca_file.clone(),
                        cert_file: c.tls_cert_file.clone(),
                        key_file: c.tls_key_file.clone(),
                        server_name: c.tls_server_name.clone(),
                    },
                    max_message_bytes: match (c.max_message_bytes, c.transport) {
                        (Some(n), _) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
                        (None, sink_syslog::Transport::Udp) => {
                            Some(sink_syslog::config::UDP_MAX_PAYLOAD)
                        }
                        (None, _) => None,
                    },
                    connect_timeout: c.connect_timeout,
                    write_timeout: c.write_timeout,
                },
            )
            .map_err(|e| BuildError::new(name, e))?,
        ),
    };
    let batching = match config {
        #[cfg(feature = "s3")]
        SinkConfig::S3(c) => Batching {
            max_bytes: usize::try_from(c.batch_max_bytes).unwrap_or(usize::MAX),
            max_events: usize::MAX,
            timeout: Some(c.batch_timeout),
        },
        // One ack round per batch: gather what arrives within `batch_timeout`.
        #[cfg(feature = "splunk")]
        SinkConfig::SplunkHec(c) => Batching {
            max_bytes: usize::try_from(c.batch_max_bytes).unwrap_or(usize::MAX),
            max_events: usize::MAX,
            timeout: Some(c.batch_timeout),
        },
        _ => Batching::IMMEDIATE,
    };
    Ok(BuiltSink { sink, batching })
}

#[cfg(feature = "splunk")]
fn hec(
    name: &str,
    c: &crate::config::SplunkHecSinkConfig,
    encoding: &Encoding,
    origin: &str,
) -> Result<HecSink, BuildError> {
    let token = match (&c.token, &c.token_file) {
        (Some(t), _) => t.expose().to_owned(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| BuildError::new(name, format!("token_file {}: {e}", path.display())))?,
        (None, None) => return Err(BuildError::new(name, "no HEC token")),
    };
    if token.trim().is_empty() {
        return Err(BuildError::new(name, "the HEC token is empty"));
    }
    let sourcetype = c.sourcetype.clone().unwrap_or_else(|| {
        match encoding.format {
            Format::Raw => "coder:audit",
            Format::Ecs => "ecs:coder:audit",
            Format::Ocsf => "ocsf:coder:audit",
        }
        .to_owned()
    });
    HecSink::new(
        name,
        sink_splunk::HecConfig {
            endpoint: c.endpoint.clone(),
            token: sink_splunk::Token::new(token),
            index: c.index.clone(),
            sourcetype,
            source: c.source.clone(),
            host: Some(c.host.clone().unwrap_or_else(|| origin.to_owned())),
            compression: c.compression,
            ack: c.ack.then_some(sink_splunk::AckConfig {
                first_poll: c.ack_first_poll,
                poll_interval: c.ack_poll_interval,
                timeout: c.ack_timeout,
                max_pending: c.max_pending_acks,
            }),
            tls_ca_file: c.tls_ca_file.clone(),
            max_request_bytes: usize::try_from(c.max_request_bytes).unwrap_or(usize::MAX),
            request_timeout: c.request_timeout,
        },
    )
    .map_err(|e| BuildError::new(name, e))
}

/// The `coder-audit-format` a consumer can dispatch on.
pub fn format_name(encoding: &Encoding) -> &'static str {
    match encoding.body {
        Body::Json => {}
        Body::Cef => return "cef",
        Body::Leef => return "leef",
    }
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
        Some(Target::Cef) => "cef 0".to_owned(),
        Some(Target::Leef) => "leef 2.0".to_owned(),
    }
}
