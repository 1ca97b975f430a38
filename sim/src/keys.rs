//! `GET /api/v2/users/me/keys/{keyid}`: one of the caller's API keys (`codersdk.APIKey`).
//!
//! A session token is `<10-char id>-<22-char secret>` and the id names its key
//! (`coderd/apikey.go`, `apiKeyByID`). The answer carries `expires_at`, which a tailer
//! reads to warn before its token lapses: since about v2.35 API tokens no longer extend
//! their expiry with use. An id that is not one of the caller's keys is a 404.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::server::{AuditParams, SimHandle, token_from, unauthorized};

pub(crate) async fn api_key(
    State(sim): State<SimHandle>,
    Path(keyid): Path<String>,
    headers: HeaderMap,
) -> Response {
    let inner = sim.lock();
    let token = token_from(&headers, &AuditParams::default(), inner.config.version);
    let Some(token) = token.filter(|t| inner.tokens.contains(t)) else {
        return unauthorized();
    };
    if token.split_once('-').map(|(id, _)| id) != Some(keyid.as_str()) {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(
                json!({"message": "Resource not found or you do not have access to this resource"}),
            ),
        )
            .into_response();
    }
    let expires = inner.token_expires_at;
    let created = expires - chrono::TimeDelta::days(30);
    axum::Json(json!({
        "id": keyid,
        "user_id": "00000000-0000-0000-0000-000000000001",
        "created_at": created,
        "updated_at": created,
        "last_used": chrono::Utc::now(),
        "expires_at": expires,
        "login_type": "token",
        "scope": "all",
        "scopes": ["all"],
        "token_name": "coder-audit-shipper",
        "lifetime_seconds": (expires - created).num_seconds(),
    }))
    .into_response()
}
