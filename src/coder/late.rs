//! Late connection rows: found by counting, not by re-reading.
//!
//! A workspace agent stamps `connect_time` with its own clock and reports connections
//! through a queue that holds them while coderd is out of reach, and coderd batches them
//! for a few seconds more (issue #18 reads this in `agent/agentconnectionlog` and
//! `coderd/connectionlog`: not re-read here). So a row can land far below the newest
//! `connect_time` already read: an agent whose clock runs slow, or reports held through an
//! outage or a partition. The live scan reads down to `position - overlap` only; everything
//! landing lower is found here.
//!
//! Every `late_sweep_interval`, for each hour of `[cut - late_horizon, cut)` (`cut` is
//! `position - overlap`, the live scan's floor), Coder is asked how many rows it has there
//! (`limit=1`, its `count`; a count at the cap, 2001 since v2.32, is split in halves until
//! it is exact) and the answer is compared with the rows this stream delivered there. Only
//! an hour whose counts differ is read, and its rows not delivered before ship now.
//!
//! The bound: memory holds the ids delivered within the horizon (16-byte keys); the
//! checkpoint holds one count per hour (24 for a day); a sweep costs one request per hour,
//! two or more for an hour of more than 2000 rows, plus the pages of an hour that changed.
//! A row arriving more than `late_horizon` after its `connect_time` is not found.
//!
//! After a restart the ids of earlier hours are not in memory, only their counts. An hour
//! whose count still matches is read once to learn its ids; an hour that gained rows while
//! the shipper was down is shipped whole (its rows cannot be told apart), counted as
//! `reason="unknown_after_restart"`: duplicates, bounded by that hour, never a loss.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use super::budget::Purpose;
use super::oversize;
use super::page::Event;
use super::sessions::first_sight;
use super::stream::filter_time;
use super::{
    CoderClient, CoderError, Cursor, EntryKey, KeyMap, KeySet, LateBucket, Outlet, Stream,
    TailError, TailerOptions,
};

/// Coder's `count` stops here (`count_cap` 2000, the query counts one more).
const COUNT_CAP: i64 = 2000;

/// The smallest stretch a count is split into; a capped count below it is read instead.
const SMALLEST_SPLIT: TimeDelta = TimeDelta::seconds(1);

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LateReport {
    /// Rows found below the live scan's floor and shipped.
    pub late: usize,
    /// Rows of an hour that changed while the shipper was down, shipped whole.
    pub resent: usize,
    /// The largest `cut - connect_time` of a late row: how far below the floor it landed.
    pub max_lateness: Option<TimeDelta>,
    pub requests: usize,
}

pub struct LateSweep {
    horizon: TimeDelta,
    every: Duration,
    last: Option<Instant>,
    /// Rows this stream delivered (or found already shipped), by id, with `connect_time`.
    known: KeyMap<DateTime<Utc>>,
    /// Hours from the checkpoint whose ids are not in `known` yet (after a restart).
    unloaded: Vec<LateBucket>,
    /// The stream did not read below this (it started here): nothing older is compared.
    covered_from: DateTime<Utc>,
}

impl LateSweep {
    pub fn new(cursor: &Cursor, options: &TailerOptions) -> Self {
        let start = cursor.position - options.overlap;
        let covered_from = cursor.late.first().map_or(start, |b| b.start.min(start));
        LateSweep {
            horizon: options.late_horizon,
            every: options.late_sweep_interval,
            last: None,
            known: cursor.seen.clone(),
            unloaded: cursor.late.clone(),
            covered_from: cursor.floor.map_or(covered_from, |f| covered_from.max(f)),
        }
    }

    /// A row the stream delivered (or read again): it is no late row.
    pub fn note(&mut self, key: &EntryKey, connect_time: DateTime<Utc>) {
        if self.horizon > TimeDelta::zero() {
            self.known.insert(key.clone(), connect_time);
        }
    }

    /// Whether the sweep is on (a horizon above zero).
    pub fn on(&self) -> bool {
        self.horizon > TimeDelta::zero()
    }

    /// The ids this stream delivered within the horizon, with their `connect_time`.
    pub fn known(&self) -> &KeyMap<DateTime<Utc>> {
        &self.known
    }

    /// Every hour of the checkpoint has had its ids learnt: `known` holds every row this
    /// stream delivered from [`Self::known_from`] on.
    pub fn complete(&self) -> bool {
        self.unloaded.is_empty()
    }

    /// The oldest `connect_time` from which `known` is whole, for a stream at `position`.
    pub fn known_from(&self, position: DateTime<Utc>, overlap: TimeDelta) -> DateTime<Utc> {
        (position - overlap - self.horizon).max(self.covered_from)
    }

    pub fn due(&self) -> bool {
        self.horizon > TimeDelta::zero() && self.last.is_none_or(|at| at.elapsed() >= self.every)
    }

    /// Compare each hour below the live scan's floor with Coder, ship what it has that was
    /// never delivered, and commit the counts.
    pub async fn sweep<O: Outlet>(
        &mut self,
        client: &Arc<CoderClient>,
        cursor: &mut Cursor,
        outlet: &mut O,
        options: &TailerOptions,
        now: DateTime<Utc>,
    ) -> Result<LateReport, TailError<O::Error>> {
        self.last = Some(Instant::now());
        let mut report = LateReport::default();
        let cut = cursor.position - options.overlap;
        let from = (cut - self.horizon).max(self.covered_from);
        self.known.retain(|_, t| *t >= from);
        if from >= cut {
            return Ok(report);
        }
        let mut found: Vec<Event> = Vec::new();
        let mut found_keys = KeySet::default();

        // Hours from before a restart: learn their ids, or ship them whole if they changed.
        for bucket in std::mem::take(&mut self.unloaded) {
            if bucket.end <= from {
                continue;
            }
            let coder = exact_count(client, bucket.start, bucket.end, &mut report).await?;
            let rows = read(
                client,
                bucket.start,
                bucket.end,
                options.page_size,
                &mut report,
            )
            .await?;
            let changed = coder != Some(bucket.rows);
            for event in rows {
                if changed && !self.known.contains_key(&event.key) {
                    report.resent += 1;
                    found_keys.insert(event.key.clone());
                    found.push(event);
                } else if let Some(t) = event.time {
                    self.known.insert(event.key, t);
                }
            }
        }

        // Every hour: compare counts, read only where they differ.
        for (start, end) in hours(from, cut) {
            let known = self.known_in(start, end);
            let coder = exact_count(client, start, end, &mut report).await?;
            if coder == Some(known) {
                continue;
            }
            let rows = read(client, start, end, options.page_size, &mut report).await?;
            for event in rows {
                if let Some(t) = self.known.get_mut(&event.key) {
                    // Known, at another time: its `connect_time` moved (a disconnect
                    // reported before its connect writes the row first, and the connect
                    // moves the time earlier). Counted where it is now.
                    if let Some(now_at) = event.time {
                        *t = now_at;
                    }
                    continue;
                }
                if !found_keys.insert(event.key.clone()) {
                    continue;
                }
                let lateness = event.time.map(|t| cut - t);
                report.max_lateness = report.max_lateness.max(lateness);
                report.late += 1;
                found.push(event);
            }
        }

        if !found.is_empty() {
            let horizon_start = now - options.session_horizon;
            for event in &mut found {
                // A late session still open is followed to its disconnect like any other.
                first_sight(event, cursor, horizon_start, now);
            }
            let keys: Vec<(EntryKey, Option<DateTime<Utc>>)> =
                found.iter().map(|e| (e.key.clone(), e.time)).collect();
            outlet.deliver(found).await.map_err(TailError::Outlet)?;
            for (key, time) in keys {
                self.known.insert(key, time.unwrap_or(cut));
            }
            crate::ops::metrics::late_connection_rows(
                report.late as u64,
                report.resent as u64,
                report.max_lateness,
            );
            tracing::warn!(
                late = report.late,
                resent_after_restart = report.resent,
                max_lateness_seconds = report.max_lateness.map(|d| d.num_seconds()),
                "connection-log rows landed below the live scan's window (agent clocks, reports held back); shipped now"
            );
        }
        cursor.late = hours(from, cut)
            .map(|(start, end)| LateBucket {
                start,
                end,
                rows: self.known_in(start, end),
            })
            .collect();
        outlet.commit(cursor).await.map_err(TailError::Outlet)?;
        Ok(report)
    }

    fn known_in(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> u64 {
        self.known
            .values()
            .filter(|t| **t >= start && **t < end)
            .count() as u64
    }
}

/// `[from, to)` cut at whole hours.
fn hours(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> {
    let hour = TimeDelta::hours(1);
    let mut start = from;
    std::iter::from_fn(move || {
        if start >= to {
            return None;
        }
        let next = start
            .duration_trunc(hour)
            .map_or(start + hour, |h| h + hour)
            .min(to);
        let range = (start, next);
        start = next;
        Some(range)
    })
}

/// The query for `start <= connect_time < end` (Coder's bounds are inclusive).
fn range_query(start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    format!(
        "connected_after:{} connected_before:{}",
        filter_time(start),
        filter_time(end - TimeDelta::microseconds(1))
    )
}

/// How many rows Coder has in `[start, end)`: its `count`, split in halves while it is at
/// the cap. `None` when Coder gave no usable count (the range is then read).
async fn exact_count(
    client: &Arc<CoderClient>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    report: &mut LateReport,
) -> Result<Option<u64>, CoderError> {
    let mut total = 0u64;
    let mut todo = vec![(start, end)];
    while let Some((s, e)) = todo.pop() {
        let fetched = oversize::fetch(
            client,
            Stream::Connection,
            Purpose::Late,
            &range_query(s, e),
            0,
            1,
            false,
        )
        .await?;
        report.requests += 1;
        match fetched.page.count {
            Some(n) if n > COUNT_CAP && e - s > SMALLEST_SPLIT => {
                let mid = s + (e - s) / 2;
                todo.push((s, mid));
                todo.push((mid, e));
            }
            Some(n) if (0..=COUNT_CAP).contains(&n) => total += n as u64,
            _ => return Ok(None),
        }
    }
    Ok(Some(total))
}

/// Every row in `[start, end)`, newest first. A row that moved while paging is found by
/// the next sweep: its hour's count still differs.
async fn read(
    client: &Arc<CoderClient>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    page_size: u32,
    report: &mut LateReport,
) -> Result<Vec<Event>, CoderError> {
    let query = range_query(start, end);
    let limit = page_size.max(1);
    let mut rows: Vec<Event> = Vec::new();
    let mut keys = KeySet::default();
    let mut offset = 0u64;
    loop {
        let fetched = oversize::fetch(
            client,
            Stream::Connection,
            Purpose::Late,
            &query,
            offset,
            limit,
            false,
        )
        .await?;
        report.requests += 1;
        let n = fetched.page.events.len();
        for event in fetched.page.events {
            if keys.insert(event.key.clone()) {
                rows.push(event);
            }
        }
        if n < fetched.rows_asked as usize {
            return Ok(rows);
        }
        offset += u64::from(fetched.rows_asked);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn hours_are_cut_at_whole_hours() {
        let got: Vec<_> = hours(t("2026-01-01T10:30:00Z"), t("2026-01-01T12:15:00Z")).collect();
        assert_eq!(
            got,
            [
                (t("2026-01-01T10:30:00Z"), t("2026-01-01T11:00:00Z")),
                (t("2026-01-01T11:00:00Z"), t("2026-01-01T12:00:00Z")),
                (t("2026-01-01T12:00:00Z"), t("2026-01-01T12:15:00Z")),
            ]
        );
        assert_eq!(
            hours(t("2026-01-01T10:00:00Z"), t("2026-01-01T10:00:00Z")).count(),
            0
        );
    }

    #[test]
    fn a_range_ends_one_microsecond_before_its_end() {
        assert_eq!(
            range_query(t("2026-01-01T10:00:00Z"), t("2026-01-01T11:00:00Z")),
            r#"connected_after:"2026-01-01T10:00:00.000000Z" connected_before:"2026-01-01T10:59:59.999999Z""#
        );
    }
}
