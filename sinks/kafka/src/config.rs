//! The Kafka sink's table (`[sinks.NAME]`, [`KafkaSinkConfig`]), the settings the
//! producer runs with ([`KafkaSettings`]), and the librdkafka configuration made from them.
//!
//! Defaults make delivery safe: `acks=all` and the idempotent producer, so a batch
//! confirmed is on every in-sync replica, and librdkafka's own retries inside
//! `message_timeout` do not duplicate. `message_timeout` defaults to librdkafka's own 300 s,
//! which its INTRODUCTION.md ("Message timeout considerations") recommends keeping large:
//! past it, the records whose report failed are sent again through a new producer (a new
//! producer id, which idempotence cannot match to the old), and one that timed out in
//! flight may have been written already: a duplicate, keyed by the audit id for consumers
//! to drop. Records already confirmed are not sent again (see [`crate::progress`]).
//! `librdkafka` passes any other setting through (TLS, SASL, tuning); a value written
//! `env:NAME` or `file:/path` is read from there, so secrets stay out of config files. The
//! passthrough values never appear in `Debug` output or logs.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::ClientConfig;
use sink_core::{Batching, BuildError, Built, DeliveryGuarantee, KeyError, SinkContext, SinkSpec};

use crate::sink::KafkaSink;
use crate::topic::TopicTemplate;

/// `[sinks.NAME]` with `type = "kafka"`: one message per event, keyed by the audit id.
#[derive(Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkConfig {
    /// `host:port[,host:port...]`.
    pub brokers: String,
    /// A topic, or a template with `{resource_type}`.
    pub topic: String,
    #[serde(default)]
    pub compression: Compression,
    /// How long librdkafka tries a message before the batch is sent again.
    #[serde(default = "default_message_timeout", with = "humantime_serde")]
    pub message_timeout: Duration,
    /// The message timestamp: `now` (default, the produce time) or `event` (the event's
    /// time; old events may then fall to time retention at once, or be refused by a broker
    /// with `message.timestamp.before.max.ms`). The event time is in a header either way.
    #[serde(default)]
    pub timestamp: MessageTime,
    /// librdkafka settings passed through (TLS, SASL, tuning); `env:NAME` and
    /// `file:/path` values are read from there. Never logged.
    #[serde(default)]
    pub librdkafka: BTreeMap<String, String>,
}

/// librdkafka's own default, which its INTRODUCTION.md recommends keeping large.
fn default_message_timeout() -> Duration {
    Duration::from_secs(300)
}

impl fmt::Debug for KafkaSinkConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaSinkConfig")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("compression", &self.compression)
            .field("timestamp", &self.timestamp)
            .field(
                "librdkafka keys",
                &self.librdkafka.keys().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SinkSpec for KafkaSinkConfig {
    const TYPE: &'static str = "kafka";

    fn validate(&self) -> Result<(), KeyError> {
        if let Err(e) = TopicTemplate::parse(&self.topic) {
            return Err(KeyError::new("topic", e.to_string()));
        }
        if self.brokers.trim().is_empty() {
            return Err(KeyError::new("brokers", "is empty"));
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("kafka {} topic {}", self.brokers, self.topic)
    }

    fn guarantee(&self) -> DeliveryGuarantee {
        DeliveryGuarantee::Replicated
    }

    fn exposure(&self) -> Option<String> {
        let off = |k: &str, v: &str| {
            self.librdkafka
                .get(k)
                .is_some_and(|x| x.trim().eq_ignore_ascii_case(v))
        };
        (off("enable.ssl.certificate.verification", "false")
            || off("ssl.endpoint.identification.algorithm", "none"))
        .then(|| {
            "librdkafka settings turn TLS certificate checks off: anyone on the path can \
             pose as the brokers and read or drop events"
                .to_owned()
        })
    }

    async fn build(&self, ctx: &SinkContext<'_>) -> Result<Built, BuildError> {
        let topic = TopicTemplate::parse(&self.topic).map_err(BuildError::of)?;
        let settings = KafkaSettings {
            brokers: self.brokers.clone(),
            topic,
            compression: self.compression,
            message_timeout: self.message_timeout,
            timestamp: self.timestamp,
            format: ctx.format.to_owned(),
            schema: ctx.schema.to_owned(),
            librdkafka: self.librdkafka.clone(),
        };
        let sink = KafkaSink::new(ctx.name, settings).map_err(BuildError::of)?;
        Ok(Built {
            sink: Box::new(sink),
            batching: Batching::IMMEDIATE,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    #[default]
    Zstd,
}

impl Compression {
    fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// Which time a message carries as its Kafka timestamp.
///
/// Brokers apply time retention by the largest timestamp in a segment (KAFKA-7910: a
/// segment goes once its newest record is older than `retention.ms`), and since Kafka 3.6
/// refuse records older than `log.message.timestamp.before.max.ms` with
/// `INVALID_TIMESTAMP` (KIP-937). A backfill of last year's events stamped with their own
/// time can therefore be deleted right after delivery, or refused. So the default is the
/// produce time; the event's time travels in the `coder-audit-event-time` header either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageTime {
    /// The time librdkafka produces the message (CreateTime = now).
    #[default]
    Now,
    /// The event's own time: what Kafka Streams and time-based consumers order by, at the
    /// price above.
    Event,
}

/// What the producer runs with: the operator's [`KafkaSinkConfig`], its topic parsed, and
/// the record headers of the sink's encoding.
#[derive(Clone)]
pub struct KafkaSettings {
    /// `host:port[,host:port...]`.
    pub brokers: String,
    pub topic: TopicTemplate,
    pub compression: Compression,
    /// How long librdkafka tries one message before reporting it failed (the batch is then
    /// sent again by the retry loop).
    pub message_timeout: Duration,
    /// The message timestamp: produce time or event time.
    pub timestamp: MessageTime,
    /// `coder-audit-format` header: raw, ecs or ocsf.
    pub format: String,
    /// `coder-audit-schema` header: e.g. `ecs 9.4.0`, `ocsf 1.8.0`, `coder`.
    pub schema: String,
    /// librdkafka settings, set last (they win over the defaults).
    pub librdkafka: BTreeMap<String, String>,
}

impl fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaSettings")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("compression", &self.compression)
            .field("message_timeout", &self.message_timeout)
            .field("timestamp", &self.timestamp)
            .field(
                "librdkafka keys",
                &self.librdkafka.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("librdkafka.{key}: environment variable {var} is not set")]
    MissingEnv { key: String, var: String },
    #[error("librdkafka.{key}: cannot read {path}: {source}")]
    File {
        key: String,
        path: String,
        source: std::io::Error,
    },
    #[error("librdkafka.{key}: {message}")]
    Invalid { key: String, message: String },
}

/// `env:NAME` and `file:/path` values, read; anything else as written.
pub fn resolve(key: &str, value: &str) -> Result<String, ConfigError> {
    if let Some(var) = value.strip_prefix("env:") {
        return std::env::var(var).map_err(|_| ConfigError::MissingEnv {
            key: key.to_owned(),
            var: var.to_owned(),
        });
    }
    if let Some(path) = value.strip_prefix("file:") {
        return std::fs::read_to_string(path)
            .map(|s| s.trim_end_matches(['\n', '\r']).to_owned())
            .map_err(|source| ConfigError::File {
                key: key.to_owned(),
                path: path.to_owned(),
                source,
            });
    }
    Ok(value.to_owned())
}

impl KafkaSettings {
    /// The producer's librdkafka configuration.
    pub fn client_config(&self) -> Result<ClientConfig, ConfigError> {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("client.id", "coder-audit-shipper")
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("compression.type", self.compression.as_str())
            .set("linger.ms", "1")
            .set(
                "message.timeout.ms",
                self.message_timeout.as_millis().to_string(),
            );
        for (key, value) in &self.librdkafka {
            if key == "bootstrap.servers" {
                return Err(ConfigError::Invalid {
                    key: key.clone(),
                    message: "set `brokers` instead".into(),
                });
            }
            c.set(key, resolve(key, value)?);
        }
        // librdkafka's own debug logging could print SASL settings: never enable it here.
        c.set_log_level(rdkafka::config::RDKafkaLogLevel::Warning);
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> KafkaSettings {
        KafkaSettings {
            brokers: "127.0.0.1:19092".into(),
            topic: TopicTemplate::parse("coder-audit").unwrap(),
            compression: Compression::Zstd,
            message_timeout: Duration::from_secs(300),
            timestamp: MessageTime::Now,
            format: "ocsf".into(),
            schema: "ocsf 1.8.0".into(),
            librdkafka: BTreeMap::new(),
        }
    }

    #[test]
    fn safe_defaults_and_passthrough_that_wins() {
        let mut c = config();
        c.librdkafka.insert("linger.ms".into(), "50".into());
        let cc = c.client_config().unwrap();
        assert_eq!(cc.get("acks"), Some("all"));
        assert_eq!(cc.get("enable.idempotence"), Some("true"));
        assert_eq!(cc.get("compression.type"), Some("zstd"));
        assert_eq!(cc.get("linger.ms"), Some("50"));
    }

    #[test]
    fn secrets_from_env_and_files_never_in_debug() {
        let dir = std::env::temp_dir().join(format!("kafka-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pw");
        std::fs::write(&file, "file-s3cret\n").unwrap();
        let mut c = config();
        c.librdkafka
            .insert("sasl.password".into(), format!("file:{}", file.display()));
        let cc = c.client_config().unwrap();
        assert_eq!(cc.get("sasl.password"), Some("file-s3cret"));
        assert!(!format!("{c:?}").contains("file-s3cret"));
        c.librdkafka.insert(
            "sasl.password".into(),
            "env:NO_SUCH_VAR_FOR_KAFKA_TEST".into(),
        );
        let err = c.client_config().unwrap_err().to_string();
        assert!(err.contains("NO_SUCH_VAR_FOR_KAFKA_TEST"), "{err}");
    }
}
