//! Events and cursors for the pipeline's unit tests.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sink_core::{Batch, Delivery, Sink};
use tokio::sync::Semaphore;

use super::{Encoder, SinkOutlet, StreamStats};
use crate::checkpoint::{CheckpointKey, CheckpointStore, FileStore};
use crate::coder::{Cursor, Event, parse_page};
use crate::dead_letter::DeadLetters;

/// Confirms a batch only when the test opens its gate (a stand-in for a slow peer: only
/// the pipeline's ordering is under test here; the real peers are in tests/).
#[derive(Clone)]
pub struct Gated {
    pub gate: Arc<Semaphore>,
    pub sent: Arc<Mutex<Vec<usize>>>,
}

#[async_trait]
impl Sink for Gated {
    fn name(&self) -> &str {
        "gated"
    }
    async fn deliver(&mut self, batch: &Batch) -> Delivery {
        self.gate.acquire().await.unwrap().forget();
        self.sent.lock().unwrap().push(batch.len());
        Delivery::Delivered
    }
}

/// An outlet into a [`Gated`] sink (gate closed), its checkpoints under `dir`.
pub fn gated_outlet(dir: &Path) -> (Gated, Arc<dyn CheckpointStore>, CheckpointKey, SinkOutlet) {
    let sink = Gated {
        gate: Arc::new(Semaphore::new(0)),
        sent: Arc::default(),
    };
    let (store, key, outlet) = outlet_into(dir, "gated", Box::new(sink.clone()), Arc::default());
    (sink, store, key, outlet)
}

/// A raw outlet into `sink` as sink `name`, its checkpoints and dead letters under `dir`.
pub fn outlet_into(
    dir: &Path,
    name: &str,
    sink: Box<dyn Sink>,
    stats: Arc<StreamStats>,
) -> (Arc<dyn CheckpointStore>, CheckpointKey, SinkOutlet) {
    let store: Arc<dyn CheckpointStore> = Arc::new(FileStore::new(dir));
    let key = CheckpointKey::run(name);
    let outlet = SinkOutlet::new(
        sink,
        Encoder::Raw,
        store.clone(),
        key.clone(),
        stats,
        DeadLetters::new(&dir.join("dead-letter"), name),
    );
    (store, key, outlet)
}

/// `n` entries a second apart from 2026-08-20T00:00:00Z (n < 10), as one parsed page.
pub fn events(n: usize) -> Vec<Event> {
    let entries: Vec<String> = (0..n)
        .map(|i| {
            format!(r#"{{"id":"00000000-0000-4000-8000-{i:012}","time":"2026-08-20T00:00:0{i}Z"}}"#)
        })
        .collect();
    let page = format!(r#"{{"audit_logs":[{}],"count":{n}}}"#, entries.join(","));
    parse_page(page.into()).unwrap().events
}

/// A cursor at second `s` of 2026-08-20.
pub fn cursor(s: u32) -> Cursor {
    Cursor::starting_at(
        DateTime::parse_from_rfc3339(&format!("2026-08-20T00:00:{s:02}Z"))
            .unwrap()
            .with_timezone(&Utc),
        None,
    )
}
