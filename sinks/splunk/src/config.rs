//! The HEC sink's table (`[sinks.NAME]`, [`HecSinkConfig`]) and the settings the sink runs
//! with ([`HecConfig`]). The token never appears in `Debug` output, errors or logs.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use sink_core::size::byte_size;
use sink_core::{
    Batching, BuildError, Built, DeliveryGuarantee, KeyError, Secret, SinkContext, SinkSpec,
};

use crate::sink::HecSink;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HecCompression {
    None,
    #[default]
    Gzip,
}

/// A HEC token. Shown as `Token(***)`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(value: impl Into<String>) -> Self {
        Token(value.into().trim().to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// Indexer acknowledgement.
#[derive(Debug, Clone)]
pub struct AckConfig {
    /// The first ack poll after requests were sent; later ones double up to
    /// `poll_interval`. Splunk's pages give no polling guidance we could find
    /// (unverified); a lightly loaded indexer acknowledges within about a second.
    pub first_poll: Duration,
    /// How often `/services/collector/ack` is asked about pending ack ids.
    pub poll_interval: Duration,
    /// An ack id not reported true within this long is given up and its request resent.
    pub timeout: Duration,
    /// Requests awaiting their ack at once; more wait (backpressure on the tailer).
    pub max_pending: usize,
}

impl Default for AckConfig {
    fn default() -> Self {
        AckConfig {
            first_poll: Duration::from_millis(500),
            poll_interval: Duration::from_secs(1),
            timeout: Duration::from_secs(300),
            max_pending: 64,
        }
    }
}

#[derive(Debug, Clone)]
pub struct HecConfig {
    /// `https://splunk.example.com:8088` (the path `/services/collector/event` is added).
    pub endpoint: String,
    pub token: Token,
    pub index: Option<String>,
    pub sourcetype: String,
    pub source: String,
    pub host: Option<String>,
    pub compression: HecCompression,
    /// `None`: a 200 from HEC is delivery.
    pub ack: Option<AckConfig>,
    /// PEM CA certificates that may sign HEC's certificate (besides the system's).
    pub tls_ca_file: Option<PathBuf>,
    /// A request body holds events up to about this many bytes (before compression).
    pub max_request_bytes: usize,
    /// One HTTP request's deadline.
    pub request_timeout: Duration,
}

/// `[sinks.NAME]` with `type = "splunk_hec"`: batches of event envelopes to HEC's
/// `/services/collector/event`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HecSinkConfig {
    /// `https://splunk.example.com:8088`.
    pub endpoint: String,
    /// The HEC token (or set `token_file`). Never logged.
    pub token: Option<Secret>,
    pub token_file: Option<PathBuf>,
    pub index: Option<String>,
    /// Default by format: `coder:audit` (raw), `ecs:coder:audit`, `ocsf:coder:audit`.
    pub sourcetype: Option<String>,
    #[serde(default = "default_source")]
    pub source: String,
    /// Default: the host of the Coder URL.
    pub host: Option<String>,
    #[serde(default)]
    pub compression: HecCompression,
    /// Indexer acknowledgement: a batch is delivered when the indexers confirm it.
    #[serde(default)]
    pub ack: bool,
    /// The first ack poll after a request (at most `ack_poll_interval`); later ones double
    /// up to `ack_poll_interval`.
    #[serde(default = "default_ack_first_poll", with = "humantime_serde")]
    pub ack_first_poll: Duration,
    #[serde(default = "default_ack_poll_interval", with = "humantime_serde")]
    pub ack_poll_interval: Duration,
    /// An ack not confirmed within this long sends its events again.
    #[serde(default = "default_ack_timeout", with = "humantime_serde")]
    pub ack_timeout: Duration,
    /// Requests awaiting their ack at once.
    #[serde(default = "default_max_pending_acks")]
    pub max_pending_acks: usize,
    /// PEM CA certificates for HEC's TLS certificate (added to the system's).
    pub tls_ca_file: Option<PathBuf>,
    /// One HTTP request carries about this much (before gzip).
    #[serde(default = "default_max_request_bytes", deserialize_with = "byte_size")]
    pub max_request_bytes: u64,
    /// A batch (one ack round) holds up to this much ...
    #[serde(default = "default_batch_max_bytes", deserialize_with = "byte_size")]
    pub batch_max_bytes: u64,
    /// ... or what arrived within this long.
    #[serde(default = "default_batch_timeout", with = "humantime_serde")]
    pub batch_timeout: Duration,
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
}

fn default_source() -> String {
    "coder-audit-shipper".into()
}
fn default_ack_first_poll() -> Duration {
    AckConfig::default().first_poll
}
fn default_ack_poll_interval() -> Duration {
    AckConfig::default().poll_interval
}
fn default_ack_timeout() -> Duration {
    AckConfig::default().timeout
}
fn default_max_pending_acks() -> usize {
    AckConfig::default().max_pending
}
fn default_max_request_bytes() -> u64 {
    1 << 20
}
fn default_batch_max_bytes() -> u64 {
    16 << 20
}
fn default_batch_timeout() -> Duration {
    Duration::from_secs(1)
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}

impl HecSinkConfig {
    /// The token, from `token` or `token_file`.
    fn token(&self) -> Result<Token, BuildError> {
        let token = match (&self.token, &self.token_file) {
            (Some(t), _) => t.expose().to_owned(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| BuildError::caused(format!("token_file {}", path.display()), e))?,
            (None, None) => return Err(BuildError::new("no HEC token")),
        };
        if token.trim().is_empty() {
            return Err(BuildError::new("the HEC token is empty"));
        }
        Ok(Token::new(token))
    }
}

#[async_trait]
impl SinkSpec for HecSinkConfig {
    const TYPE: &'static str = "splunk_hec";

    fn validate(&self) -> Result<(), KeyError> {
        sink_core::check_http_url("endpoint", &self.endpoint)?;
        match (&self.token, &self.token_file) {
            (Some(_), Some(_)) => {
                return Err(KeyError::new("token", "set token or token_file, not both"));
            }
            (None, None) => {
                return Err(KeyError::new(
                    "token",
                    "no HEC token: set token_file or token",
                ));
            }
            (Some(t), None) if t.is_empty() => return Err(KeyError::new("token", "is empty")),
            _ => {}
        }
        if self.ack_poll_interval.is_zero() || self.max_pending_acks == 0 {
            return Err(KeyError::new(
                "ack_poll_interval",
                "ack_poll_interval and max_pending_acks must be more than 0",
            ));
        }
        if self.ack_first_poll.is_zero() {
            return Err(KeyError::new("ack_first_poll", "must be more than 0"));
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!(
            "splunk_hec {}{}",
            self.endpoint,
            if self.ack {
                " with indexer acknowledgement"
            } else {
                ""
            }
        )
    }

    fn guarantee(&self) -> DeliveryGuarantee {
        if self.ack {
            DeliveryGuarantee::Indexed
        } else {
            DeliveryGuarantee::Accepted
        }
    }

    fn exposure(&self) -> Option<String> {
        sink_core::is_plain_http(&self.endpoint).then(|| {
            "endpoint is http://: the HEC token and every event cross the network in clear text"
                .to_owned()
        })
    }

    async fn build(&self, ctx: &SinkContext<'_>) -> Result<Built, BuildError> {
        let sourcetype = self.sourcetype.clone().unwrap_or_else(|| {
            match ctx.format {
                "ecs" => "ecs:coder:audit",
                "ocsf" => "ocsf:coder:audit",
                _ => "coder:audit",
            }
            .to_owned()
        });
        let config = HecConfig {
            endpoint: self.endpoint.clone(),
            token: self.token()?,
            index: self.index.clone(),
            sourcetype,
            source: self.source.clone(),
            host: Some(self.host.clone().unwrap_or_else(|| ctx.origin.to_owned())),
            compression: self.compression,
            ack: self.ack.then_some(AckConfig {
                first_poll: self.ack_first_poll,
                poll_interval: self.ack_poll_interval,
                timeout: self.ack_timeout,
                max_pending: self.max_pending_acks,
            }),
            tls_ca_file: self.tls_ca_file.clone(),
            max_request_bytes: usize::try_from(self.max_request_bytes).unwrap_or(usize::MAX),
            request_timeout: self.request_timeout,
        };
        let sink = HecSink::new(ctx.name, config).map_err(BuildError::of)?;
        // One ack round per batch: gather what arrives within `batch_timeout`.
        Ok(Built {
            sink: Box::new(sink),
            batching: Batching::by_size_and_age(self.batch_max_bytes, self.batch_timeout),
        })
    }
}
