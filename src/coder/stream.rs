//! Which of Coder's two logs a tailer walks.
//!
//! Since v2.25 Coder keeps SSH, IDE, web-terminal, app and port-forward connections in a
//! table of their own (`GET /api/v2/connectionlog`), out of the audit log. Both endpoints
//! page the same way (offset paging, newest first, no tie-breaker), so one tailer walks
//! either; what differs is the path, the list's name in the response, the time column and
//! the filter that narrows a scan to a time window.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// `GET /api/v2/audit`, ordered by `time`.
    Audit,
    /// `GET /api/v2/connectionlog`, ordered by `connect_time`; rows change after they are
    /// written (the disconnect is filled in later).
    Connection,
}

impl Stream {
    /// The name used in checkpoints, metrics labels and logs.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Audit => "audit",
            Stream::Connection => "connection",
        }
    }

    /// The API path, relative to the deployment's URL.
    pub(crate) fn path(self) -> &'static str {
        match self {
            Stream::Audit => "api/v2/audit",
            Stream::Connection => "api/v2/connectionlog",
        }
    }

    /// The name of the list in a response page.
    pub(crate) fn list_field(self) -> &'static str {
        match self {
            Stream::Audit => "audit_logs",
            Stream::Connection => "connection_logs",
        }
    }
}

impl std::fmt::Display for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A time as a connection-log filter value: RFC 3339 with µs, quoted, because Coder's `q`
/// grammar splits each term at its only colon. (Coder lower-cases the whole query and
/// upper-cases these values again before parsing them.)
pub(crate) fn filter_time(t: DateTime<Utc>) -> String {
    format!("\"{}\"", t.to_rfc3339_opts(SecondsFormat::Micros, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_times_are_quoted_rfc3339_with_microseconds() {
        let t = DateTime::parse_from_rfc3339("2026-01-01T23:59:59.5Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(filter_time(t), "\"2026-01-01T23:59:59.500000Z\"");
    }
}
