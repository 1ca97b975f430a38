//! One connection-log event (Coder v2.25+) as ECS 9.4, OCSF 1.8.0 / 1.1.0, CEF or LEEF.
//!
//! A row gives one or two events, its [`Moment`]s: the connect, and for an SSH-like
//! session that ended the disconnect (see `coder::sessions`). The two share the row's `id`
//! and the session's `connection_id` (OCSF `metadata.correlation_uid`), and each has its
//! own event id: the row id, and the row id with `:disconnect`.
//!
//! * ECS: `event.category` network and session (SSH-like) or network (apps, port
//!   forwards, tunnels), `event.type` start / end, or for a web connection access,
//!   denied (4xx), or info (a redirect to sign in, a 5xx); `source.ip`; `user.*` from
//!   `web_info.user` (agent-reported sessions name no user: the workspace owner is not
//!   assumed to be the one who connected); `host.name` the workspace; Coder's own fields
//!   under `coder.connection.*`.
//! * OCSF: SSH Activity (4007) for ssh, vscode and jetbrains; Network Activity (4001) for
//!   the web terminal (`reconnecting_pty`, a WebSocket, not SSH), workspace_app,
//!   port_forwarding and tunnel. Activity Open and Close; a web connection Coder refused
//!   is an Open that failed with `action_id` Denied, one it could not serve is Fail, a
//!   redirect to sign in is Other ("Redirect"); the access decision is declared with the
//!   `security_control` profile. A session that exited non-zero failed, its exit code in
//!   words in `status_detail`. 1.1.0 requires both endpoints (1.8.0 at least one) and has
//!   no `network_endpoint.owner` or `agent_list`: there the workspace owner and the agent
//!   are in `unmapped`. The requesting user of a web connection is `actor.user`, which
//!   these classes carry under the `host` profile.
//!
//! Connection events are a small share of the traffic, so the documents are built as
//! `serde_json::Value` trees, simpler to read than the borrowed structs of the audit path.

mod ecs;
mod lines;
mod ocsf;
#[cfg(test)]
mod tests;

use std::fmt::Write;
use std::net::IpAddr;

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{Value, json};

use super::facts::{non_empty, non_nil, parse_ip};
use super::outcome::{ExitDetail, signal};
use super::time::rfc3339_micros;
use crate::coder::{
    ConnectionEvent, ConnectionLog, DISCONNECT_SUFFIX, Phase, User, parse_time_with_offset,
};

pub use ecs::ecs_document;
pub use lines::{cef_line, leef_line};
pub use ocsf::ocsf_event;

/// One moment of a connection: what one normalized event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    Connect,
    Disconnect,
}

impl Moment {
    /// The moments an event reports, in order.
    pub fn of(phase: Phase) -> &'static [Moment] {
        match phase {
            Phase::Connect => &[Moment::Connect],
            Phase::Disconnect => &[Moment::Disconnect],
            Phase::ConnectAndDisconnect => &[Moment::Connect, Moment::Disconnect],
        }
    }

    pub fn action(self) -> &'static str {
        match self {
            Moment::Connect => "connect",
            Moment::Disconnect => "disconnect",
        }
    }
}

/// Whether a connection is a session that ends, or a single web request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Session,
    Web,
}

/// How the connection went, for the outcome fields. A web connection's status is the
/// reply of Coder's app proxy (`coderd/workspaceapps/db.go`): 303 sends an
/// unauthenticated browser to sign in (the UI: "was redirected attempting to open"), 404
/// is also what an authenticated user without permission gets ("insufficient
/// permissions"), 502 an offline agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Success,
    /// A web connection Coder refused (4xx): not signed in, or not permitted.
    Denied,
    /// A web connection Coder could not serve (5xx): the agent offline, an error.
    Failed,
    /// A web connection sent to sign in first (3xx): no access yet.
    Redirected,
    /// A session whose process exited non-zero (128 + n: killed by signal n).
    ExitFailure,
    /// Coder did not say.
    Unknown,
}

/// What every format derives from one moment of one row.
pub struct ConnectionFacts<'a> {
    log: &'a ConnectionLog,
    moment: Moment,
    kind: Kind,
    connection_type: &'a str,
    connect_time: Option<DateTime<FixedOffset>>,
    disconnect_time: Option<DateTime<FixedOffset>>,
    ip: Option<IpAddr>,
    user: Option<&'a User>,
    verdict: Verdict,
    /// The event's own id (the row id, or the row id with `:disconnect`).
    event_id: Option<String>,
}

impl<'a> ConnectionFacts<'a> {
    pub fn of(event: &'a ConnectionEvent, moment: Moment) -> Self {
        let log = &event.log;
        let connection_type = non_empty(log.connection_type.as_deref()).unwrap_or("unknown");
        let kind = if log.ssh_info.is_some()
            || matches!(
                connection_type,
                "ssh" | "vscode" | "jetbrains" | "reconnecting_pty"
            ) {
            Kind::Session
        } else {
            Kind::Web
        };
        let ssh = log.ssh_info.as_ref();
        let status = log.web_info.as_ref().and_then(|w| w.status_code);
        let verdict = match (kind, moment) {
            (Kind::Session, Moment::Connect) => Verdict::Success,
            (Kind::Session, Moment::Disconnect) => match ssh.and_then(|s| s.exit_code) {
                Some(0) => Verdict::Success,
                Some(_) => Verdict::ExitFailure,
                None => Verdict::Unknown,
            },
            (Kind::Web, _) => match status {
                Some(101 | 200..=299) => Verdict::Success,
                Some(300..=399) => Verdict::Redirected,
                Some(400..=499) => Verdict::Denied,
                Some(500..=599) => Verdict::Failed,
                _ => Verdict::Unknown,
            },
        };
        let event_id = non_empty(log.id.as_deref()).map(|id| match moment {
            Moment::Connect => id.to_owned(),
            Moment::Disconnect => format!("{id}{DISCONNECT_SUFFIX}"),
        });
        ConnectionFacts {
            log,
            moment,
            kind,
            connection_type,
            connect_time: parse_time_with_offset(log.connect_time.as_deref()),
            disconnect_time: parse_time_with_offset(ssh.and_then(|s| s.disconnect_time.as_deref())),
            ip: non_empty(log.ip.as_deref()).and_then(parse_ip),
            user: log.user(),
            verdict,
            event_id,
        }
    }

    /// The time of this moment: the connect, or the disconnect.
    fn time(&self) -> Option<DateTime<FixedOffset>> {
        match self.moment {
            Moment::Connect => self.connect_time,
            Moment::Disconnect => self.disconnect_time.or(self.connect_time),
        }
    }

    fn time_utc(&self) -> Option<DateTime<Utc>> {
        self.time().map(|t| t.with_timezone(&Utc))
    }

    fn duration_ms(&self) -> Option<i64> {
        match (self.moment, self.connect_time, self.disconnect_time) {
            (Moment::Disconnect, Some(c), Some(d)) => Some((d - c).num_milliseconds().max(0)),
            _ => None,
        }
    }

    /// The web connection's user, if Coder named one.
    pub fn username(&self) -> Option<&'a str> {
        self.user.and_then(|u| non_empty(u.username.as_deref()))
    }

    fn user_id(&self) -> Option<&'a str> {
        self.user.and_then(|u| non_nil(u.id.as_deref()))
    }

    fn workspace(&self) -> Option<&'a str> {
        non_empty(self.log.workspace_name.as_deref())
    }

    fn workspace_id(&self) -> Option<&'a str> {
        non_nil(self.log.workspace_id.as_deref())
    }

    fn owner(&self) -> Option<&'a str> {
        non_empty(self.log.workspace_owner_username.as_deref())
    }

    fn owner_id(&self) -> Option<&'a str> {
        non_nil(self.log.workspace_owner_id.as_deref())
    }

    fn agent(&self) -> Option<&'a str> {
        non_empty(self.log.agent_name.as_deref())
    }

    fn slug_or_port(&self) -> Option<&'a str> {
        self.log
            .web_info
            .as_ref()
            .and_then(|w| non_empty(w.slug_or_port.as_deref()))
    }

    fn status_code(&self) -> Option<i64> {
        self.log.web_info.as_ref().and_then(|w| w.status_code)
    }

    fn user_agent(&self) -> Option<&'a str> {
        self.log
            .web_info
            .as_ref()
            .and_then(|w| non_empty(w.user_agent.as_deref()))
    }

    fn connection_id(&self) -> Option<&'a str> {
        self.log.connection_id()
    }

    fn disconnect_reason(&self) -> Option<&'a str> {
        self.log
            .ssh_info
            .as_ref()
            .and_then(|s| non_empty(s.disconnect_reason.as_deref()))
            .filter(|_| self.moment == Moment::Disconnect)
    }

    fn exit_code(&self) -> Option<i64> {
        self.log
            .ssh_info
            .as_ref()
            .and_then(|s| s.exit_code)
            .filter(|_| self.moment == Moment::Disconnect)
    }

    fn organization(&self) -> (Option<&'a str>, Option<&'a str>) {
        let org = self.log.organization.as_ref();
        (
            org.and_then(|o| non_nil(o.id.as_deref())),
            org.and_then(|o| non_empty(o.name.as_deref()))
                .or_else(|| super::facts::organization_name_found(self.log.context.as_deref())),
        )
    }

    /// What `[enrich.coder]` found about the workspace: its template, its owner's e-mail.
    pub(super) fn looked_up(&self) -> Option<super::looked_up::WorkspaceView<'a>> {
        super::looked_up::workspace(self.log.context.as_deref())
    }

    /// `alice/dev.main`: owner, workspace and agent, as far as known.
    fn target(&self) -> String {
        let mut t = String::new();
        if let Some(o) = self.owner() {
            t.push_str(o);
            t.push('/');
        }
        t.push_str(self.workspace().unwrap_or("unknown workspace"));
        if let Some(a) = self.agent() {
            t.push('.');
            t.push_str(a);
        }
        t
    }

    /// One line for humans (ECS `message`, OCSF `message`, CEF `name`).
    pub fn message(&self) -> String {
        let who = self.username().unwrap_or("a client");
        let from = self.ip.map(|ip| format!(" from {ip}")).unwrap_or_default();
        let ty = self.connection_type;
        let target = self.target();
        match (self.kind, self.moment) {
            (Kind::Session, Moment::Connect) => {
                format!("{ty} session to {target} opened{from}")
            }
            (Kind::Session, Moment::Disconnect) => {
                let mut m = format!("{ty} session to {target} closed");
                if let Some(r) = self.disconnect_reason() {
                    let _ = write!(m, ": {r}");
                }
                if let Some(c) = self.exit_code() {
                    let _ = write!(m, " (exit code {c})");
                }
                m
            }
            (Kind::Web, _) => {
                let what = self
                    .slug_or_port()
                    .map(|s| format!("{ty} {s}"))
                    .unwrap_or_else(|| ty.to_owned());
                let verb = match self.verdict {
                    Verdict::Denied => "was refused",
                    Verdict::Failed => "could not open",
                    Verdict::Redirected => "was redirected to sign in attempting to open",
                    _ => "opened",
                };
                let status = self
                    .status_code()
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default();
                format!("{who} {verb} {what} on {target}{from}{status}")
            }
        }
    }

    /// Low for a web connection Coder refused or failed, else Informational (a session
    /// ending with a non-zero exit is no security finding).
    fn severity_id(&self) -> u32 {
        match self.verdict {
            Verdict::Denied | Verdict::Failed => 2,
            _ => 1,
        }
    }

    /// The OCSF class of this moment: SSH Activity (4007) for an SSH-like session,
    /// Network Activity (4001) for the web terminal and web connections.
    pub fn class_uid(&self) -> u32 {
        match self.kind {
            Kind::Session if self.connection_type != "reconnecting_pty" => 4007,
            _ => 4001,
        }
    }

    /// The severity on CEF and LEEF's 0–10 scale (as [`super::severity_0_to_10`]).
    fn severity_0_to_10(&self) -> u32 {
        match self.severity_id() {
            2 => 3,
            _ => 1,
        }
    }

    /// How the moment ended, in ECS `event.outcome`'s words, when Coder said.
    pub fn outcome(&self) -> Option<&'static str> {
        match self.verdict {
            Verdict::Success => Some("success"),
            Verdict::Denied | Verdict::Failed | Verdict::ExitFailure => Some("failure"),
            Verdict::Redirected => Some("unknown"),
            Verdict::Unknown => None,
        }
    }

    /// Why the moment ended as it did: the disconnect reason and the exit code in words,
    /// or a redirect to sign in (ECS `event.reason`, OCSF `status_detail`).
    fn reason(&self) -> Option<String> {
        if self.verdict == Verdict::Redirected {
            return Some("redirected to sign-in".to_owned());
        }
        let exit = self.exit_code().map(|c| ExitDetail(c).to_string());
        match (self.disconnect_reason(), exit) {
            (Some(r), Some(e)) => Some(format!("{r}; {e}")),
            (Some(r), None) => Some(r.to_owned()),
            (None, e) => e,
        }
    }
}

/// `coder.connection.*` (ECS) and `unmapped.coder.*` (OCSF): Coder's own fields.
fn coder_fields(f: &ConnectionFacts<'_>, raw_ip: Option<&str>, http_status: Option<i64>) -> Value {
    json!({
        "id": non_empty(f.log.id.as_deref()),
        "connection_id": f.connection_id(),
        "type": f.connection_type,
        "agent_name": f.agent(),
        "workspace": {
            "id": f.workspace_id(),
            "name": f.workspace(),
            "owner": {"id": f.owner_id(), "name": f.owner()},
        },
        "slug_or_port": f.slug_or_port(),
        // A status that is no HTTP status, which `http.*` cannot hold.
        "status_code": f.status_code().filter(|_| http_status.is_none()),
        "disconnect_reason": f.disconnect_reason(),
        "exit_code": f.exit_code(),
        "exit_signal": f.exit_code().and_then(signal),
        "connect_time": non_empty(f.log.connect_time.as_deref()).filter(|_| f.connect_time.is_none()),
        "ip": raw_ip.filter(|_| f.ip.is_none()),
    })
}
