//! What Coder says about the ids an entry names, looked up by [`super::lookup`]: a
//! workspace's template and owner, a template's names, an organization's names, a user's
//! e-mail. An entry carries this beside what it came with ([`super::AuditEntry::context`],
//! [`super::ConnectionLog::context`]); the normalizers use it only where the entry itself
//! says nothing, so an entry never loses what Coder recorded in it.
//!
//! Each shape is read leniently from Coder's JSON (`codersdk.Workspace`, `Template`,
//! `Organization`, `User` in `coder-api/swagger.json`, the same fields since v2.15): a field
//! that is missing or of another type is `None`.

use std::sync::Arc;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// `GET /api/v2/workspaces/{id}`: the fields an analyst asks about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct WorkspaceInfo {
    #[serde(deserialize_with = "lenient")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub name: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub owner_id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub owner_name: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub organization_id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub organization_name: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub template_id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub template_name: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub template_display_name: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub template_active_version_id: Option<String>,
}

/// `GET /api/v2/templates/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct TemplateInfo {
    #[serde(deserialize_with = "lenient")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub name: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub display_name: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub active_version_id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub organization_id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub organization_name: Option<String>,
}

/// `GET /api/v2/organizations/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct OrganizationInfo {
    #[serde(deserialize_with = "lenient")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub name: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub display_name: Option<String>,
}

/// `GET /api/v2/users/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct UserInfo {
    #[serde(deserialize_with = "lenient")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub username: Option<String>,
    /// The full name.
    #[serde(deserialize_with = "lenient")]
    pub name: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub email: Option<String>,
}

/// A string, or `None` for any other JSON value: one odd field never costs the rest.
fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        _ => None,
    })
}

/// One looked-up resource, as the cache holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Workspace(Arc<WorkspaceInfo>),
    Template(Arc<TemplateInfo>),
    Organization(Arc<OrganizationInfo>),
    User(Arc<UserInfo>),
}

impl Found {
    /// About how many bytes the cache holds for it: the strings and the structs.
    pub fn weight(&self) -> usize {
        fn len(s: &[&Option<String>]) -> usize {
            s.iter().map(|s| s.as_ref().map_or(0, String::len)).sum()
        }
        let (strings, shell) = match self {
            Found::Workspace(w) => (
                len(&[
                    &w.id,
                    &w.name,
                    &w.owner_id,
                    &w.owner_name,
                    &w.organization_id,
                    &w.organization_name,
                    &w.template_id,
                    &w.template_name,
                    &w.template_display_name,
                    &w.template_active_version_id,
                ]),
                size_of::<WorkspaceInfo>(),
            ),
            Found::Template(t) => (
                len(&[
                    &t.id,
                    &t.name,
                    &t.display_name,
                    &t.active_version_id,
                    &t.organization_id,
                    &t.organization_name,
                ]),
                size_of::<TemplateInfo>(),
            ),
            Found::Organization(o) => (
                len(&[&o.id, &o.name, &o.display_name]),
                size_of::<OrganizationInfo>(),
            ),
            Found::User(u) => (
                len(&[&u.id, &u.username, &u.name, &u.email]),
                size_of::<UserInfo>(),
            ),
        };
        strings + shell
    }
}

/// What the look-ups found for one entry. Every part is optional: a look-up that is off,
/// timed out, failed or found the resource gone leaves its part empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoderContext {
    /// The workspace the entry is about (a workspace, its build, agent or app; a
    /// connection's workspace).
    pub workspace: Option<Arc<WorkspaceInfo>>,
    /// The template the entry is about (`resource_type = "template"`).
    pub template: Option<Arc<TemplateInfo>>,
    /// The entry's organization, when the entry names it only by id.
    pub organization: Option<Arc<OrganizationInfo>>,
    /// The user the entry acted on (`resource_type = "user"`), named only by id.
    pub user: Option<Arc<UserInfo>>,
    /// The workspace's owner (for the e-mail, which neither log records).
    pub owner: Option<Arc<UserInfo>>,
}

impl CoderContext {
    pub fn is_empty(&self) -> bool {
        self == &CoderContext::default()
    }
}
