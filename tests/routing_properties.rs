//! Property test for per-sink filters (`[sinks.NAME.filter]`): three sinks behind one
//! shared reader, each with a random filter over the simulator's mix of entries (logins
//! that fail and succeed, builds, template and user writes, tokens, groups, agent rows
//! without a user). Each sink ends with exactly the ids its filter admits, each once; a
//! sink whose filter admits nothing still moves its checkpoint to the end and counts what
//! it left out.
//!
//! The expected ids come from an oracle written here from the documented rules (Coder's
//! fields, and ECS's `event.outcome` as `normalize/outcome.rs` states it), not from the
//! filter's own code. The sinks are stand-ins that keep the ids they are sent: what is
//! under test is the shared reader, the filter and the checkpoint.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeDelta, Utc};
use coder_audit_shipper::checkpoint::{CheckpointKey, CheckpointStore, FileStore};
use coder_audit_shipper::coder::{Cursor, Stream, Tailer, TailerOptions};
use coder_audit_shipper::dead_letter::DeadLetters;
use coder_audit_shipper::pipeline::{
    Encoder, Filter, Member, SinkOutlet, SoloTailer, StreamStats, Timings, run_group,
};
use coder_sim::{Sim, SimConfig};
use common::fast_client;
use proptest::prelude::*;
use serde_json::Value;
use sink_core::{Batch, Delivery, Sink};

const SINKS: usize = 3;

/// A sink that keeps the ids it was sent.
struct Kept(Arc<Mutex<Vec<String>>>);

#[async_trait]
impl Sink for Kept {
    fn name(&self) -> &str {
        "kept"
    }
    async fn deliver(&mut self, batch: &Batch) -> Delivery {
        let mut got = self.0.lock().unwrap();
        got.extend(batch.records().iter().map(|r| r.id.to_string()));
        Delivery::Delivered
    }
}

/// One rule as the test draws it: each key empty (not named) or a few values.
#[derive(Debug, Clone)]
struct Drawn {
    resource_type: Vec<&'static str>,
    action: Vec<&'static str>,
    outcome: Vec<&'static str>,
    user: Vec<&'static str>,
}

fn some_of(values: &'static [&'static str]) -> impl Strategy<Value = Vec<&'static str>> {
    prop_oneof![
        2 => Just(Vec::new()),
        1 => proptest::sample::subsequence(values, 1..=2),
    ]
}

fn drawn() -> impl Strategy<Value = Drawn> {
    (
        some_of(&[
            "api_key",
            "workspace_build",
            "template",
            "user",
            "group",
            "workspace_agent",
        ]),
        some_of(&[
            "login",
            "logout",
            "start",
            "stop",
            "write",
            "create",
            "disconnect",
        ]),
        some_of(&["success", "failure", "unknown"]),
        some_of(&["alice", "bob", "carol"]),
    )
        .prop_map(|(resource_type, action, outcome, user)| Drawn {
            resource_type,
            action,
            outcome,
            user,
        })
        // A rule naming nothing is refused by the config; it is not drawn.
        .prop_filter("names a key", |d| {
            !(d.resource_type.is_empty()
                && d.action.is_empty()
                && d.outcome.is_empty()
                && d.user.is_empty())
        })
}

#[derive(Debug, Clone)]
struct DrawnFilter {
    include: Vec<Drawn>,
    exclude: Vec<Drawn>,
}

fn drawn_filter() -> impl Strategy<Value = DrawnFilter> {
    (
        proptest::collection::vec(drawn(), 0..3),
        proptest::collection::vec(drawn(), 0..2),
    )
        .prop_map(|(include, exclude)| DrawnFilter { include, exclude })
}

impl DrawnFilter {
    /// The filter as a config would give it.
    fn filter(&self) -> Filter {
        let rules = |rules: &[Drawn]| -> Vec<Value> {
            rules
                .iter()
                .map(|d| {
                    let mut m = serde_json::Map::new();
                    for (k, v) in [
                        ("resource_type", &d.resource_type),
                        ("action", &d.action),
                        ("outcome", &d.outcome),
                        ("user", &d.user),
                    ] {
                        if !v.is_empty() {
                            m.insert(k.into(), serde_json::json!(v));
                        }
                    }
                    Value::Object(m)
                })
                .collect()
        };
        serde_json::from_value(serde_json::json!({
            "include": rules(&self.include), "exclude": rules(&self.exclude)
        }))
        .expect("a filter")
    }

    /// The oracle: whether an entry (Coder's JSON) is sent.
    fn admits(&self, entry: &Value) -> bool {
        let s = |k: &str| entry[k].as_str();
        let user = acting_user(entry);
        let outcome = outcome(entry);
        let matches = |d: &Drawn| {
            let one_of =
                |vs: &[&str], v: Option<&str>| vs.is_empty() || v.is_some_and(|v| vs.contains(&v));
            one_of(&d.resource_type, s("resource_type"))
                && one_of(&d.action, s("action"))
                && one_of(&d.outcome, Some(outcome))
                && one_of(&d.user, user)
        };
        (self.include.is_empty() || self.include.iter().any(matches))
            && !self.exclude.iter().any(matches)
    }
}

/// Who acted, as ECS `user.name` says it (`normalize/facts.rs`): the entry's user, but
/// for a scheduled build (autostart, autostop, dormancy, ...) or a background task Coder
/// acted and the user is only the workspace's owner.
fn acting_user(entry: &Value) -> Option<&str> {
    let extra = &entry["additional_fields"];
    let scheduled = extra["build_reason"].as_str().is_some_and(|r| {
        matches!(
            r,
            "autostart" | "autostop" | "dormancy" | "failedstop" | "autodelete" | "task_auto_pause"
        )
    });
    let background = extra["automatic_actor"]
        .as_str()
        .is_some_and(|a| !a.is_empty());
    if scheduled || background || entry["action"] == "request_password_reset" {
        return None;
    }
    entry["user"]["username"].as_str().filter(|u| !u.is_empty())
}

/// ECS `event.outcome` of an entry, as `normalize/outcome.rs` documents it: an agent
/// disconnect's status is an exit code (0 success); a 2xx or 101 succeeded, a 4xx or 5xx
/// failed, a sign-in's 307 succeeded, another 3xx or no status says nothing.
fn outcome(entry: &Value) -> &'static str {
    let (rt, action) = (
        entry["resource_type"].as_str().unwrap_or(""),
        entry["action"].as_str().unwrap_or(""),
    );
    let code = entry["status_code"].as_i64().unwrap_or(0);
    if rt == "workspace_agent" && action == "disconnect" {
        return if code == 0 { "success" } else { "failure" };
    }
    match code {
        101 | 200..=299 => "success",
        307 if matches!(action, "login" | "register") => "success",
        400..=599 => "failure",
        _ => "unknown",
    }
}

async fn run_case(
    backlog: usize,
    page_size: u32,
    filters: Vec<DrawnFilter>,
) -> Result<(), TestCaseError> {
    let sim = Sim::start(SimConfig {
        rate_limit: None,
        seed: 11,
        ..SimConfig::default()
    })
    .await
    .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let now = Utc::now();
    sim.backlog(
        backlog,
        Duration::from_secs(86_400),
        now - TimeDelta::minutes(3),
    );
    let entries: Vec<Value> = sim.entries();
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
        overlap_reread_interval: Duration::from_secs(1),
        lookups: None,
    };
    let start = Cursor::starting_at(now - TimeDelta::days(2), None);
    let (shutdown_tx, shutdown) = tokio::sync::watch::channel(false);
    let (mut members, mut gots, mut stats) = (Vec::new(), Vec::new(), Vec::new());
    for (i, f) in filters.iter().enumerate() {
        let got = Arc::new(Mutex::new(Vec::new()));
        gots.push(got.clone());
        let s = Arc::new(StreamStats::default());
        stats.push(s.clone());
        let name = format!("s{i}");
        let outlet = SinkOutlet::new(
            Box::new(Kept(got)),
            Encoder::Raw,
            store.clone(),
            CheckpointKey::run(&name),
            s,
            DeadLetters::new(&dir.path().join("dead-letter"), &name),
        )
        .with_filter(f.filter());
        members.push(Member::start(name, outlet, start.clone(), shutdown.clone()));
    }
    let solo: SoloTailer = {
        let (client, options) = (client.clone(), options.clone());
        Arc::new(move |c| Tailer::new(client.clone(), options.clone(), c))
    };
    let timings = Timings {
        poll_interval: Duration::from_millis(50),
        shutdown_timeout: Duration::from_secs(5),
        detach_after: Duration::from_secs(5),
    };
    let reader = Tailer::new(client.clone(), options, start);
    let group = tokio::spawn(run_group(
        reader,
        members,
        Vec::new(),
        solo,
        timings,
        shutdown,
    ));

    let wanted: Vec<Vec<String>> = filters
        .iter()
        .map(|f| {
            let mut ids: Vec<String> = entries
                .iter()
                .filter(|e| f.admits(e))
                .filter_map(|e| e["id"].as_str().map(str::to_owned))
                .collect();
            ids.sort();
            ids
        })
        .collect();
    // Caught up: every sink holds what it should, and has handled every row.
    let total = entries.len() as u64;
    for _ in 0..300 {
        let done = stats
            .iter()
            .all(|s| s.received.load(std::sync::atomic::Ordering::Relaxed) >= total);
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A few polls more, for anything wrongly sent twice to show.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = shutdown_tx.send(true);
    let ends = group
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    for (name, end) in &ends {
        prop_assert!(end.is_ok(), "{name}: {end:?}");
    }
    let newest = entries
        .iter()
        .filter_map(|e| e["time"].as_str())
        .filter_map(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .max();
    for (i, got) in gots.iter().enumerate() {
        let mut ids = got.lock().unwrap().clone();
        ids.sort();
        prop_assert_eq!(&ids, &wanted[i], "s{} under {:?}", i, filters[i]);
        let filtered = stats[i].filtered.load(std::sync::atomic::Ordering::Relaxed);
        prop_assert_eq!(
            filtered,
            total - wanted[i].len() as u64,
            "s{} counts what it left out",
            i
        );
        // Its checkpoint moved to the end, whatever the filter sent.
        let saved = store
            .load(&CheckpointKey::run(&format!("s{i}")))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        if let Some(newest) = newest {
            let position = saved.map(|c| c.cursor.position);
            prop_assert!(
                position.is_some_and(|p| p >= newest - TimeDelta::minutes(1)),
                "s{} checkpoint {:?} short of {}",
                i,
                position,
                newest
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn each_sink_gets_exactly_what_its_filter_admits_and_its_checkpoint_moves(
        backlog in 1usize..250,
        page_size in 10u32..100,
        mut filters in proptest::collection::vec(drawn_filter(), SINKS),
        nothing in any::<bool>(),
    ) {
        // Sometimes one sink admits nothing at all: its checkpoint must move all the same.
        if nothing {
            filters[0] = DrawnFilter {
                include: vec![Drawn { resource_type: vec!["no_such_type"], action: vec![], outcome: vec![], user: vec![] }],
                exclude: vec![],
            };
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(run_case(backlog, page_size, filters))?;
    }
}
