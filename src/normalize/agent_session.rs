//! An agent connect or disconnect row of the audit log (Coder v2.20–v2.24) as the OCSF
//! session event the connection log gives the same session from v2.25 on: SSH Activity
//! (4007) for SSH, VS Code and JetBrains, Network Activity (4001) for the web terminal.
//!
//! The row's `request_id` is the connection id, shared by the connect and the disconnect
//! (`coder-api/NOTES.md` §1), so it is `metadata.correlation_uid` as in
//! [`super::connection`]; the workspace is `dst_endpoint`, the agent its `agent_list`
//! (1.8) or `unmapped.coder.agent_name` (1.1.0); a disconnect's exit code is its status.
//!
//! Written from borrowed structs, as the other audit events are ([`super::ocsf`]): these
//! rows were built as a `serde_json::Value` tree first, and the tenth of a backfill's rows
//! that are agent rows took about a sixth of its OCSF encoding (BENCHMARKS.md, "Glances that
//! borrow"). Every attribute without a value is left out, as the tree's pruning did.

use std::borrow::Cow;

use crate::coder::JsonText;
use serde::Serialize;

use super::classify::Activity;
use super::facts::{Facts, Workspace, non_empty};
use super::geoip::OcsfPlace;
use super::ocsf::document::{Actor, Endpoint, Metadata, OcsfUser, Org};
use super::ocsf::{Context, Nth, OcsfVersion, labels, product, status, status_detail, type_name};
use super::ocsf_types::{Agent, agent};
use super::text::{Displayed, Joined};
use super::{Trim, Truncation, severity};

/// The OCSF event of one agent row, for `activity` (an [`super::Class::SshActivity`] or
/// [`super::Class::NetworkActivity`] from [`super::classify::ocsf`]).
pub fn ocsf_event<'a>(
    facts: &'a Facts<'a>,
    activity: &'a Activity,
    nth: Nth,
    ctx: &'a Context<'a>,
    trim: &'a Trim,
) -> SessionEvent<'a> {
    let v18 = ctx.version == OcsfVersion::V1_8_0;
    let entry = facts.entry;
    let class = activity.class;
    let (status_id, status) = status(facts);
    let severity_id = severity(facts);
    let id = non_empty(entry.id.as_deref());
    let uid = id.map(|id| {
        if nth.count > 1 {
            Cow::Owned(format!("{id}:{}", nth.index))
        } else {
            Cow::Borrowed(id)
        }
    });
    let workspace = facts.workspace.unwrap_or_default();
    let agent_name = non_empty(entry.resource_target.as_deref());
    let owner =
        (workspace.owner_id.is_some() || workspace.owner_name.is_some()).then(|| OcsfUser {
            uid: workspace.owner_id,
            name: workspace.owner_name,
            ..OcsfUser::default()
        });
    let no_workspace = workspace.id.is_none() && workspace.name.is_none();
    let dst = Destination {
        uid: workspace.id,
        // 1.1.0 requires a destination; an agent row without its workspace still has one.
        name: if no_workspace {
            Some(agent_name.unwrap_or("unknown"))
        } else {
            workspace.name
        },
        owner: owner.filter(|_| v18),
        agent_list: agent(facts.resource_id, agent_name)
            .filter(|_| v18)
            .map(|a| [a]),
    };
    let src = match facts.ip {
        Some(ip) => Endpoint {
            ip: Some(ip),
            place: ctx
                .enrich
                .place(Some(ip))
                .map(|place| OcsfPlace { place, v18 }),
            ..Endpoint::default()
        },
        None => Endpoint {
            name: Some("unknown"),
            ..Endpoint::default()
        },
    };
    let actor = facts.user.map(|u| Actor {
        user: Some(OcsfUser {
            uid: facts.user_id(),
            name: facts.username(),
            full_name: non_empty(u.name.as_deref()),
            type_id: Some(1),
            ..OcsfUser::default()
        }),
        ..Actor::default()
    });
    let read_at = ctx.read_at;
    let truncation = trim.truncation.as_ref();
    SessionEvent {
        class_uid: class.uid(),
        class_name: class.caption(),
        category_uid: class.category_uid(),
        category_name: class.category_caption(),
        activity_id: activity.id,
        activity_name: activity.name(),
        type_uid: class.uid() * 100 + activity.id,
        type_name: type_name(activity),
        severity_id,
        severity: if severity_id == 2 {
            "Low"
        } else {
            "Informational"
        },
        time: facts.time_utc().unwrap_or(read_at).timestamp_millis(),
        timezone_offset: facts.time.map(|t| t.offset().local_minus_utc() / 60),
        status_id,
        status,
        status_code: entry.status_code.map(Displayed),
        status_detail: status_detail(facts),
        message: facts.message(),
        metadata: Metadata {
            version: ctx.version.as_str(),
            uid,
            original_event_uid: id.filter(|_| v18),
            correlation_uid: facts.request_id,
            event_code: facts.operation(),
            log_name: "audit",
            original_time: non_empty(entry.time.as_deref()),
            processed_time: read_at.timestamp_millis(),
            product: product(ctx.enrich),
            labels: labels(ctx.enrich),
            // `actor` belongs to these classes only through the `host` profile.
            profiles: if actor.is_some() {
                vec!["host"]
            } else {
                Vec::new()
            },
            is_truncated: truncation.filter(|_| v18).map(|_| true),
            untruncated_size: truncation.filter(|_| v18).map(|t| t.original_bytes),
        },
        actor,
        src_endpoint: src,
        dst_endpoint: dst,
        unmapped: Unmapped {
            coder: UnmappedCoder {
                truncated: truncation.map(|_| true),
                action: facts.action,
                resource_type: facts.resource_type,
                agent_id: facts.resource_id,
                agent_name: agent_name.filter(|_| !v18),
                workspace_owner: owner_name_for_1_1(&workspace, v18),
                additional_fields: facts.additional_fields().filter(|_| !trim.drop_additional),
                ip: facts.ip_not_source(),
                deployment: ctx.enrich.deployment.as_deref(),
                organization: (facts.organization_id.is_some()
                    || facts.organization_name.is_some())
                .then_some(Org {
                    uid: facts.organization_id,
                    name: facts.organization_name,
                }),
                truncation,
            },
        },
    }
}

/// 1.1.0 has no `network_endpoint.owner`: the owner's name goes to `unmapped`.
fn owner_name_for_1_1<'a>(w: &Workspace<'a>, v18: bool) -> Option<&'a str> {
    w.owner_name.filter(|_| !v18)
}

/// An SSH Activity or Network Activity event of an agent row.
#[derive(Serialize)]
pub struct SessionEvent<'a> {
    class_uid: u32,
    class_name: &'static str,
    category_uid: u32,
    category_name: &'static str,
    activity_id: u32,
    activity_name: &'a str,
    type_uid: u32,
    type_name: Joined<'static, 3>,
    severity_id: u32,
    severity: &'static str,
    time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    timezone_offset: Option<i32>,
    status_id: u32,
    status: Cow<'static, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_code: Option<Displayed<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_detail: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<Cow<'a, str>>,
    metadata: Metadata<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    actor: Option<Actor<'a>>,
    src_endpoint: Endpoint<'a>,
    dst_endpoint: Destination<'a>,
    unmapped: Unmapped<'a>,
}

/// The workspace the session reached.
#[derive(Serialize)]
struct Destination<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<OcsfUser<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_list: Option<[Agent<'a>; 1]>,
}

#[derive(Serialize)]
struct Unmapped<'a> {
    coder: UnmappedCoder<'a>,
}

/// `unmapped.coder.*`: what the classes have no attribute for.
#[derive(Serialize)]
struct UnmappedCoder<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    truncated: Option<bool>,
    action: &'a str,
    resource_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    workspace_owner: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    additional_fields: Option<&'a JsonText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deployment: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    organization: Option<Org<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    truncation: Option<&'a Truncation>,
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
            let e = serde_json::to_value(ocsf_event(
                &facts,
                &activities[0],
                nth,
                &ctx,
                &Trim::default(),
            ))
            .unwrap();
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

    /// What the tree these events were once built as left out (nulls, empty objects and
    /// arrays) the structs leave out too, for rows with and without each part.
    #[test]
    fn no_attribute_is_written_without_a_value() {
        let rows = [
            DISCONNECT.to_owned(),
            // No address, no workspace, no agent name, a user, an organization.
            r#"{"id":"e2","time":"2025-04-01T10:00:00+02:00","resource_type":"workspace_agent","action":"connect","status_code":200,"organization_id":"o1","organization":{"id":"o1","name":"coder"},"user":{"id":"u1","username":"mia","name":""},"additional_fields":{"connection_type":"Web Terminal"}}"#.to_owned(),
            // Nothing but the kind of row.
            r#"{"resource_type":"workspace_agent","action":"disconnect","additional_fields":{"connection_type":"VS Code"}}"#.to_owned(),
        ];
        let enrich = Enrichment {
            tags: vec!["prod".into()],
            ..Enrichment::default()
        };
        for row in &rows {
            let entry = AuditEntry::parse(row);
            let facts = Facts::of(&entry);
            for version in [OcsfVersion::V1_8_0, OcsfVersion::V1_1_0] {
                let ctx = Context {
                    version,
                    enrich: &enrich,
                    read_at: Utc::now(),
                };
                for activity in ocsf::activities(&facts, ClassStrategy::Semantic, version) {
                    let nth = Nth { index: 0, count: 1 };
                    let trim = Trim::default();
                    let e = ocsf_event(&facts, &activity, nth, &ctx, &trim);
                    let e = serde_json::to_value(e).unwrap();
                    let mut pruned = e.clone();
                    crate::normalize::prune(&mut pruned);
                    assert_eq!(e, pruned, "{row}");
                    assert!(e["dst_endpoint"]["name"].is_string(), "{e}");
                    assert_eq!(e["metadata"]["labels"][0], "prod");
                    assert_eq!(e["unmapped"]["coder"]["resource_type"], "workspace_agent");
                }
            }
        }
    }
}
