//! Helpers shared by the integration tests: a tailer wired to a real file sink and a real
//! file checkpoint store, pointed at the in-process Coder simulator over real HTTP.
#![allow(dead_code)]

pub mod delivered;
pub mod peers;
pub mod s3;
pub mod scrape;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use coder_audit_shipper::checkpoint::{CheckpointKey, CheckpointStore, FileStore};
use coder_audit_shipper::coder::{
    ClientOptions, CoderClient, Cursor, Reading, Stream, Tailer, TailerOptions, TokenSource,
};
use coder_audit_shipper::pipeline::{SinkOutlet, StreamStats};
use coder_audit_shipper::secret::Secret;
use coder_sim::{SimConfig, SimHandle};
use sink_file::{FileSink, FileSinkConfig};

pub fn fast_client(sim: &SimHandle) -> Arc<CoderClient> {
    client_with_cap(sim, ClientOptions::default().max_response_bytes)
}

/// [`fast_client`] with `coder.max_response_bytes` at `cap`.
pub fn client_with_cap(sim: &SimHandle, cap: u64) -> Arc<CoderClient> {
    client_with(sim, cap, Duration::from_secs(5))
}

/// A client with this response cap and request timeout.
pub fn client_with(sim: &SimHandle, cap: u64, request_timeout: Duration) -> Arc<CoderClient> {
    Arc::new(
        CoderClient::new(
            &sim.url(),
            TokenSource::Static(Secret::new(SimConfig::DEFAULT_TOKEN)),
            ClientOptions {
                request_timeout,
                tls_ca_file: None,
                retry_min: Duration::from_millis(5),
                retry_max: Duration::from_millis(50),
                max_response_bytes: cap,
                max_requests_per_minute: None,
                audit_reading: Reading::Glance,
            },
        )
        .expect("client"),
    )
}

/// One sink's whole world: its output file and its checkpoint directory.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub overlap: TimeDelta,
    pub page_size: u32,
    pub end: Option<DateTime<Utc>>,
    /// The log tailed: the audit log unless a test says otherwise.
    pub stream: Stream,
    pub session_horizon: TimeDelta,
    /// Connection log: the late sweep's horizon (zero: off, as most tests want).
    pub late_horizon: TimeDelta,
    /// How often a caught-up scan reads the whole overlap (zero, the default here: every
    /// scan, as the tests of the overlap want).
    pub overlap_reread_interval: Duration,
    /// `coder.max_response_bytes`.
    pub max_response_bytes: u64,
    /// `coder.request_timeout`.
    pub request_timeout: Duration,
    /// `[enrich.coder]`'s look-ups (none unless a test sets them).
    pub lookups: Option<Arc<coder_audit_shipper::coder::lookup::Lookups>>,
    /// How the records are made (Coder's bytes unless a test says otherwise).
    pub encoder: coder_audit_shipper::pipeline::Encoder,
}

impl Harness {
    pub fn new(page_size: u32, overlap: TimeDelta) -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            overlap,
            page_size,
            end: None,
            stream: Stream::Audit,
            session_horizon: TimeDelta::days(7),
            late_horizon: TimeDelta::zero(),
            overlap_reread_interval: Duration::ZERO,
            max_response_bytes: ClientOptions::default().max_response_bytes,
            request_timeout: Duration::from_secs(5),
            lookups: None,
            encoder: coder_audit_shipper::pipeline::Encoder::Raw,
        }
    }

    pub fn output(&self) -> PathBuf {
        self.dir.path().join("audit.ndjson")
    }

    pub fn store(&self) -> FileStore {
        FileStore::new(self.dir.path().join("state"))
    }

    pub fn key(&self) -> CheckpointKey {
        CheckpointKey::run("archive").with_stream(self.stream)
    }

    /// A tailer resuming from the checkpoint, or starting at `start` without one: what a
    /// restarted process does.
    pub fn tailer(&self, sim: &SimHandle, start: &Cursor) -> (Tailer, SinkOutlet) {
        let cursor = self
            .store()
            .load(&self.key())
            .expect("checkpoint readable")
            .map_or_else(|| start.clone(), |c| c.cursor);
        let tailer = Tailer::new(
            client_with(sim, self.max_response_bytes, self.request_timeout),
            TailerOptions {
                page_size: self.page_size,
                overlap: self.overlap,
                end: self.end,
                stream: self.stream,
                session_horizon: self.session_horizon,
                // Every scan: the tests step the tailer themselves.
                session_poll_interval: Duration::ZERO,
                late_horizon: self.late_horizon,
                late_sweep_interval: Duration::ZERO,
                overlap_reread_interval: self.overlap_reread_interval,
                lookups: self.lookups.clone(),
            },
            cursor,
        );
        let sink = FileSink::new(
            "archive",
            FileSinkConfig {
                path: self.output(),
                max_bytes: None,
                max_files: 0,
                batch_max_bytes: 0,
                batch_timeout: std::time::Duration::ZERO,
            },
        );
        let outlet = SinkOutlet::new(
            Box::new(sink),
            self.encoder.clone(),
            Arc::new(self.store()),
            self.key(),
            Arc::new(StreamStats::default()),
            coder_audit_shipper::dead_letter::DeadLetters::new(
                &self.dir.path().join("dead-letter"),
                "test",
            ),
        );
        (tailer, outlet)
    }

    /// Every id in the output file, in order.
    pub fn delivered(&self) -> Vec<String> {
        read_ids(&self.output())
    }
}

/// The ids of every complete line (see [`delivered::file`]), so tests can poll a file the
/// shipper is writing.
pub fn read_ids(path: &Path) -> Vec<String> {
    delivered::file(path)
}

/// Step until the cursor has caught up with everything inserted up to now (a live scan
/// that delivered nothing new), or `max_steps` runs out.
pub async fn drain(
    tailer: &mut Tailer,
    outlet: &mut SinkOutlet,
    max_steps: usize,
) -> Result<(), coder_audit_shipper::pipeline::StreamError> {
    let mut quiet = 0;
    for _ in 0..max_steps {
        let r = tailer.step(outlet).await?;
        if r.finished {
            return Ok(());
        }
        if r.live && r.delivered == 0 {
            quiet += 1;
            if quiet >= 2 {
                return Ok(());
            }
        } else {
            quiet = 0;
        }
    }
    Ok(())
}

/// Loss and duplicates of `delivered` against the simulator's ground truth for rows whose
/// time is at or after `from`.
pub struct Tally {
    pub expected: usize,
    pub lost: Vec<String>,
    pub duplicates: usize,
    pub unexpected: Vec<String>,
}

pub fn tally(sim: &SimHandle, delivered: &[String], from: DateTime<Utc>) -> Tally {
    let deleted = sim.deleted();
    let expected: HashMap<String, DateTime<Utc>> = sim
        .inserted()
        .into_iter()
        .filter(|(id, t)| *t >= from && !deleted.contains(id))
        .collect();
    let got: HashSet<&String> = delivered.iter().collect();
    let mut lost: Vec<String> = expected
        .keys()
        .filter(|id| !got.contains(id))
        .cloned()
        .collect();
    lost.sort();
    let all: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    let unexpected = got
        .iter()
        .filter(|id| !all.contains(**id))
        .map(|id| (*id).clone())
        .collect();
    Tally {
        expected: expected.len(),
        lost,
        duplicates: delivered.len() - got.len(),
        unexpected,
    }
}

/// A two-thread runtime for tests that drive the binary from a plain `#[test]`.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The simulator with its rate limiter off (the tests of 429 handling set their own).
pub async fn unlimited_sim() -> SimHandle {
    coder_sim::Sim::start(coder_sim::SimConfig {
        rate_limit: None,
        ..coder_sim::SimConfig::default()
    })
    .await
    .expect("start the simulator")
}

/// `coder-audit-shipper run --config cfg` as a child process, its log in `run.log` beside
/// the config.
pub fn spawn_run(cfg: &Path) -> std::process::Child {
    run_command(cfg).spawn().expect("spawn the shipper")
}

/// The command [`spawn_run`] starts, for a test that adds to its environment.
pub fn run_command(cfg: &Path) -> std::process::Command {
    let log = std::fs::File::create(cfg.with_file_name("run.log")).expect("run.log");
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_coder-audit-shipper"));
    c.args(["run", "--config", cfg.to_str().expect("utf-8 path")])
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log);
    c
}

/// SIGTERM (a drain, as systemd and Kubernetes stop it), then wait; the exit status.
pub fn stop_gracefully(child: &mut std::process::Child) -> std::process::ExitStatus {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    child.wait().expect("wait for the shipper")
}

/// The child's exit status once it exits by itself within `within`; `None` if it is still
/// running then.
pub fn wait_exit(
    child: &mut std::process::Child,
    within: Duration,
) -> Option<std::process::ExitStatus> {
    let mut status = None;
    wait_until(within, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    status
}

/// The shipper's log beside `cfg`.
pub fn run_log(cfg: &Path) -> String {
    std::fs::read_to_string(cfg.with_file_name("run.log")).unwrap_or_default()
}

/// Poll `f` every 200 ms until it returns true or `limit` passes; returns its last answer.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if std::time::Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A name no other test uses (topics, HEC sources, syslog app names).
/// A template-update audit entry at `time` whose user agent is `marker`: what a peer
/// simulator told to refuse `marker` refuses. Returns its id and the entry.
pub fn marked_entry(marker: &str, time: DateTime<Utc>) -> (String, serde_json::Value) {
    let id = uuid::Uuid::new_v4().to_string();
    let entry = serde_json::json!({
        "id": id, "request_id": uuid::Uuid::new_v4().to_string(),
        "time": time.to_rfc3339(),
        "ip": "10.0.0.1", "user_agent": marker, "resource_type": "template",
        "resource_id": uuid::Uuid::new_v4().to_string(), "resource_target": "t",
        "resource_icon": "", "action": "write", "status_code": 200, "additional_fields": {},
        "description": "{user} updated template {target}", "resource_link": "", "diff": {},
        "is_deleted": false, "organization_id": uuid::Uuid::new_v4().to_string(), "user": null
    });
    (id, entry)
}

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// `dir/shipper.toml`: the simulated Coder at `coder_url`, read from the beginning every
/// 200 ms (overlap 1 m, pages of `page_size`), checkpoints in `dir/state`, then `sinks`
/// (the sink tables) as given.
pub fn shipper_config(dir: &Path, coder_url: &str, page_size: u32, sinks: &str) -> PathBuf {
    let path = dir.join("shipper.toml");
    std::fs::write(
        &path,
        format!(
            r#"[coder]
url = "{coder_url}"
token = "{token}"
poll_interval = "200ms"
overlap = "1m"
page_size = {page_size}
start_at = "beginning"
# Polls every 200 ms per sink, to be quick: more than any budget of Coder's size allows.
# The budget has its own test (tests/request_budget.rs).
max_requests_per_minute = 0

[checkpoint]
dir = "{state}"

{sinks}
"#,
            token = SimConfig::DEFAULT_TOKEN,
            state = dir.join("state").display(),
        ),
    )
    .expect("write the config");
    path
}

/// Make the config at `cfg` read `streams` (a TOML array, `["audit", "connection"]`).
pub fn read_streams(cfg: &Path, streams: &str) {
    let text = std::fs::read_to_string(cfg).expect("the config").replacen(
        "[coder]\n",
        &format!("[coder]\nstreams = {streams}\n"),
        1,
    );
    std::fs::write(cfg, text).expect("write the config");
}

/// Two file sinks of `dir`, `siem` writing ECS to `ecs.ndjson` and `lake` writing OCSF to
/// `ocsf.ndjson`, with the `[server]` listener: the paths and the config's sink tables.
pub fn ecs_and_ocsf_files(dir: &Path) -> (PathBuf, PathBuf, String) {
    let (ecs, ocsf) = (dir.join("ecs.ndjson"), dir.join("ocsf.ndjson"));
    let tables = format!(
        "{}[sinks.siem]\ntype = \"file\"\npath = \"{}\"\nformat = \"ecs\"\n\n\
         [sinks.lake]\ntype = \"file\"\npath = \"{}\"\nformat = \"ocsf\"\n",
        scrape::SERVER,
        ecs.display(),
        ocsf.display()
    );
    (ecs, ocsf, tables)
}

/// Live traffic into the simulator until the handle is aborted: `rows_per_sec`, 10 % of
/// them up to 5 s late, 10 % ties.
pub fn spawn_live(
    rt: &tokio::runtime::Runtime,
    sim: &SimHandle,
    rows_per_sec: f64,
) -> tokio::task::JoinHandle<()> {
    let _in_runtime = rt.enter();
    sim.spawn_live(coder_sim::server::LiveTraffic {
        rows_per_sec,
        late_share: 0.1,
        late_max: Duration::from_secs(5),
        tie_share: 0.1,
    })
}

/// A peer outage under live traffic: `stop` it, let Coder record for `outage` (20 rows/s,
/// 10 % up to 5 s late, 10 % ties), `restart` it, record 3 s more. Returns the ids Coder
/// recorded from the stop on: the ones the sink can only have from after the outage.
pub fn recorded_during_outage(
    rt: &tokio::runtime::Runtime,
    sim: &SimHandle,
    outage: Duration,
    stop: impl FnOnce(),
    restart: impl FnOnce(),
) -> HashSet<String> {
    let before: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    stop();
    let live = spawn_live(rt, sim, 20.0);
    std::thread::sleep(outage);
    restart();
    std::thread::sleep(Duration::from_secs(3));
    live.abort();
    sim.inserted()
        .into_iter()
        .map(|(id, _)| id)
        .filter(|id| !before.contains(id))
        .collect()
}

/// `count` rows stamped `age_ms` in the past (late when large): `tied` all at one time,
/// else a microsecond apart.
pub fn insert_rows(sim: &SimHandle, count: usize, age_ms: i64, tied: bool) {
    let t = Utc::now() - TimeDelta::milliseconds(age_ms);
    for i in 0..count {
        let ti = if tied {
            t
        } else {
            t - TimeDelta::microseconds(i as i64)
        };
        sim.insert_at(ti);
    }
}

/// The faults the property tests draw from, by number: 500, a truncated body, garbage,
/// 503, 429 with `Retry-After: 0`.
pub fn fault(kind: u8) -> coder_sim::Fault {
    use coder_sim::Fault;
    match kind {
        0 => Fault::ServerError(500),
        1 => Fault::Truncated,
        2 => Fault::Garbage,
        3 => Fault::ServerError(503),
        _ => Fault::RateLimited {
            retry_after_secs: 0,
        },
    }
}
