//! The lenient view of one audit entry.
//!
//! Coder's shape drifts between versions (fields appear, vanish, change type: `build_number`
//! is a string, `organization_ids` is `null` before v2.13, enums grow every release). A field
//! we cannot read is never a reason to drop an event, so every field here is optional, every
//! enum is an open `String`, a field of the wrong type reads as `None`, and unknown fields
//! are kept in `extra`. The raw bytes travel beside this view (see [`super::Event`]).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::collections::BTreeMap;

use serde_json::Value;
use serde_json::value::RawValue;

use super::json_text::{JsonText, Unkept};
use super::lazy::FirstOf;

/// Object fields kept unread, by name, as their JSON text.
pub type Unread = BTreeMap<String, Box<RawValue>>;

#[derive(Debug, Clone, Default)]
pub struct AuditEntry {
    pub id: Option<String>,
    pub request_id: Option<String>,
    /// Kept as text: the tailer parses it, and a bad value must not hide the entry.
    pub time: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub resource_target: Option<String>,
    pub resource_icon: Option<String>,
    pub action: Option<String>,
    /// An object, as its text (see [`JsonText`]).
    pub diff: Option<JsonText>,
    pub status_code: Option<i64>,
    /// Any JSON value, as its text.
    pub additional_fields: Option<JsonText>,
    pub description: Option<String>,
    pub resource_link: Option<String>,
    pub is_deleted: Option<bool>,
    pub organization_id: Option<String>,
    pub organization: Option<Organization>,
    /// `null` for agent events, unauthenticated app opens and test rows.
    pub user: Option<User>,
    /// Fields this version of the shipper does not read, kept as their JSON text: parsed
    /// only by whoever needs one (building a tree for each on every entry cost more than
    /// reading all the known fields).
    pub extra: Unread,
    /// Fields left out of this view because they could not be read at all: nested deeper
    /// than the parser's limit of 128 levels (a hostile or pathological diff). The raw
    /// bytes still carry them.
    pub unreadable: Vec<String>,
    /// Set when the entry was larger than `coder.max_response_bytes` and was read without
    /// these fields (see [`super::skim`]).
    pub oversized: Option<Oversized>,
    /// What Coder said about the ids the entry names, when `[enrich.coder]` looked them up
    /// (see [`super::lookup`]); never part of Coder's JSON.
    pub context: Option<std::sync::Arc<super::CoderContext>>,
}

/// What an entry too large to read whole was read without.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oversized {
    /// Its fields left out, in the order Coder sent them.
    pub fields_omitted: Vec<String>,
    /// Its size as Coder sent it.
    pub original_bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Organization {
    pub id: Option<String>,
    pub name: Option<String>,
    pub display_name: Option<String>,
    pub icon: Option<String>,
}

/// `codersdk.User` as joined at read time: it reflects the user's *current* state.
#[derive(Debug, Clone, Default)]
pub struct User {
    pub id: Option<String>,
    pub username: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub status: Option<String>,
    pub login_type: Option<String>,
    /// The names of the user's roles. Role objects vary by version (`{name, display_name,
    /// organization_id?}`, a bare string in old versions); only the name is ever shipped
    /// as a field, so only the name is read (a role without one gives nothing).
    pub roles: Option<Vec<String>>,
    // The user's other fields (`created_at`, `last_seen_at`, `organization_ids`, …) are
    // not kept: no schema maps them, the raw bytes carry them, and keeping each as text
    // (with the roles as `Value`s) cost 12 % of the whole entry's parse, 6.6 % of an ECS
    // backfill's instructions (BENCHMARKS.md, "The normalized path's profile").
}

// Reading leniently, in one pass.
//
// Each object is read key by key, and each known field through `Field<T>`, which accepts
// any JSON value and keeps it only when it has the expected type. Nothing is buffered:
// an earlier version read every field into a `serde_json::Value` first and collected the
// unknown ones with `#[serde(flatten)]`, which buffers the whole object again; that was
// most of the tailer's CPU in a backfill (see BENCHMARKS.md).

/// A type a field can hold, and which JSON values give one. Any other value reads as
/// `None` (and is skipped without being built).
pub(super) trait Lenient: Sized {
    fn from_str(_: Cow<'_, str>) -> Option<Self> {
        None
    }
    fn from_i64(_: i64) -> Option<Self> {
        None
    }
    fn from_bool(_: bool) -> Option<Self> {
        None
    }
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn from_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

impl Lenient for String {
    fn from_str(s: Cow<'_, str>) -> Option<Self> {
        Some(s.into_owned())
    }
}

impl Lenient for i64 {
    fn from_i64(n: i64) -> Option<Self> {
        Some(n)
    }
}

impl Lenient for bool {
    fn from_bool(b: bool) -> Option<Self> {
        Some(b)
    }
}

/// One field read leniently (see [`Lenient`]).
pub(super) struct Field<T>(pub(super) Option<T>);

impl<'de, T: Lenient> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldVisitor(PhantomData)).map(Field)
    }
}

struct FieldVisitor<T>(PhantomData<T>);

impl<'de, T: Lenient> Visitor<'de> for FieldVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(T::from_str(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(T::from_str(Cow::Borrowed(s)))
    }
    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(T::from_str(Cow::Owned(s)))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
        Ok(T::from_i64(n))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(n).ok().and_then(T::from_i64))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
        Ok(T::from_bool(b))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Field::<T>::deserialize(d).map(|f| f.0)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        T::from_seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::from_map(map)
    }
}

/// An object key, borrowed from the input when it has no escapes.
pub(super) struct Key<'de>(pub(super) Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// A string field borrowed from the input when it has no escapes (an entry's id and time
/// are read this way at a glance: the page needs them only to make the key and parse the
/// time, and owning a copy of each cost two allocations per entry). Any other value reads
/// as `None` and is skipped, as [`Field<String>`] reads it.
pub(super) struct Text<'de>(pub(super) Option<Cow<'de, str>>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor).map(Text)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(s.to_owned())))
    }
    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(s)))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Text::deserialize(d).map(|t| t.0)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// A value kept as its text, or named in `unreadable` when it is nested too deep to keep.
fn text<'de, A: MapAccess<'de>>(
    map: &mut A,
    name: &str,
    unreadable: &mut Vec<String>,
) -> Result<Option<JsonText>, A::Error> {
    match JsonText::new(map.next_value::<Box<RawValue>>()?) {
        Ok(text) => Ok(Some(text)),
        Err(Unkept::TooDeep) => {
            unreadable.push(name.to_owned());
            Ok(None)
        }
    }
}

/// `user.roles` read as the roles' names: an array of role objects (or, in old versions,
/// of strings). An element without a name gives nothing.
struct RoleNames(Vec<String>);

impl Lenient for RoleNames {
    fn from_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        let mut names = Vec::new();
        while let Some(Field(name)) = seq.next_element::<Field<RoleName>>()? {
            names.extend(name.map(|n| n.0).filter(|n| !n.is_empty()));
        }
        Ok(Some(RoleNames(names)))
    }
}

/// One role's name: the role itself when it is a string, or its `name` field (the last one,
/// as every field of the user; a `name` that is not a string gives nothing).
struct RoleName(String);

impl Lenient for RoleName {
    fn from_str(s: Cow<'_, str>) -> Option<Self> {
        Some(RoleName(s.into_owned()))
    }
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        let mut name = None;
        while let Some(Key(key)) = map.next_key::<Key>()? {
            if key == "name" {
                name = field::<A, String>(&mut map)?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(name.map(RoleName))
    }
}

pub(super) fn field<'de, A: MapAccess<'de>, T: Lenient>(
    map: &mut A,
) -> Result<Option<T>, A::Error> {
    map.next_value::<Field<T>>().map(|f| f.0)
}

/// Built in its box and filled in place: the entry is 816 bytes, and returning it by
/// value through serde's layers (`Option`, `Result`, the field, the page's closure) and
/// boxing it at the end copied it about ten times per entry (BENCHMARKS.md, "Entries built
/// in their box").
impl Lenient for Box<AuditEntry> {
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        let mut e = Box::<AuditEntry>::default();
        let mut first = FirstOf::default();
        while let Some(Key(key)) = map.next_key::<Key>()? {
            if first.repeated(&key) {
                // As the glance reads them (see `super::lazy`).
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            match key.as_ref() {
                "id" => e.id = field(&mut map)?,
                "request_id" => e.request_id = field(&mut map)?,
                "time" => e.time = field(&mut map)?,
                "ip" => e.ip = field(&mut map)?,
                "user_agent" => e.user_agent = field(&mut map)?,
                "resource_type" => e.resource_type = field(&mut map)?,
                "resource_id" => e.resource_id = field(&mut map)?,
                "resource_target" => e.resource_target = field(&mut map)?,
                "resource_icon" => e.resource_icon = field(&mut map)?,
                "action" => e.action = field(&mut map)?,
                "diff" => {
                    e.diff = text(&mut map, "diff", &mut e.unreadable)?.filter(JsonText::is_object)
                }
                "status_code" => e.status_code = field(&mut map)?,
                "additional_fields" => {
                    e.additional_fields = text(&mut map, "additional_fields", &mut e.unreadable)?;
                }
                "description" => e.description = field(&mut map)?,
                "resource_link" => e.resource_link = field(&mut map)?,
                "is_deleted" => e.is_deleted = field(&mut map)?,
                "organization_id" => e.organization_id = field(&mut map)?,
                "organization" => e.organization = field(&mut map)?,
                "user" => e.user = field(&mut map)?,
                _ => {
                    let value = map.next_value::<Box<RawValue>>()?;
                    e.extra.insert(key.into_owned(), value);
                }
            }
        }
        Ok(Some(e))
    }
}

impl Lenient for Organization {
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        let mut o = Organization::default();
        while let Some(Key(key)) = map.next_key::<Key>()? {
            match key.as_ref() {
                "id" => o.id = field(&mut map)?,
                "name" => o.name = field(&mut map)?,
                "display_name" => o.display_name = field(&mut map)?,
                "icon" => o.icon = field(&mut map)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(o))
    }
}

impl Lenient for User {
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        let mut u = User::default();
        while let Some(Key(key)) = map.next_key::<Key>()? {
            match key.as_ref() {
                "id" => u.id = field(&mut map)?,
                "username" => u.username = field(&mut map)?,
                "name" => u.name = field(&mut map)?,
                "email" => u.email = field(&mut map)?,
                "status" => u.status = field(&mut map)?,
                "login_type" => u.login_type = field(&mut map)?,
                "roles" => u.roles = field::<A, RoleNames>(&mut map)?.map(|r| r.0),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(u))
    }
}

impl<'de> Deserialize<'de> for AuditEntry {
    /// Any JSON value: an object gives its fields, anything else an empty entry.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BoxedEntry::deserialize(d).map(|b| *b.0)
    }
}

/// An entry read straight into its box, as the pipeline keeps it (see the `Lenient` impl).
pub(super) struct BoxedEntry(pub(super) Box<AuditEntry>);

impl<'de> Deserialize<'de> for BoxedEntry {
    /// Any JSON value: an object gives its fields, anything else an empty entry.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Field::<Box<AuditEntry>>::deserialize(d).map(|f| BoxedEntry(f.0.unwrap_or_default()))
    }
}

impl<'de> Deserialize<'de> for User {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Field::<User>::deserialize(d).map(|f| f.0.unwrap_or_default())
    }
}

impl AuditEntry {
    /// Parse one entry's JSON. Never fails: a value that is not even an object gives an
    /// entry with every field empty, which the tailer still forwards (raw) and counts.
    pub fn parse(raw: &str) -> Self {
        *Self::parse_boxed(raw)
    }

    /// [`Self::parse`], into the box the pipeline keeps it in.
    pub fn parse_boxed(raw: &str) -> Box<Self> {
        serde_json::from_str::<BoxedEntry>(raw)
            .map_or_else(|_| Box::new(Self::parse_fields(raw)), |b| b.0)
    }

    /// The fields one at a time, for an entry that did not parse whole: a value nested past
    /// serde_json's recursion limit (kept, because deeper values would overflow the stack of
    /// every recursive walk over them) then costs only itself, not the id, time and user
    /// that the cursor and the SIEM need.
    fn parse_fields(raw: &str) -> Self {
        type Fields<'a> = BTreeMap<String, &'a RawValue>;
        let Ok(fields) = serde_json::from_str::<Fields>(raw) else {
            return Self::default();
        };
        // The readable fields, put back together as one object and read as usual.
        let mut object = String::from("{");
        let mut unreadable = Vec::new();
        for (name, value) in fields {
            if serde_json::from_str::<Value>(value.get()).is_err() {
                unreadable.push(name);
                continue;
            }
            if object.len() > 1 {
                object.push(',');
            }
            object.push_str(&Value::from(name).to_string());
            object.push(':');
            object.push_str(value.get());
        }
        object.push('}');
        let mut entry: Self = serde_json::from_str(&object).unwrap_or_default();
        entry.unreadable = unreadable;
        entry
    }
}

#[cfg(test)]
mod tests;
