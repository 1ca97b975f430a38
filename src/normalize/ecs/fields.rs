//! The shape of an ECS document as this crate emits it: borrowed structs serialized in one
//! pass, every optional field left out when empty. [`super::document`] fills them.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;
use serde_json::Value;

use crate::coder::JsonText;
use crate::normalize::Truncation;
use crate::normalize::diff::{self, Redacted};
use crate::normalize::geoip::EcsPlace;
use crate::normalize::looked_up::{TemplateView, WorkspaceView};
use crate::normalize::text::Joined;
use crate::normalize::time::Stamp;

#[derive(Serialize)]
pub struct Document<'a> {
    #[serde(rename = "@timestamp")]
    pub(super) timestamp: Stamp,
    pub(super) ecs: Ecs,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) message: Option<Cow<'a, str>>,
    pub(super) event: EventFields<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) user: Option<UserFields<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) group: Option<GroupFields<'a>>,
    /// The workspace, as connection events name it (`host.name`, `host.id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) host: Option<Host<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) source: Option<Source<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) user_agent: Option<UserAgent<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) organization: Option<Organization<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) http: Option<Http<'a>>,
    #[serde(skip_serializing_if = "Related::is_empty")]
    pub(super) related: Related<'a>,
    pub(super) service: Service<'a>,
    pub(super) observer: Observer<'a>,
    pub(super) labels: BTreeMap<&'a str, &'a str>,
    pub(super) tags: Tags<'a>,
    pub(super) coder: CoderFields<'a>,
}

/// `tags`: `coder` and `audit`, then the operator's (`[normalize] tags`), written as one
/// list without building one per event.
pub(super) struct Tags<'a> {
    pub(super) operator: &'a [String],
}

impl Serialize for Tags<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(2 + self.operator.len()))?;
        for tag in ["coder", "audit"]
            .into_iter()
            .chain(self.operator.iter().map(String::as_str))
        {
            seq.serialize_element(tag)?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
pub(super) struct Ecs {
    pub(super) version: &'static str,
}

#[derive(Serialize)]
pub(super) struct EventFields<'a> {
    pub(super) kind: &'static str,
    pub(super) category: &'static [&'static str],
    #[serde(rename = "type")]
    pub(super) kind_type: &'static [&'static str],
    pub(super) action: Joined<'a, 3>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) outcome: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) id: Option<&'a str>,
    pub(super) created: Stamp,
    pub(super) dataset: &'static str,
    pub(super) module: &'static str,
    pub(super) provider: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) url: Option<String>,
    pub(super) severity: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) reason: Option<Cow<'a, str>>,
}

#[derive(Serialize)]
pub(super) struct UserFields<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) full_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) target: Option<UserTarget<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) changes: Option<UserChanges<'a>>,
}

impl UserFields<'_> {
    pub(super) fn is_empty(&self) -> bool {
        self.id.is_none()
            && self.name.is_none()
            && self.email.is_none()
            && self.full_name.is_none()
            && self.target.is_none()
            && self.changes.is_none()
    }
}

#[derive(Serialize)]
pub(super) struct UserTarget<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<&'a str>,
    /// From `[enrich.coder]`'s look-up of the user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) full_name: Option<&'a str>,
}

/// `user.changes.*`: the new values of a user resource's diff (ECS: "fields that changed
/// on the user, with their new value").
#[derive(Serialize)]
pub(super) struct UserChanges<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) full_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) roles: Vec<&'a str>,
}

impl<'a> UserChanges<'a> {
    pub(super) fn of(d: Option<&'a JsonText>) -> Self {
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

    pub(super) fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.email.is_none()
            && self.full_name.is_none()
            && self.roles.is_empty()
    }
}

#[derive(Serialize)]
pub(super) struct GroupFields<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<&'a str>,
}

#[derive(Serialize)]
pub(super) struct Host<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<&'a str>,
}

#[derive(Serialize)]
pub(super) struct Source<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) ip: Option<IpAddr>,
    pub(super) address: &'a str,
    /// `source.geo` and `source.as` (`[enrich.geoip]`).
    #[serde(flatten)]
    pub(super) place: Option<EcsPlace>,
}

#[derive(Serialize)]
pub(super) struct UserAgent<'a> {
    pub(super) original: &'a str,
}

#[derive(Serialize)]
pub(super) struct Organization<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<&'a str>,
}

#[derive(Serialize)]
pub(super) struct Http<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) request: Option<HttpRequest<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) response: Option<HttpResponse>,
}

#[derive(Serialize)]
pub(super) struct HttpRequest<'a> {
    pub(super) id: &'a str,
}

#[derive(Serialize)]
pub(super) struct HttpResponse {
    pub(super) status_code: i64,
}

#[derive(Serialize)]
pub(super) struct Related<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) user: Vec<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub(super) ip: &'a [IpAddr],
}

impl Related<'_> {
    pub(super) fn is_empty(&self) -> bool {
        self.user.is_empty() && self.ip.is_empty()
    }
}

#[derive(Serialize)]
pub(super) struct Service<'a> {
    pub(super) name: &'static str,
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) version: Option<&'a str>,
}

#[derive(Serialize)]
pub(super) struct Observer<'a> {
    pub(super) vendor: &'static str,
    pub(super) product: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) version: Option<&'a str>,
}

#[derive(Serialize)]
pub(super) struct CoderFields<'a> {
    /// The event is not the whole entry: see `coder.audit.truncation`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) truncated: Option<bool>,
    pub(super) audit: CoderAudit<'a>,
    /// `[enrich.coder]`: the workspace's template and owner e-mail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) workspace: Option<WorkspaceView<'a>>,
    /// `[enrich.coder]`: the template the entry is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) template: Option<TemplateView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) organization: Option<CoderOrganization<'a>>,
}

/// `coder.audit.*`: Coder's own fields, for search and for what ECS cannot say. Map
/// `diff` and `additional_fields` as `flattened` in Elasticsearch.
/// `coder.organization.*`: what ECS `organization.*` has no field for.
#[derive(Serialize)]
pub(super) struct CoderOrganization<'a> {
    pub(super) display_name: &'a str,
}

#[derive(Serialize)]
pub(super) struct CoderAudit<'a> {
    pub(super) action: &'a str,
    pub(super) resource: Resource<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) diff: Option<Redacted<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) additional_fields: Option<&'a JsonText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) request_id: Option<&'a str>,
    /// A status that is neither an HTTP status nor an exit code, as Coder sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) status_code: Option<i64>,
    /// The exit code of an agent session's process (v2.20–v2.24 disconnects).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) exit_code: Option<i64>,
    /// The signal of an exit code 128 + n (`SIGKILL` for 137).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) exit_signal: Option<&'static str>,
    /// `time` as Coder sent it, only when it did not parse (`@timestamp` is then the read time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) original_time: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) user: Option<CoderUser<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) truncation: Option<&'a Truncation>,
    /// `ip` as Coder sent it, when it is not the source: no address (`source.*` is then
    /// absent), or the loopback Coder records for its own scheduled builds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) ip: Option<&'a str>,
}

#[derive(Serialize)]
pub(super) struct Resource<'a> {
    #[serde(rename = "type")]
    pub(super) kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) icon: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) link: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) is_deleted: Option<bool>,
}

#[derive(Serialize)]
pub(super) struct CoderUser<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) login_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) status: Option<&'a str>,
    /// The acting user's roles as Coder reads them now, not at the event: ECS defines
    /// `user.roles` as "at the time of the event", which Coder cannot say.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub(super) roles: &'a [&'a str],
}
