//! The CEF and LEEF lines of one connection moment.

use std::fmt::Write;

use super::{ConnectionFacts, Moment};
use crate::normalize::Enrichment;
use crate::normalize::cef::{self, Extension, truncate};
use crate::normalize::leef::Attributes;

/// The CEF line of one moment.
pub fn cef_line(f: &ConnectionFacts<'_>, enrich: &Enrichment) -> String {
    let mut out = String::with_capacity(512);
    let version = enrich.coder_version.as_deref().unwrap_or("unknown");
    let _ = write!(
        out,
        "CEF:0|Coder|Coder|{}|{}|{}|{}|",
        cef::header(version),
        cef::header(&format!("{}.{}", f.connection_type, f.moment.action())),
        cef::header(&truncate(&f.message(), 512)),
        f.severity_0_to_10(),
    );
    let mut ext = Extension(&mut out);
    if let Some(t) = f.time_utc() {
        ext.field("rt", &t.timestamp_millis().to_string());
    }
    // A disconnect's id (`<id>:disconnect`, 47 characters) is longer than externalId's 40.
    ext.field_or_flex(
        "externalId",
        f.event_id.as_deref().unwrap_or(""),
        2,
        "Record ID",
    );
    ext.field("act", f.moment.action());
    if let Some(o) = f.outcome() {
        ext.field("outcome", o);
    }
    if let Some(u) = f.username() {
        ext.field("suser", u);
    }
    if let Some(u) = f.user_id() {
        ext.field("suid", u);
    }
    ext.source(f.ip, enrich);
    if let Some(w) = f.workspace() {
        ext.field_or_flex("dhost", w, 1, "Workspace");
    }
    if let Some(o) = f.owner() {
        ext.field("duser", o);
    }
    if let Some(ua) = f.user_agent() {
        ext.field("requestClientApplication", ua);
    }
    if let Some(t) = f.connect_time {
        ext.field("start", &t.timestamp_millis().to_string());
    }
    if let Some(t) = f.disconnect_time.filter(|_| f.moment == Moment::Disconnect) {
        ext.field("end", &t.timestamp_millis().to_string());
    }
    ext.field("msg", &f.message());
    ext.labelled("cs1", "Connection Type", Some(f.connection_type));
    ext.labelled("cs2", "Connection ID", f.connection_id());
    ext.labelled("cs3", "Agent", f.agent());
    let (org_id, org_name) = f.organization();
    ext.labelled("cs4", "Organization", org_name.or(org_id));
    ext.labelled("cs5", "Slug or Port", f.slug_or_port());
    ext.labelled("cs6", "Deployment", enrich.deployment.as_deref());
    ext.looked_up(f.looked_up().as_ref(), None, true);
    if let Some(code) = f.exit_code().or(f.status_code()) {
        ext.field("cn1", &code.to_string());
        ext.field(
            "cn1Label",
            if f.exit_code().is_some() {
                "Exit Code"
            } else {
                "Status Code"
            },
        );
    }
    out
}

/// The LEEF 2.0 line of one moment.
pub fn leef_line(f: &ConnectionFacts<'_>, enrich: &Enrichment) -> String {
    let mut out = String::with_capacity(512);
    let version = enrich.coder_version.as_deref().unwrap_or("unknown");
    let _ = write!(
        out,
        "LEEF:2.0|Coder|Coder|{}|{}|x09|",
        cef::header(version),
        cef::header(&format!("{}.{}", f.connection_type, f.moment.action()))
    );
    let mut attrs = Attributes {
        out: &mut out,
        first: true,
    };
    if let Some(t) = f.time_utc() {
        attrs.put("devTimeFormat", "yyyy-MM-dd'T'HH:mm:ss.SSSXXX");
        attrs.put("devTime", &t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
    }
    attrs.put("cat", f.connection_type);
    attrs.put("action", f.moment.action());
    attrs.put("sev", &f.severity_0_to_10().to_string());
    attrs.put_opt("outcome", f.outcome());
    attrs.put_opt("eventId", f.event_id.as_deref());
    attrs.put_opt("connectionId", f.connection_id());
    attrs.put_opt("usrName", f.username());
    attrs.put_opt("userId", f.user_id());
    if let Some(ip) = f.ip {
        attrs.put("src", &ip.to_string());
    }
    attrs.put_opt("dstHost", f.workspace());
    attrs.put_opt("workspaceId", f.workspace_id());
    attrs.put_opt("workspaceOwner", f.owner());
    attrs.put_opt("agent", f.agent());
    attrs.put_opt("slugOrPort", f.slug_or_port());
    attrs.put_opt("userAgent", f.user_agent());
    let (org_id, org_name) = f.organization();
    attrs.put_opt("orgName", org_name);
    attrs.put_opt("orgId", org_id);
    if let Some(code) = f.status_code() {
        attrs.put("statusCode", &code.to_string());
    }
    attrs.put_opt("disconnectReason", f.disconnect_reason());
    if let Some(code) = f.exit_code() {
        attrs.put("exitCode", &code.to_string());
    }
    attrs.put_opt("deployment", enrich.deployment.as_deref());
    attrs.looked_up(f.looked_up().as_ref(), None, true);
    attrs.put("msg", &f.message());
    out
}
