//! The OCSF event of one connection moment: SSH Activity or Network Activity.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{ConnectionFacts, Kind, Moment, Verdict, coder_fields};
use crate::normalize::facts::non_empty;
use crate::normalize::geoip;
use crate::normalize::ocsf_types::StringType;
use crate::normalize::ocsf_types::agent;
use crate::normalize::prune;
use crate::normalize::{Enrichment, OcsfVersion};

/// The OCSF event of one moment.
pub fn ocsf_event(
    f: &ConnectionFacts<'_>,
    version: OcsfVersion,
    enrich: &Enrichment,
    read_at: DateTime<Utc>,
) -> Value {
    let v18 = version == OcsfVersion::V1_8_0;
    // The web terminal (`reconnecting_pty`) is a WebSocket to Coder relayed to the
    // agent's PTY server, a session but not the SSH protocol: Network Activity.
    let (class_uid, class_name) = match f.kind {
        Kind::Session if f.connection_type != "reconnecting_pty" => (4007, "SSH Activity"),
        _ => (4001, "Network Activity"),
    };
    let (activity_id, activity_name) = match (f.moment, f.verdict) {
        (Moment::Disconnect, _) => (2, "Close"),
        (Moment::Connect, Verdict::Failed) => (4, "Fail"),
        (Moment::Connect, Verdict::Redirected) => (99, "Redirect"),
        (Moment::Connect, _) => (1, "Open"),
    };
    let (status_id, status) = match f.verdict {
        Verdict::Success => (1, "Success"),
        Verdict::Denied | Verdict::Failed | Verdict::ExitFailure => (2, "Failure"),
        Verdict::Redirected => (99, "Redirected to sign-in"),
        Verdict::Unknown => (0, "Unknown"),
    };
    // The access decision Coder's app proxy made on a web connection: `action_id` and
    // `disposition_id`, attributes of the `security_control` profile (both versions).
    let (action, disposition) = match (f.kind, f.verdict, f.status_code()) {
        (Kind::Web, Verdict::Success, _) => (Some((1, "Allowed")), None),
        (Kind::Web, Verdict::Denied, Some(401 | 403)) => {
            (Some((2, "Denied")), Some((26, "Unauthorized")))
        }
        (Kind::Web, Verdict::Denied, _) => (Some((2, "Denied")), None),
        (Kind::Web, Verdict::Redirected, _) => (Some((2, "Denied")), Some((23, "Challenge"))),
        _ => (None, None),
    };
    let severity_id = f.severity_id();
    let (org_id, org_name) = f.organization();
    let owner = (f.owner().is_some() || f.owner_id().is_some())
        .then(|| json!({"uid": f.owner_id(), "name": f.owner()}));
    let port = f
        .slug_or_port()
        .filter(|_| f.connection_type == "port_forwarding")
        .and_then(|p| p.parse::<u16>().ok());
    let mut dst = json!({
        "uid": f.workspace_id(),
        "name": f.workspace(),
        "agent_list": agent(None, f.agent())
            .filter(|_| v18)
            .map(|a| vec![a]),
        "port": port,
        "owner": owner.clone().filter(|_| v18),
    });
    if f.workspace_id().is_none() && f.workspace().is_none() {
        dst["name"] = json!(f.agent().unwrap_or("unknown"));
    }
    let src = match f.ip {
        Some(ip) => {
            let mut src = json!({"ip": ip});
            if let Some(place) = enrich.place(Some(ip)) {
                geoip::add_to(&mut src, geoip::OcsfPlace { place, v18 });
            }
            src
        }
        None => json!({"name": "unknown"}),
    };
    // An e-mail that is no `email_t` here (`prebuilds@system`) goes to `unmapped`.
    let (email_addr, user_email) =
        StringType::Email.split(f.user.and_then(|u| non_empty(u.email.as_deref())), version);
    let actor = f.user.map(|u| {
        json!({"user": {
            "uid": f.user_id(),
            "name": f.username(),
            "email_addr": email_addr,
            "full_name": non_empty(u.name.as_deref()),
            "type_id": 1,
            "org": (org_id.is_some() || org_name.is_some())
                .then(|| json!({"uid": org_id, "name": org_name})),
        }})
    });
    let mut labels: Vec<String> = enrich.tags.clone();
    labels.extend(enrich.labels.iter().map(|(k, v)| format!("{k}:{v}")));
    let time = f.time();
    let raw_ip = non_empty(f.log.ip.as_deref());
    let mut unmapped = coder_fields(f, raw_ip, None);
    unmapped["user_agent"] = json!(f.user_agent());
    unmapped["actor_email"] = json!(user_email);
    unmapped["organization"] = json!({"id": org_id, "name": org_name});
    unmapped["deployment"] = json!(enrich.deployment);
    if v18 {
        // `dst_endpoint.owner` says it; 1.1.0 has no such attribute.
        unmapped["workspace"]["owner"] = Value::Null;
    }
    // `[enrich.coder]`: where an audit event has it, `unmapped.coder.workspace.*` (the
    // owner's e-mail too, which `dst_endpoint.owner` is not given: one place for both logs).
    if let Some(w) = f.looked_up() {
        unmapped["workspace"]["template"] = json!(w.template);
        if let Some(email) = w.owner.and_then(|o| o.email) {
            if !unmapped["workspace"]["owner"].is_object() {
                unmapped["workspace"]["owner"] = json!({});
            }
            unmapped["workspace"]["owner"]["email"] = json!(email);
        }
    }
    let mut event = json!({
        "class_uid": class_uid,
        "class_name": class_name,
        "category_uid": 4,
        "category_name": "Network Activity",
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": class_uid * 100 + activity_id,
        "type_name": format!("{class_name}: {activity_name}"),
        "severity_id": severity_id,
        "severity": if severity_id == 2 { "Low" } else { "Informational" },
        "time": time.map_or(read_at, |t| t.with_timezone(&Utc)).timestamp_millis(),
        "timezone_offset": time.map(|t| t.offset().local_minus_utc() / 60),
        "start_time": f.connect_time.map(|t| t.timestamp_millis()),
        "end_time": f.disconnect_time
            .filter(|_| f.moment == Moment::Disconnect)
            .map(|t| t.timestamp_millis()),
        "duration": f.duration_ms(),
        "status_id": status_id,
        "status": status,
        "status_code": f.exit_code().or(f.status_code()).map(|c| c.to_string()),
        "status_detail": f.reason(),
        "action_id": action.map(|a| a.0),
        "action": action.map(|a| a.1),
        "disposition_id": disposition.map(|d| d.0),
        "disposition": disposition.map(|d| d.1),
        "message": f.message(),
        "app_name": f.slug_or_port().filter(|_| f.connection_type == "workspace_app"),
        "metadata": {
            "version": version.as_str(),
            "uid": f.event_id,
            "correlation_uid": f.connection_id(),
            "event_code": f.moment.action(),
            "log_name": "connection",
            "original_time": match f.moment {
                Moment::Connect => non_empty(f.log.connect_time.as_deref()),
                Moment::Disconnect => f.log.ssh_info.as_ref().and_then(|s| non_empty(s.disconnect_time.as_deref())),
            },
            "processed_time": read_at.timestamp_millis(),
            "product": {
                "name": "Coder",
                "vendor_name": "Coder",
                "version": enrich.coder_version,
            },
            "labels": labels,
            // `actor` belongs to these classes only through the `host` profile.
            "profiles": profiles(actor.is_some(), action.is_some()),
        },
        "actor": actor,
        "src_endpoint": src,
        "dst_endpoint": dst,
        "unmapped": {"coder": unmapped},
    });
    prune(&mut event);
    event
}

/// `metadata.profiles`: `host` for an `actor`, `security_control` for an access decision.
fn profiles(actor: bool, decision: bool) -> Vec<&'static str> {
    let mut p = Vec::new();
    if actor {
        p.push("host");
    }
    if decision {
        p.push("security_control");
    }
    p
}
