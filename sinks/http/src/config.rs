//! The HTTP sink's table (`[sinks.NAME]` with `type = "http"`).
//!
//! Secrets are never shown: header values are [`Secret`]s, the auth value comes from a
//! file (read again before every request, so a token refresher can replace it), and a URL
//! read from `uri_file` is shown by its host alone (a Sumo Logic source's URL is its token).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use sink_core::size::byte_size;
use sink_core::{
    Batching, BuildError, Built, DeliveryGuarantee, KeyError, Secret, SinkContext, SinkSpec,
};

use crate::request::{Encoding, Limits};
use crate::sink::HttpSink;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    None,
    #[default]
    Gzip,
}

/// `[sinks.NAME]` with `type = "http"`: batches POSTed to any intake.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSinkConfig {
    /// The intake's URL (or `uri_file`, when the URL is itself the credential).
    pub uri: Option<String>,
    pub uri_file: Option<PathBuf>,
    #[serde(default)]
    pub encoding: Encoding,
    /// Static headers (`"DD-SOURCE" = "coder"`); values are never shown.
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    /// The header the credential goes in.
    #[serde(default = "default_auth_header")]
    pub auth_header: String,
    /// Put before the credential with a space: `Bearer` for a bare OAuth token.
    pub auth_scheme: Option<String>,
    /// The credential, read before each request (or `auth`, inline).
    pub auth_file: Option<PathBuf>,
    pub auth: Option<Secret>,
    #[serde(default)]
    pub compression: Compression,
    /// One request's body, before compression, holds at most this much ...
    #[serde(default = "default_max_request_bytes", deserialize_with = "byte_size")]
    pub max_request_bytes: u64,
    /// ... and this many records.
    #[serde(default = "default_max_request_events")]
    pub max_request_events: usize,
    /// A batch holds up to this much ...
    #[serde(default = "default_batch_max_bytes", deserialize_with = "byte_size")]
    pub batch_max_bytes: u64,
    /// ... or what arrived within this long.
    #[serde(default = "default_batch_timeout", with = "humantime_serde")]
    pub batch_timeout: Duration,
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
    /// PEM CA certificates for the intake's TLS certificate (added to the system's).
    pub tls_ca_file: Option<PathBuf>,
}

fn default_auth_header() -> String {
    "Authorization".into()
}
/// 1 MB: Azure Monitor's Logs Ingestion API and Sumo Logic take no more per call.
fn default_max_request_bytes() -> u64 {
    1 << 20
}
/// Datadog's array limit ("1000 entries").
fn default_max_request_events() -> usize {
    1000
}
fn default_batch_max_bytes() -> u64 {
    10 << 20
}
fn default_batch_timeout() -> Duration {
    Duration::from_secs(1)
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}

/// Where the credential comes from.
#[derive(Debug, Clone)]
pub enum Auth {
    None,
    Inline(Secret),
    File(PathBuf),
}

/// What the sink runs with.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub uri: Secret,
    /// How the URL may be shown (its path hidden when it came from a file).
    pub shown_uri: String,
    pub encoding: Encoding,
    pub headers: BTreeMap<String, Secret>,
    pub auth_header: String,
    pub auth_scheme: Option<String>,
    pub auth: Auth,
    pub compression: Compression,
    pub limits: Limits,
    pub request_timeout: Duration,
    pub tls_ca_file: Option<PathBuf>,
}

impl HttpSinkConfig {
    fn uri(&self) -> Result<Secret, BuildError> {
        match (&self.uri, &self.uri_file) {
            (Some(u), _) => Ok(Secret::new(u.trim())),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|u| Secret::new(u.trim()))
                .map_err(|e| BuildError::caused(format!("uri_file {}", path.display()), e)),
            (None, None) => Err(BuildError::new("no uri")),
        }
    }

    fn shown_uri(&self) -> String {
        match &self.uri {
            Some(u) => crate::transport::shown(u, true),
            None => format!(
                "the URL in {}",
                self.uri_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
        }
    }
}

#[async_trait]
impl SinkSpec for HttpSinkConfig {
    const TYPE: &'static str = "http";

    fn validate(&self) -> Result<(), KeyError> {
        match (&self.uri, &self.uri_file) {
            (Some(_), Some(_)) => {
                return Err(KeyError::new("uri", "set uri or uri_file, not both"));
            }
            (None, None) => {
                return Err(KeyError::new(
                    "uri",
                    "the intake's URL: set uri or uri_file",
                ));
            }
            (Some(u), None) => sink_core::check_http_url("uri", u)?,
            (None, Some(_)) => {}
        }
        if self.auth.is_some() && self.auth_file.is_some() {
            return Err(KeyError::new("auth", "set auth or auth_file, not both"));
        }
        reqwest::header::HeaderName::from_bytes(self.auth_header.as_bytes())
            .map_err(|_| KeyError::new("auth_header", "is not a header name"))?;
        for (name, value) in &self.headers {
            reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| KeyError::new(format!("headers.{name}"), "is not a header name"))?;
            reqwest::header::HeaderValue::from_str(value.expose()).map_err(|_| {
                KeyError::new(
                    format!("headers.{name}"),
                    "has characters a header cannot carry",
                )
            })?;
            if name.eq_ignore_ascii_case("content-encoding") {
                return Err(KeyError::new(
                    format!("headers.{name}"),
                    "is the sink's own: set compression",
                ));
            }
        }
        if self.max_request_bytes == 0 || self.max_request_events == 0 {
            return Err(KeyError::new(
                "max_request_bytes",
                "max_request_bytes and max_request_events must be more than 0",
            ));
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!(
            "http POST {} ({}{})",
            self.shown_uri(),
            match self.encoding {
                Encoding::Ndjson => "NDJSON",
                Encoding::JsonArray => "JSON array",
            },
            match self.compression {
                Compression::Gzip => ", gzip",
                Compression::None => "",
            }
        )
    }

    fn guarantee(&self) -> DeliveryGuarantee {
        DeliveryGuarantee::Answered
    }

    fn exposure(&self) -> Option<String> {
        let plain = self.uri.as_deref().is_some_and(sink_core::is_plain_http);
        plain.then(|| {
            "uri is http://: the credentials and every event cross the network in clear text"
                .to_owned()
        })
    }

    async fn build(&self, ctx: &SinkContext<'_>) -> Result<Built, BuildError> {
        let uri = self.uri()?;
        sink_core::check_http_url("uri_file", uri.expose()).map_err(|e| {
            // The URL itself is the secret: say what is wrong with it without it.
            BuildError::new(format!(
                "uri_file does not hold an http(s) URL{}",
                if e.message.contains("scheme") {
                    " (wrong scheme)"
                } else {
                    ""
                }
            ))
        })?;
        let auth = match (&self.auth, &self.auth_file) {
            (Some(s), _) => Auth::Inline(s.clone()),
            (None, Some(p)) => Auth::File(p.clone()),
            (None, None) => Auth::None,
        };
        let config = HttpConfig {
            shown_uri: self.shown_uri(),
            uri,
            encoding: self.encoding,
            headers: self.headers.clone(),
            auth_header: self.auth_header.clone(),
            auth_scheme: self.auth_scheme.clone(),
            auth,
            compression: self.compression,
            limits: Limits {
                max_bytes: usize::try_from(self.max_request_bytes).unwrap_or(usize::MAX),
                max_events: self.max_request_events,
            },
            request_timeout: self.request_timeout,
            tls_ca_file: self.tls_ca_file.clone(),
        };
        let sink = HttpSink::new(ctx.name, config).map_err(BuildError::of)?;
        // The first request reads the credential: one unreadable now is said at start.
        sink.credential().map_err(BuildError::new)?;
        Ok(Built {
            sink: Box::new(sink),
            batching: Batching::by_size_and_age(self.batch_max_bytes, self.batch_timeout),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_like: serde_json::Value) -> HttpSinkConfig {
        serde_json::from_value(toml_like).unwrap()
    }

    #[test]
    fn the_checks_name_their_key() {
        let e = parse(serde_json::json!({})).validate().unwrap_err();
        assert_eq!(e.key, "uri");
        let e = parse(serde_json::json!({"uri": "ftp://x"}))
            .validate()
            .unwrap_err();
        assert_eq!(e.key, "uri");
        let e = parse(serde_json::json!({"uri": "https://x", "auth": "a", "auth_file": "/f"}))
            .validate()
            .unwrap_err();
        assert_eq!(e.key, "auth");
        let e = parse(serde_json::json!({"uri": "https://x", "headers": {"bad name": "v"}}))
            .validate()
            .unwrap_err();
        assert_eq!(e.key, "headers.bad name");
        let e =
            parse(serde_json::json!({"uri": "https://x", "headers": {"Content-Encoding": "br"}}))
                .validate()
                .unwrap_err();
        assert_eq!(e.key, "headers.Content-Encoding");
        assert!(
            parse(serde_json::json!({"uri": "https://x"}))
                .validate()
                .is_ok()
        );
        assert!(
            serde_json::from_value::<HttpSinkConfig>(
                serde_json::json!({"uri": "https://x", "urii": 1})
            )
            .is_err()
        );
    }

    #[test]
    fn a_url_from_a_file_and_header_values_are_never_shown() {
        let c = parse(serde_json::json!({
            "uri_file": "/run/secrets/sumo-url",
            "headers": {"DD-API-KEY": "hunter2"},
        }));
        let shown = format!("{} {c:?}", c.describe());
        assert!(shown.contains("/run/secrets/sumo-url"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
