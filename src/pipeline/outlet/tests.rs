//! The outlet's bookkeeping: what is held, what is sent, and when the checkpoint moves.

use super::*;
use crate::pipeline::testing::{cursor, events, outlet_into};
use async_trait::async_trait;
use sink_core::Delivery;
use std::sync::Mutex;

/// Records what it was sent (a stand-in for a peer: only the outlet's bookkeeping is
/// under test here; the real peers are in tests/kafka.rs and tests/s3.rs).
#[derive(Clone, Default)]
struct Recording(Arc<Mutex<Vec<usize>>>);

#[async_trait]
impl Sink for Recording {
    fn name(&self) -> &str {
        "recording"
    }
    async fn deliver(&mut self, batch: &Batch) -> Delivery {
        self.0.lock().unwrap().push(batch.len());
        Delivery::Delivered
    }
}

/// Batches of five records, never closed by size or age.
const FIVE_RECORDS: Batching = Batching {
    max_bytes: usize::MAX,
    max_events: 5,
    timeout: Some(Duration::from_secs(3600)),
    at_scan_end: false,
};

#[tokio::test]
async fn a_batching_outlet_saves_no_checkpoint_past_records_it_still_holds() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Recording::default();
    let (store, key, outlet) =
        outlet_into(dir.path(), "lake", Box::new(sink.clone()), Arc::default());
    let mut outlet = outlet.with_batching(FIVE_RECORDS);

    outlet.deliver(events(3)).await.unwrap();
    outlet.commit(&cursor(3)).await.unwrap();
    assert!(sink.0.lock().unwrap().is_empty(), "3 < 5: nothing sent yet");
    assert!(
        store.load(&key).unwrap().is_none(),
        "no checkpoint past unsent records"
    );

    // The batch fills: everything goes, and the cursor that waited for it is saved.
    outlet.deliver(events(2)).await.unwrap();
    assert_eq!(*sink.0.lock().unwrap(), vec![5]);
    assert_eq!(
        store.load(&key).unwrap().unwrap().cursor.position,
        cursor(3).position
    );
    outlet.commit(&cursor(5)).await.unwrap();
    assert_eq!(
        store.load(&key).unwrap().unwrap().cursor.position,
        cursor(5).position
    );

    // Held records go out on close, then their cursor.
    outlet.deliver(events(1)).await.unwrap();
    outlet.commit(&cursor(6)).await.unwrap();
    assert_eq!(
        store.load(&key).unwrap().unwrap().cursor.position,
        cursor(5).position
    );
    outlet.close().await.unwrap();
    assert_eq!(*sink.0.lock().unwrap(), vec![5, 1]);
    assert_eq!(
        store.load(&key).unwrap().unwrap().cursor.position,
        cursor(6).position
    );
}

/// Stages what it is given and keeps it until `deliver_staged`, whose first attempt
/// fails; the record with id ending in 1 can never be delivered (a stand-in for the
/// Security Lake sink's bookkeeping; the real one is in tests/security_lake.rs).
#[derive(Clone, Default)]
struct Staging {
    staged: Arc<Mutex<Vec<String>>>,
    delivered: Arc<Mutex<Vec<Vec<String>>>>,
    attempts: Arc<Mutex<usize>>,
}

#[async_trait]
impl Sink for Staging {
    fn name(&self) -> &str {
        "staging"
    }
    async fn deliver(&mut self, _: &Batch) -> Delivery {
        Delivery::reject("a staging sink is not sent whole batches by the outlet")
    }
    fn stages(&self) -> bool {
        true
    }
    async fn stage(&mut self, batch: &Batch) -> Delivery {
        let mut dead = Vec::new();
        for (index, r) in batch.records().iter().enumerate() {
            if r.id.ends_with('1') {
                dead.push(sink_core::DeadRecord {
                    index,
                    reason: "never".into(),
                });
            } else {
                self.staged.lock().unwrap().push(r.id.to_string());
            }
        }
        Delivery::PartlyDelivered { dead }
    }
    async fn deliver_staged(&mut self) -> Delivery {
        let mut attempts = self.attempts.lock().unwrap();
        *attempts += 1;
        if *attempts == 1 {
            return Delivery::retry("the first upload fails");
        }
        let staged = std::mem::take(&mut *self.staged.lock().unwrap());
        self.delivered.lock().unwrap().push(staged);
        Delivery::Delivered
    }
}

#[tokio::test(start_paused = true)]
async fn a_staging_sink_holds_the_batch_and_the_checkpoint_waits_for_its_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Staging::default();
    let stats = Arc::new(StreamStats::default());
    let (store, key, outlet) =
        outlet_into(dir.path(), "staging", Box::new(sink.clone()), stats.clone());
    let mut outlet = outlet.with_batching(FIVE_RECORDS);

    outlet.deliver(events(3)).await.unwrap();
    outlet.commit(&cursor(3)).await.unwrap();
    assert!(outlet.pending.is_empty(), "the sink holds the records");
    assert_eq!(sink.staged.lock().unwrap().len(), 2, "all but the dead one");
    assert_eq!(stats.dead_lettered.load(Ordering::Relaxed), 1);
    let dead = DeadLetters::read(&dir.path().join("dead-letter/staging.ndjson")).unwrap();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].id.ends_with('1'), "{:?}", dead[0].id);
    assert!(sink.delivered.lock().unwrap().is_empty());
    assert!(store.load(&key).unwrap().is_none(), "nothing delivered yet");

    // The batch fills (5 records, the dead one counted): delivered after one retry,
    // then the cursor that waited for it.
    outlet.deliver(events(2)).await.unwrap();
    assert_eq!(*sink.attempts.lock().unwrap(), 2);
    assert_eq!(sink.delivered.lock().unwrap().len(), 1);
    // Ids 0 and 2 of the first page, 0 of the second: each page's 1 is dead.
    assert_eq!(sink.delivered.lock().unwrap()[0].len(), 3);
    assert_eq!(stats.dead_lettered.load(Ordering::Relaxed), 2);
    assert_eq!(
        store.load(&key).unwrap().unwrap().cursor.position,
        cursor(3).position
    );
    assert_eq!(stats.delivered.load(Ordering::Relaxed), 5);
    assert_eq!(stats.batches.load(Ordering::Relaxed), 1);

    // What is staged at close goes out, then its cursor.
    outlet.commit(&cursor(5)).await.unwrap();
    outlet.deliver(events(1)).await.unwrap();
    outlet.commit(&cursor(6)).await.unwrap();
    assert_eq!(
        store.load(&key).unwrap().unwrap().cursor.position,
        cursor(5).position
    );
    outlet.close().await.unwrap();
    assert_eq!(sink.delivered.lock().unwrap().len(), 2);
    assert_eq!(
        store.load(&key).unwrap().unwrap().cursor.position,
        cursor(6).position
    );
}

/// An outlet into a [`Recording`] sink that saves its checkpoint at most once per
/// `interval`.
fn coalescing(
    dir: &std::path::Path,
    interval: Duration,
) -> (
    Recording,
    Arc<dyn CheckpointStore>,
    CheckpointKey,
    SinkOutlet,
) {
    let sink = Recording::default();
    let (store, key, outlet) = outlet_into(dir, "file", Box::new(sink.clone()), Arc::default());
    (sink, store, key, outlet.with_save_interval(interval))
}

#[tokio::test]
async fn delivered_cursors_are_saved_at_most_once_per_interval_and_the_newest_at_a_scan_end_or_close()
 {
    let dir = tempfile::tempdir().unwrap();
    let (sink, store, key, mut outlet) = coalescing(dir.path(), Duration::from_secs(3600));
    let saved = || store.load(&key).unwrap().map(|c| c.cursor.position);

    outlet.deliver(events(1)).await.unwrap();
    outlet.commit(&cursor(1)).await.unwrap();
    assert_eq!(
        saved(),
        Some(cursor(1).position),
        "the first is saved at once"
    );
    outlet.deliver(events(2)).await.unwrap();
    outlet.commit(&cursor(2)).await.unwrap();
    outlet.deliver(events(3)).await.unwrap();
    outlet.commit(&cursor(3)).await.unwrap();
    assert_eq!(
        *sink.0.lock().unwrap(),
        vec![1, 2, 3],
        "every page is sent at once"
    );
    assert_eq!(
        saved(),
        Some(cursor(1).position),
        "within the interval: not saved"
    );

    // A scan's end saves the newest delivered cursor.
    outlet.flush_if_due().await.unwrap();
    assert_eq!(saved(), Some(cursor(3).position));

    // So does close (a stop).
    outlet.deliver(events(1)).await.unwrap();
    outlet.commit(&cursor(4)).await.unwrap();
    assert_eq!(saved(), Some(cursor(3).position));
    outlet.close().await.unwrap();
    assert_eq!(saved(), Some(cursor(4).position));

    // Past the interval a commit saves at once.
    let dir = tempfile::tempdir().unwrap();
    let (_, store, key, mut outlet) = coalescing(dir.path(), Duration::from_millis(1));
    outlet.commit(&cursor(1)).await.unwrap();
    std::thread::sleep(Duration::from_millis(5));
    outlet.commit(&cursor(2)).await.unwrap();
    assert_eq!(
        store.load(&key).unwrap().map(|c| c.cursor.position),
        Some(cursor(2).position)
    );
}

#[tokio::test]
async fn pages_of_one_scan_are_sent_together_and_the_rest_when_the_scan_ends() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Recording::default();
    let (store, key, outlet) =
        outlet_into(dir.path(), "file", Box::new(sink.clone()), Arc::default());
    let mut outlet =
        outlet.with_batching(Batching::within_a_scan(u64::MAX, Duration::from_secs(3600)));
    let saved = || store.load(&key).unwrap().map(|c| c.cursor.position);

    outlet.deliver(events(2)).await.unwrap();
    outlet.commit(&cursor(2)).await.unwrap();
    outlet.deliver(events(3)).await.unwrap();
    outlet.commit(&cursor(5)).await.unwrap();
    assert!(sink.0.lock().unwrap().is_empty(), "the scan goes on");
    assert_eq!(saved(), None, "no checkpoint past records held");

    // The scan's end sends both pages as one, then saves the newest cursor.
    outlet.flush_if_due().await.unwrap();
    assert_eq!(*sink.0.lock().unwrap(), vec![5]);
    assert_eq!(saved(), Some(cursor(5).position));
    outlet.flush_if_due().await.unwrap();
    assert_eq!(
        *sink.0.lock().unwrap(),
        vec![5],
        "nothing held, nothing sent"
    );

    // A stop sends what a scan left.
    outlet.deliver(events(1)).await.unwrap();
    outlet.commit(&cursor(6)).await.unwrap();
    outlet.close().await.unwrap();
    assert_eq!(*sink.0.lock().unwrap(), vec![5, 1]);
    assert_eq!(saved(), Some(cursor(6).position));

    // Within a long scan, a page that waited `timeout` goes with the next commit, and a
    // batch that reaches `max_bytes` at once.
    let dir = tempfile::tempdir().unwrap();
    let sink = Recording::default();
    let (store, key, outlet) =
        outlet_into(dir.path(), "file", Box::new(sink.clone()), Arc::default());
    let mut outlet =
        outlet.with_batching(Batching::within_a_scan(u64::MAX, Duration::from_millis(1)));
    outlet.deliver(events(1)).await.unwrap();
    std::thread::sleep(Duration::from_millis(5));
    outlet.deliver(events(2)).await.unwrap();
    assert!(sink.0.lock().unwrap().is_empty());
    outlet.commit(&cursor(3)).await.unwrap();
    assert_eq!(*sink.0.lock().unwrap(), vec![3]);
    assert_eq!(
        store.load(&key).unwrap().map(|c| c.cursor.position),
        Some(cursor(3).position)
    );

    let dir = tempfile::tempdir().unwrap();
    let sink = Recording::default();
    let (_, _, outlet) = outlet_into(dir.path(), "file", Box::new(sink.clone()), Arc::default());
    let mut outlet = outlet.with_batching(Batching::within_a_scan(1, Duration::from_secs(3600)));
    outlet.deliver(events(2)).await.unwrap();
    outlet.deliver(events(1)).await.unwrap();
    assert_eq!(
        *sink.0.lock().unwrap(),
        vec![2, 1],
        "every page fills the batch"
    );
}
