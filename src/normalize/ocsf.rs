//! One entry as OCSF events, 1.8.0 or 1.1.0 (`schemas/NOTES.md` §2 and §5).
//!
//! The class comes from [`classify::ocsf`]; this module fills it. The two versions differ in
//! what a class may carry (§2.3): 1.1.0 has no `http_response`, and its Group and User
//! Access Management classes have no `src_endpoint` or `http_request` and take `actor` only
//! under the `host` profile. What a class cannot carry goes to `unmapped.coder.*`, so no
//! fact of the entry is lost in either version.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use super::classify::{Activity, Class, ClassStrategy, Row, Subject};
use super::diff::Redacted;
use super::facts::{self, Facts, non_empty, non_nil};
use super::geoip::OcsfPlace;
pub use super::ocsf_types::OcsfVersion;
use super::ocsf_types::StringType;
use super::outcome::{ExitDetail, Outcome, Status};
use super::text::{Displayed, Joined};
use super::{Enrichment, Trim, classify, looked_up, severity};

pub(super) mod document;

pub use document::Event;
use document::{
    Actor, Api, ApiRequest, ApiResponse, ApiService, Endpoint, Group, HttpRequest, HttpResponse,
    Metadata, OcsfUser, Org, Product, ResourceDetails, Unmapped, UnmappedCoder,
};

/// The activities of one entry, in emission order.
///
/// 1.1.0's Group Management requires a `user` or `privileges`, which a group created,
/// deleted or renamed does not have; there those entries are API Activity (as in
/// single-class mode) rather than events with an invented member.
pub fn activities(
    facts: &Facts<'_>,
    strategy: ClassStrategy,
    version: OcsfVersion,
) -> Vec<Activity> {
    // Only an agent row's is read (see `classify::Row`): one pass less for every other.
    let connection_type = facts
        .entry
        .additional_fields
        .as_ref()
        .filter(|_| facts.resource_type == "workspace_agent")
        .and_then(|f| f.string("connection_type"));
    let row = Row {
        resource_type: facts.resource_type,
        action: facts.action,
        diff: facts.entry.diff.as_ref(),
        self_service: facts.user_id().is_some() && facts.user_id() == facts.resource_id,
        connection_type,
    };
    let mut activities = classify::ocsf(strategy, row);
    if version == OcsfVersion::V1_1_0 && facts.resource_type == "group" {
        for a in &mut activities {
            if a.class == Class::GroupManagement && a.subject == Subject::Resource {
                *a = classify::ocsf(ClassStrategy::Single, Row::new("group", facts.action))
                    .remove(0);
            }
        }
    }
    activities
}

/// `metadata.product`: Coder, at the version the deployment reported.
pub(super) fn product(enrich: &Enrichment) -> Product<'_> {
    Product {
        name: "Coder",
        vendor_name: "Coder",
        version: enrich.coder_version.as_deref(),
    }
}

/// `metadata.labels`: the operator's tags, and each label as `key:value`.
pub(super) fn labels(enrich: &Enrichment) -> Vec<Cow<'_, str>> {
    let mut labels: Vec<Cow<'_, str>> = enrich
        .tags
        .iter()
        .map(|t| Cow::Borrowed(t.as_str()))
        .collect();
    labels.extend(
        enrich
            .labels
            .iter()
            .map(|(k, v)| Cow::Owned(format!("{k}:{v}"))),
    );
    labels
}

/// `type_name`: the class's caption and the activity's, `Other` for 99 (Coder's own verb
/// goes to `activity_name`).
pub(super) fn type_name(activity: &Activity) -> Joined<'static, 3> {
    let class = activity.class;
    let caption = class.activity_caption(activity.id).unwrap_or("Other");
    Joined([class.caption(), ": ", caption])
}

/// OCSF `status_id` and `status`: the caption, or for 99 (Other) what the source says.
pub(super) fn status(facts: &Facts<'_>) -> (u32, Cow<'static, str>) {
    match (facts.outcome, facts.status) {
        (Outcome::Success, _) => (1, Cow::Borrowed("Success")),
        (Outcome::Failure, _) => (2, Cow::Borrowed("Failure")),
        // An app that sends an unauthenticated browser to sign in (`httpmw.RedirectToLogin`).
        (Outcome::Redirect, _) if facts.action == "open" => {
            (99, Cow::Borrowed("Redirected to sign-in"))
        }
        (Outcome::Redirect, _) => (99, Cow::Borrowed("Redirected")),
        (Outcome::Unknown, Status::Other(c)) => (99, Cow::Owned(format!("Status {c}"))),
        (Outcome::Unknown, _) => (0, Cow::Borrowed("Unknown")),
    }
}

/// OCSF `status_detail`: an exit code in words, or a failure's description.
pub(super) fn status_detail<'a>(facts: &Facts<'a>) -> Option<Cow<'a, str>> {
    match (facts.status, facts.outcome) {
        (Status::Exit(c), _) => Some(Cow::Owned(ExitDetail(c).to_string())),
        (_, Outcome::Failure) => facts.message(),
        _ => None,
    }
}

/// What every event of one encoding shares.
pub struct Context<'a> {
    pub version: OcsfVersion,
    pub enrich: &'a Enrichment,
    /// When the shipper read the entry (`metadata.processed_time`).
    pub read_at: DateTime<Utc>,
}

/// Which of an entry's events this is: `index` of `count`.
#[derive(Debug, Clone, Copy)]
pub struct Nth {
    pub index: usize,
    pub count: usize,
}

/// Build the `nth` event of `facts`, for `activity`.
pub fn event<'a>(
    facts: &'a Facts<'a>,
    activity: &'a Activity,
    nth: Nth,
    ctx: &Context<'a>,
    trim: &'a Trim,
) -> Event<'a> {
    let Context {
        version,
        enrich,
        read_at,
    } = *ctx;
    let Nth { index, count } = nth;
    let entry = facts.entry;
    let class = activity.class;
    let endpoints = version.has_endpoints(class);
    let v18 = version == OcsfVersion::V1_8_0;

    // An e-mail that is no `email_t` here (`prebuilds@system`) goes to `unmapped`.
    let (email_addr, user_email) = StringType::Email.split(
        facts.user.and_then(|u| non_empty(u.email.as_deref())),
        version,
    );
    let actor_user = facts.user.map(|u| OcsfUser {
        uid: facts.user_id(),
        name: facts.username(),
        email_addr,
        full_name: non_empty(u.name.as_deref()),
        type_id: Some(if facts.is_owner() { 2 } else { 1 }),
        org: org(facts),
    });
    let actor = match (&actor_user, facts.actor, class) {
        (Some(u), ..) => Some(Actor {
            user: Some(u.clone()),
            ..Actor::default()
        }),
        // A schedule or background task: Coder acting, for the reason Coder gives.
        (None, facts::Actor::Coder { reason }, _) => Some(Actor {
            app_name: v18.then_some("coderd"),
            invoked_by: Some(reason),
            ..Actor::default()
        }),
        // API Activity requires an actor: a null user is coderd acting on its own.
        (None, _, Class::ApiActivity) => Some(Actor {
            invoked_by: Some("coderd"),
            ..Actor::default()
        }),
        (None, ..) => None,
    };
    let mut profiles = Vec::new();
    if !v18 && actor.is_some() && matches!(class, Class::GroupManagement | Class::UserAccess) {
        profiles.push("host");
    }

    let found = facts.target_user;
    let target_user = || {
        let u = OcsfUser {
            uid: facts.resource_id,
            name: non_empty(entry.resource_target.as_deref())
                .or_else(|| found.and_then(|u| non_empty(u.username.as_deref()))),
            // A looked-up e-mail that is no `email_t` here is left out.
            email_addr: StringType::Email
                .split(found.and_then(|u| non_empty(u.email.as_deref())), version)
                .0,
            full_name: found.and_then(|u| non_empty(u.name.as_deref())),
            ..OcsfUser::default()
        };
        if u.uid.is_some() || u.name.is_some() {
            u
        } else if let Some(s) = facts.subject {
            OcsfUser {
                uid: non_nil(s.id.as_deref()),
                name: non_empty(s.username.as_deref()),
                ..OcsfUser::default()
            }
        } else {
            actor_user.clone().unwrap_or_else(OcsfUser::unknown)
        }
    };
    let user = match (class, &activity.subject) {
        (Class::Authentication, _) => Some(actor_user.clone().unwrap_or_else(target_user)),
        (Class::AccountChange | Class::UserAccess, _) => Some(target_user()),
        (Class::GroupManagement, Subject::Member(uid)) => Some(OcsfUser {
            uid: Some(uid.as_str()),
            ..OcsfUser::default()
        }),
        (Class::GroupManagement, _) if facts.resource_type == "organization_member" => {
            Some(target_user())
        }
        _ => None,
    };
    let group = (class == Class::GroupManagement).then(|| {
        let g = if facts.resource_type == "group" {
            Group {
                uid: facts.resource_id,
                name: facts.target,
            }
        } else {
            Group {
                uid: facts.organization_id,
                name: facts.organization_name,
            }
        };
        if g.uid.is_none() && g.name.is_none() {
            Group {
                uid: None,
                name: Some("unknown"),
            }
        } else {
            g
        }
    });
    let privileges = match &activity.subject {
        Subject::Privileges(p) => Some(p.as_slice()),
        _ => None,
    };

    let resource = ResourceDetails {
        uid: facts.resource_id,
        name: facts.target.or(if facts.resource_id.is_none() {
            Some(facts.resource_type)
        } else {
            None
        }),
        kind: facts.resource_type,
        owner: facts.workspace.and_then(|w| workspace_owner(&w)),
        data: facts.additional_fields().filter(|_| !trim.drop_additional),
    };
    let status_code = entry.status_code;
    let (status_id, status) = status(facts);
    let severity_id = severity(facts);
    let message = facts.message();
    let src_ip = facts.ip;
    let activity_name = activity.name();
    let operation = facts.operation();
    let multi = count > 1;
    let uid = non_empty(entry.id.as_deref()).map(|id| {
        if multi {
            Cow::Owned(format!("{id}:{index}"))
        } else {
            Cow::Borrowed(id)
        }
    });

    let labels = labels(enrich);

    let login_type = facts.user.and_then(|u| non_empty(u.login_type.as_deref()));
    let (auth_protocol_id, auth_protocol) = match (class, login_type) {
        (Class::Authentication, Some("oidc")) => (Some(4), Some("OpenID")),
        (Class::Authentication, Some("github")) => (Some(6), Some("OAUTH 2.0")),
        (Class::Authentication, Some(other)) => (Some(99), Some(other)),
        _ => (None, None),
    };

    Event {
        class_uid: class.uid(),
        class_name: class.caption(),
        category_uid: class.category_uid(),
        category_name: class.category_caption(),
        activity_id: activity.id,
        activity_name,
        type_uid: class.uid() * 100 + activity.id,
        type_name: type_name(activity),
        severity_id,
        severity: match severity_id {
            1 => "Informational",
            2 => "Low",
            3 => "Medium",
            _ => "Unknown",
        },
        time: facts.time_utc().unwrap_or(read_at).timestamp_millis(),
        timezone_offset: facts.time.map(|t| t.offset().local_minus_utc() / 60),
        status_id,
        status,
        status_code: status_code.map(Displayed),
        status_detail: status_detail(facts),
        message,
        metadata: Metadata {
            version: version.as_str(),
            uid,
            // 1.8: `uid` is this OCSF event's own id, `original_event_uid` Coder's.
            original_event_uid: non_empty(entry.id.as_deref()).filter(|_| v18),
            correlation_uid: facts.request_id,
            event_code: operation,
            log_name: "audit",
            original_time: non_empty(entry.time.as_deref()),
            processed_time: read_at.timestamp_millis(),
            product: product(enrich),
            labels,
            profiles,
            is_truncated: trim.truncation.as_ref().filter(|_| v18).map(|_| true),
            untruncated_size: trim
                .truncation
                .as_ref()
                .filter(|_| v18)
                .map(|t| t.original_bytes),
        },
        actor,
        user,
        group,
        privileges,
        resource: (class == Class::UserAccess && facts.resource_type == "organization_member")
            .then(|| ResourceDetails {
                uid: facts.organization_id,
                name: facts.organization_name.or(Some("organization")),
                kind: "organization",
                owner: None,
                data: None,
            }),
        resources: (class == Class::ApiActivity).then_some([resource]),
        api: (class == Class::ApiActivity).then(|| Api {
            operation,
            service: ApiService { name: "coderd" },
            request: facts.request_id.map(|uid| ApiRequest { uid }),
            // An exit code is no API response.
            response: facts.status.http().map(|code| ApiResponse { code }),
        }),
        is_new_logon: (class == Class::Authentication && facts.action == "register")
            .then_some(true),
        dst_endpoint: facts
            .workspace
            .filter(|_| class == Class::ApiActivity)
            .map(|w| workspace_endpoint(&w, v18)),
        service: (class == Class::Authentication).then_some(ApiService { name: "coderd" }),
        auth_protocol_id,
        auth_protocol,
        src_endpoint: if !endpoints {
            None
        } else if let Some(ip) = src_ip {
            Some(Endpoint {
                ip: Some(ip),
                place: enrich.place(Some(ip)).map(|place| OcsfPlace { place, v18 }),
                ..Endpoint::default()
            })
        } else if class == Class::ApiActivity {
            Some(Endpoint {
                svc_name: Some("coderd"),
                ..Endpoint::default()
            })
        } else {
            None
        },
        http_request: non_empty(entry.user_agent.as_deref())
            .filter(|_| endpoints)
            .map(|user_agent| HttpRequest { user_agent }),
        http_response: facts
            .status
            .http()
            .filter(|_| v18)
            .map(|code| HttpResponse { code }),
        unmapped: Unmapped {
            coder: UnmappedCoder {
                truncated: trim.truncation.as_ref().map(|_| true),
                audit_id: non_empty(entry.id.as_deref()).filter(|_| multi),
                action: facts.action,
                resource_type: facts.resource_type,
                resource_id: facts.resource_id.filter(|_| class != Class::ApiActivity),
                resource_target: facts.target.filter(|_| class != Class::ApiActivity),
                resource_icon: non_empty(entry.resource_icon.as_deref()),
                resource_link: entry.resource_link.as_deref().and_then(|l| {
                    enrich
                        .absolute_link(l)
                        .map(Cow::Owned)
                        .or_else(|| non_empty(Some(l)).map(Cow::Borrowed))
                }),
                is_deleted: entry.is_deleted,
                diff: entry
                    .diff
                    .as_ref()
                    .filter(|d| !d.is_empty())
                    .map(|d| Redacted {
                        diff: d,
                        keep: &trim.keep,
                    }),
                additional_fields: facts
                    .additional_fields()
                    .filter(|_| class != Class::ApiActivity && !trim.drop_additional),
                actor_roles: &facts.role_names,
                actor_status: facts.user.and_then(|u| non_empty(u.status.as_deref())),
                actor_email: user_email,
                actor_login_type: login_type,
                user_agent: non_empty(entry.user_agent.as_deref()).filter(|_| !endpoints),
                ip: non_empty(entry.ip.as_deref()).filter(|_| !endpoints || src_ip.is_none()),
                automatic_reason: facts.automatic_reason(),
                organization: facts.user.is_none().then(|| org(facts)).flatten(),
                deployment: enrich.deployment.as_deref(),
                truncation: trim.truncation.as_ref(),
                workspace: looked_up::workspace(facts.context),
                template: looked_up::template(facts.context),
                organization_display_name: looked_up::organization_display_name(facts.context),
            },
        },
    }
}

/// The workspace as the endpoint an API call acted on, named as connection events name it
/// (`dst_endpoint.uid` / `name`), so sessions and builds join on the same fields.
fn workspace_endpoint<'a>(w: &facts::Workspace<'a>, v18: bool) -> Endpoint<'a> {
    Endpoint {
        uid: w.id,
        name: w.name,
        owner: workspace_owner(w).filter(|_| v18),
        ..Endpoint::default()
    }
}

fn workspace_owner<'a>(w: &facts::Workspace<'a>) -> Option<OcsfUser<'a>> {
    (w.owner_id.is_some() || w.owner_name.is_some()).then(|| OcsfUser {
        uid: w.owner_id,
        name: w.owner_name,
        ..OcsfUser::default()
    })
}

fn org<'a>(facts: &Facts<'a>) -> Option<Org<'a>> {
    (facts.organization_id.is_some() || facts.organization_name.is_some()).then_some(Org {
        uid: facts.organization_id,
        name: facts.organization_name,
    })
}
