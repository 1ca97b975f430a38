//! One scan of a window: the paging state and the rules that move it, without I/O.
//!
//! The [`super::Tailer`] asks a [`Scan`] what to request, fetches it, and hands the page
//! back; the scan says which rows are new and what comes next. Each rule is one branch of
//! [`Scan::read`], and each invariant is kept in one place:
//!
//! * **Ties are never split.** A full page's last tie group is left for the next request,
//!   which starts one row *before* it (`boundary`); a tie group that fills a page is asked
//!   for again whole, with room for all of it.
//! * **Continuity.** The re-read row must come back newer than the boundary; if it does not,
//!   rows moved up under the scan, and it backs off a page (at most [`MAX_BACKOFFS`] times).
//! * **The mark only goes down.** Every row newer than `mark` was handled by this scan (or,
//!   resumed, before a restart). In a closed window such rows need no id set: the set
//!   holds only what the next window's overlap meets again, so memory stays bounded by the
//!   overlap, not by a day of history.
//! * **Pages grow back slowly.** A page Coder made smaller (too large, too slow) keeps that
//!   size for [`GROW_AFTER`] pages, then doubles; a scan losing the race to inserts reads
//!   more rows per request, up to [`MAX_LIMIT`], for the rest of the scan.

use chrono::{DateTime, TimeDelta, Utc};

use super::window::Window;
use super::{EntryKey, Event, KeyHasher, KeyMap, KeySet};

/// How many back-offs one scan may make before it stops checking and goes on.
const MAX_BACKOFFS: usize = 64;

/// Pages that must fit at a shrunk size before the scan asks for twice as many rows.
const GROW_AFTER: usize = 4;

/// The largest page a scan asks for when it has to outrun inserts.
const MAX_LIMIT: u32 = 5_000;

/// The next request of a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub offset: u64,
    pub limit: u32,
    /// The `limit` rows must come in one answer (a tie group), skimmed if they do not fit.
    pub whole: bool,
}

/// What one page gave.
#[derive(Debug)]
pub struct Page {
    /// Rows not delivered before, in page order, with the time each sorts by.
    pub fresh: Vec<(Event, DateTime<Utc>)>,
    /// Rows read again that were already handled.
    pub reread: usize,
    pub next: Next,
}

/// What comes after a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Ask again as [`Scan::request`] now says (a back-off, or room for a tie group).
    Again,
    /// Read on. In a closed window, `done_above`: every row newer than it is handled, what
    /// a partial checkpoint records so a restart does not send them again.
    More { done_above: Option<DateTime<Utc>> },
    /// The window is read.
    Done,
}

/// The paging state of one scan of `window`.
#[derive(Debug)]
pub struct Scan {
    window: Window,
    page_size: u32,
    limit: u32,
    whole: bool,
    /// Pages read in a row at a shrunk size.
    calm: usize,
    offset: u64,
    /// The time of the tie group left for the next request.
    boundary: Option<DateTime<Utc>>,
    /// Every row newer than this has been handled (see the module doc).
    mark: Option<DateTime<Utc>>,
    /// Rows of a closed window at or after this are remembered for the next overlap.
    keep_from: Option<DateTime<Utc>>,
    newest: Option<DateTime<Utc>>,
    /// Ids handled in this window, merged into the cursor when the window is done.
    seen: KeyMap<DateTime<Utc>>,
    backoffs: usize,
}

impl Scan {
    /// A scan of `window`, resumed below `done_above` when a partial checkpoint says so;
    /// ids are remembered `seen_depth` below a closed window's end.
    pub fn new(
        window: Window,
        page_size: u32,
        done_above: Option<DateTime<Utc>>,
        seen_depth: TimeDelta,
    ) -> Self {
        let page_size = page_size.max(1);
        Scan {
            keep_from: window.upper.map(|u| u - seen_depth),
            window,
            page_size,
            limit: page_size,
            whole: false,
            calm: 0,
            offset: 0,
            boundary: None,
            mark: done_above,
            newest: None,
            seen: KeyMap::default(),
            backoffs: 0,
        }
    }

    pub fn request(&self) -> Request {
        Request {
            offset: self.offset,
            limit: self.limit,
            whole: self.whole,
        }
    }

    /// Read one answer to [`Scan::request`]: `events` newest first, of `rows_asked` asked
    /// for (fewer when Coder's answer had to shrink). `known` says whether the cursor
    /// delivered a row in an earlier window; `now` is the time an open window ends at.
    pub fn read(
        &mut self,
        events: Vec<Event>,
        rows_asked: u32,
        now: DateTime<Utc>,
        known: impl Fn(&EntryKey) -> bool,
    ) -> Page {
        self.whole = false;
        let times = effective_times(&events, self.window.upper.unwrap_or(now));
        let n = events.len();
        tracing::trace!(
            offset = self.offset,
            limit = self.limit,
            rows = n,
            first = ?times.first(),
            last = ?times.last(),
            boundary = ?self.boundary,
            "page"
        );
        if self.moved_up(&times) {
            return Page::again();
        }
        // A page of which less than half is new ground below the previous boundary is
        // losing the race to inserts (or to a tie group larger than the page).
        let stalled = self
            .boundary
            .is_some_and(|b| times.iter().filter(|t| **t < b).count() * 2 < n);
        let next_limit = self.next_limit(rows_asked);
        let mut take = n;
        let mut next = None;
        if n as u64 == u64::from(rows_asked)
            && let Some(&last) = times.last()
            && last >= self.window.lower
        {
            let group_start = times.iter().position(|t| *t == last).unwrap_or(0);
            if group_start <= 1 {
                // The tie group fills the page (but for the row re-read before it): ask
                // again with room for all of it, in one answer even over the size cap.
                self.limit = rows_asked.saturating_mul(2);
                self.whole = true;
                return Page::again();
            }
            take = group_start;
            next = Some((self.offset + group_start as u64 - 1, last));
        }
        let (fresh, reread, passed_lower) = self.sort(events, times, take, &known);
        let next = match next {
            Some((offset, group_time)) if !passed_lower => {
                self.advance(offset, group_time, next_limit, stalled)
            }
            _ => Next::Done,
        };
        Page {
            fresh,
            reread,
            next,
        }
    }

    /// Continuity: the request started one row before the deferred tie group, so its
    /// first row must be newer than that group; otherwise rows moved up past the scan, and
    /// it backs off a page.
    fn moved_up(&mut self, times: &[DateTime<Utc>]) -> bool {
        let Some(b) = self.boundary else {
            return false;
        };
        if self.backoffs >= MAX_BACKOFFS || times.first().is_some_and(|t| *t > b) {
            return false;
        }
        self.backoffs += 1;
        tracing::debug!(
            offset = self.offset,
            "rows moved up during paging; backing off a page"
        );
        self.offset = self.offset.saturating_sub(u64::from(self.page_size));
        true
    }

    /// The limit after a page of `rows_asked`: a shrunk size is kept, and doubled back up
    /// after [`GROW_AFTER`] pages at it (going back up at once cost a failed request per
    /// page).
    fn next_limit(&mut self, rows_asked: u32) -> u32 {
        if rows_asked < self.limit {
            self.calm = 0;
            return rows_asked;
        }
        if self.limit < self.page_size {
            self.calm += 1;
            if self.calm >= GROW_AFTER {
                self.calm = 0;
                return self.limit.saturating_mul(2).min(self.page_size);
            }
        }
        self.limit
    }

    /// The first `take` rows into fresh and re-read ones; whether a row older than the
    /// window ended the scan.
    fn sort(
        &mut self,
        events: Vec<Event>,
        times: Vec<DateTime<Utc>>,
        take: usize,
        known: &impl Fn(&EntryKey) -> bool,
    ) -> (Vec<(Event, DateTime<Utc>)>, usize, bool) {
        let done_above = self.window.upper.and(self.mark);
        let rows = take.min(events.len());
        let mut fresh = Vec::with_capacity(rows);
        let mut fresh_keys = KeySet::with_capacity_and_hasher(rows, KeyHasher::default());
        let mut reread = 0;
        for (event, t) in events.into_iter().zip(times).take(take) {
            if t < self.window.lower {
                self.remember_fresh(&fresh);
                return (fresh, reread, true);
            }
            if self.window.upper.is_some_and(|u| t > u) {
                continue; // a later window's row
            }
            self.newest = self.newest.max(Some(t));
            if done_above.is_some_and(|d| t > d) {
                if self.remembers(t) {
                    self.seen.insert(event.key, t);
                }
                reread += 1;
                continue;
            }
            if known(&event.key)
                || self.seen.contains_key(&event.key)
                || fresh_keys.contains(&event.key)
            {
                reread += 1;
                continue;
            }
            fresh_keys.insert(event.key.clone());
            fresh.push((event, t));
        }
        self.remember_fresh(&fresh);
        (fresh, reread, false)
    }

    /// Move on to the tie group at `group_time`, read from `offset`.
    fn advance(
        &mut self,
        offset: u64,
        group_time: DateTime<Utc>,
        next_limit: u32,
        stalled: bool,
    ) -> Next {
        self.offset = offset;
        self.limit = next_limit;
        // Once grown, the page stays grown for the rest of this scan: shrinking it again
        // would let the inserts win back what the larger page gained.
        if stalled {
            self.limit = self
                .limit
                .saturating_mul(2)
                .min(MAX_LIMIT.max(self.page_size));
        }
        self.boundary = Some(group_time);
        let lowered = self.mark.map_or(group_time, |m| m.min(group_time));
        self.mark = Some(lowered);
        Next::More {
            done_above: self.window.upper.map(|_| lowered),
        }
    }

    fn remembers(&self, t: DateTime<Utc>) -> bool {
        self.keep_from.is_none_or(|k| t >= k)
    }

    /// Rows handed out for delivery, remembered where the next window's overlap meets
    /// them again. (A delivery that fails ends the step, and this scan with it.)
    fn remember_fresh(&mut self, fresh: &[(Event, DateTime<Utc>)]) {
        for (event, t) in fresh {
            if self.remembers(*t) {
                self.seen.insert(event.key.clone(), *t);
            }
        }
    }

    pub fn window(&self) -> &Window {
        &self.window
    }

    pub fn backoffs(&self) -> usize {
        self.backoffs
    }

    /// The newest row time this scan met.
    pub fn newest(&self) -> Option<DateTime<Utc>> {
        self.newest
    }

    /// The ids handled in this window.
    pub fn into_seen(self) -> KeyMap<DateTime<Utc>> {
        self.seen
    }
}

impl Page {
    fn again() -> Self {
        Page {
            fresh: Vec::new(),
            reread: 0,
            next: Next::Again,
        }
    }
}

/// Each row's time for ordering decisions. A row without a parseable `time` takes the time
/// of the row before it (it was sorted there by the server), so it is still delivered and
/// never ends a scan early.
fn effective_times(events: &[Event], first_default: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut last = first_default;
    events
        .iter()
        .map(|e| {
            if let Some(t) = e.time {
                last = t;
            } else {
                tracing::warn!(id = %e.key, "audit entry without a valid time; delivering it");
            }
            last
        })
        .collect()
}

#[cfg(test)]
mod tests;
