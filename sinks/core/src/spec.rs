//! What a sink crate offers the shipper: its config table, checked and described, and how
//! to build the sink from it.
//!
//! Each sink crate implements [`SinkSpec`] for the struct its `[sinks.NAME]` table
//! deserializes into (with `deny_unknown_fields`, so a typo names its key). The shipper's
//! registry (`src/sinks.rs`) lists the crates, one line each; nothing else in the shipper
//! knows one sink from another. The encoding keys every sink shares (`format`, `ocsf_*`,
//! `body`, `max_event_bytes`) are the shipper's, read before the table reaches the crate.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;

use crate::Sink;

/// A key of a sink's table that is wrong, and why. `key` is relative to the table
/// (`topic`, not `sinks.siem.topic`): the shipper adds the path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key `{key}`: {message}")]
pub struct KeyError {
    pub key: String,
    pub message: String,
}

impl KeyError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        KeyError {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// A sink that could not be built: a file it needs is unreadable, a client would not
/// start. The source is kept for the log line.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct BuildError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl BuildError {
    pub fn new(message: impl Into<String>) -> Self {
        BuildError {
            message: message.into(),
            source: None,
        }
    }

    /// `source` itself, kept as the source.
    pub fn of(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        BuildError {
            message: source.to_string(),
            source: Some(Box::new(source)),
        }
    }

    /// `message`, caused by `source` (shown as `message: source`).
    pub fn caused(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        let message = format!("{}: {source}", message.into());
        BuildError {
            message,
            source: Some(Box::new(source)),
        }
    }
}

/// What the shipper tells a sink it builds.
#[derive(Debug, Clone, Copy)]
pub struct SinkContext<'a> {
    /// The sink's name (`[sinks.NAME]`): its metrics label and checkpoint.
    pub name: &'a str,
    /// The host the events come from (the Coder URL's): a default HEC `host` and syslog
    /// HOSTNAME.
    pub origin: &'a str,
    /// What the records are: `raw`, `ecs`, `ocsf`, `cef` or `leef`.
    pub format: &'a str,
    /// Their schema and version: `coder`, `ecs 9.4.0`, `ocsf 1.8.0`, `cef 0`, `leef 2.0`.
    pub schema: &'a str,
    /// The OCSF classes (`class_uid`) the records may be, as configured; empty unless
    /// the format is OCSF.
    pub classes: &'a [u32],
    /// The one log this instance is sent (`audit` or `connection`): each stream a sink
    /// takes gets its own instance (`validate` checks the sink as built for its first,
    /// a test event goes as `audit`). `None` when no one log applies (a replay of dead
    /// letters, which do not say theirs): a sink that writes per log (an Elasticsearch
    /// data stream) then writes as for `audit`.
    pub stream: Option<&'a str>,
}

/// How a sink wants its records gathered before a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    pub max_bytes: usize,
    pub max_events: usize,
    /// `None`: send every page as it comes.
    pub timeout: Option<Duration>,
    /// Also send what is gathered when a scan of Coder completes, whatever its size or
    /// age. A batch then gathers only pages that follow each other within one scan (a
    /// backfill's or a catch-up's), and a live page goes out as soon as it is read.
    pub at_scan_end: bool,
}

impl Batching {
    /// Send each page of events as soon as it is read.
    pub const IMMEDIATE: Batching = Batching {
        max_bytes: 0,
        max_events: 0,
        timeout: None,
        at_scan_end: false,
    };

    /// Gather up to `max_bytes`, or what arrived within `timeout`.
    pub fn by_size_and_age(max_bytes: u64, timeout: Duration) -> Self {
        Batching {
            max_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX),
            max_events: usize::MAX,
            timeout: Some(timeout),
            at_scan_end: false,
        }
    }

    /// Gather the pages of one scan up to `max_bytes` or for at most `timeout`, and send
    /// the rest at the scan's end: for a sink whose cost is per send (an `fsync`) rather
    /// than per byte, without making a live event wait. `max_bytes` 0 sends every page.
    pub fn within_a_scan(max_bytes: u64, timeout: Duration) -> Self {
        Batching {
            at_scan_end: true,
            ..Self::by_size_and_age(max_bytes, timeout)
        }
    }
}

/// A built sink and how it wants its records batched.
pub struct Built {
    pub sink: Box<dyn Sink>,
    pub batching: Batching,
}

/// That config key `key` holds an `http://` or `https://` URL: the one check of every URL
/// key (`coder.url`, `enrich.access_url`, a HEC `endpoint`), with one wording.
pub fn check_http_url(key: &str, value: &str) -> Result<(), KeyError> {
    match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
        Ok(u) => Err(KeyError::new(
            key,
            format!(
                "expected an http(s) URL, got scheme {:?} in {value:?}",
                u.scheme()
            ),
        )),
        Err(e) => Err(KeyError::new(
            key,
            format!("expected an http(s) URL, got {value:?}: {e}"),
        )),
    }
}

/// Whether `url` is plain `http://`: what [`SinkSpec::exposure`] and the shipper's own
/// check of `coder.url` warn about.
pub fn is_plain_http(url: &str) -> bool {
    url.trim().to_ascii_lowercase().starts_with("http://")
}

/// A sink type: the struct its `[sinks.NAME]` table deserializes into.
#[async_trait]
pub trait SinkSpec: DeserializeOwned + fmt::Debug + Clone + Send + Sync + 'static {
    /// The table's `type` (the `component_type` label of the sink's metrics).
    const TYPE: &'static str;

    /// Whether the table takes `body` (a CEF or LEEF line instead of JSON).
    const TAKES_BODY: bool = false;

    /// The one schema this sink takes (`ocsf 1.1.0`), when it takes only one: the shipper
    /// refuses other encodings of it, naming `format`.
    fn schema(&self) -> Option<&'static str> {
        None
    }

    /// What types alone cannot check, naming the key.
    fn validate(&self) -> Result<(), KeyError> {
        Ok(())
    }

    /// Where the records go, for `validate`: `kafka host:9092 topic coder-audit`.
    fn describe(&self) -> String;

    /// What a confirmed batch means, as configured.
    fn guarantee(&self) -> crate::DeliveryGuarantee;

    /// A place two sinks of this type must not share, with the key that names it:
    /// `("key_prefix", "bucket \"b\" and key_prefix \"p\"")`.
    fn destination(&self) -> Option<(&'static str, String)> {
        None
    }

    /// Why this sink's traffic is exposed on the network (clear text, checks off), if it is.
    fn exposure(&self) -> Option<String> {
        None
    }

    /// Advice on a legal but doubtful setting, for `validate`.
    fn advice(&self) -> Option<String> {
        None
    }

    /// Build the sink.
    async fn build(&self, ctx: &SinkContext<'_>) -> Result<Built, BuildError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_key_takes_http_or_https_and_names_itself_otherwise() {
        assert!(check_http_url("coder.url", "https://coder.example.com").is_ok());
        assert!(check_http_url("endpoint", "http://127.0.0.1:8088/services/collector").is_ok());
        let e = check_http_url("coder.url", "ftp://coder.example.com").unwrap_err();
        assert_eq!(e.key, "coder.url");
        assert!(e.message.contains("scheme \"ftp\""), "{}", e.message);
        let e = check_http_url("enrich.access_url", "coder.example.com").unwrap_err();
        assert_eq!(e.key, "enrich.access_url");
        assert!(e.message.contains("\"coder.example.com\""), "{}", e.message);
        assert!(is_plain_http(" HTTP://x") && !is_plain_http("https://x"));
    }
}
