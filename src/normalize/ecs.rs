//! One entry as an Elastic Common Schema 9.4 document (`schemas/NOTES.md` §1 and §5).
//!
//! The document is a tree of borrowed structs serialized in one pass: no intermediate
//! `serde_json::Value`, which is what keeps normalization far below the cost of the HTTP
//! round trip that fetched the entry. Anything ECS has no field for goes under `coder.audit.*`
//! (the custom fieldset ECS recommends), never at the top level.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::diff::Redacted;
use super::facts::{Facts, non_empty, non_nil};
use super::geoip::EcsPlace;
use super::outcome::{ExitDetail, Outcome, Status, signal};
use super::time::rfc3339_micros;
use super::{Enrichment, Trim, classify, looked_up};

mod fields;

pub use fields::Document;
use fields::{
    CoderAudit, CoderFields, CoderOrganization, CoderUser, Ecs, EventFields, GroupFields, Host,
    Http, HttpRequest, HttpResponse, Observer, Organization, Related, Resource, Service, Source,
    Tags, UserAgent, UserChanges, UserFields, UserTarget,
};

pub const ECS_VERSION: &str = "9.4.0";

/// Build the ECS document of `facts`.
pub fn document<'a>(
    facts: &'a Facts<'a>,
    enrich: &'a Enrichment,
    read_at: DateTime<Utc>,
    trim: &'a Trim,
) -> Document<'a> {
    let entry = facts.entry;
    let (category, kind_type) = classify::ecs(facts.resource_type, facts.action, facts.outcome);
    let timestamp = facts.time_utc().unwrap_or(read_at);

    let user = facts.user;
    let target_is_user = classify::targets_a_user(facts.resource_type);
    // The user an entry is about: its resource when that is a user, or else the user Coder
    // recorded when someone else acted (the owner of a scheduled build).
    let subject = facts.subject.map(|s| UserTarget {
        id: non_nil(s.id.as_deref()),
        name: non_empty(s.username.as_deref()),
        email: None,
        full_name: None,
    });
    let found = facts.target_user;
    let user_fields = UserFields {
        id: facts.user_id(),
        name: facts.username(),
        email: user.and_then(|u| non_empty(u.email.as_deref())),
        full_name: user.and_then(|u| non_empty(u.name.as_deref())),
        target: target_is_user
            .then(|| UserTarget {
                id: facts.resource_id,
                name: non_empty(entry.resource_target.as_deref())
                    .or_else(|| found.and_then(|u| non_empty(u.username.as_deref()))),
                email: found.and_then(|u| non_empty(u.email.as_deref())),
                full_name: found.and_then(|u| non_empty(u.name.as_deref())),
            })
            .filter(|t| t.id.is_some() || t.name.is_some())
            .or(subject)
            .filter(|t| t.id.is_some() || t.name.is_some()),
        changes: (facts.resource_type == "user")
            .then(|| UserChanges::of(entry.diff.as_ref()))
            .filter(|c| !c.is_empty()),
    };

    let mut related_user: Vec<&str> = Vec::new();
    for u in [
        facts.username(),
        facts.user_id(),
        user_fields.target.as_ref().and_then(|t| t.name),
    ]
    .into_iter()
    .flatten()
    {
        if !related_user.contains(&u) {
            related_user.push(u);
        }
    }

    let mut labels: BTreeMap<&str, &str> = enrich
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    labels.insert("coder_resource_type", facts.resource_type);

    let status = facts.status.http();
    let exit_code = facts.status.exit_code();
    let reason = reason(facts);
    Document {
        timestamp: rfc3339_micros(timestamp),
        ecs: Ecs {
            version: ECS_VERSION,
        },
        message: facts.message(),
        event: EventFields {
            kind: "event",
            category,
            kind_type,
            action: facts.operation(),
            outcome: (facts.outcome != Outcome::Unknown).then(|| facts.outcome.as_str()),
            id: non_empty(entry.id.as_deref()),
            created: rfc3339_micros(read_at),
            dataset: "coder.audit",
            module: "coder",
            provider: "coderd",
            url: entry
                .resource_link
                .as_deref()
                .and_then(|l| enrich.absolute_link(l)),
            severity: super::severity(facts),
            reason,
        },
        user: (!user_fields.is_empty()).then_some(user_fields),
        group: match facts.resource_type {
            "group" => Some(GroupFields {
                id: facts.resource_id,
                name: non_empty(entry.resource_target.as_deref()),
            }),
            // A membership is a change of the organization's member group.
            "organization_member" => Some(GroupFields {
                id: facts.organization_id,
                name: facts.organization_name,
            }),
            _ => None,
        }
        .filter(|g| g.id.is_some() || g.name.is_some()),
        host: facts.workspace.map(|w| Host {
            id: w.id,
            name: w.name,
        }),
        source: facts.source_address().map(|address| Source {
            ip: facts.ip,
            address,
            place: enrich.place(facts.ip).map(EcsPlace),
        }),
        user_agent: non_empty(entry.user_agent.as_deref()).map(|original| UserAgent { original }),
        organization: (facts.organization_id.is_some() || facts.organization_name.is_some())
            .then_some(Organization {
                id: facts.organization_id,
                name: facts.organization_name,
            }),
        http: (facts.request_id.is_some() || status.is_some()).then(|| Http {
            request: facts.request_id.map(|id| HttpRequest { id }),
            response: status.map(|status_code| HttpResponse { status_code }),
        }),
        related: Related {
            user: related_user,
            ip: facts.ip.as_slice(),
        },
        service: Service {
            name: "coder",
            kind: "coder",
            version: enrich.coder_version.as_deref(),
        },
        observer: Observer {
            vendor: "Coder",
            product: "Coder",
            name: enrich.deployment.as_deref(),
            version: enrich.coder_version.as_deref(),
        },
        labels,
        tags: Tags {
            operator: &enrich.tags,
        },
        coder: CoderFields {
            truncated: trim.truncation.as_ref().map(|_| true),
            workspace: looked_up::workspace(facts.context),
            template: looked_up::template(facts.context),
            organization: looked_up::organization_display_name(facts.context)
                .map(|display_name| CoderOrganization { display_name }),
            audit: CoderAudit {
                action: facts.action,
                resource: Resource {
                    kind: facts.resource_type,
                    id: facts.resource_id,
                    name: facts.target,
                    icon: non_empty(entry.resource_icon.as_deref()),
                    link: non_empty(entry.resource_link.as_deref()),
                    is_deleted: entry.is_deleted,
                },
                diff: entry
                    .diff
                    .as_ref()
                    .filter(|d| !d.is_empty())
                    .map(|d| Redacted {
                        diff: d,
                        keep: &trim.keep,
                    }),
                additional_fields: facts.additional_fields().filter(|_| !trim.drop_additional),
                request_id: facts.request_id,
                status_code: facts.status.other(),
                exit_code,
                exit_signal: exit_code.and_then(signal),
                original_time: entry.time.as_deref().filter(|_| facts.time.is_none()),
                user: user
                    .map(|u| CoderUser {
                        login_type: non_empty(u.login_type.as_deref()),
                        status: non_empty(u.status.as_deref()),
                        roles: &facts.role_names,
                    })
                    .filter(|u| {
                        u.login_type.is_some() || u.status.is_some() || !u.roles.is_empty()
                    }),
                truncation: trim.truncation.as_ref(),
                ip: facts.ip_not_source(),
            },
        },
    }
}

/// ECS `event.reason` ("why a particular action or outcome happened, according to the
/// source"): why Coder acted on its own, a build's reason, a redirect to sign in, or how
/// a session's process ended.
fn reason<'a>(facts: &Facts<'a>) -> Option<Cow<'a, str>> {
    if let Some(r) = facts.automatic_reason() {
        return Some(Cow::Borrowed(r));
    }
    if let Status::Exit(c) = facts.status {
        return Some(Cow::Owned(ExitDetail(c).to_string()));
    }
    if facts.outcome == Outcome::Redirect && facts.action == "open" {
        return Some(Cow::Borrowed("redirected to sign-in"));
    }
    facts.build_reason.map(Cow::Borrowed)
}
