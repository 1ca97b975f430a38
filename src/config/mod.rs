//! The config file: TOML (or YAML, by extension), with environment overrides
//! `CODER_AUDIT_SHIPPER__SECTION__KEY`. Unknown keys are errors; every error names the key
//! and the file, because a typo in a security pipeline must stop it, not be ignored.
//!
//! One module per section, each with its own checks beside its struct: [`coder`],
//! [`checkpoint`], [`enrich`], [`server`] (and `[dead_letter]`), [`fanout`], and [`sink`] with the
//! [`encoding`] keys every sink shares. A sink's own keys belong to its crate (see
//! `src/sinks.rs`).

mod checkpoint;
mod coder;
mod encoding;
mod enrich;
mod fanout;
mod messages;
mod server;
mod sink;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use sink_core::KeyError;

pub use checkpoint::{CheckpointConfig, StoreKind};
pub use coder::{CoderConfig, StartAt};
pub use encoding::{Body, Encoding, Format};
pub use enrich::EnrichConfig;
pub use fanout::FanoutConfig;
pub use server::{DeadLetterConfig, ServerConfig};
pub use sink::SinkConfig;

use crate::coder::{Reading, Stream};
use crate::normalize::Enrichment;
use crate::secret::Secret;

pub const ENV_PREFIX: &str = "CODER_AUDIT_SHIPPER";
pub const TOKEN_ENV: &str = "CODER_SESSION_TOKEN";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// How long a stopping stream (SIGTERM, Ctrl-C) may spend sending what it holds before
    /// it gives up, leaving its checkpoint before those records.
    #[serde(default = "default_shutdown_timeout", with = "humantime_serde")]
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
    #[serde(default)]
    pub fanout: FanoutConfig,
    /// `[sinks.*]` as read, before [`SinkConfig::parse`] splits each table: read apart so
    /// that an error inside a sink's own table names its whole key.
    #[serde(rename = "sinks")]
    sink_tables: BTreeMap<String, config::Value>,
    #[serde(skip)]
    pub sinks: BTreeMap<String, SinkConfig>,
}

fn default_shutdown_timeout() -> Duration {
    Duration::from_secs(30)
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
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let invalid = |e: KeyError| ConfigError::Invalid {
            file: messages::source_of(&e.key, &file, &text),
            message: messages::explain(&e.message),
            key: e.key,
        };
        let mut config: Config = serde_path_to_error::deserialize(built).map_err(|e| {
            let key = e.path().to_string();
            invalid(KeyError::new(key, e.into_inner().to_string()))
        })?;
        for (name, table) in std::mem::take(&mut config.sink_tables) {
            let sink = SinkConfig::parse(&name, table).map_err(invalid)?;
            config.sinks.insert(name, sink);
        }
        config.check().map_err(invalid)?;
        Ok(config)
    }

    /// Each section's checks, then the sinks'.
    fn check(&self) -> Result<(), KeyError> {
        self.coder.check()?;
        self.enrich.check()?;
        self.checkpoint.check()?;
        if self.sinks.is_empty() {
            return Err(KeyError::new("sinks", "configure at least one sink"));
        }
        for (name, sink) in &self.sinks {
            sink.check(name, &self.coder.streams)?;
        }
        sink::check_destinations(self.sinks.iter())
    }

    /// The names of the sinks sent `stream`, in the config's order.
    pub fn sinks_of(&self, stream: Stream) -> impl Iterator<Item = &String> {
        self.sinks
            .iter()
            .filter(move |(_, sink)| sink.takes(stream, &self.coder.streams))
            .map(|(name, _)| name)
    }

    /// Whether a sink of `stream` writes anything but `raw`.
    pub fn normalizes(&self, stream: Stream) -> bool {
        self.sinks_of(stream)
            .filter_map(|name| self.sinks.get(name))
            .any(|sink| sink.encoding().target().is_some())
    }

    /// How far `stream`'s entries are read at once: whole when a sink normalizes them or
    /// filters them on their fields. A stream whose sinks are all unfiltered `raw` reads
    /// only what every sink needs (see `coder::LazyAudit`).
    pub fn reading(&self, stream: Stream) -> Reading {
        let whole = self.normalizes(stream)
            || self
                .sinks_of(stream)
                .filter_map(|name| self.sinks.get(name))
                .any(|sink| !sink.filter.is_empty());
        if whole {
            Reading::Whole
        } else {
            Reading::Glance
        }
    }

    /// The logs sink `name` is sent (none if there is no such sink).
    pub fn streams_of(&self, name: &str) -> &[Stream] {
        self.sinks
            .get(name)
            .map_or(&[], |sink| sink.streams(&self.coder.streams))
    }

    /// The enrichment every sink's normalizer adds; `coder_version` comes from the server.
    /// It opens the GeoIP databases, which fails only if they went bad since the config
    /// was checked.
    pub fn enrichment(&self, coder_version: Option<String>) -> Result<Enrichment, KeyError> {
        let geoip = self
            .enrich
            .geoip
            .open()
            .map_err(|e| KeyError::new(e.key, e.to_string()))?;
        Ok(Enrichment {
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
            geoip: geoip.map(Arc::new),
        })
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
        let from_env = std::env::var(TOKEN_ENV)
            .ok()
            .filter(|t| !t.trim().is_empty())
            .map(|t| TokenSource::Static(Secret::new(t.trim())));
        if let Some(f) = &self.coder.token_file {
            // A token file that is not there gives way to CODER_SESSION_TOKEN, as the README
            // says; a file that is there is the token, re-read on 401.
            return Ok(match from_env {
                Some(env) if !f.exists() => env,
                _ => TokenSource::File(f.clone()),
            });
        }
        match from_env {
            Some(env) => Ok(env),
            None => Err(ConfigError::Invalid {
                file: "environment".into(),
                key: "coder.token".into(),
                message: format!(
                    "no Coder token: set coder.token_file, coder.token or {TOKEN_ENV}"
                ),
            }),
        }
    }
}
