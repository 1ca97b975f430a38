//! The outcome of one delivery attempt.

use std::time::Duration;

/// What a sink says after trying to deliver a batch.
///
/// Each sink maps its peer's answers onto these three with a small, tested rule; the
/// retry loop and the checkpoint coordinator act on nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The peer durably has every record of the batch: the checkpoint may move past it.
    Delivered,
    /// The peer durably has every record except `dead`, which it will never accept as they
    /// are (larger than it takes, invalid). Those go to the dead-letter file with their
    /// reasons; then the checkpoint may move past the batch.
    PartlyDelivered { dead: Vec<DeadRecord> },
    /// A transient failure (peer down, busy, throttling). Try the same batch again, no
    /// sooner than `after` when the peer said when.
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// The peer will never accept this batch as it is (bad credentials, a permanently
    /// invalid payload). Retrying cannot help; the batch must not be counted as delivered.
    Reject { reason: String },
}

/// A record the peer refused for good, by its index in the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadRecord {
    pub index: usize,
    pub reason: String,
}

impl Delivery {
    pub fn retry(reason: impl Into<String>) -> Self {
        Self::Retry {
            after: None,
            reason: reason.into(),
        }
    }

    pub fn reject(reason: impl Into<String>) -> Self {
        Self::Reject {
            reason: reason.into(),
        }
    }
}
