//! The shape of an OCSF event as this crate emits it: borrowed structs serialized in one
//! pass, every optional attribute left out when empty. [`super::event`] fills them.

use crate::normalize::looked_up::{TemplateView, WorkspaceView};
use std::borrow::Cow;
use std::net::IpAddr;

use serde::Serialize;

use crate::coder::JsonText;
use crate::normalize::Truncation;
use crate::normalize::diff::Redacted;
use crate::normalize::geoip::OcsfPlace;
use crate::normalize::text::{Displayed, Joined};

#[derive(Serialize)]
pub struct Event<'a> {
    pub(super) class_uid: u32,
    pub(super) class_name: &'static str,
    pub(super) category_uid: u32,
    pub(super) category_name: &'static str,
    pub(super) activity_id: u32,
    pub(super) activity_name: &'a str,
    pub(super) type_uid: u32,
    pub(super) type_name: Joined<'static, 3>,
    pub(super) severity_id: u32,
    pub(super) severity: &'static str,
    pub(super) time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) timezone_offset: Option<i32>,
    pub(super) status_id: u32,
    pub(super) status: Cow<'static, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) status_code: Option<Displayed<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) status_detail: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) message: Option<Cow<'a, str>>,
    pub(super) metadata: Metadata<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) actor: Option<Actor<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) user: Option<OcsfUser<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) group: Option<Group<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) privileges: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) resource: Option<ResourceDetails<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) resources: Option<[ResourceDetails<'a>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) api: Option<Api<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) service: Option<ApiService>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) auth_protocol_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) auth_protocol: Option<&'a str>,
    /// A first logon: `register`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) is_new_logon: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) src_endpoint: Option<Endpoint<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) dst_endpoint: Option<Endpoint<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) http_request: Option<HttpRequest<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) http_response: Option<HttpResponse>,
    pub(super) unmapped: Unmapped<'a>,
}

#[derive(Serialize)]
pub(in crate::normalize) struct Metadata<'a> {
    pub(in crate::normalize) version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::normalize) uid: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::normalize) original_event_uid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::normalize) correlation_uid: Option<&'a str>,
    pub(in crate::normalize) event_code: Joined<'a, 3>,
    pub(in crate::normalize) log_name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::normalize) original_time: Option<&'a str>,
    pub(in crate::normalize) processed_time: i64,
    pub(in crate::normalize) product: Product<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(in crate::normalize) labels: Vec<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(in crate::normalize) profiles: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::normalize) is_truncated: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::normalize) untruncated_size: Option<usize>,
}

#[derive(Serialize)]
pub(in crate::normalize) struct Product<'a> {
    pub(in crate::normalize) name: &'static str,
    pub(in crate::normalize) vendor_name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::normalize) version: Option<&'a str>,
}

#[derive(Serialize, Default)]
pub(in crate::normalize) struct Actor<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::normalize) user: Option<OcsfUser<'a>>,
    /// 1.2+.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::normalize) app_name: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::normalize) invoked_by: Option<&'a str>,
}

#[derive(Serialize, Clone, Default)]
pub(in crate::normalize) struct OcsfUser<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::normalize) uid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::normalize) name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::normalize) email_addr: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::normalize) full_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::normalize) type_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::normalize) org: Option<Org<'a>>,
}

impl OcsfUser<'_> {
    /// A required `user` nobody can name (a failed login with no such user).
    pub(super) fn unknown() -> Self {
        OcsfUser {
            name: Some("unknown"),
            ..OcsfUser::default()
        }
    }
}

#[derive(Serialize, Clone)]
pub(in crate::normalize) struct Org<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::normalize) uid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::normalize) name: Option<&'a str>,
}

#[derive(Serialize)]
pub(super) struct Group<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) uid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<&'a str>,
}

#[derive(Serialize)]
pub(super) struct ResourceDetails<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) uid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<&'a str>,
    #[serde(rename = "type")]
    pub(super) kind: &'a str,
    /// The workspace owner, for an entry about a workspace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) owner: Option<OcsfUser<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) data: Option<&'a JsonText>,
}

#[derive(Serialize)]
pub(super) struct Api<'a> {
    pub(super) operation: Joined<'a, 3>,
    pub(super) service: ApiService,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) request: Option<ApiRequest<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) response: Option<ApiResponse>,
}

#[derive(Serialize)]
pub(super) struct ApiService {
    pub(super) name: &'static str,
}

#[derive(Serialize)]
pub(super) struct ApiRequest<'a> {
    pub(super) uid: &'a str,
}

#[derive(Serialize)]
pub(super) struct ApiResponse {
    pub(super) code: i64,
}

#[derive(Serialize, Default)]
pub(in crate::normalize) struct Endpoint<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::normalize) uid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::normalize) name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::normalize) ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::normalize) svc_name: Option<&'static str>,
    /// 1.6+.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(in crate::normalize) owner: Option<OcsfUser<'a>>,
    /// `location` and `autonomous_system` (`[enrich.geoip]`).
    #[serde(flatten)]
    pub(in crate::normalize) place: Option<OcsfPlace>,
}

#[derive(Serialize)]
pub(super) struct HttpRequest<'a> {
    pub(super) user_agent: &'a str,
}

#[derive(Serialize)]
pub(super) struct HttpResponse {
    pub(super) code: i64,
}

#[derive(Serialize)]
pub(super) struct Unmapped<'a> {
    pub(super) coder: UnmappedCoder<'a>,
}

/// `unmapped.coder.*`: what the class has no attribute for.
#[derive(Serialize)]
pub(super) struct UnmappedCoder<'a> {
    /// The event is not the whole entry: see `truncation`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) truncated: Option<bool>,
    /// The audit id, when one entry gave several events (`metadata.uid` is then suffixed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) audit_id: Option<&'a str>,
    pub(super) action: &'a str,
    pub(super) resource_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) resource_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) resource_target: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) resource_icon: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) resource_link: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) is_deleted: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) diff: Option<Redacted<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) additional_fields: Option<&'a JsonText>,
    /// The actor's role names, as Coder reads them now (not at the event).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub(super) actor_roles: &'a [&'a str],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) actor_status: Option<&'a str>,
    /// The actor's e-mail as Coder has it, when it is no OCSF `email_t` (see
    /// [`super::ocsf_types`]); `actor.user.email_addr` holds it otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) actor_email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) actor_login_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) user_agent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) ip: Option<&'a str>,
    /// Why Coder acted on its own (`autostart`, `dormancy`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) automatic_reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) organization: Option<Org<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) deployment: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) truncation: Option<&'a Truncation>,
    /// `[enrich.coder]`: the workspace's template and owner e-mail, which no class has
    /// attributes for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) workspace: Option<WorkspaceView<'a>>,
    /// `[enrich.coder]`: the template the entry is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) template: Option<TemplateView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) organization_display_name: Option<&'a str>,
}
