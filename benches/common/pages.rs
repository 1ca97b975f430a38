//! The benchmarks' input: pages of entries as `coder-sim` makes them (logins, builds with
//! diffs, template writes, token creations, suspensions, agent events; the user in the
//! shape of the given Coder version), so every figure is per entry of a realistic mix.
#![allow(dead_code)]

use bytes::Bytes;
use chrono::{TimeDelta, TimeZone, Utc};
use coder_audit_shipper::coder::{Event, parse_page};
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
            generator.entry(&id, time, &mut rng).to_string()
        })
        .collect();
    Bytes::from(format!(
        r#"{{"audit_logs":[{}],"count":{}}}"#,
        entries.join(","),
        PAGE
    ))
}

/// The events of one current-version page, parsed.
pub fn events() -> Vec<Event> {
    parse_page(page_body("v2.36.0"))
        .expect("a valid page")
        .events
}
