//! `[enrich.coder]`: look-ups of what the ids of an entry name, against the simulator's
//! directory (`sim/src/directory.rs`, written from `coder-api/swagger.json` and Coder's
//! `httpapi.Is404Error`): every event about a workspace names its template and owner when
//! the token may read workspaces; none is lost, repeated or held past the timeout when a
//! look-up is slow, refused (403), gone (404) or rate-limited (429); and requests stay near
//! the number of distinct ids.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use coder_audit_shipper::coder::Cursor;
use coder_audit_shipper::coder::lookup::{LookupOptions, Lookups};
use coder_audit_shipper::normalize::{Normalizer, Target};
use coder_audit_shipper::pipeline::Encoder;
use coder_sim::directory::{self, MALLORY_ID, TEMPLATES};
use coder_sim::{Fault, SimHandle};
use serde_json::Value;

use common::Harness;

fn options(timeout: Duration) -> LookupOptions {
    LookupOptions {
        timeout,
        ttl: Duration::from_secs(600),
        max_entries: std::num::NonZeroUsize::new(10_000).unwrap(),
        max_bytes: 8 << 20,
        max_per_minute: None,
    }
}

/// ECS records, without static enrichment.
fn ecs() -> Encoder {
    Encoder::Normalized(Normalizer::new(
        Target::Ecs,
        coder_audit_shipper::normalize::Enrichment::default(),
        None,
    ))
}

/// A harness shipping ECS with look-ups through `sim`.
fn harness(sim: &SimHandle, timeout: Duration) -> Harness {
    let mut h = Harness::new(100, TimeDelta::minutes(1));
    h.lookups = Some(Lookups::new(common::fast_client(sim), &options(timeout)));
    h.encoder = ecs();
    h
}

/// Ship everything `sim` holds through `h`; the ECS documents, in order.
async fn ship(sim: &SimHandle, h: &Harness) -> Vec<Value> {
    let start = Cursor::starting_at(Utc::now() - TimeDelta::days(2), None);
    let (mut tailer, mut outlet) = h.tailer(sim, &start);
    common::drain(&mut tailer, &mut outlet, 500)
        .await
        .expect("drained");
    std::fs::read_to_string(h.output())
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("an ECS line"))
        .collect()
}

/// No loss and no duplicate among `docs`, against the simulator's ground truth.
fn assert_whole(sim: &SimHandle, docs: &[Value]) {
    let ids: Vec<String> = docs
        .iter()
        .map(|d| d["event"]["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    let t = common::tally(sim, &ids, chrono::DateTime::<Utc>::MIN_UTC);
    assert!(t.lost.is_empty(), "lost {:?}", t.lost);
    assert_eq!(t.duplicates, 0);
    assert!(t.unexpected.is_empty());
}

fn of_type<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter()
        .filter(|d| d["coder"]["audit"]["resource"]["type"] == kind)
        .collect()
}

/// The template name the directory gives the workspace a build names.
fn template_of_build(doc: &Value) -> String {
    let id = doc["coder"]["audit"]["additional_fields"]["workspace_id"]
        .as_str()
        .expect("a build names its workspace");
    let n = (0..directory::WORKSPACES)
        .find(|n| directory::workspace_id(*n) == id)
        .expect("a directory workspace");
    ["docker-dev", "k8s-gpu", "aws-windows", "jetbrains-ide"][n % TEMPLATES].to_owned()
}

#[tokio::test]
async fn every_event_about_a_workspace_names_its_template_and_owner() {
    let sim = common::unlimited_sim().await;
    sim.set_workspaces_readable(true);
    sim.backlog(600, Duration::from_secs(3_600), Utc::now());
    let h = harness(&sim, Duration::from_secs(5));
    let docs = ship(&sim, &h).await;
    assert_whole(&sim, &docs);

    let builds = of_type(&docs, "workspace_build");
    assert!(builds.len() > 100, "{}", builds.len());
    for b in &builds {
        let w = &b["coder"]["workspace"];
        assert_eq!(w["template"]["name"], template_of_build(b), "{b}");
        assert!(w["template"]["id"].is_string() && w["template"]["active_version_id"].is_string());
        assert!(
            w["owner"]["name"].is_string() && w["owner"]["id"].is_string(),
            "{b}"
        );
        assert!(
            w["owner"]["email"]
                .as_str()
                .is_some_and(|e| e.ends_with("@acme.example")),
            "{b}"
        );
    }
    for u in of_type(&docs, "user") {
        assert_eq!(u["user"]["target"]["email"], "mallory@acme.example", "{u}");
        assert_eq!(u["user"]["target"]["full_name"], "Mallory Quinn");
    }
    let templates = of_type(&docs, "template");
    assert!(!templates.is_empty());
    for t in templates {
        assert!(t["coder"]["template"]["display_name"].is_string(), "{t}");
    }

    // One request per distinct id: the cache and single-flight, counted by the simulator.
    let asked = sim.lookup_requests();
    let distinct_workspaces: std::collections::BTreeSet<&str> = builds
        .iter()
        .filter_map(|b| b["coder"]["audit"]["additional_fields"]["workspace_id"].as_str())
        .collect();
    assert_eq!(
        asked.get("workspaces").copied().unwrap_or(0),
        distinct_workspaces.len() as u64,
        "{asked:?}"
    );
    assert!(asked.get("templates").copied().unwrap_or(0) <= TEMPLATES as u64);
    // Three owners and mallory.
    assert!(asked.get("users").copied().unwrap_or(0) <= 4, "{asked:?}");
}

/// With a budget, the look-ups take at most their share, and a page whose look-ups find
/// the share spent does not wait for them: the events ship without, counted `deferred`,
/// and the ids are asked again when later events name them.
#[tokio::test]
async fn a_spent_share_defers_lookups_and_holds_no_page() {
    let _ = coder_audit_shipper::ops::metrics::render();
    let sim = common::unlimited_sim().await;
    sim.set_workspaces_readable(true);
    sim.backlog(400, Duration::from_secs(3_600), Utc::now());
    let mut h = Harness::new(100, TimeDelta::minutes(1));
    // The smallest share: a burst of 1, then one look-up every 6 s. With a 60 s timeout a
    // page that waited for its deferred look-ups would take minutes.
    h.lookups = Some(Lookups::new(
        common::fast_client(&sim),
        &LookupOptions {
            max_per_minute: Some(10),
            ..options(Duration::from_secs(60))
        },
    ));
    h.encoder = ecs();
    let started = std::time::Instant::now();
    let docs = ship(&sim, &h).await;
    assert_whole(&sim, &docs);
    let asked: u64 = sim.lookup_requests().values().sum();
    let secs = started.elapsed().as_secs();
    // One in the burst, one every 6 s after (an upper bound, not a timing test).
    assert!(asked <= 2 + secs / 6, "{asked} look-ups in {secs} s");
    let builds = of_type(&docs, "workspace_build");
    assert!(builds.iter().any(|b| b["coder"]["workspace"].is_null()));
    let metrics = coder_audit_shipper::ops::metrics::render();
    assert!(
        common::scrape::metric(&metrics, "enrich_lookups_total", &["result=\"deferred\""])
            .is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_auditor_token_asks_no_workspace_and_still_names_users_and_templates() {
    let sim = common::unlimited_sim().await;
    // The simulator's default: the Auditor role, which may not read workspaces.
    sim.backlog(300, Duration::from_secs(3_600), Utc::now());
    let h = harness(&sim, Duration::from_secs(5));
    let docs = ship(&sim, &h).await;
    assert_whole(&sim, &docs);
    let asked = sim.lookup_requests();
    assert_eq!(asked.get("workspaces"), None, "{asked:?}");
    assert!(asked.get("users").copied().unwrap_or(0) >= 1, "{asked:?}");
    for b in of_type(&docs, "workspace_build") {
        assert!(b["coder"]["workspace"].is_null(), "{b}");
    }
    for u in of_type(&docs, "user") {
        assert_eq!(u["user"]["target"]["email"], "mallory@acme.example");
    }
}

/// Look-ups that hang past the timeout ship their events without them; the fetch still
/// fills the cache, so later events have them. Nothing lost or repeated.
#[tokio::test]
async fn a_slow_lookup_ships_the_page_without_it() {
    // The recorder keeps only what is counted after it is installed.
    let _ = coder_audit_shipper::ops::metrics::render();
    let sim = common::unlimited_sim().await;
    sim.set_workspaces_readable(true);
    sim.backlog(300, Duration::from_secs(3_600), Utc::now());
    for _ in 0..directory::WORKSPACES {
        sim.push_lookup_fault(Fault::Hang(Duration::from_secs(3)));
    }
    let h = harness(&sim, Duration::from_millis(200));
    let docs = ship(&sim, &h).await;
    assert_whole(&sim, &docs);
    let builds = of_type(&docs, "workspace_build");
    let named = builds
        .iter()
        .filter(|b| b["coder"]["workspace"]["template"]["name"].is_string())
        .count();
    assert!(named < builds.len(), "every look-up hung past the timeout");
    let metrics = coder_audit_shipper::ops::metrics::render();
    let timeouts =
        common::scrape::metric(&metrics, "enrich_lookups_total", &["result=\"timeout\""]);
    assert!(timeouts.is_some_and(|n| n >= 1.0), "{metrics}");
}

/// A 403 turns that kind off after one request; a 404 is remembered as gone; a 429 pauses
/// the look-ups and they come back. Every event ships.
#[tokio::test]
async fn refused_gone_and_rate_limited_lookups_lose_nothing() {
    let sim = common::unlimited_sim().await;
    sim.set_workspaces_readable(true);
    let gone = directory::workspace_id(7);
    sim.delete_resource(&gone);
    sim.delete_resource(MALLORY_ID);
    sim.backlog(400, Duration::from_secs(3_600), Utc::now());
    // The first look-up is refused (which kind is first depends on the page), the second
    // rate-limited for a second.
    sim.push_lookup_fault(Fault::Forbidden);
    sim.push_lookup_fault(Fault::RateLimited {
        retry_after_secs: 1,
    });
    let h = harness(&sim, Duration::from_secs(5));
    let first = ship(&sim, &h).await;
    // More rows after the pause: look-ups are asked again.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    sim.backlog(300, Duration::from_secs(60), Utc::now());
    // From the checkpoint: the output file then holds both rounds.
    let docs = ship(&sim, &h).await;
    assert!(docs.len() > first.len());
    assert_whole(&sim, &docs);
    let asked: BTreeMap<String, u64> = sim.lookup_requests();
    // The refused kind was asked once: its look-ups are off.
    let refused = asked.iter().filter(|(_, n)| **n == 1).count();
    assert!(refused >= 1, "{asked:?}");
    for d in &docs {
        if d["coder"]["audit"]["additional_fields"]["workspace_id"] == gone.as_str() {
            assert!(
                d["coder"]["workspace"].is_null(),
                "a gone workspace adds nothing"
            );
        }
        if d["coder"]["audit"]["resource"]["type"] == "user" {
            assert!(
                d["user"]["target"].get("email").is_none(),
                "mallory is gone"
            );
        }
    }
    // Named after the pause: look-ups came back.
    let later_named = of_type(&docs[first.len()..], "workspace_build")
        .iter()
        .chain(of_type(&docs[first.len()..], "template").iter())
        .filter(|d| {
            d["coder"]["workspace"]["template"].is_object() || d["coder"]["template"].is_object()
        })
        .count();
    assert!(later_named > 0, "{asked:?}");
}

/// The measure: a backfill of 100k events over 500 workspaces asks about as many
/// look-ups as there are distinct ids, not one per event. Prints requests per 1,000 events.
#[tokio::test]
async fn a_backfill_of_100k_events_asks_near_the_distinct_ids() {
    let sim = common::unlimited_sim().await;
    sim.set_workspaces_readable(true);
    let end = Utc::now();
    sim.backlog(100_000, Duration::from_secs(3 * 86_400), end);
    let mut h = harness(&sim, Duration::from_secs(5));
    h.page_size = 1_000;
    h.encoder = Encoder::Raw;
    h.end = Some(end + TimeDelta::seconds(1));
    let start = Cursor::starting_at(end - TimeDelta::days(4), None);
    let (mut tailer, mut outlet) = h.tailer(&sim, &start);
    common::drain(&mut tailer, &mut outlet, 10_000)
        .await
        .expect("backfilled");
    let delivered = h.delivered();
    let t = common::tally(&sim, &delivered, chrono::DateTime::<Utc>::MIN_UTC);
    assert!(t.lost.is_empty(), "lost {}", t.lost.len());
    assert_eq!(t.duplicates, 0);
    let asked = sim.lookup_requests();
    let total: u64 = asked.values().sum();
    println!(
        "look-ups for {} events: {asked:?}, {:.2} per 1,000 events",
        delivered.len(),
        total as f64 * 1_000.0 / delivered.len() as f64
    );
    assert!(
        asked.get("workspaces").copied().unwrap_or(0) <= directory::WORKSPACES as u64,
        "{asked:?}"
    );
    assert!(
        total <= (directory::WORKSPACES + TEMPLATES + 4 + 1) as u64,
        "{asked:?}"
    );
    let lookups = h.lookups.as_ref().expect("look-ups");
    let (entries, bytes) = lookups.cache_size();
    assert!(
        entries <= directory::WORKSPACES + TEMPLATES + 5,
        "{entries}"
    );
    println!("cache: {entries} entries, about {bytes} bytes");
}

/// Through `run`, two sinks of one stream: the look-ups are made once for both (one read
/// per stream), both formats carry the template, and the look-ups are counted.
#[test]
fn through_run_two_sinks_share_one_lookup_per_id() {
    use common::scrape;
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    sim.set_workspaces_readable(true);
    sim.backlog(300, Duration::from_secs(3_600), Utc::now());
    let dir = tempfile::tempdir().unwrap();
    let (ecs, ocsf, sinks) = common::ecs_and_ocsf_files(dir.path());
    let cfg = common::shipper_config(dir.path(), &sim.url(), 100, &sinks);
    let mut child = common::spawn_run(&cfg);
    let all: Vec<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    let caught_up = common::wait_until(Duration::from_secs(60), || {
        [&ecs, &ocsf].iter().all(|path| {
            let (got, _) = common::delivered::distinct(&common::delivered::file(path));
            all.iter().all(|id| got.contains(id))
        })
    });
    let (counted, metrics) = scrape::wait_for_metric(
        &cfg,
        "enrich_lookups_total",
        &["kind=\"workspace\"", "result=\"hit\""],
        1.0,
    );
    let status = common::stop_gracefully(&mut child);
    let log = common::run_log(&cfg);
    assert!(caught_up, "{log}");
    assert!(status.success(), "{log}");
    assert!(counted, "{metrics}");
    assert!(
        scrape::metric(&metrics, "coder_requests_total", &["purpose=\"lookup\""])
            .is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
    let read = |path: &std::path::Path| -> Vec<Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let (ecs, ocsf) = (read(&ecs), read(&ocsf));
    for (docs, template) in [
        (&ecs, "/coder/workspace/template/name"),
        (&ocsf, "/unmapped/coder/workspace/template/name"),
    ] {
        let builds: Vec<&Value> = docs
            .iter()
            .filter(|d| {
                d.pointer("/coder/audit/resource/type")
                    .or_else(|| d.pointer("/unmapped/coder/resource_type"))
                    == Some(&Value::from("workspace_build"))
            })
            .collect();
        assert!(!builds.is_empty());
        for b in builds {
            assert!(b.pointer(template).is_some_and(Value::is_string), "{b}");
        }
    }
    // One read of Coder for both sinks: each workspace asked once, not once per sink.
    let distinct: std::collections::BTreeSet<&str> = ecs
        .iter()
        .filter_map(|d| {
            d.pointer("/coder/audit/additional_fields/workspace_id")?
                .as_str()
        })
        .collect();
    let asked = sim.lookup_requests();
    assert_eq!(
        asked.get("workspaces").copied().unwrap_or(0),
        distinct.len() as u64,
        "{asked:?}"
    );
}

/// Through `run`, a stream whose sinks are all `raw`: the look-ups' answers would become
/// fields of normalized formats only, so none is asked for, and the entries ship as Coder
/// sent them.
#[test]
fn a_stream_whose_sinks_are_all_raw_asks_no_lookups() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    sim.set_workspaces_readable(true);
    sim.backlog(300, Duration::from_secs(3_600), Utc::now());
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw.ndjson");
    let cfg = common::shipper_config(
        dir.path(),
        &sim.url(),
        100,
        &format!(
            "[sinks.archive]\ntype = \"file\"\npath = \"{}\"\nformat = \"raw\"\n",
            raw.display()
        ),
    );
    let mut child = common::spawn_run(&cfg);
    let all: Vec<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    let caught_up = common::wait_until(Duration::from_secs(60), || {
        let (got, _) = common::delivered::distinct(&common::delivered::file(&raw));
        all.iter().all(|id| got.contains(id))
    });
    common::stop_gracefully(&mut child);
    assert!(caught_up, "{}", common::run_log(&cfg));
    let asked: u64 = sim.lookup_requests().values().sum();
    assert_eq!(asked, 0, "{:?}", sim.lookup_requests());
}
