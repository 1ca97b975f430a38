//! The benchmarks' input: pages of entries as `coder-sim` makes them (logins, builds with
//! diffs, template writes, token creations, suspensions, agent events; the user in the
//! shape of the given Coder version), so every figure is per entry of a realistic mix.
#![allow(dead_code)]

use bytes::Bytes;
use chrono::{TimeDelta, TimeZone, Utc};
use coder_audit_shipper::coder::{Event, Reading, Stream, parse_stream_page_as};
use coder_sim::{ApiVersion, Generator};
use rand::SeedableRng;

/// Entries per page: the shipper's default `page_size`.
pub const PAGE: usize = 500;

/// A page body of [`PAGE`] generated entries, newest first, as the simulator serves it.
pub fn page_body(version: &str) -> Bytes {
    let version = ApiVersion::parse(version).expect("a known version");
    let generator = Generator::new(version);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let newest = Utc.with_ymd_and_hms(2026, 8, 21, 12, 0, 0).unwrap();
    let entries: Vec<String> = (0..PAGE)
        .map(|i| {
            let id = format!("7c9a8f1e-0000-4000-8000-{i:012}");
            let time = newest - TimeDelta::milliseconds(i as i64 * 250);
            // In Coder's field order, as the simulator serves it.
            coder_sim::go_json::audit_entry(&generator.entry(&id, time, &mut rng))
        })
        .collect();
    Bytes::from(format!(
        r#"{{"audit_logs":[{}],"count":{}}}"#,
        entries.join(","),
        PAGE
    ))
}

/// The events of one current-version page, read whole (so an encoding bench measures the
/// encoding, not the reading it would otherwise trigger).
pub fn events() -> Vec<Event> {
    parse_stream_page_as(Stream::Audit, page_body("v2.36.0"), Reading::Whole)
        .expect("a valid page")
        .events
}
