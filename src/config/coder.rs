//! `[coder]`: which Coder to read, with which token, how often and how far back.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use sink_core::KeyError;

use crate::coder::Stream;
use crate::secret::Secret;

/// `[coder]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoderConfig {
    pub url: String,
    pub token: Option<Secret>,
    pub token_file: Option<PathBuf>,
    #[serde(default = "default_poll_interval", with = "humantime_serde")]
    pub poll_interval: Duration,
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    #[serde(default = "default_overlap", with = "humantime_serde")]
    pub overlap: Duration,
    #[serde(default)]
    pub start_at: StartAt,
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: u64,
    /// PEM CA certificates that may sign Coder's certificate (added to the system's): a
    /// Coder behind a private CA.
    pub tls_ca_file: Option<PathBuf>,
    /// Which of Coder's logs to ship: `audit` (`/api/v2/audit`) and, from Coder v2.25 with
    /// a Premium license, `connection` (`/api/v2/connectionlog`: SSH, IDE, web terminal,
    /// app and port-forward connections). Each has its own checkpoint per sink.
    #[serde(default = "default_streams", deserialize_with = "stream_list")]
    pub streams: Vec<Stream>,
    /// Connection log: how long after its connect an open session is still looked at
    /// again for its disconnect (an agent that dies never reports one).
    #[serde(default = "default_session_horizon", with = "humantime_serde")]
    pub session_horizon: Duration,
    /// Connection log: how often each stream asks Coder which open sessions ended.
    #[serde(default = "default_session_poll_interval", with = "humantime_serde")]
    pub session_poll_interval: Duration,
    /// Connection log: how long after its `connect_time` a row may still land and be found
    /// (agents stamp it with their own clock and hold reports while coderd is away). `0s`
    /// turns the late sweep off.
    #[serde(default = "default_late_horizon", with = "humantime_serde")]
    pub late_horizon: Duration,
    /// Connection log: how often the late sweep compares Coder's hourly counts with what
    /// was shipped.
    #[serde(default = "default_late_sweep_interval", with = "humantime_serde")]
    pub late_sweep_interval: Duration,
    /// A caught-up stream reads the whole `overlap` only this often, and in between only
    /// the last 10 s: Coder's rate limit is per user and path, and re-reading the overlap
    /// every poll was most of the requests. `0s` reads the overlap at every poll; more than
    /// `overlap` counts as `overlap`.
    #[serde(default = "default_overlap_reread_interval", with = "humantime_serde")]
    pub overlap_reread_interval: Duration,
    /// Every request the process makes to Coder, in any 60 s, at most: Coder limits each
    /// user to 512 a minute per API path (`CODER_API_RATE_LIMIT`), shared with every other
    /// reader of that path under the token's user (the UI's audit page, the CLI). Live
    /// tailing goes first. `0`: no budget of our own.
    #[serde(default = "default_max_requests_per_minute")]
    pub max_requests_per_minute: u32,
}

/// A list of streams, or the same as one comma-separated string: what an environment
/// override gives (`CODER_AUDIT_SHIPPER__CODER__STREAMS=audit,connection`).
fn stream_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Stream>, D::Error> {
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

impl CoderConfig {
    /// What types alone cannot check.
    pub(super) fn check(&self) -> Result<(), KeyError> {
        sink_core::check_http_url("coder.url", &self.url)?;
        if self.token.is_some() && self.token_file.is_some() {
            return Err(KeyError::new(
                "coder.token",
                "set coder.token or coder.token_file, not both",
            ));
        }
        if !(1..=10_000).contains(&self.page_size) {
            return Err(KeyError::new(
                "coder.page_size",
                format!(
                    "must be 1..=10000 (Coder suggests at most ~500), got {}",
                    self.page_size
                ),
            ));
        }
        if self.poll_interval.is_zero() {
            return Err(KeyError::new("coder.poll_interval", "must be more than 0"));
        }
        if self.streams.is_empty() {
            return Err(KeyError::new(
                "coder.streams",
                "name at least one of \"audit\", \"connection\"",
            ));
        }
        let mut streams = self.streams.clone();
        streams.sort();
        streams.dedup();
        if streams.len() != self.streams.len() {
            return Err(KeyError::new("coder.streams", "a stream is named twice"));
        }
        // The horizon is subtracted from the clock on every scan: bounded, so that the
        // subtraction can never leave chrono's range.
        if self.session_horizon < self.overlap
            || self.session_horizon > Duration::from_secs(3_650 * 86_400)
        {
            return Err(KeyError::new(
                "coder.session_horizon",
                "must be at least coder.overlap and at most 3650d",
            ));
        }
        let budget = self.max_requests_per_minute;
        if budget != 0 && budget < crate::coder::budget::MIN_PER_MINUTE {
            return Err(KeyError::new(
                "coder.max_requests_per_minute",
                format!(
                    "must be 0 (no budget) or at least {}, got {budget}",
                    crate::coder::budget::MIN_PER_MINUTE
                ),
            ));
        }
        if self.late_horizon > Duration::from_secs(90 * 86_400) {
            return Err(KeyError::new(
                "coder.late_horizon",
                "must be at most 90d (Coder purges connection rows after 90 days)",
            ));
        }
        Ok(())
    }
}

fn default_max_requests_per_minute() -> u32 {
    300
}

fn default_poll_interval() -> Duration {
    Duration::from_secs(2)
}
fn default_page_size() -> u32 {
    100
}
fn default_overlap() -> Duration {
    Duration::from_secs(300)
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_max_response_bytes() -> u64 {
    64 * 1024 * 1024
}
fn default_streams() -> Vec<Stream> {
    vec![Stream::Audit]
}
fn default_session_horizon() -> Duration {
    Duration::from_secs(7 * 86_400)
}
fn default_session_poll_interval() -> Duration {
    Duration::from_secs(10)
}
fn default_late_horizon() -> Duration {
    Duration::from_secs(86_400)
}
fn default_late_sweep_interval() -> Duration {
    Duration::from_secs(300)
}
fn default_overlap_reread_interval() -> Duration {
    Duration::from_secs(60)
}
