//! One page of `GET /api/v2/audit` or `GET /api/v2/connectionlog`, split into events
//! without losing a byte.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::connection::{ConnectionEvent, ConnectionLog, DISCONNECT_SUFFIX, Phase};
use super::entry::{BoxedEntry, Field};
use super::lazy::{Glance, LazyAudit};
use super::time::parse_time;
use super::{AuditEntry, EntryKey, Oversized, Stream};

mod one_pass;

/// One entry as it travels through the pipeline.
#[derive(Debug, Clone)]
pub struct Event {
    /// The entry's JSON exactly as Coder sent it (a slice of the response body, no copy):
    /// what `format = "raw"` ships.
    pub raw: Bytes,
    pub entry: Entry,
    /// The dedupe key: the entry's `id`, or a digest of `raw` for an entry without one.
    pub key: EntryKey,
    /// The entry's `time` (a connection's `connect_time`) in UTC, when it parses.
    pub time: Option<DateTime<Utc>>,
    /// The entry was larger than `coder.max_response_bytes` and was read without these
    /// fields (see [`super::skim`]).
    pub oversized: Option<Oversized>,
}

/// The lenient view of an entry, by the log it came from.
#[derive(Debug, Clone)]
pub enum Entry {
    /// Read at a glance; whole when something asks (see [`super::lazy`]).
    Audit(LazyAudit),
    /// Boxed, as the whole audit entry is: events are moved between vectors and queues
    /// by the thousand, and the views were most of their size.
    Connection(Box<ConnectionEvent>),
}

impl Event {
    /// The bytes of `events` as Coder sent them: what byte budgets count.
    pub fn raw_bytes(events: &[Event]) -> usize {
        events.iter().map(|e| e.raw.len()).sum()
    }

    /// The idempotency key of the event's records: the entry's id, and for the end of a
    /// session the id with [`DISCONNECT_SUFFIX`], so the two moments of one session never
    /// overwrite each other in a sink that keys by it.
    pub fn record_id(&self) -> Arc<str> {
        self.moment_id(self.is_disconnect())
    }

    /// When the moment this event reports happened: the entry's time, or for the end of a
    /// session its disconnect time (a sink partitions and stamps records by it).
    pub fn moment_time(&self) -> Option<DateTime<Utc>> {
        self.time_of(self.is_disconnect())
    }

    /// The record id of the connect (`false`) or of the disconnect (`true`) this event
    /// reports; one event may report both.
    pub fn moment_id(&self, disconnect: bool) -> Arc<str> {
        if disconnect {
            format!("{}{DISCONNECT_SUFFIX}", self.key).into()
        } else {
            self.key.shared()
        }
    }

    /// The time of the connect (`false`) or of the disconnect (`true`): the disconnect's
    /// own time when Coder recorded one that parses, else the entry's.
    pub fn time_of(&self, disconnect: bool) -> Option<DateTime<Utc>> {
        match &self.entry {
            Entry::Connection(c) if disconnect => c.log.disconnect_time().or(self.time),
            _ => self.time,
        }
    }

    fn is_disconnect(&self) -> bool {
        matches!(&self.entry, Entry::Connection(c) if c.phase == Phase::Disconnect)
    }

    /// What the record is about, for routing (Kafka topic templates, the syslog
    /// structured data): the audit `resource_type`, or the connection `type`.
    pub fn resource_type(&self) -> Option<&str> {
        match &self.entry {
            Entry::Audit(a) => a.resource_type(),
            Entry::Connection(c) => c.log.connection_type.as_deref(),
        }
    }

    /// The audit `action`, or `connect`/`disconnect` (the syslog MSGID).
    pub fn action(&self) -> Option<&str> {
        match &self.entry {
            Entry::Audit(a) => a.action(),
            Entry::Connection(c) => Some(match c.phase {
                Phase::Connect | Phase::ConnectAndDisconnect => "connect",
                Phase::Disconnect => "disconnect",
            }),
        }
    }

    /// The whole audit entry, for audit events (read now if it was only glanced at).
    pub fn audit(&self) -> Option<&AuditEntry> {
        match &self.entry {
            Entry::Audit(a) => Some(a.entry()),
            Entry::Connection(_) => None,
        }
    }

    /// The whole audit entry, to add what the pipeline learns of it.
    pub fn audit_mut(&mut self) -> Option<&mut AuditEntry> {
        match &mut self.entry {
            Entry::Audit(a) => Some(a.entry_mut()),
            Entry::Connection(_) => None,
        }
    }
}

/// A parsed page. `count` is kept for logs only: it is 0 on empty pages before v2.25 and
/// capped at 2001 since v2.32, so the tailer never decides anything from it.
#[derive(Debug)]
pub struct Page {
    pub events: Vec<Event>,
    pub count: Option<i64>,
}

#[derive(Deserialize)]
struct Wire<'a> {
    /// A Go nil slice encodes as `null`: read it as an empty page.
    #[serde(borrow, default)]
    audit_logs: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default)]
    connection_logs: Option<Vec<&'a RawValue>>,
    #[serde(default)]
    count: Option<i64>,
}

/// Parse an audit response body (see [`parse_stream_page`]).
pub fn parse_page(body: Bytes) -> Result<Page, String> {
    parse_stream_page(Stream::Audit, body)
}

/// Parse a response body of `stream`, audit entries read at a glance (see
/// [`parse_stream_page_as`]).
pub fn parse_stream_page(stream: Stream, body: Bytes) -> Result<Page, String> {
    parse_stream_page_as(stream, body, Reading::Glance)
}

/// How far a page's audit entries are read before anything asks (see [`LazyAudit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Their id, time, resource type and action; the rest when asked.
    Glance,
    /// Whole, at once.
    Whole,
}

/// Parse a response body of `stream`. Fails only when the body as a whole is not such a
/// page (not JSON, truncated, no `audit_logs` / `connection_logs`): then nothing in it can
/// be trusted and the request is retried. A single odd entry inside a valid page never
/// fails the page.
pub fn parse_stream_page_as(stream: Stream, body: Bytes, reading: Reading) -> Result<Page, String> {
    // Coder (Go) never sends invalid UTF-8, but a proxy or a broken replica might. Waiting
    // would stall the stream on that page for ever; the bytes that are not UTF-8 become
    // U+FFFD instead (what Go's encoder does), with a warning, and the page goes through.
    let repaired;
    let (body, text) = match std::str::from_utf8(&body) {
        Ok(text) => (&body, text),
        Err(e) => {
            crate::ops::metrics::coder_error("invalid_utf8");
            tracing::warn!(
                "Coder's page is not valid UTF-8 ({e}): the invalid bytes are shipped as U+FFFD"
            );
            repaired = Bytes::from(String::from_utf8_lossy(&body).into_owned());
            let text = std::str::from_utf8(&repaired).map_err(|e| format!("not UTF-8: {e}"))?;
            (&repaired, text)
        }
    };
    match read_in_one_pass(stream, reading, body, text) {
        Some(page) => Ok(page),
        None => read_in_two_passes(stream, reading, body, text),
    }
}

/// The general reader: serde_json finds every entry's bytes, then each is read.
fn read_in_two_passes(
    stream: Stream,
    reading: Reading,
    body: &Bytes,
    text: &str,
) -> Result<Page, String> {
    let wire: Wire = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let list = match stream {
        Stream::Audit => wire.audit_logs,
        Stream::Connection => wire.connection_logs,
    };
    let Some(entries) = list else {
        if text.contains(&format!("\"{}\"", stream.list_field())) {
            return Ok(Page {
                events: Vec::new(),
                count: wire.count,
            });
        }
        return Err(format!("no {} field", stream.list_field()));
    };
    let base = text.as_ptr() as usize;
    let events = entries
        .into_iter()
        .map(|raw| {
            let json = raw.get();
            let start = json.as_ptr() as usize - base;
            let raw = body.slice(start..start + json.len());
            match (stream, reading) {
                (Stream::Audit, Reading::Glance) => match Glance::read(json) {
                    Some(glance) => glanced_event(glance, raw),
                    None => whole_event(LazyAudit::whole(raw.clone(), json), raw),
                },
                (Stream::Audit, Reading::Whole) => {
                    whole_event(LazyAudit::whole(raw.clone(), json), raw)
                }
                (Stream::Connection, _) => connection_event(ConnectionLog::parse(json), raw),
            }
        })
        .collect();
    Ok(Page {
        events,
        count: wire.count,
    })
}

/// The page read by [`one_pass`], or `None` when it takes the general way.
fn read_in_one_pass(stream: Stream, reading: Reading, body: &Bytes, text: &str) -> Option<Page> {
    let field = stream.list_field();
    let listed = match (stream, reading) {
        (Stream::Audit, Reading::Glance) => one_pass::read(text, field, |glance: Glance, at| {
            glanced_event(glance, body.slice(at))
        })?,
        (Stream::Audit, Reading::Whole) => one_pass::read(text, field, |entry: BoxedEntry, at| {
            let raw = body.slice(at);
            whole_event(LazyAudit::read_as(raw.clone(), entry.0), raw)
        })?,
        (Stream::Connection, _) => one_pass::read(text, field, |log: Field<ConnectionLog>, at| {
            connection_event(log.0.unwrap_or_default(), body.slice(at))
        })?,
    };
    Some(Page {
        events: listed.entries.unwrap_or_default(),
        count: listed.count,
    })
}

/// The event of an entry read at a glance: its key and time are made of the glance's id
/// and time here, and only its route is kept.
fn glanced_event(glance: Glance<'_>, raw: Bytes) -> Event {
    let key = key_of(glance.id.as_deref(), &raw);
    let time = parse_time(glance.time.as_deref());
    let entry = LazyAudit::glanced_as(raw.clone(), glance.route);
    audit_event(entry, raw, key, time)
}

/// The event of an entry read whole (`entry` is).
fn whole_event(entry: LazyAudit, raw: Bytes) -> Event {
    let whole = entry.entry();
    let key = key_of(whole.id.as_deref(), &raw);
    let time = parse_time(whole.time.as_deref());
    audit_event(entry, raw, key, time)
}

fn audit_event(entry: LazyAudit, raw: Bytes, key: EntryKey, time: Option<DateTime<Utc>>) -> Event {
    Event {
        raw,
        entry: Entry::Audit(entry),
        key,
        time,
        oversized: None,
    }
}

fn connection_event(log: ConnectionLog, raw: Bytes) -> Event {
    let key = key_of(log.id.as_deref(), &raw);
    let time = parse_time(log.connect_time.as_deref());
    let entry = Entry::Connection(Box::new(ConnectionEvent {
        log,
        phase: Phase::Connect,
    }));
    Event {
        raw,
        entry,
        key,
        time,
        oversized: None,
    }
}

/// The dedupe key of an entry: its id, or a digest of its bytes when it has none.
fn key_of(id: Option<&str>, raw: &[u8]) -> EntryKey {
    match id {
        Some(id) if !id.is_empty() => EntryKey::from_id(id),
        _ => EntryKey::digest(raw),
    }
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
        assert_eq!(e.audit().unwrap().description.as_deref(), Some("a & b"));
        assert_eq!(e.time.unwrap().to_rfc3339(), "2026-01-01T08:00:00+00:00");
    }

    #[test]
    fn a_page_read_whole_agrees_with_one_read_at_a_glance() {
        let body = Bytes::from_static(
            br#"{"audit_logs":[{"id":"7c9a8f1e-0000-4000-8000-000000000001","time":"2026-01-01T10:00:00Z","resource_type":"template","action":"write","user":{"username":"mia"}}],"count":1}"#,
        );
        let glanced = parse_stream_page_as(Stream::Audit, body.clone(), Reading::Glance).unwrap();
        let whole = parse_stream_page_as(Stream::Audit, body, Reading::Whole).unwrap();
        let (g, w) = (&glanced.events[0], &whole.events[0]);
        let read = |e: &Event| matches!(&e.entry, Entry::Audit(a) if a.is_whole());
        assert!(!read(g) && read(w));
        assert_eq!((g.key.clone(), g.time), (w.key.clone(), w.time));
        assert_eq!(
            (g.resource_type(), g.action()),
            (w.resource_type(), w.action())
        );
        assert_eq!(
            g.audit()
                .unwrap()
                .user
                .as_ref()
                .unwrap()
                .username
                .as_deref(),
            Some("mia")
        );
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
        assert_eq!(e.audit().unwrap().action.as_deref(), Some("write"));
        assert!(e.time.is_some());
        assert!(e.audit().unwrap().diff.is_none());
        assert_eq!(e.audit().unwrap().unreadable, ["diff"]);
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
            e.audit().unwrap().resource_target.as_deref(),
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

    #[test]
    fn connection_pages_read_their_own_list_and_key_by_id() {
        let body = Bytes::from_static(
            br#"{"connection_logs":[{"id":"7884a866-4ae1-4945-9fba-b2b8d2b7c5a9","connect_time":"2026-05-19T16:45:57.122Z","type":"ssh","ssh_info":{"connection_id":"026c8c11-fc5c-4df8-a286-5fe6d7f54f98"}}],"count":1,"count_cap":2000}"#,
        );
        let page = parse_stream_page(Stream::Connection, body.clone()).unwrap();
        let e = &page.events[0];
        assert_eq!(e.key.to_string(), "7884a866-4ae1-4945-9fba-b2b8d2b7c5a9");
        assert_eq!(
            e.time.unwrap().to_rfc3339(),
            "2026-05-19T16:45:57.122+00:00"
        );
        assert_eq!(e.resource_type(), Some("ssh"));
        assert_eq!(e.action(), Some("connect"));
        assert_eq!(&*e.record_id(), "7884a866-4ae1-4945-9fba-b2b8d2b7c5a9");
        // An audit page is not a connection page, and the reverse.
        assert!(parse_page(body).is_err());
        assert!(
            parse_stream_page(
                Stream::Connection,
                Bytes::from_static(br#"{"audit_logs":[]}"#)
            )
            .is_err()
        );
        let empty = parse_stream_page(
            Stream::Connection,
            Bytes::from_static(br#"{"connection_logs":null}"#),
        )
        .unwrap();
        assert!(empty.events.is_empty());
    }
}
