//! Property test: random schedules of inserts (live, late, tied; 23:59:59.5 rows in the
//! history), faults, deletes (retention and mid-table purges),
//! offset shifts while paging, and crashes at random moments followed by a restart from the
//! checkpoint. Some schedules start at the beginning of the log (`start_at = "beginning"`)
//! with old rows days apart, while rows are inserted after every request and faults are
//! served. Whatever the schedule, the delivered id set equals the inserted set, and no
//! single run delivers an id twice.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use coder_audit_shipper::coder::{Cursor, Stream};
use coder_audit_shipper::config::StartAt;
use coder_audit_shipper::pipeline::initial_cursor;
use coder_sim::{Sim, SimConfig};
use common::{Harness, drain, fast_client, fault, insert_rows, tally};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Rows stamped `age_ms` in the past (late when > 0), `tied` sharing one time.
    Insert {
        count: usize,
        age_ms: i64,
        tied: bool,
    },
    Fault(u8),
    ShiftWhilePaging(usize),
    /// Delete random rows anywhere (connection-event purge) or the oldest (retention).
    Purge(usize),
    Retention {
        keep_hours: i64,
    },
    PurgeWhilePaging(usize),
    Step,
    /// Cancel the next step after this many ms (a crash), then restart from the checkpoint.
    Crash {
        after_ms: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1usize..25, 0i64..90_000, any::<bool>()).prop_map(|(count, age_ms, tied)| Op::Insert { count, age_ms, tied }),
        1 => (0u8..5).prop_map(Op::Fault),
        1 => (0usize..4).prop_map(Op::ShiftWhilePaging),
        1 => (1usize..20).prop_map(Op::Purge),
        1 => (1i64..60).prop_map(|keep_hours| Op::Retention { keep_hours }),
        1 => (0usize..3).prop_map(Op::PurgeWhilePaging),
        4 => Just(Op::Step),
        2 => (0u64..40).prop_map(|after_ms| Op::Crash { after_ms }),
    ]
}

/// How a schedule's stream starts.
#[derive(Debug, Clone)]
enum Start {
    /// Three days back.
    Recent,
    /// `start_at = "beginning"`, with rows this many days old (days apart, the oldest
    /// history), `inserts` rows inserted after every request while the start is searched
    /// for, and `faults` of the faults served meanwhile.
    Beginning {
        old_days: Vec<i64>,
        inserts: usize,
        faults: Vec<u8>,
    },
}

fn start() -> impl Strategy<Value = Start> {
    prop_oneof![
        1 => Just(Start::Recent),
        1 => (
            proptest::collection::vec(3i64..400, 0..6),
            0usize..5,
            proptest::collection::vec(0u8..5, 0..4),
        )
            .prop_map(|(old_days, inserts, faults)| Start::Beginning { old_days, inserts, faults }),
    ]
}

async fn run_schedule(
    backlog: usize,
    edges: Vec<i64>,
    page_size: u32,
    begin: Start,
    ops: Vec<Op>,
) -> Result<(), TestCaseError> {
    if std::env::var_os("TRACE_SCHEDULE").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("coder_audit_shipper=trace")
            .with_test_writer()
            .try_init();
        eprintln!(
            "CASE backlog={backlog} edges={edges:?} page_size={page_size} start={begin:?} ops={ops:?}"
        );
    }
    let sim = Sim::start(SimConfig {
        rate_limit: None,
        seed: 1,
        ..SimConfig::default()
    })
    .await
    .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let now = Utc::now();
    sim.backlog(
        backlog,
        Duration::from_secs(2 * 86_400),
        now - TimeDelta::minutes(3),
    );
    // Rows at 23:59:59.5 of past days (a row that far in the past can only exist before
    // the tailer passes it: the guarantee covers rows at most `overlap` late).
    for days_ago in edges {
        let day = (now - TimeDelta::days(days_ago)).date_naive();
        if let Some(t) = day.and_hms_milli_opt(23, 59, 59, 500) {
            sim.insert_at(t.and_utc());
        }
    }
    let (from, start) = match begin {
        Start::Recent => {
            let from = now - TimeDelta::days(3);
            (from, Cursor::starting_at(from, None))
        }
        Start::Beginning {
            old_days,
            inserts,
            faults,
        } => {
            for days in old_days {
                sim.insert_at(now - TimeDelta::days(days) + TimeDelta::seconds(days * 131));
            }
            sim.set_inserts_per_page(inserts);
            for k in faults {
                sim.push_fault(fault(k));
            }
            let start = initial_cursor(&fast_client(&sim), Stream::Audit, StartAt::Beginning)
                .await
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            sim.set_inserts_per_page(0);
            (DateTime::<Utc>::MIN_UTC, start)
        }
    };
    let h = Harness::new(page_size, TimeDelta::minutes(2));
    let (mut tailer, mut outlet) = h.tailer(&sim, &start);
    // Lines written by each run, to check "no duplicate inside one run".
    let mut run_starts = vec![0usize];

    for op in ops {
        match op {
            Op::Insert {
                count,
                age_ms,
                tied,
            } => insert_rows(&sim, count, age_ms, tied),
            Op::Fault(k) => sim.push_fault(fault(k)),
            Op::ShiftWhilePaging(n) => sim.set_inserts_per_page(n),
            Op::Purge(n) => {
                sim.purge_random(n);
            }
            Op::PurgeWhilePaging(n) => sim.set_purges_per_page(n),
            Op::Retention { keep_hours } => {
                sim.delete_older_than(Utc::now() - TimeDelta::hours(keep_hours));
            }
            Op::Step => {
                tailer
                    .step(&mut outlet)
                    .await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            Op::Crash { after_ms } => {
                let _ =
                    tokio::time::timeout(Duration::from_millis(after_ms), tailer.step(&mut outlet))
                        .await;
                drop((tailer, outlet));
                // Let a write the crash interrupted land, as the kernel would.
                tokio::time::sleep(Duration::from_millis(300)).await;
                run_starts.push(h.delivered().len());
                (tailer, outlet) = h.tailer(&sim, &start);
            }
        }
    }
    sim.set_inserts_per_page(0);
    sim.set_purges_per_page(0);
    drain(&mut tailer, &mut outlet, 500)
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;

    let delivered = h.delivered();
    let t = tally(&sim, &delivered, from);
    prop_assert!(t.lost.is_empty(), "lost {} of {}", t.lost.len(), t.expected);
    prop_assert!(t.unexpected.is_empty());
    run_starts.push(delivered.len());
    for w in run_starts.windows(2) {
        let run = &delivered[w[0]..w[1]];
        let mut unique: HashSet<&String> = HashSet::new();
        for (i, id) in run.iter().enumerate() {
            let at = sim
                .inserted()
                .into_iter()
                .find(|(x, _)| x == id)
                .map(|(_, t)| t);
            prop_assert!(
                unique.insert(id),
                "run {:?}: id {id} (time {at:?}) delivered twice, again at line {}",
                w,
                w[0] + i
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn delivered_equals_inserted_under_random_schedules(
        backlog in 0usize..400,
        edges in proptest::collection::vec(1i64..3, 0..3),
        page_size in 3u32..40,
        begin in start(),
        ops in proptest::collection::vec(op(), 1..30),
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        rt.block_on(run_schedule(backlog, edges, page_size, begin, ops))?;
    }
}
