//! Where a client address is and who owns its network: `[enrich.geoip]`, read from
//! MaxMind-format databases (GeoIP2/GeoLite2 City and ASN, or any database in their
//! layout, such as DB-IP's or IPinfo's MMDB exports), as Logstash, Filebeat, Vector and
//! Elastic's ingest pipelines do.
//!
//! The files are memory-mapped: a City database is tens of megabytes, and mapped it costs
//! page cache the kernel can reclaim, shared by every process reading it, instead of heap.
//! SIGHUP reloads the config, which opens them again; a file that no longer opens refuses
//! the new config, so the running one (and its open database) stays.

use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use maxminddb::{Mmap, Reader, geoip2};

use crate::ops::metrics;

mod fields;
pub use fields::{EcsPlace, OcsfPlace, add_to};

/// What the databases say of one address; every part is optional, as in the databases
/// (GeoLite2 has many networks known only to the country).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Place {
    pub continent_code: Option<String>,
    pub continent_name: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country_iso_code: Option<String>,
    pub country_name: Option<String>,
    /// ISO 3166-2: the country's code, a dash, then the subdivision's (`SE-AB`).
    pub region_iso_code: Option<String>,
    pub region_name: Option<String>,
    pub city_name: Option<String>,
    pub postal_code: Option<String>,
    /// Latitude and longitude, in degrees.
    pub location: Option<(f64, f64)>,
    /// IANA time zone (`Europe/Stockholm`).
    pub timezone: Option<String>,
    /// The autonomous system announcing the network.
    pub as_number: Option<u32>,
    pub as_organization: Option<String>,
}

impl Place {
    /// Whether the City database said anything (the ASN one may say only the owner).
    pub fn has_geo(&self) -> bool {
        self.continent_code.is_some()
            || self.country_iso_code.is_some()
            || self.city_name.is_some()
            || self.location.is_some()
    }

    fn is_empty(&self) -> bool {
        !self.has_geo() && self.as_number.is_none() && self.as_organization.is_none()
    }
}

/// A database that does not open, named by its config key.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct GeoIpError {
    /// `enrich.geoip.city_database` or `enrich.geoip.asn_database`.
    pub key: &'static str,
    pub path: String,
    pub reason: String,
}

/// The open databases.
pub struct GeoIp {
    city: Option<Reader<Mmap>>,
    asn: Option<Reader<Mmap>>,
    /// A record that did not decode was logged (once: a database of another layout would
    /// otherwise log every event).
    undecodable_logged: AtomicBool,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoIp")
            .field(
                "city",
                &self.city.as_ref().map(|r| &r.metadata.database_type),
            )
            .field("asn", &self.asn.as_ref().map(|r| &r.metadata.database_type))
            .finish()
    }
}

/// Two enrichments are the same when they read the same open databases.
impl PartialEq for GeoIp {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for GeoIp {}

pub const CITY_KEY: &str = "enrich.geoip.city_database";
pub const ASN_KEY: &str = "enrich.geoip.asn_database";

impl GeoIp {
    /// Open either database or both.
    pub fn open(city: Option<&Path>, asn: Option<&Path>) -> Result<Self, GeoIpError> {
        Ok(Self {
            city: city.map(|p| open(CITY_KEY, p)).transpose()?,
            asn: asn.map(|p| open(ASN_KEY, p)).transpose()?,
            undecodable_logged: AtomicBool::new(false),
        })
    }

    /// What the databases know of `ip`; `None` for an address that is not looked up (see
    /// [`is_looked_up`]) or that no network of either database holds.
    pub fn lookup(&self, ip: IpAddr) -> Option<Place> {
        let ip = unmapped(ip);
        if !is_looked_up(ip) {
            metrics::geoip_lookup("not_looked_up");
            return None;
        }
        let mut place = Place::default();
        if let Some(city) = self
            .city
            .as_ref()
            .and_then(|r| self.decode::<geoip2::City>(CITY_KEY, r, ip))
        {
            place.continent_code = owned(city.continent.code);
            place.continent_name = owned(city.continent.names.english);
            place.country_iso_code = owned(city.country.iso_code);
            place.country_name = owned(city.country.names.english);
            if let Some(region) = city.subdivisions.first() {
                place.region_iso_code = match (city.country.iso_code, region.iso_code) {
                    (Some(country), Some(region)) => Some(format!("{country}-{region}")),
                    _ => None,
                };
                place.region_name = owned(region.names.english);
            }
            place.city_name = owned(city.city.names.english);
            place.postal_code = owned(city.postal.code);
            place.location = city.location.latitude.zip(city.location.longitude);
            place.timezone = owned(city.location.time_zone);
        }
        if let Some(asn) = self
            .asn
            .as_ref()
            .and_then(|r| self.decode::<geoip2::Asn>(ASN_KEY, r, ip))
        {
            place.as_number = asn.autonomous_system_number;
            place.as_organization = owned(asn.autonomous_system_organization);
        }
        let found = !place.is_empty();
        metrics::geoip_lookup(if found { "placed" } else { "not_found" });
        found.then_some(place)
    }
}

fn open(key: &'static str, path: &Path) -> Result<Reader<Mmap>, GeoIpError> {
    let error = |reason: String| GeoIpError {
        key,
        path: path.display().to_string(),
        reason,
    };
    if !path.is_file() {
        return Err(error("no such file, or not a regular file".into()));
    }
    // SAFETY: the reader must not outlive an in-place rewrite of the file. Database
    // updaters (MaxMind's geoipupdate) write a new file and rename it over the old one,
    // which leaves this mapping on the old, unchanged inode; README's GeoIP section says
    // to update that way.
    let reader = unsafe { Reader::open_mmap(path) }.map_err(|e| error(e.to_string()))?;
    // A file cut short can still have its metadata at the end; a look-up walks the tree.
    if let Err(e) = reader.lookup(IpAddr::from([1, 1, 1, 1])) {
        return Err(error(format!("the search tree does not read: {e}")));
    }
    Ok(reader)
}

impl GeoIp {
    /// One record of `ip`, or `None` when no network holds it. A record that does not
    /// decode (a database of another layout) leaves the event unplaced, with one warning
    /// for the life of the database rather than one per event.
    fn decode<'a, T: serde::Deserialize<'a>>(
        &self,
        key: &'static str,
        reader: &'a Reader<Mmap>,
        ip: IpAddr,
    ) -> Option<T> {
        match reader.lookup(ip).and_then(|found| found.decode::<T>()) {
            Ok(record) => record,
            Err(e) => {
                metrics::geoip_lookup("undecodable");
                if !self.undecodable_logged.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        key,
                        database = %reader.metadata.database_type,
                        "a GeoIP record does not decode in the expected layout; such events go unplaced: {e}"
                    );
                }
                None
            }
        }
    }
}

fn owned(s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.is_empty()).map(str::to_owned)
}

/// `::ffff:a.b.c.d` as `a.b.c.d`: the normalizer unwraps them already; this keeps a
/// caller that did not from missing the IPv4 networks.
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether `ip` is worth a look-up: not private, loopback, link-local, shared (CGNAT),
/// unspecified, multicast or broadcast, whose place no database can know (RFC 1918,
/// RFC 6598, RFC 3927, RFC 4193, RFC 4291).
pub fn is_looked_up(ip: IpAddr) -> bool {
    match unmapped(ip) {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            let cgnat = a == 100 && (64..128).contains(&b);
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || cgnat)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            let unique_local = first & 0xfe00 == 0xfc00;
            let link_local = first & 0xffc0 == 0xfe80;
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || unique_local
                || link_local)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_shared_and_local_addresses_are_not_looked_up() {
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "169.254.10.10",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_looked_up(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "89.160.20.128",
            "100.128.0.1",
            "100.63.255.255",
            "2001:218::1",
            "::ffff:89.160.20.128",
        ] {
            assert!(is_looked_up(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn a_missing_file_names_itself() {
        let e = GeoIp::open(Some(Path::new("/nonexistent/city.mmdb")), None).unwrap_err();
        assert_eq!(e.key, CITY_KEY);
        assert!(e.to_string().contains("/nonexistent/city.mmdb"), "{e}");
    }
}
