//! The one pass and the general reader agree on every page, and the one pass takes the
//! plain pages Coder sends (or it would be a fast path never taken).

use bytes::Bytes;
use proptest::prelude::*;
use serde_json::{Value as Json, json};

use super::super::{Page, Reading, read_in_one_pass, read_in_two_passes};
use crate::coder::Stream;

const STREAMS: [(Stream, Reading); 3] = [
    (Stream::Audit, Reading::Glance),
    (Stream::Audit, Reading::Whole),
    (Stream::Connection, Reading::Whole),
];

/// Both readers' pages of `body` (the one pass's `None` when it declined).
fn both(stream: Stream, reading: Reading, body: &str) -> (Option<Page>, Result<Page, String>) {
    let bytes = Bytes::from(body.to_owned());
    (
        read_in_one_pass(stream, reading, &bytes, body),
        read_in_two_passes(stream, reading, &bytes, body),
    )
}

/// Every event the same, field for field, before and after the whole entries are read.
fn same(one: &Page, two: &Page) -> Result<(), TestCaseError> {
    prop_assert_eq!(one.count, two.count);
    prop_assert_eq!(one.events.len(), two.events.len());
    for (a, b) in one.events.iter().zip(&two.events) {
        prop_assert_eq!(format!("{a:?}"), format!("{b:?}"));
        prop_assert_eq!(format!("{:?}", a.audit()), format!("{:?}", b.audit()));
    }
    Ok(())
}

/// Read `body` both ways; whether the one pass took it.
fn agree(body: &str) -> Result<bool, TestCaseError> {
    let mut taken = Vec::new();
    for (stream, reading) in STREAMS {
        let (one, two) = both(stream, reading, body);
        if let Some(one) = &one {
            match &two {
                Ok(two) => same(one, two)?,
                Err(e) => prop_assert!(false, "one pass read a page the other refused: {e}"),
            }
        }
        taken.push(one.is_some());
    }
    // Whichever way a stream reads, its pages take the same path (the list decides).
    prop_assert!(taken[0] == taken[1], "{body}");
    Ok(taken[0] || taken[2])
}

#[test]
fn plain_pages_take_the_one_pass_and_read_as_the_general_reader_reads_them() {
    let entry = r#"{"id":"7c9a8f1e-0000-4000-8000-000000000001","time":"2026-01-01T10:00:00Z","resource_type":"workspace","action":"start","diff":{"a\"}":{"old":"x,]"}},"additional_fields":{"k":[1,2,{"z":null}]},"user":{"id":"u","username":"mia","roles":[{"name":"owner"}]}}"#;
    let connection = r#"{"id":"7884a866-4ae1-4945-9fba-b2b8d2b7c5a9","connect_time":"2026-05-19T16:45:57.122Z","type":"ssh","ssh_info":{"connection_id":"c"}}"#;
    for (body, stream) in [
        (format!(r#"{{"audit_logs":[{entry},{entry}],"count":2}}"#), 0),
        (format!(" \n{{ \"audit_logs\" :\t[ {entry} ,\r\n{entry} ] , \"count\" : 2 }}\n "), 0),
        (format!(r#"{{"count":null,"x":{{"audit_logs":1}},"audit_logs":[{entry}]}}"#), 0),
        (r#"{"audit_logs":[],"count":0}"#.to_owned(), 0),
        (r#"{"audit_logs":null,"count":0}"#.to_owned(), 0),
        (format!(r#"{{"audit\u005flogs":[{entry}]}}"#), 0),
        // An entry Coder could not have sent (a repeated key, escapes, wrong types).
        (r#"{"audit_logs":[{"i\u0064":"a\"b","action":7,"resource_type":"a","resource_type":"b","time":null}]}"#.to_owned(), 0),
        (format!(r#"{{"connection_logs":[{connection}],"count":1,"count_cap":2000}}"#), 2),
    ] {
        for (i, (stream_of, reading)) in STREAMS.iter().enumerate() {
            let (one, two) = both(*stream_of, *reading, &body);
            let reads_this_list = (stream == 2) == (*stream_of == Stream::Connection);
            assert_eq!(one.is_some(), reads_this_list, "{i}: {body}");
            if let Some(one) = one {
                same(&one, &two.unwrap()).unwrap();
            }
        }
    }
}

#[test]
fn other_shapes_take_the_general_reader() {
    let deep = format!("{}1{}", "[".repeat(5_000), "]".repeat(5_000));
    // (page, whether a glance takes the one pass, whether a whole read does)
    let cases = [
        (
            r#"{"audit_logs":[{"id":"a"}],"audit_logs":[]}"#.to_owned(),
            false,
            false,
        ),
        (r#"{"audit_logs":[],"count":"7"}"#.to_owned(), false, false),
        (
            r#"{"audit_logs":[],"count":1,"count":2}"#.to_owned(),
            false,
            false,
        ),
        (r#"{"audit_logs":[]} x"#.to_owned(), false, false),
        (r#"{"audit_logs":[{"id":"a"}]"#.to_owned(), false, false),
        (r#"{"audit_logs":[{"id":"a"},]}"#.to_owned(), false, false),
        (r#"{"audit_logs":{}}"#.to_owned(), false, false),
        (
            r#"{"audit_logs":[],"connection_logs":[]}"#.to_owned(),
            false,
            false,
        ),
        (r#"{"count":1}"#.to_owned(), false, false),
        (r#"[]"#.to_owned(), false, false),
        // Not objects: an empty entry read whole, but no glance.
        (r#"{"audit_logs":[17,"s",null]}"#.to_owned(), false, true),
        // Past serde's depth in `diff`: a glance skips it, and a whole read leaves the
        // diff out and names it (`JsonText::new`), as the general reader does.
        (
            format!(r#"{{"audit_logs":[{{"id":"a","diff":{deep}}}]}}"#),
            true,
            true,
        ),
        // A lone surrogate in a field read as a string: a whole read falls back field by
        // field (no field is read as a tree any more, so depth alone no longer does).
        (
            r#"{"audit_logs":[{"id":"a","resource_target":"\ud800","user":{"roles":[[1]]}}]}"#
                .to_owned(),
            true,
            false,
        ),
    ];
    for (body, glance, whole) in cases {
        for (reading, takes) in [(Reading::Glance, glance), (Reading::Whole, whole)] {
            let (one, two) = both(Stream::Audit, reading, &body);
            assert_eq!(one.is_some(), takes, "{reading:?} {body}");
            if let Some(one) = one {
                same(&one, &two.unwrap()).unwrap();
            }
        }
    }
}

/// Whitespace JSON allows between any two tokens.
fn space() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(vec![' ', '\n', '\t', '\r']), 0..3)
        .prop_map(|s| s.into_iter().collect())
}

/// An entry-like value: the glanced keys and others, of any type, escapes included.
fn entry() -> impl Strategy<Value = Json> {
    let value = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::from),
        any::<i64>().prop_map(Json::from),
        "[a-z0-9\\\\\"{}\\[\\],: \\n\\u{1}é-]{0,24}".prop_map(Json::from),
    ]
    .prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Json::from),
            proptest::collection::btree_map("[a-z\\\\\",:{]{0,6}", inner, 0..4)
                .prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    });
    let key = proptest::sample::select(vec![
        "id",
        "time",
        "resource_type",
        "action",
        "diff",
        "user",
        "additional_fields",
        "status_code",
        "ip",
        "connect_time",
        "type",
        "ssh_info",
        "other",
        "x\"y",
    ]);
    proptest::collection::vec((key, value), 0..8).prop_map(|fields| {
        Json::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    })
}

proptest! {
    #[test]
    fn any_page_reads_the_same_both_ways(
        entries in proptest::collection::vec(entry(), 0..5),
        pretty in any::<bool>(),
        gaps in proptest::collection::vec(space(), 12),
        count in prop_oneof![Just(json!(3)), Just(json!(null)), Just(json!("3")), Just(json!(1.5))],
        extra in any::<bool>(),
        list in proptest::sample::select(vec!["audit_logs", "connection_logs"]),
    ) {
        let g = |i: usize| gaps[i].as_str();
        let items: Vec<String> = entries
            .iter()
            .map(|e| if pretty { serde_json::to_string_pretty(e) } else { serde_json::to_string(e) })
            .collect::<Result<_, _>>()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let joined = items.join(&format!("{},{}", g(0), g(1)));
        let other = if extra { format!(r#""x"{}:{}{{"count":[]}}{},"#, g(2), g(3), g(4)) } else { String::new() };
        let body = format!(
            r#"{}{{{}{other}"{list}"{}:{}[{}{joined}{}]{},{}"count":{}{}}}{}"#,
            g(5), g(6), g(7), g(8), g(9), g(10), g(11), g(0), count, g(1), g(2)
        );
        let taken = agree(&body)?;
        // Every plain page takes the one pass: a count that is a number or null, and
        // entries that are objects.
        if count.is_i64() || count.is_null() {
            prop_assert!(taken, "{body}");
        }
    }
}
