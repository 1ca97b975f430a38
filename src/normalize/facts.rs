//! What both schemas derive from one entry, computed once: the parsed time, a usable IP,
//! ids with Coder's nil UUIDs removed, the rendered message, the outcome.
//!
//! Every rule for a field Coder sends in more than one shape lives here, so ECS and OCSF
//! cannot disagree about it (say, one emitting an IPv4-mapped address the other unwraps).

use std::borrow::Cow;
use std::net::IpAddr;

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::Value;

use crate::coder::{AuditEntry, User};

const NIL_UUID: &str = "00000000-0000-0000-0000-000000000000";

/// An id worth emitting: not empty, not Coder's nil UUID (Go's zero `uuid.UUID`).
pub fn non_nil(id: Option<&str>) -> Option<&str> {
    id.filter(|s| !s.is_empty() && *s != NIL_UUID)
}

/// A non-empty string.
pub fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

/// How the request ended, from `status_code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx.
    Success,
    /// 4xx, 5xx.
    Failure,
    /// 1xx, 3xx (Coder writes "was redirected attempting to ..." for 303), or a number that
    /// is no HTTP status (an exit code).
    Other,
    /// 0 or absent: Coder did not say.
    Unknown,
}

impl Outcome {
    /// The word SIEM schemas use (ECS `event.outcome`, CEF/LEEF `outcome`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Other | Outcome::Unknown => "unknown",
        }
    }

    pub fn of(status_code: Option<i64>) -> Self {
        match status_code {
            None | Some(0) => Outcome::Unknown,
            Some(200..=299) => Outcome::Success,
            Some(400..=599) => Outcome::Failure,
            Some(_) => Outcome::Other,
        }
    }
}

/// The status code when it is an HTTP status (100..=599), for fields typed as one.
pub fn http_status(status_code: Option<i64>) -> Option<i64> {
    status_code.filter(|c| (100..=599).contains(c))
}

/// The facts of one entry both schemas need.
#[derive(Debug)]
pub struct Facts<'a> {
    pub entry: &'a AuditEntry,
    /// `time` with its own offset (for OCSF `timezone_offset`), when it parses.
    pub time: Option<DateTime<FixedOffset>>,
    /// `ip` when it is an address: IPv4-mapped IPv6 unwrapped, zone and prefix stripped.
    pub ip: Option<IpAddr>,
    pub resource_type: &'a str,
    pub action: &'a str,
    pub resource_id: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub organization_id: Option<&'a str>,
    pub organization_name: Option<&'a str>,
    /// The acting user, unless Coder sent `null` or an empty shell.
    pub user: Option<&'a User>,
    /// What the entry acted on, for display: `resource_target`, or the workspace name of a
    /// build (whose `resource_target` is empty).
    pub target: Option<&'a str>,
    pub outcome: Outcome,
    pub role_names: Vec<&'a str>,
}

impl<'a> Facts<'a> {
    pub fn of(entry: &'a AuditEntry) -> Self {
        let user = entry.user.as_ref().filter(|u| {
            non_nil(u.id.as_deref()).is_some() || non_empty(u.username.as_deref()).is_some()
        });
        let target = non_empty(entry.resource_target.as_deref()).or_else(|| {
            entry
                .additional_fields
                .as_ref()
                .and_then(|f| f.get("workspace_name"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        });
        let organization = entry.organization.as_ref();
        let role_names = user
            .and_then(|u| u.roles.as_ref())
            .map(|roles| roles.iter().filter_map(role_name).collect())
            .unwrap_or_default();
        Facts {
            entry,
            time: entry
                .time
                .as_deref()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok()),
            ip: entry.ip.as_deref().and_then(parse_ip),
            resource_type: non_empty(entry.resource_type.as_deref()).unwrap_or("unknown"),
            action: non_empty(entry.action.as_deref()).unwrap_or("unknown"),
            resource_id: non_nil(entry.resource_id.as_deref()),
            request_id: non_nil(entry.request_id.as_deref()),
            organization_id: non_nil(organization.and_then(|o| o.id.as_deref()))
                .or_else(|| non_nil(entry.organization_id.as_deref())),
            organization_name: non_empty(organization.and_then(|o| o.name.as_deref())),
            user,
            target,
            outcome: Outcome::of(entry.status_code),
            role_names,
        }
    }

    pub fn time_utc(&self) -> Option<DateTime<Utc>> {
        self.time.map(|t| t.with_timezone(&Utc))
    }

    pub fn username(&self) -> Option<&'a str> {
        self.user.and_then(|u| non_empty(u.username.as_deref()))
    }

    pub fn user_id(&self) -> Option<&'a str> {
        self.user.and_then(|u| non_nil(u.id.as_deref()))
    }

    pub fn is_owner(&self) -> bool {
        self.role_names.contains(&"owner")
    }

    /// `<resource_type>.<action>`, the vendor-style action name both schemas carry.
    pub fn operation(&self) -> String {
        format!("{}.{}", self.resource_type, self.action)
    }

    /// `description` with the `{user}` and `{target}` placeholders the Coder UI fills in.
    pub fn message(&self) -> Option<Cow<'a, str>> {
        let d = non_empty(self.entry.description.as_deref())?;
        if !d.contains('{') {
            return Some(Cow::Borrowed(d));
        }
        Some(Cow::Owned(
            d.replace("{user}", self.username().unwrap_or("Unknown user"))
                .replace("{target}", self.target.unwrap_or("")),
        ))
    }

    /// `additional_fields` when it says something (Coder sends `{}` for most entries).
    pub fn additional_fields(&self) -> Option<&'a Value> {
        self.entry
            .additional_fields
            .as_ref()
            .filter(|v| !matches!(v, Value::Null) && v.as_object().is_none_or(|o| !o.is_empty()))
    }
}

/// A role's name: role objects (`{name, display_name, ...}`) or, in old shapes, strings.
fn role_name(role: &Value) -> Option<&str> {
    match role {
        Value::String(s) => Some(s.as_str()),
        Value::Object(o) => o.get("name").and_then(Value::as_str),
        _ => None,
    }
    .filter(|s| !s.is_empty())
}

/// Coder's `ip` as an address. Empty (Go's zero `netip.Addr`) and garbage give `None`;
/// `::ffff:a.b.c.d` gives the IPv4 address a SIEM will search for; a zone (`%eth0`) or a
/// prefix length (`/32`, as Postgres `inet` prints) is dropped.
pub fn parse_ip(raw: &str) -> Option<IpAddr> {
    let s = raw.trim();
    let s = s.split_once('/').map_or(s, |(a, _)| a);
    let s = s.split_once('%').map_or(s, |(a, _)| a);
    let s = s
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(s);
    match s.parse::<IpAddr>().ok()? {
        IpAddr::V6(v6) => Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)),
        v4 => Some(v4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ips_in_every_shape_coder_sends() {
        assert_eq!(parse_ip(""), None);
        assert_eq!(parse_ip("not-an-ip"), None);
        assert_eq!(
            parse_ip("203.0.113.7"),
            Some("203.0.113.7".parse().unwrap())
        );
        assert_eq!(
            parse_ip("::ffff:10.1.2.3"),
            Some("10.1.2.3".parse().unwrap())
        );
        assert_eq!(
            parse_ip("2001:db8::7"),
            Some("2001:db8::7".parse().unwrap())
        );
        assert_eq!(parse_ip("fe80::1%eth0"), Some("fe80::1".parse().unwrap()));
        assert_eq!(parse_ip("10.0.0.1/32"), Some("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn outcomes_from_status_codes() {
        assert_eq!(Outcome::of(Some(201)), Outcome::Success);
        assert_eq!(Outcome::of(Some(303)), Outcome::Other);
        assert_eq!(Outcome::of(Some(401)), Outcome::Failure);
        assert_eq!(Outcome::of(Some(500)), Outcome::Failure);
        assert_eq!(Outcome::of(Some(0)), Outcome::Unknown);
        assert_eq!(Outcome::of(None), Outcome::Unknown);
        assert_eq!(
            Outcome::of(Some(1)),
            Outcome::Other,
            "an exit code is not HTTP"
        );
        assert_eq!(http_status(Some(1)), None);
        assert_eq!(http_status(Some(204)), Some(204));
    }

    #[test]
    fn nil_uuids_are_not_ids() {
        assert_eq!(non_nil(Some(NIL_UUID)), None);
        assert_eq!(non_nil(Some("")), None);
        let singleton = "51a51c00-0000-0000-0000-000000000000";
        assert_eq!(non_nil(Some(singleton)), Some(singleton));
    }

    #[test]
    fn placeholders_are_rendered_and_a_missing_user_is_named() {
        let e = AuditEntry::parse(
            r#"{"description":"{user} deleted workspace {target}","resource_target":"dev","user":{"id":"u1","username":"alice"}}"#,
        );
        assert_eq!(
            Facts::of(&e).message().unwrap(),
            "alice deleted workspace dev"
        );
        let e = AuditEntry::parse(
            r#"{"description":"{user} started workspace {target}","resource_target":"","user":null,"additional_fields":{"workspace_name":"ws1"}}"#,
        );
        assert_eq!(
            Facts::of(&e).message().unwrap(),
            "Unknown user started workspace ws1"
        );
    }
}
