//! The `Sink` trait.

use async_trait::async_trait;

use crate::{Batch, Delivery};

/// A destination for audit events.
///
/// `deliver` must be safe to call again with the same batch after any outcome: delivery is
/// at-least-once, and a batch whose outcome was lost (crash, timeout) is sent again.
#[async_trait]
pub trait Sink: Send {
    /// The sink's name from the config (`[sinks.NAME]`), used in logs, metrics and
    /// checkpoint keys.
    fn name(&self) -> &str;

    /// Try once to deliver `batch`. Never panics on a peer's answer; maps it to a
    /// [`Delivery`].
    async fn deliver(&mut self, batch: &Batch) -> Delivery;

    /// Whether this sink gathers a batch itself ([`Self::stage`], [`Self::deliver_staged`])
    /// instead of the pipeline holding its records in memory until the batch is due.
    ///
    /// A sink whose batches are large and slow to fill (Security Lake's files, five minutes
    /// of events or more) keeps them on disk this way, so memory does not grow with the
    /// batch. What is staged is delivered only by `deliver_staged`: the checkpoint still
    /// waits for it, and a crash loses only what Coder still has.
    fn stages(&self) -> bool {
        false
    }

    /// Add `batch` to the batch being gathered (for a sink that [`Self::stages`]).
    ///
    /// `Delivered`: all of it is staged. `PartlyDelivered`: all but `dead`, which can never
    /// be delivered (the caller dead-letters them now). `Retry`: none of it is staged
    /// (a failed attempt leaves nothing behind), try again. `Reject`: give up.
    async fn stage(&mut self, batch: &Batch) -> Delivery {
        let _ = batch;
        Delivery::reject(format!("sink {} does not stage batches", self.name()))
    }

    /// Deliver everything staged since the last `deliver_staged` that succeeded, and
    /// forget it. Answers `Delivered`, `Retry` (everything stays staged, to be delivered
    /// by the next call) or `Reject`; its records were dead-lettered by `stage` if ever.
    async fn deliver_staged(&mut self) -> Delivery {
        Delivery::Delivered
    }

    /// Check that the peer is reachable and accepts us (for `validate`), without sending
    /// an event. The default has nothing to check.
    async fn check(&mut self) -> Result<(), String> {
        Ok(())
    }

    /// How many records this sink has delivered cut short to fit its transport (a syslog
    /// datagram), since it was built. Counted, never silent.
    fn truncated(&self) -> u64 {
        0
    }

    /// A live count of requests sent and still awaiting the peer's acknowledgement (HEC
    /// indexer acks), for the `component_pending_acks` gauge; `None` for sinks without
    /// acknowledgements.
    fn pending_acks(&self) -> Option<std::sync::Arc<std::sync::atomic::AtomicU64>> {
        None
    }

    /// Flush and release resources before shutdown. The default does nothing.
    async fn close(&mut self) -> Result<(), String> {
        Ok(())
    }
}
