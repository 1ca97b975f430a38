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
