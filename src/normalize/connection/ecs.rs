//! The ECS 9.4 document of one connection moment.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::{ConnectionFacts, Kind, Moment, Verdict, coder_fields, rfc3339_micros as rfc3339};
use crate::normalize::Enrichment;
use crate::normalize::facts::non_empty;
use crate::normalize::geoip;
use crate::normalize::prune;

/// The ECS document of one moment.
pub fn ecs_document(f: &ConnectionFacts<'_>, enrich: &Enrichment, read_at: DateTime<Utc>) -> Value {
    let (category, kind_type): (&[&str], &[&str]) = match (f.kind, f.moment, f.verdict) {
        (Kind::Session, Moment::Connect, _) => (&["network", "session"], &["start"]),
        (Kind::Session, Moment::Disconnect, _) => (&["network", "session"], &["end"]),
        (Kind::Web, _, Verdict::Denied) => (&["network"], &["denied"]),
        (Kind::Web, _, Verdict::Failed | Verdict::Redirected) => (&["network"], &["info"]),
        (Kind::Web, _, _) => (&["network"], &["access"]),
    };
    let (org_id, org_name) = f.organization();
    let http_status = f.status_code().filter(|c| (100..=599).contains(c));
    let protocol = match f.connection_type {
        "ssh" | "vscode" | "jetbrains" => Some("ssh"),
        "workspace_app" | "port_forwarding" => Some("http"),
        _ => None,
    };
    let user = f.user.map(|u| {
        json!({
            "id": f.user_id(),
            "name": f.username(),
            "email": non_empty(u.email.as_deref()),
            "full_name": non_empty(u.name.as_deref()),
        })
    });
    let mut related_users: Vec<&str> = Vec::new();
    for u in [f.username(), f.user_id()].into_iter().flatten() {
        if !related_users.contains(&u) {
            related_users.push(u);
        }
    }
    let mut labels: Map<String, Value> = enrich
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    labels.insert("coder_connection_type".into(), json!(f.connection_type));
    let mut tags = vec!["coder".to_owned(), "connection".to_owned()];
    tags.extend(enrich.tags.iter().cloned());
    let raw_ip = non_empty(f.log.ip.as_deref());
    let mut doc = json!({
        "@timestamp": rfc3339(f.time_utc().unwrap_or(read_at)),
        "ecs": {"version": crate::normalize::ecs::ECS_VERSION},
        "message": f.message(),
        "event": {
            "kind": "event",
            "category": category,
            "type": kind_type,
            "action": f.moment.action(),
            "outcome": f.outcome(),
            "id": f.event_id,
            "created": rfc3339(read_at),
            "dataset": "coder.connection",
            "module": "coder",
            "provider": "coderd",
            "severity": f.severity_id(),
            "start": f.connect_time.map(|t| rfc3339(t.with_timezone(&Utc))),
            "end": f.disconnect_time
                .filter(|_| f.moment == Moment::Disconnect)
                .map(|t| rfc3339(t.with_timezone(&Utc))),
            "duration": f.duration_ms().map(|ms| ms.saturating_mul(1_000_000)),
            "reason": f.reason(),
        },
        "source": raw_ip.map(|address| {
            let mut source = json!({"ip": f.ip, "address": address});
            if let Some(place) = enrich.place(f.ip) {
                geoip::add_to(&mut source, geoip::EcsPlace(place));
            }
            source
        }),
        "host": {"name": f.workspace(), "id": f.workspace_id()},
        "user": user,
        "user_agent": f.user_agent().map(|original| json!({"original": original})),
        "network": protocol.map(|p| json!({"protocol": p})),
        "http": http_status.map(|c| json!({"response": {"status_code": c}})),
        "organization": {"id": org_id, "name": org_name},
        "related": {
            "user": related_users,
            "ip": f.ip.into_iter().collect::<Vec<_>>(),
            "hosts": f.workspace().into_iter().collect::<Vec<_>>(),
        },
        "service": {"name": "coder", "type": "coder", "version": enrich.coder_version},
        "observer": {
            "vendor": "Coder",
            "product": "Coder",
            "name": enrich.deployment,
            "version": enrich.coder_version,
        },
        "labels": labels,
        "tags": tags,
        // `[enrich.coder]`: where an audit event has it, `coder.workspace.*`.
        "coder": {
            "connection": coder_fields(f, raw_ip, http_status),
            "workspace": f.looked_up(),
        },
    });
    prune(&mut doc);
    doc
}
