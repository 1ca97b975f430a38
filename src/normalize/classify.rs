//! The action × resource table of `schemas/NOTES.md` §5.2: which ECS categories and types,
//! and which OCSF class and activity, an entry gets.
//!
//! Coder adds resource types and actions every release. Nothing here drops an entry: an
//! unknown resource type is configuration, an unknown action is OCSF activity 99 carrying
//! Coder's verb, so a new Coder version degrades to coarser categories, never to silence.

use serde_json::Value;

use super::diff;
use super::outcome::Outcome;
use crate::coder::JsonText;

/// Resource types whose changes administer the deployment (roles, orgs, IdP sync, OAuth2).
fn is_admin_resource(resource_type: &str) -> bool {
    matches!(
        resource_type,
        "custom_role"
            | "organization"
            | "oauth2_provider_app"
            | "oauth2_provider_app_secret"
            | "oauth2_provider_settings"
    ) || resource_type.starts_with("idp_sync_settings")
}

/// Resource types a user owns about themselves (tokens, keys, secrets, seats).
fn is_user_owned_resource(resource_type: &str) -> bool {
    matches!(
        resource_type,
        "api_key"
            | "git_ssh_key"
            | "convert_login"
            | "user_secret"
            | "ai_seat"
            | "user_ai_budget_override"
    )
}

/// Resource types whose target is a user: they fill ECS `user.target.*`.
pub fn targets_a_user(resource_type: &str) -> bool {
    matches!(
        resource_type,
        "user" | "organization_member" | "ai_seat" | "user_ai_budget_override" | "convert_login"
    )
}

/// ECS `event.category` and `event.type`.
///
/// A workspace app `open` (v2.20–v2.24) is access only when it succeeded: a 303 is Coder
/// sending an unauthenticated browser to sign in ("was redirected attempting to open"),
/// a 4xx is access attempted and refused (ECS's own example of `access` with outcome
/// `failure`).
pub fn ecs(
    resource_type: &str,
    action: &str,
    outcome: Outcome,
) -> (&'static [&'static str], &'static [&'static str]) {
    let crud = |c: &'static [&'static str],
                create,
                change,
                delete|
     -> (&'static [&'static str], &'static [&'static str]) {
        match action {
            "create" => (c, create),
            "write" => (c, change),
            "delete" => (c, delete),
            _ => (c, &["info"]),
        }
    };
    match (resource_type, action) {
        (_, "login") => (&["authentication", "session"], &["start"]),
        (_, "logout") => (&["authentication", "session"], &["end"]),
        // A first SSO sign-in: the account is created and the session starts.
        (_, "register") => (&["authentication", "iam"], &["creation", "start", "user"]),
        (_, "request_password_reset") => (&["iam"], &["user", "change"]),
        ("workspace_build", "start") => (&["host"], &["start"]),
        ("workspace_build", "stop") => (&["host"], &["end"]),
        ("workspace_build", "delete") => (&["host", "configuration"], &["end", "deletion"]),
        (_, "connect") => (&["network", "session"], &["start"]),
        (_, "disconnect") => (&["network", "session"], &["end"]),
        (_, "open") => match outcome {
            Outcome::Success => (&["web", "session"], &["access", "start"]),
            Outcome::Failure => (&["web"], &["access"]),
            Outcome::Redirect | Outcome::Unknown => (&["web"], &["info"]),
        },
        (_, "close") => (&["web", "session"], &["access", "end"]),
        ("user", _) => crud(
            &["iam"],
            &["user", "creation"],
            &["user", "change"],
            &["user", "deletion"],
        ),
        ("group", _) => crud(
            &["iam"],
            &["group", "creation"],
            &["group", "change"],
            &["group", "deletion"],
        ),
        // Membership changes a group (the organization); it creates no account, and
        // `iam` + `user` + `creation` is what canonical queries read as "account created".
        ("organization_member", "write") => (&["iam"], &["user", "change"]),
        ("organization_member", _) => crud(
            &["iam"],
            &["group", "change"],
            &["user", "change"],
            &["group", "change"],
        ),
        (rt, _) if is_admin_resource(rt) => crud(
            &["iam"],
            &["admin", "creation"],
            &["admin", "change"],
            &["admin", "deletion"],
        ),
        // A token, key or secret of an existing user changes that user.
        (rt, _) if is_user_owned_resource(rt) => crud(
            &["iam"],
            &["user", "change"],
            &["user", "change"],
            &["user", "change"],
        ),
        _ => crud(
            &["configuration"],
            &["creation"],
            &["change"],
            &["deletion"],
        ),
    }
}

/// The OCSF classes Coder entries map to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    AccountChange,
    Authentication,
    UserAccess,
    GroupManagement,
    ApiActivity,
    /// An agent row (v2.20–v2.24) whose `connection_type` is SSH, VS Code or JetBrains:
    /// the same sessions the connection log reports as SSH Activity.
    SshActivity,
    /// An agent row of the web terminal: a WebSocket to Coder relayed to the agent's
    /// reconnecting PTY, not the SSH protocol.
    NetworkActivity,
}

impl Class {
    pub const ALL: [Class; 7] = [
        Class::AccountChange,
        Class::Authentication,
        Class::UserAccess,
        Class::GroupManagement,
        Class::ApiActivity,
        Class::SshActivity,
        Class::NetworkActivity,
    ];

    pub fn uid(self) -> u32 {
        match self {
            Class::AccountChange => 3001,
            Class::Authentication => 3002,
            Class::UserAccess => 3005,
            Class::GroupManagement => 3006,
            Class::ApiActivity => 6003,
            Class::SshActivity => 4007,
            Class::NetworkActivity => 4001,
        }
    }

    pub fn caption(self) -> &'static str {
        match self {
            Class::AccountChange => "Account Change",
            Class::Authentication => "Authentication",
            Class::UserAccess => "User Access Management",
            Class::GroupManagement => "Group Management",
            Class::ApiActivity => "API Activity",
            Class::SshActivity => "SSH Activity",
            Class::NetworkActivity => "Network Activity",
        }
    }

    pub fn category_uid(self) -> u32 {
        self.uid() / 1000
    }

    pub fn category_caption(self) -> &'static str {
        match self.category_uid() {
            3 => "Identity & Access Management",
            4 => "Network Activity",
            _ => "Application Activity",
        }
    }

    /// The caption of `activity_id` in this class (99 has none: the event carries the
    /// source's verb instead).
    pub fn activity_caption(self, id: u32) -> Option<&'static str> {
        let caption = match (self, id) {
            (_, 0) => "Unknown",
            (_, 99) => return None,
            (Class::ApiActivity, 1) => "Create",
            (Class::ApiActivity, 2) => "Read",
            (Class::ApiActivity, 3) => "Update",
            (Class::ApiActivity, 4) => "Delete",
            (Class::Authentication, 1) => "Logon",
            (Class::Authentication, 2) => "Logoff",
            (Class::AccountChange, 1) => "Create",
            (Class::AccountChange, 2) => "Enable",
            (Class::AccountChange, 3) => "Password Change",
            (Class::AccountChange, 4) => "Password Reset",
            (Class::AccountChange, 5) => "Disable",
            (Class::AccountChange, 6) => "Delete",
            (Class::UserAccess, 1) | (Class::GroupManagement, 1) => "Assign Privileges",
            (Class::UserAccess, 2) | (Class::GroupManagement, 2) => "Revoke Privileges",
            (Class::GroupManagement, 3) => "Add User",
            (Class::GroupManagement, 4) => "Remove User",
            (Class::GroupManagement, 5) => "Delete",
            (Class::GroupManagement, 6) => "Create",
            (Class::SshActivity | Class::NetworkActivity, 1) => "Open",
            (Class::SshActivity | Class::NetworkActivity, 2) => "Close",
            (Class::SshActivity | Class::NetworkActivity, 4) => "Fail",
            (Class::SshActivity | Class::NetworkActivity, 5) => "Refuse",
            _ => return None,
        };
        Some(caption)
    }
}

/// `ocsf_classes`: the five semantic classes, or everything as API Activity (one Amazon
/// Security Lake custom source).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassStrategy {
    #[default]
    Semantic,
    Single,
}

/// Who or what an IAM event is about, beyond the entry's own resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// The resource itself (user, group, organization member).
    Resource,
    /// One member added to or removed from a group: its user id.
    Member(String),
    /// Roles granted or revoked.
    Privileges(Vec<String>),
}

/// One OCSF event to emit. Most entries give one; a group write that adds and removes
/// members gives one per member, and a role change next to a status change gives both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub class: Class,
    pub id: u32,
    /// Coder's verb, for activity 99.
    pub other: Option<String>,
    pub subject: Subject,
}

impl Activity {
    fn new(class: Class, id: u32) -> Self {
        Activity {
            class,
            id,
            other: None,
            subject: Subject::Resource,
        }
    }

    fn other(class: Class, verb: &str) -> Self {
        Activity {
            class,
            id: 99,
            other: Some(title_case(verb)),
            subject: Subject::Resource,
        }
    }

    /// `activity_name`: the caption, or Coder's verb for 99.
    pub fn name(&self) -> &str {
        match self.class.activity_caption(self.id) {
            Some(c) => c,
            None => self.other.as_deref().unwrap_or("Other"),
        }
    }
}

/// `request_password_reset` → "Request Password Reset".
fn title_case(verb: &str) -> String {
    verb.split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What [`ocsf`] reads of an entry.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    pub resource_type: &'a str,
    pub action: &'a str,
    pub diff: Option<&'a JsonText>,
    /// The acting user is the user the entry changes (someone writing their own account).
    pub self_service: bool,
    /// `additional_fields.connection_type` of an agent row (v2.20–v2.24): "SSH",
    /// "VS Code", "JetBrains", "Web Terminal".
    pub connection_type: Option<&'a str>,
}

impl<'a> Row<'a> {
    /// A row with nothing but its type and action (tests, single-class mode).
    pub fn new(resource_type: &'a str, action: &'a str) -> Self {
        Row {
            resource_type,
            action,
            diff: None,
            self_service: false,
            connection_type: None,
        }
    }
}

/// The OCSF activities of one entry.
pub fn ocsf(strategy: ClassStrategy, row: Row<'_>) -> Vec<Activity> {
    let Row {
        resource_type,
        action,
        diff,
        ..
    } = row;
    if strategy == ClassStrategy::Single {
        return vec![api_activity(action)];
    }
    match (resource_type, action) {
        (_, "login") => vec![Activity::new(Class::Authentication, 1)],
        (_, "logout") => vec![Activity::new(Class::Authentication, 2)],
        // A new user's first successful SSO sign-in: the account and the logon.
        (_, "register") => vec![
            Activity::new(Class::AccountChange, 1),
            Activity::new(Class::Authentication, 1),
        ],
        ("user", "request_password_reset") => vec![Activity::new(Class::AccountChange, 4)],
        ("user", "create") => vec![Activity::new(Class::AccountChange, 1)],
        ("user", "delete") => vec![Activity::new(Class::AccountChange, 6)],
        ("user", "write") => user_write(diff, row.self_service),
        ("workspace_agent", "connect" | "disconnect") => {
            let class = match row.connection_type {
                Some("SSH" | "VS Code" | "JetBrains") => Class::SshActivity,
                Some("Web Terminal") => Class::NetworkActivity,
                _ => return vec![api_activity(action)],
            };
            vec![Activity::new(
                class,
                if action == "connect" { 1 } else { 2 },
            )]
        }
        ("group", "create") => vec![Activity::new(Class::GroupManagement, 6)],
        ("group", "delete") => vec![Activity::new(Class::GroupManagement, 5)],
        ("group", "write") => {
            let members = diff::list_change(diff, "members");
            let mut out: Vec<Activity> = members
                .added
                .into_iter()
                .map(|m| Activity {
                    subject: Subject::Member(m),
                    ..Activity::new(Class::GroupManagement, 3)
                })
                .chain(members.removed.into_iter().map(|m| Activity {
                    subject: Subject::Member(m),
                    ..Activity::new(Class::GroupManagement, 4)
                }))
                .collect();
            if out.is_empty() {
                out.push(Activity::other(Class::GroupManagement, "update"));
            }
            out
        }
        ("organization_member", "create") => vec![Activity::new(Class::GroupManagement, 3)],
        ("organization_member", "delete") => vec![Activity::new(Class::GroupManagement, 4)],
        ("organization_member", "write") => {
            let out = privilege_changes(diff);
            if out.is_empty() {
                vec![Activity::other(Class::GroupManagement, "update")]
            } else {
                out
            }
        }
        _ => vec![api_activity(action)],
    }
}

fn api_activity(action: &str) -> Activity {
    match action {
        "create" => Activity::new(Class::ApiActivity, 1),
        "write" => Activity::new(Class::ApiActivity, 3),
        "delete" => Activity::new(Class::ApiActivity, 4),
        verb => Activity::other(Class::ApiActivity, verb),
    }
}

/// A user write: role changes are User Access Management; a status or password change is
/// Account Change; anything else is Account Change "Update".
///
/// A new password is a Password Reset (4), not a Password Change (3), when someone else
/// set it (an admin's `PUT /users/{user}/password`) or a one-time passcode did (Coder's
/// reset flow clears `one_time_passcode_expires_at` in the same write).
fn user_write(diff: Option<&JsonText>, self_service: bool) -> Vec<Activity> {
    let mut out = privilege_changes(diff);
    let status = diff::new_value(diff, "status").and_then(Value::as_str);
    let old_status = diff::old_value(diff, "status").and_then(Value::as_str);
    let account = match status {
        Some("suspended") if old_status != Some("suspended") => {
            Some(Activity::new(Class::AccountChange, 5))
        }
        Some("active") if old_status != Some("active") => {
            Some(Activity::new(Class::AccountChange, 2))
        }
        _ if diff::touches(diff, "hashed_password") || diff::touches(diff, "password") => {
            let reset = !self_service || diff::touches(diff, "one_time_passcode_expires_at");
            Some(Activity::new(
                Class::AccountChange,
                if reset { 4 } else { 3 },
            ))
        }
        _ => None,
    };
    match account {
        Some(a) => out.push(a),
        None if out.is_empty() => out.push(Activity::other(Class::AccountChange, "update")),
        None => {}
    }
    out
}

fn privilege_changes(diff: Option<&JsonText>) -> Vec<Activity> {
    let roles = diff::role_change(diff);
    let mut out = Vec::new();
    if !roles.added.is_empty() {
        out.push(Activity {
            subject: Subject::Privileges(roles.added),
            ..Activity::new(Class::UserAccess, 1)
        });
    }
    if !roles.removed.is_empty() {
        out.push(Activity {
            subject: Subject::Privileges(roles.removed),
            ..Activity::new(Class::UserAccess, 2)
        });
    }
    out
}

#[cfg(test)]
mod tests;
