//! OCSF's constrained string types, stated once: which values an attribute of type
//! `email_t`, `hostname_t`, `ip_t`, `mac_t`, `uuid_t` or `datetime_t` may hold in each
//! version.
//!
//! OCSF gives these types a regular expression (the 1.1.0 JSON schema has them, and PyPI
//! `ocsf-json-schema`, which the conformance tests validate with, applies them to 1.8.0
//! as well). One value that breaks its type fails the whole event, and real Coder values
//! do: the prebuilds user's `prebuilds@system` has no dot in its domain, and
//! `zoë.angstrom@acme.example` is not ASCII. So a value goes into a typed attribute only
//! when it satisfies the type in the target version; otherwise it is kept, unchanged,
//! under `unmapped.coder` (each call site names where), and the event stays valid.
//!
//! The patterns below are the schema's own, copied from `ocsf-json-schema` 1.2.0's
//! compiled 1.8.0 and 1.1.0 schemas, with two changes that only make them stricter (a
//! stricter rule never lets an invalid value through): each is anchored, and `\d` is
//! written `[0-9]` (the `regex` crate's `\d` is any Unicode digit).

use std::sync::LazyLock;

use regex::Regex;

use super::classify::Class;

/// The OCSF release an event conforms to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
pub enum OcsfVersion {
    /// The current release (the default).
    #[default]
    #[serde(rename = "1.8.0")]
    V1_8_0,
    /// What Amazon Security Lake custom sources accept.
    #[serde(rename = "1.1.0")]
    V1_1_0,
}

impl OcsfVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            OcsfVersion::V1_8_0 => "1.8.0",
            OcsfVersion::V1_1_0 => "1.1.0",
        }
    }

    /// Group and User Access Management gained `src_endpoint` and `http_request` in 1.2.
    pub(super) fn has_endpoints(self, class: Class) -> bool {
        self == OcsfVersion::V1_8_0 || !matches!(class, Class::GroupManagement | Class::UserAccess)
    }
}

/// A constrained OCSF string type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringType {
    Email,
    Hostname,
    Ip,
    Mac,
    Uuid,
    Datetime,
}

fn compiled(pattern: &str) -> Regex {
    // The patterns are literals of this file, each compiled by the tests below.
    Regex::new(pattern).unwrap_or_else(|e| panic!("OCSF type pattern {pattern:?}: {e}"))
}

/// `email_t`, 1.8.0. (`+-/` is a range: `+ , - . /`.)
static EMAIL_1_8: LazyLock<Regex> =
    LazyLock::new(|| compiled(r"^[a-zA-Z0-9!#$%&'*+-/=?^_`{|}~.]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$"));
/// `email_t`, 1.1.0.
static EMAIL_1_1: LazyLock<Regex> =
    LazyLock::new(|| compiled(r"^[a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$"));
/// `hostname_t` (1.1.0 states it; applied to 1.8.0 as well, which states none).
static HOSTNAME: LazyLock<Regex> = LazyLock::new(|| {
    compiled(
        r"^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])\.)*([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9\-]*[A-Za-z0-9])$",
    )
});
/// `mac_t`.
static MAC: LazyLock<Regex> =
    LazyLock::new(|| compiled(r"^([0-9A-Fa-f]{2}[:-]){5}([0-9A-Fa-f]{2})$"));
/// `uuid_t` (unanchored in the schema).
static UUID: LazyLock<Regex> = LazyLock::new(|| {
    compiled(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
});
/// `datetime_t`, 1.8.0 (`T` or `t`, `Z` or `z`).
static DATETIME_1_8: LazyLock<Regex> = LazyLock::new(|| {
    compiled(
        r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?([Zz]|[\+-][0-9]{2}:[0-9]{2})?$",
    )
});
/// `datetime_t`, 1.1.0.
static DATETIME_1_1: LazyLock<Regex> = LazyLock::new(|| {
    compiled(
        r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(Z|[\+-][0-9]{2}:[0-9]{2})?$",
    )
});

impl StringType {
    /// Whether `value` may be an attribute of this type in `version`.
    pub fn admits(self, value: &str, version: OcsfVersion) -> bool {
        let v18 = version == OcsfVersion::V1_8_0;
        match self {
            StringType::Email if v18 => EMAIL_1_8.is_match(value),
            StringType::Email => EMAIL_1_1.is_match(value),
            StringType::Hostname => HOSTNAME.is_match(value),
            StringType::Ip => is_ip(value),
            StringType::Mac => MAC.is_match(value),
            StringType::Uuid => UUID.is_match(value),
            StringType::Datetime if v18 => DATETIME_1_8.is_match(value),
            StringType::Datetime => DATETIME_1_1.is_match(value),
        }
    }

    /// `value` split by the rule: what goes into the typed attribute, and what is kept
    /// under `unmapped` instead (never both).
    pub fn split(self, value: Option<&str>, version: OcsfVersion) -> (Option<&str>, Option<&str>) {
        match value {
            Some(v) if self.admits(v, version) => (Some(v), None),
            other => (None, other),
        }
    }
}

/// `ip_t`: an IPv4 or IPv6 address, an IPv6 one optionally with a `%zone` (the schema's
/// own pattern, which spells out every IPv6 form, allows `(%.+)?` after it). An address
/// the standard parser reads is one the pattern accepts; the tests check it on the forms
/// the shipper writes.
fn is_ip(value: &str) -> bool {
    if value.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    match value.split_once('%') {
        Some((addr, zone)) => !zone.is_empty() && addr.parse::<std::net::Ipv6Addr>().is_ok(),
        None => false,
    }
}

/// OCSF `agent` for Coder's workspace agent: software in the workspace through which
/// Coder reaches it (type 9, Remote Access).
#[derive(serde::Serialize)]
pub struct Agent<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    type_id: u32,
    #[serde(rename = "type")]
    kind: &'static str,
    vendor_name: &'static str,
}

/// The [`Agent`] of a workspace agent with this id or name, if it has either.
pub fn agent<'a>(uid: Option<&'a str>, name: Option<&'a str>) -> Option<Agent<'a>> {
    (uid.is_some() || name.is_some()).then_some(Agent {
        uid,
        name,
        type_id: 9,
        kind: "Remote Access",
        vendor_name: "Coder",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use OcsfVersion::{V1_1_0, V1_8_0};

    /// The schema's `ip_t` pattern, verbatim: what [`is_ip`] must never be looser than.
    const IP_T: &str = r"((^\s*((([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5]).){3}([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5]))\s*$)|(^\s*((([0-9A-Fa-f]{1,4}:){7}([0-9A-Fa-f]{1,4}|:))|(([0-9A-Fa-f]{1,4}:){6}(:[0-9A-Fa-f]{1,4}|((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3})|:))|(([0-9A-Fa-f]{1,4}:){5}(((:[0-9A-Fa-f]{1,4}){1,2})|:((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3})|:))|(([0-9A-Fa-f]{1,4}:){4}(((:[0-9A-Fa-f]{1,4}){1,3})|((:[0-9A-Fa-f]{1,4})?:((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}))|:))|(([0-9A-Fa-f]{1,4}:){3}(((:[0-9A-Fa-f]{1,4}){1,4})|((:[0-9A-Fa-f]{1,4}){0,2}:((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}))|:))|(([0-9A-Fa-f]{1,4}:){2}(((:[0-9A-Fa-f]{1,4}){1,5})|((:[0-9A-Fa-f]{1,4}){0,3}:((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}))|:))|(([0-9A-Fa-f]{1,4}:){1}(((:[0-9A-Fa-f]{1,4}){1,6})|((:[0-9A-Fa-f]{1,4}){0,4}:((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}))|:))|(:(((:[0-9A-Fa-f]{1,4}){1,7})|((:[0-9A-Fa-f]{1,4}){0,5}:((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}))|:)))(%.+)?\s*$))";

    #[test]
    fn e_mails_coder_really_has() {
        for ok in [
            "alice@acme.example",
            "a.b+tag@sub.acme.co.uk",
            "x_y-z@a-b.example",
        ] {
            for v in [V1_8_0, V1_1_0] {
                assert!(StringType::Email.admits(ok, v), "{ok} {v:?}");
            }
        }
        for bad in [
            "prebuilds@system",
            "zoë.angstrom@acme.example",
            "alice@bücher.example",
            "\"quoted\"@acme.example",
            "no-at-sign",
            "a@b@c.example",
            "",
            " alice@acme.example",
        ] {
            for v in [V1_8_0, V1_1_0] {
                assert!(!StringType::Email.admits(bad, v), "{bad} {v:?}");
            }
        }
        // 1.8.0 admits the RFC 5322 atext that 1.1.0 does not.
        assert!(StringType::Email.admits("o'brien@acme.example", V1_8_0));
        assert!(!StringType::Email.admits("o'brien@acme.example", V1_1_0));
    }

    #[test]
    fn every_address_the_shipper_writes_satisfies_the_schema_s_own_ip_pattern() {
        let schema = compiled(IP_T);
        for a in [
            "10.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::",
            "::1",
            "1::",
            "2001:db8::8a2e:370:7334",
            "fe80::1",
            "::ffff:10.0.0.1",
            "64:ff9b::192.0.2.33",
            "2001:db8:0:0:1:0:0:1",
        ] {
            let written = a.parse::<std::net::IpAddr>().unwrap().to_string();
            assert!(is_ip(&written), "{written}");
            assert!(schema.is_match(&written), "the schema refuses {written}");
        }
        assert!(is_ip("fe80::1%eth0") && schema.is_match("fe80::1%eth0"));
        for bad in [
            "10.0.0.256",
            "10.0.0.1:443",
            "[::1]",
            "fe80::1%",
            "10.0.0.1%eth0",
            "host",
            "",
        ] {
            assert!(!is_ip(bad), "{bad}");
        }
    }

    #[test]
    fn hostnames_macs_uuids_and_times() {
        for v in [V1_8_0, V1_1_0] {
            assert!(StringType::Hostname.admits("dev-ws.acme.example", v));
            assert!(StringType::Hostname.admits("ws1", v));
            for bad in ["my_ws", "-ws", "ws-", "wö", "a..b", "", "a b"] {
                assert!(!StringType::Hostname.admits(bad, v), "{bad}");
            }
            assert!(StringType::Mac.admits("00:1a:2B:3c:4d:5e", v));
            assert!(StringType::Mac.admits("00-1A-2B-3C-4D-5E", v));
            for bad in [
                "001a.2b3c.4d5e",
                "001a2b3c4d5e",
                "00:1a:2b:3c:4d",
                "0:1a:2b:3c:4d:5e",
            ] {
                assert!(!StringType::Mac.admits(bad, v), "{bad}");
            }
            assert!(StringType::Uuid.admits("0ac0d86e-4b1b-4a2c-9b38-1c7e5cc5b3f0", v));
            assert!(!StringType::Uuid.admits("my-organization-id", v));
            assert!(!StringType::Uuid.admits("x0ac0d86e-4b1b-4a2c-9b38-1c7e5cc5b3f0", v));
            assert!(StringType::Datetime.admits("2026-05-19T16:45:57.122Z", v));
            assert!(!StringType::Datetime.admits("2026-05-19 16:45:57", v));
            assert!(!StringType::Datetime.admits("٢٠٢٦-05-19T16:45:57Z", v));
        }
        assert!(StringType::Datetime.admits("2026-05-19t16:45:57z", V1_8_0));
        assert!(!StringType::Datetime.admits("2026-05-19t16:45:57z", V1_1_0));
    }

    #[test]
    fn split_keeps_a_value_that_breaks_its_type_for_unmapped() {
        assert_eq!(
            StringType::Email.split(Some("prebuilds@system"), V1_8_0),
            (None, Some("prebuilds@system"))
        );
        assert_eq!(
            StringType::Email.split(Some("a@b.example"), V1_1_0),
            (Some("a@b.example"), None)
        );
        assert_eq!(StringType::Email.split(None, V1_1_0), (None, None));
    }
}
