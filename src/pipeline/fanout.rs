//! One read of Coder handed to several sinks: the [`Outlet`] a shared reader's tailer
//! delivers into.
//!
//! Each sink keeps what it had alone: its own [`SinkOutlet`], driven by its own task
//! through a [`Relay`], and its own checkpoint. What it no longer has is its own reader.
//! The tailer's deliveries between two commits are one *group*; the group goes to every
//! member whole, as one message (events, then the cursor after them), so a member's
//! checkpoint is always a cursor of the shared reader, saved after that member confirmed
//! everything before it. The checkpoint files are the same as a sink reading alone writes.
//!
//! A member whose queue stays full until `detach_after` (or is full while its sink is
//! failing) leaves the group instead of holding the others back. It was handed only whole
//! groups, so the cursor of the last one is exactly where it goes on alone from: its relay
//! delivers what it holds, and a tailer of its own reads on from there.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::TimeDelta;

use super::encoder::PendingGroup;
use super::relay::{Driver, Refused, Relay};
use super::{Encoder, Filter, Reading, SinkOutlet, StreamStats};
use crate::coder::{Cursor, Event, Outlet, SkipSet, Stream};

/// A sink reading through the shared reader.
pub struct Member {
    pub name: String,
    /// Which log: `audit` or `connection`.
    pub stream: &'static str,
    pub(super) relay: Relay,
    pub(super) driver: Driver,
    /// The cursor after the last group handed whole: where the sink goes on from alone.
    pub(super) last: Cursor,
    pub(super) stats: Arc<StreamStats>,
    /// How its sink's records are made: members of equal encoders share them.
    encoder: Encoder,
    /// Its sink's filter: members of equal encoders and filters share one group.
    filter: Filter,
    /// Rows it delivered alone before it joined that the shared reader had not yet
    /// delivered ([`crate::coder::SkipSet`]): not handed to it again.
    pub(super) skip: SkipSet,
}

impl Member {
    /// Start `outlet`'s delivery task; `cursor` is where the shared reader starts.
    pub fn start(
        name: String,
        outlet: SinkOutlet,
        cursor: Cursor,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        let stats = outlet.stats_handle();
        let encoder = outlet.encoder().clone();
        let filter = outlet.filter().clone();
        let stream = [Stream::Audit, Stream::Connection]
            .into_iter()
            .map(Stream::name)
            .find(|s| *s == outlet.key().stream)
            .unwrap_or("audit");
        let (relay, driver) = Relay::start(outlet, shutdown);
        Member {
            name,
            stream,
            relay,
            driver,
            last: cursor,
            stats,
            encoder,
            filter,
            skip: SkipSet::default(),
        }
    }

    /// What this member is handed of a group: the group less its skip set, and the
    /// group's cursor plus the skipped ids (its checkpoint says it has them). A skipped id
    /// is dropped from the set once the group delivered it, or once the group is past
    /// re-delivering anything that old (`depth` below its position).
    fn share(
        &mut self,
        events: &Arc<[Event]>,
        encoded: &mut Vec<(Encoder, Filter, Arc<PendingGroup>)>,
        cursor: &Cursor,
        depth: TimeDelta,
    ) -> (Arc<PendingGroup>, Cursor) {
        if self.skip.is_empty() {
            let same = |(e, f, _): &&(Encoder, Filter, _)| *e == self.encoder && *f == self.filter;
            let group = match encoded.iter().find(same) {
                Some((_, _, group)) => group.clone(),
                None => {
                    let group = Arc::new(PendingGroup::new(
                        &self.encoder,
                        &self.filter,
                        events.clone(),
                    ));
                    encoded.push((self.encoder.clone(), self.filter.clone(), group.clone()));
                    group
                }
            };
            return (group, cursor.clone());
        }
        let mut handed = Vec::with_capacity(events.len());
        let mut met = Vec::new();
        for event in events.iter() {
            if self.skip.contains_key(&event.key) {
                met.push(event.key.clone());
            } else {
                handed.push(event.clone());
            }
        }
        if !met.is_empty() {
            crate::ops::metrics::rows_spared(&self.name, met.len() as u64);
        }
        // After the loop: a session's connect and disconnect share a key.
        for key in met {
            self.skip.remove(&key);
        }
        let oldest = cursor.position - depth;
        self.skip.retain(|_, t| *t >= oldest);
        let mut cursor = cursor.clone();
        cursor
            .seen
            .extend(self.skip.iter().map(|(k, t)| (k.clone(), *t)));
        (
            Arc::new(PendingGroup::new(
                &self.encoder,
                &self.filter,
                Arc::from(handed),
            )),
            cursor,
        )
    }

    /// Its counters.
    pub fn stats(&self) -> Arc<StreamStats> {
        self.stats.clone()
    }

    /// Stop handing it anything: its task delivers what it holds and gives the outlet
    /// back, with the cursor after the last group it was handed.
    pub fn leave(self) -> (Driver, Cursor) {
        drop(self.relay);
        (self.driver, self.last)
    }
}

/// Why a member left the group.
pub enum Departure {
    /// Its queue stayed full until `detach_after`, or was full while its sink failed: it
    /// goes on alone.
    Detached(Member),
    /// Its delivery task ended (the sink refused for good, a checkpoint write failed): its
    /// own error says why.
    Ended(Member),
}

/// The shared reader's outlet.
pub struct FanOut {
    members: Vec<Member>,
    /// What the tailer delivered since its last commit.
    pending: Vec<Event>,
    detach_after: Duration,
    /// How far below its position the shared reader may still deliver a row
    /// ([`crate::coder::Tailer::redelivery_depth`]).
    skip_depth: TimeDelta,
    departures: Vec<Departure>,
}

#[derive(Debug, thiserror::Error)]
pub enum FanOutError {
    #[error("every sink has left the shared reader")]
    Empty,
}

impl FanOut {
    pub fn new(members: Vec<Member>, detach_after: Duration, skip_depth: TimeDelta) -> Self {
        FanOut {
            members,
            pending: Vec::new(),
            detach_after,
            skip_depth,
            departures: Vec::new(),
        }
    }

    /// A sink joins (or, into an empty group, is the group), between two steps.
    pub fn join(&mut self, member: Member, skip_depth: TimeDelta) {
        self.skip_depth = skip_depth;
        self.members.push(member);
    }

    /// The members that left since the last call.
    pub fn departures(&mut self) -> Vec<Departure> {
        std::mem::take(&mut self.departures)
    }

    /// The members still attached, for the end of the stream.
    pub fn into_members(self) -> Vec<Member> {
        self.members
    }

    /// Tell every member a scan completed (skipped for one whose queue is full).
    pub fn scan_done(&mut self) {
        for m in &mut self.members {
            m.relay.try_scan_done();
        }
    }
}

impl Outlet for FanOut {
    type Error = FanOutError;

    async fn deliver(&mut self, events: Vec<Event>) -> Result<(), FanOutError> {
        self.pending.extend(events);
        Ok(())
    }

    /// Hand the group to every member, each waiting for room until one shared deadline:
    /// the others wait for a slow member at most `detach_after` in all.
    async fn commit(&mut self, cursor: &Cursor) -> Result<(), FanOutError> {
        let events: Arc<[Event]> = Arc::from(std::mem::take(&mut self.pending));
        // Each encoding made once, for every member that has it, by the first of their
        // delivery tasks to need it: the tailer reads on meanwhile.
        let mut encoded = Vec::new();
        let deadline = tokio::time::Instant::now() + self.detach_after;
        // Members stay in place while they are handed the group: a commit cancelled at
        // shutdown leaves every one of them there to be ended.
        let mut leaving = Vec::new();
        for (i, m) in self.members.iter_mut().enumerate() {
            let (share, after) = m.share(&events, &mut encoded, cursor, self.skip_depth);
            let handed = m
                .relay
                .hand(share, after.clone(), deadline, &m.stats.failing)
                .await;
            let failing = m.stats.failing.load(Ordering::Relaxed);
            match handed {
                Ok(()) => m.last = after,
                Err(Refused::Full) => {
                    crate::ops::metrics::sink_detached(
                        &m.name,
                        if failing { "failing" } else { "slow" },
                    );
                    let reading = if failing {
                        Reading::DetachedFailing
                    } else {
                        Reading::DetachedSlow
                    };
                    reading.set(&m.stats);
                    tracing::warn!(
                        sink = %m.name,
                        failing,
                        "the sink is behind the shared reader: it goes on reading Coder alone"
                    );
                    leaving.push((i, true));
                }
                Err(Refused::Closed) => leaving.push((i, false)),
            }
        }
        for (i, detached) in leaving.into_iter().rev() {
            let m = self.members.remove(i);
            self.departures.push(if detached {
                Departure::Detached(m)
            } else {
                Departure::Ended(m)
            });
        }
        if self.members.is_empty() {
            return Err(FanOutError::Empty);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::pipeline::testing::{cursor, events, gated_outlet};

    /// A stop that cancels a commit while it waits for a full member must leave every
    /// member in the group, so that each is ended (its outlet closed, its end reported).
    #[tokio::test]
    async fn a_commit_cancelled_while_a_member_is_full_keeps_every_member() {
        let dir = tempfile::tempdir().unwrap();
        let (_shutdown_tx, shutdown) = tokio::sync::watch::channel(false);
        let (_, _, _, outlet) = gated_outlet(&dir.path().join("a"));
        let (gate_b, _, _, outlet_b) = gated_outlet(&dir.path().join("b"));
        gate_b.gate.add_permits(1_000);
        let a = Member::start("a".into(), outlet, cursor(0), shutdown.clone());
        let b = Member::start("b".into(), outlet_b, cursor(0), shutdown);
        let mut fanout = FanOut::new(vec![a, b], Duration::from_secs(60), TimeDelta::minutes(1));
        // `a` never confirms: its queue fills, and a commit then waits for it.
        let mut waited = false;
        for s in 1..20 {
            fanout.deliver(events(1)).await.unwrap();
            let at = cursor(s);
            if tokio::time::timeout(Duration::from_millis(100), fanout.commit(&at))
                .await
                .is_err()
            {
                waited = true;
                break;
            }
        }
        assert!(waited, "the gated member's queue never filled");
        let names: Vec<String> = fanout.into_members().into_iter().map(|m| m.name).collect();
        assert_eq!(names, ["a", "b"]);
    }
}
