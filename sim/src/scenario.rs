//! The detection scenario: every attack the detection pack (`detections/rules`) names, as
//! Coder records it, amid a benign baseline no rule may fire on.
//!
//! The entries have HEAD's shape (`coder-api/NOTES.md` §1: a failed login is `login` on
//! `api_key` with status 401, a nil `resource_id` and an empty diff; `organization` only on
//! organization-scoped resources). Their diffs carry the fields Coder tracks per resource
//! (`coder/coder:enterprise/audit/table.go`): a user's `rbac_roles` and `status`, a
//! template's `active_version_id`, a custom role's `site_permissions`, a login
//! conversion's `from_login_type` / `to_login_type`, IdP sync settings' `field` and
//! `mapping`. Connection rows follow §3: a web connection names its user in
//! `web_info.user`, an agent-reported session names none.
//!
//! The baseline sits next to each attack's boundary: a role removed (not granted), four
//! failed logins from one address and five for one user spread over more than ten
//! minutes, a dormant user reactivated by their own login, a template promoted by a
//! template admin, a non-owner refused (403) or sent to sign in (303).

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use crate::SimHandle;
use crate::connections::ConnectionRow;
use crate::directory::{ORG_ID, workspace_id};
use crate::generate::Generator;

mod script;

pub use script::detections;

const NIL: &str = "00000000-0000-0000-0000-000000000000";
const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:142.0) Gecko/20100101 Firefox/142.0";

/// Someone in the audit log: `(id, username, site roles)`.
type Person = (&'static str, &'static str, &'static [&'static str]);

const ADMIN: Person = ("75ff166e-7a2a-42eb-a261-9f9c14e741a9", "admin", &["owner"]);
const TINA: Person = (
    "1e0f7a3b-2c4d-4e5f-8a9b-0c1d2e3f4a5b",
    "tina",
    &["template-admin"],
);
const ALICE: Person = ("70d43e6e-5e1b-4875-b07a-91a1f6a399c0", "alice", &[]);
const BOB: Person = ("0f5a5b6c-1a9e-4b1e-9d55-3d2b7e1c9a01", "bob", &[]);
const CAROL: Person = ("5c1d8e2f-7b3a-4c6d-8e9f-0a1b2c3d4e5f", "carol", &[]);
const DAVE: Person = ("4d4d4d4d-0000-4000-8000-000000000004", "dave", &[]);
const ERIN: Person = ("4d4d4d4d-0000-4000-8000-000000000005", "erin", &[]);
const MALLORY: Person = ("9b2f6a1c-3d4e-4f50-8a61-7b8c9d0e1f23", "mallory", &[]);
/// The accounts a password spray tries, one failure each.
const SPRAYED: [Person; 6] = [
    ("5a5a5a5a-0000-4000-8000-000000000001", "frank", &[]),
    ("5a5a5a5a-0000-4000-8000-000000000002", "grace", &[]),
    ("5a5a5a5a-0000-4000-8000-000000000003", "heidi", &[]),
    ("5a5a5a5a-0000-4000-8000-000000000004", "ivan", &[]),
    ("5a5a5a5a-0000-4000-8000-000000000005", "judy", &[]),
    ("5a5a5a5a-0000-4000-8000-000000000006", "oscar", &[]),
];

/// The scenario's rows and what each rule must find in them.
#[derive(Debug, Default)]
pub struct Scenario {
    pub audit: Vec<Value>,
    pub connections: Vec<ConnectionRow>,
    /// Rule name → the ids of the events it must fire on, each once. Every rule of the
    /// pack has an entry.
    pub expected: BTreeMap<&'static str, Vec<String>>,
    /// Correlation rule name → the group values (an address, a username) it fires for.
    pub groups: BTreeMap<&'static str, Vec<String>>,
    start: DateTime<Utc>,
    /// Seconds from `start` of the next event.
    clock: i64,
}

impl Scenario {
    /// Put every row into the simulator.
    pub fn play(&self, sim: &SimHandle) {
        for entry in &self.audit {
            assert!(
                sim.insert_entry(entry),
                "a scenario entry without a time: {entry}"
            );
        }
        for row in &self.connections {
            sim.insert_connection_row(row.clone());
        }
    }

    /// The ids of the baseline's events: those no rule may fire on.
    pub fn baseline(&self) -> Vec<String> {
        let attacks: Vec<&String> = self.expected.values().flatten().collect();
        self.audit
            .iter()
            .filter_map(|e| e["id"].as_str().map(str::to_owned))
            .chain(self.connections.iter().map(|r| r.id.clone()))
            .filter(|id| !attacks.contains(&id))
            .collect()
    }

    /// Move the clock to `minutes` after the start.
    fn at_minute(&mut self, minutes: i64) {
        self.clock = minutes * 60;
    }

    /// The next event's time: 7 s after the last.
    fn tick(&mut self) -> DateTime<Utc> {
        let t = self.start + TimeDelta::seconds(self.clock);
        self.clock += 7;
        t
    }

    fn expect(&mut self, rule: Option<&'static str>, id: &str) {
        if let Some(rule) = rule {
            self.expected.entry(rule).or_default().push(id.to_owned());
        }
    }

    /// One audit entry; `rule` is the rule it must fire, `None` for the baseline.
    #[allow(clippy::too_many_arguments)]
    fn audit(
        &mut self,
        rule: Option<&'static str>,
        actor: Person,
        (resource_type, action, target): (&str, &str, &str),
        diff: Value,
        status: u16,
        ip: &str,
    ) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let time = self.tick();
        let org_scoped = matches!(
            resource_type,
            "template" | "custom_role" | "idp_sync_settings_group" | "idp_sync_settings_role"
        );
        let roles: Vec<Value> = actor
            .2
            .iter()
            .map(|r| json!({"name": r, "display_name": r}))
            .collect();
        let mut e = json!({
            "id": id, "request_id": uuid::Uuid::new_v4().to_string(),
            "time": Generator::format_time(time), "ip": ip, "user_agent": BROWSER,
            "resource_type": resource_type,
            "resource_id": if action == "login" { NIL.to_owned() } else { uuid::Uuid::new_v4().to_string() },
            "resource_target": target, "resource_icon": "", "action": action, "diff": diff,
            "status_code": status, "additional_fields": {},
            "description": format!("{{user}} {action} {resource_type} {{target}}"),
            "resource_link": "", "is_deleted": false,
            "organization_id": if org_scoped { ORG_ID } else { NIL },
            "user": {
                "id": actor.0, "username": actor.1, "name": "",
                "email": format!("{}@acme.example", actor.1),
                "created_at": "2025-11-04T09:12:44.118201Z",
                "updated_at": "2026-08-20T15:31:09.780012Z",
                "last_seen_at": "2026-08-20T00:00:00Z", "status": "active",
                "login_type": "password", "organization_ids": [], "roles": roles,
                "has_ai_seat": false
            }
        });
        if org_scoped {
            e["organization"] =
                json!({"id": ORG_ID, "name": "coder", "display_name": "Coder", "icon": ""});
        }
        self.audit.push(e);
        self.expect(rule, &id);
        id
    }

    fn login(&mut self, rule: Option<&'static str>, who: Person, ok: bool, ip: &str) -> String {
        let status = if ok { 201 } else { 401 };
        self.audit(rule, who, ("api_key", "login", ""), json!({}), status, ip)
    }

    /// A connection-log row on workspace `n` (owned by `PEOPLE[n % 3]` of the directory:
    /// 0 alice, 1 bob, 2 carol). `by` is a web connection's user (`None`: not signed in);
    /// a session names none.
    fn connect(
        &mut self,
        rule: Option<&'static str>,
        n: usize,
        kind: &str,
        by: Option<Person>,
        status: u16,
    ) {
        let id = uuid::Uuid::new_v4().to_string();
        let time = self.tick();
        let owner = [ALICE, BOB, CAROL][n % 3];
        let mut v = json!({
            "id": id, "connect_time": Generator::format_time(time),
            "organization": {"id": ORG_ID, "name": "coder", "display_name": "Coder", "icon": ""},
            "workspace_owner_id": owner.0, "workspace_owner_username": owner.1,
            "workspace_id": workspace_id(n), "workspace_name": format!("ws-{n}"),
            "agent_name": "main", "ip": "fd7a:115c:a1e0:4b86:9046:80e:6c70:1a2b", "type": kind,
        });
        let session = matches!(kind, "ssh" | "vscode" | "jetbrains" | "reconnecting_pty");
        let connection_id = session.then(|| uuid::Uuid::new_v4().to_string());
        if let Some(c) = &connection_id {
            v["ssh_info"] = json!({"connection_id": c});
        } else {
            let user = by.map(|user| {
                json!({"id": user.0, "username": user.1,
                       "email": format!("{}@acme.example", user.1), "name": "",
                       "status": "active", "login_type": "oidc", "roles": []})
            });
            v["web_info"] = json!({
                "user_agent": BROWSER, "user": user,
                "slug_or_port": if kind == "port_forwarding" { "8080" } else { "code-server" },
                "status_code": status,
            });
        }
        self.connections.push(ConnectionRow {
            id: id.clone(),
            connect_time: time,
            connection_type: kind.to_owned(),
            connection_id,
            workspace_id: workspace_id(n),
            closed: false,
            value: v,
        });
        self.expect(rule, &id);
    }
}
