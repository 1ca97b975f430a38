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
