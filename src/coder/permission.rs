//! Whether the token may read the connection log, asked of Coder rather than inferred.
//!
//! `/api/v2/connectionlog` checks only the token and the licence; its rows come through
//! authorization-filtered queries, so a user without the permission gets 200 and an empty
//! log, not a 403 (`enterprise/coderd/connectionlog.go`, `connectionLogs`). Read as data,
//! that silence would move the cursor over history the user cannot see, and make the
//! session sweep give up every remembered session as deleted. So the connection stream asks
//! `POST /api/v2/authcheck` ([`CoderClient::may_read_connection_log`]) before it reads, at
//! most once per `every` (half the overlap, a minute at most), and again before it gives any session up; while the
//! answer is no it reads nothing, moves nothing, drops nothing, and says so.
//!
//! The bound: a permission taken away right after a check goes unnoticed for at most
//! `every`, which is at most half the overlap. The cursor never passes `now - overlap` in a
//! closed window, and in a live one moves only to rows it saw, so it stays below the moment
//! the permission went; when it comes back the next scan reads from there and nothing
//! recorded meanwhile is lost.

use std::time::{Duration, Instant};

use chrono::TimeDelta;

use super::{CoderClient, CoderError};

pub struct PermissionGate {
    every: Duration,
    checked_at: Option<Instant>,
    permitted: bool,
}

impl PermissionGate {
    /// A gate that asks at most every minute, and at least twice per `overlap`.
    pub fn new(overlap: TimeDelta) -> Self {
        let half = overlap.to_std().unwrap_or_default() / 2;
        PermissionGate {
            every: half
                .min(Duration::from_secs(60))
                .max(Duration::from_secs(1)),
            checked_at: None,
            permitted: true,
        }
    }

    /// Whether the stream may read now: Coder's last answer, asked again when it is older
    /// than `every`.
    pub async fn permitted(&mut self, client: &CoderClient) -> Result<bool, CoderError> {
        if self.checked_at.is_some_and(|at| at.elapsed() < self.every) {
            return Ok(self.permitted);
        }
        self.check(client).await
    }

    /// Ask Coder now (before a decision no later read can undo, such as giving a session up).
    pub async fn check(&mut self, client: &CoderClient) -> Result<bool, CoderError> {
        let now = client.may_read_connection_log().await?;
        self.checked_at = Some(Instant::now());
        if now != self.permitted {
            if now {
                tracing::info!(
                    "Coder lets the token read the connection log again; the connection streams go on from their checkpoints"
                );
            } else {
                tracing::warn!(
                    "Coder says the token's user may not read the connection log (POST /api/v2/authcheck; \
                     /api/v2/connectionlog would answer an empty list): the connection streams wait, \
                     holding their checkpoints, until it may. Give the user the Auditor role, or a \
                     token scoped to connection_log:read"
                );
            }
        }
        self.permitted = now;
        crate::ops::metrics::connection_log_permitted(now);
        Ok(now)
    }
}
