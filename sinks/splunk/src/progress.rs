//! A batch's progress between delivery attempts.
//!
//! After a transient failure the retry loop hands the sink the same batch again. What HEC
//! already took must not go out again: a request answered 200 with an ackId is still
//! waited for (its ack may yet come), records HEC refused for good stay dead-lettered, and
//! only the requests that were refused, timed out or never sent are sent. Without this, a
//! 503 on the tenth request of a batch would resend the nine before it, which HEC had
//! already indexed.

use std::collections::VecDeque;

use sink_core::{Batch, DeadRecord};

use crate::ack::Pending;
use crate::envelope::Request;

pub struct Progress {
    /// [`Batch::fingerprint`] of the batch this is the progress of.
    batch: u64,
    /// Requests to send, in order.
    pub todo: VecDeque<Request>,
    /// Requests HEC took, awaiting their indexer acknowledgement.
    pub pending: Pending<Request>,
    /// Records HEC refused for good.
    pub dead: Vec<DeadRecord>,
}

impl Progress {
    pub fn new(batch: &Batch, requests: Vec<Request>) -> Self {
        Progress {
            batch: batch.fingerprint(),
            todo: requests.into(),
            pending: Pending::default(),
            dead: Vec::new(),
        }
    }

    /// Whether this is `batch`'s progress (a retry), not an earlier batch's.
    pub fn is_for(&self, batch: &Batch) -> bool {
        self.batch == batch.fingerprint()
    }
}
