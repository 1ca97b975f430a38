//! The pipeline: for each sink, a tailer of its own feeding that sink, and the sink's
//! checkpoint moved only after the sink confirmed delivery.
//!
//! One tailer per sink costs an extra poll of Coder per sink (cheap: Coder is the durable
//! log) and buys isolation: a dead sink backs up its own tailer only, and on restart each
//! sink resumes from its own cursor.
//!
//! [`Encoder`] makes a sink's records from events; [`SinkOutlet`] delivers them and moves
//! the checkpoint; [`run_stream`] drives one tailer into one outlet.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use tokio::sync::watch;

use crate::coder::probe::{self, Probe};
use crate::coder::{CoderClient, CoderError, Cursor, Stream, TailError, Tailer, date_to_bound};
use crate::config::StartAt;

mod alone;
mod encoder;
mod error;
mod exposed;
mod fanout;
mod filter;
mod group;
mod outlet;
mod relay;
#[cfg(test)]
mod testing;

pub use encoder::{EncodedGroup, Encoder};
pub use error::{DeliveryError, StreamError};
pub use exposed::{Streams, stream_name};
pub use fanout::Member;
pub use filter::Filter;
pub use group::{Ends, SinkReader, SoloTailer, Timings, read_stream, run_group, shared_start};
pub use outlet::{Batching, SinkOutlet};
pub use relay::Relay;

/// What one stream counts and reports: the demo's running count, the counters logged when
/// it stops, and `/metrics` and `/readyz` (copied at scrape time by [`crate::ops`]).
#[derive(Debug, Default)]
pub struct StreamStats {
    /// Entries read from Coder and handed to the sink's encoder.
    pub received: AtomicU64,
    /// Entries the sink confirmed.
    pub delivered: AtomicU64,
    /// Bytes of the records the sink confirmed (as encoded, before compression).
    pub delivered_bytes: AtomicU64,
    pub batches: AtomicU64,
    pub retries: AtomicU64,
    /// Records a peer refused for good, written to the dead-letter file.
    pub dead_lettered: AtomicU64,
    /// Normalized events cut to fit the sink's `max_event_bytes`.
    pub truncated: AtomicU64,
    /// Entries the sink's filter left out (the checkpoint moves past them).
    pub filtered: AtomicU64,
    /// Newest event time delivered, Unix microseconds (0 before any).
    pub newest_micros: AtomicU64,
    /// The cursor position last committed, Unix microseconds (0 before any).
    pub position_micros: AtomicU64,
    /// When a scan of Coder last completed with its due batch sent, Unix microseconds (0
    /// before the first): the stream is moving.
    pub last_scan_micros: AtomicU64,
    /// The last delivery or checkpoint write failed and is being retried.
    pub failing: AtomicBool,
    /// The stream stopped on an error.
    pub stopped: AtomicBool,
    /// Connection log: Coder says the token may not read it; the stream waits.
    pub not_permitted: AtomicBool,
    /// The sink's live count of requests awaiting acknowledgement, when it has one (HEC).
    pub pending_acks: std::sync::Mutex<Option<std::sync::Arc<AtomicU64>>>,
    /// How the stream reads Coder, a [`Reading`].
    pub reading: AtomicU8,
}

/// How a sink's stream reads Coder: `/readyz` and `/metrics` say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Reading {
    /// The stream's only sink: its reader is its own.
    Own = 0,
    /// Through the stream's shared reader.
    Shared = 1,
    /// Alone beside the shared reader: its checkpoint was elsewhere at start.
    StartedApart = 2,
    /// Alone beside the shared reader: it left it, its queue full for `detach_after`.
    DetachedSlow = 3,
    /// Alone beside the shared reader: it left it, its queue full while its sink failed.
    DetachedFailing = 4,
}

impl Reading {
    pub fn of(stats: &StreamStats) -> Reading {
        match stats.reading.load(Ordering::Relaxed) {
            1 => Reading::Shared,
            2 => Reading::StartedApart,
            3 => Reading::DetachedSlow,
            4 => Reading::DetachedFailing,
            _ => Reading::Own,
        }
    }

    pub fn set(self, stats: &StreamStats) {
        stats.reading.store(self as u8, Ordering::Relaxed);
    }

    /// How `/readyz` says it; `None` for a stream's only sink.
    pub fn describe(self) -> Option<&'static str> {
        match self {
            Reading::Own => None,
            Reading::Shared => Some("reads through the shared reader"),
            Reading::StartedApart => Some(
                "reads alone: its checkpoint was elsewhere than the shared reader's at start; joins once they meet",
            ),
            Reading::DetachedSlow => Some(
                "reads alone: it left the shared reader, its queue full for fanout.detach_after; joins once caught up",
            ),
            Reading::DetachedFailing => Some(
                "reads alone: it left the shared reader while its sink failed; joins once caught up",
            ),
        }
    }
}

impl StreamStats {
    pub(crate) fn scanned(&self) {
        let now = u64::try_from(Utc::now().timestamp_micros()).unwrap_or(0);
        self.last_scan_micros.store(now, Ordering::Relaxed);
    }
}

/// How a stream ended.
#[derive(Debug, Clone, Copy)]
pub enum StreamEnd {
    /// Asked to stop.
    Stopped,
    /// A backfill reached its end.
    Finished,
}

/// Drive one tailer into one sink until shutdown, the end of a backfill, or a fatal error;
/// then spend at most `shutdown_timeout` sending what the outlet still holds (see
/// [`alone::read_alone`]).
pub async fn run_stream(
    tailer: Tailer,
    outlet: SinkOutlet,
    poll_interval: Duration,
    shutdown: watch::Receiver<bool>,
    shutdown_timeout: Duration,
) -> Result<StreamEnd, StreamError> {
    let name = outlet.key().sink.clone();
    let member = Member::start(name, outlet, tailer.cursor().clone(), shutdown.clone());
    let timings = Timings {
        poll_interval,
        shutdown_timeout,
        detach_after: Duration::ZERO,
    };
    match alone::read_alone(tailer, member, timings, shutdown, None).await {
        alone::Alone::Ended(_, end) => end,
        // Only a sink with a shared reader to join joins one.
        alone::Alone::Joined => Ok(StreamEnd::Stopped),
    }
}

/// Send what is pending and save the cursor that waited for it, also after an error.
/// A sink that cannot take it within the deadline (S3 down at shutdown) keeps its
/// checkpoint behind those records, so the restart reads them again from Coder.
async fn finish(
    mut outlet: SinkOutlet,
    result: Result<StreamEnd, StreamError>,
    delivered: Result<(), DeliveryError>,
    shutdown_timeout: Duration,
) -> Result<StreamEnd, StreamError> {
    let closed = match tokio::time::timeout(shutdown_timeout, outlet.close()).await {
        Ok(closed) => closed,
        Err(_) => Err(DeliveryError::ShutdownTimeout(shutdown_timeout)),
    };
    // The sink's own error explains a tailer that stopped because its outlet went away.
    match (delivered, result, closed) {
        (Err(e), _, _) => Err(TailError::Outlet(e)),
        (Ok(()), Err(e), _) => Err(e),
        (Ok(()), Ok(_), Err(e)) => Err(TailError::Outlet(e)),
        (Ok(()), Ok(end), Ok(())) => Ok(end),
    }
}

/// Where a stream with no checkpoint starts.
///
/// `beginning` starts just before the day the oldest row can be in, found by asking about
/// days, never offsets (see [`crate::coder::probe`]): rows inserted while it searches
/// cannot push the oldest ones out of its sight.
pub async fn initial_cursor(
    client: &CoderClient,
    stream: Stream,
    start_at: StartAt,
) -> Result<Cursor, CoderError> {
    let now = Utc::now();
    Ok(match start_at {
        StartAt::Now => Cursor::starting_at(now, Some(now)),
        StartAt::At(t) => Cursor::starting_at(t - TimeDelta::microseconds(1), Some(t)),
        StartAt::Beginning => {
            let mut probe = Probe::new(client, stream);
            let oldest = probe::oldest_day(&mut probe, now).await?;
            tracing::debug!(%stream, ?oldest, requests = probe.requests, "found where the log begins");
            match oldest {
                // No row lies at or before the previous day's bound: every row is after it.
                Some(day) => Cursor::starting_at(date_to_bound(day - TimeDelta::days(1)), None),
                None => Cursor::starting_at(now, None),
            }
        }
    })
}
