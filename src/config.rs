//! The config file: TOML (or YAML, by extension), with environment overrides
//! `CODER_AUDIT_SHIPPER__SECTION__KEY`. Unknown keys are errors; every error names the key
//! and the file, because a typo in a security pipeline must stop it, not be ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

use crate::secret::Secret;

pub const ENV_PREFIX: &str = "CODER_AUDIT_SHIPPER";
pub const TOKEN_ENV: &str = "CODER_SESSION_TOKEN";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub coder: CoderConfig,
    #[serde(default)]
    pub checkpoint: CheckpointConfig,
    pub sinks: BTreeMap<String, SinkConfig>,
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
    pub fn checkpoint_dir() -> std::path::PathBuf {
        "/var/lib/coder-audit-shipper".into()
    }
    pub fn max_files() -> u32 {
        5
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
    #[serde(default = "defaults::checkpoint_dir")]
    pub dir: PathBuf,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self {
            store: StoreKind::File,
            dir: defaults::checkpoint_dir(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    #[default]
    File,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SinkConfig {
    File(FileSinkConfig),
    Stdout(StdoutSinkConfig),
}

impl SinkConfig {
    pub fn format(&self) -> Format {
        match self {
            SinkConfig::File(c) => c.format,
            SinkConfig::Stdout(c) => c.format,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    pub path: PathBuf,
    #[serde(default)]
    pub format: Format,
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
                message: e.to_string(),
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
            if sink.format() != Format::Raw {
                return Err(invalid(
                    &format!("sinks.{name}.format"),
                    "only \"raw\" is available in this release; \"ecs\" and \"ocsf\" arrive with normalization".into(),
                ));
            }
        }
        Ok(())
    }

    /// The token source: `token`, `token_file`, or `CODER_SESSION_TOKEN`.
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
    fn minimal_config_gets_the_documented_defaults() {
        let c = load(MINIMAL).unwrap();
        assert_eq!(c.coder.poll_interval, Duration::from_secs(2));
        assert_eq!(c.coder.page_size, 100);
        assert_eq!(c.coder.overlap, Duration::from_secs(300));
        assert_eq!(c.coder.start_at, StartAt::Now);
        assert!(matches!(c.sinks["archive"], SinkConfig::File(ref f) if f.format == Format::Raw));
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

    #[test]
    fn formats_not_built_yet_are_refused_clearly() {
        let err = load(&MINIMAL.replace(
            "path = \"/tmp/audit.ndjson\"",
            "path = \"/x\"\nformat = \"ocsf\"",
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("sinks.archive.format"), "{err}");
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let c = load(&MINIMAL.replace("\"abc\"", "\"tok-very-secret\"")).unwrap();
        assert!(!format!("{c:?}").contains("very-secret"));
    }
}
