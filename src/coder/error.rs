//! What can go wrong talking to Coder, and which of it is worth retrying.

use std::time::Duration;

/// One failed request to Coder. [`CoderError::retry`] is the rule the client retries by.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CoderError {
    #[error(
        "Coder rejected the session token (401): {message}. Create a long-lived token for a user with the Auditor role (`coder tokens create --lifetime 8760h`: since about v2.35 a token no longer extends its expiry with use, and the default lifetime is 7 days) and set coder.token_file, coder.token or CODER_SESSION_TOKEN"
    )]
    Unauthorized { message: String },
    #[error(
        "Coder refused access to {path} (403): {message}. The token's user needs the Auditor or Owner role (organization auditors cannot see deployment-level events)"
    )]
    Forbidden { path: String, message: String },
    #[error("Coder has no {path} (404): {message}. Is coder.url a Coder deployment of v2.x?")]
    NotFound { path: String, message: String },
    #[error("Coder rejected the request {path} ({status}): {message}")]
    Rejected {
        path: String,
        status: u16,
        message: String,
    },
    #[error("Coder rate-limited the request (429): {message}")]
    RateLimited {
        retry_after: Option<Duration>,
        message: String,
    },
    #[error("Coder answered {status}: {message}")]
    Server { status: u16, message: String },
    #[error("request to Coder failed: {0}")]
    Transport(String),
    #[error("Coder did not answer {path} within coder.request_timeout")]
    TimedOut { path: String },
    #[error(
        "Coder answered {status} to {path}, redirecting to {location}: redirects are not followed, since the session token would go along; set coder.url to the address that answers"
    )]
    Redirected {
        path: String,
        status: u16,
        location: String,
    },
    #[error("Coder's response to {path} is not a valid page: {reason}")]
    Malformed { path: String, reason: String },
    #[error(
        "Coder's response to {path} exceeds coder.max_response_bytes ({limit} bytes); raise it or lower coder.page_size"
    )]
    TooLarge { path: String, limit: u64 },
}

/// Whether to try again, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    No,
    /// After the backoff's own delay.
    Backoff,
    /// After exactly this long (the server said so).
    After(Duration),
}

impl CoderError {
    pub fn retry(&self) -> Retry {
        match self {
            CoderError::RateLimited {
                retry_after: Some(d),
                ..
            } => Retry::After(*d),
            CoderError::RateLimited { .. }
            | CoderError::Server { .. }
            | CoderError::Transport(_)
            | CoderError::TimedOut { .. }
            | CoderError::Malformed { .. } => Retry::Backoff,
            CoderError::Unauthorized { .. }
            | CoderError::Forbidden { .. }
            | CoderError::NotFound { .. }
            | CoderError::Rejected { .. }
            | CoderError::Redirected { .. }
            | CoderError::TooLarge { .. } => Retry::No,
        }
    }

    /// A short label for logs and metrics (`error_kind`).
    pub fn kind(&self) -> &'static str {
        match self {
            CoderError::Unauthorized { .. } => "unauthorized",
            CoderError::Forbidden { .. } => "forbidden",
            CoderError::NotFound { .. } => "not_found",
            CoderError::Rejected { .. } => "rejected",
            CoderError::RateLimited { .. } => "rate_limited",
            CoderError::Server { .. } => "server_error",
            CoderError::Transport(_) => "transport",
            CoderError::TimedOut { .. } => "timeout",
            CoderError::Redirected { .. } => "redirected",
            CoderError::Malformed { .. } => "malformed_response",
            CoderError::TooLarge { .. } => "response_too_large",
        }
    }

    /// Map an HTTP error status and Coder's `{message, detail}` body to an error.
    pub fn from_status(
        path: &str,
        status: u16,
        body: &[u8],
        retry_after: Option<Duration>,
    ) -> Self {
        let message = error_message(body);
        let path = path.to_owned();
        match status {
            401 => CoderError::Unauthorized { message },
            403 => CoderError::Forbidden { path, message },
            404 => CoderError::NotFound { path, message },
            429 => CoderError::RateLimited {
                retry_after,
                message,
            },
            408 | 500..=599 => CoderError::Server { status, message },
            _ => CoderError::Rejected {
                path,
                status,
                message,
            },
        }
    }
}

/// Coder's `codersdk.Response` message (and detail); a short excerpt of anything else.
fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Response {
        message: Option<String>,
        detail: Option<String>,
    }
    match serde_json::from_slice::<Response>(body) {
        Ok(Response {
            message: Some(m),
            detail,
        }) => match detail.filter(|d| !d.is_empty()) {
            Some(d) => format!("{m} ({d})"),
            None => m,
        },
        _ => {
            let text = String::from_utf8_lossy(body);
            let excerpt: String = text.chars().take(200).collect();
            format!("unexpected body: {excerpt:?}")
        }
    }
}

/// `Retry-After` as delta-seconds (what go-chi/httprate sends) or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// A URL as it may be shown: without its query, which could carry a token.
pub(super) fn without_query(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or(url).to_owned()
}

/// A failed exchange: a time-out on its own (the caller may ask for less), anything else
/// as a transport error.
pub(super) fn transport_error(path: &str, e: reqwest::Error) -> CoderError {
    if e.is_timeout() {
        CoderError::TimedOut {
            path: path.to_owned(),
        }
    } else if sink_core::tls::untrusted_certificate(&e) {
        CoderError::Transport(format!(
            "{}: Coder's TLS certificate is not trusted; set coder.tls_ca_file to the CA that signed it",
            describe(e)
        ))
    } else {
        CoderError::Transport(describe(e))
    }
}

/// reqwest's error with its causes, but never the URL's query (it may carry a token when a
/// user puts one there) and never a header.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_rule() {
        let e = |status| CoderError::from_status("/api/v2/audit", status, b"{}", None);
        assert_eq!(e(401).retry(), Retry::No);
        assert_eq!(e(403).retry(), Retry::No);
        assert_eq!(e(404).retry(), Retry::No);
        assert_eq!(e(400).retry(), Retry::No);
        assert_eq!(e(429).retry(), Retry::Backoff);
        assert_eq!(e(500).retry(), Retry::Backoff);
        assert_eq!(e(502).retry(), Retry::Backoff);
        assert_eq!(e(503).retry(), Retry::Backoff);
        assert_eq!(e(408).retry(), Retry::Backoff);
        let limited =
            CoderError::from_status("/api/v2/audit", 429, b"{}", Some(Duration::from_secs(60)));
        assert_eq!(limited.retry(), Retry::After(Duration::from_secs(60)));
    }

    #[test]
    fn messages_come_from_coders_body() {
        let e = CoderError::from_status(
            "/api/v2/audit",
            403,
            br#"{"message":"Forbidden.","detail":"You don't have permission"}"#,
            None,
        );
        let text = e.to_string();
        assert!(
            text.contains("Forbidden. (You don't have permission)"),
            "{text}"
        );
        let e = CoderError::from_status("/x", 502, b"<html>bad gateway</html>", None);
        assert!(e.to_string().contains("bad gateway"));
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("60"), Some(Duration::from_secs(60)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
