//! One entry as an Elastic Common Schema 9.4 document (`schemas/NOTES.md` §1 and §5).
//!
//! The document is a tree of borrowed structs serialized in one pass: no intermediate
//! `serde_json::Value`, which is what keeps normalization far below the cost of the HTTP
//! round trip that fetched the entry. Anything ECS has no field for goes under `coder.audit.*`
//! (the custom fieldset ECS recommends), never at the top level.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::diff::{self, Redacted};
use super::facts::{Facts, non_empty, non_nil};
use super::outcome::{ExitDetail, Outcome, Status, signal};
use super::{Enrichment, Trim, Truncation, classify};

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
    });
    let user_fields = UserFields {
        id: facts.user_id(),
        name: facts.username(),
        email: user.and_then(|u| non_empty(u.email.as_deref())),
        full_name: user.and_then(|u| non_empty(u.name.as_deref())),
        target: target_is_user
            .then(|| UserTarget {
                id: facts.resource_id,
                name: non_empty(entry.resource_target.as_deref()),
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

    let mut tags = vec!["coder", "audit"];
    tags.extend(enrich.tags.iter().map(String::as_str));

    let status = facts.status.http();
    let exit_code = facts.status.exit_code();
    let reason = reason(facts);
    Document {
        timestamp: rfc3339(timestamp),
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
            created: rfc3339(read_at),
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
            ip: facts.ip.into_iter().collect(),
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
        tags,
        coder: CoderFields {
            truncated: trim.truncation.as_ref().map(|_| true),
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
                        roles: facts.role_names.clone(),
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
    facts
        .entry
        .additional_fields
        .as_ref()
        .filter(|_| facts.resource_type == "workspace_build")
        .and_then(|f| f.get("build_reason"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(Cow::Borrowed)
}

/// RFC 3339 in UTC with microseconds, Coder's own precision.
fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[derive(Serialize)]
pub struct Document<'a> {
    #[serde(rename = "@timestamp")]
    timestamp: String,
    ecs: Ecs,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<Cow<'a, str>>,
    event: EventFields<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<UserFields<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<GroupFields<'a>>,
    /// The workspace, as connection events name it (`host.name`, `host.id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<Host<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<Source<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Option<UserAgent<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    organization: Option<Organization<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    http: Option<Http<'a>>,
    #[serde(skip_serializing_if = "Related::is_empty")]
    related: Related<'a>,
    service: Service<'a>,
    observer: Observer<'a>,
    labels: BTreeMap<&'a str, &'a str>,
    tags: Vec<&'a str>,
    coder: CoderFields<'a>,
}

#[derive(Serialize)]
struct Ecs {
    version: &'static str,
}

#[derive(Serialize)]
struct EventFields<'a> {
    kind: &'static str,
    category: &'static [&'static str],
    #[serde(rename = "type")]
    kind_type: &'static [&'static str],
    action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    created: String,
    dataset: &'static str,
    module: &'static str,
    provider: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    severity: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<Cow<'a, str>>,
}

#[derive(Serialize)]
struct UserFields<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    full_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<UserTarget<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    changes: Option<UserChanges<'a>>,
}

impl UserFields<'_> {
    fn is_empty(&self) -> bool {
        self.id.is_none()
            && self.name.is_none()
            && self.email.is_none()
            && self.full_name.is_none()
            && self.target.is_none()
            && self.changes.is_none()
    }
}

#[derive(Serialize)]
struct UserTarget<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

/// `user.changes.*`: the new values of a user resource's diff (ECS: "fields that changed
/// on the user, with their new value").
#[derive(Serialize)]
struct UserChanges<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    full_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    roles: Vec<&'a str>,
}

impl<'a> UserChanges<'a> {
    fn of(d: Option<&'a Map<String, Value>>) -> Self {
        let text = |f: &str| {
            diff::new_value(d, f)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let roles = diff::new_value(d, "roles")
            .or_else(|| diff::new_value(d, "rbac_roles"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        UserChanges {
            name: text("username"),
            email: text("email"),
            full_name: text("name"),
            roles,
        }
    }

    fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.email.is_none()
            && self.full_name.is_none()
            && self.roles.is_empty()
    }
}

#[derive(Serialize)]
struct GroupFields<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

#[derive(Serialize)]
struct Host<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

#[derive(Serialize)]
struct Source<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<IpAddr>,
    address: &'a str,
}

#[derive(Serialize)]
struct UserAgent<'a> {
    original: &'a str,
}

#[derive(Serialize)]
struct Organization<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

#[derive(Serialize)]
struct Http<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    request: Option<HttpRequest<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<HttpResponse>,
}

#[derive(Serialize)]
struct HttpRequest<'a> {
    id: &'a str,
}

#[derive(Serialize)]
struct HttpResponse {
    status_code: i64,
}

#[derive(Serialize)]
struct Related<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    user: Vec<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ip: Vec<IpAddr>,
}

impl Related<'_> {
    fn is_empty(&self) -> bool {
        self.user.is_empty() && self.ip.is_empty()
    }
}

#[derive(Serialize)]
struct Service<'a> {
    name: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'a str>,
}

#[derive(Serialize)]
struct Observer<'a> {
    vendor: &'static str,
    product: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'a str>,
}

#[derive(Serialize)]
struct CoderFields<'a> {
    /// The event is not the whole entry: see `coder.audit.truncation`.
    #[serde(skip_serializing_if = "Option::is_none")]
    truncated: Option<bool>,
    audit: CoderAudit<'a>,
}

/// `coder.audit.*`: Coder's own fields, for search and for what ECS cannot say. Map
/// `diff` and `additional_fields` as `flattened` in Elasticsearch.
#[derive(Serialize)]
struct CoderAudit<'a> {
    action: &'a str,
    resource: Resource<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    diff: Option<Redacted<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    additional_fields: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    /// A status that is neither an HTTP status nor an exit code, as Coder sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    status_code: Option<i64>,
    /// The exit code of an agent session's process (v2.20–v2.24 disconnects).
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<i64>,
    /// The signal of an exit code 128 + n (`SIGKILL` for 137).
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_signal: Option<&'static str>,
    /// `time` as Coder sent it, only when it did not parse (`@timestamp` is then the read time).
    #[serde(skip_serializing_if = "Option::is_none")]
    original_time: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<CoderUser<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    truncation: Option<&'a Truncation>,
    /// `ip` as Coder sent it, when it is not the source: no address (`source.*` is then
    /// absent), or the loopback Coder records for its own scheduled builds.
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<&'a str>,
}

#[derive(Serialize)]
struct Resource<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    icon: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    link: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_deleted: Option<bool>,
}

#[derive(Serialize)]
struct CoderUser<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    login_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'a str>,
    /// The acting user's roles as Coder reads them now, not at the event: ECS defines
    /// `user.roles` as "at the time of the event", which Coder cannot say.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    roles: Vec<&'a str>,
}
