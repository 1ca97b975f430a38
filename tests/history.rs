//! Where a stream's history begins (`start_at = "beginning"`) and how it crosses empty
//! stretches of it, against the simulated Coder writing rows between every two requests.
//! Every inserted id is checked, and duplicates are counted.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use coder_audit_shipper::coder::{Cursor, Stream};
use coder_audit_shipper::config::StartAt;
use coder_audit_shipper::pipeline::initial_cursor;
use coder_sim::{Sim, SimConfig};
use common::{Harness, drain, fast_client};

fn sim_config() -> SimConfig {
    SimConfig {
        rate_limit: None,
        seed: 11,
        ..SimConfig::default()
    }
}

/// Ids inserted and not deleted that `delivered` lacks, and how many ids it holds twice.
fn lost_and_duplicates(
    inserted: &[(String, DateTime<Utc>)],
    deleted: &std::collections::HashSet<String>,
    delivered: &[String],
) -> (Vec<(String, DateTime<Utc>)>, usize) {
    let mut copies: HashMap<&str, usize> = HashMap::new();
    for id in delivered {
        *copies.entry(id.as_str()).or_default() += 1;
    }
    let lost = inserted
        .iter()
        .filter(|(id, _)| !deleted.contains(id) && !copies.contains_key(id.as_str()))
        .cloned()
        .collect();
    let duplicates = copies.values().map(|n| n - 1).sum();
    (lost, duplicates)
}

/// The six oldest rows weeks apart, a recent backlog, rows inserted after every request
/// (while the start is searched for, too) and random faults: a start at the beginning
/// ships every row once.
async fn beginning_under_inserts(stream: Stream) {
    let sim = Sim::start(sim_config()).await.unwrap();
    let now = Utc::now();
    let insert = |t: DateTime<Utc>| match stream {
        Stream::Audit => sim.insert_at(t),
        Stream::Connection => sim.insert_web_connection(t),
    };
    let oldest: Vec<String> = [61, 47, 40, 33, 26, 19]
        .iter()
        .map(|days| insert(now - TimeDelta::days(*days) + TimeDelta::minutes(*days)))
        .collect();
    for i in 0..300 {
        insert(now - TimeDelta::minutes(30) - TimeDelta::seconds(i * 37));
    }
    sim.set_inserts_per_page(3);
    sim.set_fault_rate(0.1);

    let client = fast_client(&sim);
    let start = initial_cursor(&client, stream, StartAt::Beginning)
        .await
        .unwrap();
    let mut h = Harness::new(25, TimeDelta::minutes(5));
    h.stream = stream;
    let (mut tailer, mut outlet) = h.tailer(&sim, &start);
    for _ in 0..5 {
        tailer.step(&mut outlet).await.unwrap();
    }
    sim.set_inserts_per_page(0);
    sim.set_fault_rate(0.0);
    drain(&mut tailer, &mut outlet, 500).await.unwrap();

    let inserted = match stream {
        Stream::Audit => sim.inserted(),
        Stream::Connection => sim.connections_inserted(),
    };
    let delivered = h.delivered();
    for id in &oldest {
        assert!(
            delivered.contains(id),
            "one of the oldest rows, {id}, was skipped"
        );
    }
    let (lost, duplicates) = lost_and_duplicates(&inserted, &sim.deleted(), &delivered);
    assert!(
        lost.is_empty(),
        "lost {} of {}: {:?}",
        lost.len(),
        inserted.len(),
        &lost[..lost.len().min(5)]
    );
    assert_eq!(duplicates, 0);
    // The search did run under inserts: rows were added while it probed.
    assert!(inserted.len() > 306 + 20, "{} rows", inserted.len());
}

#[tokio::test]
async fn a_start_at_the_beginning_ships_the_oldest_audit_rows_while_coder_is_written_to() {
    beginning_under_inserts(Stream::Audit).await;
}

#[tokio::test]
async fn a_start_at_the_beginning_ships_the_oldest_connections_while_coder_is_written_to() {
    beginning_under_inserts(Stream::Connection).await;
}

#[tokio::test]
async fn the_oldest_row_in_the_last_sub_second_of_a_day_is_not_skipped() {
    let sim = Sim::start(sim_config()).await.unwrap();
    let day = (Utc::now() - TimeDelta::days(9)).date_naive();
    let edge = sim.insert_at(
        day.and_hms_micro_opt(23, 59, 59, 700_000)
            .unwrap()
            .and_utc(),
    );
    let next = sim.insert_at(day.and_hms_opt(23, 59, 59).unwrap().and_utc() + TimeDelta::days(2));
    let start = initial_cursor(&fast_client(&sim), Stream::Audit, StartAt::Beginning)
        .await
        .unwrap();
    let h = Harness::new(10, TimeDelta::minutes(5));
    let (mut tailer, mut outlet) = h.tailer(&sim, &start);
    drain(&mut tailer, &mut outlet, 50).await.unwrap();
    let mut got = h.delivered();
    got.sort();
    let mut want = vec![edge, next];
    want.sort();
    assert_eq!(got, want);
}

#[tokio::test]
async fn an_empty_log_starts_now_and_ships_what_comes() {
    let sim = Sim::start(sim_config()).await.unwrap();
    let start = initial_cursor(&fast_client(&sim), Stream::Audit, StartAt::Beginning)
        .await
        .unwrap();
    assert!(Utc::now() - start.position < TimeDelta::minutes(1));
    let h = Harness::new(10, TimeDelta::minutes(5));
    let (mut tailer, mut outlet) = h.tailer(&sim, &start);
    let id = sim.insert_at(Utc::now());
    drain(&mut tailer, &mut outlet, 50).await.unwrap();
    assert_eq!(h.delivered(), [id]);
}

/// Rows on `days` scattered over three years before now, a start at the beginning, and
/// the requests it takes to reach the present, with every row delivered once.
async fn catch_up_requests(stream: Stream, days: &[i64]) -> (u64, Duration) {
    let sim = Sim::start(sim_config()).await.unwrap();
    let now = Utc::now();
    for (i, d) in days.iter().enumerate() {
        let t = now - TimeDelta::days(*d) + TimeDelta::seconds(i as i64 * 97);
        for k in 0..3 {
            match stream {
                Stream::Audit => sim.insert_at(t + TimeDelta::minutes(k)),
                Stream::Connection => sim.insert_web_connection(t + TimeDelta::minutes(k)),
            };
        }
    }
    let started = std::time::Instant::now();
    let client = fast_client(&sim);
    let start = initial_cursor(&client, stream, StartAt::Beginning)
        .await
        .unwrap();
    let mut h = Harness::new(50, TimeDelta::minutes(5));
    h.stream = stream;
    let (mut tailer, mut outlet) = h.tailer(&sim, &start);
    drain(&mut tailer, &mut outlet, 5_000).await.unwrap();
    let elapsed = started.elapsed();
    let inserted = match stream {
        Stream::Audit => sim.inserted(),
        Stream::Connection => sim.connections_inserted(),
    };
    let (lost, duplicates) = lost_and_duplicates(&inserted, &sim.deleted(), &h.delivered());
    assert_eq!((lost.len(), duplicates), (0, 0), "lost {lost:?}");
    let stats = sim.stats();
    (stats.audit_requests + stats.connection_requests, elapsed)
}

/// Twenty days with rows, scattered over three years (about 1,100 days).
const SCATTERED: [i64; 20] = [
    1_095, 1_040, 990, 902, 850, 777, 700, 650, 601, 555, 480, 420, 366, 300, 240, 181, 120, 60,
    20, 3,
];

#[tokio::test]
async fn three_years_with_rows_on_twenty_days_cost_logarithmic_requests() {
    for stream in [Stream::Audit, Stream::Connection] {
        let (requests, elapsed) = catch_up_requests(stream, &SCATTERED).await;
        eprintln!(
            "{stream}: {requests} requests, {elapsed:?} to catch up over 3 years with rows on 20 days"
        );
        // Per stretch between two days with rows (at most 90 days here): a gallop and a
        // bisection of about 2·log2(90) ≈ 13 probes, the day read, and the empty day read
        // before the gallop; plus about 2·log2(1,100) ≈ 22 to find the start and a few live
        // scans. A walk of one request per day would be over 1,100.
        assert!(requests <= 20 * 16 + 40, "{stream}: {requests} requests");
    }
}

#[tokio::test]
async fn one_empty_stretch_of_three_years_costs_a_few_dozen_requests() {
    let (requests, elapsed) = catch_up_requests(Stream::Audit, &[1_095, 2]).await;
    eprintln!(
        "audit: {requests} requests, {elapsed:?} to catch up over one empty stretch of 3 years"
    );
    // Start ≈ 22, the first day and the empty day after it, then a gallop and a bisection
    // over ≈ 1,093 days ≈ 2·11, the last days and the live scans.
    assert!(requests <= 60, "{requests} requests");
}

#[tokio::test]
async fn a_backfill_over_an_empty_range_skips_it_in_logarithmic_requests() {
    let sim = Sim::start(sim_config()).await.unwrap();
    let now = Utc::now();
    let before = sim.insert_at(now - TimeDelta::days(800));
    let inside = sim.insert_at(now - TimeDelta::days(400));
    let after = sim.insert_at(now - TimeDelta::days(100));
    let from = (now - TimeDelta::days(700))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let mut h = Harness::new(10, TimeDelta::minutes(5));
    h.end = Some(from + TimeDelta::days(500));
    let (mut tailer, mut outlet) = h.tailer(
        &sim,
        &Cursor::starting_at(from - TimeDelta::microseconds(1), Some(from)),
    );
    drain(&mut tailer, &mut outlet, 500).await.unwrap();
    assert!(tailer.step(&mut outlet).await.unwrap().finished);
    assert_eq!(h.delivered(), std::slice::from_ref(&inside));
    assert!(!h.delivered().contains(&before) && !h.delivered().contains(&after));
    let requests = sim.stats().audit_requests;
    assert!(requests <= 60, "{requests} requests for 500 days");
}

#[tokio::test]
async fn rows_in_the_last_sub_second_of_skipped_days_are_read() {
    let sim = Sim::start(sim_config()).await.unwrap();
    let now = Utc::now();
    let first = sim.insert_at(now - TimeDelta::days(300));
    // Each at 23:59:59.5 of a day inside what would otherwise be one empty stretch: a
    // `date_to` probe of that day cannot see it, the next day's can.
    let edges: Vec<String> = [200, 150, 149, 31]
        .iter()
        .map(|d| {
            let day = (now - TimeDelta::days(*d)).date_naive();
            sim.insert_at(day.and_hms_milli_opt(23, 59, 59, 500).unwrap().and_utc())
        })
        .collect();
    let start = initial_cursor(&fast_client(&sim), Stream::Audit, StartAt::Beginning)
        .await
        .unwrap();
    let h = Harness::new(10, TimeDelta::minutes(5));
    let (mut tailer, mut outlet) = h.tailer(&sim, &start);
    drain(&mut tailer, &mut outlet, 1_000).await.unwrap();
    let got = h.delivered();
    assert!(got.contains(&first));
    for id in &edges {
        assert!(got.contains(id), "edge row {id} lost: {got:?}");
    }
    assert_eq!(got.len(), 5);
}
