//! `[enrich]`: what the operator adds to every normalized event.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use sink_core::KeyError;
use sink_core::size::byte_size;

use crate::coder::lookup::LookupOptions;

use crate::normalize::geoip::{GeoIp, GeoIpError};

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
    /// `[enrich.geoip]`: where client addresses are and who owns their networks.
    #[serde(default)]
    pub geoip: GeoIpConfig,
    /// `[enrich.coder]`: what the ids of an entry name, asked of Coder.
    #[serde(default)]
    pub coder: CoderLookupConfig,
}

impl EnrichConfig {
    /// What types alone cannot check.
    pub(super) fn check(&self) -> Result<(), KeyError> {
        if let Some(url) = &self.access_url {
            sink_core::check_http_url("enrich.access_url", url)?;
        }
        for key in self.labels.keys() {
            if key.is_empty()
                || !key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                return Err(KeyError::new(
                    format!("enrich.labels.{key}"),
                    "label keys use lower-case letters, digits and '_' (ECS: no dots, no upper case)",
                ));
            }
        }
        // Opened here, so `validate` and a SIGHUP reload refuse a file that is missing or
        // is no MaxMind database, naming its key; the running config then stays.
        self.geoip
            .open()
            .map_err(|e| KeyError::new(e.key, e.to_string()))?;
        self.coder.check()
    }
}

/// `[enrich.coder]`: look-ups of workspaces, templates, organizations and users through
/// the shipper's own client and token (see `coder::lookup`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoderLookupConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// How long a page of events waits for its look-ups before it ships without them.
    #[serde(default = "default_lookup_timeout", with = "humantime_serde")]
    pub lookup_timeout: Duration,
    /// How long an answer is kept.
    #[serde(default = "default_ttl", with = "humantime_serde")]
    pub ttl: Duration,
    /// The most answers kept.
    #[serde(default = "default_max_entries")]
    pub max_entries: usize,
    /// The most bytes (an estimate) the answers may take.
    #[serde(default = "default_max_bytes", deserialize_with = "byte_size")]
    pub max_bytes: u64,
}

fn yes() -> bool {
    true
}

fn default_lookup_timeout() -> Duration {
    Duration::from_secs(2)
}

fn default_ttl() -> Duration {
    Duration::from_secs(600)
}

fn default_max_entries() -> usize {
    10_000
}

fn default_max_bytes() -> u64 {
    8 << 20
}

impl Default for CoderLookupConfig {
    fn default() -> Self {
        CoderLookupConfig {
            enabled: true,
            lookup_timeout: default_lookup_timeout(),
            ttl: default_ttl(),
            max_entries: default_max_entries(),
            max_bytes: default_max_bytes(),
        }
    }
}

impl CoderLookupConfig {
    fn check(&self) -> Result<(), KeyError> {
        if self.lookup_timeout.is_zero() || self.lookup_timeout > Duration::from_secs(60) {
            return Err(KeyError::new(
                "enrich.coder.lookup_timeout",
                "between 1ms and 60s: a page of events waits this long for its look-ups",
            ));
        }
        if self.ttl.is_zero() {
            return Err(KeyError::new("enrich.coder.ttl", "more than 0"));
        }
        if self.max_entries == 0 || self.max_bytes == 0 {
            return Err(KeyError::new(
                if self.max_entries == 0 {
                    "enrich.coder.max_entries"
                } else {
                    "enrich.coder.max_bytes"
                },
                "more than 0 (set enrich.coder.enabled = false to turn look-ups off)",
            ));
        }
        Ok(())
    }

    /// The look-ups' options, when they are on, with their share of a request budget of
    /// `budget_per_minute` (`coder.max_requests_per_minute`; 0: none).
    pub fn options(&self, budget_per_minute: u32) -> Option<LookupOptions> {
        self.enabled.then(|| LookupOptions {
            max_per_minute: crate::coder::lookup::share_of(budget_per_minute),
            timeout: self.lookup_timeout,
            ttl: self.ttl,
            max_entries: NonZeroUsize::new(self.max_entries).unwrap_or(NonZeroUsize::MIN),
            max_bytes: usize::try_from(self.max_bytes).unwrap_or(usize::MAX),
        })
    }
}

/// Where the databases are (`[enrich.geoip]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoIpConfig {
    /// A GeoIP2/GeoLite2 City (or Country) database.
    pub city_database: Option<PathBuf>,
    /// A GeoLite2/GeoIP2 ASN database.
    pub asn_database: Option<PathBuf>,
}

impl GeoIpConfig {
    /// The databases, open; `None` when none is configured.
    pub fn open(&self) -> Result<Option<GeoIp>, GeoIpError> {
        if self.city_database.is_none() && self.asn_database.is_none() {
            return Ok(None);
        }
        GeoIp::open(self.city_database.as_deref(), self.asn_database.as_deref()).map(Some)
    }
}
