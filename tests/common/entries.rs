//! Audit entries for the normalization tests and benchmark: the sample pages, and generated
//! entries for every action × resource type of `schemas/NOTES.md` §5.2 in each shape Coder
//! sends (null user, empty or odd IPs, nil UUIDs, offsets, failures, exit codes, secrets).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use coder_audit_shipper::coder::{AuditEntry, CoderContext};
use coder_audit_shipper::normalize::{ClassStrategy, Enrichment, OcsfVersion, Target};
use serde_json::{Value, json};

/// OCSF 1.8.0 and 1.1.0 with the classes that say what happened.
pub const OCSF_18: Target = Target::Ocsf {
    version: OcsfVersion::V1_8_0,
    classes: ClassStrategy::Semantic,
};
pub const OCSF_11: Target = Target::Ocsf {
    version: OcsfVersion::V1_1_0,
    classes: ClassStrategy::Semantic,
};

/// The enrichment the normalization tests use: every `[enrich]` key set.
pub fn enrichment() -> Enrichment {
    Enrichment {
        deployment: Some("prod-eu".into()),
        labels: [("team".to_owned(), "platform".to_owned())].into(),
        tags: vec!["pci".into()],
        access_url: Some("https://coder.example.com".into()),
        coder_version: Some("v2.24.1".into()),
        geoip: None,
    }
}

/// The test GeoIP databases (`scripts/geoip-test-dbs.sh`, made once per target
/// directory; a missing registry fails the test, never skips it).
pub fn geoip_databases() -> PathBuf {
    static MADE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    MADE.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("geoip-test-dbs");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/geoip-test-dbs.sh");
        let status = std::process::Command::new("bash")
            .arg(&script)
            .arg(&dir)
            .status()
            .unwrap_or_else(|e| panic!("{}: {e}", script.display()));
        assert!(
            status.success(),
            "scripts/geoip-test-dbs.sh failed: it needs python3 and PyPI"
        );
        dir
    })
    .clone()
}

/// [`enrichment`] with both test GeoIP databases: every sample address outside private
/// ranges is placed (`tests/geoip/write_dbs.py`).
pub fn enrichment_with_geoip() -> Enrichment {
    let dir = geoip_databases();
    let geoip = coder_audit_shipper::normalize::geoip::GeoIp::open(
        Some(&dir.join("city.mmdb")),
        Some(&dir.join("asn.mmdb")),
    )
    .unwrap();
    Enrichment {
        geoip: Some(std::sync::Arc::new(geoip)),
        ..enrichment()
    }
}

/// What `[enrich.coder]`'s look-ups find in the tests: a workspace with its template and
/// owner, a template, an organization, a user (the same answers the simulator gives,
/// `sim/src/directory.rs`).
pub fn coder_context() -> std::sync::Arc<CoderContext> {
    use coder_audit_shipper::coder::context::{
        OrganizationInfo, TemplateInfo, UserInfo, WorkspaceInfo,
    };
    let s = |v: &str| Some(v.to_owned());
    std::sync::Arc::new(CoderContext {
        workspace: Some(std::sync::Arc::new(WorkspaceInfo {
            id: s("05567e23-31e2-4c00-bd05-4d499d437347"),
            name: s("dev"),
            owner_id: s("70d43e6e-5e1b-4875-b07a-91a1f6a399c0"),
            owner_name: s("alice"),
            organization_id: s("2e1105ea-9827-41ef-8e19-fb7f93dac993"),
            organization_name: s("coder"),
            template_id: s("7e57c0de-0000-4000-9000-000000000001"),
            template_name: s("docker-dev"),
            template_display_name: s("Docker (dev)"),
            template_active_version_id: s("7e57c0de-0000-4000-a000-000000000001"),
        })),
        template: Some(std::sync::Arc::new(TemplateInfo {
            id: s("7e57c0de-0000-4000-9000-000000000002"),
            name: s("k8s-gpu"),
            display_name: s("Kubernetes GPU"),
            active_version_id: s("7e57c0de-0000-4000-a000-000000000002"),
            organization_id: s("2e1105ea-9827-41ef-8e19-fb7f93dac993"),
            organization_name: s("coder"),
        })),
        organization: Some(std::sync::Arc::new(OrganizationInfo {
            id: s("2e1105ea-9827-41ef-8e19-fb7f93dac993"),
            name: s("coder"),
            display_name: s("Coder Inc."),
        })),
        user: Some(std::sync::Arc::new(UserInfo {
            id: s("9b2f6a1c-3d4e-4f50-8a61-7b8c9d0e1f23"),
            username: s("mallory"),
            name: s("Mallory Quinn"),
            email: s("mallory@acme.example"),
        })),
        owner: Some(std::sync::Arc::new(UserInfo {
            id: s("70d43e6e-5e1b-4875-b07a-91a1f6a399c0"),
            username: s("alice"),
            name: s("Alice Nguyen"),
            email: s("alice@acme.example"),
        })),
    })
}

/// `entry` parsed, with [`coder_context`] attached as the look-ups would.
pub fn with_context(entry: &Value) -> AuditEntry {
    let mut parsed = AuditEntry::parse(&entry.to_string());
    parsed.context = Some(coder_context());
    parsed
}

/// Every (resource_type, action) pair of the §5.2 table, plus ones no Coder has yet.
pub fn action_resource_pairs() -> Vec<(&'static str, &'static str)> {
    let mut pairs = vec![
        ("api_key", "login"),
        ("api_key", "logout"),
        ("api_key", "register"),
        ("user", "register"),
        ("user", "request_password_reset"),
        ("workspace_build", "start"),
        ("workspace_build", "stop"),
        ("workspace_build", "delete"),
        ("workspace_agent", "connect"),
        ("workspace_agent", "disconnect"),
        ("workspace_app", "open"),
        ("workspace_app", "close"),
        ("time_machine", "rewind"),
        ("workspace", "share"),
    ];
    let crud_types = [
        "user",
        "group",
        "organization_member",
        "custom_role",
        "organization",
        "idp_sync_settings_organization",
        "idp_sync_settings_group",
        "idp_sync_settings_role",
        "oauth2_provider_app",
        "oauth2_provider_app_secret",
        "oauth2_provider_settings",
        "api_key",
        "git_ssh_key",
        "convert_login",
        "user_secret",
        "ai_seat",
        "user_ai_budget_override",
        "template",
        "template_version",
        "workspace",
        "workspace_proxy",
        "license",
        "health_settings",
        "notifications_settings",
        "prebuilds_settings",
        "notification_template",
        "ai_provider",
        "ai_provider_key",
        "ai_gateway_key",
        "group_ai_budget",
        "chat",
        "mcp_server_config",
        "user_skill",
        "experiment_rule",
        "task",
        "a_type_from_the_future",
    ];
    for rt in crud_types {
        for action in ["create", "write", "delete"] {
            pairs.push((rt, action));
        }
    }
    pairs
}

/// The diff a realistic entry of this pair carries.
fn diff_for(resource_type: &str, action: &str, variant: usize) -> Value {
    match (resource_type, action, variant % 4) {
        ("user", "write", 0) => {
            json!({"status": {"old": "active", "new": "suspended", "secret": false}})
        }
        ("user", "write", 1) => {
            json!({"rbac_roles": {"old": ["member"], "new": ["template-admin", "auditor"], "secret": false}})
        }
        ("user", "write", 2) => json!({
            "hashed_password": {"old": "", "new": "", "secret": true},
            "status": {"old": "suspended", "new": "active", "secret": false}
        }),
        ("user", "write", _) => {
            json!({"name": {"old": "Al", "new": "Alice Example", "secret": false},
                                         "email": {"old": "a@x", "new": "alice@example.com", "secret": false}})
        }
        ("group", "write", 0 | 1) => json!({"members": {
            "old": [{"user_id": "9b9b0000-0000-4000-8000-000000000009", "group_id": "g"}],
            "new": [{"user_id": "9b9b0000-0000-4000-8000-00000000000a", "group_id": "g"}],
            "secret": false}}),
        ("group", "write", _) => json!({"quota_allowance": {"old": 0, "new": 20, "secret": false}}),
        ("organization_member", "write", 0 | 1) => {
            json!({"roles": {"old": [], "new": ["organization-admin"], "secret": false}})
        }
        ("organization_member", "write", _) => {
            json!({"roles": {"old": ["organization-admin"], "new": [], "secret": false}})
        }
        ("user_secret" | "oauth2_provider_app_secret", _, _) => {
            json!({"value": {"old": "", "new": "", "secret": true}})
        }
        (_, "write", _) => json!({"name": {"old": "a", "new": "b", "secret": false},
                                  "ttl": {"old": 0, "new": 3600000000000u64, "secret": false}}),
        _ => json!({}),
    }
}

const ALICE: &str = r#"{"id":"7a0b1c2d-0000-4000-8000-000000000003","username":"alice","name":"Alice Example",
  "email":"alice@example.com","created_at":"2025-01-01T00:00:00Z","status":"active","login_type":"oidc",
  "organization_ids":[],"roles":[{"name":"owner","display_name":"Owner"}]}"#;
/// A v2.0-era user: no `name`, `organization_ids: null`, roles as bare strings, no login type.
const LEGACY: &str = r#"{"id":"70d0705a-693b-4d6a-81bd-b1e4cae9b618","username":"mia","email":"mia@x.example",
  "created_at":"2023-09-18T07:44:51.30077Z","status":"active","organization_ids":null,"roles":["member"]}"#;

/// One generated entry: `variant` picks the shape (user, IP, status, time, ids).
pub fn generated(resource_type: &str, action: &str, variant: usize) -> Value {
    let user: Value = match variant % 5 {
        0 | 3 => serde_json::from_str(ALICE).unwrap(),
        1 => Value::Null,
        2 => serde_json::from_str(LEGACY).unwrap(),
        _ => {
            json!({"id": "1d2e3f40-0000-4000-8000-000000000004", "username": "bob", "email": "bob@example.com",
                    "status": "suspended", "login_type": "github", "roles": []})
        }
    };
    let ip = [
        "203.0.113.7",
        "",
        "2001:db8::7",
        "::ffff:10.1.2.3",
        "garbage",
        "fe80::1%eth0",
        "127.0.0.1",
    ][variant % 7];
    let status = [
        json!(200),
        json!(201),
        json!(401),
        json!(500),
        json!(303),
        json!(0),
        json!(1),
        json!(204),
        json!(403),
        Value::Null,
        // Coder's OAuth callback succeeds with 307; agent disconnects carry exit codes.
        json!(307),
        json!(137),
        json!(255),
    ][variant % 13]
        .clone();
    let time = [
        "2026-08-20T14:12:55.447001Z",
        "2026-08-20T16:12:55.5+02:00",
        "2026-08-20T23:59:59.999999Z",
        "2026-08-20T09:00:00-05:30",
    ][variant % 4];
    let nil = "00000000-0000-0000-0000-000000000000";
    let (resource_id, target) = match (resource_type, action) {
        ("api_key", "login" | "logout" | "register") => {
            ("7a0b1c2d-0000-4000-8000-000000000003", "")
        }
        ("workspace_build", _) => ("3333cccc-0000-4000-8000-000000000033", ""),
        _ if variant % 7 == 3 => (nil, ""),
        _ => ("0b5e4c3a-0000-4000-8000-000000000004", "dev"),
    };
    let additional = if resource_type == "workspace_build" {
        // Scheduled builds (autostart, autostop, dormancy) are Coder acting; cli is a person.
        let reason = ["initiator", "autostart", "autostop", "dormancy", "cli"][variant % 5];
        json!({"workspace_name": "dev", "build_number": "7", "build_reason": reason,
               "workspace_owner": if variant % 2 == 0 { "alice" } else { "" },
               "workspace_id": "01f110cb-19bb-4185-a050-988d57185767"})
    } else if resource_type == "workspace_agent" {
        // v2.20–v2.24 agent rows: the connection type decides SSH or Network Activity.
        let connection_type = ["SSH", "VS Code", "JetBrains", "Web Terminal", ""][variant % 5];
        json!({"workspace_name": "dev", "workspace_id": "01f110cb-19bb-4185-a050-988d57185767",
               "workspace_owner": "alice", "connection_type": connection_type,
               "reason": "session ended"})
    } else if variant % 3 == 0 && !matches!(action, "login" | "logout" | "register") {
        // A background task (dormancy, SCIM): Coder acting, the user only touched.
        json!({"automatic_actor": "coder", "automatic_subsystem": "scim"})
    } else {
        json!({})
    };
    let organization = if variant % 2 == 0 {
        json!({"id": "d8a5c1e2-0000-4000-8000-000000000002", "name": "coder", "display_name": "Coder", "icon": ""})
    } else {
        Value::Null
    };
    let mut e = json!({
        "id": format!("5f1c0a0e-2b1a-4c33-9f0e-{:012x}", variant * 1000 + resource_type.len() * 10 + action.len()),
        "request_id": if variant % 6 == 5 { nil.to_owned() } else { "a6b1c2d3-0000-4000-8000-000000000001".to_owned() },
        "time": time,
        "ip": ip,
        "user_agent": if variant % 4 == 1 { "" } else { "Mozilla/5.0 (X11; Linux x86_64) coder-cli/2.24.1" },
        "resource_type": resource_type,
        "resource_id": resource_id,
        "resource_target": target,
        "resource_icon": if variant % 2 == 0 { "/icon/code.svg" } else { "" },
        "action": action,
        "diff": diff_for(resource_type, action, variant),
        "status_code": status,
        "additional_fields": additional,
        "description": format!("{{user}} did {action} on {resource_type} {{target}}"),
        "resource_link": if variant % 3 == 1 { "" } else { "/@alice/dev" },
        "is_deleted": variant % 5 == 4,
        "organization_id": if variant % 2 == 0 { "d8a5c1e2-0000-4000-8000-000000000002" } else { nil },
        "user": user,
    });
    if !organization.is_null() {
        e["organization"] = organization;
    }
    e
}

/// Every generated entry: each pair in `variants` shapes.
pub fn all_generated(variants: usize) -> Vec<Value> {
    action_resource_pairs()
        .into_iter()
        .flat_map(|(rt, a)| (0..variants).map(move |v| generated(rt, a, v)))
        .collect()
}

/// The directories of sample pages: the repository's fixtures, and the shared Coder
/// material beside the repository when present (CI always has it).
pub fn sample_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![root.join("tests/fixtures/coder-api")];
    let shared = std::env::var_os("CODER_API_SAMPLES")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/coder-api/samples"));
    if shared.is_dir() {
        dirs.push(shared);
    }
    dirs
}

/// Every entry of every sample page, with the page it came from.
pub fn sample_entries() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for dir in sample_dirs() {
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|f| f.ok().map(|f| f.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for f in files {
            let page: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            for e in page["audit_logs"].as_array().cloned().unwrap_or_default() {
                out.push((name.clone(), e));
            }
        }
    }
    out
}
