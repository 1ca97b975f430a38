//! `diff` and `additional_fields` kept as the JSON text Coder sent.
//!
//! Most entries' diffs and additional fields are only written out again, whole. Reading
//! them as `serde_json::Value` trees, dropping the trees and writing them cost 9.2 % of an
//! ECS backfill's samples (BENCHMARKS.md, "Glances that borrow, and agent rows without a
//! tree"). So each is kept as one string: the few keys the facts need are found in one
//! borrowed pass ([`JsonText::strings`]), a diff's fields are walked borrowed
//! ([`JsonText::fields`]), and a tree is built, once, only for whoever reads values
//! inside (a user's or group's changes: [`JsonText::tree`]).

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::entry::{Field, Key};

/// serde_json's recursion limit: a value nested deeper cannot become a tree, and any
/// recursive walk over it (ours or a consumer's) risks the stack.
const MAX_DEPTH: usize = 128;

/// One JSON value of an entry, as its text.
#[derive(Debug, Clone)]
pub struct JsonText {
    text: Box<RawValue>,
    /// The text can be written as it is: no line breaks or tabs between its tokens
    /// (inside strings JSON forbids them raw), so it stays on one NDJSON line, and no
    /// escapes, so its strings read as the rest of the document's do (Go writes `&`,
    /// `<` and `>` as `\u0026`, `\u003c`, `\u003e`; a SIEM's search of the raw text
    /// would miss them).
    verbatim: bool,
    /// The tree, built the first time someone asks; `None` if it cannot be built.
    tree: OnceLock<Option<Value>>,
}

/// Why a value was not kept.
#[derive(Debug, PartialEq, Eq)]
pub enum Unkept {
    /// Nested past [`MAX_DEPTH`].
    TooDeep,
}

impl JsonText {
    /// Keep `text`, unless it is nested past the parser's limit. A text with no more `[`
    /// and `{` than the limit cannot be (memchr finds them a vector at a time); only one
    /// with more is checked for its real depth (its strings may hold brackets).
    pub fn new(text: Box<RawValue>) -> Result<Self, Unkept> {
        let bytes = text.get().as_bytes();
        let opening = memchr::memchr2_iter(b'[', b'{', bytes)
            .take(MAX_DEPTH + 1)
            .count();
        if opening > MAX_DEPTH && serde_json::from_str::<Value>(text.get()).is_err() {
            return Err(Unkept::TooDeep);
        }
        Ok(JsonText {
            verbatim: memchr::memchr3(b'\n', b'\r', b'\t', bytes).is_none()
                && memchr::memchr(b'\\', bytes).is_none(),
            text,
            tree: OnceLock::new(),
        })
    }

    /// `text` read as JSON (tests, and values built by hand).
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        let raw = RawValue::from_string(text.trim().to_owned())?;
        JsonText::new(raw).map_err(|_| serde::de::Error::custom("nested too deep"))
    }

    /// The JSON text as Coder sent it.
    pub fn get(&self) -> &str {
        self.text.get()
    }

    /// Whether it is an object (a diff that is not one is not kept as a diff).
    pub fn is_object(&self) -> bool {
        self.text.get().starts_with('{')
    }

    /// Whether it says nothing: `null` or `{}` (what Coder sends for most entries).
    pub fn is_empty(&self) -> bool {
        let text = self.text.get();
        text == "null" || (self.is_object() && text[1..].trim_start().starts_with('}'))
    }

    /// The value as a tree, built on first use; `None` when it cannot be (a lone
    /// surrogate escape, which the text keeps).
    pub fn tree(&self) -> Option<&Value> {
        self.tree
            .get_or_init(|| serde_json::from_str(self.text.get()).ok())
            .as_ref()
    }

    /// The tree of an object.
    pub fn object(&self) -> Option<&Map<String, Value>> {
        self.tree().and_then(Value::as_object)
    }

    /// The string values of `keys` in an object, in one pass (by its quotes and brackets
    /// when the text has no escapes: `json_text/plain.rs`). Like a `serde_json::Map`,
    /// a key given twice counts by its last value; a value that is not a string gives
    /// `None`, and an escaped one is read from the tree.
    pub fn strings<const N: usize>(&self, keys: [&str; N]) -> [Option<&str>; N] {
        let mut found = [Found::Missing; N];
        if self.is_object() {
            if self.verbatim {
                plain::strings(self.text.get(), &keys, &mut found);
            } else {
                let seed = FindStrings {
                    keys: &keys,
                    found: &mut found,
                };
                // The text is valid JSON: it was read as such.
                let _ = seed.deserialize(&mut serde_json::Deserializer::from_str(self.text.get()));
            }
        }
        let mut out = [None; N];
        for ((slot, found), key) in out.iter_mut().zip(found).zip(keys) {
            *slot = match found {
                Found::Str(s) => Some(s),
                Found::Escaped => self.object().and_then(|o| o.get(key)?.as_str()),
                Found::Missing | Found::Other => None,
            };
        }
        out
    }

    /// The string value of `key` in an object (see [`Self::strings`]).
    pub fn string(&self, key: &str) -> Option<&str> {
        let [value] = self.strings([key]);
        value
    }

    /// An object's fields, borrowed, in a `serde_json::Map`'s order (by name) and with its
    /// rule for a name given twice (the last value counts). Empty for anything else.
    pub fn fields(&self) -> Vec<(Cow<'_, str>, &RawValue)> {
        if !self.is_object() {
            return Vec::new();
        }
        let mut de = serde_json::Deserializer::from_str(self.text.get());
        let mut fields =
            serde::Deserialize::deserialize(&mut de).map_or_else(|_| Vec::new(), |f: Fields| f.0);
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        let mut unique: Vec<(Cow<'_, str>, &RawValue)> = Vec::with_capacity(fields.len());
        for field in fields {
            if unique.last().is_some_and(|last| last.0 == field.0) {
                unique.pop();
            }
            unique.push(field);
        }
        unique
    }

    /// Whether it is written as it is (see [`write_raw`]).
    pub fn verbatim(&self) -> bool {
        self.verbatim
    }
}

impl Serialize for JsonText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        write_raw(self.text.as_ref(), self.verbatim, s)
    }
}

/// Write `value`: as its text when `verbatim` (see [`JsonText`]), else rewritten as the
/// document writes any value (escapes decoded, no whitespace), through a tree. A value no
/// tree can hold (a lone surrogate escape) is written as Coder sent it, on one line.
pub fn write_raw<S: Serializer>(value: &RawValue, verbatim: bool, s: S) -> Result<S::Ok, S::Error> {
    if verbatim {
        return value.serialize(s);
    }
    if let Ok(tree) = serde_json::from_str::<Value>(value.get()) {
        return tree.serialize(s);
    }
    match RawValue::from_string(minify(value.get())) {
        Ok(raw) => raw.serialize(s),
        Err(e) => Err(serde::ser::Error::custom(e)),
    }
}

/// JSON text without whitespace outside its strings.
fn minify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

/// Whether a diff's change is marked secret: an object with `"secret": true`. Any
/// `secret` key that is `true` counts, even one a later duplicate contradicts: the
/// stricter reading never emits a value Coder meant to hide.
pub fn is_secret(change: &RawValue) -> bool {
    struct Secret;
    impl<'de> Visitor<'de> for Secret {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a change")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut secret = false;
            while let Some(Key(key)) = map.next_key::<Key>()? {
                if key == "secret" {
                    secret |= map.next_value::<Field<bool>>()?.0 == Some(true);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(secret)
        }
    }
    let mut de = serde_json::Deserializer::from_str(change.get());
    change.get().starts_with('{') && de.deserialize_map(Secret).unwrap_or(false)
}

/// What [`JsonText::strings`] found for one key.
#[derive(Clone, Copy)]
enum Found<'a> {
    Missing,
    Str(&'a str),
    Escaped,
    Other,
}

struct FindStrings<'k, 'f, 'a, const N: usize> {
    keys: &'k [&'k str; N],
    found: &'f mut [Found<'a>; N],
}

impl<'a, const N: usize> DeserializeSeed<'a> for FindStrings<'_, '_, 'a, N> {
    type Value = ();
    fn deserialize<D: Deserializer<'a>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'a, const N: usize> Visitor<'a> for FindStrings<'_, '_, 'a, N> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(key)) = map.next_key::<Key>()? {
            match self.keys.iter().position(|k| *k == key) {
                Some(at) => self.found[at] = map.next_value::<FoundValue>()?.0,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// One value, read only as far as telling a borrowed string from anything else.
struct FoundValue<'a>(Found<'a>);

impl<'a> serde::Deserialize<'a> for FoundValue<'a> {
    fn deserialize<D: Deserializer<'a>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'a> Visitor<'a> for V {
            type Value = FoundValue<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_borrowed_str<E>(self, s: &'a str) -> Result<Self::Value, E> {
                Ok(FoundValue(Found::Str(s)))
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(FoundValue(Found::Escaped))
            }
            fn visit_string<E>(self, _: String) -> Result<Self::Value, E> {
                Ok(FoundValue(Found::Escaped))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(FoundValue(Found::Other))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(FoundValue(Found::Other))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(FoundValue(Found::Other))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(FoundValue(Found::Other))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(FoundValue(Found::Other))
            }
            fn visit_seq<A: SeqAccess<'a>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FoundValue(Found::Other))
            }
            fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(FoundValue(Found::Other))
            }
        }
        d.deserialize_any(V)
    }
}

/// An object's fields in the order given, names borrowed when unescaped.
struct Fields<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'a> serde::Deserialize<'a> for Fields<'a> {
    fn deserialize<D: Deserializer<'a>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'a> Visitor<'a> for V {
            type Value = Fields<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<Fields<'a>, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some(Key(key)) = map.next_key::<Key>()? {
                    fields.push((key, map.next_value::<&RawValue>()?));
                }
                Ok(Fields(fields))
            }
        }
        d.deserialize_map(V)
    }
}

mod plain;
#[cfg(test)]
mod tests;
