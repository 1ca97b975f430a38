//! Realistic audit entries, shaped per Coder version.
//!
//! The shapes follow the synthesized v2.36 and v2.9 sample pages: builds carry
//! `build_number` as a *string*, logins have an empty diff, background builds have no IP and
//! no user agent, agent-era entries have `user: null`, secrets carry `{"secret": true}`.

use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};

use crate::ApiVersion;

const NIL: &str = "00000000-0000-0000-0000-000000000000";
const ORG_ID: &str = "2e1105ea-9827-41ef-8e19-fb7f93dac993";

struct Person {
    id: &'static str,
    username: &'static str,
    name: &'static str,
    email: &'static str,
}

const PEOPLE: &[Person] = &[
    Person {
        id: "70d43e6e-5e1b-4875-b07a-91a1f6a399c0",
        username: "alice",
        name: "Alice Nguyen",
        email: "alice@acme.example",
    },
    Person {
        id: "0f5a5b6c-1a9e-4b1e-9d55-3d2b7e1c9a01",
        username: "bob",
        name: "Bob Okafor",
        email: "bob@acme.example",
    },
    Person {
        id: "5c1d8e2f-7b3a-4c6d-8e9f-0a1b2c3d4e5f",
        username: "carol",
        name: "",
        email: "carol@acme.example",
    },
];

/// Makes entries for the simulator's backlogs and live traffic.
#[derive(Debug, Clone)]
pub struct Generator {
    version: ApiVersion,
}

impl Generator {
    pub fn new(version: ApiVersion) -> Self {
        Self { version }
    }

    /// Coder's `time` text: RFC 3339 with µs precision and trailing zeros trimmed.
    pub fn format_time(t: DateTime<Utc>) -> String {
        let s = t.to_rfc3339_opts(SecondsFormat::Micros, true);
        // "…:06.900000Z" → "…:06.9Z", "…:59.000000Z" → "…:59Z"
        let (body, _z) = s.split_at(s.len() - 1);
        let trimmed = body.trim_end_matches('0').trim_end_matches('.');
        format!("{trimmed}Z")
    }

    /// One random entry with the given id and time.
    pub fn entry(&self, id: &str, time: DateTime<Utc>, rng: &mut impl Rng) -> Value {
        let person = PEOPLE.choose(rng).unwrap_or(&PEOPLE[0]);
        let kind = rng.random_range(0..10);
        let mut e = match kind {
            0 => self.login(person, rng.random_bool(0.2)),
            1 => self.logout(person),
            2..=4 => self.build(person, rng),
            5 => self.template_write(person),
            6 => self.token_create(person),
            7 => self.user_suspend(person),
            8 => self.group_create(person),
            _ => self.agent_disconnect(),
        };
        // The ids the directory answers for (`crate::directory`), chosen by the entry's id.
        let n = crate::directory::workspace_for(id);
        match e["resource_type"].as_str() {
            Some("workspace_build") => {
                e["additional_fields"]["workspace_id"] = json!(crate::directory::workspace_id(n));
            }
            Some("template") => {
                e["resource_id"] = json!(crate::directory::template_id(
                    n % crate::directory::TEMPLATES
                ));
            }
            Some("user") => e["resource_id"] = json!(crate::directory::MALLORY_ID),
            _ => {}
        }
        e["id"] = json!(id);
        e["time"] = json!(Self::format_time(time));
        e["request_id"] = json!(uuid::Uuid::new_v4().to_string());
        if !self.version.has_organization() {
            if let Some(obj) = e.as_object_mut() {
                obj.remove("organization");
            }
        }
        e
    }

    fn user(&self, p: &Person) -> Value {
        if self.version.minor < 13 {
            // v2.0–v2.12 filled only a few fields: zero times, empty login type, null org ids.
            json!({
                "id": p.id, "username": p.username, "avatar_url": "", "name": "",
                "email": p.email, "created_at": "2023-09-18T07:44:51.30077Z",
                "last_seen_at": "0001-01-01T00:00:00Z", "status": "active", "login_type": "",
                "theme_preference": "", "organization_ids": null, "roles": []
            })
        } else {
            json!({
                "id": p.id, "username": p.username, "name": p.name, "email": p.email,
                "created_at": "2025-11-04T09:12:44.118201Z",
                "updated_at": "2026-08-20T15:31:09.780012Z",
                "last_seen_at": "2026-08-20T00:00:00Z", "status": "active",
                "login_type": "oidc", "organization_ids": [],
                "roles": [{"name": "auditor", "display_name": "Auditor"}], "has_ai_seat": false
            })
        }
    }

    fn base(&self, p: Option<&Person>, resource_type: &str, action: &str) -> Value {
        json!({
            "id": "", "request_id": "", "time": "",
            "ip": "203.0.113.24",
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/139.0.0.0 Safari/537.36",
            "resource_type": resource_type,
            "resource_id": uuid::Uuid::new_v4().to_string(),
            "resource_target": "",
            "resource_icon": "",
            "action": action,
            "diff": {},
            "status_code": 200,
            "additional_fields": {},
            "description": "",
            "resource_link": "",
            "is_deleted": false,
            "organization_id": NIL,
            "user": p.map_or(Value::Null, |p| self.user(p)),
        })
    }

    fn with_org(mut e: Value) -> Value {
        e["organization_id"] = json!(ORG_ID);
        e["organization"] =
            json!({"id": ORG_ID, "name": "coder", "display_name": "Coder", "icon": ""});
        e
    }

    fn login(&self, p: &Person, failed: bool) -> Value {
        let mut e = self.base(Some(p), "api_key", "login");
        e["resource_id"] = json!(p.id);
        if failed {
            e["status_code"] = json!(401);
            e["resource_id"] = json!(NIL);
            e["description"] = json!("{user} unsuccessfully attempted to login");
        } else {
            e["description"] = json!("{user} logged in");
        }
        e
    }

    fn logout(&self, p: &Person) -> Value {
        let mut e = self.base(Some(p), "api_key", "logout");
        e["resource_id"] = json!(p.id);
        e["description"] = json!("{user} logged out");
        e
    }

    fn build(&self, p: &Person, rng: &mut impl Rng) -> Value {
        let start = rng.random_bool(0.5);
        let reason = *["initiator", "autostart", "autostop", "dashboard", "cli"]
            .choose(rng)
            .unwrap_or(&"initiator");
        let n = rng.random_range(1..400).to_string();
        let ws = format!("{}-dev", p.username);
        let mut e = Self::with_org(self.base(
            Some(p),
            "workspace_build",
            if start { "start" } else { "stop" },
        ));
        if reason.starts_with("auto") {
            e["ip"] = json!("");
        }
        e["user_agent"] = json!("");
        e["additional_fields"] = json!({
            "build_number": n, "build_reason": reason,
            "workspace_id": uuid::Uuid::new_v4().to_string(),
            "workspace_name": ws, "workspace_owner": ""
        });
        e["description"] = json!(if start {
            "{user} started workspace {target}"
        } else {
            "{user} stopped workspace {target}"
        });
        e["resource_link"] = json!(format!("/@{}/{ws}/builds/{n}", p.username));
        e
    }

    fn template_write(&self, p: &Person) -> Value {
        let mut e = Self::with_org(self.base(Some(p), "template", "write"));
        e["resource_target"] = json!("docker-dev");
        e["diff"] = json!({"default_ttl": {"old": 28800000000000_i64, "new": 43200000000000_i64, "secret": false}});
        e["description"] = json!("{user} updated template {target}");
        e["resource_link"] = json!("/templates/docker-dev");
        e
    }

    fn token_create(&self, p: &Person) -> Value {
        let mut e = self.base(Some(p), "api_key", "create");
        e["resource_id"] = json!(p.id);
        e["resource_target"] = json!("siem-export");
        e["status_code"] = json!(201);
        e["diff"] = json!({"hashed_secret": {"secret": true}, "token_name": {"new": "siem-export", "secret": false}});
        e["description"] = json!("{user} created token {target}");
        e
    }

    fn user_suspend(&self, p: &Person) -> Value {
        let mut e = self.base(Some(p), "user", "write");
        e["resource_target"] = json!("mallory");
        e["diff"] = json!({"status": {"old": "active", "new": "suspended", "secret": false}});
        e["description"] = json!("{user} suspended user {target}");
        e["resource_link"] = json!("/users?filter=mallory");
        e
    }

    fn group_create(&self, p: &Person) -> Value {
        let mut e = Self::with_org(self.base(Some(p), "group", "create"));
        e["resource_target"] = json!("security & ops");
        e["status_code"] = json!(201);
        e["diff"] = json!({"name": {"new": "security & ops", "secret": false}});
        e["description"] = json!("{user} created group {target}");
        e
    }

    /// v2.20–v2.24 style agent event: no user, exit code as status.
    fn agent_disconnect(&self) -> Value {
        let mut e = Self::with_org(self.base(None, "workspace_agent", "disconnect"));
        e["resource_target"] = json!("main");
        e["status_code"] = json!(255);
        e["user_agent"] = json!("");
        e["ip"] = json!("fd7a:115c:a1e0:4353:89d9:4ca8:9c42:8d2d");
        e["additional_fields"] =
            json!({"connection_type": "SSH", "reason": "process exited with error status: 255"});
        e["description"] = json!("{user} disconnected workspace agent {target}");
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_trimmed_like_postgres_text() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(
            Generator::format_time(t("2026-01-01T00:00:06.900Z")),
            "2026-01-01T00:00:06.9Z"
        );
        assert_eq!(
            Generator::format_time(t("2026-01-01T23:59:59Z")),
            "2026-01-01T23:59:59Z"
        );
        assert_eq!(
            Generator::format_time(t("2026-01-01T23:59:59.123456Z")),
            "2026-01-01T23:59:59.123456Z"
        );
    }

    #[test]
    fn legacy_versions_have_no_organization_and_null_org_ids() {
        let g = Generator::new(ApiVersion { minor: 9 });
        let mut rng = rand::rng();
        for _ in 0..50 {
            let e = g.entry("x", Utc::now(), &mut rng);
            assert!(e.get("organization").is_none());
            if let Some(u) = e["user"].as_object() {
                assert!(u["organization_ids"].is_null());
            }
        }
    }
}
