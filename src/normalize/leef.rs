//! IBM QRadar's Log Event Extended Format, version 2.0, with a tab between attributes.
//!
//! ```text
//! LEEF:2.0|Coder|Coder|<version>|<resource_type>.<action>|x09|devTime=...<TAB>usrName=...<TAB>src=...
//! ```
//!
//! LEEF defines no escape syntax of its own; QRadar splits attributes at the delimiter and
//! each attribute at its first `=`. So the delimiter (tab) and line breaks inside values
//! are written `\t`, `\n`, `\r` and a backslash as `\\`: a hostile value cannot add an
//! attribute or end the line, and an `=` inside a value stays part of it. In the header,
//! `|` and `\` are escaped with a backslash.

use std::fmt::Write;

use super::cef::header;
use super::facts::Facts;
use super::{Enrichment, severity_0_to_10};

/// The LEEF line for one entry.
pub fn line(facts: &Facts<'_>, enrich: &Enrichment) -> String {
    let mut out = String::with_capacity(512);
    let version = enrich.coder_version.as_deref().unwrap_or("unknown");
    let _ = write!(
        out,
        "LEEF:2.0|Coder|Coder|{}|{}|x09|",
        header(version),
        header(&facts.operation().to_string())
    );
    let mut attrs = Attributes {
        out: &mut out,
        first: true,
    };
    if let Some(t) = facts.time_utc() {
        attrs.put("devTimeFormat", "yyyy-MM-dd'T'HH:mm:ss.SSSXXX");
        attrs.put("devTime", &t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
    }
    attrs.put("cat", facts.resource_type);
    attrs.put("action", facts.action);
    attrs.put("sev", &severity_0_to_10(facts).to_string());
    attrs.put("outcome", facts.outcome.as_str());
    attrs.put_opt("auditId", facts.entry.id.as_deref());
    attrs.put_opt("usrName", facts.username());
    attrs.put_opt("userId", facts.user_id());
    if let Some(ip) = facts.ip {
        attrs.put("src", &ip.to_string());
    }
    attrs.put_opt("resource", facts.target);
    attrs.put_opt("resourceId", facts.resource_id);
    attrs.put_opt(
        "url",
        facts
            .entry
            .resource_link
            .as_deref()
            .and_then(|l| enrich.absolute_link(l))
            .as_deref(),
    );
    attrs.put_opt("userAgent", facts.entry.user_agent.as_deref());
    attrs.put_opt("orgName", facts.organization_name);
    attrs.put_opt("orgId", facts.organization_id);
    attrs.put_opt("requestId", facts.request_id);
    match facts.status {
        super::outcome::Status::Exit(code) => attrs.put("exitCode", &code.to_string()),
        _ => {
            if let Some(code) = facts.entry.status_code {
                attrs.put("statusCode", &code.to_string());
            }
        }
    }
    match facts.action {
        "login" | "register" => attrs.put("isLoginEvent", "true"),
        "logout" => attrs.put("isLogoutEvent", "true"),
        _ => {}
    }
    attrs.put_opt("deployment", enrich.deployment.as_deref());
    attrs.looked_up(
        super::looked_up::workspace(facts.context).as_ref(),
        super::looked_up::template(facts.context).as_ref(),
        false,
    );
    attrs.put_opt("msg", facts.message().as_deref());
    out
}

/// An attribute value: the tab delimiter, line breaks and `\` escaped.
pub fn value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if super::cef::unsafe_in_a_line(c) => out.push(char::REPLACEMENT_CHARACTER),
            c => out.push(c),
        }
    }
    out
}

pub(super) struct Attributes<'a> {
    pub(super) out: &'a mut String,
    pub(super) first: bool,
}

impl Attributes<'_> {
    pub(super) fn put(&mut self, key: &str, v: &str) {
        if !std::mem::take(&mut self.first) {
            self.out.push('\t');
        }
        self.out.push_str(key);
        self.out.push('=');
        self.out.push_str(&value(v));
    }

    /// What `[enrich.coder]` found (LEEF takes any attribute name).
    pub(super) fn looked_up(
        &mut self,
        workspace: Option<&super::looked_up::WorkspaceView<'_>>,
        template: Option<&super::looked_up::TemplateView<'_>>,
        owner_named: bool,
    ) {
        for (key, _, v) in super::looked_up::line_keys(workspace, template, owner_named) {
            self.put(key, v);
        }
    }

    pub(super) fn put_opt(&mut self, key: &str, v: Option<&str>) {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            self.put(key, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_cannot_carry_the_delimiter_or_a_line_break() {
        assert_eq!(value("a\tb=c\\d\ne\r"), r"a\tb=c\\d\ne\r");
        assert_eq!(
            value("a\0b\u{85}c\u{2028}d"),
            "a\u{fffd}b\u{fffd}c\u{fffd}d"
        );
    }
}
