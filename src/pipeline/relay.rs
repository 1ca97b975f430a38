//! The hand-off between a stream's tailer and its outlet, so that reading the next page
//! of Coder overlaps with delivering the last one.
//!
//! Without it a stream did one thing at a time: fetch a page, parse it, encode it, send
//! it, wait for the peer's confirmation (an fsync, Kafka's delivery reports, an S3 PUT),
//! save the checkpoint, and only then ask Coder for the next page. The tailer now runs
//! ahead by at most [`READ_AHEAD`] messages while a task of its own drives the
//! [`SinkOutlet`]; the messages keep their order, so a checkpoint is still saved only after
//! the records it covers were confirmed, and memory stays bounded by a few pages and by
//! [`QUEUE_BYTES`] of Coder's entries.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

use super::DeliveryError;
use super::SinkOutlet;
use super::encoder::PendingGroup;
use crate::coder::{Cursor, Event, Outlet};

/// Messages the tailer may be ahead of its sink: two pages (each is a `Deliver` and a
/// `Commit`). One more page would not overlap more work; it would only hold more memory.
pub const READ_AHEAD: usize = 4;

/// The bytes of Coder's entries (the page's own bytes) a relay may hold queued. A page may
/// be as large as `coder.max_response_bytes` (64 MiB by default): four of them queued for
/// each sink would be far more than a sidecar's memory. A message larger than the whole
/// budget waits until the queue is empty and goes alone.
pub const QUEUE_BYTES: usize = 16 << 20;

/// The share of its relay's [`QUEUE_BYTES`] a queued message holds, given back once the
/// message is handled, or dropped with the queue.
type Room = OwnedSemaphorePermit;

/// What the tailer hands on, in the order the outlet must see it.
#[derive(Debug)]
enum Message {
    Deliver(Vec<Event>, Room),
    Commit(Cursor),
    /// A shared reader's group: its events (encoded once for every sink of the same
    /// encoding, by the first of their tasks to reach it) and the cursor after them,
    /// handed as one, so a sink that leaves the group has never been handed half of one.
    Group(Arc<PendingGroup>, Cursor, Room),
    /// A scan of Coder completed: send a batch that has become due, then mark the stream
    /// as moving (`/readyz`).
    ScanDone,
}

/// The tailer's side: an [`Outlet`] that queues.
pub struct Relay {
    tx: mpsc::Sender<Message>,
    /// What is left of the byte budget.
    room: Arc<Semaphore>,
    budget: usize,
}

/// Why a group was not handed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The queue stayed full until the deadline.
    Full,
    /// The delivery task has ended.
    Closed,
}

/// The outlet's side: the task that delivers, and returns the outlet when the tailer is
/// done (the channel closed) or on shutdown, for [`SinkOutlet::close`].
pub type Driver = JoinHandle<(SinkOutlet, Result<(), DeliveryError>)>;

/// What a [`Driver`] ends with.
pub type Driven = Result<(SinkOutlet, Result<(), DeliveryError>), tokio::task::JoinError>;

impl Relay {
    /// Start the outlet's task. It stops at shutdown, cancelling the delivery in progress
    /// (its records stay before the checkpoint, so nothing is lost) and leaving the queue,
    /// but for the commits of pages it had delivered (see `keep_delivered_commits`).
    pub fn start(outlet: SinkOutlet, shutdown: watch::Receiver<bool>) -> (Relay, Driver) {
        Self::with_budget(outlet, shutdown, QUEUE_BYTES)
    }

    /// [`Relay::start`] with a byte budget of `budget` instead of [`QUEUE_BYTES`].
    fn with_budget(
        outlet: SinkOutlet,
        shutdown: watch::Receiver<bool>,
        budget: usize,
    ) -> (Relay, Driver) {
        let budget = budget.min(Semaphore::MAX_PERMITS).min(u32::MAX as usize);
        let (tx, rx) = mpsc::channel(READ_AHEAD);
        let relay = Relay {
            tx,
            room: Arc::new(Semaphore::new(budget)),
            budget,
        };
        (relay, tokio::spawn(drive(outlet, rx, shutdown)))
    }

    /// The room `bytes` of entries take: never more than the whole budget, so that a
    /// message larger than it still goes, alone.
    fn room_for(&self, bytes: usize) -> u32 {
        u32::try_from(bytes.min(self.budget)).unwrap_or(u32::MAX)
    }

    /// The outlet's task has ended: nothing more can be handed on.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Tell the outlet a scan completed.
    pub async fn scan_done(&mut self) -> Result<(), DeliveryError> {
        self.send(Message::ScanDone).await
    }

    /// Hand a whole group (see `Message::Group`), waiting for room until `deadline`, or
    /// until `failing` says the sink is failing: then it will not make room soon.
    pub async fn hand(
        &mut self,
        events: Arc<PendingGroup>,
        cursor: Cursor,
        deadline: tokio::time::Instant,
        failing: &std::sync::atomic::AtomicBool,
    ) -> Result<(), Refused> {
        // Neither wait takes the message, so giving up on either loses nothing.
        let bytes = self.room_for(events.bytes());
        let room = self.room.clone();
        let room = until(deadline, failing, || room.clone().acquire_many_owned(bytes)).await?;
        let permit = until(deadline, failing, || self.tx.reserve()).await?;
        permit.send(Message::Group(events, cursor, room));
        Ok(())
    }

    /// Tell the outlet a scan completed, unless its queue is full: a sink behind is not
    /// moving, and `/readyz` may say so.
    pub fn try_scan_done(&mut self) {
        let _ = self.tx.try_send(Message::ScanDone);
    }

    async fn send(&mut self, m: Message) -> Result<(), DeliveryError> {
        self.tx
            .send(m)
            .await
            .map_err(|_| DeliveryError::OutletStopped)
    }
}

/// Wait for `ready` until `deadline`, looking at `failing` every so often: a failing sink
/// will not make room soon. An error of `ready` means the other side is gone.
async fn until<T, E, F>(
    deadline: tokio::time::Instant,
    failing: &std::sync::atomic::AtomicBool,
    mut ready: impl FnMut() -> F,
) -> Result<T, Refused>
where
    F: std::future::Future<Output = Result<T, E>>,
{
    const LOOK_AGAIN: std::time::Duration = std::time::Duration::from_millis(200);
    loop {
        let wait = deadline.min(tokio::time::Instant::now() + LOOK_AGAIN);
        match tokio::time::timeout_at(wait, ready()).await {
            Ok(Ok(t)) => return Ok(t),
            Ok(Err(_)) => return Err(Refused::Closed),
            Err(_) => {
                let failing = failing.load(std::sync::atomic::Ordering::Relaxed);
                if failing || tokio::time::Instant::now() >= deadline {
                    return Err(Refused::Full);
                }
            }
        }
    }
}

impl Outlet for Relay {
    type Error = DeliveryError;

    /// Queued once there is room for its bytes: the driver gives room back as it
    /// delivers, and all of it when it ends (its queue is dropped), so this never waits
    /// for an outlet that has stopped.
    async fn deliver(&mut self, events: Vec<Event>) -> Result<(), DeliveryError> {
        let bytes = self.room_for(Event::raw_bytes(&events));
        let room = self
            .room
            .clone()
            .acquire_many_owned(bytes)
            .await
            .map_err(|_| DeliveryError::OutletStopped)?;
        self.send(Message::Deliver(events, room)).await
    }

    async fn commit(&mut self, cursor: &Cursor) -> Result<(), DeliveryError> {
        self.send(Message::Commit(cursor.clone())).await
    }
}

async fn drive(
    mut outlet: SinkOutlet,
    mut rx: mpsc::Receiver<Message>,
    mut shutdown: watch::Receiver<bool>,
) -> (SinkOutlet, Result<(), DeliveryError>) {
    loop {
        if *shutdown.borrow() {
            keep_delivered_commits(&mut outlet, &mut rx);
            return (outlet, Ok(()));
        }
        let message = tokio::select! {
            m = rx.recv() => m,
            _ = shutdown.changed() => {
                keep_delivered_commits(&mut outlet, &mut rx);
                return (outlet, Ok(()));
            }
        };
        let Some(message) = message else {
            return (outlet, Ok(()));
        };
        // A delivery waits as long as its sink is down (or its acks do not come): it must
        // not outlive a stop request. Cancelled, its records stay pending for `close`, or
        // before the checkpoint for the restart to read again.
        // Biased: the message is polled at least once, so a commit taken from the queue
        // is at least noted for `close` even when the stop is already there.
        let done = tokio::select! {
            biased;
            r = handle(&mut outlet, message) => r,
            _ = shutdown.changed() => return (outlet, Ok(())),
        };
        if let Err(e) = done {
            return (outlet, Err(e));
        }
    }
}

/// At a stop that found the driver between messages, every message taken so far was
/// handled in full: the commits
/// queued next cover only delivered pages, so `close` may save the newest of them (fewer
/// events sent again after the restart). The first `Deliver` ends the walk, since the
/// commits after it cover a page that was never sent.
fn keep_delivered_commits(outlet: &mut SinkOutlet, rx: &mut mpsc::Receiver<Message>) {
    while let Ok(message) = rx.try_recv() {
        match message {
            Message::Commit(cursor) => outlet.commit_at_close(cursor),
            Message::ScanDone => {}
            Message::Deliver(..) | Message::Group(..) => break,
        }
    }
}

async fn handle(outlet: &mut SinkOutlet, message: Message) -> Result<(), DeliveryError> {
    match message {
        // The room is held until the message is handled (the binding lives to the end of
        // its arm).
        Message::Deliver(events, _room) => outlet.deliver(events).await,
        Message::Commit(cursor) => outlet.commit(&cursor).await,
        Message::Group(events, cursor, _room) => {
            outlet.deliver_encoded(events.encoded().await).await?;
            outlet.commit(&cursor).await
        }
        Message::ScanDone => {
            outlet.flush_if_due().await?;
            outlet.stats().scanned();
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::checkpoint::{CheckpointKey, CheckpointStore};
    use crate::pipeline::testing::{Gated, cursor, events, gated_outlet};

    fn setup() -> (
        Gated,
        Arc<dyn CheckpointStore>,
        CheckpointKey,
        SinkOutlet,
        tempfile::TempDir,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (sink, store, key, outlet) = gated_outlet(dir.path());
        (sink, store, key, outlet, dir)
    }

    fn saved_position(
        store: &Arc<dyn CheckpointStore>,
        key: &CheckpointKey,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        store.load(key).unwrap().map(|c| c.cursor.position)
    }

    /// Wait (up to 2 s) until `done` holds.
    async fn eventually(done: impl Fn() -> bool) {
        for _ in 0..200 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn the_tailer_runs_ahead_but_no_checkpoint_passes_an_unconfirmed_page() {
        let (sink, store, key, outlet, _dir) = setup();
        let (_stop, shutdown) = watch::channel(false);
        let (mut relay, driver) = Relay::start(outlet, shutdown);

        // Two pages handed on at once, while the sink has confirmed nothing.
        relay.deliver(events(2)).await.unwrap();
        relay.commit(&cursor(2)).await.unwrap();
        relay.deliver(events(3)).await.unwrap();
        relay.commit(&cursor(5)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(saved_position(&store, &key).is_none());

        // The first page confirmed: its checkpoint, and not the second's.
        sink.gate.add_permits(1);
        eventually(|| saved_position(&store, &key).is_some()).await;
        assert_eq!(saved_position(&store, &key), Some(cursor(2).position));
        assert_eq!(*sink.sent.lock().unwrap(), vec![2]);

        // The tailer done: the driver delivers the rest, then hands the outlet back.
        sink.gate.add_permits(1);
        drop(relay);
        let (_outlet, delivered) = driver.await.unwrap();
        delivered.unwrap();
        assert_eq!(*sink.sent.lock().unwrap(), vec![2, 3]);
        assert_eq!(saved_position(&store, &key), Some(cursor(5).position));
    }

    #[tokio::test]
    async fn the_queue_holds_no_more_than_its_byte_budget_and_a_larger_page_goes_alone() {
        let (sink, _store, _key, outlet, _dir) = setup();
        let (_stop, shutdown) = watch::channel(false);
        let budget = Event::raw_bytes(&events(3)) * 3 / 2;
        let (mut relay, driver) = Relay::with_budget(outlet, shutdown, budget);

        // One page queued; the sink holds it, so its bytes stay taken.
        relay.deliver(events(3)).await.unwrap();
        let waiting = tokio::time::timeout(Duration::from_millis(100), relay.deliver(events(3)));
        assert!(
            waiting.await.is_err(),
            "a second page fits only once the first is sent"
        );

        // Sent, its room is given back.
        sink.gate.add_permits(1);
        tokio::time::timeout(Duration::from_secs(2), relay.deliver(events(3)))
            .await
            .expect("room after the first page was sent")
            .unwrap();

        // Three times the page, more than the whole budget: it waits for the queue to
        // empty, then goes alone.
        assert!(Event::raw_bytes(&events(9)) > budget);
        let waiting = tokio::time::timeout(Duration::from_millis(100), relay.deliver(events(9)));
        assert!(waiting.await.is_err());
        sink.gate.add_permits(1);
        tokio::time::timeout(Duration::from_secs(2), relay.deliver(events(9)))
            .await
            .expect("a page over the budget goes once the queue is empty")
            .unwrap();
        sink.gate.add_permits(1);
        drop(relay);
        let (_outlet, delivered) = driver.await.unwrap();
        delivered.unwrap();
        assert_eq!(*sink.sent.lock().unwrap(), vec![3, 3, 9]);
    }

    #[tokio::test]
    async fn a_group_without_room_by_the_deadline_is_refused_as_full_and_takes_nothing() {
        let (sink, _store, _key, outlet, _dir) = setup();
        let (_stop, shutdown) = watch::channel(false);
        let (mut relay, driver) =
            Relay::with_budget(outlet, shutdown, Event::raw_bytes(&events(3)));
        relay.deliver(events(3)).await.unwrap();
        let group = Arc::new(PendingGroup::new(
            &crate::pipeline::Encoder::Raw,
            &crate::pipeline::Filter::default(),
            events(3).into(),
        ));
        let failing = std::sync::atomic::AtomicBool::new(false);
        let deadline = tokio::time::Instant::now() + Duration::from_millis(100);
        let handed = relay
            .hand(group.clone(), cursor(3), deadline, &failing)
            .await;
        assert_eq!(handed, Err(Refused::Full));

        // Room again once the page is sent: the same group is taken whole.
        sink.gate.add_permits(2);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        assert_eq!(
            relay.hand(group, cursor(3), deadline, &failing).await,
            Ok(())
        );
        drop(relay);
        let (_outlet, delivered) = driver.await.unwrap();
        delivered.unwrap();
        assert_eq!(*sink.sent.lock().unwrap(), vec![3, 3]);
    }

    #[tokio::test]
    async fn a_stop_keeps_the_commit_of_a_delivered_page_and_none_past_an_unsent_one() {
        let (sink, store, key, outlet, _dir) = setup();
        let (stop, shutdown) = watch::channel(false);
        let (mut relay, driver) = Relay::start(outlet, shutdown);
        sink.gate.add_permits(1);
        relay.deliver(events(2)).await.unwrap();
        // The page is confirmed and the driver waits for the next message.
        eventually(|| !sink.sent.lock().unwrap().is_empty()).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Queued in one go, then the stop: the page's commit, then a page never sent and
        // its commit.
        relay.commit(&cursor(2)).await.unwrap();
        relay.deliver(events(3)).await.unwrap();
        relay.commit(&cursor(5)).await.unwrap();
        stop.send(true).unwrap();
        let (mut outlet, delivered) = driver.await.unwrap();
        delivered.unwrap();
        outlet.close().await.unwrap();
        // The driver may have taken the first commit before it saw the stop; either way
        // the checkpoint is the delivered page's, never the unsent one's.
        assert_eq!(*sink.sent.lock().unwrap(), vec![2]);
        assert_eq!(saved_position(&store, &key), Some(cursor(2).position));
    }

    #[tokio::test]
    async fn a_stop_leaves_what_is_queued_and_saves_no_checkpoint_past_it() {
        let (sink, store, key, outlet, _dir) = setup();
        let (stop, shutdown) = watch::channel(false);
        let (mut relay, driver) = Relay::start(outlet, shutdown);
        relay.deliver(events(2)).await.unwrap();
        relay.commit(&cursor(2)).await.unwrap();
        // The sink never confirms; the stop must not wait for it.
        stop.send(true).unwrap();
        let (_outlet, delivered) = tokio::time::timeout(Duration::from_secs(5), driver)
            .await
            .expect("the driver stops at once")
            .unwrap();
        delivered.unwrap();
        assert!(relay.is_closed());
        assert!(relay.commit(&cursor(3)).await.is_err());
        assert!(sink.sent.lock().unwrap().is_empty());
        assert!(saved_position(&store, &key).is_none());
    }
}
