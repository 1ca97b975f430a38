//! The action × resource table, row by row.

use super::*;

fn d(json: &str) -> JsonText {
    JsonText::parse(json).unwrap()
}

fn with_diff<'a>(rt: &'a str, action: &'a str, diff: &'a JsonText) -> Row<'a> {
    Row {
        diff: Some(diff),
        ..Row::new(rt, action)
    }
}

#[test]
fn user_writes_by_what_changed() {
    let suspend = d(r#"{"status":{"old":"active","new":"suspended","secret":false}}"#);
    let a = ocsf(
        ClassStrategy::Semantic,
        with_diff("user", "write", &suspend),
    );
    assert_eq!(a, vec![Activity::new(Class::AccountChange, 5)]);
    let roles = d(r#"{"rbac_roles":{"old":["member"],"new":["auditor"]}}"#);
    let a = ocsf(ClassStrategy::Semantic, with_diff("user", "write", &roles));
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].subject, Subject::Privileges(vec!["auditor".into()]));
    assert_eq!((a[1].class, a[1].id), (Class::UserAccess, 2));
    let name = d(r#"{"name":{"old":"a","new":"b"}}"#);
    let a = ocsf(ClassStrategy::Semantic, with_diff("user", "write", &name));
    assert_eq!(
        (a[0].class, a[0].id, a[0].name()),
        (Class::AccountChange, 99, "Update")
    );
}

#[test]
fn a_password_set_by_someone_else_or_a_passcode_is_a_reset() {
    let pw = d(r#"{"hashed_password":{"secret":true}}"#);
    let own = Row {
        self_service: true,
        ..with_diff("user", "write", &pw)
    };
    assert_eq!(ocsf(ClassStrategy::Semantic, own)[0].id, 3, "a change");
    let admin = with_diff("user", "write", &pw);
    assert_eq!(ocsf(ClassStrategy::Semantic, admin)[0].id, 4, "an admin's");
    let otp = d(
        r#"{"hashed_password":{"secret":true},"one_time_passcode_expires_at":{"old":{"Time":"2026-08-20T10:00:00Z","Valid":true},"new":{"Time":"0001-01-01T00:00:00Z","Valid":false},"secret":false}}"#,
    );
    let otp = Row {
        self_service: true,
        ..with_diff("user", "write", &otp)
    };
    assert_eq!(ocsf(ClassStrategy::Semantic, otp)[0].id, 4, "a passcode's");
}

#[test]
fn register_is_an_account_and_a_logon() {
    let a = ocsf(ClassStrategy::Semantic, Row::new("api_key", "register"));
    let got: Vec<_> = a.iter().map(|a| (a.class, a.id)).collect();
    assert_eq!(
        got,
        vec![(Class::AccountChange, 1), (Class::Authentication, 1)]
    );
    let (category, kind) = ecs("api_key", "register", Outcome::Success);
    assert!(category.contains(&"authentication") && kind.contains(&"start"));
}

#[test]
fn agent_rows_are_sessions_by_connection_type() {
    let row = |ct| Row {
        connection_type: Some(ct),
        ..Row::new("workspace_agent", "disconnect")
    };
    for (ct, class) in [
        ("SSH", Class::SshActivity),
        ("VS Code", Class::SshActivity),
        ("JetBrains", Class::SshActivity),
        ("Web Terminal", Class::NetworkActivity),
    ] {
        let a = ocsf(ClassStrategy::Semantic, row(ct));
        assert_eq!((a[0].class, a[0].id, a[0].name()), (class, 2, "Close"));
    }
    let unknown = ocsf(
        ClassStrategy::Semantic,
        Row::new("workspace_agent", "connect"),
    );
    assert_eq!(unknown[0].class, Class::ApiActivity);
    let single = ocsf(ClassStrategy::Single, row("SSH"));
    assert_eq!(single[0].class, Class::ApiActivity);
}

#[test]
fn memberships_and_tokens_change_users_and_groups_they_create_none() {
    for action in ["create", "delete"] {
        assert_eq!(
            ecs("organization_member", action, Outcome::Success),
            (&["iam"][..], &["group", "change"][..])
        );
        for rt in ["api_key", "git_ssh_key", "user_secret", "ai_seat"] {
            assert_eq!(
                ecs(rt, action, Outcome::Success),
                (&["iam"][..], &["user", "change"][..]),
                "{rt}"
            );
        }
    }
    assert_eq!(
        ecs("user", "create", Outcome::Success).1,
        &["user", "creation"]
    );
}

#[test]
fn an_app_open_is_access_only_when_it_succeeded() {
    assert_eq!(
        ecs("workspace_app", "open", Outcome::Success).1,
        &["access", "start"]
    );
    assert_eq!(ecs("workspace_app", "open", Outcome::Redirect).1, &["info"]);
    assert_eq!(
        ecs("workspace_app", "open", Outcome::Failure).1,
        &["access"]
    );
}

#[test]
fn group_writes_give_one_event_per_member() {
    let m = d(r#"{"members":{"old":["u1","u2"],"new":["u2","u3","u4"]}}"#);
    let a = ocsf(ClassStrategy::Semantic, with_diff("group", "write", &m));
    let got: Vec<_> = a.iter().map(|a| (a.id, a.subject.clone())).collect();
    assert_eq!(
        got,
        vec![
            (3, Subject::Member("u3".into())),
            (3, Subject::Member("u4".into())),
            (4, Subject::Member("u1".into())),
        ]
    );
}

#[test]
fn unknown_actions_and_types_are_mapped_not_dropped() {
    let a = ocsf(
        ClassStrategy::Semantic,
        Row::new("time_machine", "rewind_all"),
    );
    assert_eq!(
        (a[0].class, a[0].id, a[0].name()),
        (Class::ApiActivity, 99, "Rewind All")
    );
    assert_eq!(
        ecs("time_machine", "rewind_all", Outcome::Success),
        (&["configuration"][..], &["info"][..])
    );
    assert_eq!(
        ecs("time_machine", "create", Outcome::Success).1,
        &["creation"]
    );
}

#[test]
fn single_class_mode_is_api_activity_for_everything() {
    for (rt, action, id) in [
        ("api_key", "login", 99),
        ("user", "write", 3),
        ("group", "create", 1),
    ] {
        let a = ocsf(ClassStrategy::Single, Row::new(rt, action));
        assert_eq!(
            (a.len(), a[0].class, a[0].id),
            (1, Class::ApiActivity, id),
            "{rt}.{action}"
        );
    }
}
