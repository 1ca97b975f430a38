//! `POST /api/v2/authcheck`: which of the given checks the token's user passes.
//!
//! Coder's `checkAuthorization` (`coderd/authorize.go`) answers a map keyed as the request's
//! `checks`, each `{object:{resource_type, organization_id?, owner_id?, any_org?}, action}`
//! evaluated against the user's roles, always with 200 (a 400 for a malformed body). Here
//! the user may read `audit_log` always, `connection_log` while the simulator says so
//! ([`crate::SimHandle::set_connection_log_permitted`]), workspaces while it says so
//! ([`crate::SimHandle::set_workspaces_readable`]), and nothing else.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::server::{AuditParams, SimHandle, token_from, unauthorized};

#[derive(Deserialize)]
pub(crate) struct Request {
    checks: HashMap<String, Check>,
}

#[derive(Deserialize)]
struct Check {
    object: Object,
    action: String,
}

#[derive(Deserialize)]
struct Object {
    resource_type: String,
}

pub(crate) async fn authcheck(
    State(sim): State<SimHandle>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let inner = sim.lock();
    let token = token_from(&headers, &AuditParams::default(), inner.config.version);
    if !token.is_some_and(|t| inner.tokens.contains(&t)) {
        return unauthorized();
    }
    let Ok(request) = serde_json::from_slice::<Request>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"message": "Request body must be valid JSON."})),
        )
            .into_response();
    };
    let answer: HashMap<String, bool> = request
        .checks
        .into_iter()
        .map(|(key, check)| {
            let allowed = check.action == "read"
                && match check.object.resource_type.as_str() {
                    "audit_log" => true,
                    "connection_log" => inner.connection_log_permitted,
                    // Site-wide workspace read: not the Auditor's (`coderd/rbac/roles.go`).
                    "workspace" => inner.directory.workspaces_readable,
                    _ => false,
                };
            (key, allowed)
        })
        .collect();
    axum::Json(answer).into_response()
}
