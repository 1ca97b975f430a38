//! What the operator adds to every event (`[enrich]` in the config) and what the shipper
//! knows that an entry does not: which deployment it came from, the Coder version, the
//! URL users reach Coder at, and when the shipper read the entry.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use super::geoip::{GeoIp, Place};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Enrichment {
    /// A name for this Coder deployment (ECS `observer.name`, OCSF `unmapped.coder.deployment`).
    pub deployment: Option<String>,
    /// Static key/values: ECS `labels`, OCSF `metadata.labels` as `key:value`.
    pub labels: BTreeMap<String, String>,
    /// Static tags, after `coder` and `audit`.
    pub tags: Vec<String>,
    /// The URL users open Coder at; turns `resource_link` (a path) into a link a SIEM
    /// analyst can click. `None` leaves links as Coder sent them.
    pub access_url: Option<String>,
    /// The Coder server version from `/api/v2/buildinfo`, when connected.
    pub coder_version: Option<String>,
    /// `[enrich.geoip]`'s databases, when configured.
    pub geoip: Option<Arc<GeoIp>>,
}

impl Enrichment {
    /// Where the client address `ip` is and who owns its network, when GeoIP is
    /// configured and the databases know it.
    pub fn place(&self, ip: Option<IpAddr>) -> Option<Place> {
        self.geoip.as_ref()?.lookup(ip?)
    }

    /// `resource_link` made absolute against the access URL; absolute links pass through.
    pub fn absolute_link(&self, link: &str) -> Option<String> {
        if link.is_empty() {
            return None;
        }
        if link.starts_with("http://") || link.starts_with("https://") {
            return Some(link.to_owned());
        }
        let base = self.access_url.as_deref()?.trim_end_matches('/');
        let sep = if link.starts_with('/') { "" } else { "/" };
        Some([base, sep, link].concat())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_become_absolute_against_the_access_url() {
        let e = Enrichment {
            access_url: Some("https://coder.example.com/".into()),
            ..Enrichment::default()
        };
        assert_eq!(
            e.absolute_link("/@alice/dev").as_deref(),
            Some("https://coder.example.com/@alice/dev")
        );
        assert_eq!(
            e.absolute_link("users?filter=bob").as_deref(),
            Some("https://coder.example.com/users?filter=bob")
        );
        assert_eq!(e.absolute_link(""), None);
        assert_eq!(
            Enrichment::default()
                .absolute_link("https://x/y")
                .as_deref(),
            Some("https://x/y")
        );
        assert_eq!(Enrichment::default().absolute_link("/@a/b"), None);
    }
}
