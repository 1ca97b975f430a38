//! The cursor: where a stream stands in Coder's audit log, as saved in its checkpoint.
//!
//! Coder offers no cursor of its own: only `time DESC` with offset paging and no
//! tie-breaker, and rows that commit out of `time` order. So the cursor is a watermark
//! (`position`) plus the ids already delivered inside the overlap window below it: a late
//! row lands below the watermark, is found by the next scan of the overlap, and is told
//! apart from the rows already shipped by its id, the only stable key.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// A dedupe key: the audit id. UUIDs (all real ids) are stored as 16 bytes so that a day of
/// ids stays small; anything else (frontend mocks, a digest for an id-less entry) as text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EntryKey {
    Uuid(u128),
    Other(Box<str>),
}

impl EntryKey {
    pub fn from_id(id: &str) -> Self {
        match uuid::Uuid::try_parse(id) {
            // Only the canonical form maps to the compact key, so `to_string` gives the id back.
            // Compared on the stack: this runs for every entry read.
            Ok(u)
                if u.hyphenated()
                    .encode_lower(&mut uuid::Uuid::encode_buffer())
                    == id =>
            {
                EntryKey::Uuid(u.as_u128())
            }
            _ => EntryKey::Other(id.into()),
        }
    }

    /// A stable key for an entry that has no id: a 128-bit FNV-1a digest of its bytes.
    pub fn digest(raw: &[u8]) -> Self {
        let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
        for b in raw {
            h ^= u128::from(*b);
            h = h.wrapping_mul(0x0000000001000000000000000000013B);
        }
        EntryKey::Other(format!("no-id:{h:032x}").into())
    }

    /// The key as a record's id, written once into its own allocation (not a `String`
    /// first): every sink's copy of the record shares it.
    pub fn shared(&self) -> std::sync::Arc<str> {
        match self {
            EntryKey::Uuid(u) => {
                let mut buf = uuid::Uuid::encode_buffer();
                (&*uuid::Uuid::from_u128(*u)
                    .hyphenated()
                    .encode_lower(&mut buf))
                    .into()
            }
            EntryKey::Other(s) => (&**s).into(),
        }
    }
}

impl std::fmt::Display for EntryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EntryKey::Uuid(u) => write!(f, "{}", uuid::Uuid::from_u128(*u).hyphenated()),
            EntryKey::Other(s) => f.write_str(s),
        }
    }
}

/// How the maps and sets keyed by [`EntryKey`] hash: foldhash instead of std's SipHash.
/// Every entry read is looked up in two or three of them, and foldhash took 1.5 % off an
/// ECS backfill's instructions and 3.7 % off a raw one (BENCHMARKS.md, "Idle RSS and
/// hashing"). The keys are Coder's own ids (random UUIDs, or digests of an entry's bytes),
/// not values a client picks, and the seed is still random per process.
pub type KeyHasher = foldhash::fast::RandomState;
/// A map keyed by [`EntryKey`] (see [`KeyHasher`]).
pub type KeyMap<V> = HashMap<EntryKey, V, KeyHasher>;
/// A set of [`EntryKey`]s (see [`KeyHasher`]).
pub type KeySet = HashSet<EntryKey, KeyHasher>;

/// The state of one stream for one sink. See the module doc for why it looks like this.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    /// Every row with `time <= position` that was visible when its window was scanned has
    /// been delivered.
    pub position: DateTime<Utc>,
    /// Rows older than this are never emitted (`start_at`, `backfill --from`).
    pub floor: Option<DateTime<Utc>>,
    /// Ids delivered whose time is within `overlap` below `position` (or above it).
    pub seen: KeyMap<DateTime<Utc>>,
    /// Progress through a closed window that was interrupted.
    pub partial: Option<Partial>,
    /// Connection log only: sessions whose connect was delivered and whose disconnect was
    /// not yet seen, by row id. Rows are updated when a session ends, so these are read
    /// again until it does (see [`super::sessions`]).
    pub sessions: KeyMap<OpenSession>,
    /// Connection log only: how many rows were known in each stretch below the overlap,
    /// for the late sweep to tell when Coder has more ([`super::late`]).
    pub late: Vec<LateBucket>,
}

/// `rows` connection-log rows with `start <= connect_time < end` were known (delivered) when
/// the checkpoint was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LateBucket {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub rows: u64,
}

/// A session delivered as open, waiting for its disconnect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSession {
    /// What Coder can filter the row by (`q=connection_id:…`).
    pub connection_id: String,
    pub connect_time: DateTime<Utc>,
}

/// One open session, as stored in the checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRecord {
    pub id: String,
    pub connection_id: String,
    pub connect_time: DateTime<Utc>,
}

/// Inside the closed window ending at `window_end`, every row with `time > done_above`
/// has been delivered. Scans run newest first, so this is exactly what a scan that stops
/// half-way has achieved; a resumed run skips those rows instead of sending them again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partial {
    pub window_end: DateTime<Utc>,
    pub done_above: DateTime<Utc>,
}

/// One remembered id, as stored in the checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenEntry {
    pub id: String,
    pub time: DateTime<Utc>,
}

/// The checkpoint form of a [`Cursor`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CursorRecord {
    position: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    floor: Option<DateTime<Utc>>,
    #[serde(default)]
    seen: Vec<SeenEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    partial: Option<Partial>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    sessions: Vec<SessionRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    late: Vec<LateBucket>,
}

impl Cursor {
    pub fn starting_at(position: DateTime<Utc>, floor: Option<DateTime<Utc>>) -> Self {
        Self {
            position,
            floor,
            seen: KeyMap::default(),
            partial: None,
            sessions: KeyMap::default(),
            late: Vec::new(),
        }
    }

    /// Forget ids too old to be met again by a scan of the overlap window.
    pub fn prune(&mut self, overlap: TimeDelta) {
        let horizon = self.position - overlap;
        self.seen.retain(|_, t| *t >= horizon);
    }

    pub(crate) fn to_record(&self) -> CursorRecord {
        let mut seen: Vec<SeenEntry> = self
            .seen
            .iter()
            .map(|(k, t)| SeenEntry {
                id: k.to_string(),
                time: *t,
            })
            .collect();
        // Stable files: easier to diff and to read in `checkpoint show`.
        seen.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
        let mut sessions: Vec<SessionRecord> = self
            .sessions
            .iter()
            .map(|(k, s)| SessionRecord {
                id: k.to_string(),
                connection_id: s.connection_id.clone(),
                connect_time: s.connect_time,
            })
            .collect();
        sessions.sort_by(|a, b| (a.connect_time, &a.id).cmp(&(b.connect_time, &b.id)));
        CursorRecord {
            position: self.position,
            floor: self.floor,
            seen,
            partial: self.partial.clone(),
            sessions,
            late: self.late.clone(),
        }
    }

    pub(crate) fn from_record(r: CursorRecord) -> Self {
        Self {
            position: r.position,
            floor: r.floor,
            seen: r
                .seen
                .into_iter()
                .map(|s| (EntryKey::from_id(&s.id), s.time))
                .collect(),
            partial: r.partial,
            sessions: r
                .sessions
                .into_iter()
                .map(|s| {
                    (
                        EntryKey::from_id(&s.id),
                        OpenSession {
                            connection_id: s.connection_id,
                            connect_time: s.connect_time,
                        },
                    )
                })
                .collect(),
            late: r.late,
        }
    }
}

impl Serialize for Cursor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_record().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Cursor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        CursorRecord::deserialize(d).map(Cursor::from_record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keys_shared_id_is_its_text() {
        for id in [
            "7c9a8f1e-0000-4000-8000-00000000000a",
            "not-a-uuid",
            "7C9A8F1E-0000-4000-8000-00000000000A",
        ] {
            let key = EntryKey::from_id(id);
            assert_eq!(&*key.shared(), key.to_string(), "{id}");
        }
        assert_eq!(
            &*EntryKey::from_id("7c9a8f1e-0000-4000-8000-00000000000a").shared(),
            "7c9a8f1e-0000-4000-8000-00000000000a"
        );
    }

    #[test]
    fn uuid_keys_round_trip_through_text() {
        let id = "f7f55437-746d-43d5-8412-a868b53d141e";
        let k = EntryKey::from_id(id);
        assert!(matches!(k, EntryKey::Uuid(_)));
        assert_eq!(k.to_string(), id);
        // Upper case is a different string: it must stay a different key.
        let upper = EntryKey::from_id(&id.to_uppercase());
        assert!(matches!(upper, EntryKey::Other(_)));
        assert_eq!(EntryKey::from_id("test-user").to_string(), "test-user");
    }

    #[test]
    fn digests_are_stable_and_distinct() {
        assert_eq!(EntryKey::digest(b"{}"), EntryKey::digest(b"{}"));
        assert_ne!(EntryKey::digest(b"{}"), EntryKey::digest(b"{ }"));
    }

    #[test]
    fn prune_keeps_the_overlap_window() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let mut c = Cursor::starting_at(t("2026-01-01T12:00:00Z"), None);
        c.seen
            .insert(EntryKey::from_id("old"), t("2026-01-01T11:54:59Z"));
        c.seen
            .insert(EntryKey::from_id("edge"), t("2026-01-01T11:55:00Z"));
        c.seen
            .insert(EntryKey::from_id("new"), t("2026-01-01T12:01:00Z"));
        c.prune(TimeDelta::minutes(5));
        let mut kept: Vec<String> = c.seen.keys().map(|k| k.to_string()).collect();
        kept.sort();
        assert_eq!(kept, ["edge", "new"]);
    }

    #[test]
    fn serde_round_trip() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let mut c = Cursor::starting_at(t("2026-01-01T12:00:00Z"), Some(t("2026-01-01T00:00:00Z")));
        c.seen.insert(
            EntryKey::from_id("f7f55437-746d-43d5-8412-a868b53d141e"),
            t("2026-01-01T11:59:00Z"),
        );
        c.partial = Some(Partial {
            window_end: t("2026-01-02T23:59:59Z"),
            done_above: t("2026-01-02T10:00:00Z"),
        });
        c.sessions.insert(
            EntryKey::from_id("7884a866-4ae1-4945-9fba-b2b8d2b7c5a9"),
            OpenSession {
                connection_id: "026c8c11-fc5c-4df8-a286-5fe6d7f54f98".into(),
                connect_time: t("2026-01-01T11:58:00Z"),
            },
        );
        let text = serde_json::to_string(&c).unwrap();
        let back: Cursor = serde_json::from_str(&text).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn an_audit_checkpoint_has_no_sessions_field() {
        let c = Cursor::starting_at(Utc::now(), None);
        let text = serde_json::to_string(&c).unwrap();
        assert!(!text.contains("sessions"), "{text}");
    }
}
