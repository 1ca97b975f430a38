//! The Elasticsearch sink's table (`[sinks.NAME]` with `type = "elasticsearch"`).

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use sink_core::size::byte_size;
use sink_core::{
    Batching, BuildError, Built, DeliveryGuarantee, KeyError, Secret, SinkContext, SinkSpec,
};
use sink_http::Compression;

use crate::sink::ElasticsearchSink;

/// Elastic's data stream naming scheme, `logs-<dataset>-<namespace>` ("Data stream naming
/// scheme"): `logs-coder.audit-default` and `logs-coder.connection-default`.
pub const DEFAULT_INDEX: &str = "logs-coder.{stream}-default";

/// `[sinks.NAME]` with `type = "elasticsearch"`: the Bulk API of Elasticsearch 8/9 or
/// OpenSearch 2.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElasticsearchSinkConfig {
    /// `https://es.example.com:9200`.
    pub endpoint: String,
    /// The data stream or index; `{stream}` is the log (`audit`, `connection`).
    #[serde(default = "default_index")]
    pub index: String,
    /// An API key as Elasticsearch encodes it (`encoded` of the create API key answer),
    /// sent as `Authorization: ApiKey ...`; or `api_key_file`.
    pub api_key: Option<Secret>,
    pub api_key_file: Option<PathBuf>,
    /// Basic authentication.
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    /// `Authorization: Bearer ...` (an OAuth or service token).
    pub bearer_token: Option<Secret>,
    pub bearer_token_file: Option<PathBuf>,
    /// An ingest pipeline every document goes through.
    pub pipeline: Option<String>,
    /// Install the index template and its component template for `logs-coder.*-*` before
    /// the first write (Elasticsearch only: the field types are its own).
    #[serde(default = "default_templates")]
    pub templates: bool,
    #[serde(default)]
    pub compression: Compression,
    /// PEM CA certificates for the cluster's TLS certificate (added to the system's).
    pub tls_ca_file: Option<PathBuf>,
    /// One bulk request carries about this much (before gzip) ...
    #[serde(default = "default_max_request_bytes", deserialize_with = "byte_size")]
    pub max_request_bytes: u64,
    /// ... and a batch up to this much ...
    #[serde(default = "default_batch_max_bytes", deserialize_with = "byte_size")]
    pub batch_max_bytes: u64,
    /// ... or what arrived within this long.
    #[serde(default = "default_batch_timeout", with = "humantime_serde")]
    pub batch_timeout: Duration,
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
}

fn default_index() -> String {
    DEFAULT_INDEX.into()
}
fn default_templates() -> bool {
    true
}
/// Elastic's tuning guide starts bulk requests at about 5 MB.
fn default_max_request_bytes() -> u64 {
    5 << 20
}
/// Two requests' worth: the batch's records and its request bodies are in memory at once
/// (20 MiB measured 67 MiB peak RSS on a 1M backfill; BENCHMARKS.md).
fn default_batch_max_bytes() -> u64 {
    10 << 20
}
fn default_batch_timeout() -> Duration {
    Duration::from_secs(1)
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(60)
}

/// The credentials, read once at build.
#[derive(Debug, Clone)]
pub enum Credentials {
    None,
    ApiKey(Secret),
    Basic { user: String, password: Secret },
    Bearer(Secret),
}

/// What the sink runs with.
#[derive(Debug, Clone)]
pub struct ElasticsearchConfig {
    pub endpoint: String,
    /// The stream this instance is sent (`audit`, `connection`): a metrics label.
    pub stream: String,
    /// The index of this instance's stream, `{stream}` replaced.
    pub index: String,
    pub credentials: Credentials,
    pub pipeline: Option<String>,
    pub templates: bool,
    pub compression: Compression,
    pub tls_ca_file: Option<PathBuf>,
    pub max_request_bytes: usize,
    pub request_timeout: Duration,
}

fn secret(
    key: &str,
    inline: &Option<Secret>,
    file: &Option<PathBuf>,
) -> Result<Option<Secret>, BuildError> {
    let value = match (inline, file) {
        (Some(s), _) => s.expose().trim().to_owned(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| BuildError::caused(format!("{key}_file {}", path.display()), e))?
            .trim()
            .to_owned(),
        (None, None) => return Ok(None),
    };
    if value.is_empty() {
        return Err(BuildError::new(format!("{key} is empty")));
    }
    Ok(Some(Secret::new(value)))
}

impl ElasticsearchSinkConfig {
    fn credentials(&self) -> Result<Credentials, BuildError> {
        if let Some(key) = secret("api_key", &self.api_key, &self.api_key_file)? {
            return Ok(Credentials::ApiKey(key));
        }
        if let Some(token) = secret("bearer_token", &self.bearer_token, &self.bearer_token_file)? {
            return Ok(Credentials::Bearer(token));
        }
        if let Some(user) = &self.user {
            let password = secret("password", &self.password, &self.password_file)?
                .ok_or_else(|| BuildError::new("user is set but no password"))?;
            return Ok(Credentials::Basic {
                user: user.clone(),
                password,
            });
        }
        Ok(Credentials::None)
    }

    /// `index` for `stream`.
    pub fn index_of(&self, stream: &str) -> String {
        self.index.replace("{stream}", stream)
    }
}

#[async_trait]
impl SinkSpec for ElasticsearchSinkConfig {
    const TYPE: &'static str = "elasticsearch";

    fn validate(&self) -> Result<(), KeyError> {
        sink_core::check_http_url("endpoint", &self.endpoint)?;
        let methods = [
            self.api_key.is_some() || self.api_key_file.is_some(),
            self.user.is_some() || self.password.is_some() || self.password_file.is_some(),
            self.bearer_token.is_some() || self.bearer_token_file.is_some(),
        ];
        if methods.iter().filter(|m| **m).count() > 1 {
            return Err(KeyError::new(
                "api_key",
                "set one way to authenticate: api_key, user and password, or bearer_token",
            ));
        }
        for (key, both) in [
            (
                "api_key",
                self.api_key.is_some() && self.api_key_file.is_some(),
            ),
            (
                "password",
                self.password.is_some() && self.password_file.is_some(),
            ),
            (
                "bearer_token",
                self.bearer_token.is_some() && self.bearer_token_file.is_some(),
            ),
        ] {
            if both {
                return Err(KeyError::new(
                    key,
                    format!("set {key} or {key}_file, not both"),
                ));
            }
        }
        if (self.password.is_some() || self.password_file.is_some()) && self.user.is_none() {
            return Err(KeyError::new("user", "a password needs its user"));
        }
        // Elasticsearch's index name rules ("Create index API"): lowercase, none of these.
        let name = self.index.replace("{stream}", "audit");
        if name.is_empty()
            || name != name.to_lowercase()
            || name.starts_with(['-', '_', '+'])
            || name.contains(['\\', '/', '*', '?', '"', '<', '>', '|', ' ', ',', '#', ':'])
        {
            return Err(KeyError::new(
                "index",
                format!(
                    "{:?} is not an index name (lowercase, no \\ / * ? \" < > | , # : or space, not starting with - _ +)",
                    self.index
                ),
            ));
        }
        if self.max_request_bytes == 0 {
            return Err(KeyError::new("max_request_bytes", "must be more than 0"));
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("elasticsearch {} index {}", self.endpoint, self.index)
    }

    /// A bulk item's 201 means the primary shard has it and, by default
    /// (`wait_for_active_shards=1`), no replica has to.
    fn guarantee(&self) -> DeliveryGuarantee {
        DeliveryGuarantee::Created
    }

    fn destination(&self) -> Option<(&'static str, String)> {
        Some((
            "index",
            format!("endpoint {:?} and index {:?}", self.endpoint, self.index),
        ))
    }

    fn exposure(&self) -> Option<String> {
        sink_core::is_plain_http(&self.endpoint).then(|| {
            "endpoint is http://: the credentials and every event cross the network in clear text"
                .to_owned()
        })
    }

    async fn build(&self, ctx: &SinkContext<'_>) -> Result<Built, BuildError> {
        match ctx.format {
            "ecs" => {}
            "raw" if self.index != DEFAULT_INDEX => {}
            "raw" => {
                return Err(BuildError::new(
                    "format = \"raw\" cannot go into the default data stream (a data stream \
                     needs @timestamp, which Coder's entries do not have): set format = \
                     \"ecs\", or index to a plain index of your own",
                ));
            }
            other => {
                return Err(BuildError::new(format!(
                    "format = {other:?}: Elasticsearch takes format = \"ecs\" (or \"raw\" \
                     into an index of your own)"
                )));
            }
        }
        let stream = ctx.stream.unwrap_or("audit");
        let config = ElasticsearchConfig {
            endpoint: self.endpoint.trim_end_matches('/').to_owned(),
            index: self.index_of(stream),
            stream: stream.to_owned(),
            credentials: self.credentials()?,
            pipeline: self.pipeline.clone(),
            // The template types ECS fields: raw entries go to an index of their own.
            templates: self.templates && ctx.format == "ecs",
            compression: self.compression,
            tls_ca_file: self.tls_ca_file.clone(),
            max_request_bytes: usize::try_from(self.max_request_bytes).unwrap_or(usize::MAX),
            request_timeout: self.request_timeout,
        };
        let sink = ElasticsearchSink::new(ctx.name, config).map_err(BuildError::of)?;
        Ok(Built {
            sink: Box::new(sink),
            batching: Batching::by_size_and_age(self.batch_max_bytes, self.batch_timeout),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: serde_json::Value) -> ElasticsearchSinkConfig {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_checks_name_their_key() {
        let ok = parse(serde_json::json!({"endpoint": "https://es:9200"}));
        assert!(ok.validate().is_ok());
        assert_eq!(ok.index_of("connection"), "logs-coder.connection-default");
        let e = parse(serde_json::json!({"endpoint": "es:9200"}))
            .validate()
            .unwrap_err();
        assert_eq!(e.key, "endpoint");
        let e = parse(serde_json::json!({"endpoint": "https://es", "api_key": "k", "user": "u", "password": "p"}))
            .validate()
            .unwrap_err();
        assert_eq!(e.key, "api_key");
        let e = parse(serde_json::json!({"endpoint": "https://es", "password": "p"}))
            .validate()
            .unwrap_err();
        assert_eq!(e.key, "user");
        let e = parse(serde_json::json!({"endpoint": "https://es", "index": "Logs-Coder"}))
            .validate()
            .unwrap_err();
        assert_eq!(e.key, "index");
        assert!(
            serde_json::from_value::<ElasticsearchSinkConfig>(
                serde_json::json!({"endpoint": "https://es", "api-key": "k"})
            )
            .is_err()
        );
    }

    fn build(c: &ElasticsearchSinkConfig, format: &str, stream: &str) -> Result<Built, BuildError> {
        let ctx = SinkContext {
            name: "elastic",
            origin: "coder.example.com",
            format,
            schema: "",
            classes: &[],
            stream: Some(stream),
        };
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(c.build(&ctx))
    }

    #[test]
    fn ecs_goes_anywhere_raw_only_into_an_index_of_its_own_and_nothing_else() {
        let default = parse(serde_json::json!({"endpoint": "https://es:9200"}));
        assert!(build(&default, "ecs", "connection").is_ok());
        let e = build(&default, "raw", "audit").err().unwrap().to_string();
        assert!(e.contains("@timestamp") && e.contains("index"), "{e}");
        let e = build(&default, "ocsf", "audit").err().unwrap().to_string();
        assert!(e.contains("format = \"ocsf\""), "{e}");
        let own = parse(
            serde_json::json!({"endpoint": "https://es:9200", "index": "coder-raw-{stream}"}),
        );
        assert!(build(&own, "raw", "audit").is_ok());
        assert_eq!(own.index_of("audit"), "coder-raw-audit");
        let e = build(
            &parse(serde_json::json!({"endpoint": "https://es:9200", "user": "u"})),
            "ecs",
            "audit",
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("no password"), "{e}");
    }

    #[test]
    fn secrets_never_show() {
        let c = parse(serde_json::json!({"endpoint": "https://es", "api_key": "c2VjcmV0OmtleQ=="}));
        let shown = format!("{c:?} {}", c.describe());
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
    }
}
