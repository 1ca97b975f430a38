//! Property test for the connection log: random schedules of sessions opening (some late),
//! web connections, sessions ending, faults, and crashes at random moments followed by a
//! restart from the checkpoint. Whatever the schedule, every connection's connect is
//! delivered, every session that ended has its disconnect delivered, no session still open
//! has one, and no single run delivers the same moment twice.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use coder_audit_shipper::coder::{Cursor, Stream};
use coder_sim::{Fault, Sim, SimConfig};
use common::{Harness, drain};
use proptest::prelude::*;
use serde_json::Value;

#[derive(Debug, Clone)]
enum Op {
    /// A session opened `age_ms` ago (late when > 0).
    Open {
        age_ms: i64,
    },
    /// A web connection (app, port forward, tunnel).
    Web {
        age_ms: i64,
    },
    /// End the open session at this index (modulo how many are open).
    Close(usize),
    Fault(u8),
    Step,
    /// Cancel the next step after this many ms (a crash), then restart from the checkpoint.
    Crash {
        after_ms: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0i64..90_000).prop_map(|age_ms| Op::Open { age_ms }),
        1 => (0i64..90_000).prop_map(|age_ms| Op::Web { age_ms }),
        3 => (0usize..50).prop_map(Op::Close),
        1 => (0u8..3).prop_map(Op::Fault),
        3 => Just(Op::Step),
        2 => (0u64..40).prop_map(|after_ms| Op::Crash { after_ms }),
    ]
}

fn fault(kind: u8) -> Fault {
    match kind {
        0 => Fault::ServerError(502),
        1 => Fault::Truncated,
        _ => Fault::RateLimited {
            retry_after_secs: 0,
        },
    }
}

/// Each raw line: the row id, and whether it carries the disconnect.
fn moments(h: &Harness) -> Vec<(String, bool)> {
    std::fs::read_to_string(h.output())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| {
            (
                v["id"].as_str().unwrap_or_default().to_owned(),
                v["ssh_info"]["disconnect_time"].is_string(),
            )
        })
        .collect()
}

async fn run_schedule(backlog: usize, page_size: u32, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let fail = |e: String| TestCaseError::fail(e);
    let sim = Sim::start(SimConfig {
        rate_limit: None,
        seed: 1,
        ..SimConfig::default()
    })
    .await
    .map_err(|e| fail(e.to_string()))?;
    let now = Utc::now();
    sim.connection_backlog(
        backlog,
        backlog / 10,
        Duration::from_secs(86_400),
        now - TimeDelta::minutes(3),
    );
    let from = now - TimeDelta::days(2);
    let start = Cursor::starting_at(from, None);
    let mut h = Harness::new(page_size, TimeDelta::minutes(2));
    h.stream = Stream::Connection;
    let (mut tailer, mut outlet) = h.tailer(&sim, &start);
    let mut open: Vec<String> = Vec::new();
    let mut run_starts = vec![0usize];
    for op in ops {
        match op {
            Op::Open { age_ms } => {
                open.push(sim.open_session(Utc::now() - TimeDelta::milliseconds(age_ms)));
            }
            Op::Web { age_ms } => {
                sim.insert_web_connection(Utc::now() - TimeDelta::milliseconds(age_ms));
            }
            Op::Close(i) if !open.is_empty() => {
                let id = open.remove(i % open.len());
                sim.close_session(&id, Utc::now());
            }
            Op::Close(_) => {}
            Op::Fault(k) => sim.push_fault(fault(k)),
            Op::Step => {
                tailer
                    .step(&mut outlet)
                    .await
                    .map_err(|e| fail(e.to_string()))?;
            }
            Op::Crash { after_ms } => {
                let _ =
                    tokio::time::timeout(Duration::from_millis(after_ms), tailer.step(&mut outlet))
                        .await;
                drop((tailer, outlet));
                tokio::time::sleep(Duration::from_millis(300)).await;
                run_starts.push(moments(&h).len());
                (tailer, outlet) = h.tailer(&sim, &start);
            }
        }
    }
    drain(&mut tailer, &mut outlet, 500)
        .await
        .map_err(|e| fail(e.to_string()))?;

    let got = moments(&h);
    let connected: HashSet<&str> = got.iter().map(|(id, _)| id.as_str()).collect();
    let disconnected: HashSet<&str> = got
        .iter()
        .filter(|(_, d)| *d)
        .map(|(id, _)| id.as_str())
        .collect();
    let ended = sim.closed_sessions();
    for (id, _) in sim.connections_inserted() {
        prop_assert!(connected.contains(id.as_str()), "connect of {id} lost");
        prop_assert_eq!(
            disconnected.contains(id.as_str()),
            ended.contains(&id),
            "disconnect of {}: ended {}",
            id,
            ended.contains(&id)
        );
    }
    run_starts.push(got.len());
    for w in run_starts.windows(2) {
        let mut unique = HashSet::new();
        for m in &got[w[0]..w[1]] {
            prop_assert!(unique.insert(m), "run {:?}: {:?} delivered twice", w, m);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_connect_and_every_disconnect_arrives_under_random_schedules(
        backlog in 0usize..200,
        page_size in 3u32..40,
        ops in proptest::collection::vec(op(), 1..30),
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        rt.block_on(run_schedule(backlog, page_size, ops))?;
    }
}
