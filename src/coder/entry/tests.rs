use super::*;

#[test]
fn wrong_types_read_as_none_and_keep_the_rest() {
    let e = AuditEntry::parse(
        r#"{"id":"a","status_code":"200","user":null,"is_deleted":1,"new_field":{"x":1}}"#,
    );
    assert_eq!(e.id.as_deref(), Some("a"));
    assert_eq!(e.status_code, None);
    assert!(e.user.is_none());
    assert_eq!(e.is_deleted, None);
    assert_eq!(e.extra["new_field"].get(), r#"{"x":1}"#);
}

#[test]
fn escaped_keys_and_values_read_like_plain_ones() {
    let e = AuditEntry::parse(
        r#"{"i\u0064":"a\"b","status_code":200,"organization":{"name":"\u00e9",
            "id":7,"x":[1]},"additional_fields":null,"diff":[],"\u00fc":1}"#,
    );
    assert_eq!(e.id.as_deref(), Some("a\"b"));
    assert_eq!(e.status_code, Some(200));
    let org = e.organization.unwrap();
    assert_eq!(org.name.as_deref(), Some("é"));
    assert_eq!(org.id, None);
    assert!(e.diff.is_none(), "a diff that is not an object");
    assert_eq!(e.extra["ü"].get(), "1");
}

#[test]
fn numbers_out_of_range_or_fractional_read_as_none() {
    for code in ["1e3", "200.5", "18446744073709551615", "-1"] {
        let e = AuditEntry::parse(&format!(r#"{{"status_code":{code}}}"#));
        let want = (code == "-1").then_some(-1);
        assert_eq!(e.status_code, want, "{code}");
    }
}

#[test]
fn a_field_nested_too_deep_is_left_out_and_named() {
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let e = AuditEntry::parse(&format!(r#"{{"id":"a","diff":{{"x":{deep}}},"time":"t"}}"#));
    assert_eq!(e.id.as_deref(), Some("a"));
    assert_eq!(e.time.as_deref(), Some("t"));
    assert_eq!(e.unreadable, vec!["diff".to_owned()]);
}

#[test]
fn legacy_user_shapes_parse() {
    let e = AuditEntry::parse(
        r#"{"user":{"id":"u","username":"mia","organization_ids":null,"roles":[{"name":"owner"}]}}"#,
    );
    let u = e.user.unwrap();
    assert_eq!(u.username.as_deref(), Some("mia"));
    assert_eq!(u.roles, Some(vec!["owner".to_owned()]));
}

#[test]
fn roles_are_read_as_their_names_whatever_each_element_is() {
    let roles = |json: &str| {
        AuditEntry::parse(&format!(r#"{{"user":{{"roles":{json},"id":"u"}}}}"#))
            .user
            .and_then(|u| u.roles)
    };
    assert_eq!(
        roles(
            r#"[{"name":"owner","display_name":"Owner"},"auditor",{"display_name":"x"},5,
                {"name":""},{"organization_id":"o","name":"first","name":"org-admin"},
                [{"name":"nested"}],{"name":7},{"name":"x","name":null},null]"#
        ),
        Some(vec!["owner".into(), "auditor".into(), "org-admin".into()])
    );
    assert_eq!(roles("[]"), Some(vec![]));
    for not_an_array in ["null", "{}", r#""owner""#, "3"] {
        assert_eq!(roles(not_an_array), None, "{not_an_array}");
    }
    // What follows the roles is still read.
    let e = AuditEntry::parse(r#"{"user":{"roles":[{"name":"a"}],"username":"mia"}}"#);
    assert_eq!(e.user.and_then(|u| u.username).as_deref(), Some("mia"));
}

#[test]
fn a_non_object_is_an_empty_entry_not_an_error() {
    for raw in ["42", "{broken", "[1,2]", "null"] {
        let e = AuditEntry::parse(raw);
        assert!(
            e.id.is_none() && e.time.is_none() && e.extra.is_empty(),
            "{raw}"
        );
    }
}
