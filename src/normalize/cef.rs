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
use super::{Enrichment, severity_0_to_10};

/// The CEF line for one entry.
pub fn line(facts: &Facts<'_>, enrich: &Enrichment) -> String {
    let mut out = String::with_capacity(512);
    let version = enrich.coder_version.as_deref().unwrap_or("unknown");
    let name = facts
        .message()
        .map_or_else(|| facts.operation(), |m| m.into_owned());
    let _ = write!(
        out,
        "CEF:0|Coder|Coder|{}|{}|{}|{}|",
        header(version),
        header(&facts.operation()),
        header(&truncate(&name, 512)),
        severity_0_to_10(facts),
    );
    let mut ext = Extension(&mut out);
    if let Some(t) = facts.time_utc() {
        ext.field("rt", &t.timestamp_millis().to_string());
    }
    ext.field("externalId", facts.entry.id.as_deref().unwrap_or(""));
    ext.field("act", facts.action);
    ext.field("outcome", facts.outcome.as_str());
    if let Some(u) = facts.username() {
        ext.field("suser", u);
    }
    if let Some(u) = facts.user_id() {
        ext.field("suid", u);
    }
    match facts.ip {
        Some(std::net::IpAddr::V4(ip)) => ext.field("src", &ip.to_string()),
        Some(std::net::IpAddr::V6(ip)) => {
            ext.field("c6a2", &ip.to_string());
            ext.field("c6a2Label", "Source IPv6 Address");
        }
        None => {}
    }
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
    if let Some(code) = facts.entry.status_code {
        ext.field("cn1", &code.to_string());
        ext.field("cn1Label", "Status Code");
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
            c => out.push(c),
        }
    }
    out
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
            c => out.push(c),
        }
    }
    out
}

pub(super) fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

pub(super) struct Extension<'a>(pub(super) &'a mut String);

impl Extension<'_> {
    pub(super) fn field(&mut self, key: &str, v: &str) {
        if !self.0.ends_with('|') {
            self.0.push(' ');
        }
        self.0.push_str(key);
        self.0.push('=');
        self.0.push_str(&value(v));
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
    fn header_and_extension_escaping() {
        assert_eq!(header(r"a|b\c"), r"a\|b\\c");
        assert_eq!(header("two\nlines"), "two lines");
        assert_eq!(value("k=v\\x\ny\rz|"), r"k\=v\\x\ny\rz|");
    }
}
