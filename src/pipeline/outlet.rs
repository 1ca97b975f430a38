//! Delivery to one sink, and that sink's checkpoint moved only past what the sink
//! confirmed: records go out at once or in larger batches, and the cursor waits for them.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use sink_core::{Attempt, Batch, DeadRecord, Record, RetryPolicy, Sink, attempt_with_retry};

use super::DeliveryError;
use super::encoder::EncodedGroup;
use super::{Encoder, Filter, StreamStats};
use crate::checkpoint::{CheckpointError, CheckpointKey, CheckpointStore};
use crate::coder::{Cursor, Event, Outlet};
use crate::dead_letter::DeadLetters;
/// When a sink's records are sent: at once (Kafka, syslog), gathered within a scan of
/// Coder (files: one `fsync` for several pages of a backfill), or gathered into larger
/// batches (S3 objects, HEC ack rounds) by size, count and age; each sink says which.
pub use sink_core::Batching;

/// Delivery to one sink plus that sink's checkpoint.
///
/// With [`Batching::IMMEDIATE`] each page is sent in `deliver` and the cursor saved in
/// `commit`. Otherwise records wait in `pending` and the cursor the tailer commits waits
/// beside them: both go out together once the batch is full or old enough, so a saved
/// checkpoint never covers a record that is only in memory. A crash loses the buffer, and
/// the restart reads it again from Coder. A sink that [`Sink::stages`] keeps the records
/// itself (on disk) from the moment they arrive; the outlet keeps only their count and the
/// cursor, the same way.
pub struct SinkOutlet {
    sink: Box<dyn Sink>,
    encoder: Encoder,
    /// Which events the sink is sent (`[sinks.NAME.filter]`).
    filter: Filter,
    store: Arc<dyn CheckpointStore>,
    key: CheckpointKey,
    retry: RetryPolicy,
    stats: Arc<StreamStats>,
    batching: Batching,
    dead_letters: DeadLetters,
    /// Records waiting for the batch to be due (none for a sink that stages them).
    pending: Vec<Record>,
    /// Records waiting, here or staged in the sink.
    pending_len: usize,
    pending_bytes: usize,
    /// Entries behind the pending records (one entry may give several OCSF records).
    pending_events: u64,
    pending_since: Option<Instant>,
    /// The newest cursor the tailer committed whose records are still pending.
    pending_cursor: Option<Cursor>,
    /// The sink's own truncation count already added to `stats.truncated`.
    sink_truncated: u64,
    /// A cursor whose records are all delivered waits this long since the last save
    /// before it is saved (`checkpoint.save_interval`); zero saves every commit.
    save_interval: Duration,
    saved_at: Option<Instant>,
}

impl SinkOutlet {
    pub fn new(
        sink: Box<dyn Sink>,
        encoder: Encoder,
        store: Arc<dyn CheckpointStore>,
        key: CheckpointKey,
        stats: Arc<StreamStats>,
        dead_letters: DeadLetters,
    ) -> Self {
        *stats.pending_acks.lock().unwrap_or_else(|e| e.into_inner()) = sink.pending_acks();
        Self {
            sink,
            encoder,
            filter: Filter::default(),
            store,
            key,
            retry: RetryPolicy::default(),
            stats,
            batching: Batching::IMMEDIATE,
            dead_letters,
            pending: Vec::new(),
            pending_len: 0,
            pending_bytes: 0,
            pending_events: 0,
            pending_since: None,
            pending_cursor: None,
            sink_truncated: 0,
            save_interval: Duration::ZERO,
            saved_at: None,
        }
    }

    /// Send the sink only the events `filter` admits.
    pub fn with_filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    /// Which events the sink is sent.
    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// Whose checkpoint this outlet moves.
    pub fn key(&self) -> &CheckpointKey {
        &self.key
    }

    /// The stream's counters.
    pub fn stats(&self) -> &StreamStats {
        &self.stats
    }

    /// The stream's counters, shared.
    pub fn stats_handle(&self) -> Arc<StreamStats> {
        self.stats.clone()
    }

    /// Gather records into larger batches (see [`Batching`]).
    pub fn with_batching(mut self, batching: Batching) -> Self {
        self.batching = batching;
        self
    }

    /// Save a delivered cursor at most once per `interval` (see
    /// [`crate::config::CheckpointConfig::save_interval`]); the newest waits in
    /// `pending_cursor`, saved by the next commit past the interval, the next scan's end
    /// or `close`.
    pub fn with_save_interval(mut self, interval: Duration) -> Self {
        self.save_interval = interval;
        self
    }

    /// Send what is pending, then save the cursor that waited for it; then close the sink.
    pub async fn close(&mut self) -> Result<(), DeliveryError> {
        let flushed = self.flush().await;
        if let Err(e) = self.sink.close().await {
            tracing::warn!(sink = self.sink.name(), "closing sink: {e}");
        }
        flushed
    }

    /// Keep `cursor` to be saved by [`Self::close`], after what is pending, without
    /// sending anything now: for a stop, which must not wait on the sink here.
    pub fn commit_at_close(&mut self, cursor: Cursor) {
        self.pending_cursor = Some(cursor);
    }

    /// Send the pending batch if it is full or old enough, or if the sink's batches end
    /// with a scan ([`Batching::at_scan_end`]). Called at the end of every scan of Coder,
    /// so an idle stream still ships what it holds within `timeout`.
    pub async fn flush_if_due(&mut self) -> Result<(), DeliveryError> {
        if self.due() || (self.batching.at_scan_end && self.pending_len > 0) {
            self.flush().await?;
        }
        Ok(())
    }

    fn due(&self) -> bool {
        if self.pending_len == 0 {
            return self.pending_cursor.is_some();
        }
        let b = self.batching;
        self.pending_bytes >= b.max_bytes
            || self.pending_len >= b.max_events.max(1)
            || match (b.timeout, self.pending_since) {
                (Some(t), Some(since)) => since.elapsed() >= t,
                _ => true,
            }
    }

    async fn flush(&mut self) -> Result<(), DeliveryError> {
        if self.pending_len > 0 {
            if self.sink.stages() {
                // Staged records stay staged until the sink delivered them.
                self.attempt(Attempt::DeliverStaged).await?;
                self.stats
                    .delivered_bytes
                    .fetch_add(self.pending_bytes as u64, Ordering::Relaxed);
                self.counted_batch();
            } else {
                // The records stay pending until the sink confirmed them: a flush
                // cancelled by shutdown, or failed, leaves them for `close` (or the
                // restart) to send. (So this is a copy, cheap beside the payloads, which
                // are shared `Bytes`.)
                let batch = Batch::new(self.pending.clone());
                self.send(&batch).await?;
                self.pending.clear();
            }
            self.pending_len = 0;
            self.pending_bytes = 0;
            self.pending_since = None;
            self.stats
                .delivered
                .fetch_add(std::mem::take(&mut self.pending_events), Ordering::Relaxed);
        }
        // Kept until saved: a save cancelled by a stop is done again by `close`.
        if let Some(cursor) = self.pending_cursor.clone() {
            self.save(cursor).await?;
            self.pending_cursor = None;
        }
        Ok(())
    }

    async fn send(&mut self, batch: &Batch) -> Result<(), DeliveryError> {
        let dead = self.attempt(Attempt::Deliver(batch)).await?;
        self.stats
            .delivered_bytes
            .fetch_add(batch.payload_bytes() as u64, Ordering::Relaxed);
        self.dead_letter(batch, dead).await?;
        self.counted_batch();
        Ok(())
    }

    /// Add `batch` to what the sink stages, dead-lettering at once what it never will take.
    async fn stage(&mut self, batch: &Batch) -> Result<(), DeliveryError> {
        let dead = self.attempt(Attempt::Stage(batch)).await?;
        self.dead_letter(batch, dead).await
    }

    /// `attempt` until it succeeds (what the sink refused for good is returned) or fails.
    async fn attempt(&mut self, attempt: Attempt<'_>) -> Result<Vec<DeadRecord>, DeliveryError> {
        let sink_name = self.sink.name().to_owned();
        let stats = self.stats.clone();
        let sent = attempt_with_retry(self.sink.as_mut(), attempt, &self.retry, |reason, delay| {
            stats.retries.fetch_add(1, Ordering::Relaxed);
            stats.failing.store(true, Ordering::Relaxed);
            tracing::warn!(sink = %sink_name, retry_in = ?delay, "delivery failed, retrying: {reason}");
        })
        .await
        .map_err(DeliveryError::Send)?;
        self.stats.failing.store(false, Ordering::Relaxed);
        Ok(sent.dead)
    }

    /// Write `dead` (records of `batch` the sink will never take) to the dead-letter file.
    async fn dead_letter(
        &mut self,
        batch: &Batch,
        dead: Vec<DeadRecord>,
    ) -> Result<(), DeliveryError> {
        if dead.is_empty() {
            return Ok(());
        }
        let sink_name = self.sink.name().to_owned();
        let dl = self.dead_letters.clone();
        let (name, batch_copy, dead_copy) = (sink_name.clone(), batch.clone(), dead.clone());
        let file = self.dead_letters.path().display().to_string();
        persist(
            &self.stats,
            &sink_name,
            "dead_letter_write",
            &file,
            move || dl.write(&name, &batch_copy, &dead_copy),
            |_| false,
        )
        .await
        .map_err(DeliveryError::DeadLetter)?;
        for d in &dead {
            tracing::error!(
                sink = %sink_name,
                id = batch.records().get(d.index).map_or("", |r| &*r.id),
                file = %self.dead_letters.path().display(),
                "record dead-lettered: {}", d.reason
            );
        }
        self.stats
            .dead_lettered
            .fetch_add(dead.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Count a batch handled, and the records the sink cut to fit its transport (a syslog
    /// datagram) as truncated, beside those the encoder cut to `max_event_bytes`.
    fn counted_batch(&mut self) {
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        let cut = self.sink.truncated();
        self.stats.truncated.fetch_add(
            cut.saturating_sub(std::mem::replace(&mut self.sink_truncated, cut)),
            Ordering::Relaxed,
        );
    }

    async fn save(&mut self, cursor: Cursor) -> Result<(), DeliveryError> {
        let store = self.store.clone();
        let key = self.key.clone();
        let position = u64::try_from(cursor.position.timestamp_micros()).unwrap_or(0);
        let what = format!("checkpoint {}", self.key.sink);
        persist(
            &self.stats,
            &self.key.sink,
            "checkpoint_write",
            &what,
            move || store.save(&key, &cursor),
            // A deposed leader's write: no wait fixes that.
            |e| matches!(e, CheckpointError::Fenced { .. }),
        )
        .await
        .map_err(DeliveryError::Checkpoint)?;
        self.stats
            .position_micros
            .store(position, Ordering::Relaxed);
        self.saved_at = Some(Instant::now());
        Ok(())
    }
}

impl SinkOutlet {
    /// Encode `events` and send them, or add them to the pending batch.
    pub async fn deliver_events(&mut self, events: &[Event]) -> Result<(), DeliveryError> {
        let group = EncodedGroup::of(&self.encoder, &self.filter, events);
        self.deliver_encoded(&group).await
    }

    /// How this sink's records are made.
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// Send a group's records, or add them to the pending batch. Encoded once, they may
    /// be handed to every sink of the same encoding (a shared reader's group).
    pub async fn deliver_encoded(&mut self, group: &EncodedGroup) -> Result<(), DeliveryError> {
        self.stats
            .received
            .fetch_add(group.events + group.filtered, Ordering::Relaxed);
        self.stats
            .filtered
            .fetch_add(group.filtered, Ordering::Relaxed);
        self.stats
            .truncated
            .fetch_add(group.truncated, Ordering::Relaxed);
        let batch = &group.batch;
        if self.batching == Batching::IMMEDIATE {
            // A group the filter emptied has nothing to send; its cursor is committed as
            // any other's.
            if !batch.is_empty() {
                self.send(batch).await?;
            }
            self.stats
                .delivered
                .fetch_add(group.events, Ordering::Relaxed);
        } else {
            if self.sink.stages() {
                self.stage(batch).await?;
            } else {
                self.pending.extend(batch.records().iter().cloned());
            }
            self.pending_since.get_or_insert_with(Instant::now);
            self.pending_bytes += batch.payload_bytes();
            self.pending_len += batch.len();
            self.pending_events += group.events;
            // A full batch goes now (with the cursor committed before it, which it covers).
            if self.pending_bytes >= self.batching.max_bytes
                || self.pending_len >= self.batching.max_events.max(1)
            {
                self.flush().await?;
            }
        }
        if let Some(newest) = group.newest {
            let micros = u64::try_from(newest.timestamp_micros()).unwrap_or(0);
            self.stats
                .newest_micros
                .fetch_max(micros, Ordering::Relaxed);
        }
        Ok(())
    }
}

impl Outlet for SinkOutlet {
    type Error = DeliveryError;

    async fn deliver(&mut self, events: Vec<Event>) -> Result<(), DeliveryError> {
        self.deliver_events(&events).await
    }

    async fn commit(&mut self, cursor: &Cursor) -> Result<(), DeliveryError> {
        self.pending_cursor = Some(cursor.clone());
        let save_due = self
            .saved_at
            .is_none_or(|at| at.elapsed() >= self.save_interval);
        if (self.pending_len == 0 && save_due) || (self.pending_len > 0 && self.due()) {
            self.flush().await?;
        }
        Ok(())
    }
}

/// Run a local write (a checkpoint, the dead-letter file) until it succeeds, or fails in
/// a way that `permanent` says no retry fixes.
///
/// A full or read-only disk is an operator's fix away. Stopping the stream instead would
/// not lose anything, but its restart would send again all that was delivered since the
/// last checkpoint, and a crash loop would do so each time. So the stream waits here,
/// holding its place, with one error line and one `component_errors_total` per attempt.
/// Shutdown cancels the wait (the caller is cancelled), and the checkpoint stays before
/// what it could not cover.
async fn persist<E: std::fmt::Display + Send + 'static>(
    stats: &StreamStats,
    sink: &str,
    error_type: &'static str,
    what: &str,
    write: impl Fn() -> Result<(), E> + Send + Sync + Clone + 'static,
    permanent: impl Fn(&E) -> bool,
) -> Result<(), E> {
    use backon::BackoffBuilder;
    let mut delays = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(30))
        .with_jitter()
        .without_max_times()
        .build();
    let mut failures = 0u64;
    loop {
        let attempt = write.clone();
        let result = match tokio::task::spawn_blocking(attempt).await {
            Ok(Err(e)) if permanent(&e) => {
                crate::ops::metrics::sink_error(sink, error_type);
                return Err(e);
            }
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(e) => Err(format!("the writing task failed: {e}")),
        };
        match result {
            Ok(()) => {
                if failures > 0 {
                    stats.failing.store(false, Ordering::Relaxed);
                    tracing::info!(sink, failures, "{what} written after failing");
                }
                return Ok(());
            }
            Err(e) => {
                failures += 1;
                stats.failing.store(true, Ordering::Relaxed);
                crate::ops::metrics::sink_error(sink, error_type);
                let delay = delays.next().unwrap_or(Duration::from_secs(30));
                tracing::error!(
                    sink,
                    retry_in = ?delay,
                    failures,
                    "{what} could not be written, the stream waits: {e}"
                );
                tokio::time::sleep(delay).await;
            }
        }
    }
}

#[cfg(test)]
mod tests;
