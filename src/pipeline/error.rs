//! Why delivery to a sink stopped a stream, by kind, so that `run` can tell a fenced
//! leader from a refused batch without reading text.

use std::time::Duration;

use sink_core::SendError;

use crate::checkpoint::CheckpointError;
use crate::coder::TailError;

/// Why an outlet stopped: what [`crate::coder::Outlet::Error`] is for every sink.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The sink refused a batch for good, or kept failing past its retry budget.
    #[error("delivery failed: {0}")]
    Send(SendError),
    /// A checkpoint write failed for good: this replica is no longer the leader
    /// ([`CheckpointError::Fenced`]).
    #[error("checkpoint write failed: {0}")]
    Checkpoint(CheckpointError),
    /// Records the sink refused could not be kept in its dead-letter file.
    #[error("delivery failed: {0}")]
    DeadLetter(std::io::Error),
    /// The sink's delivery task is gone (it stopped on an error of its own, given apart).
    #[error("delivery failed: the sink's delivery task stopped")]
    OutletStopped,
    /// The sink's delivery task panicked.
    #[error("delivery failed: the sink's delivery task failed: {0}")]
    DeliveryTask(tokio::task::JoinError),
    /// Stopping, the sink did not take what it held within `shutdown_timeout`.
    #[error(
        "delivery failed: pending records not sent within shutdown_timeout ({0:?}) of \
         stopping; the checkpoint stays before them and the next start reads them again"
    )]
    ShutdownTimeout(Duration),
}

/// Why a stream of the pipeline stopped.
pub type StreamError = TailError<DeliveryError>;
