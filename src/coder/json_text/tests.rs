use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::normalize::diff::{Keep, Redacted};

fn text(json: &str) -> JsonText {
    JsonText::parse(json).unwrap()
}

#[test]
fn strings_finds_several_keys_in_one_pass_the_last_of_a_repeated_key() {
    let t = text(
        r#"{"build_reason":"autostart","n":7,"workspace_name":"dev","nested":{"workspace_id":"no"},"workspace_name":"prod","owner":null}"#,
    );
    assert_eq!(
        t.strings([
            "workspace_name",
            "build_reason",
            "n",
            "workspace_id",
            "owner",
            "gone"
        ]),
        [Some("prod"), Some("autostart"), None, None, None, None]
    );
}

#[test]
fn an_escaped_string_is_read_from_the_tree() {
    let t = text(r#"{"workspace_name":"d\u00e9v \"x\"","other":"a\nb"}"#);
    assert_eq!(t.string("workspace_name"), Some("dév \"x\""));
    assert_eq!(t.string("other"), Some("a\nb"));
}

#[test]
fn anything_but_an_object_has_no_strings_or_fields() {
    for json in [r#""build_reason""#, "[1,2]", "null", "7", "true"] {
        let t = text(json);
        assert_eq!(t.string("build_reason"), None, "{json}");
        assert!(t.fields().is_empty(), "{json}");
        assert!(!t.is_object(), "{json}");
    }
}

#[test]
fn fields_are_ordered_by_name_and_a_repeated_name_keeps_its_last_value() {
    let t = text(r#"{"b":1,"a\u0062c":2,"a":{"x":[1]},"b":3}"#);
    let fields: Vec<(String, String)> = t
        .fields()
        .into_iter()
        .map(|(n, v)| (n.into_owned(), v.get().to_owned()))
        .collect();
    assert_eq!(
        fields,
        [
            ("a".to_owned(), r#"{"x":[1]}"#.to_owned()),
            ("abc".to_owned(), "2".to_owned()),
            ("b".to_owned(), "3".to_owned()),
        ]
    );
}

#[test]
fn empty_means_null_or_an_object_without_fields() {
    for json in ["null", "{}", "{ }", "{\n\t}"] {
        assert!(text(json).is_empty(), "{json}");
    }
    for json in [r#"{"a":null}"#, "[]", r#""""#, "0", "false"] {
        assert!(!text(json).is_empty(), "{json}");
    }
}

#[test]
fn secret_is_a_true_secret_key_of_an_object_any_of_them() {
    let secret = |json: &str| is_secret(&RawValue::from_string(json.to_owned()).unwrap());
    assert!(secret(r#"{"old":"a","new":"b","secret":true}"#));
    assert!(secret(r#"{"secret":true,"secret":false}"#));
    assert!(secret(r#"{"secret":false,"secret":true}"#));
    assert!(!secret(r#"{"old":"a","new":"b","secret":false}"#));
    assert!(!secret(r#"{"secret":"true"}"#));
    assert!(!secret(r#"{"new":{"secret":true}}"#));
    assert!(!secret(r#"[{"secret":true}]"#));
    assert!(!secret(r#""secret""#));
}

#[test]
fn a_value_nested_past_the_limit_is_not_kept_and_brackets_in_strings_do_not_count() {
    let deep = format!(r#"{{"x":{}1{}}}"#, "[".repeat(200), "]".repeat(200));
    let raw = RawValue::from_string(deep).unwrap();
    assert_eq!(JsonText::new(raw).err(), Some(Unkept::TooDeep));
    let brackets = format!(r#"{{"x":"{}"}}"#, "[{".repeat(300));
    let t = text(&brackets);
    assert!(t.tree().is_some());
    let within = format!(r#"{{"x":{}1{}}}"#, "[".repeat(100), "]".repeat(100));
    assert!(text(&within).tree().is_some());
}

#[test]
fn text_with_line_breaks_between_tokens_is_written_on_one_line() {
    let pretty = "{\n\t\"a\": [1, 2],\r\n  \"b\": \"x\\ny \\\" z\"\n}";
    let t = text(pretty);
    assert!(!t.verbatim());
    let theirs = serde_json::to_string(&t).unwrap();
    let mut ours = Vec::new();
    crate::normalize::json::to_writer(&mut ours, &t).unwrap();
    assert_eq!(theirs, r#"{"a":[1,2],"b":"x\ny \" z"}"#);
    assert_eq!(String::from_utf8(ours).unwrap(), theirs);
    // Spaces alone stay as Coder sent them: one line either way.
    let spaced = text(r#"{"a": 1}"#);
    assert!(spaced.verbatim());
    assert_eq!(serde_json::to_string(&spaced).unwrap(), r#"{"a": 1}"#);
}

#[test]
fn escaped_text_is_written_as_the_document_writes_strings() {
    // Go's encoder writes `&`, `<`, `>` escaped; the document writes them as they are.
    let t = text(r#"{"name":{"new":"security \u0026 ops \u003cb\u003e","old":"a\/b"}}"#);
    assert!(!t.verbatim());
    let mut ours = Vec::new();
    crate::normalize::json::to_writer(&mut ours, &t).unwrap();
    assert_eq!(
        String::from_utf8(ours).unwrap(),
        r#"{"name":{"new":"security & ops <b>","old":"a/b"}}"#
    );
    let redacted = Redacted {
        diff: &t,
        keep: &Keep::All,
    };
    assert_eq!(
        serde_json::to_string(&redacted).unwrap(),
        r#"{"name":{"new":"security & ops <b>","old":"a/b"}}"#
    );
    // A lone surrogate no tree can hold: written as Coder sent it, on one line.
    let lone = text("{\"a\":\n\"\\ud800\"}");
    assert!(lone.tree().is_none());
    assert_eq!(serde_json::to_string(&lone).unwrap(), r#"{"a":"\ud800"}"#);
}

/// A diff's text: its fields in the given order (a name may repeat), each change written
/// compact or pretty.
fn diff_text(fields: &[(String, Value)], pretty: bool) -> String {
    let body: Vec<String> = fields
        .iter()
        .map(|(name, change)| {
            let change = if pretty {
                serde_json::to_string_pretty(change).unwrap()
            } else {
                change.to_string()
            };
            format!("{}:{change}", Value::from(name.as_str()))
        })
        .collect();
    let sep = if pretty { ",\n  " } else { "," };
    format!("{{{}}}", body.join(sep))
}

/// The diff as the tree-based code redacted it before the text was kept: the last of a
/// repeated name, and a change with `"secret": true` written as `{"secret": true}`.
fn redacted_by_tree(text: &str) -> Value {
    let tree: serde_json::Map<String, Value> = serde_json::from_str(text).unwrap();
    tree.into_iter()
        .map(|(name, change)| {
            if change.get("secret") == Some(&Value::Bool(true)) {
                (name, json!({"secret": true}))
            } else {
                (name, change)
            }
        })
        .collect()
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-z\"\\\\\n\t é{}\\[\\]]{0,12}".prop_map(Value::from),
    ]
}

fn change() -> impl Strategy<Value = Value> {
    let value = leaf().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    prop_oneof![
        (value.clone(), value.clone(), any::<bool>())
            .prop_map(|(old, new, secret)| json!({"old": old, "new": new, "secret": secret})),
        (value.clone(), leaf()).prop_map(|(new, secret)| json!({"new": new, "secret": secret})),
        value,
    ]
}

proptest! {
    /// Whatever the diff (names repeated, escaped, secret or not, pretty or compact),
    /// the kept text is redacted as the tree was, and written on one line.
    #[test]
    fn a_diff_kept_as_text_is_redacted_as_its_tree_was(
        fields in proptest::collection::vec(("[a-c\"é\\\\]{0,3}", change()), 0..6),
        pretty in any::<bool>(),
    ) {
        let source = diff_text(&fields, pretty);
        let diff = text(&source);
        let redacted = Redacted { diff: &diff, keep: &Keep::All };
        let theirs = serde_json::to_string(&redacted).unwrap();
        let mut ours = Vec::new();
        crate::normalize::json::to_writer(&mut ours, &redacted).unwrap();
        prop_assert_eq!(ours.as_slice(), theirs.as_bytes());
        prop_assert!(!theirs.contains('\n'), "{}", theirs);
        let written: Value = serde_json::from_str(&theirs).unwrap();
        prop_assert_eq!(written, redacted_by_tree(&source));
    }
}

/// What one pass found for each key, as text: the plain scan's and serde's agree on it.
fn found_by(text: &str, plain_scan: bool, keys: [&str; 4]) -> [String; 4] {
    let mut found = [Found::Missing; 4];
    if plain_scan {
        plain::strings(text, &keys, &mut found);
    } else {
        let seed = FindStrings {
            keys: &keys,
            found: &mut found,
        };
        seed.deserialize(&mut serde_json::Deserializer::from_str(text))
            .unwrap();
    }
    found.map(|f| match f {
        Found::Missing => "missing".to_owned(),
        Found::Str(s) => format!("str {s}"),
        Found::Escaped => "escaped".to_owned(),
        Found::Other => "other".to_owned(),
    })
}

#[test]
fn the_plain_scan_skips_nested_keys_and_brackets_inside_strings() {
    let source = r#"{ "a" : [ {"b":"x"}, "]}" ], "b":"{\"", "c": {"a":"no"},"d" :null , "b" : "yes","c":"}"}"#
        .replace("\\\"", "'");
    let keys = ["a", "b", "c", "d"];
    let plain = found_by(&source, true, keys);
    assert_eq!(plain, ["other", "str yes", "str }", "other"]);
    assert_eq!(plain, found_by(&source, false, keys));
    // A text with line breaks between tokens reads the same.
    let broken = "{\n\t\"a\":\r\n\"1\",\n\"b\":\n2}";
    assert_eq!(found_by(broken, true, keys), found_by(broken, false, keys));
}

fn plain_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        // Everything JSON's structure is made of, but the quote and the backslash (a
        // text with either inside a string is escaped, and read by serde).
        "[a-d{}\\[\\]:, é]{0,8}".prop_map(Value::from),
    ]
}

proptest! {
    /// For any object without escapes (keys repeated, nested, values of every kind,
    /// spaces or line breaks between tokens), the plain scan finds what serde finds.
    #[test]
    fn the_plain_scan_finds_what_serde_finds(
        fields in proptest::collection::vec(
            ("[a-d]{1,2}", plain_leaf().prop_recursive(3, 16, 4, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                    proptest::collection::vec(("[a-d]{1,2}", inner), 0..4)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })),
            0..8,
        ),
        spacing in 0..3usize,
    ) {
        // Written by hand, so that a key may repeat, as Coder's text might.
        let sep = [",", ", ", ",\n  "][spacing];
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| {
                let v = if spacing == 2 { serde_json::to_string_pretty(v) } else { serde_json::to_string(v) };
                format!("\"{k}\":{}{}", if spacing == 0 { "" } else { " " }, v.unwrap())
            })
            .collect();
        let source = format!("{{{}}}", body.join(sep));
        prop_assume!(!source.contains('\\'));
        let keys = ["a", "b", "cd", "d"];
        prop_assert_eq!(found_by(&source, true, keys), found_by(&source, false, keys), "{}", source);
        // And through the public method, which takes the plain scan when it may.
        let t = text(&source);
        let by_tree = keys.map(|k| t.object().and_then(|o| o.get(k)?.as_str().map(str::to_owned)));
        prop_assert_eq!(t.strings(keys).map(|s| s.map(str::to_owned)), by_tree);
    }
}
