//! One page of `GET /api/v2/audit`, split into events without losing a byte.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{AuditEntry, EntryKey};

/// One audit entry as it travels through the pipeline.
#[derive(Debug, Clone)]
pub struct Event {
    /// The entry's JSON exactly as Coder sent it (a slice of the response body, no copy):
    /// what `format = "raw"` ships.
    pub raw: Bytes,
    pub entry: AuditEntry,
    /// The dedupe key: the audit `id`, or a digest of `raw` for an entry without one.
    pub key: EntryKey,
    /// The entry's `time` in UTC, when it parses.
    pub time: Option<DateTime<Utc>>,
}

/// A parsed page. `count` is kept for logs only: it is 0 on empty pages before v2.25 and
/// capped at 2001 since v2.32, so the tailer never decides anything from it.
#[derive(Debug)]
pub struct AuditPage {
    pub events: Vec<Event>,
    pub count: Option<i64>,
}

#[derive(Deserialize)]
struct Wire<'a> {
    /// A Go nil slice encodes as `null`: read it as an empty page.
    #[serde(borrow, default)]
    audit_logs: Option<Vec<&'a RawValue>>,
    #[serde(default)]
    count: Option<i64>,
}

/// Parse a response body. Fails only when the body as a whole is not an audit page (not
/// JSON, truncated, no `audit_logs`): then nothing in it can be trusted and the request is
/// retried. A single odd entry inside a valid page never fails the page.
pub fn parse_page(body: Bytes) -> Result<AuditPage, String> {
    // Coder (Go) never sends invalid UTF-8, but a proxy or a broken replica might. Waiting
    // would stall the stream on that page for ever; the bytes that are not UTF-8 become
    // U+FFFD instead (what Go's encoder does), with a warning, and the page goes through.
    let body = match std::str::from_utf8(&body) {
        Ok(_) => body,
        Err(e) => {
            crate::ops::metrics::coder_error("invalid_utf8");
            tracing::warn!(
                "Coder's page is not valid UTF-8 ({e}): the invalid bytes are shipped as U+FFFD"
            );
            Bytes::from(String::from_utf8_lossy(&body).into_owned())
        }
    };
    let text = std::str::from_utf8(&body).map_err(|e| format!("not UTF-8: {e}"))?;
    let wire: Wire = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let Some(entries) = wire.audit_logs else {
        if text.contains("\"audit_logs\"") {
            return Ok(AuditPage {
                events: Vec::new(),
                count: wire.count,
            });
        }
        return Err("no audit_logs field".into());
    };
    let base = text.as_ptr() as usize;
    let events = entries
        .into_iter()
        .map(|raw| {
            let json = raw.get();
            let start = json.as_ptr() as usize - base;
            let raw = body.slice(start..start + json.len());
            let entry = AuditEntry::parse(json);
            if !entry.unreadable.is_empty() {
                crate::ops::metrics::coder_error("unreadable_field");
                tracing::warn!(
                    id = entry.id.as_deref().unwrap_or(""),
                    fields = ?entry.unreadable,
                    "audit entry fields nested too deep to read: shipped raw, normalized without them"
                );
            }
            let key = match entry.id.as_deref() {
                Some(id) if !id.is_empty() => EntryKey::from_id(id),
                _ => EntryKey::digest(&raw),
            };
            let time = entry
                .time
                .as_deref()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc));
            Event {
                raw,
                entry,
                key,
                time,
            }
        })
        .collect();
    Ok(AuditPage {
        events,
        count: wire.count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_bytes_are_kept_exactly() {
        let body = Bytes::from_static(
            br#"{"audit_logs":[ {"id":"7c9a8f1e-0000-4000-8000-000000000001","time":"2026-01-01T10:00:00+02:00","description":"a \u0026 b"} ],"count":1}"#,
        );
        let page = parse_page(body).unwrap();
        let e = &page.events[0];
        assert_eq!(
            &e.raw[..],
            br#"{"id":"7c9a8f1e-0000-4000-8000-000000000001","time":"2026-01-01T10:00:00+02:00","description":"a \u0026 b"}"#
        );
        assert_eq!(e.entry.description.as_deref(), Some("a & b"));
        assert_eq!(e.time.unwrap().to_rfc3339(), "2026-01-01T08:00:00+00:00");
    }

    #[test]
    fn truncated_and_html_bodies_are_errors() {
        assert!(parse_page(Bytes::from_static(br#"{"audit_logs":[{"id":"a"#)).is_err());
        assert!(parse_page(Bytes::from_static(b"<html>502</html>")).is_err());
        assert!(parse_page(Bytes::from_static(br#"{"message":"x"}"#)).is_err());
    }

    #[test]
    fn null_audit_logs_is_an_empty_page() {
        let page = parse_page(Bytes::from_static(br#"{"audit_logs":null,"count":0}"#)).unwrap();
        assert!(page.events.is_empty());
    }

    #[test]
    fn a_diff_nested_past_the_parser_limit_keeps_the_rest_of_its_entry() {
        let deep = format!("{}1{}", "[".repeat(5_000), "]".repeat(5_000));
        let body = format!(
            r#"{{"audit_logs":[{{"id":"7c9a8f1e-0000-4000-8000-000000000001","time":"2026-01-01T10:00:00Z","action":"write","diff":{{"readme":{{"old":{deep},"new":"x","secret":false}}}}}}],"count":1}}"#
        );
        let page = parse_page(Bytes::from(body)).unwrap();
        let e = &page.events[0];
        assert_eq!(
            e.key,
            EntryKey::from_id("7c9a8f1e-0000-4000-8000-000000000001")
        );
        assert_eq!(e.entry.action.as_deref(), Some("write"));
        assert!(e.time.is_some());
        assert_eq!(e.entry.diff, None);
        assert_eq!(e.entry.unreadable, ["diff"]);
        assert!(e.raw.len() > 10_000, "the raw entry keeps the diff");
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters_instead_of_stalling_the_page() {
        let mut body = br#"{"audit_logs":[{"id":"7c9a8f1e-0000-4000-8000-000000000002","time":"2026-01-01T10:00:00Z","resource_target":"ws-"#.to_vec();
        body.extend_from_slice(&[0xff, 0xfe]);
        body.extend_from_slice(br#""}],"count":1}"#);
        let page = parse_page(Bytes::from(body)).unwrap();
        let e = &page.events[0];
        assert_eq!(
            e.entry.resource_target.as_deref(),
            Some("ws-\u{fffd}\u{fffd}")
        );
        assert!(std::str::from_utf8(&e.raw).is_ok());
        assert!(e.time.is_some());
    }

    #[test]
    fn entries_without_id_or_time_are_kept() {
        let page =
            parse_page(Bytes::from_static(br#"{"audit_logs":[{"action":"x"},17]}"#)).unwrap();
        assert_eq!(page.events.len(), 2);
        assert!(page.events.iter().all(|e| e.time.is_none()));
        assert_ne!(page.events[0].key, page.events[1].key);
    }
}
