//! Connection-log rows that land below the live scan's window: agents stamp `connect_time`
//! with their own clock and hold reports while coderd is away, so a row can appear hours
//! below the newest one already read. The late sweep (`src/coder/late.rs`) compares
//! Coder's hourly counts with what was shipped and reads only the hours that differ.

mod common;

use std::collections::HashMap;

use chrono::{TimeDelta, Utc};
use coder_audit_shipper::coder::{Cursor, Stream, Tailer};
use coder_audit_shipper::pipeline::SinkOutlet;
use common::Harness;

/// How many times each id was shipped (a connect and its later disconnect are two).
fn shipped(h: &Harness) -> HashMap<String, usize> {
    let mut n = HashMap::new();
    for id in h.delivered() {
        *n.entry(id).or_insert(0) += 1;
    }
    n
}

fn harness() -> (Harness, Cursor) {
    // A short overlap: anything more than 5 s below the newest row is the late sweep's.
    let mut h = Harness::new(100, TimeDelta::seconds(5));
    h.stream = Stream::Connection;
    h.late_horizon = TimeDelta::days(1);
    let from = Utc::now() - TimeDelta::hours(8);
    (h, Cursor::starting_at(from, Some(from)))
}

/// Step until the tailer is caught up and a sweep found nothing more; the late rows found.
async fn settle(tailer: &mut Tailer, outlet: &mut SinkOutlet) -> usize {
    let mut late = 0;
    let mut quiet = 0;
    for _ in 0..50 {
        let r = tailer.step(outlet).await.unwrap();
        late += r.late;
        if r.live && r.delivered == 0 && r.late == 0 && r.disconnects == 0 {
            quiet += 1;
            if quiet >= 2 {
                break;
            }
        } else {
            quiet = 0;
        }
    }
    late
}

#[test]
fn rows_landing_hours_late_or_from_skewed_clocks_ship_once() {
    let rt = common::runtime();
    rt.block_on(async {
        let sim = common::unlimited_sim().await;
        let now = Utc::now();
        sim.connection_backlog(
            300,
            0,
            std::time::Duration::from_secs(6 * 3600),
            now - TimeDelta::minutes(5),
        );
        let (h, start) = harness();
        let (mut tailer, mut outlet) = h.tailer(&sim, &start);
        settle(&mut tailer, &mut outlet).await;
        let before = shipped(&h);
        assert_eq!(before.len(), 300);

        // An agent partitioned for hours flushes its queue; another's clock runs 20 minutes
        // slow; a third report lands just below the live window.
        let now = Utc::now();
        let mut late: Vec<String> = (0..40)
            .map(|i| sim.insert_web_connection(now - TimeDelta::hours(3) + TimeDelta::seconds(i)))
            .collect();
        let skewed = sim.open_session(now - TimeDelta::minutes(20));
        late.push(skewed.clone());
        late.push(sim.insert_web_connection(now - TimeDelta::seconds(30)));
        late.push(sim.insert_web_connection(now - TimeDelta::hours(7)));
        let found = settle(&mut tailer, &mut outlet).await;

        let after = shipped(&h);
        for id in &late {
            assert_eq!(after.get(id), Some(&1), "late row {id} shipped once");
        }
        for (id, n) in &after {
            assert_eq!(*n, 1, "{id} shipped {n} times");
        }
        assert_eq!(after.len(), 300 + late.len());
        // The row 30 s below may be the live scan's or the sweep's; the others the sweep's.
        assert!(
            found >= late.len() - 1,
            "{found} of {} found by the sweep",
            late.len()
        );

        // The skewed agent's session was followed like any other: its end ships.
        assert!(sim.close_session(&skewed, Utc::now()));
        settle(&mut tailer, &mut outlet).await;
        assert_eq!(shipped(&h).get(&skewed), Some(&2));
    });
}

#[test]
fn an_hour_that_gained_rows_while_the_shipper_was_down_is_shipped_again_whole() {
    let rt = common::runtime();
    rt.block_on(async {
        let sim = common::unlimited_sim().await;
        let now = Utc::now();
        sim.connection_backlog(
            120,
            0,
            std::time::Duration::from_secs(6 * 3600),
            now - TimeDelta::minutes(5),
        );
        let (h, start) = harness();
        {
            let (mut tailer, mut outlet) = h.tailer(&sim, &start);
            settle(&mut tailer, &mut outlet).await;
        }
        assert_eq!(shipped(&h).len(), 120);

        // Down: a report for two hours ago lands meanwhile. The restarted stream knows the
        // hour's count only, not its ids.
        let at = Utc::now() - TimeDelta::hours(2);
        let late = sim.insert_web_connection(at);
        let (mut tailer, mut outlet) = h.tailer(&sim, &start);
        settle(&mut tailer, &mut outlet).await;
        let after = shipped(&h);
        assert_eq!(after.get(&late), Some(&1), "nothing lost");
        let again: usize = after.values().map(|n| n - 1).sum();
        let in_that_hour = sim
            .connections_inserted()
            .iter()
            .filter(|(_, t)| {
                use chrono::DurationRound;
                t.duration_trunc(TimeDelta::hours(1)).ok()
                    == at.duration_trunc(TimeDelta::hours(1)).ok()
            })
            .count();
        // Copies, counted: at most the rest of that hour (its first hour may be cut by the
        // stream's start, so fewer).
        assert!(
            again < in_that_hour,
            "{again} copies, {in_that_hour} rows in the changed hour"
        );
    });
}

#[test]
fn an_hour_over_coder_s_count_cap_is_counted_in_halves() {
    let rt = common::runtime();
    rt.block_on(async {
        let sim = common::unlimited_sim().await;
        let now = Utc::now();
        // 2,600 rows in one hour: `count` stops at 2001.
        sim.connection_backlog(
            2_600,
            0,
            std::time::Duration::from_secs(50 * 60),
            now - TimeDelta::hours(2),
        );
        let (h, start) = harness();
        let (mut tailer, mut outlet) = h.tailer(&sim, &start);
        settle(&mut tailer, &mut outlet).await;
        let late = sim.insert_web_connection(now - TimeDelta::hours(2) - TimeDelta::minutes(10));
        settle(&mut tailer, &mut outlet).await;
        let after = shipped(&h);
        assert_eq!(after.get(&late), Some(&1));
        assert_eq!(after.len(), 2_601);
        assert!(after.values().all(|n| *n == 1));
    });
}

#[test]
fn rows_inserted_between_any_two_requests_up_to_two_hours_late_all_ship_once() {
    let rt = common::runtime();
    rt.block_on(async {
        let sim = common::unlimited_sim().await;
        sim.connection_backlog(
            200,
            0,
            std::time::Duration::from_secs(4 * 3600),
            Utc::now() - TimeDelta::minutes(1),
        );
        let (h, start) = harness();
        let (mut tailer, mut outlet) = h.tailer(&sim, &start);
        settle(&mut tailer, &mut outlet).await;
        // After every page (of scans, sweeps and counts alike) a row lands, up to two hours
        // below the present.
        sim.set_connection_lateness(Some(std::time::Duration::from_secs(2 * 3600)));
        sim.set_inserts_per_page(1);
        for _ in 0..30 {
            tailer.step(&mut outlet).await.unwrap();
        }
        sim.set_inserts_per_page(0);
        settle(&mut tailer, &mut outlet).await;
        let after = shipped(&h);
        let inserted = sim.connections_inserted();
        let missing: Vec<_> = inserted
            .iter()
            .filter(|(id, _)| !after.contains_key(id))
            .collect();
        assert!(
            missing.is_empty(),
            "{} of {} lost: {missing:?}",
            missing.len(),
            inserted.len()
        );
        let copies: usize = after.values().map(|n| n - 1).sum();
        assert_eq!(copies, 0, "no row shipped twice");
        assert!(
            inserted.len() > 250,
            "rows landed meanwhile: {}",
            inserted.len()
        );
    });
}

/// A disconnect reported before its connect writes the row at the disconnect time; the
/// connect, arriving later, moves `connect_time` earlier (Coder keeps the least). The row
/// was shipped once, as a connect and disconnect at the same moment; it is not shipped
/// again when its time moves (a correction under the same id is a duplicate to most SIEMs;
/// see the README), and the late sweep counts it where it now is instead of re-reading its
/// hours at every sweep.
#[test]
fn a_row_whose_connect_time_moves_earlier_ships_once() {
    let rt = common::runtime();
    rt.block_on(async {
        let sim = common::unlimited_sim().await;
        let (h, start) = harness();
        let id = sim.disconnect_before_connect(Utc::now() - TimeDelta::seconds(1));
        let (mut tailer, mut outlet) = h.tailer(&sim, &start);
        settle(&mut tailer, &mut outlet).await;
        assert_eq!(shipped(&h).get(&id), Some(&1));
        assert!(sim.late_connect(&id, Utc::now() - TimeDelta::minutes(40)));
        let found = settle(&mut tailer, &mut outlet).await;
        assert_eq!(found, 0, "a known row that moved is no late row");
        assert_eq!(shipped(&h).get(&id), Some(&1));
        let before = sim.stats().connection_requests;
        tailer.step(&mut outlet).await.unwrap();
        let one_step = sim.stats().connection_requests - before;
        // A scan, a session sweep and the hourly counts; no hour read page by page.
        assert!(one_step <= 2 + 9 + 2, "{one_step} requests");
    });
}
