//! One call to Coder's API: what the client needs besides the path to make it, retry it
//! and count it against the request budget.

use super::Stream;
use super::budget::Purpose;

/// One call to Coder's API, as `CoderClient::get_parsed` makes it.
pub(super) struct Call<'a> {
    pub path: &'a str,
    pub params: &'a [(&'a str, String)],
    /// Read a successful body through a skimmer (`super::skim`) with this field budget.
    pub skim: Option<usize>,
    /// POST this JSON instead of a GET.
    pub post: Option<&'a str>,
    /// A time-out comes back as `CoderError::TimedOut` instead of being tried again.
    pub timeout_returns: bool,
    /// The stream it reads, for `coder_requests_total`; `None` for the control calls.
    pub stream: Option<Stream>,
    pub purpose: Purpose,
}

impl<'a> Call<'a> {
    /// A GET of `path` about Coder itself or the token ([`Purpose::Control`]).
    pub fn control(path: &'a str) -> Self {
        Call {
            path,
            params: &[],
            skim: None,
            post: None,
            timeout_returns: false,
            stream: None,
            purpose: Purpose::Control,
        }
    }

    /// A page of `stream`'s endpoint with the query `params`, read whole and retried on a
    /// time-out (the page requests set `skim` and `timeout_returns` as they need).
    pub fn page(stream: Stream, purpose: Purpose, params: &'a [(&'a str, String)]) -> Self {
        Call {
            path: stream.path(),
            params,
            skim: None,
            post: None,
            timeout_returns: false,
            stream: Some(stream),
            purpose,
        }
    }
}
