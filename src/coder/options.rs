//! How a [`super::Tailer`] and its sweeps read: page size, overlap, a backfill's end, and
//! the connection log's session and late horizons.

use chrono::{DateTime, TimeDelta, Utc};

use super::Stream;

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
    /// `[enrich.coder]`: what the events' ids name, looked up before each delivery; shared
    /// by every tailer of the process.
    pub lookups: Option<std::sync::Arc<super::lookup::Lookups>>,
}
