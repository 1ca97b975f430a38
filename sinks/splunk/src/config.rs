//! The HEC sink's settings. The token never appears in `Debug` output, errors or logs.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

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
