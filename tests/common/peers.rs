//! The real peers the sink tests talk to, started by the project's own scripts in
//! `tests/peers/` (`.ci/run` starts them first; a test run without them starts them here).
//! Endpoints come from the environment (`KAFKA_BOOTSTRAP`, `S3_ENDPOINT`, ...) or from the
//! `*.env` files the scripts write.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

static STARTING: Mutex<()> = Mutex::new(());

pub fn run_dir() -> PathBuf {
    std::env::var_os("PEERS_RUN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/coder-audit-shipper-peers"))
}

pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(name)
}

/// Whether peer `name`'s pid file names a live process.
fn running(name: &str) -> bool {
    std::fs::read_to_string(run_dir().join(format!("{name}.pid")))
        .ok()
        .and_then(|pid| pid.trim().parse::<u32>().ok())
        .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
}

/// Start peer `name` (idempotent) and return the variables of its env file.
///
/// Starting one for the first time installs it (minutes, see the README's "What the tests
/// need"), so a line says so on the terminal itself: the test harness captures `eprintln!`,
/// and minutes of silence look like a hang.
pub fn ensure(name: &str) -> HashMap<String, String> {
    use std::io::Write;
    let _guard = STARTING.lock().unwrap_or_else(|e| e.into_inner());
    // One script starts both HTTP intakes, told which by HTTP_ENCODING.
    let (script, encoding) = match name.strip_prefix("http-") {
        Some(encoding) => (script("start-http.sh"), encoding),
        None => (script(&format!("start-{name}.sh")), ""),
    };
    let owner = std::os::unix::process::parent_id();
    previous_run_done_with(&run_dir(), name, owner);
    if !running(name) {
        let keep = std::env::var_os("KEEP_TEST_PEERS").is_some();
        let _ = writeln!(
            std::io::stderr(),
            "starting test peer {name} with tests/peers/{} (the first time it \
             installs it); {}",
            script.file_name().unwrap_or_default().to_string_lossy(),
            if keep {
                "KEEP_TEST_PEERS is set: it keeps running, tests/peers/stop-peers.sh stops it"
            } else {
                "it stops when this test run ends (KEEP_TEST_PEERS=1 keeps it)"
            }
        );
        // Marked before it starts, so that a start that fails halfway is cleaned up too.
        if !keep {
            if let Err(e) = stop_when_done(&run_dir(), name, std::os::unix::process::parent_id()) {
                panic!("test peer {name}: cannot arrange its stop after the run: {e}");
            }
        }
    }
    let out = Command::new("bash")
        .arg(&script)
        .env("HTTP_ENCODING", encoding)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", script.display()));
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
        panic!(
            "test peer {name} could not start: run `bash tests/peers/start-{name}.sh` (it \
             installs with apt-get, pip or cargo: root and network access) to see why; its \
             last lines:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    let env = run_dir().join(format!("{name}.env"));
    std::fs::read_to_string(&env)
        .unwrap_or_else(|e| panic!("{}: {e}", env.display()))
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// A peer an earlier test run started is stopped by that run's watcher once the run is
/// gone; a run that begins within that second must not take it for running. Wait until
/// the watcher is done with it (it removes the mark), or 30 s for a watcher that died.
fn previous_run_done_with(run: &Path, name: &str, owner: u32) {
    let mark = run.join(format!("{name}.started-by"));
    let earlier = |mark: &Path| {
        std::fs::read_to_string(mark)
            .ok()
            .and_then(|pid| pid.trim().parse::<u32>().ok())
            .filter(|pid| *pid != owner && !Path::new(&format!("/proc/{pid}")).exists())
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while earlier(&mark).is_some() {
        if std::time::Instant::now() > deadline {
            let _ = std::fs::remove_file(&mark);
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Mark peer `name` as started by the test run `owner` (the `cargo test` process, this
/// binary's parent: the binaries of one run share their peers), and make sure
/// `tests/peers/stop-when-done.sh` watches `owner`: when it is gone, the peers marked with
/// it stop. Peers running before the tests began carry no mark and are never stopped.
pub fn stop_when_done(run: &Path, name: &str, owner: u32) -> std::io::Result<()> {
    use std::os::unix::process::CommandExt;
    std::fs::create_dir_all(run)?;
    std::fs::write(run.join(format!("{name}.started-by")), owner.to_string())?;
    let watcher = run.join(format!("stop-when-done-{owner}.pid"));
    let watching = std::fs::read_to_string(&watcher)
        .ok()
        .and_then(|pid| pid.trim().parse::<u32>().ok())
        .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
    if watching {
        return Ok(());
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(run.join("stop-when-done.log"))?;
    let child = Command::new("bash")
        .arg(script("stop-when-done.sh"))
        .arg(owner.to_string())
        .env("PEERS_RUN", run)
        // Its own process group: a Ctrl-C of the run must not stop the watcher with it.
        .process_group(0)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    std::fs::write(watcher, child.id().to_string())
}

/// The Kafka bootstrap address.
pub fn kafka() -> String {
    std::env::var("KAFKA_BOOTSTRAP").unwrap_or_else(|_| ensure("kafka")["KAFKA_BOOTSTRAP"].clone())
}

/// Stop peer `name` (its pid file's process only).
pub fn stop(name: &str) {
    let status = Command::new("bash")
        .arg(script("stop-peers.sh"))
        .arg(name)
        .status()
        .expect("stop-peers.sh");
    assert!(status.success());
}

/// The S3 peer: endpoint, keys and region (`S3_ENDPOINT`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`).
pub fn s3() -> HashMap<String, String> {
    let keys = [
        "S3_ENDPOINT",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
    ];
    let from_env: HashMap<String, String> = keys
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_owned(), v)))
        .collect();
    if from_env.len() == keys.len() {
        return from_env;
    }
    ensure("s3")
}

/// The TLS-only Kafka listener and the CA that signed it (`KAFKA_TLS_BOOTSTRAP`,
/// `KAFKA_TLS_CA`).
pub fn kafka_tls() -> (String, String) {
    match (
        std::env::var("KAFKA_TLS_BOOTSTRAP"),
        std::env::var("KAFKA_TLS_CA"),
    ) {
        (Ok(b), Ok(ca)) => (b, ca),
        _ => {
            let env = ensure("kafka-tls");
            (
                env["KAFKA_TLS_BOOTSTRAP"].clone(),
                env["KAFKA_TLS_CA"].clone(),
            )
        }
    }
}

/// The HEC peer (Tenzir): `HEC_URL`, `HEC_TOKEN`, `HEC_EVENTS_FILE`.
pub fn hec() -> HashMap<String, String> {
    from_env_or_start("hec", &["HEC_URL", "HEC_TOKEN", "HEC_EVENTS_FILE"], "")
}

/// The Elasticsearch Bulk API peer (Tenzir's `accept_elasticsearch`): `ES_URL`,
/// `ES_EVENTS_FILE`.
pub fn elasticsearch() -> HashMap<String, String> {
    from_env_or_start("elasticsearch", &["ES_URL", "ES_EVENTS_FILE"], "")
}

/// The HTTP intake reading `encoding` (`ndjson`, `json_array`): `HTTP_URL`,
/// `HTTP_EVENTS_FILE`.
pub fn http(encoding: &str) -> HashMap<String, String> {
    ensure(&format!("http-{encoding}"))
}

/// The HEC peer over HTTPS: the same keys plus `HEC_CA_FILE`.
pub fn hec_tls() -> HashMap<String, String> {
    from_env_or_start(
        "hec-tls",
        &["HEC_URL", "HEC_TOKEN", "HEC_EVENTS_FILE", "HEC_CA_FILE"],
        "HEC_TLS_",
    )
}

/// The syslog peer (rsyslog): `SYSLOG_TCP`, `SYSLOG_UDP`, `SYSLOG_TLS`, `SYSLOG_CA_FILE`,
/// `SYSLOG_OUT_DIR`.
pub fn syslog() -> HashMap<String, String> {
    from_env_or_start(
        "syslog",
        &[
            "SYSLOG_TCP",
            "SYSLOG_UDP",
            "SYSLOG_TLS",
            "SYSLOG_CA_FILE",
            "SYSLOG_OUT_DIR",
        ],
        "",
    )
}

/// The peer's settings from the environment (CI sources the env files, with `prefix` on
/// the names of a second instance), or from starting it.
fn from_env_or_start(name: &str, keys: &[&str], prefix: &str) -> HashMap<String, String> {
    let from_env: HashMap<String, String> = keys
        .iter()
        .filter_map(|k| {
            std::env::var(format!("{prefix}{k}"))
                .ok()
                .map(|v| ((*k).to_owned(), v))
        })
        .collect();
    if from_env.len() == keys.len() {
        return from_env;
    }
    ensure(name)
}

/// The PostgreSQL peer's URL (`POSTGRES_URL`): role `shipper`, database `shipper`.
pub fn postgres() -> String {
    std::env::var("POSTGRES_URL").unwrap_or_else(|_| ensure("postgres")["POSTGRES_URL"].clone())
}

/// The CA that signed the PostgreSQL peer's server certificate (`POSTGRES_CA_FILE`).
pub fn postgres_ca_file() -> String {
    std::env::var("POSTGRES_CA_FILE")
        .unwrap_or_else(|_| ensure("postgres")["POSTGRES_CA_FILE"].clone())
}
