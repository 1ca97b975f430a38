//! The scan without HTTP: a table of pages in, a table of requests, deliveries and partial
//! checkpoints out.

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use super::*;
use crate::coder::parse_page;

fn t(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 8, 20, 12, 0, 0).unwrap() + TimeDelta::seconds(secs)
}

/// A page of audit rows: `(id, seconds after 12:00)`, newest first.
fn page(rows: &[(&str, i64)]) -> Vec<Event> {
    let entries: Vec<String> = rows
        .iter()
        .map(|(id, s)| {
            format!(
                r#"{{"id":"{id}","time":"{}","action":"write","resource_type":"user"}}"#,
                t(*s).to_rfc3339()
            )
        })
        .collect();
    let body = format!(r#"{{"audit_logs":[{}],"count":0}}"#, entries.join(","));
    parse_page(Bytes::from(body)).unwrap().events
}

fn ids(fresh: &[(Event, DateTime<Utc>)]) -> Vec<String> {
    fresh.iter().map(|(e, _)| e.key.to_string()).collect()
}

fn closed(lower: i64, upper: i64) -> Window {
    Window {
        lower: t(lower),
        upper: Some(t(upper)),
    }
}

/// Feed pages in order; record (request, fresh ids, next) for each.
fn run(scan: &mut Scan, pages: Vec<(Vec<Event>, u32)>) -> Vec<(Request, Vec<String>, Next)> {
    let mut out = Vec::new();
    for (events, rows_asked) in pages {
        let request = scan.request();
        let p = scan.read(events, rows_asked, t(10_000), |_| false);
        out.push((request, ids(&p.fresh), p.next));
    }
    out
}

#[test]
fn a_tie_group_at_the_page_end_is_left_for_the_next_request_whole() {
    // Page size 4: rows at 100, 90, 80, 80. The group at 80 may continue on the next page,
    // so only 100 and 90 are taken, and the next request starts one row before the group.
    let mut scan = Scan::new(closed(0, 200), 4, None, TimeDelta::seconds(300));
    let steps = run(
        &mut scan,
        vec![
            (page(&[("a", 100), ("b", 90), ("c", 80), ("d", 80)]), 4),
            (page(&[("b", 90), ("c", 80), ("d", 80), ("e", 80)]), 4),
        ],
    );
    assert_eq!(
        steps[0].0,
        Request {
            offset: 0,
            limit: 4,
            whole: false
        }
    );
    assert_eq!(steps[0].1, ["a", "b"]);
    assert_eq!(
        steps[0].2,
        Next::More {
            done_above: Some(t(80))
        }
    );
    assert_eq!(
        steps[1].0,
        Request {
            offset: 1,
            limit: 4,
            whole: false
        }
    );
    // "b" is the re-read row; the group at 80 fills the rest of the page: ask again whole.
    assert_eq!(steps[1].1, Vec::<String>::new());
    assert_eq!(steps[1].2, Next::Again);
    assert_eq!(
        scan.request(),
        Request {
            offset: 1,
            limit: 8,
            whole: true
        }
    );
    let p = scan.read(
        page(&[("b", 90), ("c", 80), ("d", 80), ("e", 80), ("f", 10)]),
        8,
        t(10_000),
        |_| false,
    );
    assert_eq!(ids(&p.fresh), ["c", "d", "e", "f"]);
    assert_eq!(p.next, Next::Done, "a short page ends the window");
}

#[test]
fn rows_that_moved_up_make_the_scan_back_off_a_page() {
    let mut scan = Scan::new(closed(0, 200), 3, None, TimeDelta::seconds(300));
    let steps = run(
        &mut scan,
        vec![
            (page(&[("a", 100), ("b", 90), ("c", 80)]), 3),
            // Offset 1 should start with "b" (90 > 80), but a retention delete pulled rows up:
            // it starts at 70, below the boundary.
            (page(&[("d", 70), ("e", 60), ("f", 50)]), 3),
        ],
    );
    assert_eq!(steps[0].1, ["a", "b"]);
    assert_eq!(steps[1].0.offset, 1);
    assert_eq!(steps[1].2, Next::Again);
    assert_eq!(scan.backoffs(), 1);
    assert_eq!(scan.request().offset, 0, "one page back");
    // Read again from there: nothing delivered twice, "c" onwards delivered once.
    let p = scan.read(
        page(&[("b", 90), ("c", 80), ("d", 70)]),
        3,
        t(10_000),
        |_| false,
    );
    assert_eq!(ids(&p.fresh), ["c"]);
}

#[test]
fn the_mark_only_goes_down_and_a_resumed_scan_skips_what_it_handled() {
    // Resumed below 85: rows newer than that were delivered before the restart.
    let mut scan = Scan::new(closed(0, 200), 4, Some(t(85)), TimeDelta::seconds(300));
    let p = scan.read(
        page(&[("a", 100), ("b", 90), ("c", 80), ("d", 70)]),
        4,
        t(10_000),
        |_| false,
    );
    assert_eq!(ids(&p.fresh), ["c"], "{:?}", p.next);
    assert_eq!(p.reread, 2);
    assert_eq!(
        p.next,
        Next::More {
            done_above: Some(t(70))
        }
    );
    // A back-off re-reads newer rows; the mark stays where it was.
    let p = scan.read(
        page(&[("x", 60), ("y", 50), ("z", 40), ("w", 30)]),
        4,
        t(10_000),
        |_| false,
    );
    assert_eq!(p.next, Next::Again);
    let p = scan.read(
        page(&[("b", 90), ("c", 80), ("d", 70), ("e", 60)]),
        4,
        t(10_000),
        |_| false,
    );
    assert_eq!(ids(&p.fresh), ["d"]);
    assert_eq!(
        p.next,
        Next::More {
            done_above: Some(t(60))
        }
    );
}

#[test]
fn a_shrunk_page_keeps_its_size_then_grows_back_doubling() {
    // (Pages this small against a re-read row and a deferred group make little new ground,
    // which is the rule for a scan losing the race: see `stalled`. Ten rows are enough.)
    // One row every 10 s, newest first; Coder answers each request from this timeline.
    let timeline: Vec<(String, i64)> = (0..200)
        .map(|i| (format!("r{i}"), 5_000 - 10 * i))
        .collect();
    let answer = |offset: u64, rows: u32| {
        let rows: Vec<(&str, i64)> = timeline
            .iter()
            .skip(offset as usize)
            .take(rows as usize)
            .map(|(id, s)| (id.as_str(), *s))
            .collect();
        page(&rows)
    };
    let mut scan = Scan::new(
        Window {
            lower: t(0),
            upper: None,
        },
        40,
        None,
        TimeDelta::seconds(300),
    );
    let mut limits = Vec::new();
    let mut delivered = Vec::new();
    for i in 0..8 {
        let r = scan.request();
        limits.push(r.limit);
        // The first answer had to shrink to 10 rows (too large); later ones come whole.
        let asked = if i == 0 { 10 } else { r.limit };
        let p = scan.read(answer(r.offset, asked), asked, t(10_000), |_| false);
        assert!(
            matches!(p.next, Next::More { done_above: None }),
            "{:?}",
            p.next
        );
        delivered.extend(ids(&p.fresh));
    }
    assert_eq!(limits, [40, 10, 10, 10, 10, 20, 20, 20]);
    // Every row once, in order, none skipped by the changing sizes.
    let expected: Vec<String> = (0..delivered.len()).map(|i| format!("r{i}")).collect();
    assert_eq!(delivered, expected);
}

#[test]
fn rows_known_to_the_cursor_or_read_twice_in_a_page_are_rereads() {
    let mut scan = Scan::new(
        Window {
            lower: t(0),
            upper: None,
        },
        10,
        None,
        TimeDelta::seconds(300),
    );
    let p = scan.read(
        page(&[("a", 100), ("a", 100), ("old", 90), ("b", 80)]),
        10,
        t(10_000),
        |k| k.to_string() == "old",
    );
    assert_eq!(ids(&p.fresh), ["a", "b"]);
    assert_eq!(p.reread, 2);
    assert_eq!(p.next, Next::Done);
}

#[test]
fn rows_of_a_later_window_are_left_and_an_older_row_ends_the_scan() {
    let mut scan = Scan::new(closed(50, 100), 10, None, TimeDelta::seconds(300));
    let p = scan.read(
        page(&[
            ("late", 150),
            ("a", 100),
            ("b", 60),
            ("old", 40),
            ("older", 30),
        ]),
        10,
        t(10_000),
        |_| false,
    );
    assert_eq!(ids(&p.fresh), ["a", "b"]);
    assert_eq!(p.next, Next::Done);
    assert_eq!(scan.newest(), Some(t(100)));
}
