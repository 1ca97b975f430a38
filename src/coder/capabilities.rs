//! What the client asks Coder about itself and the token, besides the logs: the version,
//! the licence, whether the connection log is served and may be read, and when the token
//! expires. Each is one request; none of them moves a cursor.

use serde::Deserialize;

use super::budget::Purpose;
use super::call::Call;
use super::client::{BuildInfo, CoderClient, OnTimeout};
use super::{CoderError, Stream};

impl CoderClient {
    pub async fn buildinfo(&self) -> Result<BuildInfo, CoderError> {
        self.get_parsed(Call::control("api/v2/buildinfo"), |body| {
            serde_json::from_slice(&body.into_bytes()).map_err(|e| e.to_string())
        })
        .await
    }

    /// The `audit_log` feature of `GET /api/v2/entitlements`: its `entitlement`
    /// (`entitled`, `grace_period`, `not_entitled`) and `enabled`. `None` from a server
    /// without the route (an AGPL build answers 404; it never records audit entries).
    pub async fn audit_entitlement(&self) -> Result<Option<(String, bool)>, CoderError> {
        let parsed = self
            .get_parsed(Call::control("api/v2/entitlements"), |body| {
                let v: serde_json::Value =
                    serde_json::from_slice(&body.into_bytes()).map_err(|e| e.to_string())?;
                let feature = &v["features"]["audit_log"];
                let entitlement = feature["entitlement"]
                    .as_str()
                    .ok_or("no features.audit_log.entitlement")?;
                Ok((
                    entitlement.to_owned(),
                    feature["enabled"].as_bool().unwrap_or(false),
                ))
            })
            .await;
        match parsed {
            Ok(e) => Ok(Some(e)),
            Err(CoderError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether this Coder serves its connection log to this token: `Ok(Err(why))` for the
    /// answers that mean it never will as things stand, 403 (the Premium feature is not
    /// licensed, or the token's user may not read it) and 404 (older than v2.25).
    pub async fn connection_log_available(&self) -> Result<Result<(), String>, CoderError> {
        match self
            .page(
                Stream::Connection,
                Purpose::Control,
                "",
                0,
                1,
                OnTimeout::Retry,
            )
            .await
        {
            Ok(_) => Ok(Ok(())),
            Err(CoderError::Forbidden { message, .. }) => Ok(Err(format!(
                "Coder refused /api/v2/connectionlog (403): {message}"
            ))),
            Err(CoderError::NotFound { .. }) => Ok(Err(
                "Coder has no /api/v2/connectionlog (404): it is older than v2.25".into(),
            )),
            Err(e) => Err(e),
        }
    }

    /// When the session token expires, if Coder says: `GET /api/v2/users/me/keys/{id}`, the
    /// id being the token's part before its `-` (`<10-char id>-<22-char secret>`). `None`
    /// for a token of another shape, or a key Coder does not show (404, 403). Since about
    /// v2.35 API tokens no longer extend their expiry with use, and the default lifetime is
    /// 7 days (`CODER_DEFAULT_TOKEN_LIFETIME`).
    pub async fn token_expiry(&self) -> Result<Option<chrono::DateTime<chrono::Utc>>, CoderError> {
        let token = self.current_token();
        let Some((id, _)) = token.expose().split_once('-').filter(|(id, secret)| {
            id.len() == 10 && !secret.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric())
        }) else {
            return Ok(None);
        };
        let path = format!("api/v2/users/me/keys/{id}");
        let parsed = self
            .get_parsed(Call::control(&path), |body| {
                #[derive(Deserialize)]
                struct Key {
                    expires_at: chrono::DateTime<chrono::Utc>,
                }
                serde_json::from_slice::<Key>(&body.into_bytes())
                    .map(|k| k.expires_at)
                    .map_err(|e| e.to_string())
            })
            .await;
        match parsed {
            Ok(at) => Ok(Some(at)),
            Err(CoderError::NotFound { .. } | CoderError::Forbidden { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether this token's user may read the connection log, site-wide or in any
    /// organization (`POST /api/v2/authcheck`). `/api/v2/connectionlog` itself never says:
    /// it checks only the token and the licence, and its rows are filtered by
    /// authorization, so a reader without the permission gets 200 and an empty list
    /// (`enterprise/coderd/connectionlog.go`, `connectionLogs`: the count and the page come
    /// from the authorization-filtered queries; a 403 only for an authorization *error*).
    pub async fn may_read_connection_log(&self) -> Result<bool, CoderError> {
        const CHECKS: &str = r#"{"checks":{"site":{"object":{"resource_type":"connection_log"},"action":"read"},"any_org":{"object":{"resource_type":"connection_log","any_org":true},"action":"read"}}}"#;
        let call = Call {
            post: Some(CHECKS),
            ..Call::control("api/v2/authcheck")
        };
        self.get_parsed(call, |body| {
            let answer: std::collections::HashMap<String, bool> =
                serde_json::from_slice(&body.into_bytes()).map_err(|e| e.to_string())?;
            Ok(answer.get("site").copied().unwrap_or(false)
                || answer.get("any_org").copied().unwrap_or(false))
        })
        .await
    }
}
