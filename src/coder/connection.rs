//! The lenient view of one connection-log row (`codersdk.ConnectionLog`, Coder v2.25+), and
//! which of a session's two moments an event reports.
//!
//! Read as leniently as audit entries (see [`super::entry`]): every field optional, `type`
//! an open string, unknown fields kept as text. Shapes differ by version: `ip` is omitted
//! when null since v2.27 and always a string before; `tunnel` appeared in v2.36.
//! `web_info` comes with `workspace_app`, `port_forwarding` and `tunnel` rows, `ssh_info`
//! with `ssh`, `vscode`, `jetbrains` and `reconnecting_pty` rows; only `ssh_info` ever
//! reports a disconnect.

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess};
use serde_json::value::RawValue;

use super::entry::{Field, Key, Lenient, Unread, field};
use super::{Organization, User};

#[derive(Debug, Clone, Default)]
pub struct ConnectionLog {
    pub id: Option<String>,
    /// Kept as text, as audit `time` is.
    pub connect_time: Option<String>,
    pub organization: Option<Organization>,
    pub workspace_owner_id: Option<String>,
    pub workspace_owner_username: Option<String>,
    pub workspace_id: Option<String>,
    pub workspace_name: Option<String>,
    pub agent_name: Option<String>,
    pub ip: Option<String>,
    /// `ssh`, `vscode`, `jetbrains`, `reconnecting_pty`, `workspace_app`,
    /// `port_forwarding`, `tunnel`, or a type this build does not know.
    pub connection_type: Option<String>,
    pub web_info: Option<WebInfo>,
    pub ssh_info: Option<SshInfo>,
    pub extra: Unread,
    /// What Coder said about the workspace and its owner, when `[enrich.coder]` looked
    /// them up (see [`super::lookup`]); never part of Coder's JSON.
    pub context: Option<std::sync::Arc<super::CoderContext>>,
}

/// An app, port-forward or tunnel request, as the proxy saw it.
#[derive(Debug, Clone, Default)]
pub struct WebInfo {
    pub user_agent: Option<String>,
    /// The user who made the request; `null` for unauthenticated requests.
    pub user: Option<User>,
    pub slug_or_port: Option<String>,
    /// The HTTP status of the request (101 for an accepted tunnel, 403 for a refused one).
    pub status_code: Option<i64>,
}

/// An SSH-like session, as the workspace agent reported it. Agent-reported sessions name
/// no user.
#[derive(Debug, Clone, Default)]
pub struct SshInfo {
    pub connection_id: Option<String>,
    pub disconnect_time: Option<String>,
    pub disconnect_reason: Option<String>,
    pub exit_code: Option<i64>,
}

impl ConnectionLog {
    /// Parse one row's JSON. Never fails: anything that is not an object gives an empty row,
    /// which is still forwarded raw.
    pub fn parse(raw: &str) -> Self {
        serde_json::from_str::<Field<ConnectionLog>>(raw)
            .ok()
            .and_then(|f| f.0)
            .unwrap_or_default()
    }

    /// The session's `connection_id`, when the row is a session that can end.
    pub fn connection_id(&self) -> Option<&str> {
        self.ssh_info
            .as_ref()
            .and_then(|s| s.connection_id.as_deref())
            .filter(|c| !c.is_empty())
    }

    /// True once Coder recorded the session's end.
    pub fn is_closed(&self) -> bool {
        self.ssh_info
            .as_ref()
            .and_then(|s| s.disconnect_time.as_deref())
            .is_some_and(|t| !t.is_empty())
    }

    /// When the session ended, when Coder says so and the time parses.
    pub fn disconnect_time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        super::time::parse_time(
            self.ssh_info
                .as_ref()
                .and_then(|s| s.disconnect_time.as_deref()),
        )
    }

    /// The user behind the connection: the authenticated requester of a web connection;
    /// agent-reported sessions have none.
    pub fn user(&self) -> Option<&User> {
        self.web_info.as_ref().and_then(|w| w.user.as_ref())
    }
}

/// Which moment of a connection an event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The connection was opened (a web request, or a session seen while still open).
    Connect,
    /// A session seen open before has ended.
    Disconnect,
    /// A session first seen after it had already ended: both moments at once.
    ConnectAndDisconnect,
}

/// One connection-log row and the moment of it that is being reported.
#[derive(Debug, Clone)]
pub struct ConnectionEvent {
    pub log: ConnectionLog,
    pub phase: Phase,
}

/// The record id suffix of a disconnect: the connect keeps the row's `id`, so each moment
/// has its own idempotency key in every sink (a Kafka key, an S3 name, a HEC field).
pub const DISCONNECT_SUFFIX: &str = ":disconnect";

impl Lenient for ConnectionLog {
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        let mut c = ConnectionLog::default();
        while let Some(Key(key)) = map.next_key::<Key>()? {
            match key.as_ref() {
                "id" => c.id = field(&mut map)?,
                "connect_time" => c.connect_time = field(&mut map)?,
                "organization" => c.organization = field(&mut map)?,
                "workspace_owner_id" => c.workspace_owner_id = field(&mut map)?,
                "workspace_owner_username" => c.workspace_owner_username = field(&mut map)?,
                "workspace_id" => c.workspace_id = field(&mut map)?,
                "workspace_name" => c.workspace_name = field(&mut map)?,
                "agent_name" => c.agent_name = field(&mut map)?,
                "ip" => c.ip = field(&mut map)?,
                "type" => c.connection_type = field(&mut map)?,
                "web_info" => c.web_info = field(&mut map)?,
                "ssh_info" => c.ssh_info = field(&mut map)?,
                _ => {
                    let value = map.next_value::<Box<RawValue>>()?;
                    c.extra.insert(key.into_owned(), value);
                }
            }
        }
        Ok(Some(c))
    }
}

impl Lenient for WebInfo {
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        let mut w = WebInfo::default();
        while let Some(Key(key)) = map.next_key::<Key>()? {
            match key.as_ref() {
                "user_agent" => w.user_agent = field(&mut map)?,
                "user" => w.user = field(&mut map)?,
                "slug_or_port" => w.slug_or_port = field(&mut map)?,
                "status_code" => w.status_code = field(&mut map)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(w))
    }
}

impl Lenient for SshInfo {
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        let mut s = SshInfo::default();
        while let Some(Key(key)) = map.next_key::<Key>()? {
            match key.as_ref() {
                "connection_id" => s.connection_id = field(&mut map)?,
                "disconnect_time" => s.disconnect_time = field(&mut map)?,
                "disconnect_reason" => s.disconnect_reason = field(&mut map)?,
                "exit_code" => s.exit_code = field(&mut map)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(s))
    }
}

impl<'de> Deserialize<'de> for ConnectionLog {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Field::<ConnectionLog>::deserialize(d).map(|f| f.0.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!(
        "../../tests/fixtures/coder-api/connectionlog/page-fixture-site-entities-mocks.json"
    );

    fn rows() -> Vec<ConnectionLog> {
        let page: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
        page["connection_logs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| ConnectionLog::parse(&r.to_string()))
            .collect()
    }

    #[test]
    fn the_frontend_mocks_read_whole() {
        let rows = rows();
        assert_eq!(rows.len(), 5);
        let web = &rows[0];
        assert_eq!(web.connection_type.as_deref(), Some("workspace_app"));
        let info = web.web_info.as_ref().unwrap();
        assert_eq!(info.slug_or_port.as_deref(), Some("code-server"));
        assert_eq!(info.status_code, Some(200));
        assert_eq!(
            web.user().and_then(|u| u.username.as_deref()),
            Some("TestUser2")
        );
        assert_eq!(web.connection_id(), None);
        assert!(!web.is_closed());

        let open = &rows[3];
        assert_eq!(open.connection_type.as_deref(), Some("ssh"));
        assert_eq!(
            open.connection_id(),
            Some("026c8c11-fc5c-4df8-a286-5fe6d7f54f98")
        );
        assert!(!open.is_closed());
        assert!(
            open.user().is_none(),
            "agent-reported sessions name no user"
        );

        let closed = &rows[4];
        assert!(closed.is_closed());
        let ssh = closed.ssh_info.as_ref().unwrap();
        assert_eq!(ssh.disconnect_reason.as_deref(), Some("server shut down"));
        assert_eq!(ssh.exit_code, Some(0));
    }

    #[test]
    fn odd_values_read_as_absent_and_unknown_fields_are_kept() {
        let c = ConnectionLog::parse(
            r#"{"id":"x","ip":null,"type":7,"ssh_info":{"connection_id":"","exit_code":"1"},"session_id":"s"}"#,
        );
        assert_eq!(c.id.as_deref(), Some("x"));
        assert_eq!(c.ip, None);
        assert_eq!(c.connection_type, None);
        assert_eq!(c.connection_id(), None, "an empty connection id is none");
        assert_eq!(c.ssh_info.unwrap().exit_code, None);
        assert!(c.extra.contains_key("session_id"));
        assert!(ConnectionLog::parse("[1,2]").id.is_none());
    }
}
