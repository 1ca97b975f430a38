//! A sink reading Coder by itself: a tailer of its own feeding its [`Member`]'s relay.
//!
//! That is every sink of a stream with one sink, and, beside a shared reader, a sink whose
//! checkpoint was elsewhere at start or that left it. Such a sink asks to join the shared reader after each
//! live scan (at most every [`OFFER_EVERY`]): it hands over its tailer and member, and gets
//! them back if the shared reader says not yet ([`crate::coder::Tailer::join_plan`]).

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use super::fanout::Member;
use super::group::Timings;
use super::relay::Driven;
use super::{DeliveryError, StreamEnd, StreamError, finish};
use crate::coder::{TailError, Tailer};

/// How often a sink reading alone asks to join: each ask compares two sets of ids.
pub const OFFER_EVERY: Duration = Duration::from_secs(5);

/// A sink reading alone: its tailer and its delivery.
pub struct Solo {
    pub tailer: Tailer,
    pub member: Member,
}

/// A sink reading alone asks the shared reader to take it.
pub struct Offer {
    pub solo: Box<Solo>,
    pub reply: oneshot::Sender<Answer>,
}

/// The shared reader's answer: it always answers, also when it is ending (then: not yet).
pub enum Answer {
    Joined,
    NotYet(Box<Solo>),
}

/// Where a sink reading alone offers itself.
pub type Joins = mpsc::Sender<Offer>;

/// How a sink's reading alone ended.
pub enum Alone {
    /// It joined the shared reader, which now owns its delivery.
    Joined,
    Ended(String, Result<StreamEnd, StreamError>),
}

/// Drive `tailer` into `member` until shutdown, the end of a backfill, a fatal error, or
/// (with `joins`) until the shared reader takes it; then spend at most
/// `shutdown_timeout` sending what the outlet still holds.
///
/// The tailer reads ahead of the sink through the member's relay: the next page is
/// fetched and parsed while the last one is delivered.
pub async fn read_alone(
    mut tailer: Tailer,
    mut member: Member,
    timings: Timings,
    mut shutdown: watch::Receiver<bool>,
    mut joins: Option<Joins>,
) -> Alone {
    let stats = member.stats.clone();
    let mut last_offer: Option<std::time::Instant> = None;
    // The driver's result when it ended first (a JoinHandle is awaited only once).
    let mut driven = None;
    let result = loop {
        if *shutdown.borrow() {
            break Ok(StreamEnd::Stopped);
        }
        // Cancelling a step is safe: the checkpoint only ever covers delivered rows. The
        // driver ending first means the sink's side failed (it ends on shutdown too).
        let step = tokio::select! {
            r = tailer.step(&mut member.relay) => r,
            d = &mut member.driver => {
                driven = Some(d);
                break Ok(StreamEnd::Stopped);
            }
            _ = shutdown.changed() => break Ok(StreamEnd::Stopped),
        };
        let report = match step {
            Ok(report) if report.finished => break Ok(StreamEnd::Finished),
            Ok(report) => report,
            Err(e) => break Err(e),
        };
        stats
            .not_permitted
            .store(report.not_permitted, Ordering::Relaxed);
        if report.delivered > 0 || report.backoffs > 0 || report.disconnects > 0 {
            tracing::debug!(
                sink = %member.name,
                delivered = report.delivered,
                disconnects = report.disconnects,
                pages = report.pages,
                reread = report.reread,
                backoffs = report.backoffs,
                position = %tailer.cursor().position,
                "scan done"
            );
        }
        if let Err(e) = member.relay.scan_done().await {
            break Err(TailError::Outlet(e));
        }
        if !report.live {
            continue;
        }
        if let Some(to) = &joins
            && last_offer.is_none_or(|at| at.elapsed() >= OFFER_EVERY)
        {
            last_offer = Some(std::time::Instant::now());
            match offer(to, Box::new(Solo { tailer, member })).await {
                Offered::Joined => return Alone::Joined,
                Offered::NotYet(solo) => (tailer, member) = (solo.tailer, solo.member),
                Offered::Gone(solo) => {
                    (tailer, member) = (solo.tailer, solo.member);
                    joins = None;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(timings.poll_interval) => {}
            d = &mut member.driver => {
                driven = Some(d);
                break Ok(StreamEnd::Stopped);
            }
            _ = shutdown.changed() => break Ok(StreamEnd::Stopped),
        }
    };
    let name = member.name.clone();
    let end = wind_up(member, driven, result, timings.shutdown_timeout).await;
    Alone::Ended(name, end)
}

enum Offered {
    Joined,
    NotYet(Box<Solo>),
    /// The shared reader has ended: reading alone from now on.
    Gone(Box<Solo>),
}

async fn offer(to: &Joins, solo: Box<Solo>) -> Offered {
    let (reply, answer) = oneshot::channel();
    if let Err(mpsc::error::SendError(o)) = to.send(Offer { solo, reply }).await {
        return Offered::Gone(o.solo);
    }
    match answer.await {
        Ok(Answer::Joined) => Offered::Joined,
        Ok(Answer::NotYet(solo)) => Offered::NotYet(solo),
        // The shared reader answers every offer it takes (see `Answer`); a task that
        // panicked took the sink with it, as a panic in the sink's own task would.
        Err(_) => Offered::Joined,
    }
}

/// The tailer is done: the driver delivers what it was handed (all of it at the end of a
/// backfill; at shutdown it stops at once), then hands the outlet back. After the
/// tailer's own error that gets `shutdown_timeout`, as `close` does: a dead sink must not
/// keep a stream that has failed from stopping. Abandoned, those pages stay before the
/// checkpoint, for the next start to read again.
async fn wind_up(
    member: Member,
    driven: Option<Driven>,
    result: Result<StreamEnd, StreamError>,
    shutdown_timeout: Duration,
) -> Result<StreamEnd, StreamError> {
    let Member {
        relay,
        mut driver,
        stats,
        ..
    } = member;
    // A tailer that failed only because the driver had ended (at shutdown, or on the
    // sink's own error) reports what the driver says instead.
    let result = match result {
        Err(_) if relay.is_closed() => Ok(StreamEnd::Stopped),
        r => r,
    };
    drop(relay);
    let driven = match driven {
        Some(d) => d,
        None if result.is_err() => {
            match tokio::time::timeout(shutdown_timeout, &mut driver).await {
                Ok(d) => d,
                Err(_) => {
                    driver.abort();
                    stats.stopped.store(true, Ordering::Relaxed);
                    return result;
                }
            }
        }
        None => driver.await,
    };
    let (outlet, delivered) = match driven {
        Ok(done) => done,
        Err(e) => {
            stats.stopped.store(true, Ordering::Relaxed);
            return Err(TailError::Outlet(DeliveryError::DeliveryTask(e)));
        }
    };
    let end = finish(outlet, result, delivered, shutdown_timeout).await;
    if end.is_err() {
        stats.stopped.store(true, Ordering::Relaxed);
    }
    end
}
