//! What both schemas derive from one entry, computed once: the parsed time, a usable IP,
//! ids with Coder's nil UUIDs removed, the rendered message, the outcome.
//!
//! Every rule for a field Coder sends in more than one shape lives here, so ECS and OCSF
//! cannot disagree about it (say, one emitting an IPv4-mapped address the other unwraps).

use std::borrow::Cow;
use std::net::IpAddr;

use chrono::{DateTime, FixedOffset, Utc};

use super::outcome::{Outcome, Status};
use super::text::Joined;
use crate::coder::context::UserInfo;
use crate::coder::{AuditEntry, CoderContext, JsonText, User, parse_time_with_offset};

const NIL_UUID: &str = "00000000-0000-0000-0000-000000000000";

/// An id worth emitting: not empty, not Coder's nil UUID (Go's zero `uuid.UUID`).
pub fn non_nil(id: Option<&str>) -> Option<&str> {
    id.filter(|s| !s.is_empty() && *s != NIL_UUID)
}

/// A non-empty string.
pub fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

/// Who acted.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// A Coder user: the entry's `user`.
    User(&'a User),
    /// Coder itself: a scheduled build (`build_reason`) or a background task
    /// (`automatic_subsystem`). Coder records the workspace owner or the affected user as
    /// the entry's user, and `127.0.0.1` as its IP, for these.
    Coder { reason: &'a str },
    /// Nobody Coder can name: a null user, or the unauthenticated caller of
    /// `request_password_reset`.
    Unknown,
}

/// Build reasons that are Coder acting on a schedule or a policy, not a person
/// (`BuildReason` in `coder-api/NOTES.md` §1). `dashboard`, `cli` and the
/// `*_connection` reasons are a person starting a build from somewhere.
const SCHEDULED_BUILD_REASONS: [&str; 6] = [
    "autostart",
    "autostop",
    "dormancy",
    "failedstop",
    "autodelete",
    "task_auto_pause",
];

/// The workspace an entry is about: a build's, a workspace's own, an agent's.
#[derive(Debug, Clone, Copy, Default)]
pub struct Workspace<'a> {
    pub id: Option<&'a str>,
    pub name: Option<&'a str>,
    pub owner_id: Option<&'a str>,
    pub owner_name: Option<&'a str>,
}

/// The organization's name as a look-up found it: its own, or the one the workspace or
/// template it is about names.
pub fn organization_name_found(context: Option<&CoderContext>) -> Option<&str> {
    let c = context?;
    c.organization
        .as_deref()
        .and_then(|o| non_empty(o.name.as_deref()))
        .or_else(|| {
            c.workspace
                .as_deref()
                .and_then(|w| non_empty(w.organization_name.as_deref()))
        })
        .or_else(|| {
            c.template
                .as_deref()
                .and_then(|t| non_empty(t.organization_name.as_deref()))
        })
}

/// The facts of one entry both schemas need.
#[derive(Debug)]
pub struct Facts<'a> {
    pub entry: &'a AuditEntry,
    /// `time` with its own offset (for OCSF `timezone_offset`), when it parses.
    pub time: Option<DateTime<FixedOffset>>,
    /// The source address: `ip` when it is an address (IPv4-mapped IPv6 unwrapped, zone
    /// and prefix stripped), and not the loopback Coder records for its own actions.
    pub ip: Option<IpAddr>,
    pub resource_type: &'a str,
    pub action: &'a str,
    pub resource_id: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub organization_id: Option<&'a str>,
    pub organization_name: Option<&'a str>,
    pub actor: Actor<'a>,
    /// `additional_fields.build_reason` of a workspace build ("initiator", "autostart",
    /// …), when not empty.
    pub build_reason: Option<&'a str>,
    /// The acting user ([`Actor::User`]), unless Coder sent `null` or an empty shell.
    pub user: Option<&'a User>,
    /// The entry's user when it is not the actor: the account a password reset was
    /// requested for, the owner of a scheduled build, the user a background task touched.
    pub subject: Option<&'a User>,
    /// What the entry acted on, for display: `resource_target`, or the workspace name of a
    /// build (whose `resource_target` is empty).
    pub target: Option<&'a str>,
    pub workspace: Option<Workspace<'a>>,
    pub status: Status,
    pub outcome: Outcome,
    /// The acting user's role names. Coder joins the user's *current* row when the API
    /// is read, so these are the roles at read time, not at the event (a backfill shows
    /// today's roles): ECS gets them under `coder.audit.user.roles`, not `user.roles`.
    pub role_names: Vec<&'a str>,
    /// What `[enrich.coder]` found about the entry's ids (see `coder::lookup`).
    pub context: Option<&'a CoderContext>,
    /// The user the entry acted on, as a look-up found it (`resource_type = "user"`).
    pub target_user: Option<&'a UserInfo>,
}

impl<'a> Facts<'a> {
    pub fn of(entry: &'a AuditEntry) -> Self {
        let recorded = entry.user.as_ref().filter(|u| {
            non_nil(u.id.as_deref()).is_some() || non_empty(u.username.as_deref()).is_some()
        });
        // What the facts read of `additional_fields`, found in one pass over its text.
        let [
            build_reason,
            automatic_actor,
            automatic_subsystem,
            workspace_id,
            workspace_name,
            workspace_owner,
        ] = entry
            .additional_fields
            .as_ref()
            .map(|f| {
                f.strings([
                    "build_reason",
                    "automatic_actor",
                    "automatic_subsystem",
                    "workspace_id",
                    "workspace_name",
                    "workspace_owner",
                ])
                .map(non_empty)
            })
            .unwrap_or_default();
        let resource_type = non_empty(entry.resource_type.as_deref()).unwrap_or("unknown");
        let action = non_empty(entry.action.as_deref()).unwrap_or("unknown");
        let automatic = build_reason
            .filter(|r| SCHEDULED_BUILD_REASONS.contains(r))
            .or_else(|| automatic_actor.map(|actor| automatic_subsystem.unwrap_or(actor)));
        let actor = match (automatic, recorded) {
            (Some(reason), _) => Actor::Coder { reason },
            // Coder: "Requesting a password reset can be performed by anyone that knows
            // the email of a user" (`auditLogDescription`, coderd/audit.go).
            _ if action == "request_password_reset" => Actor::Unknown,
            (None, Some(u)) => Actor::User(u),
            (None, None) => Actor::Unknown,
        };
        let user = match actor {
            Actor::User(u) => Some(u),
            _ => None,
        };
        let subject = recorded.filter(|_| user.is_none());
        let target = non_empty(entry.resource_target.as_deref()).or(workspace_name);
        let resource_id = non_nil(entry.resource_id.as_deref());
        let context = entry.context.as_deref();
        let workspace = match resource_type {
            "workspace" => Some(Workspace {
                id: resource_id,
                name: non_empty(entry.resource_target.as_deref()),
                ..Workspace::default()
            }),
            _ => Some(Workspace {
                id: non_nil(workspace_id),
                name: workspace_name,
                ..Workspace::default()
            }),
        }
        .filter(|w| w.id.is_some() || w.name.is_some())
        .map(|w| {
            let owner = subject.filter(|_| resource_type == "workspace_build");
            let found = context.and_then(|c| c.workspace.as_deref());
            Workspace {
                name: w
                    .name
                    .or_else(|| found.and_then(|f| non_empty(f.name.as_deref()))),
                owner_name: workspace_owner
                    .or_else(|| owner.and_then(|u| non_empty(u.username.as_deref())))
                    .or_else(|| found.and_then(|f| non_empty(f.owner_name.as_deref()))),
                owner_id: owner
                    .and_then(|u| non_nil(u.id.as_deref()))
                    .or_else(|| found.and_then(|f| non_nil(f.owner_id.as_deref()))),
                ..w
            }
        });
        let ip = entry
            .ip
            .as_deref()
            .and_then(parse_ip)
            .filter(|ip| !(automatic.is_some() && ip.is_loopback()));
        let organization = entry.organization.as_ref();
        let role_names = user
            .and_then(|u| u.roles.as_ref())
            .map(|roles| roles.iter().map(String::as_str).collect())
            .unwrap_or_default();
        let status = Status::of(resource_type, action, entry.status_code);
        Facts {
            entry,
            time: parse_time_with_offset(entry.time.as_deref()),
            ip,
            resource_type,
            action,
            resource_id,
            build_reason: build_reason.filter(|_| resource_type == "workspace_build"),
            request_id: non_nil(entry.request_id.as_deref()),
            organization_id: non_nil(organization.and_then(|o| o.id.as_deref()))
                .or_else(|| non_nil(entry.organization_id.as_deref())),
            organization_name: non_empty(organization.and_then(|o| o.name.as_deref()))
                .or_else(|| organization_name_found(context)),
            actor,
            user,
            subject,
            target,
            workspace,
            status,
            outcome: Outcome::of(status, resource_type, action),
            role_names,
            context,
            target_user: context
                .and_then(|c| c.user.as_deref())
                .filter(|_| resource_type == "user"),
        }
    }

    /// `ip` as Coder sent it, when it is not the event's source address: no address at
    /// all, or the loopback Coder records for its own actions.
    pub fn ip_not_source(&self) -> Option<&'a str> {
        non_empty(self.entry.ip.as_deref()).filter(|_| self.ip.is_none())
    }

    /// The source address as Coder wrote it (ECS `source.address`): `ip`, unless it is the
    /// loopback Coder records for its own actions.
    pub fn source_address(&self) -> Option<&'a str> {
        let raw = non_empty(self.entry.ip.as_deref())?;
        (self.ip.is_some() || parse_ip(raw).is_none()).then_some(raw)
    }

    /// Why Coder acted on its own (`autostart`, `dormancy`, …).
    pub fn automatic_reason(&self) -> Option<&'a str> {
        match self.actor {
            Actor::Coder { reason } => Some(reason),
            _ => None,
        }
    }

    pub fn time_utc(&self) -> Option<DateTime<Utc>> {
        self.time.map(|t| t.with_timezone(&Utc))
    }

    pub fn username(&self) -> Option<&'a str> {
        self.user.and_then(|u| non_empty(u.username.as_deref()))
    }

    pub fn user_id(&self) -> Option<&'a str> {
        self.user.and_then(|u| non_nil(u.id.as_deref()))
    }

    pub fn is_owner(&self) -> bool {
        self.role_names.contains(&"owner")
    }

    /// `<resource_type>.<action>`, the vendor-style action name both schemas carry.
    /// (`concat`, not `format!`: an event's every string is built on the hot path.)
    pub fn operation(&self) -> Joined<'a, 3> {
        Joined([self.resource_type, ".", self.action])
    }

    /// `description` with the `{user}` and `{target}` placeholders the Coder UI fills in.
    pub fn message(&self) -> Option<Cow<'a, str>> {
        let d = non_empty(self.entry.description.as_deref())?;
        if !d.contains('{') {
            return Some(Cow::Borrowed(d));
        }
        // The Coder UI writes "Coder automatically started workspace dev" for a scheduled
        // build (`BuildAuditDescription`); the recorded user is the owner, not the actor.
        let who = match self.actor {
            Actor::Coder { .. } if self.resource_type == "workspace_build" => "Coder automatically",
            Actor::Coder { .. } => "Coder",
            _ => self.username().unwrap_or("Unknown user"),
        };
        Some(Cow::Owned(fill(d, who, self.target.unwrap_or(""))))
    }

    /// `additional_fields` when it says something (Coder sends `{}` for most entries).
    pub fn additional_fields(&self) -> Option<&'a JsonText> {
        self.entry
            .additional_fields
            .as_ref()
            .filter(|v| !v.is_empty())
    }
}

/// `description` with `{user}` and `{target}` filled in, in one pass: what is filled in is
/// never searched again (a name holding `{target}` stays as it is), and two `str::replace`
/// calls, each with its own substring searcher, were 3.9 % of an ECS backfill's
/// instructions (BENCHMARKS.md, "Writing the documents").
fn fill(description: &str, user: &str, target: &str) -> String {
    let mut out = String::with_capacity(description.len() + user.len() + target.len());
    let mut rest = description;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        let from = &rest[at..];
        rest = if let Some(after) = from.strip_prefix("{user}") {
            out.push_str(user);
            after
        } else if let Some(after) = from.strip_prefix("{target}") {
            out.push_str(target);
            after
        } else {
            out.push('{');
            &from[1..]
        };
    }
    out.push_str(rest);
    out
}

/// Coder's `ip` as an address. Empty (Go's zero `netip.Addr`) and garbage give `None`;
/// `::ffff:a.b.c.d` gives the IPv4 address a SIEM will search for; a zone (`%eth0`) or a
/// prefix length (`/32`, as Postgres `inet` prints) is dropped.
pub fn parse_ip(raw: &str) -> Option<IpAddr> {
    let s = raw.trim();
    let s = s.split_once('/').map_or(s, |(a, _)| a);
    let s = s.split_once('%').map_or(s, |(a, _)| a);
    let s = s
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(s);
    match s.parse::<IpAddr>().ok()? {
        IpAddr::V6(v6) => Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)),
        v4 => Some(v4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_once_and_what_fills_them_is_left_as_it_is() {
        assert_eq!(
            fill("{user} started {target}, {x} {user", "{target}", "dev"),
            "{target} started dev, {x} {user"
        );
        assert_eq!(fill("", "a", "b"), "");
        assert_eq!(fill("{target}{user}{{user}}", "é", ""), "é{é}");
    }

    #[test]
    fn ips_in_every_shape_coder_sends() {
        assert_eq!(parse_ip(""), None);
        assert_eq!(parse_ip("not-an-ip"), None);
        assert_eq!(
            parse_ip("203.0.113.7"),
            Some("203.0.113.7".parse().unwrap())
        );
        assert_eq!(
            parse_ip("::ffff:10.1.2.3"),
            Some("10.1.2.3".parse().unwrap())
        );
        assert_eq!(
            parse_ip("2001:db8::7"),
            Some("2001:db8::7".parse().unwrap())
        );
        assert_eq!(parse_ip("fe80::1%eth0"), Some("fe80::1".parse().unwrap()));
        assert_eq!(parse_ip("10.0.0.1/32"), Some("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn coder_acting_on_its_own_is_not_the_user_it_records() {
        let e = AuditEntry::parse(
            r#"{"description":"{user} started workspace {target}","ip":"127.0.0.1","resource_type":"workspace_build","action":"start","user":{"id":"u1","username":"alice"},"additional_fields":{"workspace_name":"dev","build_reason":"autostart","workspace_owner":""}}"#,
        );
        let f = Facts::of(&e);
        assert!(matches!(
            f.actor,
            Actor::Coder {
                reason: "autostart"
            }
        ));
        assert!(f.user.is_none());
        assert_eq!(f.subject.and_then(|u| u.username.as_deref()), Some("alice"));
        assert_eq!(f.ip, None, "the loopback Coder records is no source");
        assert_eq!(f.ip_not_source(), Some("127.0.0.1"));
        let w = f.workspace.unwrap();
        assert_eq!(
            (w.name, w.owner_name, w.owner_id),
            (Some("dev"), Some("alice"), Some("u1"))
        );
        assert_eq!(
            f.message().unwrap(),
            "Coder automatically started workspace dev"
        );
        // A person starting a build from the CLI is that person.
        let e = AuditEntry::parse(
            r#"{"ip":"127.0.0.1","resource_type":"workspace_build","action":"start","user":{"id":"u1","username":"alice"},"additional_fields":{"build_reason":"cli"}}"#,
        );
        let f = Facts::of(&e);
        assert!(matches!(f.actor, Actor::User(_)));
        assert!(f.ip.is_some());
    }

    #[test]
    fn a_password_reset_request_names_its_account_as_the_subject() {
        let e = AuditEntry::parse(
            r#"{"action":"request_password_reset","resource_type":"user","resource_target":"alice","user":{"id":"u1","username":"alice"}}"#,
        );
        let f = Facts::of(&e);
        assert!(matches!(f.actor, Actor::Unknown));
        assert!(f.user.is_none());
        assert_eq!(f.subject.and_then(|u| u.id.as_deref()), Some("u1"));
    }

    #[test]
    fn nil_uuids_are_not_ids() {
        assert_eq!(non_nil(Some(NIL_UUID)), None);
        assert_eq!(non_nil(Some("")), None);
        let singleton = "51a51c00-0000-0000-0000-000000000000";
        assert_eq!(non_nil(Some(singleton)), Some(singleton));
    }

    #[test]
    fn placeholders_are_rendered_and_a_missing_user_is_named() {
        let e = AuditEntry::parse(
            r#"{"description":"{user} deleted workspace {target}","resource_target":"dev","user":{"id":"u1","username":"alice"}}"#,
        );
        assert_eq!(
            Facts::of(&e).message().unwrap(),
            "alice deleted workspace dev"
        );
        let e = AuditEntry::parse(
            r#"{"description":"{user} started workspace {target}","resource_target":"","user":null,"additional_fields":{"workspace_name":"ws1"}}"#,
        );
        assert_eq!(
            Facts::of(&e).message().unwrap(),
            "Unknown user started workspace ws1"
        );
    }
}
