//! The connection log (`GET /api/v2/connectionlog`, Coder v2.25+): its table, its `q`
//! grammar and the rows the simulator makes for it.
//!
//! Facts (`coder-api/NOTES.md` §3, `coderd/database/queries/connectionlogs.sql`,
//! `coderd/searchquery/search.go`):
//!
//! * `ORDER BY connect_time DESC` with no tie-breaker, offset paging, default limit 100;
//! * **rows are mutable**: a session's row is upserted on connect and updated on disconnect
//!   (`ssh_info.disconnect_time`, `disconnect_reason`, `exit_code`); a disconnect that
//!   arrives first writes a row closed at once;
//! * `q` is lower-cased, split on spaces and then on its only colon outside double quotes;
//!   bare words are rejected; `connected_after` / `connected_before` are RFC 3339 with
//!   nanoseconds, upper-cased again before parsing, inclusive, exact; `status` is
//!   `ongoing` (no disconnect yet) or `completed`;
//! * `web_info` for workspace_app, port_forwarding and tunnel (v2.36+) rows, `ssh_info`
//!   for ssh, vscode, jetbrains and reconnecting_pty rows; agent-reported sessions carry no
//!   user; `ip` is omitted when null since v2.27 and an empty string before.

use chrono::{DateTime, Utc};
use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom};
use serde_json::{Value, json};

use crate::ApiVersion;
use crate::query::{QueryError, err, terms, uuid as parse_uuid};
use crate::store::html_escape;

/// One row: its current JSON and the columns the filters read.
#[derive(Debug, Clone)]
pub struct ConnectionRow {
    pub id: String,
    pub connect_time: DateTime<Utc>,
    pub connection_type: String,
    pub connection_id: Option<String>,
    pub workspace_id: String,
    pub closed: bool,
    /// The row as served now (a session's is rewritten when it ends).
    pub value: Value,
}

/// A parsed connection-log filter. Every present field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionFilter {
    pub connected_after: Option<DateTime<Utc>>,
    pub connected_before: Option<DateTime<Utc>>,
    /// `Some(true)`: ongoing only; `Some(false)`: completed only.
    pub ongoing: Option<bool>,
    pub connection_id: Option<String>,
    pub workspace_id: Option<String>,
    pub connection_type: Option<String>,
}

const KEYS: &[&str] = &[
    "organization",
    "workspace_owner",
    "workspace_owner_email",
    "type",
    "username",
    "user_email",
    "connected_after",
    "connected_before",
    "workspace_id",
    "connection_id",
    "status",
];

/// `searchquery.ConnectionLogs`.
pub fn parse_query(q: &str) -> Result<ConnectionFilter, QueryError> {
    let mut f = ConnectionFilter::default();
    let terms = terms(q, KEYS)?;
    // Bare words go to a "search" key that this query does not take.
    if !terms.bare.is_empty() {
        return Err(err(
            "search",
            "Query param \"search\" is not a valid query param".into(),
        ));
    }
    for (key, value) in terms.pairs {
        let key = key.as_str();
        match key {
            "connected_after" => f.connected_after = Some(time(key, &value)?),
            "connected_before" => f.connected_before = Some(time(key, &value)?),
            "status" => {
                f.ongoing = Some(match value.as_str() {
                    "ongoing" => true,
                    "completed" => false,
                    _ => {
                        return Err(err(
                            key,
                            format!("Query param \"status\" has invalid value: {value:?}"),
                        ));
                    }
                })
            }
            "connection_id" => f.connection_id = Some(parse_uuid(key, value)?),
            "workspace_id" => f.workspace_id = Some(parse_uuid(key, value)?),
            "type" => f.connection_type = Some(value),
            // Organizations and users are not modelled: one org, filters are no-ops.
            _ => {}
        }
    }
    Ok(f)
}

/// `parser.Time3339Nano`: the lower-cased term upper-cased again, then RFC 3339.
fn time(key: &str, value: &str) -> Result<DateTime<Utc>, QueryError> {
    DateTime::parse_from_rfc3339(&value.to_uppercase())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            err(
                key,
                format!(
                    "Query param {key:?} must be a valid date format (2006-01-02T15:04:05.999999999Z07:00): {e}"
                ),
            )
        })
}

impl ConnectionRow {
    fn matches(&self, f: &ConnectionFilter) -> bool {
        f.connected_after.is_none_or(|t| self.connect_time >= t)
            && f.connected_before.is_none_or(|t| self.connect_time <= t)
            // A status filter leaves web rows out: they have no close time to tell
            // ongoing from completed (`coderd/database/queries/connectionlogs.sql`, as
            // issue #18 read it; not re-read here).
            && f.ongoing.is_none_or(|ongoing| {
                self.value.get("ssh_info").is_some() && ongoing != self.closed
            })
            && f.connection_id
                .as_ref()
                .is_none_or(|c| self.connection_id.as_deref() == Some(c.as_str()))
            && f.workspace_id
                .as_ref()
                .is_none_or(|w| *w == self.workspace_id)
            && f.connection_type
                .as_ref()
                .is_none_or(|t| *t == self.connection_type)
    }
}

/// The connection-log table.
#[derive(Debug, Default)]
pub struct ConnectionStore {
    rows: Vec<ConnectionRow>,
}

impl ConnectionStore {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn rows(&self) -> &[ConnectionRow] {
        &self.rows
    }

    pub fn insert(&mut self, row: ConnectionRow) {
        let at = self
            .rows
            .partition_point(|r| r.connect_time <= row.connect_time);
        self.rows.insert(at, row);
    }

    /// The disconnect of session `id` (`UpsertConnectionLog` with status disconnected):
    /// set once; false when there is no such open session.
    pub fn close(&mut self, id: &str, at: DateTime<Utc>, reason: &str, exit_code: i64) -> bool {
        let Some(row) = self.rows.iter_mut().find(|r| r.id == id) else {
            return false;
        };
        if row.closed || row.value.get("ssh_info").is_none() {
            return false;
        }
        row.closed = true;
        let info = &mut row.value["ssh_info"];
        info["disconnect_time"] = json!(format_time(at.max(row.connect_time)));
        info["disconnect_reason"] = json!(reason);
        info["exit_code"] = json!(exit_code);
        true
    }

    /// The connect of session `id` arriving after its disconnect: Coder's upsert keeps the
    /// earlier time (`LEAST(connect_time, EXCLUDED.connect_time)` in
    /// `BatchUpsertConnectionLogs`, as issue #18 read it), so the row moves down the log.
    /// False when there is no such session.
    pub fn connect_after_disconnect(&mut self, id: &str, connect_time: DateTime<Utc>) -> bool {
        let Some(at) = self.rows.iter().position(|r| r.id == id) else {
            return false;
        };
        let mut row = self.rows.remove(at);
        if connect_time < row.connect_time {
            row.connect_time = connect_time;
            row.value["connect_time"] = json!(format_time(connect_time));
        }
        self.insert(row);
        true
    }

    /// Give session `id` another session's `connection_id`, on agent `agent` so that the
    /// row stays unique under Coder's `(connection_id, workspace_id, agent_name)` key.
    /// False when there is no such session.
    pub fn reuse_connection_id(&mut self, id: &str, connection_id: &str, agent: &str) -> bool {
        let Some(row) = self.rows.iter_mut().find(|r| r.id == id) else {
            return false;
        };
        if row.value.get("ssh_info").is_none() {
            return false;
        }
        row.connection_id = Some(connection_id.to_owned());
        row.value["ssh_info"]["connection_id"] = json!(connection_id);
        row.value["agent_name"] = json!(agent);
        true
    }

    /// Delete rows connected before `cutoff` (retention); returns their ids.
    pub fn delete_older_than(&mut self, cutoff: DateTime<Utc>) -> Vec<String> {
        let n = self.rows.partition_point(|r| r.connect_time < cutoff);
        self.rows.drain(..n).map(|r| r.id).collect()
    }

    /// Delete the rows with these ids (Coder's purge, or an operator's retention run).
    pub fn delete_ids(&mut self, ids: &[String]) -> usize {
        let before = self.rows.len();
        self.rows.retain(|r| !ids.contains(&r.id));
        before - self.rows.len()
    }

    /// `WHERE filter ORDER BY connect_time DESC LIMIT limit OFFSET offset`, ties shuffled
    /// on every request as Postgres may order them.
    pub fn query(
        &self,
        f: &ConnectionFilter,
        offset: usize,
        limit: usize,
        rng: &mut impl Rng,
    ) -> (Vec<String>, usize) {
        let mut matched: Vec<&ConnectionRow> =
            self.rows.iter().rev().filter(|r| r.matches(f)).collect();
        let total = matched.len();
        let mut i = 0;
        while i < matched.len() {
            let mut j = i + 1;
            while j < matched.len() && matched[j].connect_time == matched[i].connect_time {
                j += 1;
            }
            matched[i..j].shuffle(rng);
            i = j;
        }
        let page = matched
            .iter()
            .skip(offset)
            .take(limit)
            .map(|r| html_escape(&r.value.to_string()))
            .collect();
        (page, total)
    }
}

/// Coder's time text: RFC 3339, µs, trailing zeros trimmed (as [`crate::Generator`]).
fn format_time(t: DateTime<Utc>) -> String {
    crate::Generator::format_time(t)
}

const TYPES_SESSION: &[&str] = &["ssh", "vscode", "jetbrains", "reconnecting_pty"];
/// The connection rows' workspaces, as `(id, name, owner id, owner)`; the directory
/// answers for them too ([`crate::directory`]).
pub(crate) const WORKSPACES: &[(&str, &str, &str, &str)] = &[
    (
        "05567e23-31e2-4c00-bd05-4d499d437347",
        "dev",
        "70d43e6e-5e1b-4875-b07a-91a1f6a399c0",
        "alice",
    ),
    (
        "9b1f3c2a-4d5e-4f60-8a7b-1c2d3e4f5a6b",
        "gpu-box",
        "0f5a5b6c-1a9e-4b1e-9d55-3d2b7e1c9a01",
        "bob",
    ),
];
const ORG_ID: &str = "2e1105ea-9827-41ef-8e19-fb7f93dac993";

/// A new connection-log row of the given kind, in `version`'s shape.
pub fn row(
    version: ApiVersion,
    id: &str,
    time: DateTime<Utc>,
    session: bool,
    rng: &mut impl Rng,
) -> ConnectionRow {
    let (workspace_id, workspace, owner_id, owner) =
        *WORKSPACES.choose(rng).unwrap_or(&WORKSPACES[0]);
    let web_types: &[&str] = if version.minor >= 36 {
        &["workspace_app", "port_forwarding", "tunnel"]
    } else {
        &["workspace_app", "port_forwarding"]
    };
    let connection_type = if session {
        *TYPES_SESSION.choose(rng).unwrap_or(&"ssh")
    } else {
        *web_types.choose(rng).unwrap_or(&"workspace_app")
    };
    let ip: Option<String> = if rng.random_bool(0.9) {
        Some(format!(
            "fd7a:115c:a1e0:4b86:9046:80e:6c70:{:x}",
            rng.random_range(1..0xffff)
        ))
    } else {
        None
    };
    let mut v = json!({
        "id": id,
        "connect_time": format_time(time),
        "organization": {"id": ORG_ID, "name": "coder", "display_name": "Coder", "icon": ""},
        "workspace_owner_id": owner_id,
        "workspace_owner_username": owner,
        "workspace_id": workspace_id,
        "workspace_name": workspace,
        "agent_name": "main",
        "type": connection_type,
    });
    match (&ip, version.minor >= 27) {
        (Some(ip), _) => v["ip"] = json!(ip),
        (None, false) => v["ip"] = json!(""),
        (None, true) => {}
    }
    let connection_id = session.then(|| uuid::Uuid::new_v4().to_string());
    if let Some(c) = &connection_id {
        v["ssh_info"] = json!({"connection_id": c});
    } else {
        let (slug, status) = match connection_type {
            "port_forwarding" => ("8080".to_owned(), 200),
            "tunnel" => (String::new(), if rng.random_bool(0.9) { 101 } else { 403 }),
            _ => (
                "code-server".to_owned(),
                if rng.random_bool(0.9) { 200 } else { 403 },
            ),
        };
        v["web_info"] = json!({
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/139.0.0.0 Safari/537.36",
            "user": {"id": owner_id, "username": owner, "email": format!("{owner}@acme.example"),
                     "name": "", "status": "active", "login_type": "oidc", "roles": []},
            "slug_or_port": slug,
            "status_code": status,
        });
    }
    ConnectionRow {
        id: id.to_owned(),
        connect_time: time,
        connection_type: connection_type.to_owned(),
        connection_id,
        workspace_id: workspace_id.to_owned(),
        closed: false,
        value: v,
    }
}

/// A disconnect reason as agents report them.
pub fn reason(rng: &mut impl Rng) -> (&'static str, i64) {
    *[
        ("client disconnected", 0),
        ("process exited with error status: 255", 255),
        ("server shut down", 0),
    ]
    .choose(rng)
    .unwrap_or(&("client disconnected", 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_query_is_lower_cased_and_times_are_upper_cased_again() {
        let f = parse_query(
            r#"connected_after:"2026-01-01T10:00:00.5Z" connected_before:"2026-01-01T23:59:59Z" status:Ongoing"#,
        )
        .unwrap();
        assert_eq!(f.connected_after, Some(t("2026-01-01T10:00:00.5Z")));
        assert_eq!(f.connected_before, Some(t("2026-01-01T23:59:59Z")));
        assert_eq!(f.ongoing, Some(true));
        // Unquoted, the time's colons split the term.
        assert_eq!(
            parse_query("connected_after:2026-01-01T10:00:00Z")
                .unwrap_err()
                .field,
            "q"
        );
        assert_eq!(parse_query("alice").unwrap_err().field, "search");
        assert_eq!(
            parse_query("date_from:2026-01-01").unwrap_err().field,
            "date_from"
        );
    }

    #[test]
    fn a_session_closes_once_and_moves_between_ongoing_and_completed() {
        let mut rng = rand::rng();
        let mut s = ConnectionStore::default();
        let r = row(
            ApiVersion::HEAD,
            "a",
            t("2026-01-01T10:00:00Z"),
            true,
            &mut rng,
        );
        s.insert(r);
        let ongoing = parse_query("status:ongoing").unwrap();
        assert_eq!(s.query(&ongoing, 0, 10, &mut rng).1, 1);
        assert!(s.close("a", t("2026-01-01T10:05:00Z"), "client disconnected", 0));
        assert!(
            !s.close("a", t("2026-01-01T10:06:00Z"), "again", 1),
            "set once"
        );
        assert_eq!(s.query(&ongoing, 0, 10, &mut rng).1, 0);
        let (page, _) = s.query(&parse_query("status:completed").unwrap(), 0, 10, &mut rng);
        let v: Value = serde_json::from_str(&page[0]).unwrap();
        assert_eq!(v["ssh_info"]["disconnect_time"], "2026-01-01T10:05:00Z");
        assert_eq!(v["ssh_info"]["exit_code"], 0);
    }

    #[test]
    fn shapes_follow_the_version() {
        let mut rng = rand::rng();
        for _ in 0..50 {
            let old = row(ApiVersion { minor: 26 }, "x", Utc::now(), false, &mut rng);
            assert!(
                old.value.get("ip").is_some(),
                "ip always present before v2.27"
            );
            assert_ne!(old.connection_type, "tunnel", "no tunnels before v2.36");
        }
    }
}
