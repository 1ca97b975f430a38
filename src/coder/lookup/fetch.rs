//! The requests of a look-up: one `GET` per id, asked once and never retried here (a
//! look-up that fails ships its events without it; the cache remembers the failure for a
//! while so a sick Coder is not asked again for every page), and the permission check.
//!
//! Endpoints (`coder-api/swagger.json`, present with the same fields since v2.15):
//! `GET /api/v2/workspaces/{workspace}`, `/api/v2/templates/{template}`,
//! `/api/v2/organizations/{organization}`, `/api/v2/users/{user}`, each by UUID.

use std::sync::Arc;

use super::super::budget::Purpose;
use super::super::call::Call;
use super::super::context::{Found, OrganizationInfo, TemplateInfo, UserInfo, WorkspaceInfo};
use super::super::{CoderClient, CoderError};

/// What a look-up asks Coder about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Workspace,
    Template,
    Organization,
    User,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::Workspace,
        Kind::Template,
        Kind::Organization,
        Kind::User,
    ];

    /// Its place in [`Kind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The `kind` label of `enrich_lookups_total`, and Coder's RBAC resource type.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Workspace => "workspace",
            Kind::Template => "template",
            Kind::Organization => "organization",
            Kind::User => "user",
        }
    }

    fn collection(self) -> &'static str {
        match self {
            Kind::Workspace => "workspaces",
            Kind::Template => "templates",
            Kind::Organization => "organizations",
            Kind::User => "users",
        }
    }

    fn parse(self, body: &[u8]) -> Result<Found, serde_json::Error> {
        Ok(match self {
            Kind::Workspace => {
                Found::Workspace(Arc::new(serde_json::from_slice::<WorkspaceInfo>(body)?))
            }
            Kind::Template => {
                Found::Template(Arc::new(serde_json::from_slice::<TemplateInfo>(body)?))
            }
            Kind::Organization => {
                Found::Organization(Arc::new(serde_json::from_slice::<OrganizationInfo>(body)?))
            }
            Kind::User => Found::User(Arc::new(serde_json::from_slice::<UserInfo>(body)?)),
        })
    }
}

/// Coder's answer to one look-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Found(Found),
    /// 404: deleted, or never there. For a workspace this also means "not yours to read":
    /// Coder answers 404, not 403, for a resource the user may not read
    /// (`coderd/httpapi`, `Is404Error`: "Both actual 404s and unauthorized errors should
    /// return 404s to not leak information about the existence of resources"), which is
    /// why workspaces are looked up only after `authcheck` said they may be read.
    Gone,
}

/// An id fit to put in a path: a UUID, as every id these endpoints take is. Anything else
/// (an empty string, a name) is not looked up.
pub fn is_uuid(id: &str) -> bool {
    uuid::Uuid::try_parse(id).is_ok_and(|u| !u.is_nil())
}

impl CoderClient {
    /// Ask Coder once what `id` names. Every failure is counted in
    /// `coder_errors_total` like any other request's.
    pub async fn look_up(&self, kind: Kind, id: &str) -> Result<Answer, CoderError> {
        let path = format!("api/v2/{}/{id}", kind.collection());
        // A deleted workspace still names its template and owner: `include_deleted`
        // (swagger, `GET /workspaces/{workspace}`, since v2.15 at least) asks for it.
        let params = [("include_deleted", "true".to_owned())];
        let call = Call {
            purpose: Purpose::Lookup,
            params: if kind == Kind::Workspace {
                &params
            } else {
                &[]
            },
            ..Call::control(&path)
        };
        let answer = match self.get_once(&call).await {
            Ok(body) => kind
                .parse(&body.into_bytes())
                .map(Answer::Found)
                .map_err(|e| CoderError::Malformed {
                    path: format!("/api/v2/{}/{{id}}", kind.collection()),
                    reason: e.to_string(),
                }),
            Err(CoderError::NotFound { .. }) => Ok(Answer::Gone),
            Err(e) => Err(e),
        };
        if let Err(e) = &answer {
            crate::ops::metrics::coder_error(e.kind());
        }
        answer
    }

    /// Whether the token's user may read every workspace (`POST /api/v2/authcheck`, the
    /// site-wide check). The Auditor role may not (`coderd/rbac/roles.go`: templates,
    /// users, groups and the audit log, no workspaces), and Coder hides what a user may
    /// not read behind 404, so without this a look-up could not tell "deleted" from
    /// "not yours".
    pub async fn may_read_workspaces(&self) -> Result<bool, CoderError> {
        const CHECKS: &str =
            r#"{"checks":{"site":{"object":{"resource_type":"workspace"},"action":"read"}}}"#;
        let call = Call {
            post: Some(CHECKS),
            ..Call::control("api/v2/authcheck")
        };
        self.get_parsed(call, |body| {
            let answer: std::collections::HashMap<String, bool> =
                serde_json::from_slice(&body.into_bytes()).map_err(|e| e.to_string())?;
            Ok(answer.get("site").copied().unwrap_or(false))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_uuids_are_looked_up() {
        assert!(is_uuid("05567e23-31e2-4c00-bd05-4d499d437347"));
        assert!(!is_uuid("00000000-0000-0000-0000-000000000000"));
        assert!(!is_uuid(""));
        assert!(!is_uuid("../users/me"));
        assert!(!is_uuid("alice"));
    }

    #[test]
    fn answers_are_read_leniently() {
        let Ok(Found::Workspace(w)) = Kind::Workspace
            .parse(br#"{"id":"x","template_name":"docker","owner_name":7,"extra":{}}"#)
        else {
            panic!("a workspace");
        };
        assert_eq!(w.template_name.as_deref(), Some("docker"));
        assert_eq!(w.owner_name, None, "a field of another type reads as None");
        assert!(Kind::Template.parse(b"\"text\"").is_err(), "not an object");
        let Ok(Found::User(u)) = Kind::User.parse(br#"{"id":"u","email":"a@b.example"}"#) else {
            panic!("a user");
        };
        assert_eq!(u.email.as_deref(), Some("a@b.example"));
    }
}
