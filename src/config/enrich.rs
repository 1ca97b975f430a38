//! `[enrich]`: what the operator adds to every normalized event.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use sink_core::KeyError;

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
        Ok(())
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
