//! Byte for byte what serde_json writes, on every kind of value serde can hand over.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::to_writer;

fn ours<T: ?Sized + Serialize>(value: &T) -> Result<String, String> {
    let mut out = Vec::new();
    to_writer(&mut out, value).map_err(|e| e.to_string())?;
    String::from_utf8(out).map_err(|e| e.to_string())
}

fn theirs<T: ?Sized + Serialize>(value: &T) -> Result<String, String> {
    serde_json::to_string(value).map_err(|e| e.to_string())
}

fn agree<T: ?Sized + Serialize + std::fmt::Debug>(value: &T) {
    assert_eq!(ours(value), theirs(value), "{value:?}");
}

#[derive(Serialize, Debug)]
enum Shape {
    Unit,
    Newtype(i32),
    Tuple(u8, String),
    Struct { a: Option<bool>, b: Vec<f64> },
}

#[derive(Serialize, Debug)]
struct Document<'a> {
    #[serde(rename = "@timestamp")]
    timestamp: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<u8>,
    none: Option<u8>,
    shapes: Vec<Shape>,
    unit: (),
    tuple: (i64, char),
    newtype: Newtype,
    bytes: &'a [u8],
    raw: &'a RawValue,
    int_keys: BTreeMap<i64, &'a str>,
    bool_keys: BTreeMap<bool, u128>,
    floats: [f64; 6],
    small: [f32; 2],
    // Field names are written on a path of their own: one that needs escaping too.
    #[serde(rename = "quoted \"key\"\\")]
    quoted_key: u8,
    #[serde(rename = "")]
    empty_key: u8,
    // Names put together on the stack, up to `SHORT_KEY` (29) bytes, and the longer ones.
    #[serde(rename = "a_field_name_of_29_bytes_long")]
    at_the_limit: u8,
    #[serde(rename = "a_field_name_of_30_bytes_longe")]
    past_the_limit: u8,
    #[serde(rename = "a quoted \"name\" past the limit.")]
    quoted_past_the_limit: u8,
    // The comma: a struct whose first fields are skipped, and one with no field written.
    led_by_skipped: Led,
    all_skipped: Led,
}

#[derive(Serialize, Debug)]
struct Led {
    #[serde(skip_serializing_if = "Option::is_none")]
    first: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    second: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    third: Option<u8>,
}

#[derive(Serialize, Debug)]
struct Newtype(&'static str);

#[test]
fn every_shape_serde_hands_over_is_written_as_serde_json_writes_it() {
    let raw = RawValue::from_string(r#"{"kept": [1, "as is"]}"#.to_owned()).unwrap();
    let doc = Document {
        timestamp: "2026-12-06T10:00:00.000001Z",
        skipped: None,
        none: None,
        shapes: vec![
            Shape::Unit,
            Shape::Newtype(-7),
            Shape::Tuple(255, "t\"\\\n".to_owned()),
            Shape::Struct {
                a: Some(true),
                b: vec![0.1, -1e300, 5.0],
            },
            Shape::Struct { a: None, b: vec![] },
        ],
        unit: (),
        tuple: (i64::MIN, '\u{1f}'),
        newtype: Newtype("\u{7f}/é€𝄞"),
        bytes: &[0, 1, 255],
        raw: &raw,
        int_keys: [(-1, "a"), (3, "b")].into_iter().collect(),
        bool_keys: [(true, u128::MAX), (false, 0)].into_iter().collect(),
        floats: [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            1.5e-7,
        ],
        small: [f32::NAN, 3.25],
        quoted_key: 1,
        empty_key: 2,
        at_the_limit: 3,
        past_the_limit: 4,
        quoted_past_the_limit: 5,
        led_by_skipped: Led {
            first: None,
            second: Some(6),
            third: Some(7),
        },
        all_skipped: Led {
            first: None,
            second: None,
            third: None,
        },
    };
    agree(&doc);
    agree(&[(); 0]);
    agree(&BTreeMap::<String, ()>::new());
}

#[test]
fn keys_json_cannot_hold_are_errors_as_in_serde_json() {
    let mut vec_keys = BTreeMap::new();
    vec_keys.insert(vec![1u8], 1);
    assert!(ours(&vec_keys).is_err() && theirs(&vec_keys).is_err());
    let mut unit_keys = BTreeMap::new();
    unit_keys.insert((), 1);
    assert!(ours(&unit_keys).is_err() && theirs(&unit_keys).is_err());
}

#[test]
fn every_byte_is_escaped_as_serde_json_escapes_it_wherever_it_falls_in_a_word() {
    // Each ASCII byte at each place of a string of each length up to 40: every length
    // class of the check (1-3 bytes, half words, overlapping words, 16-byte blocks and
    // the overlapping last block) and every place in each word.
    for byte in 0u8..=127 {
        for len in 1..=40 {
            for at in 0..len {
                let mut s = "x".repeat(at);
                s.push(char::from(byte));
                s.push_str(&"y".repeat(len - at - 1));
                agree(&s);
            }
        }
    }
}

/// Strings of what needs escaping, what does not, and multi-byte characters, long enough
/// to cross several 8-byte words.
fn text() -> impl Strategy<Value = String> {
    "[a-z0-9 \"\\\\/\u{0}-\u{1f}\u{7f}é€𝄞]{0,40}"
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            proptest::collection::btree_map(text(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A value whose `Serialize` hands its `Display` to `collect_str`, written in the pieces
/// given (as `format_args!` hands `fmt::Write` several pieces).
#[derive(Debug)]
struct Pieces(Vec<String>);

impl std::fmt::Display for Pieces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|p| f.write_str(p))
    }
}

impl Serialize for Pieces {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[test]
fn displayed_values_are_one_string_escaped_across_their_pieces() {
    let long = "x".repeat(17);
    for pieces in [
        vec![],
        vec![""],
        vec!["workspace", ".", "create"],
        vec!["API Activity", ": ", "Create"],
        vec!["a\"", "\\", "\n\u{1f}b"],
        vec![long.as_str(), "\"", "é€𝄞"],
    ] {
        let value = Pieces(pieces.into_iter().map(str::to_owned).collect());
        agree(&value);
        agree(&[&value]);
    }
    agree(&(format_args!("{}", -137i64), format_args!("{:>5}", 42)));
}

proptest! {
    #[test]
    fn any_displayed_pieces_are_written_as_serde_json_writes_them(
        pieces in proptest::collection::vec(text(), 0..5),
    ) {
        let value = Pieces(pieces);
        prop_assert_eq!(ours(&value), theirs(&value));
    }

    #[test]
    fn any_json_value_is_written_as_serde_json_writes_it(value in json()) {
        prop_assert_eq!(ours(&value), theirs(&value));
    }

    #[test]
    fn any_string_is_escaped_as_serde_json_escapes_it(s in ".{0,64}", t in text()) {
        prop_assert_eq!(ours(&s), theirs(&s));
        prop_assert_eq!(ours(&t), theirs(&t));
    }
}
