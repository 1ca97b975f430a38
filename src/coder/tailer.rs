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

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use super::budget::Purpose;
use super::late::LateSweep;
use super::lookup::Enriching;
use super::oversize;
use super::permission::PermissionGate;
use super::probe::{self, Probe};
use super::scan::{Next, Scan};
use super::sessions::{self, first_sight};
use super::window::{Window, next_window, resumed_window};
use super::{CoderClient, Cursor, Event, Outlet, Partial, Stream, TailError, TailerOptions};

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

/// What a scan's deliveries add up to.
#[derive(Debug, Default)]
struct Fresh {
    delivered: usize,
    /// Open sessions connected before the horizon, whose disconnects will not be shipped.
    untracked: u64,
}

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

    pub(super) fn options(&self) -> &TailerOptions {
        &self.options
    }

    /// Connection log: the rows found below the live floor, and the ids that tells apart.
    pub(super) fn late(&self) -> &LateSweep {
        &self.late
    }

    /// Scan the next window, deliver its new rows through `outlet`, and commit the cursor.
    ///
    /// With `[enrich.coder]`, every delivery of the step passes through the look-ups first
    /// ([`Enriching`]): once per stream, whatever number of sinks the outlet feeds.
    pub async fn step<O: Outlet + Send>(
        &mut self,
        outlet: &mut O,
    ) -> Result<StepReport, TailError<O::Error>> {
        match self.options.lookups.clone() {
            Some(lookups) => {
                let mut enriching = Enriching {
                    outlet,
                    lookups: &lookups,
                };
                self.step_into(&mut enriching).await
            }
            None => self.step_into(outlet).await,
        }
    }

    async fn step_into<O: Outlet>(
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
        let Some((window, resumed)) = self.choose_window(now) else {
            return Ok(StepReport {
                finished: true,
                ..StepReport::default()
            });
        };
        let mut report = StepReport {
            live: window.upper.is_none(),
            pages: skipped,
            window: Some(window.clone()),
            ..StepReport::default()
        };
        let done_above = resumed.as_ref().map(|p| p.done_above);
        let seen_depth = self.seen_depth();
        let mut scan = Scan::new(window, self.options.page_size, done_above, seen_depth);
        let fresh = self
            .read_window(outlet, &mut scan, now, &mut report)
            .await?;
        report.delivered = fresh.delivered;
        report.backoffs = scan.backoffs();
        self.finish_window(outlet, scan, resumed.is_some(), &fresh, now)
            .await?;
        self.follow_up(outlet, &mut report).await?;
        Ok(report)
    }

    /// Page through the scan's window, delivering what is new; in a closed window, commit
    /// how far down the scan has delivered after each page, so a restart does not send
    /// the same rows again.
    async fn read_window<O: Outlet>(
        &mut self,
        outlet: &mut O,
        scan: &mut Scan,
        now: DateTime<Utc>,
        report: &mut StepReport,
    ) -> Result<Fresh, TailError<O::Error>> {
        let query = scan.window().query(self.options.stream);
        let purpose = match (scan.window().upper, self.options.end) {
            (None, _) => Purpose::Live,
            (Some(_), Some(_)) => Purpose::Backfill,
            (Some(_), None) => Purpose::CatchUp,
        };
        let mut fresh = Fresh::default();
        loop {
            let r = scan.request();
            let fetched = oversize::fetch(
                &self.client,
                self.options.stream,
                purpose,
                &query,
                r.offset,
                r.limit,
                r.whole,
            )
            .await?;
            report.pages += 1;
            let page = scan.read(fetched.page.events, fetched.rows_asked, now, |k| {
                self.cursor.seen.contains_key(k)
            });
            report.reread += page.reread;
            self.deliver(outlet, page.fresh, now, &mut fresh).await?;
            match page.next {
                Next::Again | Next::More { done_above: None } => {}
                Next::Done => return Ok(fresh),
                Next::More {
                    done_above: Some(done_above),
                } => {
                    self.cursor.partial = scan.window().upper.map(|window_end| Partial {
                        window_end,
                        done_above,
                    });
                    outlet
                        .commit(&self.cursor)
                        .await
                        .map_err(TailError::Outlet)?;
                }
            }
        }
    }

    /// The window to scan, and the partial checkpoint that applies to it: an interrupted
    /// closed window first, with the bounds it had; else the next one; `None` when a
    /// backfill has read its range.
    fn choose_window(&mut self, now: DateTime<Utc>) -> Option<(Window, Option<Partial>)> {
        let (position, floor, overlap) = (
            self.cursor.position,
            self.cursor.floor,
            self.options.overlap,
        );
        let mut window = match &self.cursor.partial {
            Some(p) if p.window_end > position => {
                resumed_window(position, floor, overlap, p.window_end)
            }
            _ => next_window(position, floor, overlap, now, self.options.end)?,
        };
        if window.upper.is_none() {
            window.lower = self.live_floor();
        }
        // A partial checkpoint applies only to the very window it was written in.
        let resumed = self
            .cursor
            .partial
            .clone()
            .filter(|p| Some(p.window_end) == window.upper);
        if resumed.is_none() {
            self.cursor.partial = None;
        }
        Some((window, resumed))
    }

    /// Hand a page's new rows to `outlet`, noting sessions that are still open and rows
    /// larger than the response cap.
    async fn deliver<O: Outlet>(
        &mut self,
        outlet: &mut O,
        rows: Vec<(Event, DateTime<Utc>)>,
        now: DateTime<Utc>,
        fresh: &mut Fresh,
    ) -> Result<(), TailError<O::Error>> {
        if rows.is_empty() {
            return Ok(());
        }
        let stream = self.options.stream;
        let horizon_start = now - self.options.session_horizon;
        // The late sweep notes the connection log's rows; the audit log needs no keys here.
        let mut keys = Vec::new();
        let mut events = Vec::with_capacity(rows.len());
        for (mut event, t) in rows {
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
            if !first_sight(&mut event, &mut self.cursor, horizon_start, now) {
                fresh.untracked += 1;
            }
            if stream == Stream::Connection {
                keys.push((event.key.clone(), t));
            }
            events.push(event);
        }
        fresh.delivered += events.len();
        outlet.deliver(events).await.map_err(TailError::Outlet)?;
        for (key, t) in &keys {
            self.late.note(key, *t);
        }
        Ok(())
    }

    /// Move the cursor to the end of the scanned window and commit it.
    async fn finish_window<O: Outlet>(
        &mut self,
        outlet: &mut O,
        scan: Scan,
        resumed: bool,
        fresh: &Fresh,
        now: DateTime<Utc>,
    ) -> Result<(), TailError<O::Error>> {
        let upper = scan.window().upper;
        self.sparse = upper.is_some() && fresh.delivered == 0;
        let before = self.cursor.position;
        self.cursor.position = match upper {
            Some(upper) => upper,
            // Never past the local clock: a row stamped in the future must not make the
            // next scans skip the present.
            None => scan.newest().map_or(before, |t| before.max(t.min(now))),
        };
        self.cursor.partial = None;
        self.cursor.seen.extend(scan.into_seen());
        self.cursor.prune(self.seen_depth());
        if fresh.delivered > 0 || self.cursor.position != before || resumed {
            outlet
                .commit(&self.cursor)
                .await
                .map_err(TailError::Outlet)?;
        }
        if fresh.untracked > 0 {
            crate::ops::metrics::sessions_abandoned("horizon", fresh.untracked);
            tracing::info!(
                sessions = fresh.untracked,
                "open connection sessions older than coder.session_horizon shipped as connects only"
            );
        }
        Ok(())
    }

    /// Connection log, after a scan: ask which open sessions ended (every
    /// `session_poll_interval`), and once caught up look below the live floor for rows that
    /// landed late.
    async fn follow_up<O: Outlet>(
        &mut self,
        outlet: &mut O,
        report: &mut StepReport,
    ) -> Result<(), TailError<O::Error>> {
        if self.options.stream != Stream::Connection {
            return Ok(());
        }
        let sweep_due = self
            .last_sweep
            .is_none_or(|at| at.elapsed() >= self.options.session_poll_interval);
        if sweep_due {
            self.last_sweep = Some(std::time::Instant::now());
            let old_too = self.sweeps_since_old >= sessions::OLD_SWEEP_EVERY;
            let swept = sessions::sweep(
                &self.client,
                &mut self.permission,
                &mut self.cursor,
                outlet,
                &self.options,
                Utc::now(),
                old_too,
            )
            .await?;
            self.sweeps_since_old = if old_too {
                0
            } else {
                self.sweeps_since_old + 1
            };
            report.pages += swept.requests;
            report.disconnects = swept.closed;
            report.not_permitted = swept.not_permitted;
        }
        if report.live && !report.not_permitted && self.late.due() {
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
        Ok(())
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
    pub(super) fn seen_depth(&self) -> TimeDelta {
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
