//! An agent connect or disconnect row of the audit log (Coder v2.20–v2.24) as the OCSF
//! session event the connection log gives the same session from v2.25 on: SSH Activity
//! (4007) for SSH, VS Code and JetBrains, Network Activity (4001) for the web terminal.
//!
//! The row's `request_id` is the connection id, shared by the connect and the disconnect
//! (`coder-api/NOTES.md` §1), so it is `metadata.correlation_uid` as in
//! [`super::connection`]; the workspace is `dst_endpoint`, the agent its `agent_list`
//! (1.8) or `unmapped.coder.agent_name` (1.1.0); a disconnect's exit code is its status.
//! Built as a `serde_json::Value`, like the connection events: these rows are few.

use serde_json::{Value, json};

use super::classify::Activity;
use super::facts::{Facts, non_empty};
use super::geoip;
use super::ocsf::{Context, Nth, OcsfVersion, status, status_detail};
use super::ocsf_types::agent;
use super::prune;
use super::{Trim, severity};

/// The OCSF event of one agent row, for `activity` (an [`super::Class::SshActivity`] or
/// [`super::Class::NetworkActivity`] from [`super::classify::ocsf`]).
pub fn ocsf_event(
    facts: &Facts<'_>,
    activity: &Activity,
    nth: Nth,
    ctx: &Context<'_>,
    trim: &Trim,
) -> Value {
    let v18 = ctx.version == OcsfVersion::V1_8_0;
    let entry = facts.entry;
    let class = activity.class;
    let (status_id, status) = status(facts);
    let severity_id = severity(facts);
    let id = non_empty(entry.id.as_deref());
    let uid = id.map(|id| {
        if nth.count > 1 {
            format!("{id}:{}", nth.index)
        } else {
            id.to_owned()
        }
    });
    let workspace = facts.workspace.unwrap_or_default();
    let agent_name = non_empty(entry.resource_target.as_deref());
    let owner = (workspace.owner_id.is_some() || workspace.owner_name.is_some())
        .then(|| json!({"uid": workspace.owner_id, "name": workspace.owner_name}));
    let mut dst = json!({
        "uid": workspace.id,
        "name": workspace.name,
        "owner": owner.filter(|_| v18),
        "agent_list": agent(facts.resource_id, agent_name)
            .filter(|_| v18)
            .map(|a| vec![a]),
    });
    if workspace.id.is_none() && workspace.name.is_none() {
        // 1.1.0 requires a destination; an agent row without its workspace still has one.
        dst["name"] = json!(agent_name.unwrap_or("unknown"));
    }
    let src = match facts.ip {
        Some(ip) => {
            let mut src = json!({"ip": ip});
            if let Some(place) = ctx.enrich.place(Some(ip)) {
                geoip::add_to(&mut src, geoip::OcsfPlace { place, v18 });
            }
            src
        }
        None => json!({"name": "unknown"}),
    };
    let actor = facts.user.map(|u| {
        json!({"user": {
            "uid": facts.user_id(),
            "name": facts.username(),
            "full_name": non_empty(u.name.as_deref()),
            "type_id": 1,
        }})
    });
    let mut labels: Vec<String> = ctx.enrich.tags.clone();
    labels.extend(ctx.enrich.labels.iter().map(|(k, v)| format!("{k}:{v}")));
    let read_at = ctx.read_at;
    let additional = facts.additional_fields().filter(|_| !trim.drop_additional);
    let caption = class.activity_caption(activity.id).unwrap_or("Other");
    let mut event = json!({
        "class_uid": class.uid(),
        "class_name": class.caption(),
        "category_uid": class.category_uid(),
        "category_name": class.category_caption(),
        "activity_id": activity.id,
        "activity_name": activity.name(),
        "type_uid": class.uid() * 100 + activity.id,
        "type_name": format!("{}: {caption}", class.caption()),
        "severity_id": severity_id,
        "severity": if severity_id == 2 { "Low" } else { "Informational" },
        "time": facts.time_utc().unwrap_or(read_at).timestamp_millis(),
        "timezone_offset": facts.time.map(|t| t.offset().local_minus_utc() / 60),
        "status_id": status_id,
        "status": status,
        "status_code": entry.status_code.map(|c| c.to_string()),
        "status_detail": status_detail(facts),
        "message": facts.message(),
        "metadata": {
            "version": ctx.version.as_str(),
            "uid": uid,
            "original_event_uid": id.filter(|_| v18),
            "correlation_uid": facts.request_id,
            "event_code": facts.operation(),
            "log_name": "audit",
            "original_time": non_empty(entry.time.as_deref()),
            "processed_time": read_at.timestamp_millis(),
            "product": {
                "name": "Coder",
                "vendor_name": "Coder",
                "version": ctx.enrich.coder_version,
            },
            "labels": labels,
            // `actor` belongs to these classes only through the `host` profile.
            "profiles": if actor.is_some() { vec!["host"] } else { Vec::new() },
            "is_truncated": trim.truncation.as_ref().filter(|_| v18).map(|_| true),
            "untruncated_size": trim.truncation.as_ref().filter(|_| v18).map(|t| t.original_bytes),
        },
        "actor": actor,
        "src_endpoint": src,
        "dst_endpoint": dst,
        "unmapped": {"coder": {
            "truncated": trim.truncation.as_ref().map(|_| true),
            "action": facts.action,
            "resource_type": facts.resource_type,
            "agent_id": facts.resource_id,
            "agent_name": agent_name.filter(|_| !v18),
            "workspace_owner": owner_name_for_1_1(&workspace, v18),
            "additional_fields": additional,
            "ip": facts.ip_not_source(),
            "deployment": ctx.enrich.deployment,
            "organization": (facts.organization_id.is_some() || facts.organization_name.is_some())
                .then(|| json!({"uid": facts.organization_id, "name": facts.organization_name})),
            "truncation": trim.truncation,
        }},
    });
    prune(&mut event);
    event
}

/// 1.1.0 has no `network_endpoint.owner`: the owner's name goes to `unmapped`.
fn owner_name_for_1_1<'a>(w: &super::facts::Workspace<'a>, v18: bool) -> Option<&'a str> {
    w.owner_name.filter(|_| !v18)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::coder::AuditEntry;
    use crate::normalize::{ClassStrategy, Enrichment, ocsf};

    const DISCONNECT: &str = r#"{"id":"e1","request_id":"c0ffee00-0000-4000-8000-000000000001","time":"2025-04-01T10:00:00Z","ip":"fd7a:115c:a1e0::1","resource_type":"workspace_agent","resource_id":"a9e1","resource_target":"main","action":"disconnect","status_code":137,"user":null,"additional_fields":{"workspace_name":"dev","workspace_id":"w1","workspace_owner":"alice","connection_type":"SSH","reason":"process exited"},"description":"{user} disconnected workspace agent {target}"}"#;

    #[test]
    fn an_ssh_disconnect_row_is_a_closed_ssh_session_that_failed() {
        let entry = AuditEntry::parse(DISCONNECT);
        let facts = Facts::of(&entry);
        for version in [OcsfVersion::V1_8_0, OcsfVersion::V1_1_0] {
            let activities = ocsf::activities(&facts, ClassStrategy::Semantic, version);
            assert_eq!(activities.len(), 1);
            let enrich = Enrichment::default();
            let ctx = Context {
                version,
                enrich: &enrich,
                read_at: Utc::now(),
            };
            let nth = Nth { index: 0, count: 1 };
            let e = ocsf_event(&facts, &activities[0], nth, &ctx, &Trim::default());
            assert_eq!(e["type_uid"], 400702, "{e}");
            assert_eq!(e["status_id"], 2);
            assert_eq!(e["status_code"], "137");
            assert_eq!(e["status_detail"], "exit code 137 (SIGKILL)");
            assert_eq!(
                e["metadata"]["correlation_uid"],
                "c0ffee00-0000-4000-8000-000000000001"
            );
            assert_eq!(e["dst_endpoint"]["name"], "dev");
            assert!(e.get("http_response").is_none() && e.get("api").is_none());
            if version == OcsfVersion::V1_8_0 {
                assert_eq!(e["dst_endpoint"]["agent_list"][0]["name"], "main");
                assert_eq!(e["dst_endpoint"]["owner"]["name"], "alice");
            } else {
                assert_eq!(e["unmapped"]["coder"]["agent_name"], "main");
                assert_eq!(e["unmapped"]["coder"]["workspace_owner"], "alice");
            }
        }
    }
}
