//! ArcSight Common Event Format (CEF 0), the body syslog receivers such as ArcSight and
//! Microsoft Sentinel parse into fields.
//!
//! ```text
//! CEF:0|Coder|Coder|<version>|<resource_type>.<action>|<message>|<severity>|rt=... suser=... src=... act=... outcome=...
//! ```
//!
//! Escaping follows the CEF specification: in the header `\` and `|` are escaped with a
//! backslash; in extension values `\` and `=` are, and line breaks become `\n` / `\r`. A
//! hostile value (a username with `=` or a newline) cannot add a field or end the line.

use std::fmt::Write;

use super::facts::Facts;
use super::outcome::Status;
use super::{Enrichment, looked_up, severity_0_to_10};

/// The CEF line for one entry.
pub fn line(facts: &Facts<'_>, enrich: &Enrichment) -> String {
    let mut out = String::with_capacity(512);
    let version = enrich.coder_version.as_deref().unwrap_or("unknown");
    let name = facts
        .message()
        .map_or_else(|| facts.operation().to_string(), |m| m.into_owned());
    let _ = write!(
        out,
        "CEF:0|Coder|Coder|{}|{}|{}|{}|",
        header(version),
        header(&facts.operation().to_string()),
        header(&truncate(&name, 512)),
        severity_0_to_10(facts),
    );
    let mut ext = Extension(&mut out);
    if let Some(t) = facts.time_utc() {
        ext.field("rt", &t.timestamp_millis().to_string());
    }
    ext.field_or_flex(
        "externalId",
        facts.entry.id.as_deref().unwrap_or(""),
        2,
        "Audit ID",
    );
    ext.field("act", facts.action);
    ext.field("outcome", facts.outcome.as_str());
    if let Some(u) = facts.username() {
        ext.field("suser", u);
    }
    if let Some(u) = facts.user_id() {
        ext.field("suid", u);
    }
    ext.source(facts.ip, enrich);
    if let Some(ua) = facts.entry.user_agent.as_deref().filter(|s| !s.is_empty()) {
        ext.field("requestClientApplication", ua);
    }
    if let Some(link) = facts
        .entry
        .resource_link
        .as_deref()
        .and_then(|l| enrich.absolute_link(l))
    {
        ext.field("request", &link);
    }
    if let Some(m) = facts.message() {
        ext.field("msg", &m);
    }
    ext.labelled("cs1", "Resource Type", Some(facts.resource_type));
    ext.labelled("cs2", "Resource Target", facts.target);
    ext.labelled("cs3", "Resource ID", facts.resource_id);
    ext.labelled(
        "cs4",
        "Organization",
        facts.organization_name.or(facts.organization_id),
    );
    ext.labelled("cs5", "Request ID", facts.request_id);
    ext.labelled("cs6", "Deployment", enrich.deployment.as_deref());
    ext.looked_up(
        looked_up::workspace(facts.context).as_ref(),
        looked_up::template(facts.context).as_ref(),
        false,
    );
    if let Some(code) = facts.entry.status_code {
        ext.field("cn1", &code.to_string());
        let label = match facts.status {
            Status::Exit(_) => "Exit Code",
            _ => "Status Code",
        };
        ext.field("cn1Label", label);
    }
    out
}

/// A header field: `\` and `|` escaped, line breaks as spaces.
pub fn header(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '\r' | '\n' => out.push(' '),
            c if unsafe_in_a_line(c) => out.push(char::REPLACEMENT_CHARACTER),
            c => out.push(c),
        }
    }
    out
}

/// Characters that no CEF or LEEF escape covers and that receivers treat as a line's end
/// or cut at: the other C0 controls (NUL, ESC, VT, FF, ...), DEL, the C1 controls (NEL,
/// U+0085, among them) and the Unicode line and paragraph separators. They become U+FFFD:
/// a hostile value cannot end the event or hide a terminal escape, and the replacement
/// shows something was there.
pub(super) fn unsafe_in_a_line(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{2028}' | '\u{2029}')
}

/// An extension value: `\` and `=` escaped, line breaks as `\n` and `\r`.
pub fn value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '=' => out.push_str("\\="),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if unsafe_in_a_line(c) => out.push(char::REPLACEMENT_CHARACTER),
            c => out.push(c),
        }
    }
    out
}

pub(super) fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// What a CEF extension key may hold: the type and length columns of the key table in
/// "Implementing ArcSight Common Event Format (CEF)" v25 (2017), for the keys this shipper
/// writes. The lengths are as we read that table; not re-checked against a copy here
/// (unverified). A receiver that types its columns by this table drops or cuts what
/// does not fit, so the shipper does first, by one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyType {
    /// A string of at most this many characters; a longer one is cut.
    Text(usize),
    /// An identifier of at most this many characters; a longer one is not written (a cut
    /// identifier names something else), and the caller puts it elsewhere.
    Id(usize),
    Ipv4,
    Ipv6,
    /// A latitude or longitude in decimal degrees (a CEF Double).
    Degrees,
    /// A host name (the OCSF `hostname_t` rule, RFC 1123 labels) of at most this many
    /// characters; anything else is not written.
    Host(usize),
}

fn key_type(key: &str) -> KeyType {
    match key {
        "src" | "dst" => KeyType::Ipv4,
        "c6a2" | "c6a3" => KeyType::Ipv6,
        "dhost" | "shost" => KeyType::Host(1023),
        "dvchost" => KeyType::Host(100),
        "externalId" => KeyType::Id(40),
        "slat" | "slong" => KeyType::Degrees,
        "act" | "outcome" => KeyType::Text(63),
        k if k.starts_with("cs") && k.len() == 3 => KeyType::Text(4000),
        _ => KeyType::Text(1023),
    }
}

/// Whether `v` is of `key`'s type, and the text to write: `None` when it is not.
fn typed<'v>(key: &str, v: &'v str) -> Option<std::borrow::Cow<'v, str>> {
    use std::borrow::Cow;
    use std::net::{Ipv4Addr, Ipv6Addr};
    let fits = |max: usize| v.chars().count() <= max;
    match key_type(key) {
        KeyType::Text(max) if fits(max) => Some(Cow::Borrowed(v)),
        KeyType::Text(max) => Some(Cow::Owned(truncate(v, max))),
        KeyType::Id(max) => fits(max).then_some(Cow::Borrowed(v)),
        KeyType::Ipv4 => v.parse::<Ipv4Addr>().is_ok().then_some(Cow::Borrowed(v)),
        KeyType::Ipv6 => v.parse::<Ipv6Addr>().is_ok().then_some(Cow::Borrowed(v)),
        KeyType::Degrees => v
            .parse::<f64>()
            .is_ok_and(|d| d.is_finite() && d.abs() <= 180.0)
            .then_some(Cow::Borrowed(v)),
        KeyType::Host(max) => (fits(max)
            && super::ocsf_types::StringType::Hostname.admits(v, super::OcsfVersion::default()))
        .then_some(Cow::Borrowed(v)),
    }
}

pub(super) struct Extension<'a>(pub(super) &'a mut String);

impl Extension<'_> {
    /// The source address (`src`, or `c6a2` for IPv6) and, with `[enrich.geoip]`, its
    /// place: CEF's dictionary has only its coordinates, `slat` (sourceGeoLatitude) and
    /// `slong` (sourceGeoLongitude), as Elastic's CEF decoders read them (Logstash `cef`
    /// codec, the `decode_cef` processor).
    pub(super) fn source(&mut self, ip: Option<std::net::IpAddr>, enrich: &Enrichment) {
        match ip {
            Some(std::net::IpAddr::V4(ip)) => {
                self.field("src", &ip.to_string());
            }
            Some(std::net::IpAddr::V6(ip)) => {
                self.field("c6a2", &ip.to_string());
                self.field("c6a2Label", "Source IPv6 Address");
            }
            None => {}
        }
        if let Some((lat, lon)) = enrich.place(ip).and_then(|p| p.location) {
            self.field("slat", &lat.to_string());
            self.field("slong", &lon.to_string());
        }
    }

    /// What `[enrich.coder]` found, as custom dictionary extensions.
    pub(super) fn looked_up(
        &mut self,
        workspace: Option<&looked_up::WorkspaceView<'_>>,
        template: Option<&looked_up::TemplateView<'_>>,
        owner_named: bool,
    ) {
        for (_, key, v) in looked_up::line_keys(workspace, template, owner_named) {
            self.field(key, v);
        }
    }

    /// Write `key=v` if `v` is of the key's type (cut to its length); false if not written.
    pub(super) fn field(&mut self, key: &str, v: &str) -> bool {
        let Some(v) = typed(key, v) else {
            return false;
        };
        if !self.0.ends_with('|') {
            self.0.push(' ');
        }
        self.0.push_str(key);
        self.0.push('=');
        self.0.push_str(&value(&v));
        true
    }

    /// `key=v`, or when `v` is not of the key's type, `flexString<n>` with `label`.
    pub(super) fn field_or_flex(&mut self, key: &str, v: &str, flex: u8, label: &str) {
        if !self.field(key, v) {
            self.labelled(&format!("flexString{flex}"), label, Some(v));
        }
    }

    /// A custom string field and its label (`cs1Label=... cs1=...`).
    pub(super) fn labelled(&mut self, key: &str, label: &str, v: Option<&str>) {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            self.field(&format!("{key}Label"), label);
            self.field(key, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_written_only_under_keys_of_their_type() {
        let mut line = String::from("CEF:0|a|b|c|d|e|1|");
        let mut ext = Extension(&mut line);
        assert!(ext.field("src", "10.0.0.1"));
        assert!(!ext.field("src", "2001:db8::1"));
        assert!(!ext.field("src", "fe80::1%eth0"));
        assert!(ext.field("c6a2", "2001:db8::1"));
        assert!(!ext.field("c6a2", "10.0.0.1"));
        assert!(ext.field("dhost", "dev-ws"));
        assert!(!ext.field("dhost", "my_ws"));
        assert!(!ext.field("dhost", "a=b|c"));
        assert!(!ext.field("externalId", &"x".repeat(41)));
        ext.field_or_flex("dhost", "my_ws", 1, "Workspace");
        assert!(ext.field("suser", &"u".repeat(2000)));
        assert!(
            line.contains("flexString1Label=Workspace flexString1=my_ws"),
            "{line}"
        );
        assert!(line.contains(&format!("suser={}", "u".repeat(1023))));
        assert!(!line.contains(&"u".repeat(1024)));
        assert!(!line.contains("src=2001") && line.contains("c6a2=2001:db8::1"));
    }

    #[test]
    fn header_and_extension_escaping() {
        assert_eq!(header(r"a|b\c"), r"a\|b\\c");
        assert_eq!(header("two\nlines"), "two lines");
        assert_eq!(value("k=v\\x\ny\rz|"), r"k\=v\\x\ny\rz|");
        for hostile in [
            '\0', '\u{1b}', '\u{0b}', '\u{0c}', '\u{7f}', '\u{85}', '\u{2028}', '\u{2029}',
        ] {
            let v = value(&format!("a{hostile}b"));
            assert_eq!(v, "a\u{fffd}b", "{hostile:?}");
            assert_eq!(header(&format!("a{hostile}b")), "a\u{fffd}b", "{hostile:?}");
        }
    }
}
