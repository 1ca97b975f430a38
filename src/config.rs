//! The config file: TOML (or YAML, by extension), with environment overrides
//! `CODER_AUDIT_SHIPPER__SECTION__KEY`. Unknown keys are errors; every error names the key
//! and the file, because a typo in a security pipeline must stop it, not be ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

use crate::normalize::{ClassStrategy, Enrichment, OcsfVersion, Target};
use crate::secret::Secret;

pub const ENV_PREFIX: &str = "CODER_AUDIT_SHIPPER";
pub const TOKEN_ENV: &str = "CODER_SESSION_TOKEN";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How long a stopping stream (SIGTERM, Ctrl-C) may spend sending what it holds before
    /// it gives up, leaving its checkpoint before those records.
    #[serde(default = "defaults::shutdown_timeout", with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    pub coder: CoderConfig,
    #[serde(default)]
    pub checkpoint: CheckpointConfig,
    #[serde(default)]
    pub enrich: EnrichConfig,
    #[serde(default)]
    pub dead_letter: DeadLetterConfig,
    #[serde(default)]
    pub server: ServerConfig,
    pub sinks: BTreeMap<String, SinkConfig>,
}

/// `[server]`: the operator's window into a running shipper (`/metrics`, `/healthz`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Where to listen, e.g. `127.0.0.1:9598`; no listener when unset. Port 0 picks a free
    /// port and logs it.
    pub listen: Option<std::net::SocketAddr>,
    /// `/readyz` fails when a stream has not completed a scan of Coder for this long.
    #[serde(default = "defaults::ready_staleness", with = "humantime_serde")]
    pub ready_staleness: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: None,
            ready_staleness: defaults::ready_staleness(),
        }
    }
}

/// `[dead_letter]`: where records a peer refused for good are kept, one NDJSON file per
/// sink (`replay-dead-letters` sends them again).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterConfig {
    /// Default: `<checkpoint dir>/dead-letter`.
    pub dir: Option<PathBuf>,
}

/// `[enrich]`: what the operator adds to every normalized event.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrichConfig {
    /// A name for this Coder deployment (ECS `observer.name`, OCSF `unmapped.coder.deployment`).
    pub deployment: Option<String>,
    /// Static key/values (ECS `labels`, OCSF `metadata.labels` as `key:value`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Static tags, after `coder` and `audit`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The URL users open Coder at, to make `resource_link` absolute; default `coder.url`.
    pub access_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoderConfig {
    pub url: String,
    pub token: Option<Secret>,
    pub token_file: Option<PathBuf>,
    #[serde(default = "defaults::poll_interval", with = "humantime_serde")]
    pub poll_interval: Duration,
    #[serde(default = "defaults::page_size")]
    pub page_size: u32,
    #[serde(default = "defaults::overlap", with = "humantime_serde")]
    pub overlap: Duration,
    #[serde(default)]
    pub start_at: StartAt,
    #[serde(default = "defaults::request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
    #[serde(default = "defaults::max_response_bytes")]
    pub max_response_bytes: u64,
    /// PEM CA certificates that may sign Coder's certificate (added to the system's): a
    /// Coder behind a private CA.
    pub tls_ca_file: Option<PathBuf>,
    /// Which of Coder's logs to ship: `audit` (`/api/v2/audit`) and, from Coder v2.25 with
    /// a Premium license, `connection` (`/api/v2/connectionlog`: SSH, IDE, web terminal,
    /// app and port-forward connections). Each has its own checkpoint per sink.
    #[serde(default = "defaults::streams", deserialize_with = "stream_list")]
    pub streams: Vec<crate::coder::Stream>,
    /// Connection log: how long after its connect an open session is still looked at
    /// again for its disconnect (an agent that dies never reports one).
    #[serde(default = "defaults::session_horizon", with = "humantime_serde")]
    pub session_horizon: Duration,
    /// Connection log: how often each stream asks Coder which open sessions ended.
    #[serde(default = "defaults::session_poll_interval", with = "humantime_serde")]
    pub session_poll_interval: Duration,
    /// Connection log: how long after its `connect_time` a row may still land and be found
    /// (agents stamp it with their own clock and hold reports while coderd is away). `0s`
    /// turns the late sweep off.
    #[serde(default = "defaults::late_horizon", with = "humantime_serde")]
    pub late_horizon: Duration,
    /// Connection log: how often the late sweep compares Coder's hourly counts with what
    /// was shipped.
    #[serde(default = "defaults::late_sweep_interval", with = "humantime_serde")]
    pub late_sweep_interval: Duration,
    /// A caught-up stream reads the whole `overlap` only this often, and in between only
    /// the last 10 s: Coder's rate limit is per user and path, and re-reading the overlap
    /// every poll was most of the requests. `0s` reads the overlap at every poll; more than
    /// `overlap` counts as `overlap`.
    #[serde(
        default = "defaults::overlap_reread_interval",
        with = "humantime_serde"
    )]
    pub overlap_reread_interval: Duration,
}

/// A list of streams, or the same as one comma-separated string: what an environment
/// override gives (`CODER_AUDIT_SHIPPER__CODER__STREAMS=audit,connection`).
fn stream_list<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<crate::coder::Stream>, D::Error> {
    use crate::coder::Stream;
    use serde::de::{Error, SeqAccess, Visitor};

    fn stream<E: Error>(name: &str) -> Result<Stream, E> {
        match name.trim() {
            "audit" => Ok(Stream::Audit),
            "connection" => Ok(Stream::Connection),
            other => Err(E::custom(format!(
                "unknown stream {other:?}, expected \"audit\" or \"connection\""
            ))),
        }
    }

    struct Streams;
    impl<'de> Visitor<'de> for Streams {
        type Value = Vec<Stream>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of \"audit\" and \"connection\"")
        }
        fn visit_str<E: Error>(self, s: &str) -> Result<Vec<Stream>, E> {
            s.split(',')
                .filter(|p| !p.trim().is_empty())
                .map(stream)
                .collect()
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Stream>, A::Error> {
            let mut out = Vec::new();
            while let Some(name) = seq.next_element::<String>()? {
                out.push(stream(&name)?);
            }
            Ok(out)
        }
    }
    d.deserialize_any(Streams)
}

mod defaults {
    use std::time::Duration;
    pub fn poll_interval() -> Duration {
        Duration::from_secs(2)
    }
    pub fn page_size() -> u32 {
        100
    }
    pub fn overlap() -> Duration {
        Duration::from_secs(300)
    }
    pub fn request_timeout() -> Duration {
        Duration::from_secs(30)
    }
    pub fn max_response_bytes() -> u64 {
        64 * 1024 * 1024
    }
    pub fn streams() -> Vec<crate::coder::Stream> {
        vec![crate::coder::Stream::Audit]
    }
    pub fn session_horizon() -> Duration {
        Duration::from_secs(7 * 86_400)
    }
    pub fn session_poll_interval() -> Duration {
        Duration::from_secs(10)
    }
    pub fn late_horizon() -> Duration {
        Duration::from_secs(86_400)
    }
    pub fn late_sweep_interval() -> Duration {
        Duration::from_secs(300)
    }
    pub fn overlap_reread_interval() -> Duration {
        Duration::from_secs(60)
    }
    pub fn postgres_schema() -> String {
        "coder_audit_shipper".into()
    }
    pub fn takeover_interval() -> Duration {
        Duration::from_secs(2)
    }
    pub fn ready_staleness() -> Duration {
        Duration::from_secs(120)
    }
    pub fn shutdown_timeout() -> Duration {
        Duration::from_secs(30)
    }
    pub fn checkpoint_dir() -> std::path::PathBuf {
        "/var/lib/coder-audit-shipper".into()
    }
    pub fn max_files() -> u32 {
        5
    }
    #[cfg(feature = "kafka")]
    pub fn message_timeout() -> Duration {
        // librdkafka's own default, which its INTRODUCTION.md recommends keeping large.
        Duration::from_secs(300)
    }
    #[cfg(feature = "s3")]
    pub fn key_prefix() -> String {
        "coder/audit/year=%Y/month=%m/day=%d/".into()
    }
    #[cfg(feature = "s3")]
    pub fn batch_max_bytes() -> u64 {
        10 << 20
    }
    #[cfg(feature = "s3")]
    pub fn batch_timeout() -> Duration {
        Duration::from_secs(300)
    }
    #[cfg(feature = "s3")]
    pub fn multipart_threshold() -> u64 {
        16 << 20
    }
    #[cfg(feature = "splunk")]
    pub fn hec_source() -> String {
        "coder-audit-shipper".into()
    }
    #[cfg(feature = "splunk")]
    pub fn ack_first_poll() -> Duration {
        Duration::from_millis(500)
    }
    #[cfg(feature = "splunk")]
    pub fn ack_poll_interval() -> Duration {
        Duration::from_secs(1)
    }
    #[cfg(feature = "splunk")]
    pub fn ack_timeout() -> Duration {
        Duration::from_secs(300)
    }
    #[cfg(feature = "splunk")]
    pub fn max_pending_acks() -> usize {
        64
    }
    #[cfg(feature = "splunk")]
    pub fn max_request_bytes() -> u64 {
        1 << 20
    }
    #[cfg(feature = "splunk")]
    pub fn hec_batch_max_bytes() -> u64 {
        16 << 20
    }
    #[cfg(feature = "splunk")]
    pub fn hec_batch_timeout() -> Duration {
        Duration::from_secs(1)
    }
    #[cfg(feature = "syslog")]
    pub fn app_name() -> String {
        "coder-audit".into()
    }
    #[cfg(feature = "syslog")]
    pub fn sd_id() -> String {
        sink_syslog::message::SD_ID.into()
    }
    #[cfg(feature = "syslog")]
    pub fn bom() -> bool {
        true
    }
    #[cfg(feature = "syslog")]
    pub fn connect_timeout() -> Duration {
        Duration::from_secs(10)
    }
}

/// Where a stream with no checkpoint starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartAt {
    /// Only what happens from now on (the default: no surprise flood into a SIEM).
    #[default]
    Now,
    /// Everything Coder still has.
    Beginning,
    At(DateTime<Utc>),
}

impl<'de> Deserialize<'de> for StartAt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "now" => Ok(StartAt::Now),
            "beginning" => Ok(StartAt::Beginning),
            other => DateTime::parse_from_rfc3339(other)
                .map(|t| StartAt::At(t.with_timezone(&Utc)))
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "expected \"now\", \"beginning\" or an RFC 3339 time, got {other:?}"
                    ))
                }),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointConfig {
    #[serde(default)]
    pub store: StoreKind,
    /// `store = "file"`: the directory (also the default home of the dead letters).
    #[serde(default = "defaults::checkpoint_dir")]
    pub dir: PathBuf,
    /// `store = "postgres"`: `postgres://user:password@host:port/database`, or a file
    /// holding it. A secret: it never reaches a log line.
    pub url: Option<Secret>,
    pub url_file: Option<PathBuf>,
    /// `store = "postgres"`: the schema of the shipper's tables (created when missing).
    /// Replicas that share it share checkpoints and the leader lock.
    #[serde(default = "defaults::postgres_schema")]
    pub schema: String,
    /// `store = "postgres"`: how often a standby tries to take the leader lock and the
    /// leader checks that it still holds it: a standby takes over within about this long
    /// of the leader's death.
    #[serde(default = "defaults::takeover_interval", with = "humantime_serde")]
    pub takeover_interval: Duration,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self {
            store: StoreKind::File,
            dir: defaults::checkpoint_dir(),
            url: None,
            url_file: None,
            schema: defaults::postgres_schema(),
            takeover_interval: defaults::takeover_interval(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    #[default]
    File,
    /// A table in PostgreSQL, with a leader lock: of several replicas exactly one ships.
    Postgres,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SinkConfig {
    File(FileSinkConfig),
    Stdout(StdoutSinkConfig),
    #[cfg(feature = "kafka")]
    Kafka(KafkaSinkConfig),
    #[cfg(feature = "s3")]
    S3(S3SinkConfig),
    #[cfg(feature = "splunk")]
    SplunkHec(SplunkHecSinkConfig),
    #[cfg(feature = "syslog")]
    Syslog(SyslogSinkConfig),
}

impl SinkConfig {
    /// The `type` key's value (the `component_type` label of the sink's metrics).
    pub fn type_name(&self) -> &'static str {
        match self {
            SinkConfig::File(_) => "file",
            SinkConfig::Stdout(_) => "stdout",
            #[cfg(feature = "kafka")]
            SinkConfig::Kafka(_) => "kafka",
            #[cfg(feature = "s3")]
            SinkConfig::S3(_) => "s3",
            #[cfg(feature = "splunk")]
            SinkConfig::SplunkHec(_) => "splunk_hec",
            #[cfg(feature = "syslog")]
            SinkConfig::Syslog(_) => "syslog",
        }
    }

    pub fn encoding(&self) -> Encoding {
        macro_rules! encoding {
            ($c:expr) => {
                Encoding {
                    format: $c.format,
                    ocsf_version: $c.ocsf_version,
                    ocsf_classes: $c.ocsf_classes,
                    max_event_bytes: $c.max_event_bytes,
                    body: Body::Json,
                }
            };
        }
        match self {
            SinkConfig::File(c) => encoding!(c),
            SinkConfig::Stdout(c) => encoding!(c),
            #[cfg(feature = "kafka")]
            SinkConfig::Kafka(c) => encoding!(c),
            #[cfg(feature = "s3")]
            SinkConfig::S3(c) => encoding!(c),
            #[cfg(feature = "splunk")]
            SinkConfig::SplunkHec(c) => encoding!(c),
            #[cfg(feature = "syslog")]
            SinkConfig::Syslog(c) => Encoding {
                body: c.body,
                ..encoding!(c)
            },
        }
    }
}

/// What a sink receives: `format`, its OCSF options and the event size limit. Every sink
/// table takes these four keys itself: `#[serde(flatten)]` would lose
/// `deny_unknown_fields`, and a typo in a sink table must stay an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Encoding {
    pub format: Format,
    pub ocsf_version: Option<OcsfVersion>,
    pub ocsf_classes: Option<ClassStrategy>,
    /// Cut normalized events above this size (bytes) by leaving out diff fields.
    pub max_event_bytes: Option<u64>,
    /// The syslog message body: the format's JSON, or a CEF / LEEF line.
    pub body: Body,
}

/// What a syslog message carries after its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    /// The sink's `format` (raw, ECS or OCSF JSON).
    #[default]
    Json,
    /// ArcSight Common Event Format (ArcSight, Microsoft Sentinel).
    Cef,
    /// IBM QRadar's Log Event Extended Format 2.0.
    Leef,
}

impl Encoding {
    /// The normalization target, `None` for `raw`.
    pub fn target(&self) -> Option<Target> {
        match self.body {
            Body::Json => {}
            Body::Cef => return Some(Target::Cef),
            Body::Leef => return Some(Target::Leef),
        }
        match self.format {
            Format::Raw => None,
            Format::Ecs => Some(Target::Ecs),
            Format::Ocsf => Some(Target::Ocsf {
                version: self.ocsf_version.unwrap_or_default(),
                classes: self.ocsf_classes.unwrap_or_default(),
            }),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    pub path: PathBuf,
    #[serde(default)]
    pub format: Format,
    /// `format = "ocsf"` only: "1.8.0" (default) or "1.1.0" (Amazon Security Lake).
    pub ocsf_version: Option<OcsfVersion>,
    /// `format = "ocsf"` only: "semantic" (default) or "single" (all API Activity 6003).
    pub ocsf_classes: Option<ClassStrategy>,
    /// Normalized events above this size (bytes) are cut by leaving out diff fields.
    pub max_event_bytes: Option<u64>,
    /// Rotate when the file would pass this size (bytes).
    pub max_bytes: Option<u64>,
    #[serde(default = "defaults::max_files")]
    pub max_files: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutSinkConfig {
    #[serde(default)]
    pub format: Format,
    /// `format = "ocsf"` only: "1.8.0" (default) or "1.1.0" (Amazon Security Lake).
    pub ocsf_version: Option<OcsfVersion>,
    /// `format = "ocsf"` only: "semantic" (default) or "single" (all API Activity 6003).
    pub ocsf_classes: Option<ClassStrategy>,
    /// Normalized events above this size (bytes) are cut by leaving out diff fields.
    pub max_event_bytes: Option<u64>,
}

/// `type = "kafka"`: one message per event, keyed by the audit id.
#[cfg(feature = "kafka")]
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkConfig {
    /// `host:port[,host:port...]`.
    pub brokers: String,
    /// A topic, or a template with `{resource_type}`.
    pub topic: String,
    #[serde(default)]
    pub compression: sink_kafka::Compression,
    /// How long librdkafka tries a message before the batch is sent again.
    #[serde(default = "defaults::message_timeout", with = "humantime_serde")]
    pub message_timeout: Duration,
    /// The message timestamp: `now` (default, the produce time) or `event` (the event's
    /// time; old events may then fall to time retention at once, or be refused by a broker
    /// with `message.timestamp.before.max.ms`). The event time is in a header either way.
    #[serde(default)]
    pub timestamp: sink_kafka::MessageTime,
    /// librdkafka settings passed through (TLS, SASL, tuning); `env:NAME` and
    /// `file:/path` values are read from there. Never logged.
    #[serde(default)]
    pub librdkafka: BTreeMap<String, String>,
    #[serde(default)]
    pub format: Format,
    pub ocsf_version: Option<OcsfVersion>,
    pub ocsf_classes: Option<ClassStrategy>,
    pub max_event_bytes: Option<u64>,
}

#[cfg(feature = "kafka")]
impl std::fmt::Debug for KafkaSinkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSinkConfig")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("compression", &self.compression)
            .field("timestamp", &self.timestamp)
            .field(
                "librdkafka keys",
                &self.librdkafka.keys().collect::<Vec<_>>(),
            )
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// `type = "s3"`: gzip NDJSON objects, batched by size and age. Credentials come from
/// aws-config's standard chain (environment, profile, web identity, instance role).
#[cfg(feature = "s3")]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3SinkConfig {
    pub bucket: String,
    pub region: String,
    /// A custom endpoint (MinIO, Ceph, any S3-compatible store).
    pub endpoint: Option<String>,
    #[serde(default)]
    pub force_path_style: bool,
    #[serde(default = "defaults::key_prefix")]
    pub key_prefix: String,
    #[serde(default)]
    pub compression: sink_s3::S3Compression,
    /// An object is written once the batch holds this much (e.g. "10MiB").
    #[serde(default = "defaults::batch_max_bytes", deserialize_with = "byte_size")]
    pub batch_max_bytes: u64,
    /// ... or once its oldest record has waited this long.
    #[serde(default = "defaults::batch_timeout", with = "humantime_serde")]
    pub batch_timeout: Duration,
    pub server_side_encryption: Option<sink_s3::ServerSideEncryption>,
    pub ssekms_key_id: Option<String>,
    /// Bodies above this go up as multipart uploads (at least 5MiB, S3's minimum part).
    #[serde(
        default = "defaults::multipart_threshold",
        deserialize_with = "byte_size"
    )]
    pub multipart_threshold: u64,
    #[serde(default)]
    pub format: Format,
    pub ocsf_version: Option<OcsfVersion>,
    pub ocsf_classes: Option<ClassStrategy>,
    pub max_event_bytes: Option<u64>,
}

/// `type = "splunk_hec"`: batches of event envelopes to HEC's `/services/collector/event`.
#[cfg(feature = "splunk")]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplunkHecSinkConfig {
    /// `https://splunk.example.com:8088`.
    pub endpoint: String,
    /// The HEC token (or set `token_file`). Never logged.
    pub token: Option<Secret>,
    pub token_file: Option<PathBuf>,
    pub index: Option<String>,
    /// Default by format: `coder:audit` (raw), `ecs:coder:audit`, `ocsf:coder:audit`.
    pub sourcetype: Option<String>,
    #[serde(default = "defaults::hec_source")]
    pub source: String,
    /// Default: the host of the Coder URL.
    pub host: Option<String>,
    #[serde(default)]
    pub compression: sink_splunk::HecCompression,
    /// Indexer acknowledgement: a batch is delivered when the indexers confirm it.
    #[serde(default)]
    pub ack: bool,
    /// The first ack poll after a request (at most `ack_poll_interval`); later ones double
    /// up to `ack_poll_interval`.
    #[serde(default = "defaults::ack_first_poll", with = "humantime_serde")]
    pub ack_first_poll: Duration,
    #[serde(default = "defaults::ack_poll_interval", with = "humantime_serde")]
    pub ack_poll_interval: Duration,
    /// An ack not confirmed within this long sends its events again.
    #[serde(default = "defaults::ack_timeout", with = "humantime_serde")]
    pub ack_timeout: Duration,
    /// Requests awaiting their ack at once.
    #[serde(default = "defaults::max_pending_acks")]
    pub max_pending_acks: usize,
    /// PEM CA certificates for HEC's TLS certificate (added to the system's).
    pub tls_ca_file: Option<PathBuf>,
    /// One HTTP request carries about this much (before gzip).
    #[serde(
        default = "defaults::max_request_bytes",
        deserialize_with = "byte_size"
    )]
    pub max_request_bytes: u64,
    /// A batch (one ack round) holds up to this much ...
    #[serde(
        default = "defaults::hec_batch_max_bytes",
        deserialize_with = "byte_size"
    )]
    pub batch_max_bytes: u64,
    /// ... or what arrived within this long.
    #[serde(default = "defaults::hec_batch_timeout", with = "humantime_serde")]
    pub batch_timeout: Duration,
    #[serde(default = "defaults::request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
    #[serde(default)]
    pub format: Format,
    pub ocsf_version: Option<OcsfVersion>,
    pub ocsf_classes: Option<ClassStrategy>,
    pub max_event_bytes: Option<u64>,
}

/// `type = "syslog"`: one RFC 5424 message per event over TCP, TLS or UDP.
#[cfg(feature = "syslog")]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogSinkConfig {
    /// `host:port`.
    pub address: String,
    #[serde(default)]
    pub transport: sink_syslog::Transport,
    #[serde(default)]
    pub framing: sink_syslog::Framing,
    #[serde(default)]
    pub body: Body,
    #[serde(default)]
    pub facility: sink_syslog::Facility,
    #[serde(default)]
    pub severity: sink_syslog::Severity,
    #[serde(default = "defaults::app_name")]
    pub app_name: String,
    /// The SD-ID of the structured data element: `name@<private enterprise number>`. The
    /// default uses 32473, the number RFC 5612 reserves for examples; use your own PEN.
    #[serde(default = "defaults::sd_id")]
    pub sd_id: String,
    /// MSG starts with the UTF-8 byte order mark (RFC 5424 §6.4); `false` for receivers
    /// that show it as a stray character.
    #[serde(default = "defaults::bom")]
    pub bom: bool,
    /// RFC 5424 HOSTNAME. Default: the host of the Coder URL.
    pub hostname: Option<String>,
    pub tls_ca_file: Option<PathBuf>,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// The name the receiver's certificate must carry. Default: the address's host.
    pub tls_server_name: Option<String>,
    /// Longer messages are cut and counted. Default: 65507 (one UDP datagram) over UDP,
    /// no limit over TCP and TLS.
    #[serde(default, deserialize_with = "opt_byte_size")]
    pub max_message_bytes: Option<u64>,
    #[serde(default = "defaults::connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    #[serde(default = "defaults::request_timeout", with = "humantime_serde")]
    pub write_timeout: Duration,
    #[serde(default)]
    pub format: Format,
    pub ocsf_version: Option<OcsfVersion>,
    pub ocsf_classes: Option<ClassStrategy>,
    pub max_event_bytes: Option<u64>,
}

#[cfg(feature = "syslog")]
fn opt_byte_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    byte_size(d).map(Some)
}

/// A size: a number of bytes, or a string with a unit ("512KiB", "10MiB", "1GB").
#[cfg_attr(
    not(any(feature = "s3", feature = "splunk", feature = "syslog")),
    allow(dead_code)
)]
fn byte_size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Number(n) => Ok(n),
        Raw::Text(t) => parse_byte_size(&t).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "expected a size like 10MiB, 512KiB or 1048576, got {t:?}"
            ))
        }),
    }
}

#[cfg_attr(
    not(any(feature = "s3", feature = "splunk", feature = "syslog")),
    allow(dead_code)
)]
fn parse_byte_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number.parse().ok()?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(factor)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Coder's JSON, byte for byte.
    #[default]
    Raw,
    Ecs,
    Ocsf,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {message}")]
    Load { file: String, message: String },
    #[error("{file}: key `{key}`: {message}")]
    Invalid {
        file: String,
        key: String,
        message: String,
    },
}

/// A parse error without the lines of the file it quotes (`3 | token = "…"`): the line with
/// a typo can hold a token, and the error goes to stderr and, on SIGHUP, the service log.
/// The line and column stay.
fn without_source_lines(message: &str) -> String {
    message
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            let t = t
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .trim_start();
            !t.starts_with('|')
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl Config {
    /// Load `path`, apply environment overrides, and check what types alone cannot.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        if !path.exists() {
            return Err(ConfigError::Load {
                file,
                message: "no such file".into(),
            });
        }
        let built = config::Config::builder()
            .add_source(config::File::from(path))
            .add_source(
                config::Environment::with_prefix(ENV_PREFIX)
                    .prefix_separator("__")
                    .separator("__"),
            )
            .build()
            .map_err(|e| ConfigError::Load {
                file: file.clone(),
                message: without_source_lines(&e.to_string()),
            })?;
        let config: Config = serde_path_to_error::deserialize(built).map_err(|e| {
            let key = e.path().to_string();
            ConfigError::Invalid {
                file: file.clone(),
                key,
                message: e.into_inner().to_string(),
            }
        })?;
        config.check(&file)?;
        Ok(config)
    }

    fn check(&self, file: &str) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            file: file.to_owned(),
            key: key.to_owned(),
            message,
        };
        match reqwest::Url::parse(&self.coder.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            Ok(u) => {
                return Err(invalid(
                    "coder.url",
                    format!("expected an http(s) URL, got scheme {:?}", u.scheme()),
                ));
            }
            Err(e) => return Err(invalid("coder.url", format!("not a URL: {e}"))),
        }
        if self.coder.token.is_some() && self.coder.token_file.is_some() {
            return Err(invalid(
                "coder.token",
                "set coder.token or coder.token_file, not both".into(),
            ));
        }
        if !(1..=10_000).contains(&self.coder.page_size) {
            return Err(invalid(
                "coder.page_size",
                format!(
                    "must be 1..=10000 (Coder suggests at most ~500), got {}",
                    self.coder.page_size
                ),
            ));
        }
        if self.coder.poll_interval.is_zero() {
            return Err(invalid("coder.poll_interval", "must be more than 0".into()));
        }
        if self.coder.streams.is_empty() {
            return Err(invalid(
                "coder.streams",
                "name at least one of \"audit\", \"connection\"".into(),
            ));
        }
        let mut streams = self.coder.streams.clone();
        streams.sort();
        streams.dedup();
        if streams.len() != self.coder.streams.len() {
            return Err(invalid("coder.streams", "a stream is named twice".into()));
        }
        // The horizon is subtracted from the clock on every scan: bounded, so that the
        // subtraction can never leave chrono's range.
        if self.coder.session_horizon < self.coder.overlap
            || self.coder.session_horizon > Duration::from_secs(3_650 * 86_400)
        {
            return Err(invalid(
                "coder.session_horizon",
                "must be at least coder.overlap and at most 3650d".into(),
            ));
        }
        if self.coder.late_horizon > Duration::from_secs(90 * 86_400) {
            return Err(invalid(
                "coder.late_horizon",
                "must be at most 90d (Coder purges connection rows after 90 days)".into(),
            ));
        }
        if let Some(url) = &self.enrich.access_url {
            match reqwest::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                _ => {
                    return Err(invalid(
                        "enrich.access_url",
                        format!("expected an http(s) URL, got {url:?}"),
                    ));
                }
            }
        }
        for key in self.enrich.labels.keys() {
            if key.is_empty()
                || !key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                return Err(invalid(
                    &format!("enrich.labels.{key}"),
                    "label keys use lower-case letters, digits and '_' (ECS: no dots, no upper case)".into(),
                ));
            }
        }
        if self.checkpoint.store == StoreKind::Postgres {
            match (&self.checkpoint.url, &self.checkpoint.url_file) {
                (None, None) => {
                    return Err(invalid(
                        "checkpoint.url",
                        "store = \"postgres\" needs checkpoint.url or checkpoint.url_file".into(),
                    ));
                }
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        "checkpoint.url",
                        "set checkpoint.url or checkpoint.url_file, not both".into(),
                    ));
                }
                _ => {}
            }
            let schema = &self.checkpoint.schema;
            if schema.is_empty()
                || schema.len() > 63
                || !schema
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                || schema.starts_with(|c: char| c.is_ascii_digit())
            {
                return Err(invalid(
                    "checkpoint.schema",
                    format!(
                        "a PostgreSQL identifier of lower-case letters, digits and '_', got {schema:?}"
                    ),
                ));
            }
            if self.checkpoint.takeover_interval.is_zero() {
                return Err(invalid(
                    "checkpoint.takeover_interval",
                    "must be more than 0".into(),
                ));
            }
        }
        if self.sinks.is_empty() {
            return Err(invalid("sinks", "configure at least one sink".into()));
        }
        for (name, sink) in &self.sinks {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(invalid(
                    &format!("sinks.{name}"),
                    "sink names may use only letters, digits, '_' and '-' (they name checkpoint files)".into(),
                ));
            }
            #[cfg(feature = "kafka")]
            if let SinkConfig::Kafka(k) = sink {
                if let Err(e) = sink_kafka::TopicTemplate::parse(&k.topic) {
                    return Err(invalid(&format!("sinks.{name}.topic"), e.to_string()));
                }
                if k.brokers.trim().is_empty() {
                    return Err(invalid(&format!("sinks.{name}.brokers"), "is empty".into()));
                }
            }
            #[cfg(feature = "s3")]
            if let SinkConfig::S3(c) = sink {
                // Object names carry the sink's name, so two sinks cannot overwrite each
                // other; one place per sink still keeps each sink's objects apart for
                // whoever reads them (Athena, Security Lake), and a copy of a sink under a
                // new name would otherwise write everything twice unnoticed.
                let shared = self.sinks.iter().find(|(other, s)| {
                    *other < name
                        && matches!(s, SinkConfig::S3(o) if o.bucket == c.bucket
                            && o.key_prefix == c.key_prefix
                            && o.endpoint == c.endpoint)
                });
                if let Some((other, _)) = shared {
                    return Err(invalid(
                        &format!("sinks.{name}.key_prefix"),
                        format!(
                            "sinks.{other} writes the same bucket {:?} and key_prefix {:?}: give each S3 sink a prefix of its own",
                            c.bucket, c.key_prefix
                        ),
                    ));
                }
                if !sink_s3::object::valid_key_prefix(&c.key_prefix) {
                    return Err(invalid(
                        &format!("sinks.{name}.key_prefix"),
                        format!("{:?} is not a valid strftime template", c.key_prefix),
                    ));
                }
                if c.multipart_threshold < 5 << 20 {
                    return Err(invalid(
                        &format!("sinks.{name}.multipart_threshold"),
                        "must be at least 5MiB (S3's smallest part)".into(),
                    ));
                }
                if c.ssekms_key_id.is_some()
                    && c.server_side_encryption != Some(sink_s3::ServerSideEncryption::AwsKms)
                {
                    return Err(invalid(
                        &format!("sinks.{name}.ssekms_key_id"),
                        "needs server_side_encryption = \"aws:kms\"".into(),
                    ));
                }
            }
            #[cfg(feature = "splunk")]
            if let SinkConfig::SplunkHec(c) = sink {
                let key = |k: &str| format!("sinks.{name}.{k}");
                match reqwest::Url::parse(&c.endpoint) {
                    Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                    _ => {
                        return Err(invalid(
                            &key("endpoint"),
                            format!("expected an http(s) URL, got {:?}", c.endpoint),
                        ));
                    }
                }
                match (&c.token, &c.token_file) {
                    (Some(_), Some(_)) => {
                        return Err(invalid(
                            &key("token"),
                            "set token or token_file, not both".into(),
                        ));
                    }
                    (None, None) => {
                        return Err(invalid(
                            &key("token"),
                            "no HEC token: set token_file or token".into(),
                        ));
                    }
                    (Some(t), None) if t.is_empty() => {
                        return Err(invalid(&key("token"), "is empty".into()));
                    }
                    _ => {}
                }
                if c.ack_poll_interval.is_zero() || c.max_pending_acks == 0 {
                    return Err(invalid(
                        &key("ack_poll_interval"),
                        "ack_poll_interval and max_pending_acks must be more than 0".into(),
                    ));
                }
                if c.ack_first_poll.is_zero() {
                    return Err(invalid(
                        &key("ack_first_poll"),
                        "must be more than 0".into(),
                    ));
                }
            }
            #[cfg(feature = "syslog")]
            if let SinkConfig::Syslog(c) = sink {
                let key = |k: &str| format!("sinks.{name}.{k}");
                let port = c.address.rsplit_once(':').map(|(_, p)| p.parse::<u16>());
                if !matches!(port, Some(Ok(_))) {
                    return Err(invalid(
                        &key("address"),
                        format!("expected host:port, got {:?}", c.address),
                    ));
                }
                let tls_keys = [
                    ("tls_ca_file", c.tls_ca_file.is_some()),
                    ("tls_cert_file", c.tls_cert_file.is_some()),
                    ("tls_key_file", c.tls_key_file.is_some()),
                    ("tls_server_name", c.tls_server_name.is_some()),
                ];
                if c.transport != sink_syslog::Transport::Tls
                    && let Some((k, _)) = tls_keys.iter().find(|(_, set)| *set)
                {
                    return Err(invalid(
                        &key(k),
                        "applies only to transport = \"tls\"".into(),
                    ));
                }
                if c.tls_cert_file.is_some() != c.tls_key_file.is_some() {
                    return Err(invalid(
                        &key("tls_cert_file"),
                        "tls_cert_file and tls_key_file go together".into(),
                    ));
                }
                if c.max_message_bytes.is_some_and(|n| n < 480) {
                    return Err(invalid(
                        &key("max_message_bytes"),
                        "must be at least 480 (RFC 5426's smallest)".into(),
                    ));
                }
                if !sink_syslog::message::valid_sd_id(&c.sd_id) {
                    return Err(invalid(
                        &key("sd_id"),
                        format!(
                            "{:?} is no SD-ID: 1 to 32 printable ASCII characters without '=', ' ', ']' or '\"', as name@<private enterprise number> (RFC 5424 §6.3.2, §7.2.2)",
                            c.sd_id
                        ),
                    ));
                }
            }
            let encoding = sink.encoding();
            if encoding.body != Body::Json {
                for (key, set) in [
                    ("format", encoding.format != Format::Raw),
                    ("ocsf_version", encoding.ocsf_version.is_some()),
                    ("ocsf_classes", encoding.ocsf_classes.is_some()),
                    ("max_event_bytes", encoding.max_event_bytes.is_some()),
                ] {
                    if set {
                        return Err(invalid(
                            &format!("sinks.{name}.{key}"),
                            "a CEF or LEEF body is made from the entry itself: leave it unset"
                                .into(),
                        ));
                    }
                }
                continue;
            }
            if encoding.format != Format::Ocsf {
                for (key, set) in [
                    ("ocsf_version", encoding.ocsf_version.is_some()),
                    ("ocsf_classes", encoding.ocsf_classes.is_some()),
                ] {
                    if set {
                        return Err(invalid(
                            &format!("sinks.{name}.{key}"),
                            "applies only to format = \"ocsf\"".into(),
                        ));
                    }
                }
            }
            match (encoding.format, encoding.max_event_bytes) {
                (Format::Raw, Some(_)) => {
                    return Err(invalid(
                        &format!("sinks.{name}.max_event_bytes"),
                        "applies only to format = \"ecs\" or \"ocsf\": raw ships Coder's bytes unchanged".into(),
                    ));
                }
                (_, Some(n)) if n < 1024 => {
                    return Err(invalid(
                        &format!("sinks.{name}.max_event_bytes"),
                        format!("must be at least 1024, got {n}"),
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The enrichment every sink's normalizer adds; `coder_version` comes from the server.
    pub fn enrichment(&self, coder_version: Option<String>) -> Enrichment {
        Enrichment {
            deployment: self.enrich.deployment.clone(),
            labels: self.enrich.labels.clone(),
            tags: self.enrich.tags.clone(),
            access_url: Some(
                self.enrich
                    .access_url
                    .clone()
                    .unwrap_or_else(|| self.coder.url.clone()),
            ),
            coder_version,
        }
    }

    /// Where dead letters go: `[dead_letter] dir`, or `dead-letter` in the checkpoint dir.
    pub fn dead_letter_dir(&self) -> PathBuf {
        self.dead_letter
            .dir
            .clone()
            .unwrap_or_else(|| self.checkpoint.dir.join("dead-letter"))
    }

    /// The host the events come from: the access URL's, or the Coder URL's.
    pub fn origin_host(&self) -> String {
        let url = self.enrich.access_url.as_deref().unwrap_or(&self.coder.url);
        reqwest::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "-".to_owned())
    }

    /// The token source: `token`, `token_file`, or `CODER_SESSION_TOKEN`.
    /// The PostgreSQL URL of `store = "postgres"`, from `checkpoint.url` or the file of
    /// `checkpoint.url_file`.
    pub fn postgres_url(&self) -> Result<Secret, ConfigError> {
        if let Some(url) = &self.checkpoint.url {
            return Ok(url.clone());
        }
        let invalid = |message: String| ConfigError::Invalid {
            file: "environment".into(),
            key: "checkpoint.url_file".into(),
            message,
        };
        let path = self
            .checkpoint
            .url_file
            .as_ref()
            .ok_or_else(|| invalid("no checkpoint.url or checkpoint.url_file".into()))?;
        let text = std::fs::read_to_string(path)
            .map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?;
        Ok(Secret::new(text.trim()))
    }

    pub fn token_source(&self) -> Result<crate::coder::TokenSource, ConfigError> {
        use crate::coder::TokenSource;
        if let Some(t) = &self.coder.token {
            return Ok(TokenSource::Static(t.clone()));
        }
        if let Some(f) = &self.coder.token_file {
            return Ok(TokenSource::File(f.clone()));
        }
        match std::env::var(TOKEN_ENV) {
            Ok(t) if !t.trim().is_empty() => Ok(TokenSource::Static(Secret::new(t.trim()))),
            _ => Err(ConfigError::Invalid {
                file: "environment".into(),
                key: "coder.token".into(),
                message: format!(
                    "no Coder token: set coder.token_file, coder.token or {TOKEN_ENV}"
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parse_error_names_the_line_but_does_not_quote_it() {
        let err =
            load("[coder]\nurl = \"https://c.example.com\"\ntoken = \"Sup3rSecretValue-123\" x\n")
                .unwrap_err()
                .to_string();
        assert!(err.contains("line 3"), "{err}");
        assert!(!err.contains("Sup3rSecret"), "{err}");
    }

    fn load(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shipper.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(&path)
    }

    const MINIMAL: &str = r#"
[coder]
url = "https://coder.example.com"
token = "abc"
[checkpoint]
dir = "/tmp/x"
[sinks.archive]
type = "file"
path = "/tmp/audit.ndjson"
"#;

    #[test]
    fn the_postgres_store_needs_a_url_and_a_plain_schema_and_hides_the_url() {
        let pg = |lines: &str| {
            load(&MINIMAL.replace(
                "dir = \"/tmp/x\"",
                &format!("dir = \"/tmp/x\"\nstore = \"postgres\"\n{lines}"),
            ))
        };
        let err = pg("").unwrap_err().to_string();
        assert!(err.contains("checkpoint.url"), "{err}");
        let err = pg("url = \"postgres://u:pw@h/db\"\nschema = \"Bad-Name\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("checkpoint.schema"), "{err}");
        let c = pg("url = \"postgres://u:hunter2@h/db\"").unwrap();
        assert_eq!(c.checkpoint.schema, "coder_audit_shipper");
        assert_eq!(c.checkpoint.takeover_interval, Duration::from_secs(2));
        assert_eq!(
            c.postgres_url().unwrap().expose(),
            "postgres://u:hunter2@h/db"
        );
        assert!(
            !format!("{c:?}").contains("hunter2"),
            "the URL's password is a secret"
        );
    }

    #[test]
    fn minimal_config_gets_the_documented_defaults() {
        let c = load(MINIMAL).unwrap();
        assert_eq!(c.coder.poll_interval, Duration::from_secs(2));
        assert_eq!(c.coder.page_size, 100);
        assert_eq!(c.coder.overlap, Duration::from_secs(300));
        assert_eq!(c.coder.start_at, StartAt::Now);
        assert_eq!(c.coder.streams, [crate::coder::Stream::Audit]);
        assert_eq!(c.coder.session_horizon, Duration::from_secs(7 * 86_400));
        assert_eq!(c.coder.session_poll_interval, Duration::from_secs(10));
        assert!(matches!(c.sinks["archive"], SinkConfig::File(ref f) if f.format == Format::Raw));
    }

    #[test]
    fn the_session_horizon_is_bounded() {
        let with = |h: &str| {
            load(&MINIMAL.replace(
                "[coder]\n",
                &format!("[coder]\nsession_horizon = \"{h}\"\n"),
            ))
        };
        assert!(with("30d").is_ok());
        for bad in ["1m", "400000y"] {
            let e = with(bad).unwrap_err().to_string();
            assert!(e.contains("coder.session_horizon"), "{bad}: {e}");
        }
    }

    #[test]
    fn streams_are_named_once_each_and_typos_are_refused() {
        let with = |streams: &str| {
            load(&MINIMAL.replace("[coder]\n", &format!("[coder]\nstreams = {streams}\n")))
        };
        let c = with(r#"["audit", "connection"]"#).unwrap();
        assert_eq!(
            c.coder.streams,
            [
                crate::coder::Stream::Audit,
                crate::coder::Stream::Connection
            ]
        );
        for bad in [r#"["audit", "audit"]"#, "[]", r#"["connections"]"#] {
            let e = with(bad).unwrap_err().to_string();
            assert!(e.contains("streams"), "{bad}: {e}");
        }
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_key() {
        let err = load(&MINIMAL.replace("token = \"abc\"", "token = \"abc\"\npage_sise = 5"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("page_sise") && err.contains("coder"), "{err}");
        let err = load(&format!("{MINIMAL}\ncolour = \"x\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("colour"), "{err}");
        let err = load(&MINIMAL.replace("path = ", "paht = \"x\"\npath = "))
            .unwrap_err()
            .to_string();
        assert!(err.contains("paht"), "{err}");
    }

    #[test]
    fn wrong_types_name_the_key_and_the_file() {
        let err = load(&MINIMAL.replace(
            "token = \"abc\"",
            "token = \"abc\"\npoll_interval = \"soon\"",
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("coder.poll_interval") && err.contains("shipper.toml"),
            "{err}"
        );
    }

    #[test]
    fn start_at_forms() {
        let c = load(&MINIMAL.replace(
            "token = \"abc\"",
            "token = \"abc\"\nstart_at = \"2026-01-01T00:00:00+01:00\"",
        ))
        .unwrap();
        assert_eq!(
            c.coder.start_at,
            StartAt::At(
                DateTime::parse_from_rfc3339("2025-12-31T23:00:00Z")
                    .unwrap()
                    .with_timezone(&Utc)
            )
        );
        let err = load(&MINIMAL.replace(
            "token = \"abc\"",
            "token = \"abc\"\nstart_at = \"yesterday\"",
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("coder.start_at"), "{err}");
    }

    fn with_sink_keys(keys: &str) -> Result<Config, ConfigError> {
        load(&MINIMAL.replace(
            "path = \"/tmp/audit.ndjson\"",
            &format!("path = \"/x\"\n{keys}"),
        ))
    }

    #[test]
    fn encodings_and_their_options() {
        let c = with_sink_keys(
            "format = \"ocsf\"\nocsf_version = \"1.1.0\"\nocsf_classes = \"single\"",
        )
        .unwrap();
        assert_eq!(
            c.sinks["archive"].encoding().target(),
            Some(Target::Ocsf {
                version: OcsfVersion::V1_1_0,
                classes: ClassStrategy::Single
            })
        );
        let c = with_sink_keys("format = \"ocsf\"").unwrap();
        assert_eq!(
            c.sinks["archive"].encoding().target(),
            Some(Target::Ocsf {
                version: OcsfVersion::V1_8_0,
                classes: ClassStrategy::Semantic
            })
        );
        let c = with_sink_keys("format = \"ecs\"\nmax_event_bytes = 65536").unwrap();
        assert_eq!(c.sinks["archive"].encoding().max_event_bytes, Some(65536));
        for (keys, key) in [
            (
                "format = \"ecs\"\nocsf_version = \"1.1.0\"",
                "sinks.archive.ocsf_version",
            ),
            (
                "format = \"ocsf\"\nocsf_version = \"1.5.0\"",
                "`1.5.0`, expected `1.8.0` or `1.1.0`",
            ),
            (
                "format = \"ocsf\"\nocsf_classes = \"many\"",
                "`many`, expected `semantic` or `single`",
            ),
            ("max_event_bytes = 4096", "sinks.archive.max_event_bytes"),
            (
                "format = \"ecs\"\nmax_event_bytes = 10",
                "sinks.archive.max_event_bytes",
            ),
            (
                "format = \"cef\"",
                "`cef`, expected one of `raw`, `ecs`, `ocsf`",
            ),
        ] {
            let err = with_sink_keys(keys).unwrap_err().to_string();
            assert!(err.contains(key), "{keys}: {err}");
        }
    }

    #[test]
    fn enrichment_defaults_its_access_url_to_the_coder_url() {
        let c = load(&format!(
            "{MINIMAL}\n[enrich]\ndeployment = \"prod-eu\"\ntags = [\"pci\"]\nlabels = {{ team = \"sec\" }}\n"
        ))
        .unwrap();
        let e = c.enrichment(Some("v2.24.1".into()));
        assert_eq!(e.deployment.as_deref(), Some("prod-eu"));
        assert_eq!(e.access_url.as_deref(), Some("https://coder.example.com"));
        assert_eq!(e.labels["team"], "sec");
        assert_eq!(e.tags, vec!["pci".to_owned()]);
        let err = load(&format!(
            "{MINIMAL}\n[enrich]\nlabels = {{ \"Team.X\" = \"a\" }}\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("enrich.labels"), "{err}");
    }

    #[cfg(feature = "s3")]
    #[test]
    fn two_s3_sinks_on_one_bucket_and_prefix_are_refused_naming_both() {
        let s3 = |name: &str, prefix: &str| {
            format!(
                "[sinks.{name}]\ntype = \"s3\"\nbucket = \"audit\"\nregion = \"us-east-1\"\n{prefix}\n"
            )
        };
        let both = format!(
            "{MINIMAL}{}{}",
            s3("lake", ""),
            s3("raw", "format = \"raw\"")
        );
        let err = load(&both).unwrap_err().to_string();
        assert!(
            err.contains("sinks.raw.key_prefix") && err.contains("sinks.lake"),
            "{err}"
        );
        let apart = format!(
            "{MINIMAL}{}{}",
            s3("lake", ""),
            s3("raw", "key_prefix = \"raw/%Y/\"")
        );
        assert!(load(&apart).is_ok());
    }

    #[cfg(feature = "kafka")]
    #[test]
    fn the_kafka_message_time_is_the_produce_time_unless_asked() {
        let kafka = |extra: &str| {
            load(&format!(
                "{MINIMAL}[sinks.bus]\ntype = \"kafka\"\nbrokers = \"k:9092\"\ntopic = \"t\"\n{extra}\n"
            ))
        };
        let time = |c: Config| match &c.sinks["bus"] {
            SinkConfig::Kafka(k) => k.timestamp,
            _ => unreachable!("the bus sink is a kafka sink"),
        };
        assert_eq!(time(kafka("").unwrap()), sink_kafka::MessageTime::Now);
        assert_eq!(
            time(kafka("timestamp = \"event\"").unwrap()),
            sink_kafka::MessageTime::Event
        );
        let err = kafka("timestamp = \"create\"").unwrap_err().to_string();
        assert!(
            err.contains("sinks.bus") && err.contains("`now` or `event`"),
            "{err}"
        );
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_byte_size("10MiB"), Some(10 << 20));
        assert_eq!(parse_byte_size("512KiB"), Some(512 << 10));
        assert_eq!(parse_byte_size("1GB"), Some(1_000_000_000));
        assert_eq!(parse_byte_size("42"), Some(42));
        assert_eq!(parse_byte_size("ten"), None);
        assert_eq!(parse_byte_size("5XB"), None);
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let c = load(&MINIMAL.replace("\"abc\"", "\"tok-very-secret\"")).unwrap();
        assert!(!format!("{c:?}").contains("very-secret"));
    }

    #[cfg(feature = "syslog")]
    #[test]
    fn syslog_misuse_names_the_key() {
        let with = |sink: &str| {
            load(&format!(
                "{MINIMAL}\n[sinks.siem]\ntype = \"syslog\"\naddress = \"siem:6514\"\n{sink}\n"
            ))
        };
        let c = with("body = \"leef\"").unwrap();
        assert_eq!(c.sinks["siem"].encoding().target(), Some(Target::Leef));
        for (sink, key) in [
            ("body = \"cef\"\nformat = \"ocsf\"", "sinks.siem.format"),
            ("tls_ca_file = \"/ca.pem\"", "sinks.siem.tls_ca_file"),
            (
                "transport = \"tls\"\ntls_cert_file = \"/c.pem\"",
                "sinks.siem.tls_cert_file",
            ),
            ("max_message_bytes = 100", "sinks.siem.max_message_bytes"),
            // serde's tagged enums lose the field's name; the value and the choices stay.
            (
                "framing = \"newline\"",
                "unknown variant `newline`, expected `octet-counting` or `lf`",
            ),
        ] {
            let err = with(sink).unwrap_err().to_string();
            assert!(err.contains(key), "{sink}: {err}");
        }
        let err = load(&format!(
            "{MINIMAL}\n[sinks.siem]\ntype = \"syslog\"\naddress = \"siem\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("sinks.siem.address"), "{err}");
    }

    #[cfg(feature = "splunk")]
    #[test]
    fn hec_needs_one_token_and_never_shows_it() {
        let hec = |extra: &str| {
            load(&format!(
                "{MINIMAL}\n[sinks.splunk]\ntype = \"splunk_hec\"\nendpoint = \"https://splunk:8088\"\n{extra}\n"
            ))
        };
        let c = hec("token = \"hec-very-secret\"\nack = true").unwrap();
        assert!(!format!("{c:?}").contains("very-secret"));
        // With acks a confirmed batch is indexed; without, only accepted.
        assert_eq!(
            crate::delivery_guarantee::of(&c.sinks["splunk"]),
            crate::delivery_guarantee::DeliveryGuarantee::Indexed
        );
        let c = hec("token = \"t\"").unwrap();
        assert_eq!(
            crate::delivery_guarantee::of(&c.sinks["splunk"]),
            crate::delivery_guarantee::DeliveryGuarantee::Accepted
        );
        for (extra, key) in [
            ("", "sinks.splunk.token"),
            ("token = \"a\"\ntoken_file = \"/t\"", "sinks.splunk.token"),
            (
                "token = \"a\"\nmax_pending_acks = 0",
                "sinks.splunk.ack_poll_interval",
            ),
        ] {
            let err = hec(extra).unwrap_err().to_string();
            assert!(err.contains(key), "{extra}: {err}");
        }
    }
}
