//! Where a scan's entries go, and why a stream stops: the contract between the tailer (and
//! the session and late sweeps) and whoever delivers, the pipeline's outlet for one sink.

use super::{CoderError, Cursor, Event};

/// Where new entries go. Implemented by the pipeline for each sink.
pub trait Outlet {
    /// What a delivery or a commit fails with (the pipeline's `DeliveryError`).
    type Error: std::error::Error + Send + Sync + 'static;

    /// Deliver these entries; `Ok` means the sink confirmed every one of them.
    fn deliver(
        &mut self,
        events: Vec<Event>,
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send;

    /// Durably record the cursor. Called only after the entries it covers were delivered.
    fn commit(
        &mut self,
        cursor: &Cursor,
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send;
}

/// Why a stream stopped: Coder, or the outlet it delivers to.
#[derive(Debug, thiserror::Error)]
pub enum TailError<E> {
    /// An answer from Coder that retrying cannot fix (401, 403, 404, 400, too large).
    #[error(transparent)]
    Coder(#[from] CoderError),
    /// The outlet failed: a sink refused a batch, a checkpoint could not be written.
    #[error(transparent)]
    Outlet(E),
}
