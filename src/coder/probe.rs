//! Finding where rows lie in time by asking about time, never about offsets.
//!
//! Coder pages by offset, and an offset names a different row after every insert (rows land
//! at the top) or purge (rows leave the bottom). A search that bisected offsets to find the
//! oldest row read the (k+1)-th oldest after k inserts, and started after the k oldest.
//! So both searches here ask only one question, with `limit=1` and a time filter: *which is
//! the newest row up to the end of day D?* (`date_to:D` for the audit log, an exact
//! `connected_before` for the connection log). Its answer about a stretch of the past does
//! not change when rows are inserted at the present, and a purge can only empty a stretch,
//! which moves a search's answer earlier: never past a row that still exists.
//!
//! * [`oldest_day`]: where `start_at = "beginning"` starts, in about 2·log2(age in days)
//!   requests.
//! * [`empty_until`]: how far an empty stretch of history reaches beyond a cursor, in about
//!   2·log2(its length in days) requests, so years without a row cost a few dozen requests
//!   instead of one per day.
//!
//! Both work on whole days ending at a `date_to` bound (`D 23:59:59.000000`), the only
//! bounds the audit log can filter by; a row in a day's last sub-second belongs to the
//! next bound's stretch, which is what the scan windows expect (see [`super::window`]).

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use super::budget::Purpose;
use super::oversize;
use super::stream::filter_time;
use super::window::{date_to_bound, next_bound_after};
use super::{CoderClient, CoderError, Stream};

/// The first day Coder's `date_to` parser (Go's `time.Parse("2006-01-02")`) accepts.
fn first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(1, 1, 1).unwrap_or(NaiveDate::MIN)
}

/// Asks the `limit=1` questions and counts them.
pub struct Probe<'a> {
    client: &'a CoderClient,
    stream: Stream,
    /// Requests made so far.
    pub requests: usize,
}

/// What the newest row of a probed stretch says.
enum Newest {
    None,
    /// Its time, or `None` when it has none that parses.
    Row(Option<DateTime<Utc>>),
}

impl<'a> Probe<'a> {
    pub fn new(client: &'a CoderClient, stream: Stream) -> Self {
        Self {
            client,
            stream,
            requests: 0,
        }
    }

    /// The newest row with `after < time <= date_to_bound(to)` (no lower bound when
    /// `after` is `None`).
    async fn newest(
        &mut self,
        after: Option<DateTime<Utc>>,
        to: NaiveDate,
    ) -> Result<Newest, CoderError> {
        let bound = date_to_bound(to);
        let q = match self.stream {
            Stream::Audit => {
                let to = format!("date_to:{}", to.format("%Y-%m-%d"));
                match after {
                    // Day-granular: rows of `after`'s own day come back too, and are told
                    // apart by their time below.
                    Some(a) => format!("date_from:{} {to}", a.date_naive().format("%Y-%m-%d")),
                    None => to,
                }
            }
            Stream::Connection => {
                let before = format!("connected_before:{}", filter_time(bound));
                match after {
                    Some(a) => format!(
                        "connected_after:{} {before}",
                        filter_time(a + TimeDelta::microseconds(1))
                    ),
                    None => before,
                }
            }
        };
        // Read as the tailer reads: the one row may be larger than the response cap.
        let page = oversize::fetch(self.client, self.stream, Purpose::Probe, &q, 0, 1, false)
            .await?
            .page;
        self.requests += 1;
        Ok(match page.events.into_iter().next() {
            None => Newest::None,
            Some(e) => Newest::Row(e.time),
        })
    }

    /// Whether any row lies at or before the end of day `to`.
    async fn any_up_to(&mut self, to: NaiveDate) -> Result<bool, CoderError> {
        Ok(matches!(self.newest(None, to).await?, Newest::Row(_)))
    }

    /// Whether any row lies in `(after, date_to_bound(to)]`. A newest row without a time
    /// that parses counts as one: the scan will read it.
    async fn any_between(
        &mut self,
        after: DateTime<Utc>,
        to: NaiveDate,
    ) -> Result<bool, CoderError> {
        Ok(match self.newest(Some(after), to).await? {
            Newest::None => false,
            Newest::Row(time) => time.is_none_or(|t| t > after),
        })
    }
}

/// The day whose `date_to` bound is the first to have a row at or before it: the oldest row
/// lies in `(date_to_bound(day - 1), date_to_bound(day)]`. `None` when the log is empty.
///
/// Searches backwards from tomorrow, doubling the step, then bisects the last step. Rows
/// inserted between the requests land at the present and change no answer; a row that
/// exists throughout makes every probe at or after its day say yes, so the answer is never
/// after it.
pub async fn oldest_day(
    probe: &mut Probe<'_>,
    now: DateTime<Utc>,
) -> Result<Option<NaiveDate>, CoderError> {
    // Tomorrow's bound covers every row of the present (and a replica's clock a little
    // ahead); a log with rows only beyond it starts at the newest row's day.
    let top = now.date_naive() + TimeDelta::days(1);
    if !probe.any_up_to(top).await? {
        let page = oversize::fetch(probe.client, probe.stream, Purpose::Probe, "", 0, 1, false)
            .await?
            .page;
        probe.requests += 1;
        return Ok(page
            .events
            .into_iter()
            .next()
            .map(|e| e.time.map_or(top, |t| t.date_naive())));
    }
    // `hi` has rows at or before it; `lo` none (once found).
    let mut hi = top;
    let mut lo = None;
    let mut step = 1i64;
    while hi > first_day() {
        let candidate = (hi - TimeDelta::days(step)).max(first_day());
        if probe.any_up_to(candidate).await? {
            hi = candidate;
            step = step.saturating_mul(2);
        } else {
            lo = Some(candidate);
            break;
        }
    }
    let Some(mut lo) = lo else {
        return Ok(Some(hi));
    };
    while (hi - lo).num_days() > 1 {
        let mid = lo + TimeDelta::days((hi - lo).num_days() / 2);
        if probe.any_up_to(mid).await? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(Some(hi))
}

/// The latest `date_to` bound, no later than `limit`, such that no row lies in
/// `(position, bound]`: where a cursor at `position` can move without reading anything.
/// `None` when the next day's stretch already has a row (or no whole day fits before
/// `limit`).
///
/// Gallops forward over 1, 2, 4 … days while the stretch stays empty, then bisects the
/// last gallop. Call it only for closed history (`limit` at most `now - overlap`): a row
/// that commits late lands within `overlap` of the present, so what is empty there stays
/// empty. A purge between requests only empties a stretch further; the rows that remain
/// make every probe reaching them say no, so the answer never passes one.
pub async fn empty_until(
    probe: &mut Probe<'_>,
    position: DateTime<Utc>,
    limit: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, CoderError> {
    let first = next_bound_after(position).date_naive();
    // The last day whose bound is within the limit.
    let last = if date_to_bound(limit.date_naive()) <= limit {
        limit.date_naive()
    } else {
        limit.date_naive() - TimeDelta::days(1)
    };
    if last < first {
        return Ok(None);
    }
    let mut empty_to: Option<NaiveDate> = None;
    let mut has_rows: Option<NaiveDate> = None;
    let mut span = 1i64;
    loop {
        let day = (first + TimeDelta::days(span - 1)).min(last);
        if probe.any_between(position, day).await? {
            has_rows = Some(day);
            break;
        }
        empty_to = Some(day);
        if day == last {
            break;
        }
        span = span.saturating_mul(2);
    }
    let Some(mut lo) = empty_to else {
        return Ok(None);
    };
    if let Some(mut hi) = has_rows {
        while (hi - lo).num_days() > 1 {
            let mid = lo + TimeDelta::days((hi - lo).num_days() / 2);
            if probe.any_between(position, mid).await? {
                hi = mid;
            } else {
                lo = mid;
            }
        }
    }
    Ok(Some(date_to_bound(lo)))
}
