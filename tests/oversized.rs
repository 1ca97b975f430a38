//! Pages and entries larger than `coder.max_response_bytes`: the stream shrinks its
//! requests, reads a single oversized entry without its largest fields, marks it, and
//! moves on. Every id arrives, and copies are counted.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use coder_audit_shipper::coder::Cursor;
use coder_audit_shipper::coder::skim::TRUNCATION_FIELD;
use coder_sim::{Sim, SimConfig, SimHandle};
use common::{Harness, drain};
use serde_json::{Value, json};

const MIB: usize = 1024 * 1024;

fn sim_config() -> SimConfig {
    SimConfig {
        rate_limit: None,
        seed: 5,
        ..SimConfig::default()
    }
}

/// An entry of Coder's shape whose template-version diff holds `diff_bytes` of README.
fn big_entry(time: DateTime<Utc>, diff_bytes: usize) -> (String, Value) {
    let id = uuid::Uuid::new_v4().to_string();
    let entry = json!({
        "id": id,
        "request_id": uuid::Uuid::new_v4().to_string(),
        "time": time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "ip": "10.0.0.7",
        "user_agent": "coder-cli",
        "resource_type": "template_version",
        "resource_id": uuid::Uuid::new_v4().to_string(),
        "resource_target": "docker-v42",
        "resource_icon": "",
        "action": "write",
        "diff": {"readme": {"old": "r".repeat(diff_bytes), "new": "", "secret": false}},
        "status_code": 200,
        "additional_fields": {},
        "description": "{user} updated template version {target}",
        "resource_link": "",
        "is_deleted": false,
        "organization_id": "00000000-0000-0000-0000-000000000000",
        "user": {"id": uuid::Uuid::new_v4().to_string(), "username": "alice", "email": "alice@acme.example", "status": "active", "login_type": "password", "roles": []}
    });
    (id, entry)
}

/// Every output line by id, in order, as JSON.
fn lines(h: &Harness) -> Vec<Value> {
    std::fs::read_to_string(h.output())
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn copies(lines: &[Value]) -> HashMap<String, usize> {
    let mut n = HashMap::new();
    for l in lines {
        *n.entry(l["id"].as_str().unwrap_or("").to_owned())
            .or_default() += 1;
    }
    n
}

fn assert_every_id_once(sim: &SimHandle, lines: &[Value]) {
    let n = copies(lines);
    for (id, _) in sim.inserted() {
        assert_eq!(n.get(&id), Some(&1), "id {id}: {:?} copies", n.get(&id));
    }
    assert_eq!(n.len(), sim.inserted().len());
}

#[tokio::test]
async fn one_twenty_mib_entry_among_normal_ones_ships_marked_and_the_rest_whole() {
    let sim = Sim::start(sim_config()).await.unwrap();
    let now = Utc::now();
    sim.backlog(
        300,
        Duration::from_secs(3 * 3_600),
        now - TimeDelta::minutes(20),
    );
    let (big, entry) = big_entry(now - TimeDelta::hours(2), 20 * MIB);
    assert!(sim.insert_entry(&entry));
    let from = now - TimeDelta::hours(4);
    let mut h = Harness::new(100, TimeDelta::minutes(5));
    h.max_response_bytes = 8 * MIB as u64;
    let (mut tailer, mut outlet) = h.tailer(&sim, &Cursor::starting_at(from, None));
    drain(&mut tailer, &mut outlet, 100).await.unwrap();

    let lines = lines(&h);
    assert_every_id_once(&sim, &lines);
    for l in &lines {
        let id = l["id"].as_str().unwrap();
        if id == big {
            assert_eq!(l["action"], "write");
            assert_eq!(l["user"]["username"], "alice");
            assert_eq!(l["diff"], Value::Null);
            let mark = &l[TRUNCATION_FIELD];
            assert_eq!(mark["fields_omitted"], json!(["diff"]));
            assert!(mark["original_bytes"].as_u64().unwrap() > 20 * MIB as u64);
        } else {
            assert!(l.get(TRUNCATION_FIELD).is_none(), "{id} marked");
        }
    }
}

#[tokio::test]
async fn a_page_too_large_only_together_is_read_in_smaller_pages_whole() {
    let sim = Sim::start(sim_config()).await.unwrap();
    let now = Utc::now();
    sim.backlog(
        200,
        Duration::from_secs(3_600),
        now - TimeDelta::minutes(30),
    );
    // Ten 1.5 MiB entries in a row: any four of them exceed the 5 MiB cap, one fits.
    let big: Vec<String> = (0..10)
        .map(|i| {
            let (id, e) = big_entry(
                now - TimeDelta::minutes(50) + TimeDelta::seconds(i),
                3 * MIB / 2,
            );
            assert!(sim.insert_entry(&e));
            id
        })
        .collect();
    let from = now - TimeDelta::hours(2);
    let mut h = Harness::new(50, TimeDelta::minutes(5));
    h.max_response_bytes = 5 * MIB as u64;
    let (mut tailer, mut outlet) = h.tailer(&sim, &Cursor::starting_at(from, None));
    drain(&mut tailer, &mut outlet, 100).await.unwrap();
    let lines = lines(&h);
    assert_every_id_once(&sim, &lines);
    for l in lines.iter().filter(|l| big.iter().any(|b| l["id"] == *b)) {
        assert!(
            l.get(TRUNCATION_FIELD).is_none(),
            "shrinking the page keeps it whole"
        );
        assert_eq!(
            l["diff"]["readme"]["old"].as_str().unwrap().len(),
            3 * MIB / 2
        );
    }
}

#[tokio::test]
async fn oversized_rows_sharing_one_time_are_read_in_one_skimmed_answer() {
    let sim = Sim::start(sim_config()).await.unwrap();
    let now = Utc::now();
    let tied = now - TimeDelta::minutes(40);
    sim.backlog(40, Duration::from_secs(3_600), now - TimeDelta::minutes(10));
    // Five 3 MiB rows with one time: two exceed the 5 MiB cap, so a page cannot be
    // shrunk around them without splitting the tie group.
    let big: Vec<String> = (0..5)
        .map(|_| {
            let (id, e) = big_entry(tied, 3 * MIB);
            assert!(sim.insert_entry(&e));
            id
        })
        .collect();
    let from = now - TimeDelta::hours(2);
    let mut h = Harness::new(4, TimeDelta::minutes(5));
    h.max_response_bytes = 5 * MIB as u64;
    let (mut tailer, mut outlet) = h.tailer(&sim, &Cursor::starting_at(from, None));
    drain(&mut tailer, &mut outlet, 100).await.unwrap();
    let lines = lines(&h);
    assert_every_id_once(&sim, &lines);
    for id in &big {
        let l = lines.iter().find(|l| l["id"] == *id).unwrap();
        assert_eq!(l[TRUNCATION_FIELD]["fields_omitted"], json!(["diff"]));
    }
}

#[tokio::test]
async fn an_oversized_entry_is_marked_in_ecs_and_ocsf() {
    use coder_audit_shipper::coder::{AuditEntry, Oversized};
    use coder_audit_shipper::normalize::{
        ClassStrategy, Enrichment, Normalizer, OcsfVersion, Target,
    };
    let (_, entry) = big_entry(Utc::now(), 10);
    let mut entry: AuditEntry = serde_json::from_value(entry).unwrap();
    entry.diff = None;
    entry.oversized = Some(Oversized {
        fields_omitted: vec!["diff".into()],
        original_bytes: 20 * MIB as u64,
    });
    let read_at = Utc::now();
    let ecs = Normalizer::new(Target::Ecs, Enrichment::default(), None).to_values(&entry, read_at);
    assert_eq!(ecs[0]["coder"]["truncated"], true);
    assert_eq!(
        ecs[0]["coder"]["audit"]["truncation"]["entry_fields_omitted"],
        json!(["diff"])
    );
    assert!(ecs[0]["event"].get("original").is_none());
    for version in [OcsfVersion::V1_8_0, OcsfVersion::V1_1_0] {
        let ocsf = Normalizer::new(
            Target::Ocsf {
                version,
                classes: ClassStrategy::Semantic,
            },
            Enrichment::default(),
            Some(64 * 1024),
        )
        .to_values(&entry, read_at);
        let unmapped = &ocsf[0]["unmapped"]["coder"];
        assert_eq!(unmapped["truncated"], true);
        assert_eq!(unmapped["truncation"]["original_bytes"], 20 * MIB);
        assert_eq!(
            unmapped["truncation"]["entry_fields_omitted"],
            json!(["diff"])
        );
    }
    // An entry read whole carries no mark.
    entry.oversized = None;
    let ecs = Normalizer::new(Target::Ecs, Enrichment::default(), None).to_values(&entry, read_at);
    assert!(ecs[0]["coder"].get("truncated").is_none());
}

#[tokio::test]
async fn a_cap_smaller_than_one_ordinary_entry_does_not_wedge_the_stream() {
    let sim = Sim::start(sim_config()).await.unwrap();
    let now = Utc::now();
    sim.backlog(60, Duration::from_secs(3_600), now - TimeDelta::minutes(20));
    let from = now - TimeDelta::hours(2);
    let mut h = Harness::new(20, TimeDelta::minutes(5));
    // No page of even one row fits: every row is read skimmed, and with a field budget
    // above every field of an ordinary entry, whole.
    h.max_response_bytes = 256;
    let (mut tailer, mut outlet) = h.tailer(&sim, &Cursor::starting_at(from, None));
    drain(&mut tailer, &mut outlet, 200).await.unwrap();
    let lines = lines(&h);
    assert_every_id_once(&sim, &lines);
    assert!(lines.iter().all(|l| l.get(TRUNCATION_FIELD).is_none()));
}

/// The start search and the empty-stretch probes read one row at a time: when that row is
/// larger than the cap they read it skimmed, instead of failing the stream.
#[tokio::test]
async fn an_oversized_row_does_not_stop_the_start_search_or_the_gallop_over_empty_days() {
    use coder_audit_shipper::coder::Stream;
    use coder_audit_shipper::config::StartAt;
    use coder_audit_shipper::pipeline::initial_cursor;
    let sim = Sim::start(sim_config()).await.unwrap();
    let now = Utc::now();
    let mut big = Vec::new();
    for days in [300, 120] {
        let (id, e) = big_entry(now - TimeDelta::days(days), 10 * MIB);
        assert!(sim.insert_entry(&e));
        big.push(id);
    }
    for days in [200, 40, 2] {
        sim.insert_at(now - TimeDelta::days(days));
    }
    let cap = 8 * MIB as u64;
    let start = initial_cursor(
        &common::client_with_cap(&sim, cap),
        Stream::Audit,
        StartAt::Beginning,
    )
    .await
    .unwrap();
    let mut h = Harness::new(50, TimeDelta::minutes(5));
    h.max_response_bytes = cap;
    let (mut tailer, mut outlet) = h.tailer(&sim, &start);
    drain(&mut tailer, &mut outlet, 2_000).await.unwrap();
    let lines = lines(&h);
    assert_every_id_once(&sim, &lines);
    for id in &big {
        let l = lines.iter().find(|l| l["id"] == *id).unwrap();
        assert_eq!(l[TRUNCATION_FIELD]["fields_omitted"], json!(["diff"]));
    }
    // Skimmed probes, not a walk of a request per day over 300 days.
    assert!(sim.stats().audit_requests < 200, "{:?}", sim.stats());
}

/// A page that takes longer to serve than `coder.request_timeout` (Coder has no maximum
/// `limit`, and a page's time grows with what its rows hold) timed out at the same size for
/// ever. It is asked for with half the rows, as a page over the size cap is.
#[tokio::test(flavor = "multi_thread")]
async fn a_page_too_slow_to_serve_is_asked_for_with_fewer_rows() {
    let sim = Sim::start(sim_config()).await.unwrap();
    let now = Utc::now();
    // 300 rows, and one more at 23:59:59.5 when the hour crosses midnight (run between
    // 00:10 and 01:10 UTC): count what the simulator made.
    let made = sim.backlog(
        300,
        Duration::from_secs(3_600),
        now - TimeDelta::minutes(10),
    );
    // Pages of more than 20 rows are answered after 3 s; the client waits 1 s.
    sim.set_slow_pages(Some((20, Duration::from_secs(3))));
    let mut h = Harness::new(100, TimeDelta::minutes(1));
    h.request_timeout = Duration::from_secs(1);
    let start = Cursor::starting_at(now - TimeDelta::hours(2), Some(now - TimeDelta::hours(2)));
    let (mut tailer, mut outlet) = h.tailer(&sim, &start);
    tokio::time::timeout(
        Duration::from_secs(120),
        drain(&mut tailer, &mut outlet, 200),
    )
    .await
    .expect("the stream moves on instead of timing out at the same size for ever")
    .unwrap();
    let mut copies: HashMap<String, usize> = HashMap::new();
    for id in h.delivered() {
        *copies.entry(id).or_insert(0) += 1;
    }
    assert_eq!(copies.len(), made);
    assert!(copies.values().all(|n| *n == 1));
}
