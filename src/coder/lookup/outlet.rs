//! The look-ups between a tailer and its outlet: every delivery of a stream (a scan's
//! pages, the session sweep's disconnects, the late sweep's rows) passes through
//! [`Lookups::attach`] first, so every event leaves with what Coder said of its ids.

use std::sync::Arc;

use super::Lookups;
use crate::coder::{Cursor, Event, Outlet};

/// `outlet`, with look-ups before each delivery.
pub struct Enriching<'o, O> {
    pub outlet: &'o mut O,
    pub lookups: &'o Arc<Lookups>,
}

impl<O: Outlet + Send> Outlet for Enriching<'_, O> {
    type Error = O::Error;

    async fn deliver(&mut self, mut events: Vec<Event>) -> Result<(), Self::Error> {
        self.lookups.attach(&mut events).await;
        self.outlet.deliver(events).await
    }

    async fn commit(&mut self, cursor: &Cursor) -> Result<(), Self::Error> {
        self.outlet.commit(cursor).await
    }
}
