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

use std::fmt::Write;
use std::net::IpAddr;

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::agent_session;
use super::cef::{self, Extension, truncate};
use super::facts::{non_empty, non_nil, parse_ip};
use super::leef::Attributes;
use super::ocsf_types::StringType;
use super::outcome::{ExitDetail, signal};
use super::{Enrichment, OcsfVersion};
use crate::coder::{ConnectionEvent, ConnectionLog, DISCONNECT_SUFFIX, Phase, User};

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
        let parse = |t: Option<&str>| t.and_then(|t| DateTime::parse_from_rfc3339(t).ok());
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
            connect_time: parse(log.connect_time.as_deref()),
            disconnect_time: parse(ssh.and_then(|s| s.disconnect_time.as_deref())),
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

    fn username(&self) -> Option<&'a str> {
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
            org.and_then(|o| non_empty(o.name.as_deref())),
        )
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

    /// The severity on CEF and LEEF's 0–10 scale (as [`super::severity_0_to_10`]).
    fn severity_0_to_10(&self) -> u32 {
        match self.severity_id() {
            2 => 3,
            _ => 1,
        }
    }

    fn outcome(&self) -> Option<&'static str> {
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

/// RFC 3339 in UTC with microseconds, Coder's own precision.
fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The ECS document of one moment.
pub fn ecs_document(f: &ConnectionFacts<'_>, enrich: &Enrichment, read_at: DateTime<Utc>) -> Value {
    let (category, kind_type): (&[&str], &[&str]) = match (f.kind, f.moment, f.verdict) {
        (Kind::Session, Moment::Connect, _) => (&["network", "session"], &["start"]),
        (Kind::Session, Moment::Disconnect, _) => (&["network", "session"], &["end"]),
        (Kind::Web, _, Verdict::Denied) => (&["network"], &["denied"]),
        (Kind::Web, _, Verdict::Failed | Verdict::Redirected) => (&["network"], &["info"]),
        (Kind::Web, _, _) => (&["network"], &["access"]),
    };
    let (org_id, org_name) = f.organization();
    let http_status = f.status_code().filter(|c| (100..=599).contains(c));
    let protocol = match f.connection_type {
        "ssh" | "vscode" | "jetbrains" => Some("ssh"),
        "workspace_app" | "port_forwarding" => Some("http"),
        _ => None,
    };
    let user = f.user.map(|u| {
        json!({
            "id": f.user_id(),
            "name": f.username(),
            "email": non_empty(u.email.as_deref()),
            "full_name": non_empty(u.name.as_deref()),
        })
    });
    let mut related_users: Vec<&str> = Vec::new();
    for u in [f.username(), f.user_id()].into_iter().flatten() {
        if !related_users.contains(&u) {
            related_users.push(u);
        }
    }
    let mut labels: Map<String, Value> = enrich
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    labels.insert("coder_connection_type".into(), json!(f.connection_type));
    let mut tags = vec!["coder".to_owned(), "connection".to_owned()];
    tags.extend(enrich.tags.iter().cloned());
    let raw_ip = non_empty(f.log.ip.as_deref());
    let mut doc = json!({
        "@timestamp": rfc3339(f.time_utc().unwrap_or(read_at)),
        "ecs": {"version": super::ecs::ECS_VERSION},
        "message": f.message(),
        "event": {
            "kind": "event",
            "category": category,
            "type": kind_type,
            "action": f.moment.action(),
            "outcome": f.outcome(),
            "id": f.event_id,
            "created": rfc3339(read_at),
            "dataset": "coder.connection",
            "module": "coder",
            "provider": "coderd",
            "severity": f.severity_id(),
            "start": f.connect_time.map(|t| rfc3339(t.with_timezone(&Utc))),
            "end": f.disconnect_time
                .filter(|_| f.moment == Moment::Disconnect)
                .map(|t| rfc3339(t.with_timezone(&Utc))),
            "duration": f.duration_ms().map(|ms| ms.saturating_mul(1_000_000)),
            "reason": f.reason(),
        },
        "source": raw_ip.map(|address| json!({"ip": f.ip, "address": address})),
        "host": {"name": f.workspace(), "id": f.workspace_id()},
        "user": user,
        "user_agent": f.user_agent().map(|original| json!({"original": original})),
        "network": protocol.map(|p| json!({"protocol": p})),
        "http": http_status.map(|c| json!({"response": {"status_code": c}})),
        "organization": {"id": org_id, "name": org_name},
        "related": {
            "user": related_users,
            "ip": f.ip.into_iter().collect::<Vec<_>>(),
            "hosts": f.workspace().into_iter().collect::<Vec<_>>(),
        },
        "service": {"name": "coder", "type": "coder", "version": enrich.coder_version},
        "observer": {
            "vendor": "Coder",
            "product": "Coder",
            "name": enrich.deployment,
            "version": enrich.coder_version,
        },
        "labels": labels,
        "tags": tags,
        "coder": {"connection": coder_fields(f, raw_ip, http_status)},
    });
    prune(&mut doc);
    doc
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

/// The OCSF event of one moment.
pub fn ocsf_event(
    f: &ConnectionFacts<'_>,
    version: OcsfVersion,
    enrich: &Enrichment,
    read_at: DateTime<Utc>,
) -> Value {
    let v18 = version == OcsfVersion::V1_8_0;
    // The web terminal (`reconnecting_pty`) is a WebSocket to Coder relayed to the
    // agent's PTY server, a session but not the SSH protocol: Network Activity.
    let (class_uid, class_name) = match f.kind {
        Kind::Session if f.connection_type != "reconnecting_pty" => (4007, "SSH Activity"),
        _ => (4001, "Network Activity"),
    };
    let (activity_id, activity_name) = match (f.moment, f.verdict) {
        (Moment::Disconnect, _) => (2, "Close"),
        (Moment::Connect, Verdict::Failed) => (4, "Fail"),
        (Moment::Connect, Verdict::Redirected) => (99, "Redirect"),
        (Moment::Connect, _) => (1, "Open"),
    };
    let (status_id, status) = match f.verdict {
        Verdict::Success => (1, "Success"),
        Verdict::Denied | Verdict::Failed | Verdict::ExitFailure => (2, "Failure"),
        Verdict::Redirected => (99, "Redirected to sign-in"),
        Verdict::Unknown => (0, "Unknown"),
    };
    // The access decision Coder's app proxy made on a web connection: `action_id` and
    // `disposition_id`, attributes of the `security_control` profile (both versions).
    let (action, disposition) = match (f.kind, f.verdict, f.status_code()) {
        (Kind::Web, Verdict::Success, _) => (Some((1, "Allowed")), None),
        (Kind::Web, Verdict::Denied, Some(401 | 403)) => {
            (Some((2, "Denied")), Some((26, "Unauthorized")))
        }
        (Kind::Web, Verdict::Denied, _) => (Some((2, "Denied")), None),
        (Kind::Web, Verdict::Redirected, _) => (Some((2, "Denied")), Some((23, "Challenge"))),
        _ => (None, None),
    };
    let severity_id = f.severity_id();
    let (org_id, org_name) = f.organization();
    let owner = (f.owner().is_some() || f.owner_id().is_some())
        .then(|| json!({"uid": f.owner_id(), "name": f.owner()}));
    let port = f
        .slug_or_port()
        .filter(|_| f.connection_type == "port_forwarding")
        .and_then(|p| p.parse::<u16>().ok());
    let mut dst = json!({
        "uid": f.workspace_id(),
        "name": f.workspace(),
        "agent_list": agent_session::agent(None, f.agent())
            .filter(|_| v18)
            .map(|a| vec![a]),
        "port": port,
        "owner": owner.clone().filter(|_| v18),
    });
    if f.workspace_id().is_none() && f.workspace().is_none() {
        dst["name"] = json!(f.agent().unwrap_or("unknown"));
    }
    let src = match f.ip {
        Some(ip) => json!({"ip": ip}),
        None => json!({"name": "unknown"}),
    };
    // An e-mail that is no `email_t` here (`prebuilds@system`) goes to `unmapped`.
    let (email_addr, user_email) =
        StringType::Email.split(f.user.and_then(|u| non_empty(u.email.as_deref())), version);
    let actor = f.user.map(|u| {
        json!({"user": {
            "uid": f.user_id(),
            "name": f.username(),
            "email_addr": email_addr,
            "full_name": non_empty(u.name.as_deref()),
            "type_id": 1,
            "org": (org_id.is_some() || org_name.is_some())
                .then(|| json!({"uid": org_id, "name": org_name})),
        }})
    });
    let mut labels: Vec<String> = enrich.tags.clone();
    labels.extend(enrich.labels.iter().map(|(k, v)| format!("{k}:{v}")));
    let time = f.time();
    let raw_ip = non_empty(f.log.ip.as_deref());
    let mut unmapped = coder_fields(f, raw_ip, None);
    unmapped["user_agent"] = json!(f.user_agent());
    unmapped["actor_email"] = json!(user_email);
    unmapped["organization"] = json!({"id": org_id, "name": org_name});
    unmapped["deployment"] = json!(enrich.deployment);
    if v18 {
        // `dst_endpoint.owner` says it; 1.1.0 has no such attribute.
        unmapped["workspace"]["owner"] = Value::Null;
    }
    let mut event = json!({
        "class_uid": class_uid,
        "class_name": class_name,
        "category_uid": 4,
        "category_name": "Network Activity",
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": class_uid * 100 + activity_id,
        "type_name": format!("{class_name}: {activity_name}"),
        "severity_id": severity_id,
        "severity": if severity_id == 2 { "Low" } else { "Informational" },
        "time": time.map_or(read_at, |t| t.with_timezone(&Utc)).timestamp_millis(),
        "timezone_offset": time.map(|t| t.offset().local_minus_utc() / 60),
        "start_time": f.connect_time.map(|t| t.timestamp_millis()),
        "end_time": f.disconnect_time
            .filter(|_| f.moment == Moment::Disconnect)
            .map(|t| t.timestamp_millis()),
        "duration": f.duration_ms(),
        "status_id": status_id,
        "status": status,
        "status_code": f.exit_code().or(f.status_code()).map(|c| c.to_string()),
        "status_detail": f.reason(),
        "action_id": action.map(|a| a.0),
        "action": action.map(|a| a.1),
        "disposition_id": disposition.map(|d| d.0),
        "disposition": disposition.map(|d| d.1),
        "message": f.message(),
        "app_name": f.slug_or_port().filter(|_| f.connection_type == "workspace_app"),
        "metadata": {
            "version": version.as_str(),
            "uid": f.event_id,
            "correlation_uid": f.connection_id(),
            "event_code": f.moment.action(),
            "log_name": "connection",
            "original_time": match f.moment {
                Moment::Connect => non_empty(f.log.connect_time.as_deref()),
                Moment::Disconnect => f.log.ssh_info.as_ref().and_then(|s| non_empty(s.disconnect_time.as_deref())),
            },
            "processed_time": read_at.timestamp_millis(),
            "product": {
                "name": "Coder",
                "vendor_name": "Coder",
                "version": enrich.coder_version,
            },
            "labels": labels,
            // `actor` belongs to these classes only through the `host` profile.
            "profiles": profiles(actor.is_some(), action.is_some()),
        },
        "actor": actor,
        "src_endpoint": src,
        "dst_endpoint": dst,
        "unmapped": {"coder": unmapped},
    });
    prune(&mut event);
    event
}

/// `metadata.profiles`: `host` for an `actor`, `security_control` for an access decision.
fn profiles(actor: bool, decision: bool) -> Vec<&'static str> {
    let mut p = Vec::new();
    if actor {
        p.push("host");
    }
    if decision {
        p.push("security_control");
    }
    p
}

/// The CEF line of one moment.
pub fn cef_line(f: &ConnectionFacts<'_>, enrich: &Enrichment) -> String {
    let mut out = String::with_capacity(512);
    let version = enrich.coder_version.as_deref().unwrap_or("unknown");
    let _ = write!(
        out,
        "CEF:0|Coder|Coder|{}|{}|{}|{}|",
        cef::header(version),
        cef::header(&format!("{}.{}", f.connection_type, f.moment.action())),
        cef::header(&truncate(&f.message(), 512)),
        f.severity_0_to_10(),
    );
    let mut ext = Extension(&mut out);
    if let Some(t) = f.time_utc() {
        ext.field("rt", &t.timestamp_millis().to_string());
    }
    // A disconnect's id (`<id>:disconnect`, 47 characters) is longer than externalId's 40.
    ext.field_or_flex(
        "externalId",
        f.event_id.as_deref().unwrap_or(""),
        2,
        "Record ID",
    );
    ext.field("act", f.moment.action());
    if let Some(o) = f.outcome() {
        ext.field("outcome", o);
    }
    if let Some(u) = f.username() {
        ext.field("suser", u);
    }
    if let Some(u) = f.user_id() {
        ext.field("suid", u);
    }
    match f.ip {
        Some(IpAddr::V4(ip)) => {
            ext.field("src", &ip.to_string());
        }
        Some(IpAddr::V6(ip)) => {
            ext.field("c6a2", &ip.to_string());
            ext.field("c6a2Label", "Source IPv6 Address");
        }
        None => {}
    }
    if let Some(w) = f.workspace() {
        ext.field_or_flex("dhost", w, 1, "Workspace");
    }
    if let Some(o) = f.owner() {
        ext.field("duser", o);
    }
    if let Some(ua) = f.user_agent() {
        ext.field("requestClientApplication", ua);
    }
    if let Some(t) = f.connect_time {
        ext.field("start", &t.timestamp_millis().to_string());
    }
    if let Some(t) = f.disconnect_time.filter(|_| f.moment == Moment::Disconnect) {
        ext.field("end", &t.timestamp_millis().to_string());
    }
    ext.field("msg", &f.message());
    ext.labelled("cs1", "Connection Type", Some(f.connection_type));
    ext.labelled("cs2", "Connection ID", f.connection_id());
    ext.labelled("cs3", "Agent", f.agent());
    let (org_id, org_name) = f.organization();
    ext.labelled("cs4", "Organization", org_name.or(org_id));
    ext.labelled("cs5", "Slug or Port", f.slug_or_port());
    ext.labelled("cs6", "Deployment", enrich.deployment.as_deref());
    if let Some(code) = f.exit_code().or(f.status_code()) {
        ext.field("cn1", &code.to_string());
        ext.field(
            "cn1Label",
            if f.exit_code().is_some() {
                "Exit Code"
            } else {
                "Status Code"
            },
        );
    }
    out
}

/// The LEEF 2.0 line of one moment.
pub fn leef_line(f: &ConnectionFacts<'_>, enrich: &Enrichment) -> String {
    let mut out = String::with_capacity(512);
    let version = enrich.coder_version.as_deref().unwrap_or("unknown");
    let _ = write!(
        out,
        "LEEF:2.0|Coder|Coder|{}|{}|x09|",
        cef::header(version),
        cef::header(&format!("{}.{}", f.connection_type, f.moment.action()))
    );
    let mut attrs = Attributes {
        out: &mut out,
        first: true,
    };
    if let Some(t) = f.time_utc() {
        attrs.put("devTimeFormat", "yyyy-MM-dd'T'HH:mm:ss.SSSXXX");
        attrs.put("devTime", &t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
    }
    attrs.put("cat", f.connection_type);
    attrs.put("action", f.moment.action());
    attrs.put("sev", &f.severity_0_to_10().to_string());
    attrs.put_opt("outcome", f.outcome());
    attrs.put_opt("eventId", f.event_id.as_deref());
    attrs.put_opt("connectionId", f.connection_id());
    attrs.put_opt("usrName", f.username());
    attrs.put_opt("userId", f.user_id());
    if let Some(ip) = f.ip {
        attrs.put("src", &ip.to_string());
    }
    attrs.put_opt("dstHost", f.workspace());
    attrs.put_opt("workspaceId", f.workspace_id());
    attrs.put_opt("workspaceOwner", f.owner());
    attrs.put_opt("agent", f.agent());
    attrs.put_opt("slugOrPort", f.slug_or_port());
    attrs.put_opt("userAgent", f.user_agent());
    let (org_id, org_name) = f.organization();
    attrs.put_opt("orgName", org_name);
    attrs.put_opt("orgId", org_id);
    if let Some(code) = f.status_code() {
        attrs.put("statusCode", &code.to_string());
    }
    attrs.put_opt("disconnectReason", f.disconnect_reason());
    if let Some(code) = f.exit_code() {
        attrs.put("exitCode", &code.to_string());
    }
    attrs.put_opt("deployment", enrich.deployment.as_deref());
    attrs.put("msg", &f.message());
    out
}

/// Leave out nulls, and objects and arrays left empty: every field is optional, and an
/// absent value must not reach a schema as `null` or `{}`.
pub(super) fn prune(v: &mut Value) -> bool {
    match v {
        Value::Null => false,
        Value::Object(m) => {
            m.retain(|_, v| prune(v));
            !m.is_empty()
        }
        Value::Array(a) => {
            a.retain_mut(prune);
            !a.is_empty()
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str, phase: Phase) -> ConnectionEvent {
        ConnectionEvent {
            log: ConnectionLog::parse(json),
            phase,
        }
    }

    const SESSION: &str = r#"{"id":"893e75e0-1518-4ac8-9629-35923a39533a","connect_time":"2026-05-19T16:45:57.122Z","organization":{"id":"2e1105ea-9827-41ef-8e19-fb7f93dac993","name":"coder"},"workspace_owner_id":"70d43e6e-5e1b-4875-b07a-91a1f6a399c0","workspace_owner_username":"alice","workspace_id":"05567e23-31e2-4c00-bd05-4d499d437347","workspace_name":"dev","agent_name":"main","ip":"fd7a:115c:a1e0:4b86:9046:80e:6c70:33b7","type":"ssh","ssh_info":{"connection_id":"026c8c11-fc5c-4df8-a286-5fe6d7f54f98","disconnect_reason":"server shut down","disconnect_time":"2026-05-19T16:49:57.122Z","exit_code":0}}"#;

    #[test]
    fn a_closed_session_gives_a_start_and_an_end_sharing_the_connection_id() {
        let e = event(SESSION, Phase::ConnectAndDisconnect);
        let moments = Moment::of(e.phase);
        assert_eq!(moments, [Moment::Connect, Moment::Disconnect]);
        let read_at = Utc::now();
        let docs: Vec<Value> = moments
            .iter()
            .map(|m| {
                ecs_document(
                    &ConnectionFacts::of(&e, *m),
                    &Enrichment::default(),
                    read_at,
                )
            })
            .collect();
        assert_eq!(docs[0]["event"]["type"], json!(["start"]));
        assert_eq!(docs[1]["event"]["type"], json!(["end"]));
        assert_eq!(
            docs[0]["event"]["id"],
            "893e75e0-1518-4ac8-9629-35923a39533a"
        );
        assert_eq!(
            docs[1]["event"]["id"],
            "893e75e0-1518-4ac8-9629-35923a39533a:disconnect"
        );
        for d in &docs {
            assert_eq!(
                d["coder"]["connection"]["connection_id"],
                "026c8c11-fc5c-4df8-a286-5fe6d7f54f98"
            );
            assert_eq!(d["host"]["name"], "dev");
            assert!(
                d.get("user").is_none(),
                "an agent-reported session names no user"
            );
        }
        assert_eq!(docs[1]["@timestamp"], "2026-05-19T16:49:57.122000Z");
        assert_eq!(docs[1]["event"]["duration"], json!(240_000_000_000_i64));
        assert_eq!(
            docs[1]["coder"]["connection"]["disconnect_reason"],
            "server shut down"
        );
        let ocsf = ocsf_event(
            &ConnectionFacts::of(&e, Moment::Disconnect),
            OcsfVersion::V1_1_0,
            &Enrichment::default(),
            read_at,
        );
        assert_eq!(ocsf["type_uid"], 400702);
        assert_eq!(
            ocsf["metadata"]["correlation_uid"],
            "026c8c11-fc5c-4df8-a286-5fe6d7f54f98"
        );
        assert_eq!(
            ocsf["unmapped"]["coder"]["workspace"]["owner"]["name"],
            "alice"
        );
        assert!(
            ocsf["dst_endpoint"].get("owner").is_none(),
            "1.1.0 has no owner"
        );
    }

    #[test]
    fn a_refused_tunnel_is_denied_and_names_its_user() {
        let e = event(
            r#"{"id":"09747acf-207f-4f53-a875-fde339924f60","connect_time":"2026-05-19T16:45:57.122Z","workspace_name":"dev","type":"tunnel","web_info":{"user_agent":"coder-cli/2.0.0","user":{"id":"test-user-2","username":"TestUser2","email":"test2@coder.com"},"slug_or_port":"","status_code":403}}"#,
            Phase::Connect,
        );
        let f = ConnectionFacts::of(&e, Moment::Connect);
        let ecs = ecs_document(&f, &Enrichment::default(), Utc::now());
        assert_eq!(ecs["event"]["type"], json!(["denied"]));
        assert_eq!(ecs["event"]["outcome"], "failure");
        assert_eq!(ecs["user"]["name"], "TestUser2");
        assert!(ecs.get("source").is_none(), "no ip, no source");
        let ocsf = ocsf_event(&f, OcsfVersion::V1_8_0, &Enrichment::default(), Utc::now());
        assert_eq!(ocsf["class_uid"], 4001);
        // An authorization denial: the connection opened and Coder said no.
        assert_eq!(ocsf["activity_id"], 1);
        assert_eq!(ocsf["status_id"], 2);
        assert_eq!(ocsf["action_id"], 2);
        assert_eq!(ocsf["disposition_id"], 26);
        assert_eq!(ocsf["src_endpoint"]["name"], "unknown");
        assert_eq!(ocsf["actor"]["user"]["name"], "TestUser2");
    }

    #[test]
    fn cef_and_leef_lines_escape_hostile_values() {
        let e = event(
            r#"{"id":"x","connect_time":"2026-05-19T16:45:57Z","workspace_name":"a=b|c\nd","type":"ssh","ssh_info":{"connection_id":"c"}}"#,
            Phase::Connect,
        );
        let f = ConnectionFacts::of(&e, Moment::Connect);
        let cef = cef_line(&f, &Enrichment::default());
        assert!(
            cef.starts_with("CEF:0|Coder|Coder|unknown|ssh.connect|"),
            "{cef}"
        );
        // No host name: not `dhost`, but a labelled string.
        assert!(cef.contains(r"flexString1=a\=b|c\nd"), "{cef}");
        assert!(!cef.contains("dhost="), "{cef}");
        assert!(!cef.contains('\n'));
        let leef = leef_line(&f, &Enrichment::default());
        assert!(leef.contains("dstHost=a=b|c\\nd"), "{leef}");
        assert!(!leef.contains('\n'));
    }
}
