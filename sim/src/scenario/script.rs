//! The scenario's events in order: the baseline, the attacks, the failed-login bursts.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{ADMIN, ALICE, BOB, CAROL, DAVE, ERIN, MALLORY, NIL, SPRAYED, Scenario, TINA};

fn roles(old: &[&str], new: &[&str]) -> Value {
    json!({"rbac_roles": {"old": old, "new": new, "secret": false}})
}

fn status(old: &str, new: &str) -> Value {
    json!({"status": {"old": old, "new": new, "secret": false}})
}

/// The scenario, its first event at `start` and its last about 2 h 15 min later.
pub fn detections(start: DateTime<Utc>) -> Scenario {
    let mut s = Scenario {
        start,
        ..Scenario::default()
    };
    baseline(&mut s);
    attacks(&mut s);
    failed_login_bursts(&mut s);
    s
}

fn baseline(s: &mut Scenario) {
    s.at_minute(0);
    for (who, ip) in [
        (ALICE, "10.20.0.11"),
        (BOB, "10.20.0.12"),
        (CAROL, "10.20.0.13"),
    ] {
        s.login(None, who, true, ip);
        s.audit(
            None,
            who,
            ("workspace_build", "start", ""),
            json!({}),
            200,
            ip,
        );
    }
    // Owners in their own workspaces: apps, a port, SSH and the web terminal (no user).
    s.connect(None, 0, "workspace_app", Some(ALICE), 200);
    s.connect(None, 1, "port_forwarding", Some(BOB), 200);
    s.connect(None, 2, "ssh", None, 0);
    s.connect(None, 0, "reconnecting_pty", None, 0);
    // Not let in: refused, or sent to sign in (no user yet).
    s.connect(None, 0, "workspace_app", Some(MALLORY), 403);
    s.connect(None, 1, "workspace_app", None, 303);
    // Routine administration.
    let removed = roles(&["auditor", "template-admin"], &["template-admin"]);
    s.audit(
        None,
        ADMIN,
        ("user", "write", "carol"),
        removed,
        200,
        "10.20.0.14",
    );
    let name = json!({"name": {"old": "", "new": "Carol Diaz", "secret": false}});
    s.audit(
        None,
        ADMIN,
        ("user", "write", "carol"),
        name,
        200,
        "10.20.0.14",
    );
    let dormant = status("dormant", "active");
    s.audit(
        None,
        DAVE,
        ("user", "write", "dave"),
        dormant,
        200,
        "10.20.0.15",
    );
    let promoted = json!({"active_version_id": {"old": NIL, "new": uuid::Uuid::new_v4().to_string(), "secret": false}});
    s.audit(
        None,
        TINA,
        ("template", "write", "docker-dev"),
        promoted,
        200,
        "10.20.0.16",
    );
    let described = json!({"description": {"old": "", "new": "Docker dev box", "secret": false}});
    s.audit(
        None,
        BOB,
        ("template", "write", "docker-dev"),
        described,
        200,
        "10.20.0.12",
    );
    let org_only = json!({"site_permissions": {"new": [], "secret": false},
                          "org_permissions": {"new": [{"resource_type": "workspace", "action": "read", "negate": false}], "secret": false}});
    s.audit(
        None,
        ADMIN,
        ("custom_role", "create", "viewer"),
        org_only,
        200,
        "10.20.0.14",
    );
    s.audit(
        None,
        ADMIN,
        ("license", "create", "4"),
        json!({}),
        201,
        "10.20.0.14",
    );
    s.audit(
        None,
        ADMIN,
        ("workspace_proxy", "write", "eu-west"),
        json!({}),
        200,
        "10.20.0.14",
    );
    s.audit(
        None,
        ADMIN,
        ("oauth2_provider_app", "write", "jira"),
        json!({}),
        200,
        "10.20.0.14",
    );
    s.audit(
        None,
        ALICE,
        ("api_key", "logout", ""),
        json!({}),
        200,
        "10.20.0.11",
    );

    // Single mistakes, and four failures from one address (the burst needs five).
    s.at_minute(20);
    s.login(None, CAROL, false, "10.20.0.13");
    s.login(None, BOB, false, "10.20.0.12");
    for _ in 0..4 {
        s.login(None, DAVE, false, "198.51.100.7");
    }
    // Five failures for one user, three minutes apart: never five within ten minutes.
    for (i, minute) in [40, 43, 46, 49, 52].into_iter().enumerate() {
        s.at_minute(minute);
        let ip = format!("198.51.100.{}", 20 + i);
        s.login(None, ERIN, false, &ip);
    }
}

fn attacks(s: &mut Scenario) {
    s.at_minute(70);
    let ip = "203.0.113.50";
    let rule = Some("coder_site_privileged_role_granted");
    s.audit(
        rule,
        ADMIN,
        ("user", "write", "mallory"),
        roles(&[], &["owner"]),
        200,
        ip,
    );
    let more = roles(&["auditor"], &["auditor", "template-admin"]);
    s.audit(rule, ADMIN, ("user", "write", "bob"), more, 200, ip);

    let site = json!({"site_permissions": {"new": [{"resource_type": "*", "action": "*", "negate": false}], "secret": false}});
    let rule = Some("coder_custom_role_site_wide_permissions");
    s.audit(
        rule,
        ADMIN,
        ("custom_role", "create", "breakglass"),
        site,
        200,
        ip,
    );

    let expires = json!({"expires_at": {"new": "2126-01-01T00:00:00Z", "secret": false}});
    let rule = Some("coder_api_token_created");
    s.audit(rule, MALLORY, ("api_key", "create", "ci"), expires, 201, ip);

    let convert = json!({"from_login_type": {"new": "password", "secret": false},
                         "to_login_type": {"new": "oidc", "secret": false}});
    let rule = Some("coder_login_type_converted");
    s.audit(
        rule,
        MALLORY,
        ("convert_login", "create", "oidc"),
        convert,
        201,
        ip,
    );

    let mapping =
        json!({"mapping": {"old": {}, "new": {"contractors": ["owner"]}, "secret": false}});
    let rule = Some("coder_idp_sync_settings_changed");
    let target = "Organization Role Sync";
    s.audit(
        rule,
        ADMIN,
        ("idp_sync_settings_role", "write", target),
        mapping.clone(),
        200,
        ip,
    );
    let target = "Organization Group Sync";
    s.audit(
        rule,
        ADMIN,
        ("idp_sync_settings_group", "write", target),
        mapping,
        200,
        ip,
    );

    let rule = Some("coder_oauth2_provider_app_or_secret_created");
    s.audit(
        rule,
        MALLORY,
        ("oauth2_provider_app", "create", "helper"),
        json!({}),
        201,
        ip,
    );
    s.audit(
        rule,
        MALLORY,
        ("oauth2_provider_app_secret", "create", ""),
        json!({}),
        201,
        ip,
    );

    let rule = Some("coder_workspace_proxy_registered");
    s.audit(
        rule,
        ADMIN,
        ("workspace_proxy", "create", "relay"),
        json!({}),
        201,
        ip,
    );

    let rule = Some("coder_license_removed");
    s.audit(rule, ADMIN, ("license", "delete", "3"), json!({}), 204, ip);

    let rule = Some("coder_user_suspended_or_deleted");
    s.audit(
        rule,
        ADMIN,
        ("user", "write", "tina"),
        status("active", "suspended"),
        200,
        ip,
    );
    s.audit(rule, ADMIN, ("user", "delete", "alice"), json!({}), 200, ip);

    let rule = Some("coder_user_reactivated");
    s.audit(
        rule,
        ADMIN,
        ("user", "write", "erin"),
        status("suspended", "active"),
        200,
        ip,
    );

    let promoted = json!({"active_version_id": {"old": NIL, "new": uuid::Uuid::new_v4().to_string(), "secret": false}});
    let rule = Some("coder_template_promoted_by_non_admin");
    s.audit(
        rule,
        MALLORY,
        ("template", "write", "k8s-gpu"),
        promoted,
        200,
        ip,
    );

    let rule = Some("coder_workspace_connection_by_non_owner");
    s.connect(rule, 0, "workspace_app", Some(MALLORY), 200);
    s.connect(rule, 1, "port_forwarding", Some(MALLORY), 200);
}

fn failed_login_bursts(s: &mut Scenario) {
    // A spray: six accounts from one address within a minute.
    s.at_minute(100);
    for who in SPRAYED {
        s.login(
            Some("coder_failed_login_burst_by_source"),
            who,
            false,
            "203.0.113.66",
        );
    }
    let groups = vec!["203.0.113.66".to_owned()];
    s.groups
        .insert("coder_failed_login_burst_by_source", groups);
    // Guessing one account from five addresses.
    s.at_minute(130);
    for i in 0..5 {
        let ip = format!("192.0.2.{}", 11 + i);
        s.login(Some("coder_failed_login_burst_by_user"), ALICE, false, &ip);
    }
    s.groups
        .insert("coder_failed_login_burst_by_user", vec!["alice".to_owned()]);
}
