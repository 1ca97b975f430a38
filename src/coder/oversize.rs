//! Pages larger than `coder.max_response_bytes`.
//!
//! A page of 100 entries with template-version diffs can pass any cap, and refusing it
//! would stop the stream on that page for ever (a restart asks for the same page). So a
//! page that does not fit is asked for again with half the rows, down to one; the tailer
//! goes back up to its page size afterwards. Only a single entry larger than the cap
//! cannot be made to fit that way: it is read through a [`super::skim::Skimmer`], shipped
//! without its oversized fields and marked, counted as `oversized_entry`, and the stream
//! moves on.
//!
//! A page that takes longer than `coder.request_timeout` is asked for with half the rows
//! too, instead of again at the same size for ever.
//!
//! A scan that must read a group of rows sharing one time in one answer (see
//! [`super::Tailer`]) cannot take fewer rows: such a request is skimmed at once instead.

use super::budget::Purpose;
use super::client::OnTimeout;
use super::skim::Elided;
use super::{CoderClient, CoderError, Oversized, Page, Stream};

/// A page, and how many rows were asked for to get it (fewer than wanted when the page
/// had to shrink).
pub(super) struct Fetched {
    pub page: Page,
    pub rows_asked: u32,
}

/// The smallest and largest value a skimmed field may keep.
const MIN_FIELD_BUDGET: u64 = 4 * 1024;
const MAX_FIELD_BUDGET: u64 = 1024 * 1024;

/// One page of up to `limit` rows at `offset`, shrunk to fit (see the module doc). With
/// `whole`, exactly `limit` rows are asked for, skimmed if they do not fit.
pub(super) async fn fetch(
    client: &CoderClient,
    stream: Stream,
    purpose: Purpose,
    q: &str,
    offset: u64,
    limit: u32,
    whole: bool,
) -> Result<Fetched, CoderError> {
    let mut rows = limit.max(1);
    loop {
        // A request that can take fewer rows gives up on a time-out at once: a page too
        // slow to serve (diffs with a template's README) times out every time.
        let on_timeout = if rows > 1 && !whole {
            OnTimeout::Return
        } else {
            OnTimeout::Retry
        };
        let page = client
            .page(stream, purpose, q, offset, rows, on_timeout)
            .await;
        match page {
            Ok(page) => {
                return Ok(Fetched {
                    page,
                    rows_asked: rows,
                });
            }
            Err(CoderError::TooLarge { .. }) if rows > 1 && !whole => {
                tracing::info!(
                    %stream,
                    offset,
                    rows,
                    limit = client.max_response_bytes(),
                    "a page is larger than coder.max_response_bytes: asking for half the rows"
                );
                rows /= 2;
            }
            Err(CoderError::TimedOut { .. }) => {
                tracing::info!(
                    %stream,
                    offset,
                    rows,
                    "a page took longer than coder.request_timeout: asking for half the rows"
                );
                rows /= 2;
            }
            Err(CoderError::TooLarge { .. }) => {
                let page = skimmed(client, stream, purpose, q, offset, rows).await?;
                return Ok(Fetched {
                    page,
                    rows_asked: rows,
                });
            }
            Err(e) => return Err(e),
        }
    }
}

/// The page read through the skimmer, its oversized entries marked. The tailer counts
/// and logs them once, when it hands them on (a tie group may be read more than once).
async fn skimmed(
    client: &CoderClient,
    stream: Stream,
    purpose: Purpose,
    q: &str,
    offset: u64,
    rows: u32,
) -> Result<Page, CoderError> {
    // Room for about 32 fields of this size per row within the cap.
    let budget = (client.max_response_bytes() / (u64::from(rows) * 32))
        .clamp(MIN_FIELD_BUDGET, MAX_FIELD_BUDGET);
    let (mut page, elided) = client
        .page_skimmed(
            stream,
            purpose,
            q,
            offset,
            rows,
            usize::try_from(budget).unwrap_or(usize::MAX),
        )
        .await?;
    for Elided {
        index,
        fields,
        original_bytes,
    } in elided
    {
        let Some(event) = page.events.get_mut(index) else {
            continue;
        };
        tracing::debug!(%stream, id = %event.key, bytes = original_bytes, ?fields, "read skimmed");
        let oversized = Oversized {
            fields_omitted: fields,
            original_bytes,
        };
        if let Some(a) = event.audit_mut() {
            a.oversized = Some(oversized.clone());
        }
        event.oversized = Some(oversized);
    }
    Ok(page)
}
