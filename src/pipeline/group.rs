//! A stream read once for several sinks: the shared reader's loop, and what becomes of a
//! sink that leaves it (see [`super::fanout`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::fanout::{Departure, FanOut, FanOutError, Member};
use super::{DeliveryError, StreamEnd, StreamError, finish, run_stream};
use crate::coder::{Cursor, TailError, Tailer};

/// How a sink that leaves the group reads on alone: a tailer from its cursor.
pub type SoloTailer = Arc<dyn Fn(Cursor) -> Tailer + Send + Sync>;

/// The timings a stream runs by.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    pub poll_interval: Duration,
    pub shutdown_timeout: Duration,
    pub detach_after: Duration,
}

/// Drive `tailer` into every member until shutdown or a fatal error; a member that
/// leaves goes on alone with a tailer from `solo`. Returns each sink's end, by name.
pub async fn run_group(
    mut tailer: Tailer,
    members: Vec<Member>,
    solo: SoloTailer,
    timings: Timings,
    mut shutdown: watch::Receiver<bool>,
) -> Vec<(String, Result<StreamEnd, StreamError>)> {
    let mut fanout = FanOut::new(members, timings.detach_after);
    let mut alone: JoinSet<(String, Result<StreamEnd, StreamError>)> = JoinSet::new();
    let result: Result<StreamEnd, TailError<FanOutError>> = loop {
        if *shutdown.borrow() {
            break Ok(StreamEnd::Stopped);
        }
        let step = tokio::select! {
            r = tailer.step(&mut fanout) => r,
            _ = shutdown.changed() => break Ok(StreamEnd::Stopped),
        };
        spawn_departures(&mut fanout, &mut alone, &solo, timings, &shutdown);
        let report = match step {
            Ok(report) if report.finished => break Ok(StreamEnd::Finished),
            Ok(report) => report,
            Err(e) => break Err(e),
        };
        fanout.scan_done();
        if report.live {
            tokio::select! {
                _ = tokio::time::sleep(timings.poll_interval) => {}
                _ = shutdown.changed() => break Ok(StreamEnd::Stopped),
            }
        }
    };
    // A step cancelled by the stop may have left members behind it.
    spawn_departures(&mut fanout, &mut alone, &solo, timings, &shutdown);
    let mut ends = Vec::new();
    for member in fanout.into_members() {
        let name = member.name.clone();
        let stats = member.stats();
        let (driver, _) = member.leave();
        let result = match &result {
            Ok(end) => Ok(*end),
            Err(TailError::Coder(e)) => Err(TailError::Coder(e.clone())),
            // Every member left: nothing remains here.
            Err(TailError::Outlet(FanOutError::Empty)) => Ok(StreamEnd::Stopped),
        };
        let end = match driver.await {
            Ok((outlet, delivered)) => {
                finish(outlet, result, delivered, timings.shutdown_timeout).await
            }
            Err(e) => Err(TailError::Outlet(DeliveryError::DeliveryTask(e))),
        };
        if end.is_err() {
            stats
                .stopped
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        ends.push((name, end));
    }
    while let Some(joined) = alone.join_next().await {
        match joined {
            Ok(end) => ends.push(end),
            Err(e) => tracing::error!("a sink reading alone failed: {e}"),
        }
    }
    ends
}

/// Send each member that left since the last look on its way (see [`go_on_alone`]).
fn spawn_departures(
    fanout: &mut FanOut,
    alone: &mut JoinSet<(String, Result<StreamEnd, StreamError>)>,
    solo: &SoloTailer,
    timings: Timings,
    shutdown: &watch::Receiver<bool>,
) {
    for departure in fanout.departures() {
        alone.spawn(go_on_alone(
            departure,
            solo.clone(),
            timings,
            shutdown.clone(),
        ));
    }
}

/// A member that left: once its relay has delivered what it held, it reads on alone
/// from the cursor of the last group it was handed, or ends with its own error.
async fn go_on_alone(
    departure: Departure,
    solo: SoloTailer,
    timings: Timings,
    shutdown: watch::Receiver<bool>,
) -> (String, Result<StreamEnd, StreamError>) {
    let (member, detached) = match departure {
        Departure::Detached(m) => (m, true),
        Departure::Ended(m) => (m, false),
    };
    let name = member.name.clone();
    let (driver, cursor) = member.leave();
    let (outlet, delivered) = match driver.await {
        Ok(done) => done,
        Err(e) => return (name, Err(TailError::Outlet(DeliveryError::DeliveryTask(e)))),
    };
    if !detached || delivered.is_err() || *shutdown.borrow() {
        let end = finish(
            outlet,
            Ok(StreamEnd::Stopped),
            delivered,
            timings.shutdown_timeout,
        )
        .await;
        return (name, end);
    }
    let end = run_stream(
        solo(cursor),
        outlet,
        timings.poll_interval,
        shutdown,
        timings.shutdown_timeout,
    )
    .await;
    (name, end)
}
