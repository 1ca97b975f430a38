//! Property test for one read of Coder shared by several sinks (issue #23): three sinks
//! behind one shared reader (one of them sometimes starting apart, from another cursor),
//! random live inserts (late, tied), Coder faults, and random outages of each sink. A sink
//! whose queue stays full leaves the shared reader, reads alone, and joins again once it
//! has caught up. Whatever the schedule, every sink ends with every inserted id, and none
//! has any id twice (one run, no crash: nothing excuses a duplicate). Some schedules stop
//! at once after their last step, sinks down and groups half handed: every sink still
//! ends once, with no id twice.
//!
//! The sinks here are stand-ins, a list of ids and a switch that makes the sink answer
//! "retry" as a peer that is down does: what is under test is everything between Coder
//! and a sink (shared reader, relays, detach, rejoin, checkpoints). The real peers have
//! their suites, and `tests/chaos/rejoin.rs` runs the same story against S3.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use coder_audit_shipper::checkpoint::{CheckpointKey, FileStore};
use coder_audit_shipper::coder::{Cursor, Stream, Tailer, TailerOptions};
use coder_audit_shipper::dead_letter::DeadLetters;
use coder_audit_shipper::pipeline::{
    Encoder, Member, SinkOutlet, SoloTailer, StreamStats, Timings, run_group,
};
use coder_sim::{Sim, SimConfig};
use common::{fast_client, fault, insert_rows, tally};
use proptest::prelude::*;
use sink_core::{Batch, Delivery, Sink};

const SINKS: usize = 3;

/// A sink that keeps the ids it was sent, and answers "retry" while `down`.
struct Switched {
    down: Arc<AtomicBool>,
    got: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl Sink for Switched {
    fn name(&self) -> &str {
        "switched"
    }
    async fn deliver(&mut self, batch: &Batch) -> Delivery {
        if self.down.load(Ordering::Relaxed) {
            return Delivery::Retry {
                after: Some(Duration::from_millis(20)),
                reason: "down".into(),
            };
        }
        let mut got = self.got.lock().unwrap();
        got.extend(batch.records().iter().map(|r| r.id.to_string()));
        Delivery::Delivered
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// Rows stamped `age_ms` in the past (late when large), `tied` sharing one time.
    Insert {
        count: usize,
        age_ms: i64,
        tied: bool,
    },
    /// Sink `sink` answers "retry" for `ms`.
    Down {
        sink: usize,
        ms: u64,
    },
    Fault(u8),
    Wait {
        ms: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1usize..30, 0i64..20_000, any::<bool>())
            .prop_map(|(count, age_ms, tied)| Op::Insert { count, age_ms, tied }),
        2 => (0..SINKS, 100u64..2_000).prop_map(|(sink, ms)| Op::Down { sink, ms }),
        1 => (0u8..5).prop_map(Op::Fault),
        3 => (10u64..600).prop_map(|ms| Op::Wait { ms }),
    ]
}

async fn run_schedule(
    backlog: usize,
    page_size: u32,
    apart: bool,
    stop_early: bool,
    ops: Vec<Op>,
) -> Result<(), TestCaseError> {
    let sim = Sim::start(SimConfig {
        rate_limit: None,
        seed: 7,
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
    let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let store = Arc::new(FileStore::new(dir.path().join("state")));
    let client = fast_client(&sim);
    let options = TailerOptions {
        page_size,
        overlap: TimeDelta::minutes(1),
        end: None,
        stream: Stream::Audit,
        session_horizon: TimeDelta::days(7),
        session_poll_interval: Duration::from_secs(10),
        late_horizon: TimeDelta::zero(),
        late_sweep_interval: Duration::from_secs(300),
        // Between deep reads a scan reads 10 s down: rows up to 20 s late need the next.
        overlap_reread_interval: Duration::from_secs(1),
        lookups: None,
    };
    let shared = Cursor::starting_at(now - TimeDelta::days(3), None);
    let (shutdown_tx, shutdown) = tokio::sync::watch::channel(false);
    let mut downs = Vec::new();
    let mut gots = Vec::new();
    let (mut members, mut behind) = (Vec::new(), Vec::new());
    for i in 0..SINKS {
        let (down, got) = (Arc::new(AtomicBool::new(false)), Arc::default());
        downs.push(down.clone());
        gots.push(Arc::clone(&got));
        let name = format!("s{i}");
        let outlet = SinkOutlet::new(
            Box::new(Switched { down, got }),
            Encoder::Raw,
            store.clone(),
            CheckpointKey::run(&name),
            Arc::new(StreamStats::default()),
            DeadLetters::new(&dir.path().join("dead-letter"), &name),
        );
        // The last sink sometimes starts a day further back: it reads alone at first.
        let cursor = if apart && i == SINKS - 1 {
            Cursor::starting_at(now - TimeDelta::days(4), None)
        } else {
            shared.clone()
        };
        let member = Member::start(name, outlet, cursor.clone(), shutdown.clone());
        if cursor == shared {
            members.push(member);
        } else {
            behind.push((Tailer::new(client.clone(), options.clone(), cursor), member));
        }
    }
    let solo: SoloTailer = {
        let (client, options) = (client.clone(), options.clone());
        Arc::new(move |c| Tailer::new(client.clone(), options.clone(), c))
    };
    let timings = Timings {
        poll_interval: Duration::from_millis(50),
        shutdown_timeout: Duration::from_secs(5),
        detach_after: Duration::from_millis(300),
    };
    let reader = Tailer::new(client.clone(), options.clone(), shared.clone());
    let group = tokio::spawn(run_group(reader, members, behind, solo, timings, shutdown));

    for op in ops {
        match op {
            Op::Insert {
                count,
                age_ms,
                tied,
            } => insert_rows(&sim, count, age_ms, tied),
            Op::Down { sink, ms } => {
                let down = downs[sink].clone();
                down.store(true, Ordering::Relaxed);
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    down.store(false, Ordering::Relaxed);
                });
            }
            Op::Fault(k) => sim.push_fault(fault(k)),
            Op::Wait { ms } => tokio::time::sleep(Duration::from_millis(ms)).await,
        }
    }
    // Stopped early, sinks may be down and groups half handed: every sink still ends
    // once, and none has an id twice.
    let catch_up = if stop_early { 0 } else { 300 };
    if !stop_early {
        // Every sink up; wait until each holds every row (or give up and report).
        tokio::time::sleep(Duration::from_millis(2_000)).await;
    }
    let expected = sim.inserted().len();
    for _ in 0..catch_up {
        let done = gots.iter().all(|g| {
            let got: std::collections::HashSet<String> =
                g.lock().unwrap().iter().cloned().collect();
            got.len() >= expected
        });
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = shutdown_tx.send(true);
    let ends = group
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(ends.len(), SINKS, "every sink ends once: {:?}", ends);
    for (name, end) in &ends {
        prop_assert!(end.is_ok(), "{name}: {end:?}");
    }
    for (i, got) in gots.iter().enumerate() {
        let ids = got.lock().unwrap().clone();
        let t = tally(&sim, &ids, DateTime::<Utc>::MIN_UTC);
        prop_assert_eq!(t.duplicates, 0, "s{} had ids twice", i);
        if stop_early {
            continue;
        }
        prop_assert!(
            t.lost.is_empty(),
            "s{i} lost {} of {}",
            t.lost.len(),
            t.expected
        );
        prop_assert!(t.unexpected.is_empty(), "s{i}: {:?}", t.unexpected);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, ..ProptestConfig::default() })]

    #[test]
    fn every_sink_gets_every_row_once_through_outages_detaches_and_rejoins(
        backlog in 0usize..300,
        page_size in 5u32..50,
        apart in any::<bool>(),
        stop_early in proptest::bool::weighted(0.25),
        ops in proptest::collection::vec(op(), 1..25),
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        rt.block_on(run_schedule(backlog, page_size, apart, stop_early, ops))?;
    }
}
