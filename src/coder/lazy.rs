//! An audit entry read only as far as its sinks need.
//!
//! A `raw` sink ships Coder's bytes as they came. What the pipeline needs of such an entry
//! is its id and time (cursor, dedupe, keys, partitions) and its `resource_type` and
//! `action` (Kafka topic templates, the syslog MSGID). Building the whole lenient view of
//! every entry anyway (every string owned, `diff` and `additional_fields` as trees, unknown
//! fields in a map) was 41 % of a raw backfill's CPU (BENCHMARKS.md, "The raw path's
//! profile"). So an entry is first read at a [`Glance`]: one pass that keeps those four
//! fields and allocates nothing else. The whole [`AuditEntry`] is built the first time
//! something asks for it (a normalizing encoder, a filter, the look-ups, the marks of an
//! oversized entry), once, and shared by every sink after that.
//!
//! The glance's id and time are borrowed from the page: the page makes the entry's key and
//! time of them at once and keeps neither string. Only the [`Route`] (`resource_type` and
//! `action`) stays with the entry, and only while it has not been read whole: a whole
//! entry answers for itself.
//!
//! The glance reads fields as [`AuditEntry`] does (same leniency), and stops as soon as
//! it has seen all four: Coder writes them first (`id`, `time`, `resource_type`, `action`,
//! then `diff`, `additional_fields` and `user`, the bulk of an entry), so most of an entry
//! is never read twice. The page has already checked that the whole entry is valid JSON.
//! Stopping early means the first of two equal keys wins, so [`AuditEntry`] keeps the
//! first of these four too ([`FirstOf`]), and the two always agree. (Go's encoder never
//! writes a key twice; only a broken proxy could.)

use std::borrow::Cow;
use std::sync::OnceLock;

use bytes::Bytes;
use serde::Deserialize;
use serde::de::{Deserializer, Error as _, IgnoredAny, MapAccess, Visitor};

use super::AuditEntry;
use super::entry::{Key, Text, field};

/// The fields of an audit entry every sink needs, whatever its format, as one pass over
/// the entry reads them: the id and time borrowed from the page where they have no
/// escapes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Glance<'a> {
    pub id: Option<Cow<'a, str>>,
    /// As Coder sent it; the page parses it.
    pub time: Option<Cow<'a, str>>,
    pub route: Route,
}

/// What routing needs of an audit entry (Kafka topic templates, the syslog MSGID): the
/// part of a [`Glance`] kept with the entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    pub resource_type: Option<String>,
    pub action: Option<String>,
}

/// Which of the glanced keys an object has shown so far: the first of each counts.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct FirstOf(u8);

impl FirstOf {
    const ALL: u8 = 0b1111;

    /// The bit of a glanced key, 0 for any other key.
    fn bit(key: &str) -> u8 {
        match key {
            "id" => 1,
            "time" => 2,
            "resource_type" => 4,
            "action" => 8,
            _ => 0,
        }
    }

    /// Whether `key` is a glanced key seen before in this object (then its value is
    /// skipped); notes it otherwise.
    pub(super) fn repeated(&mut self, key: &str) -> bool {
        let bit = Self::bit(key);
        let repeated = self.0 & bit != 0;
        self.0 |= bit;
        repeated
    }

    fn complete(self) -> bool {
        self.0 == Self::ALL
    }
}

/// Reads an entry object into a [`Glance`] and, when `stop`, stops once it has all four
/// keys. Stopping is an error for serde (the object is left unfinished), so the glance is
/// written to `into` as it is read, and `seen` being complete tells the stop from a real
/// error. Without `stop` the rest of the object is skipped, unread: the one-pass page
/// reader must reach each entry's end anyway (see `super::page`).
struct Read<'g, 'a> {
    into: &'g mut Glance<'a>,
    seen: &'g mut FirstOf,
    stop: bool,
}

/// The error that stops a glance (never shown: see [`Read`]).
const GLANCED: &str = "glanced";

impl<'de> Visitor<'de> for Read<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an audit entry object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(key)) = map.next_key::<Key>()? {
            if FirstOf::bit(&key) == 0 || self.seen.repeated(&key) {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            match key.as_ref() {
                "id" => self.into.id = map.next_value::<Text>()?.0,
                "time" => self.into.time = map.next_value::<Text>()?.0,
                "resource_type" => self.into.route.resource_type = field(&mut map)?,
                _ => self.into.route.action = field(&mut map)?,
            }
            if self.stop && self.seen.complete() {
                return Err(A::Error::custom(GLANCED));
            }
        }
        Ok(())
    }
}

impl<'a> Glance<'a> {
    /// The glance of `json`, or `None` when it is not an object that reads (the caller
    /// then reads it whole, with [`AuditEntry::parse`]'s fallbacks).
    pub(super) fn read(json: &'a str) -> Option<Self> {
        let mut glance = Glance::default();
        let mut seen = FirstOf::default();
        let read = Read {
            into: &mut glance,
            seen: &mut seen,
            stop: true,
        };
        let result = serde_json::Deserializer::from_str(json).deserialize_map(read);
        (result.is_ok() || seen.complete()).then_some(glance)
    }
}

impl<'de> Deserialize<'de> for Glance<'de> {
    /// The glance of an entry object, read to the object's end; anything but an object is
    /// an error (the page is then read the general way, see `super::page`).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut glance = Glance::default();
        let mut seen = FirstOf::default();
        d.deserialize_map(Read {
            into: &mut glance,
            seen: &mut seen,
            stop: false,
        })?;
        Ok(glance)
    }
}

/// One audit entry: its [`Route`] while only glanced at, and its whole view once anything
/// needed it.
#[derive(Debug, Clone)]
pub struct LazyAudit {
    /// Empty for an entry read whole at the start (the entry answers then).
    route: Route,
    /// The entry's JSON (the same bytes as [`super::Event::raw`]).
    raw: Bytes,
    whole: Whole,
}

/// The whole entry. Boxed: most events of a raw stream never need it, and a smaller event
/// is cheaper to move.
#[derive(Debug, Clone)]
enum Whole {
    /// Read with the page. Not a filled `OnceLock`: filling one takes `Once`'s slow path
    /// (its atomics), once per entry: 6 of 863 samples of an OCSF backfill's profile,
    /// 0.15 % of its instructions.
    Read(Box<AuditEntry>),
    /// Read the first time something asks.
    Later(OnceLock<Box<AuditEntry>>),
}

impl LazyAudit {
    /// `raw`, already glanced at.
    pub(super) fn glanced_as(raw: Bytes, route: Route) -> Self {
        LazyAudit {
            route,
            raw,
            whole: Whole::Later(OnceLock::new()),
        }
    }

    /// Read `raw` (whose text is `json`) whole now: for a stream whose sinks read whole
    /// entries anyway, where a glance first would only add work; and for JSON a glance
    /// cannot read at all, with [`AuditEntry::parse`]'s own fallbacks.
    pub fn whole(raw: Bytes, json: &str) -> Self {
        Self::read_as(raw, AuditEntry::parse_boxed(json))
    }

    /// `raw`, already read whole (by the page's one pass, or by [`Self::whole`]).
    pub(super) fn read_as(raw: Bytes, entry: Box<AuditEntry>) -> Self {
        LazyAudit {
            route: Route::default(),
            raw,
            whole: Whole::Read(noted(entry)),
        }
    }

    /// The whole entry if it has been read.
    fn read(&self) -> Option<&AuditEntry> {
        match &self.whole {
            Whole::Read(entry) => Some(entry),
            Whole::Later(cell) => cell.get().map(|entry| &**entry),
        }
    }

    /// The entry's `resource_type`.
    pub fn resource_type(&self) -> Option<&str> {
        match self.read() {
            Some(entry) => entry.resource_type.as_deref(),
            None => self.route.resource_type.as_deref(),
        }
    }

    /// The entry's `action`.
    pub fn action(&self) -> Option<&str> {
        match self.read() {
            Some(entry) => entry.action.as_deref(),
            None => self.route.action.as_deref(),
        }
    }

    /// The whole entry, built on the first call.
    pub fn entry(&self) -> &AuditEntry {
        match &self.whole {
            Whole::Read(entry) => entry,
            // The page made its body valid UTF-8 before slicing entries out of it (see
            // [`super::parse_stream_page`]), so this borrows; the lossy copy is never made.
            Whole::Later(cell) => {
                cell.get_or_init(|| parse_whole(&String::from_utf8_lossy(&self.raw)))
            }
        }
    }

    /// The whole entry, to add what the pipeline learns of it (look-ups, truncation).
    pub fn entry_mut(&mut self) -> &mut AuditEntry {
        if let Whole::Later(cell) = &mut self.whole {
            let entry = match cell.take() {
                Some(entry) => entry,
                None => parse_whole(&String::from_utf8_lossy(&self.raw)),
            };
            self.whole = Whole::Read(entry);
        }
        match &mut self.whole {
            Whole::Read(entry) => entry,
            // Made `Read` just above.
            Whole::Later(_) => unreachable!("the entry was read just above"),
        }
    }

    /// Whether the whole entry has been built (for tests and benchmarks).
    pub fn is_whole(&self) -> bool {
        self.read().is_some()
    }
}

fn parse_whole(json: &str) -> Box<AuditEntry> {
    noted(AuditEntry::parse_boxed(json))
}

/// `entry`, with the fields it could not read counted and logged, however it was read.
fn noted(entry: Box<AuditEntry>) -> Box<AuditEntry> {
    if !entry.unreadable.is_empty() {
        crate::ops::metrics::coder_error("unreadable_field");
        tracing::warn!(
            id = entry.id.as_deref().unwrap_or(""),
            fields = ?entry.unreadable,
            "audit entry fields nested too deep to read: shipped raw, normalized without them"
        );
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    type Four<'a> = [Option<&'a str>; 4];

    fn four_of_glance<'a>(g: &'a Glance<'_>) -> Four<'a> {
        [
            g.id.as_deref(),
            g.time.as_deref(),
            g.route.resource_type.as_deref(),
            g.route.action.as_deref(),
        ]
    }

    fn four_of_entry(e: &AuditEntry) -> Four<'_> {
        [
            e.id.as_deref(),
            e.time.as_deref(),
            e.resource_type.as_deref(),
            e.action.as_deref(),
        ]
    }

    fn glanced(json: &str) -> LazyAudit {
        let glance = Glance::read(json).expect("an object glances");
        LazyAudit::glanced_as(Bytes::from(json.to_owned()), glance.route)
    }

    #[test]
    fn the_glance_agrees_with_the_whole_entry() {
        let deep = format!("{}1{}", "[".repeat(5_000), "]".repeat(5_000));
        for raw in [
            r#"{"id":"a","time":"2026-01-01T00:00:00Z","action":"write","resource_type":"workspace","diff":{"x":{"old":1}}}"#.to_owned(),
            // Escaped keys and values, wrong types, a repeated key (the first wins).
            r#"{"i\u0064":"a\"b","action":7,"resource_type":"a","resource_type":"b","time":null}"#.to_owned(),
            // Every kind of value where a string belongs, for the borrowed id and time too.
            r#"{"id":["a"],"time":{"t":"x"},"resource_type":1.5,"action":false}"#.to_owned(),
            r#"{"id":-3,"time":true,"resource_type":null,"action":{"a":[1]}}"#.to_owned(),
            r#"{"id":"\u00e9t\u00e9","time":"2026-01-01T00:00:00\u005a"}"#.to_owned(),
            // All four seen, then repeated: the glance has stopped reading by then.
            r#"{"id":"a","time":"t","resource_type":"r","action":"x","id":"b","action":"y"}"#.to_owned(),
            // Keys in another order, and some missing (the glance reads to the end).
            r#"{"diff":{"id":"not mine"},"action":"login","user":null,"id":"c"}"#.to_owned(),
            r#"{"user":{"id":"u","action":"not mine"},"additional_fields":{"action":"nor this"}}"#.to_owned(),
            "42".to_owned(),
            "[1,2]".to_owned(),
            "null".to_owned(),
            format!(r#"{{"id":"a","diff":{{"x":{deep}}},"action":"create"}}"#),
        ] {
            let whole = AuditEntry::parse(&raw);
            match Glance::read(&raw) {
                Some(glance) => {
                    assert_eq!(four_of_glance(&glance), four_of_entry(&whole), "{raw}");
                    // And the entry, glanced at, routes as it does read whole.
                    let lazy = glanced(&raw);
                    let route = [lazy.resource_type(), lazy.action()];
                    assert_eq!(route, [whole.resource_type.as_deref(), whole.action.as_deref()]);
                    assert!(!lazy.is_whole());
                    assert_eq!(four_of_entry(lazy.entry()), four_of_entry(&whole), "{raw}");
                    assert_eq!([lazy.resource_type(), lazy.action()], route, "{raw}");
                }
                // Only what is not an object is read whole at once.
                None => assert!(!raw.starts_with('{'), "{raw}"),
            }
        }
    }

    #[test]
    fn an_id_and_time_without_escapes_are_borrowed_and_escaped_ones_unescaped() {
        let plain = r#"{"id":"a1","time":"2026-01-01T00:00:00Z"}"#;
        let g = Glance::read(plain).unwrap();
        assert!(matches!(g.id, Some(Cow::Borrowed("a1"))), "{g:?}");
        assert!(matches!(
            g.time,
            Some(Cow::Borrowed("2026-01-01T00:00:00Z"))
        ));
        let escaped = r#"{"id":"a\u0031","time":"\"t\""}"#;
        let g = Glance::read(escaped).unwrap();
        assert_eq!(g.id.as_deref(), Some("a1"));
        assert_eq!(g.time.as_deref(), Some("\"t\""));
    }

    #[test]
    fn the_first_of_a_repeated_key_counts_in_both_views() {
        let raw = r#"{"id":"a","time":"t","resource_type":"r","action":"x","id":"b","action":"y"}"#;
        let glance = Glance::read(raw).unwrap();
        assert_eq!(glance.id.as_deref(), Some("a"));
        assert_eq!(glanced(raw).action(), Some("x"));
        assert_eq!(AuditEntry::parse(raw).action.as_deref(), Some("x"));
    }

    #[test]
    fn a_glance_keeps_only_its_route_until_the_entry_is_asked_for() {
        let json =
            r#"{"id":"a","action":"write","resource_type":"template","user":{"username":"mia"}}"#;
        let lazy = glanced(json);
        assert_eq!(lazy.action(), Some("write"));
        assert!(!lazy.is_whole());
        let user = lazy
            .entry()
            .user
            .as_ref()
            .and_then(|u| u.username.as_deref());
        assert_eq!(user, Some("mia"));
        assert!(lazy.is_whole());
        assert_eq!(lazy.resource_type(), Some("template"));
    }

    #[test]
    fn an_entry_read_whole_routes_by_itself() {
        let json = r#"{"id":"a","action":"write","resource_type":"template"}"#;
        let lazy = LazyAudit::whole(Bytes::from_static(json.as_bytes()), json);
        assert!(lazy.is_whole());
        assert_eq!(
            lazy.route,
            Route::default(),
            "nothing copied beside the entry"
        );
        assert_eq!(
            [lazy.resource_type(), lazy.action()],
            [Some("template"), Some("write")]
        );
    }

    #[test]
    fn what_is_added_to_the_whole_entry_stays() {
        let json = r#"{"id":"a"}"#;
        let mut lazy = glanced(json);
        lazy.entry_mut().unreadable.push("diff".into());
        assert_eq!(lazy.entry().unreadable, ["diff"]);
        assert_eq!(lazy.clone().entry().unreadable, ["diff"]);
        // Read first, then changed: the entry read is the one changed.
        let mut lazy = glanced(r#"{"id":"b","action":"login"}"#);
        assert_eq!(lazy.entry().action.as_deref(), Some("login"));
        lazy.entry_mut().action = Some("logout".into());
        assert_eq!(
            (lazy.action(), lazy.entry().id.as_deref()),
            (Some("logout"), Some("b"))
        );
    }
}
