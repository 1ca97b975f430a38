//! A stream read once for several sinks: the shared reader's loop, the sinks beside it
//! that read alone (they started elsewhere, or left it), and their joining it again.
//!
//! One task per stream owns it all. The shared reader steps its tailer into the
//! [`FanOut`]; between steps, while it waits for the next poll, it answers the sinks
//! that ask to join ([`Offer`]): a sink joins only when its cursor covers everything the
//! shared reader delivered ([`crate::coder::Tailer::join_plan`]). When every member has
//! left, the shared reader stops reading; the first sink that asks next becomes the group,
//! with its own tailer, and the others join it as they catch up.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::{JoinError, JoinSet};

use super::alone::{Alone, Answer, Joins, Offer, Solo, read_alone};
use super::fanout::{Departure, FanOut, FanOutError, Member};
use super::{DeliveryError, Reading, SinkOutlet, StreamEnd, StreamError, finish};
use crate::coder::{Cursor, Stream, TailError, Tailer};

/// How a sink that leaves the group reads on alone: a tailer from its cursor.
pub type SoloTailer = Arc<dyn Fn(Cursor) -> Tailer + Send + Sync>;

/// Each sink's end, by name.
pub type Ends = Vec<(String, Result<StreamEnd, StreamError>)>;

/// The timings a stream runs by.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    pub poll_interval: Duration,
    pub shutdown_timeout: Duration,
    pub detach_after: Duration,
}

/// One sink of one stream, as built at start.
pub struct SinkReader {
    pub name: String,
    pub cursor: Cursor,
    pub tailer: Tailer,
    pub outlet: SinkOutlet,
}

/// Read one stream for its sinks until shutdown, the end of a backfill or a fatal error:
/// a stream's only sink alone, several through one shared reader that starts from the
/// checkpoint most of them share (after a first start, all of them; the newest on a
/// tie), the others reading alone until they meet it.
pub async fn read_stream(
    stream: Stream,
    mut sinks: Vec<SinkReader>,
    solo: SoloTailer,
    timings: Timings,
    shutdown: watch::Receiver<bool>,
) -> Ends {
    if sinks.len() <= 1 {
        let Some(sink) = sinks.pop() else {
            return Ends::new();
        };
        let (poll, grace) = (timings.poll_interval, timings.shutdown_timeout);
        let end = super::run_stream(sink.tailer, sink.outlet, poll, shutdown, grace).await;
        return vec![(sink.name, end)];
    }
    let shared = shared_start(sinks.iter().map(|s| &s.cursor)).cloned();
    let (mut reader, mut members, mut apart) = (None, Vec::new(), Vec::new());
    for sink in sinks {
        let member = Member::start(
            sink.name,
            sink.outlet,
            sink.cursor.clone(),
            shutdown.clone(),
        );
        if Some(&sink.cursor) == shared.as_ref() {
            reader.get_or_insert(sink.tailer);
            members.push(member);
        } else {
            apart.push((sink.tailer, member));
        }
    }
    let Some(reader) = reader else {
        return Ends::new();
    };
    let together: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
    let alone: Vec<&str> = apart.iter().map(|(_, m)| m.name.as_str()).collect();
    tracing::info!(%stream, sinks = ?together, apart = ?alone, "one read of Coder for these sinks; those apart read alone until they meet it");
    run_group(reader, members, apart, solo, timings, shutdown).await
}

/// Where a stream's shared reader starts: the cursor most sinks have, the newest on a tie.
/// `checkpoint show` says the same of the saved checkpoints.
pub fn shared_start<'a>(cursors: impl Iterator<Item = &'a Cursor> + Clone) -> Option<&'a Cursor> {
    let mut best: Option<(usize, &Cursor)> = None;
    for c in cursors.clone() {
        let n = cursors.clone().filter(|o| *o == c).count();
        let better = best.is_none_or(|(bn, bc)| n > bn || (n == bn && c.position > bc.position));
        if better {
            best = Some((n, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Drive `tailer` into every member until shutdown or a fatal error. The sinks `apart`
/// (each with its own tailer) read alone and join once caught up; a member that leaves
/// reads on alone with a tailer from `solo`, and joins again once caught up.
pub async fn run_group(
    tailer: Tailer,
    members: Vec<Member>,
    apart: Vec<(Tailer, Member)>,
    solo: SoloTailer,
    timings: Timings,
    mut shutdown: watch::Receiver<bool>,
) -> Ends {
    let (joins, mut offers) = mpsc::channel::<Offer>(8);
    for m in &members {
        Reading::Shared.set(&m.stats);
    }
    let mut fanout = FanOut::new(members, timings.detach_after, tailer.redelivery_depth());
    // `None` once every member left: its cursor was ahead of all of them.
    let mut reader = Some(tailer);
    let mut alone: JoinSet<Alone> = JoinSet::new();
    let mut ends = Ends::new();
    for (t, m) in apart {
        Reading::StartedApart.set(&m.stats);
        let rx = shutdown.clone();
        alone.spawn(read_alone(t, m, timings, rx, Some(joins.clone())));
    }
    let result: Result<StreamEnd, TailError<FanOutError>> = 'run: loop {
        if *shutdown.borrow() {
            break Ok(StreamEnd::Stopped);
        }
        let Some(tailer) = reader.as_mut() else {
            if alone.is_empty() {
                break Ok(StreamEnd::Stopped);
            }
            tokio::select! {
                Some(offer) = offers.recv() => reader = Some(adopt(&mut fanout, offer)),
                Some(joined) = alone.join_next() => ended(joined, &mut ends),
                _ = shutdown.changed() => break Ok(StreamEnd::Stopped),
            }
            continue;
        };
        let step = tokio::select! {
            r = tailer.step(&mut fanout) => r,
            _ = shutdown.changed() => break Ok(StreamEnd::Stopped),
        };
        spawn_departures(&mut fanout, &mut alone, &solo, timings, &shutdown, &joins);
        let report = match step {
            Ok(report) if report.finished => break Ok(StreamEnd::Finished),
            Ok(report) => report,
            // Its cursor is past what any sink was handed: the next to join brings its own.
            Err(TailError::Outlet(FanOutError::Empty)) => {
                reader = None;
                continue;
            }
            Err(e) => break Err(e),
        };
        fanout.scan_done();
        while let Ok(offer) = offers.try_recv() {
            consider(tailer, report.live, &mut fanout, offer);
        }
        if !report.live {
            continue;
        }
        let wake = tokio::time::Instant::now() + timings.poll_interval;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => break,
                Some(offer) = offers.recv() => consider(tailer, true, &mut fanout, offer),
                Some(joined) = alone.join_next() => ended(joined, &mut ends),
                _ = shutdown.changed() => break 'run Ok(StreamEnd::Stopped),
            }
        }
    };
    // Nobody joins any more: every offer still queued is answered, later ones fail.
    offers.close();
    while let Ok(Offer { solo, reply }) = offers.try_recv() {
        let _ = reply.send(Answer::NotYet(solo));
    }
    // A step cancelled by the stop may have left members behind it.
    spawn_departures(&mut fanout, &mut alone, &solo, timings, &shutdown, &joins);
    drop(joins);
    for member in fanout.into_members() {
        let result = match &result {
            Ok(end) => Ok(*end),
            Err(TailError::Coder(e)) => Err(TailError::Coder(e.clone())),
            Err(TailError::Outlet(FanOutError::Empty)) => Ok(StreamEnd::Stopped),
        };
        ends.push(end_of(member, result, timings.shutdown_timeout).await);
    }
    while let Some(joined) = alone.join_next().await {
        ended(joined, &mut ends);
    }
    ends
}

/// A sink asks to join: it does if the shared reader has read up to the present (`live`)
/// and the sink has delivered everything the shared reader has.
fn consider(reader: &Tailer, live: bool, fanout: &mut FanOut, offer: Offer) {
    let Offer { solo, reply } = offer;
    let plan = if live {
        reader.join_plan(&solo.tailer).map_err(|why| why.as_str())
    } else {
        Err("catching_up")
    };
    match plan {
        Ok(skip) => {
            let Solo { tailer, mut member } = *solo;
            crate::ops::metrics::join_attempt(&member.name, member.stream, "joined");
            tracing::info!(
                sink = %member.name,
                stream = member.stream,
                spared = skip.len(),
                "the sink caught up with the shared reader: it reads through it again"
            );
            member.last = tailer.cursor().clone();
            member.skip = skip;
            Reading::Shared.set(&member.stats);
            fanout.join(member, reader.redelivery_depth());
            let _ = reply.send(Answer::Joined);
        }
        Err(why) => {
            let (name, stream) = (&solo.member.name, solo.member.stream);
            crate::ops::metrics::join_attempt(name, stream, why);
            tracing::debug!(sink = %name, stream, why, "not joining the shared reader yet");
            let _ = reply.send(Answer::NotYet(solo));
        }
    }
}

/// Every member left: the first sink to ask becomes the group, its tailer the reader.
fn adopt(fanout: &mut FanOut, offer: Offer) -> Tailer {
    let Offer { solo, reply } = offer;
    let Solo { tailer, mut member } = *solo;
    crate::ops::metrics::join_attempt(&member.name, member.stream, "joined");
    tracing::info!(sink = %member.name, stream = member.stream, "the shared reader reads on from this sink's cursor");
    member.last = tailer.cursor().clone();
    member.skip.clear();
    Reading::Shared.set(&member.stats);
    fanout.join(member, tailer.redelivery_depth());
    let _ = reply.send(Answer::Joined);
    tailer
}

fn ended(joined: Result<Alone, JoinError>, ends: &mut Ends) {
    match joined {
        Ok(Alone::Ended(name, end)) => ends.push((name, end)),
        Ok(Alone::Joined) => {}
        Err(e) => tracing::error!("a sink reading alone failed: {e}"),
    }
}

/// Send each member that left since the last look on its way: one detached reads on
/// alone from the cursor of the last group it was handed (its relay delivers what it
/// holds first); one whose delivery task ended ends with its own error.
fn spawn_departures(
    fanout: &mut FanOut,
    alone: &mut JoinSet<Alone>,
    solo: &SoloTailer,
    timings: Timings,
    shutdown: &watch::Receiver<bool>,
    joins: &Joins,
) {
    for departure in fanout.departures() {
        match departure {
            Departure::Detached(member) => {
                let tailer = solo(member.last.clone());
                let rx = shutdown.clone();
                alone.spawn(read_alone(tailer, member, timings, rx, Some(joins.clone())));
            }
            Departure::Ended(member) => {
                let grace = timings.shutdown_timeout;
                alone.spawn(async move {
                    let (name, end) = end_of(member, Ok(StreamEnd::Stopped), grace).await;
                    Alone::Ended(name, end)
                });
            }
        }
    }
}

/// A member's end: its relay delivers what it holds, then its outlet closes.
async fn end_of(
    member: Member,
    result: Result<StreamEnd, StreamError>,
    shutdown_timeout: Duration,
) -> (String, Result<StreamEnd, StreamError>) {
    let name = member.name.clone();
    let stats = member.stats();
    let (driver, _) = member.leave();
    let end = match driver.await {
        Ok((outlet, delivered)) => finish(outlet, result, delivered, shutdown_timeout).await,
        Err(e) => Err(TailError::Outlet(DeliveryError::DeliveryTask(e))),
    };
    if end.is_err() {
        stats
            .stopped
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
    (name, end)
}
