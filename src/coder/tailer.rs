//! The tailer: walks Coder's audit log (or its connection log, [`Stream`]) window by window
//! and hands new entries to an [`Outlet`] (one sink's delivery and checkpoint), moving the
//! cursor only after the outlet has confirmed delivery. Connection sessions still open when
//! first read are followed to their disconnect by [`super::sessions`].
//!
//! Each scan reads newest first, page by page, until it passes the window's lower bound.
//! Offsets are not stable (rows inserted while paging push rows down; the 90-day connection
//! purge pulls them up) and ties have no order, so a page boundary never splits a group of
//! equal `time`s: the rows of the last tie group of a full page are left for the next
//! request, which starts one row *before* that group. That re-read row must come back newer
//! than the group; if it does not, rows moved up under us and the scan backs off a page.
//! Together with the id set this means every row is read whole, exactly once per run.
//!
//! Two things keep a scan moving where Coder's answers would stall it: a page larger than
//! `coder.max_response_bytes` is asked for with fewer rows ([`super::oversize`]), and after
//! a closed window with nothing new the empty stretch of history that follows is crossed
//! with a few `limit=1` probes instead of a request per day ([`super::probe`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use super::late::LateSweep;
use super::oversize;
use super::permission::PermissionGate;
use super::probe::{self, Probe};
use super::sessions::{self, first_sight};
use super::window::{Window, next_window, resumed_window};
use super::{CoderClient, CoderError, Cursor, EntryKey, Event, Partial, Stream};

/// Where new entries go. Implemented by the pipeline for each sink.
pub trait Outlet {
    /// What a delivery or a commit fails with (the pipeline's `DeliveryError`).
    type Error: std::error::Error + Send + Sync + 'static;

    /// Deliver these entries; `Ok` means the sink confirmed every one of them.
    fn deliver(
        &mut self,
        events: Vec<Event>,
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send;

    /// Durably record the cursor. Called only after the entries it covers were delivered.
    fn commit(
        &mut self,
        cursor: &Cursor,
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send;
}

/// Why a stream stopped: Coder, or the outlet it delivers to.
#[derive(Debug, thiserror::Error)]
pub enum TailError<E> {
    /// An answer from Coder that retrying cannot fix (401, 403, 404, 400, too large).
    #[error(transparent)]
    Coder(#[from] CoderError),
    /// The outlet failed: a sink refused a batch, a checkpoint could not be written.
    #[error(transparent)]
    Outlet(E),
}

#[derive(Debug, Clone)]
pub struct TailerOptions {
    pub page_size: u32,
    /// How late a row may commit (below the newest time already seen) and still be found.
    pub overlap: TimeDelta,
    /// Backfill: the exclusive end of the range. `None` tails for ever.
    pub end: Option<DateTime<Utc>>,
    /// Which log this tailer walks.
    pub stream: Stream,
    /// Connection log: how long after its connect an open session is still looked at
    /// again for its disconnect.
    pub session_horizon: TimeDelta,
    /// Connection log: how often the open sessions are looked at again (at most once per
    /// scan). Each look is a request to Coder, and every sink's stream makes its own.
    pub session_poll_interval: std::time::Duration,
    /// Connection log: how far below the live scan's floor rows are still looked for
    /// ([`super::late`]); zero turns the late sweep off.
    pub late_horizon: TimeDelta,
    /// Connection log: how often the late sweep compares counts with Coder.
    pub late_sweep_interval: std::time::Duration,
    /// A caught-up scan reads the whole overlap (and this much more) only this often; in
    /// between it reads [`HEAD`] below the position. Zero reads the overlap every scan.
    pub overlap_reread_interval: std::time::Duration,
}

/// How deep a caught-up scan reads between two reads of the whole overlap: rows committed
/// up to this late are shipped at the next poll, later ones (up to `overlap`) at the next
/// read of the whole overlap. Coder keys its rate limit by user and path, and the scan of
/// the overlap was most of one stream's requests (issue #18).
pub const HEAD: TimeDelta = TimeDelta::seconds(10);

/// What one [`Tailer::step`] did.
#[derive(Debug, Clone, Default)]
pub struct StepReport {
    /// The window scanned; `None` when a backfill had nothing left.
    pub window: Option<Window>,
    pub pages: usize,
    pub delivered: usize,
    /// Rows read again that were already delivered (overlap and boundary re-reads).
    pub reread: usize,
    /// Times the scan saw rows move up under it and backed off.
    pub backoffs: usize,
    /// The scan reached the present (a live window): wait `poll_interval` before the next.
    pub live: bool,
    /// A backfill reached its end.
    pub finished: bool,
    /// Connection log: disconnects delivered for sessions seen open before.
    pub disconnects: usize,
    /// Connection log: rows found below the live scan's floor by the late sweep.
    pub late: usize,
    /// Connection log: Coder says the token may not read it; nothing was read or moved.
    pub not_permitted: bool,
}

/// How many back-offs one scan may make before it stops checking and goes on.
const MAX_BACKOFFS: usize = 64;

/// Pages that must fit at a shrunk size before the scan asks for twice as many rows.
const GROW_AFTER: usize = 4;

/// The largest page a scan asks for when it has to outrun inserts.
const MAX_LIMIT: u32 = 5_000;

pub struct Tailer {
    client: Arc<CoderClient>,
    options: TailerOptions,
    cursor: Cursor,
    /// When the open sessions were last looked at again.
    last_sweep: Option<std::time::Instant>,
    /// Session sweeps since the last that looked at the old sessions too.
    sweeps_since_old: u32,
    /// The last closed window held nothing new: before the next one, look how far the
    /// empty stretch reaches ([`probe::empty_until`]) instead of reading it a day at a time.
    sparse: bool,
    /// Connection log: whether the token may read it ([`super::permission`]).
    permission: PermissionGate,
    /// Connection log: rows landing below the live scan's floor ([`super::late`]).
    late: LateSweep,
    /// When a caught-up scan last read the whole overlap.
    last_deep: Option<std::time::Instant>,
}

impl Tailer {
    pub fn new(client: Arc<CoderClient>, options: TailerOptions, cursor: Cursor) -> Self {
        let permission = PermissionGate::new(options.overlap);
        let late = LateSweep::new(&cursor, &options);
        Self {
            client,
            options,
            cursor,
            last_sweep: None,
            sweeps_since_old: sessions::OLD_SWEEP_EVERY,
            sparse: false,
            permission,
            late,
            last_deep: None,
        }
    }

    pub fn cursor(&self) -> &Cursor {
        &self.cursor
    }

    /// Scan the next window, deliver its new rows through `outlet`, and commit the cursor.
    pub async fn step<O: Outlet>(
        &mut self,
        outlet: &mut O,
    ) -> Result<StepReport, TailError<O::Error>> {
        if self.options.stream == Stream::Connection
            && !self.permission.permitted(&self.client).await?
        {
            return Ok(StepReport {
                live: true,
                not_permitted: true,
                ..StepReport::default()
            });
        }
        let now = Utc::now();
        let skipped = self.skip_empty_history(outlet, now).await?;
        let mut window = match &self.cursor.partial {
            // Finish an interrupted closed window first, with the bounds it had.
            Some(p) if p.window_end > self.cursor.position => resumed_window(
                self.cursor.position,
                self.cursor.floor,
                self.options.overlap,
                p.window_end,
            ),
            _ => match next_window(
                self.cursor.position,
                self.cursor.floor,
                self.options.overlap,
                now,
                self.options.end,
            ) {
                Some(w) => w,
                None => {
                    return Ok(StepReport {
                        finished: true,
                        ..StepReport::default()
                    });
                }
            },
        };
        if window.upper.is_none() {
            window.lower = self.live_floor();
        }
        let mut report = StepReport {
            live: window.upper.is_none(),
            pages: skipped,
            ..StepReport::default()
        };
        // A partial checkpoint applies only to the very window it was written in.
        let resumed = self
            .cursor
            .partial
            .clone()
            .filter(|p| Some(p.window_end) == window.upper);
        if resumed.is_none() {
            self.cursor.partial = None;
        }
        // Ids delivered in this window; merged into the cursor when the window is done.
        let mut window_seen: HashMap<EntryKey, DateTime<Utc>> = HashMap::new();
        let mut newest: Option<DateTime<Utc>> = None;
        let page_size = self.options.page_size.max(1);
        let mut limit = page_size;
        // Pages read in a row at a shrunk size (see `next_limit`).
        let mut calm = 0usize;
        let mut offset: u64 = 0;
        // The time of the tie group left for the next request: what the next page's first
        // row is checked against.
        let mut boundary: Option<DateTime<Utc>> = None;
        // Every row newer than this has been handled by this scan (or, resumed, before the
        // restart). It only ever goes down, even when a back-off re-reads newer rows.
        let mut mark: Option<DateTime<Utc>> = resumed.as_ref().map(|p| p.done_above);
        let stream = self.options.stream;
        let query = window.query(stream);
        let horizon_start = now - self.options.session_horizon;
        // Open sessions connected before the horizon, whose disconnects will not be shipped.
        let mut untracked = 0u64;

        // The next request must hold `limit` rows in one answer (a tie group), skimmed
        // if they do not fit, rather than fewer rows.
        let mut whole = false;
        loop {
            let fetched =
                oversize::fetch(&self.client, stream, &query, offset, limit, whole).await?;
            whole = false;
            let (page, rows_asked) = (fetched.page, fetched.rows_asked);
            report.pages += 1;
            let times = effective_times(&page.events, window.upper.unwrap_or(now));
            let n = page.events.len();
            tracing::trace!(
                offset,
                limit,
                rows = n,
                first = ?times.first(),
                last = ?times.last(),
                boundary = ?boundary,
                "audit page"
            );

            // Continuity: the request starts one row before the deferred tie group, so its
            // first row must be newer than that group. Otherwise rows moved up past us.
            if let Some(b) = boundary
                && report.backoffs < MAX_BACKOFFS
                && times.first().is_none_or(|t| *t <= b)
            {
                report.backoffs += 1;
                tracing::debug!(offset, "rows moved up during paging; backing off a page");
                offset = offset.saturating_sub(u64::from(page_size));
                continue;
            }

            // Rows inserted at the top push everything down while we page. A page of which
            // less than half is new ground below the previous boundary is losing the race
            // (inserts outran the reader, or a tie group larger than the page): read more
            // rows per request until the scan gets ahead.
            let stalled =
                boundary.is_some_and(|b| times.iter().filter(|t| **t < b).count() * 2 < n);

            let full = n as u64 == u64::from(rows_asked);
            // A page that had to shrink (too large, or too slow): the next requests keep the
            // size that worked, and go back up, doubling, after a few pages at it. Going
            // back up at once cost one failed request per page.
            let next_limit = if rows_asked < limit {
                calm = 0;
                rows_asked
            } else if limit < page_size {
                calm += 1;
                if calm >= GROW_AFTER {
                    calm = 0;
                    limit.saturating_mul(2).min(page_size)
                } else {
                    limit
                }
            } else {
                limit
            };
            let mut take = n;
            let mut next = None;
            if full
                && let Some(&last) = times.last()
                && last >= window.lower
            {
                let group_start = times.iter().position(|t| *t == last).unwrap_or(0);
                if group_start <= 1 {
                    // The tie group fills the page (but for the row re-read before it):
                    // no progress is possible, so ask again with room for it all, in one
                    // answer even if it does not fit the size cap.
                    limit = rows_asked.saturating_mul(2);
                    whole = true;
                    continue;
                }
                take = group_start;
                next = Some((offset + group_start as u64 - 1, last));
            }

            let mut fresh = Vec::new();
            let mut fresh_keys: HashSet<EntryKey> = HashSet::new();
            let mut reached_end = next.is_none();
            // In a closed window every row newer than the mark was handled
            // earlier in this scan (or before a restart, per the partial checkpoint): a
            // scan reads newest first and nothing newer lands in history. So those rows
            // need no id set, and the set holds only what the next window's overlap will
            // meet again: memory stays bounded by the overlap, not by a day of history.
            let done_above = window.upper.and(mark);
            let keep_from = window.upper.map(|u| u - self.seen_depth());
            let remember = |t: DateTime<Utc>| keep_from.is_none_or(|k| t >= k);
            for (event, t) in page.events.into_iter().zip(times).take(take) {
                if t < window.lower {
                    reached_end = true;
                    break;
                }
                if window.upper.is_some_and(|u| t > u) {
                    continue; // a later window's row
                }
                newest = newest.max(Some(t));
                if done_above.is_some_and(|d| t > d) {
                    if remember(t) {
                        window_seen.insert(event.key, t);
                    }
                    report.reread += 1;
                    continue;
                }
                if self.cursor.seen.contains_key(&event.key)
                    || window_seen.contains_key(&event.key)
                    || fresh_keys.contains(&event.key)
                {
                    report.reread += 1;
                    continue;
                }
                fresh_keys.insert(event.key.clone());
                if let Some(o) = &event.oversized {
                    crate::ops::metrics::coder_error("oversized_entry");
                    tracing::warn!(
                        %stream,
                        id = %event.key,
                        bytes = o.original_bytes,
                        fields_omitted = ?o.fields_omitted,
                        limit = self.client.max_response_bytes(),
                        "an entry is larger than coder.max_response_bytes: shipped without these fields, marked truncated"
                    );
                }
                let mut event = event;
                if !first_sight(&mut event, &mut self.cursor, horizon_start, now) {
                    untracked += 1;
                }
                fresh.push((event, t));
            }

            if !fresh.is_empty() {
                let keys: Vec<(EntryKey, DateTime<Utc>)> =
                    fresh.iter().map(|(e, t)| (e.key.clone(), *t)).collect();
                report.delivered += fresh.len();
                outlet
                    .deliver(fresh.into_iter().map(|(e, _)| e).collect())
                    .await
                    .map_err(TailError::Outlet)?;
                if stream == Stream::Connection {
                    for (key, t) in &keys {
                        self.late.note(key, *t);
                    }
                }
                window_seen.extend(keys.into_iter().filter(|(_, t)| remember(*t)));
            }

            if reached_end {
                break;
            }
            let Some((next_offset, group_time)) = next else {
                break;
            };
            offset = next_offset;
            limit = next_limit;
            // Once grown, the page stays grown for the rest of this scan: shrinking it
            // again would let the inserts win back what the larger page gained.
            if stalled {
                limit = limit.saturating_mul(2).min(MAX_LIMIT.max(page_size));
            }
            boundary = Some(group_time);
            let lowered = mark.map_or(group_time, |m| m.min(group_time));
            mark = Some(lowered);
            // In a closed window, remember how far down the scan has delivered, so a
            // restart does not send the same rows again.
            if let Some(upper) = window.upper {
                self.cursor.partial = Some(Partial {
                    window_end: upper,
                    done_above: lowered,
                });
                outlet
                    .commit(&self.cursor)
                    .await
                    .map_err(TailError::Outlet)?;
            }
        }

        self.sparse = window.upper.is_some() && report.delivered == 0;
        let before = self.cursor.position;
        self.cursor.position = match window.upper {
            Some(upper) => upper,
            // Never past the local clock: a row stamped in the future must not make the
            // next scans skip the present.
            None => newest.map_or(before, |t| before.max(t.min(now))),
        };
        self.cursor.partial = None;
        self.cursor.seen.extend(window_seen);
        self.cursor.prune(self.seen_depth());
        if report.delivered > 0 || self.cursor.position != before || resumed.is_some() {
            outlet
                .commit(&self.cursor)
                .await
                .map_err(TailError::Outlet)?;
        }
        if untracked > 0 {
            crate::ops::metrics::sessions_abandoned("horizon", untracked);
            tracing::info!(
                sessions = untracked,
                "open connection sessions older than coder.session_horizon shipped as connects only"
            );
        }
        let sweep_due = self
            .last_sweep
            .is_none_or(|at| at.elapsed() >= self.options.session_poll_interval);
        if stream == Stream::Connection && sweep_due {
            self.last_sweep = Some(std::time::Instant::now());
            let swept = sessions::sweep(
                &self.client,
                &mut self.permission,
                &mut self.cursor,
                outlet,
                &self.options,
                Utc::now(),
                self.sweeps_since_old >= sessions::OLD_SWEEP_EVERY,
            )
            .await?;
            self.sweeps_since_old = if self.sweeps_since_old >= sessions::OLD_SWEEP_EVERY {
                0
            } else {
                self.sweeps_since_old + 1
            };
            report.pages += swept.requests;
            report.disconnects = swept.closed;
            report.not_permitted = swept.not_permitted;
        }
        // Caught up, and allowed to read: look below the live scan's floor for rows that
        // landed there late.
        if stream == Stream::Connection && report.live && !report.not_permitted && self.late.due() {
            let swept = self
                .late
                .sweep(
                    &self.client,
                    &mut self.cursor,
                    outlet,
                    &self.options,
                    Utc::now(),
                )
                .await?;
            report.pages += swept.requests;
            report.late = swept.late + swept.resent;
        }
        report.window = Some(window);
        Ok(report)
    }

    /// Where a caught-up scan stops: [`HEAD`] below the position, or on a read of the whole
    /// overlap (every `overlap_reread_interval`) the overlap and one interval more, so that
    /// a row committed `overlap` late is still met by the first full read after it lands.
    fn live_floor(&mut self) -> DateTime<Utc> {
        let overlap = self.options.overlap;
        let reread = self.options.overlap_reread_interval;
        let depth = match self.last_deep {
            _ if reread.is_zero() => overlap,
            // The first live scan of a run: the overlap, as every earlier scan read it (a
            // checkpoint from before remembers ids that deep, no deeper).
            None => {
                self.last_deep = Some(std::time::Instant::now());
                overlap
            }
            Some(at) if at.elapsed() >= reread => {
                self.last_deep = Some(std::time::Instant::now());
                self.seen_depth()
            }
            Some(_) => HEAD.min(overlap),
        };
        let lower = self.cursor.position - depth;
        self.cursor.floor.map_or(lower, |f| lower.max(f))
    }

    /// How far below the position delivered ids are remembered: as deep as a scan reads.
    fn seen_depth(&self) -> TimeDelta {
        self.options.overlap
            + TimeDelta::from_std(self.options.overlap_reread_interval).unwrap_or_default()
    }

    /// After an empty closed window, move the cursor over the whole empty stretch of
    /// history that follows it, found with `limit=1` probes (O(log n) requests for n empty
    /// days). Only closed history is skipped: up to `now - overlap`, or a backfill's end.
    /// Returns the requests made.
    async fn skip_empty_history<O: Outlet>(
        &mut self,
        outlet: &mut O,
        now: DateTime<Utc>,
    ) -> Result<usize, TailError<O::Error>> {
        if !std::mem::take(&mut self.sparse) || self.cursor.partial.is_some() {
            return Ok(0);
        }
        let limit = match self.options.end {
            Some(end) => end - TimeDelta::microseconds(1),
            None if self.cursor.position + self.options.overlap + self.options.overlap < now => {
                now - self.options.overlap
            }
            None => return Ok(0),
        };
        let mut probe = Probe::new(&self.client, self.options.stream);
        let from = self.cursor.position;
        let Some(to) = probe::empty_until(&mut probe, from, limit).await? else {
            return Ok(probe.requests);
        };
        tracing::debug!(%from, %to, requests = probe.requests, "skipped an empty stretch of history");
        self.cursor.position = to;
        self.cursor.prune(self.seen_depth());
        outlet
            .commit(&self.cursor)
            .await
            .map_err(TailError::Outlet)?;
        Ok(probe.requests)
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
