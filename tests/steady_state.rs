//! A caught-up stream: what it costs Coder, and that reading the overlap less often loses
//! nothing. Coder rate-limits per user and path (512 a minute by default), and a caught-up
//! scan that re-read the whole overlap at every 2 s poll spent most of that budget on rows
//! it had shipped. Now it reads 10 s below its position at each poll and the whole overlap
//! once a minute (`coder.overlap_reread_interval`).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use coder_audit_shipper::coder::Cursor;
use coder_sim::server::LiveTraffic;
use common::Harness;

fn copies(h: &Harness) -> HashMap<String, usize> {
    let mut n = HashMap::new();
    for id in h.delivered() {
        *n.entry(id).or_insert(0) += 1;
    }
    n
}

#[test]
fn rows_committed_up_to_the_overlap_late_ship_once_with_the_overlap_read_less_often() {
    let rt = common::runtime();
    rt.block_on(async {
        let sim = common::unlimited_sim().await;
        let mut h = Harness::new(50, TimeDelta::seconds(20));
        h.overlap_reread_interval = Duration::from_secs(3);
        let from = Utc::now() - TimeDelta::minutes(2);
        let start = Cursor::starting_at(from, Some(from));
        // 10 rows a second, half of them committed up to 19 s late, some sharing a time.
        let live = sim.spawn_live(LiveTraffic {
            rows_per_sec: 10.0,
            late_share: 0.5,
            late_max: Duration::from_secs(19),
            tie_share: 0.2,
        });
        let (mut tailer, mut outlet) = h.tailer(&sim, &start);
        let until = Instant::now() + Duration::from_secs(12);
        while Instant::now() < until {
            tailer.step(&mut outlet).await.unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        live.abort();
        // Long enough for the last late rows to land and a full read to meet them.
        tokio::time::sleep(Duration::from_secs(4)).await;
        common::drain(&mut tailer, &mut outlet, 20).await.unwrap();
        let got = copies(&h);
        let inserted: Vec<String> = sim
            .inserted()
            .into_iter()
            .filter(|(_, t)| *t >= from)
            .map(|(id, _)| id)
            .collect();
        let missing: Vec<&String> = inserted
            .iter()
            .filter(|id| !got.contains_key(*id))
            .collect();
        assert!(
            missing.is_empty(),
            "{} of {} lost",
            missing.len(),
            inserted.len()
        );
        let twice: usize = got.values().map(|n| n - 1).sum();
        assert_eq!(twice, 0);
        assert!(inserted.len() > 80, "{} rows", inserted.len());
    });
}

/// Requests a caught-up stream makes in a minute at `rows_per_min`, reading the whole
/// overlap every `reread` (zero: every poll, as before).
async fn requests_per_minute(rows_per_min: f64, reread: Duration) -> u64 {
    let sim = common::unlimited_sim().await;
    let overlap = TimeDelta::minutes(5);
    // The last five minutes already hold their rows, as they would when caught up.
    let backlog = (rows_per_min * 5.0).round() as usize;
    if backlog > 0 {
        sim.backlog(backlog, Duration::from_secs(299), Utc::now());
    }
    let mut h = Harness::new(100, overlap);
    h.overlap_reread_interval = reread;
    let from = Utc::now() - TimeDelta::minutes(6);
    let start = Cursor::starting_at(from, Some(from));
    let (mut tailer, mut outlet) = h.tailer(&sim, &start);
    common::drain(&mut tailer, &mut outlet, 50).await.unwrap();
    let live = sim.spawn_live(LiveTraffic {
        rows_per_sec: rows_per_min / 60.0,
        late_share: 0.1,
        late_max: Duration::from_secs(5),
        tie_share: 0.0,
    });
    let before = sim.stats().audit_requests;
    // `poll_interval` is 2 s by default: one scan, then the wait.
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until {
        tailer.step(&mut outlet).await.unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    live.abort();
    sim.stats().audit_requests - before
}

#[test]
fn a_caught_up_stream_reads_the_overlap_once_a_minute_not_at_every_poll() {
    let rt = common::runtime();
    let rates = [1.0, 10.0, 60.0, 600.0];
    let results = rt.block_on(async {
        let runs = rates.iter().flat_map(|r| {
            [Duration::ZERO, Duration::from_secs(60)]
                .map(|reread| tokio::spawn(requests_per_minute(*r, reread)))
        });
        let mut out = Vec::new();
        for run in runs.collect::<Vec<_>>() {
            out.push(run.await.unwrap());
        }
        out
    });
    eprintln!("rows/min | requests/min, overlap read at every poll | once a minute");
    for (i, r) in rates.iter().enumerate() {
        eprintln!("{r:>8} | {:>5} | {:>5}", results[2 * i], results[2 * i + 1]);
    }
    // At 600 rows a minute the overlap holds 3,000 rows: 30 pages at every poll before.
    let (before, after) = (results[6], results[7]);
    assert!(
        after * 4 < before,
        "600 rows/min: {after} requests a minute, {before} before"
    );
    // Never more than one request per poll and a few for the minute's full read, at 60/min.
    assert!(results[5] <= 30 + 5, "60 rows/min: {}", results[5]);
}
