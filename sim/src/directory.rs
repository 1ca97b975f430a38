//! What the ids in the simulator's entries name: `GET /api/v2/workspaces/{id}`,
//! `/templates/{id}`, `/organizations/{id}` and `/users/{id}`, answered as Coder answers
//! them (`coder-api/swagger.json`: `codersdk.Workspace`, `Template`, `Organization`, `User`;
//! only the fields the shipper reads, and a few it does not).
//!
//! - A workspace the token's user may not read is a **404**, like a deleted one: Coder's
//!   `httpapi.Is404Error` treats an authorization error as not found "to not leak
//!   information about the existence of resources". Whether the user may read workspaces
//!   is what `authcheck` answers ([`crate::authcheck`]); by default it may not, as for the
//!   Auditor role (`coderd/rbac/roles.go`: templates, users, groups, the audit log).
//! - `include_deleted=true` on a workspace is accepted and changes nothing here: a
//!   workspace the simulator deletes is gone for good (Coder keeps soft-deleted ones).
//! - A deleted resource is a 404 `{"message":"Resource not found or you do not have access
//!   to this resource"}` (`httpapi.ResourceNotFoundResponse`).
//! - Look-ups share the rate limiter, keyed by user and the route's pattern (go-chi's
//!   normalized path; that the pattern, not the concrete path, is the key is unverified).
//! - [`crate::SimHandle::push_lookup_fault`] serves a 403, 429, 5xx or a slow answer to the
//!   next look-ups (a 403 is what a proxy or a scoped token might answer; Coder itself
//!   answers 404, see above).
//!
//! The generator's workspace builds name one of [`WORKSPACES`] workspaces, each owned by
//! one of three people and made from one of [`TEMPLATES`] templates.

use std::collections::HashSet;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::server::{AuditParams, Fault, SimHandle, token_from, unauthorized};

/// How many workspaces the generated entries name.
pub const WORKSPACES: usize = 500;
/// How many templates they are made from.
pub const TEMPLATES: usize = 4;

pub const ORG_ID: &str = "2e1105ea-9827-41ef-8e19-fb7f93dac993";
/// The user the generator's `user_suspend` entries act on.
pub const MALLORY_ID: &str = "9b2f6a1c-3d4e-4f50-8a61-7b8c9d0e1f23";

/// The people of the generator, as `(id, username, name, email)`.
pub const PEOPLE: [(&str, &str, &str, &str); 4] = [
    (
        "70d43e6e-5e1b-4875-b07a-91a1f6a399c0",
        "alice",
        "Alice Nguyen",
        "alice@acme.example",
    ),
    (
        "0f5a5b6c-1a9e-4b1e-9d55-3d2b7e1c9a01",
        "bob",
        "Bob Okafor",
        "bob@acme.example",
    ),
    (
        "5c1d8e2f-7b3a-4c6d-8e9f-0a1b2c3d4e5f",
        "carol",
        "",
        "carol@acme.example",
    ),
    (
        MALLORY_ID,
        "mallory",
        "Mallory Quinn",
        "mallory@acme.example",
    ),
];

/// The id of workspace `n` (0-based).
pub fn workspace_id(n: usize) -> String {
    format!("7e57c0de-0000-4000-8000-{:012x}", n + 1)
}

/// The id of template `n` (0-based).
pub fn template_id(n: usize) -> String {
    format!("7e57c0de-0000-4000-9000-{:012x}", n + 1)
}

/// Which workspace an entry names, from its id (no draw from the seeded generator, so
/// adding this changed no other generated value).
pub fn workspace_for(entry_id: &str) -> usize {
    let hash = entry_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    usize::try_from(hash % WORKSPACES as u64).unwrap_or(0)
}

fn index_of(id: &str, prefix: &str, count: usize) -> Option<usize> {
    let n = usize::from_str_radix(id.strip_prefix(prefix)?, 16).ok()?;
    (1..=count).contains(&n).then(|| n - 1)
}

fn template(n: usize) -> Value {
    let names = ["docker-dev", "k8s-gpu", "aws-windows", "jetbrains-ide"];
    let name = names[n % names.len()];
    json!({
        "id": template_id(n), "name": name, "display_name": format!("Template {name}"),
        "active_version_id": format!("7e57c0de-0000-4000-a000-{:012x}", n + 1),
        "organization_id": ORG_ID, "organization_name": "coder",
        "organization_display_name": "Coder", "provisioner": "terraform", "deleted": false
    })
}

fn workspace(n: usize) -> Value {
    let (owner_id, owner_name, ..) = PEOPLE[n % 3];
    let t = template(n % TEMPLATES);
    json!({
        "id": workspace_id(n), "name": format!("ws-{n}"),
        "owner_id": owner_id, "owner_name": owner_name,
        "organization_id": ORG_ID, "organization_name": "coder",
        "template_id": t["id"], "template_name": t["name"],
        "template_display_name": t["display_name"],
        "template_active_version_id": t["active_version_id"],
        "outdated": false, "ttl_ms": 28_800_000, "latest_build": {"status": "running"}
    })
}

/// A workspace of the connection rows (`crate::connections`), made from the first template.
fn connection_workspace(id: &str) -> Option<Value> {
    let (id, name, owner_id, owner) = crate::connections::WORKSPACES.iter().find(|w| w.0 == id)?;
    let mut w = workspace(0);
    w["id"] = json!(id);
    w["name"] = json!(name);
    w["owner_id"] = json!(owner_id);
    w["owner_name"] = json!(owner);
    Some(w)
}

fn user(id: &str) -> Option<Value> {
    let (id, username, name, email) = PEOPLE.iter().find(|p| p.0 == id)?;
    Some(json!({
        "id": id, "username": username, "name": name, "email": email,
        "status": "active", "login_type": "oidc", "roles": [], "organization_ids": [ORG_ID]
    }))
}

/// What the directory knows, and how it answers.
#[derive(Debug, Default)]
pub struct Directory {
    /// Ids answered 404 from now on.
    pub deleted: HashSet<String>,
    /// `authcheck`'s answer for reading workspaces, and whether they are served.
    pub workspaces_readable: bool,
    /// What the next look-ups are answered with instead.
    pub faults: std::collections::VecDeque<Fault>,
    /// Look-up requests served, by collection (`workspaces`, …).
    pub requests: std::collections::BTreeMap<String, u64>,
}

impl Directory {
    fn find(&self, collection: &str, id: &str) -> Option<Value> {
        if self.deleted.contains(id) {
            return None;
        }
        match collection {
            "workspaces" if self.workspaces_readable => {
                index_of(id, "7e57c0de-0000-4000-8000-", WORKSPACES)
                    .map(workspace)
                    .or_else(|| connection_workspace(id))
            }
            "templates" => index_of(id, "7e57c0de-0000-4000-9000-", TEMPLATES).map(template),
            "organizations" if id == ORG_ID => Some(json!({
                "id": ORG_ID, "name": "coder", "display_name": "Coder",
                "description": "", "icon": "", "is_default": true
            })),
            "users" => user(id),
            _ => None,
        }
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(
            json!({"message": "Resource not found or you do not have access to this resource"}),
        ),
    )
        .into_response()
}

pub(crate) async fn workspace_route(
    State(sim): State<SimHandle>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    look_up(&sim, "workspaces", &id, &headers).await
}

pub(crate) async fn template_route(
    State(sim): State<SimHandle>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    look_up(&sim, "templates", &id, &headers).await
}

pub(crate) async fn organization_route(
    State(sim): State<SimHandle>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    look_up(&sim, "organizations", &id, &headers).await
}

pub(crate) async fn user_route(
    State(sim): State<SimHandle>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    look_up(&sim, "users", &id, &headers).await
}

/// `GET /api/v2/{collection}/{id}` for the four look-ups.
async fn look_up(sim: &SimHandle, collection: &str, id: &str, headers: &HeaderMap) -> Response {
    let fault = {
        let mut inner = sim.lock();
        let token = token_from(headers, &AuditParams::default(), inner.config.version);
        let Some(token) = token.filter(|t| inner.tokens.contains(t)) else {
            return unauthorized();
        };
        *inner
            .directory
            .requests
            .entry(collection.to_owned())
            .or_default() += 1;
        let key = format!("{token} /api/v2/{collection}/{{id}}");
        if let Some(limited) = inner.limited(&key) {
            return limited;
        }
        inner.directory.faults.pop_front()
    };
    if let Some(answer) = crate::server::fault_response(fault.as_ref()).await {
        return answer;
    }
    // Path ids are UUIDs (chi's `{workspace}` param parsed by `httpmw`): anything else is
    // a 400 in Coder; here, not found.
    let found = sim.lock().directory.find(collection, id);
    match found {
        Some(v) => axum::Json(v).into_response(),
        None => not_found(),
    }
}
