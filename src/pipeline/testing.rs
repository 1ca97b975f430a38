//! Events and cursors for the pipeline's unit tests.

use chrono::{DateTime, Utc};

use crate::coder::{Cursor, Event, parse_page};

/// `n` entries a second apart from 2026-08-20T00:00:00Z (n < 10), as one parsed page.
pub fn events(n: usize) -> Vec<Event> {
    let entries: Vec<String> = (0..n)
        .map(|i| {
            format!(r#"{{"id":"00000000-0000-4000-8000-{i:012}","time":"2026-08-20T00:00:0{i}Z"}}"#)
        })
        .collect();
    let page = format!(r#"{{"audit_logs":[{}],"count":{n}}}"#, entries.join(","));
    parse_page(page.into()).unwrap().events
}

/// A cursor at second `s` of 2026-08-20.
pub fn cursor(s: u32) -> Cursor {
    Cursor::starting_at(
        DateTime::parse_from_rfc3339(&format!("2026-08-20T00:00:{s:02}Z"))
            .unwrap()
            .with_timezone(&Utc),
        None,
    )
}
