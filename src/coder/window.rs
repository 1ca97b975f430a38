//! Scan windows: which slice of the audit log the next scan reads, and the `q` for it.
//!
//! Coder's only filters are day-granular UTC dates, and `date_to:D` stops at
//! `D 23:59:59.000000`, so the day's last sub-second can only be read with a `date_to` of
//! the *next* day. Windows therefore end on those bounds: the window for day D covers
//! `(previous bound, D 23:59:59]`, its query starts a day earlier, and a scan, reading newest
//! first, picks up the previous day's `23:59:59.xxx` rows just after D's own, before it
//! reaches rows it has already seen. History is walked one such window at a time, so memory
//! holds at most one day of ids, never the backlog.
//!
//! The connection log filters by `connected_after` / `connected_before`, exact to the
//! microsecond and inclusive: its windows have the same bounds, and its queries say them
//! exactly.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use super::Stream;
use super::stream::filter_time;

/// What the next scan reads: rows with `lower <= time`, up to `upper` when closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Rows older than this end the scan.
    pub lower: DateTime<Utc>,
    /// `Some`: a closed window of history, rows newer than this are left to a later window.
    /// `None`: the live window, open to now.
    pub upper: Option<DateTime<Utc>>,
}

impl Window {
    /// The `q` parameter that reads this window of `stream`.
    pub fn query(&self, stream: Stream) -> String {
        match stream {
            Stream::Audit => {
                let date_from = day_of(self.lower).format("%Y-%m-%d");
                match self.upper {
                    Some(upper) => format!(
                        "date_from:{date_from} date_to:{}",
                        date_to_covering(upper).format("%Y-%m-%d")
                    ),
                    None => format!("date_from:{date_from}"),
                }
            }
            Stream::Connection => {
                let after = format!("connected_after:{}", filter_time(self.lower));
                match self.upper {
                    Some(upper) => format!("{after} connected_before:{}", filter_time(upper)),
                    None => after,
                }
            }
        }
    }
}

/// `D 23:59:59.000000 UTC`: the inclusive bound that `date_to:D` filters by.
pub fn date_to_bound(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(23, 59, 59)
        .map(|dt| dt.and_utc())
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn day_of(t: DateTime<Utc>) -> NaiveDate {
    t.date_naive()
}

/// The first `date_to` bound strictly after `t`.
pub fn next_bound_after(t: DateTime<Utc>) -> DateTime<Utc> {
    let same_day = date_to_bound(day_of(t));
    if same_day > t {
        same_day
    } else {
        date_to_bound(day_of(t) + TimeDelta::days(1))
    }
}

/// The smallest `date_to` day whose bound covers `t`.
fn date_to_covering(t: DateTime<Utc>) -> NaiveDate {
    if date_to_bound(day_of(t)) >= t {
        day_of(t)
    } else {
        day_of(t) + TimeDelta::days(1)
    }
}

/// Pick the next window for a cursor at `position`.
///
/// * `end` (backfill): the exclusive end of the range; windows are always closed.
/// * Otherwise the window is closed while the cursor is more than two overlaps behind now
///   (history: read day by day, the last one ending at `now - overlap`), and live (open to
///   now) after that.
pub fn next_window(
    position: DateTime<Utc>,
    floor: Option<DateTime<Utc>>,
    overlap: TimeDelta,
    now: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
) -> Option<Window> {
    let lower = lower_bound(position, floor, overlap);
    let bound = next_bound_after(position);
    let upper = match end {
        Some(end) => {
            let last = end - TimeDelta::microseconds(1);
            if position >= last {
                return None;
            }
            Some(bound.min(last))
        }
        // A cursor more than two overlaps behind is in history: read up to `now - overlap`
        // as closed windows, whose progress is checkpointed page by page. Closer than
        // that the window is live, so a caught-up tailer never spins on tiny windows.
        None if position + overlap + overlap < now => Some(bound.min(now - overlap)),
        None => None,
    };
    Some(window(lower, upper))
}

/// The window an interrupted closed window resumes in: the same bounds it had, whatever
/// `now` says today, so its partial checkpoint (`done_above`) still means what it meant.
pub fn resumed_window(
    position: DateTime<Utc>,
    floor: Option<DateTime<Utc>>,
    overlap: TimeDelta,
    upper: DateTime<Utc>,
) -> Window {
    window(lower_bound(position, floor, overlap), Some(upper))
}

/// A scan reads down to `overlap` below the position, never below the floor.
fn lower_bound(
    position: DateTime<Utc>,
    floor: Option<DateTime<Utc>>,
    overlap: TimeDelta,
) -> DateTime<Utc> {
    let lower = position - overlap;
    floor.map_or(lower, |f| lower.max(f))
}

fn window(lower: DateTime<Utc>, upper: Option<DateTime<Utc>>) -> Window {
    Window { lower, upper }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const FIVE_MIN: TimeDelta = TimeDelta::minutes(5);

    #[test]
    fn history_is_read_one_day_at_a_time() {
        let w = next_window(
            t("2026-01-01T10:00:00Z"),
            None,
            FIVE_MIN,
            t("2026-01-05T00:00:00Z"),
            None,
        )
        .unwrap();
        assert_eq!(w.upper, Some(t("2026-01-01T23:59:59Z")));
        assert_eq!(w.lower, t("2026-01-01T09:55:00Z"));
        assert_eq!(
            w.query(Stream::Audit),
            "date_from:2026-01-01 date_to:2026-01-01"
        );
    }

    #[test]
    fn the_next_day_window_also_reads_the_last_sub_second_of_the_previous_day() {
        let w = next_window(
            t("2026-01-01T23:59:59Z"),
            None,
            FIVE_MIN,
            t("2026-01-05T00:00:00Z"),
            None,
        )
        .unwrap();
        assert_eq!(w.upper, Some(t("2026-01-02T23:59:59Z")));
        // date_from of the previous day reaches 2026-01-01T23:59:59.5.
        assert_eq!(
            w.query(Stream::Audit),
            "date_from:2026-01-01 date_to:2026-01-02"
        );
        assert!(w.lower < t("2026-01-01T23:59:59.5Z"));
    }

    #[test]
    fn near_now_the_window_is_live() {
        let w = next_window(
            t("2026-01-05T10:00:00Z"),
            None,
            FIVE_MIN,
            t("2026-01-05T10:00:02Z"),
            None,
        )
        .unwrap();
        assert_eq!(w.upper, None);
        assert_eq!(w.query(Stream::Audit), "date_from:2026-01-05");
        // Just after midnight the live window still reaches back into yesterday.
        let w = next_window(
            t("2026-01-05T00:01:00Z"),
            None,
            FIVE_MIN,
            t("2026-01-05T00:01:02Z"),
            None,
        )
        .unwrap();
        assert_eq!(w.query(Stream::Audit), "date_from:2026-01-04");
    }

    #[test]
    fn today_up_to_the_overlap_is_history_too() {
        let w = next_window(
            t("2026-01-04T23:59:59Z"),
            None,
            FIVE_MIN,
            t("2026-01-05T14:00:00Z"),
            None,
        )
        .unwrap();
        assert_eq!(w.upper, Some(t("2026-01-05T13:55:00Z")));
        assert_eq!(
            w.query(Stream::Audit),
            "date_from:2026-01-04 date_to:2026-01-05"
        );
    }

    #[test]
    fn an_interrupted_window_resumes_with_its_own_bounds() {
        let w = resumed_window(
            t("2026-01-04T23:59:59Z"),
            None,
            FIVE_MIN,
            t("2026-01-05T13:55:00Z"),
        );
        assert_eq!(w.upper, Some(t("2026-01-05T13:55:00Z")));
        assert_eq!(
            w.query(Stream::Audit),
            "date_from:2026-01-04 date_to:2026-01-05"
        );
    }

    #[test]
    fn a_caught_up_cursor_stays_live() {
        // One overlap behind (just after a closed window ended at now - overlap): live.
        let w = next_window(
            t("2026-01-05T13:55:00Z"),
            None,
            FIVE_MIN,
            t("2026-01-05T14:00:01Z"),
            None,
        )
        .unwrap();
        assert_eq!(w.upper, None);
    }

    #[test]
    fn a_backfill_ends_exactly_at_its_end() {
        let end = t("2026-02-01T00:00:00Z");
        let w = next_window(
            t("2026-01-31T23:59:59Z"),
            None,
            FIVE_MIN,
            t("2026-06-01T00:00:00Z"),
            Some(end),
        )
        .unwrap();
        assert_eq!(w.upper, Some(t("2026-01-31T23:59:59.999999Z")));
        // Covering 23:59:59.999999 of Jan 31 needs date_to of Feb 1.
        assert_eq!(
            w.query(Stream::Audit),
            "date_from:2026-01-31 date_to:2026-02-01"
        );
        assert!(
            next_window(
                t("2026-01-31T23:59:59.999999Z"),
                None,
                FIVE_MIN,
                t("2026-06-01T00:00:00Z"),
                Some(end)
            )
            .is_none()
        );
    }

    #[test]
    fn the_floor_stops_the_overlap_from_reaching_before_the_start() {
        let from = t("2026-01-01T00:00:00Z");
        let w = next_window(
            from - TimeDelta::microseconds(1),
            Some(from),
            FIVE_MIN,
            t("2026-06-01T00:00:00Z"),
            None,
        )
        .unwrap();
        assert_eq!(w.lower, from);
        assert_eq!(
            w.query(Stream::Audit),
            "date_from:2026-01-01 date_to:2026-01-01"
        );
    }

    #[test]
    fn connection_windows_say_their_bounds_exactly() {
        let w = next_window(
            t("2026-01-01T10:00:00Z"),
            None,
            FIVE_MIN,
            t("2026-01-05T00:00:00Z"),
            None,
        )
        .unwrap();
        assert_eq!(
            w.query(Stream::Connection),
            r#"connected_after:"2026-01-01T09:55:00.000000Z" connected_before:"2026-01-01T23:59:59.000000Z""#
        );
        let live = next_window(
            t("2026-01-05T10:00:00Z"),
            None,
            FIVE_MIN,
            t("2026-01-05T10:00:02Z"),
            None,
        )
        .unwrap();
        assert_eq!(
            live.query(Stream::Connection),
            r#"connected_after:"2026-01-05T09:55:00.000000Z""#
        );
    }
}
