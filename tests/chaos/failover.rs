//! Two replicas on one PostgreSQL checkpoint store: exactly one ships (the leader lock),
//! the standby takes over when the leader is killed, nothing is lost, and a deposed
//! leader's checkpoint write is refused (the fence).

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use coder_audit_shipper::checkpoint::{CheckpointKey, CheckpointStore, PostgresStore};
use coder_audit_shipper::coder::Cursor;
use coder_audit_shipper::secret::Secret;

use super::common::{self, delivered, peers};
use super::report::{self, PeakRss};

fn config(dir: &Path, coder_url: &str, schema: &str, replica: &str) -> std::path::PathBuf {
    let replica_dir = dir.join(replica);
    std::fs::create_dir_all(&replica_dir).unwrap();
    let cfg = common::shipper_config(
        &replica_dir,
        coder_url,
        200,
        &format!(
            "[sinks.archive]\ntype = \"file\"\npath = \"{}\"\n",
            dir.join("audit.ndjson").display()
        ),
    );
    // Both replicas share the store (and the sink's file, which only the leader writes).
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "[checkpoint]\n",
        &format!(
            "[checkpoint]\nstore = \"postgres\"\nurl = \"{}\"\nschema = \"{schema}\"\ntakeover_interval = \"500ms\"\n",
            peers::postgres()
        ),
    );
    std::fs::write(&cfg, text).unwrap();
    cfg
}

/// What a new leader does on taking the lock: move the epoch on.
async fn bump_epoch(schema: &str) {
    let (client, conn) = tokio_postgres::connect(&peers::postgres(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .execute(
            &format!("UPDATE {schema}.leader SET epoch = epoch + 1"),
            &[],
        )
        .await
        .unwrap();
}

/// The synchronous store API from async code, as the pipeline calls it.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("the blocking task")
}

#[test]
fn the_standby_takes_over_when_the_leader_is_killed_and_nothing_is_lost() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(20_000, Duration::from_secs(86_400), Utc::now());
    let schema = common::unique("ha").replace('-', "_");
    let dir = tempfile::tempdir().unwrap();
    let a = config(dir.path(), &sim.url(), &schema, "a");
    let b = config(dir.path(), &sim.url(), &schema, "b");
    let peak = PeakRss::default();
    let mut leader = common::spawn_run(&a);
    peak.watch(leader.id());
    assert!(
        common::wait_until(Duration::from_secs(30), || common::run_log(&a)
            .contains("leader: this replica ships")),
        "{}",
        common::run_log(&a)
    );
    let mut standby = common::spawn_run(&b);
    peak.watch(standby.id());
    assert!(
        common::wait_until(Duration::from_secs(30), || common::run_log(&b)
            .contains("standby: another replica holds the leader lock")),
        "{}",
        common::run_log(&b)
    );
    let live = common::spawn_live(&rt, &sim, 20.0);
    let out = dir.path().join("audit.ndjson");
    assert!(common::wait_until(Duration::from_secs(30), || {
        delivered::file(&out).len() >= 2_000
    }));
    assert!(
        !common::run_log(&b).contains("leader: this replica ships"),
        "two leaders at once"
    );

    leader.kill().unwrap(); // SIGKILL, mid-backlog
    leader.wait().unwrap();
    let killed = Instant::now();
    let took_over = common::wait_until(Duration::from_secs(30), || {
        common::run_log(&b).contains("leader: this replica ships")
    });
    let takeover = killed.elapsed();
    assert!(took_over, "{}", common::run_log(&b));
    std::thread::sleep(Duration::from_secs(2));
    live.abort();
    let all: Vec<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    let caught_up = common::wait_until(Duration::from_secs(90), || {
        let (got, _) = delivered::distinct(&delivered::file(&out));
        all.iter().all(|id| got.contains(id))
    });
    let status = common::stop_gracefully(&mut standby);
    let log = common::run_log(&b);
    assert!(caught_up, "{log}");
    assert!(status.success(), "{status}\n{log}");
    let t = common::tally(&sim, &delivered::file(&out), DateTime::<Utc>::MIN_UTC);
    report::record(
        "postgres store, 2 replicas, leader killed with kill -9",
        "file",
        t.lost.len(),
        t.duplicates,
        &peak,
        &format!(
            "{} ids; standby took over within {:.1} s (takeover_interval 0.5 s)",
            t.expected,
            takeover.as_secs_f64()
        ),
    );
    assert!(t.lost.is_empty(), "lost {:?}", t.lost);
}

#[test]
fn a_deposed_leaders_checkpoint_write_is_refused() {
    let rt = common::runtime();
    let url = Secret::new(peers::postgres());
    let schema = common::unique("fence").replace('-', "_");
    rt.block_on(async {
        let (_, never) = tokio::sync::watch::channel(false);
        let leader = PostgresStore::lead(&url, &schema, Duration::from_millis(100), never)
            .await
            .unwrap()
            .expect("the lock is free");
        let key = CheckpointKey::run("archive");
        let cursor = Cursor::starting_at(Utc::now() - TimeDelta::hours(1), None);
        let store = std::sync::Arc::new(leader);
        let s = store.clone();
        let (k, c) = (key.clone(), cursor.clone());
        blocking(move || s.save(&k, &c))
            .await
            .expect("the leader writes");

        // Another replica became leader (as after this one's session was cut): the epoch
        // moved on. Done by hand here, since this session still holds the lock.
        bump_epoch(&schema).await;

        let later = Cursor::starting_at(Utc::now(), None);
        let (s, k) = (store.clone(), key.clone());
        let refused = blocking(move || s.save(&k, &later))
            .await
            .expect_err("a deposed leader cannot write");
        assert!(
            refused.to_string().contains("no longer the leader"),
            "{refused}"
        );
        let s = store.clone();
        let saved = blocking(move || s.load(&key))
            .await
            .unwrap()
            .expect("the first checkpoint");
        assert_eq!(
            saved.cursor.position, cursor.position,
            "the fenced write changed nothing"
        );
        let why = tokio::time::timeout(
            Duration::from_secs(5),
            store.deposed(Duration::from_millis(100)),
        )
        .await
        .expect("the leader notices");
        assert!(why.contains("epoch moved"), "{why}");
    });
}

#[test]
fn a_leader_whose_epoch_moved_on_stops_and_exits_non_zero() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(500, Duration::from_secs(3_600), Utc::now());
    let schema = common::unique("deposed").replace('-', "_");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &sim.url(), &schema, "a");
    let mut leader = common::spawn_run(&cfg);
    assert!(common::wait_until(Duration::from_secs(30), || {
        delivered::file(&dir.path().join("audit.ndjson")).len() >= 500
    }));
    // What a standby's takeover does to the table (this leader's session still lives).
    rt.block_on(bump_epoch(&schema));
    let status = common::wait_exit(&mut leader, Duration::from_secs(20));
    let log = common::run_log(&cfg);
    let status = status.unwrap_or_else(|| panic!("a deposed leader kept running:\n{log}"));
    assert!(!status.success(), "{log}");
    // sysexits.h EX_TEMPFAIL: another replica leads now (`commands::exit_code`).
    assert_eq!(status.code(), Some(75), "{log}");
    assert!(log.contains("no longer the leader"), "{log}");
    assert!(
        !log.contains("shipper-test-password"),
        "the URL's password was logged"
    );
}
