//! What an intake's status means (the retry rule). A generic intake has nothing but its
//! status code to say, so the rule is HTTP's own (RFC 9110 §15, RFC 6585 §4), checked
//! against the intakes the README configures:
//!
//! | status | meaning | here |
//! | --- | --- | --- |
//! | 2xx | accepted (Datadog 202, Azure Monitor Logs Ingestion 204, Sumo Logic 200) | delivered |
//! | 408, 425, 429, 5xx | try later (RFC 9110 §15.5.9, RFC 8470 §5.2, RFC 6585 §4, §15.6; Sumo: 429 is quota throttling, 503/504 server issues; Datadog: "5xx: request should be retried") | retry, `Retry-After` honoured |
//! | 413 | the request is too large (RFC 9110 §15.5.14; Datadog: over 5 MB) | split it; one record alone is dead-lettered |
//! | 401, 403, 407 | credentials (Sumo: 401 "missing or invalid URL token"; Datadog: 403 "invalid API key") | fatal: every event would fail alike |
//! | 404, 405, 410, 415 | the URL, method or encoding is wrong for this intake | fatal, naming `uri` / `encoding` |
//! | 3xx | a redirect (not followed: the auth header would go along, and a redirected POST loses its body) | fatal, naming `uri` |
//! | other 4xx (400, 409, 422, …) | the content (Datadog: 400 "an issue in the payload formatting") | the records are refused: split to find which, dead-letter those alone |

use std::time::Duration;

use crate::transport::excerpt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Accepted,
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    TooLarge,
    /// The intake refuses what the request carries; with one record, that record.
    Refused {
        reason: String,
    },
    Fatal {
        reason: String,
    },
}

/// The rule on a status, the reply's body (for the message) and a `Retry-After`.
pub fn classify(status: u16, body: &[u8], retry_after: Option<Duration>) -> Reply {
    let said = excerpt(body);
    let what = if said.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {said}")
    };
    match status {
        200..=299 => Reply::Accepted,
        408 | 425 | 429 | 500..=599 => Reply::Retry {
            after: retry_after,
            reason: what,
        },
        413 => Reply::TooLarge,
        401 | 403 | 407 => Reply::Fatal {
            reason: format!(
                "{what}; the intake refused the credentials: check auth_file / auth and \
                 auth_header (or the token inside uri_file)"
            ),
        },
        404 | 405 | 410 => Reply::Fatal {
            reason: format!("{what}; no intake takes a POST at this address: check uri"),
        },
        415 => Reply::Fatal {
            reason: format!(
                "{what}; the intake does not take this body: check encoding and the \
                 Content-Type in headers"
            ),
        },
        300..=399 => Reply::Fatal {
            reason: format!(
                "{what}; the intake redirected the request, and redirects are not followed \
                 (the credentials would go along): set uri to the address that answers"
            ),
        },
        400..=499 => Reply::Refused { reason: what },
        _ => Reply::Retry {
            after: retry_after,
            reason: format!("{what} (not a status this sink knows)"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(status: u16) -> Reply {
        classify(status, b"", None)
    }

    #[test]
    fn the_rule() {
        for ok in [200, 202, 204] {
            assert_eq!(c(ok), Reply::Accepted, "{ok}");
        }
        for later in [408, 425, 429, 500, 502, 503, 504] {
            assert!(matches!(c(later), Reply::Retry { .. }), "{later}");
        }
        assert_eq!(c(413), Reply::TooLarge);
        for fatal in [301, 307, 401, 403, 404, 405, 407, 410, 415] {
            assert!(matches!(c(fatal), Reply::Fatal { .. }), "{fatal}");
        }
        for refused in [400, 409, 422] {
            assert!(matches!(c(refused), Reply::Refused { .. }), "{refused}");
        }
        assert!(matches!(c(199), Reply::Retry { .. }));
    }

    #[test]
    fn the_reason_quotes_the_reply_and_retry_after_is_passed_on() {
        let r = classify(
            400,
            br#"{"error":{"code":"InvalidStream"}}"#,
            Some(Duration::from_secs(3)),
        );
        assert_eq!(
            r,
            Reply::Refused {
                reason: r#"HTTP 400: {"error":{"code":"InvalidStream"}}"#.into()
            }
        );
        let r = classify(429, b"", Some(Duration::from_secs(3)));
        assert_eq!(
            r,
            Reply::Retry {
                after: Some(Duration::from_secs(3)),
                reason: "HTTP 429".into()
            }
        );
    }
}
