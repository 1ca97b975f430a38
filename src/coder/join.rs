//! Whether a sink reading alone may join its stream's shared reader, and what it must
//! then be spared.
//!
//! Joining swaps the sink's cursor for the shared reader's, and a cursor is more than a
//! position: the ids it delivered below it (late rows found by a deep read or the late
//! sweep), the sessions waiting for their disconnect. The shared reader will never deliver
//! again what it has delivered, so the sink may join only when it has delivered all of it
//! too; what the sink delivered and the shared reader has not yet, the sink is spared when
//! the shared reader gets to it (the *skip set*), or it would have it twice.
//!
//! Refused, the sink simply reads on alone and asks again after its next live scan: each
//! refusal is a moment (a late row one reader found first, a disconnect one saw first),
//! not a state. Both readers read the same Coder with the same options, so they agree
//! again within a deep read or a session sweep.

use chrono::{DateTime, TimeDelta, Utc};

use super::{EntryKey, KeyMap, KeySet, Stream, Tailer};

/// Rows the sink delivered that the shared reader has not: dropped from what the shared
/// reader hands that sink, by id.
pub type SkipSet = KeyMap<DateTime<Utc>>;

/// Why a sink may not join yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its position is further below the shared reader's than the shared reader
    /// remembers ids: what lies between cannot be compared.
    Behind,
    /// One of the two is part-way through a closed window.
    Midway,
    /// The shared reader delivered rows the sink has not (yet).
    Missing,
    /// Connection log: the two wait for different sessions' disconnects.
    SessionsDiffer,
    /// Connection log: one of the two has not yet learnt the ids of its checkpoint's hours
    /// (its first late sweep is still to come).
    Unlearnt,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Behind => "behind",
            Refusal::Midway => "midway",
            Refusal::Missing => "missing_rows",
            Refusal::SessionsDiffer => "sessions_differ",
            Refusal::Unlearnt => "unlearnt",
        }
    }
}

impl Tailer {
    /// Whether the sink behind `solo` may join the shared reader behind `self`, and if so
    /// what it must be spared. Both are between steps, and both last read up to the
    /// present: so a sink ahead is ahead only by rows the shared reader will read next,
    /// within what the sink remembers (the caller asks only then).
    pub fn join_plan(&self, solo: &Tailer) -> Result<SkipSet, Refusal> {
        let (group, alone) = (self.cursor(), solo.cursor());
        if group.partial.is_some() || alone.partial.is_some() {
            return Err(Refusal::Midway);
        }
        // Behind by less, every row between is one the shared reader remembers, and the
        // comparison of ids below finds it.
        if group.position - alone.position > self.seen_depth() {
            return Err(Refusal::Behind);
        }
        let late = self.late_sweep_on();
        if late && !(self.late().complete() && solo.late().complete()) {
            return Err(Refusal::Unlearnt);
        }
        if self.options().stream == Stream::Connection {
            let open = |t: &Tailer| t.cursor().sessions.keys().cloned().collect::<KeySet>();
            if open(self) != open(solo) {
                return Err(Refusal::SessionsDiffer);
            }
        }
        // Below this the sink's memory of what it delivered is gone; what it delivered
        // there, it delivered by the same rules as any reader (the overlap, the sweep).
        // Nor does a sink that starts later (`start_at`) ask for rows before its start.
        let known_from = alone
            .floor
            .map_or(solo.known_from(), |f| solo.known_from().max(f));
        let solo_has = |k: &EntryKey| solo.delivered_contains(k);
        if self
            .delivered()
            .any(|(k, t)| *t >= known_from && !solo_has(k))
        {
            return Err(Refusal::Missing);
        }
        let skip = solo
            .delivered()
            .filter(|(k, _)| !self.delivered_contains(k))
            .map(|(k, t)| (k.clone(), *t))
            .collect();
        Ok(skip)
    }

    /// How far below its position this reader may still deliver a row it has not
    /// delivered: a skip entry older than that can go.
    pub fn redelivery_depth(&self) -> TimeDelta {
        let seen = self.seen_depth();
        if self.late_sweep_on() {
            seen.max(self.options().overlap + self.options().late_horizon)
        } else {
            seen
        }
    }

    fn late_sweep_on(&self) -> bool {
        self.options().stream == Stream::Connection && self.late().on()
    }

    /// Every id this reader remembers delivering, with its time.
    fn delivered(&self) -> impl Iterator<Item = (&EntryKey, &DateTime<Utc>)> {
        let late = self.late_sweep_on().then(|| self.late().known().iter());
        self.cursor().seen.iter().chain(late.into_iter().flatten())
    }

    fn delivered_contains(&self, key: &EntryKey) -> bool {
        self.cursor().seen.contains_key(key)
            || (self.late_sweep_on() && self.late().known().contains_key(key))
    }

    /// The oldest time from which [`Self::delivered`] is whole: every row it delivered
    /// since is in it.
    fn known_from(&self) -> DateTime<Utc> {
        let position = self.cursor().position;
        let seen = position - self.seen_depth();
        if self.late_sweep_on() {
            seen.min(self.late().known_from(position, self.options().overlap))
        } else {
            seen
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use chrono::{DateTime, TimeDelta, Utc};

    use super::*;
    use crate::coder::{
        ClientOptions, CoderClient, Cursor, OpenSession, TailerOptions, TokenSource,
    };
    use crate::secret::Secret;

    const OVERLAP: TimeDelta = TimeDelta::minutes(5);

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// A cursor at `position` that delivered `ids`, each at its time.
    fn cursor(position: &str, ids: &[(&str, &str)]) -> Cursor {
        let mut c = Cursor::starting_at(at(position), None);
        for (id, t) in ids {
            c.seen.insert(EntryKey::from_id(id), at(t));
        }
        c
    }

    /// A tailer over `cursor`; it never reaches Coder here (nothing is stepped).
    fn tailer(stream: Stream, late_horizon: TimeDelta, cursor: Cursor) -> Tailer {
        let client = CoderClient::new(
            "http://127.0.0.1:9",
            TokenSource::Static(Secret::new("t")),
            ClientOptions::default(),
        )
        .unwrap();
        let options = TailerOptions {
            page_size: 100,
            overlap: OVERLAP,
            end: None,
            stream,
            session_horizon: TimeDelta::days(7),
            session_poll_interval: Duration::from_secs(10),
            late_horizon,
            late_sweep_interval: Duration::from_secs(300),
            overlap_reread_interval: Duration::from_secs(60),
            lookups: None,
        };
        Tailer::new(Arc::new(client), options, cursor)
    }

    fn audit(c: Cursor) -> Tailer {
        tailer(Stream::Audit, TimeDelta::zero(), c)
    }

    #[test]
    fn the_same_cursor_joins_with_nothing_to_skip() {
        let c = cursor("2026-01-01T12:00:00Z", &[("a", "2026-01-01T11:59:00Z")]);
        let plan = audit(c.clone()).join_plan(&audit(c));
        assert_eq!(plan, Ok(SkipSet::default()));
    }

    #[test]
    fn rows_delivered_alone_and_not_yet_by_the_group_are_skipped() {
        let group = cursor("2026-01-01T12:00:00Z", &[("a", "2026-01-01T11:59:00Z")]);
        let solo = cursor(
            "2026-01-01T12:00:03Z",
            &[("a", "2026-01-01T11:59:00Z"), ("b", "2026-01-01T12:00:03Z")],
        );
        let skip = audit(group).join_plan(&audit(solo)).unwrap();
        assert_eq!(skip.len(), 1);
        assert_eq!(
            skip.get(&EntryKey::from_id("b")),
            Some(&at("2026-01-01T12:00:03Z"))
        );
    }

    #[test]
    fn a_row_the_group_delivered_and_the_sink_did_not_keeps_it_alone() {
        // A late row the shared reader's deep read found first.
        let group = cursor(
            "2026-01-01T12:00:00Z",
            &[
                ("a", "2026-01-01T11:59:00Z"),
                ("late", "2026-01-01T11:57:00Z"),
            ],
        );
        let solo = cursor("2026-01-01T12:00:00Z", &[("a", "2026-01-01T11:59:00Z")]);
        assert_eq!(audit(group).join_plan(&audit(solo)), Err(Refusal::Missing));
    }

    #[test]
    fn below_what_the_sink_remembers_its_rows_are_not_asked_for() {
        // The sink is 3 minutes ahead; it remembers 6 minutes (overlap + reread) below its
        // position, so a group row 8 minutes below is past its memory, not missing.
        let group = cursor("2026-01-01T12:00:00Z", &[("old", "2026-01-01T11:52:00Z")]);
        let solo = cursor("2026-01-01T12:03:00Z", &[]);
        assert_eq!(audit(group).join_plan(&audit(solo)), Ok(SkipSet::default()));
    }

    #[test]
    fn a_sink_behind_joins_only_when_the_rows_between_can_be_compared() {
        // The group remembers 6 minutes (overlap + reread) below its position.
        let group = cursor("2026-01-01T12:00:00Z", &[("new", "2026-01-01T11:59:30Z")]);
        let far = cursor("2026-01-01T11:53:59Z", &[]);
        assert_eq!(
            audit(group.clone()).join_plan(&audit(far)),
            Err(Refusal::Behind)
        );
        let near = cursor("2026-01-01T11:59:00Z", &[]);
        assert_eq!(
            audit(group.clone()).join_plan(&audit(near)),
            Err(Refusal::Missing)
        );
        let caught_up = cursor("2026-01-01T11:59:30Z", &[("new", "2026-01-01T11:59:30Z")]);
        assert_eq!(
            audit(group).join_plan(&audit(caught_up)),
            Ok(SkipSet::default())
        );
    }

    #[test]
    fn a_sink_far_ahead_of_an_idle_stream_joins() {
        // No row for an hour: the shared reader's position stays at the last one.
        let group = cursor("2026-01-01T11:00:00Z", &[]);
        let solo = cursor("2026-01-01T12:00:00Z", &[]);
        assert_eq!(audit(group).join_plan(&audit(solo)), Ok(SkipSet::default()));
    }

    #[test]
    fn rows_before_a_sinks_start_are_not_asked_of_it() {
        let group = cursor(
            "2026-01-01T12:00:00Z",
            &[("before", "2026-01-01T11:58:00Z")],
        );
        let mut solo = cursor("2026-01-01T12:00:00Z", &[]);
        solo.floor = Some(at("2026-01-01T11:59:00Z"));
        assert_eq!(audit(group).join_plan(&audit(solo)), Ok(SkipSet::default()));
    }

    #[test]
    fn a_sink_midway_through_a_window_reads_on_alone() {
        let group = cursor("2026-01-01T12:00:00Z", &[]);
        let mut solo = cursor("2026-01-01T12:00:00Z", &[]);
        solo.partial = Some(crate::coder::Partial {
            window_end: at("2026-01-02T00:00:00Z"),
            done_above: at("2026-01-01T18:00:00Z"),
        });
        assert_eq!(audit(group).join_plan(&audit(solo)), Err(Refusal::Midway));
    }

    fn open(c: &mut Cursor, id: &str) {
        c.sessions.insert(
            EntryKey::from_id(id),
            OpenSession {
                connection_id: format!("conn-{id}"),
                connect_time: at("2026-01-01T11:00:00Z"),
            },
        );
    }

    #[test]
    fn connection_sinks_join_only_waiting_for_the_same_disconnects() {
        let conn = |c| tailer(Stream::Connection, TimeDelta::zero(), c);
        let mut group = cursor("2026-01-01T12:00:00Z", &[]);
        let mut solo = group.clone();
        open(&mut group, "s1");
        open(&mut solo, "s1");
        assert_eq!(
            conn(group.clone()).join_plan(&conn(solo.clone())),
            Ok(SkipSet::default())
        );
        // The sink saw s2's disconnect (or the group has not seen s2 yet): not now.
        open(&mut group, "s2");
        assert_eq!(
            conn(group).join_plan(&conn(solo)),
            Err(Refusal::SessionsDiffer)
        );
    }

    #[test]
    fn connection_sinks_join_only_once_their_late_sweeps_know_their_hours() {
        let conn = |c| tailer(Stream::Connection, TimeDelta::hours(24), c);
        let group = cursor("2026-01-01T12:00:00Z", &[]);
        let mut solo = group.clone();
        // A checkpoint's hour whose ids the sink's late sweep has not read yet.
        solo.late.push(crate::coder::LateBucket {
            start: at("2026-01-01T10:00:00Z"),
            end: at("2026-01-01T11:00:00Z"),
            rows: 3,
        });
        assert_eq!(
            conn(group.clone()).join_plan(&conn(group.clone())),
            Ok(SkipSet::default())
        );
        assert_eq!(conn(group).join_plan(&conn(solo)), Err(Refusal::Unlearnt));
    }
}
