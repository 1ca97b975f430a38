//! The page requests of Coder's two log endpoints (`/api/v2/audit`, `/api/v2/connectionlog`):
//! the query a page is asked with, and which of the client's retry rules it gets (a page
//! read whole or skimmed, a timeout retried or handed back for a smaller page). Kept apart
//! from the client itself, which is about sending, budgets and retries for any endpoint.

use super::super::Stream;
use super::super::budget::Purpose;
use super::super::call::Call;
use super::super::page::{Page, parse_stream_page_as};
use super::super::skim::Elided;
use super::{CoderClient, CoderError};

/// What a page request that times out does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnTimeout {
    /// It is tried again at the same size, as any other transient failure.
    Retry,
    /// It comes back as [`CoderError::TimedOut`], for the caller to ask for fewer rows (a
    /// page that is too slow to serve would time out every time).
    Return,
}

impl CoderClient {
    /// One page of `GET /api/v2/audit?q=…&limit=…&offset=…`, retried until it is a valid
    /// page or a non-retriable error.
    pub async fn audit_page(
        &self,
        purpose: Purpose,
        q: &str,
        offset: u64,
        limit: u32,
    ) -> Result<Page, CoderError> {
        self.page(Stream::Audit, purpose, q, offset, limit, OnTimeout::Retry)
            .await
    }

    /// The page [`Self::page`] would return, read through a [`Skimmer`](super::super::skim::Skimmer): every field of an
    /// entry larger than `field_budget` bytes is left out (`null`) and the entry marked, so
    /// an entry larger than `coder.max_response_bytes` can still be shipped. The entries
    /// that lost fields come back with what they lost.
    pub async fn page_skimmed(
        &self,
        stream: Stream,
        purpose: Purpose,
        q: &str,
        offset: u64,
        limit: u32,
        field_budget: usize,
    ) -> Result<(Page, Vec<Elided>), CoderError> {
        let params = page_params(q, offset, limit);
        let call = Call {
            skim: Some(field_budget),
            ..Call::page(stream, purpose, &params)
        };
        let reading = self.options.audit_reading;
        self.get_parsed(call, |body| {
            let (body, elided) = body.into_parts();
            parse_stream_page_as(stream, body, reading).map(|page| (page, elided))
        })
        .await
    }

    /// One page of `stream`'s endpoint, as [`Self::audit_page`]; `on_timeout` says what a
    /// request that times out does.
    pub async fn page(
        &self,
        stream: Stream,
        purpose: Purpose,
        q: &str,
        offset: u64,
        limit: u32,
        on_timeout: OnTimeout,
    ) -> Result<Page, CoderError> {
        let params = page_params(q, offset, limit);
        let call = Call {
            timeout_returns: on_timeout == OnTimeout::Return,
            ..Call::page(stream, purpose, &params)
        };
        let reading = self.options.audit_reading;
        self.get_parsed(call, |body| {
            parse_stream_page_as(stream, body.into_bytes(), reading)
        })
        .await
    }
}

/// The query of one page request.
fn page_params(q: &str, offset: u64, limit: u32) -> [(&'static str, String); 3] {
    [
        ("q", q.to_owned()),
        ("limit", limit.to_string()),
        ("offset", offset.to_string()),
    ]
}
