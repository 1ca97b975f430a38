//! The binary as users run it: a separate process, a config file, the environment, exit
//! codes, and `kill -9`. Coder is the simulator, served from this test process over HTTP.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use coder_sim::SimConfig;
use coder_sim::server::LiveTraffic;
use rand::Rng;

const BIN: &str = env!("CARGO_BIN_EXE_coder-audit-shipper");

fn write_config(dir: &Path, url: &str, token: &str, extra_coder: &str) -> PathBuf {
    let path = dir.join("shipper.toml");
    std::fs::write(
        &path,
        format!(
            r#"[coder]
url = "{url}"
token = "{token}"
poll_interval = "200ms"
overlap = "1m"
page_size = 50
{extra_coder}

[checkpoint]
dir = "{state}"

[sinks.archive]
type = "file"
path = "{out}"
"#,
            state = dir.join("state").display(),
            out = dir.join("audit.ndjson").display(),
        ),
    )
    .unwrap();
    path
}

fn shipper(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .env_remove("CODER_SESSION_TOKEN")
        .env("RUST_LOG", "info");
    c
}

fn output_of(c: &mut Command) -> Output {
    c.stdin(Stdio::null()).output().expect("run the shipper")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn validate_accepts_a_good_config_and_names_the_key_of_a_bad_one() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sim.url(), SimConfig::DEFAULT_TOKEN, "");
    let o = output_of(
        shipper(&["validate", "--config", cfg.to_str().unwrap()])
            .env("CODER_AUDIT_SHIPPER__CODER__PAGE_SIZE", "250")
            .env("CODER_AUDIT_SHIPPER__CODER__STREAMS", "audit,connection"),
    );
    assert!(o.status.success(), "{}", text(&o));
    // The environment overrides applied, and Coder was reached with the token.
    assert!(text(&o).contains("page_size 250"), "{}", text(&o));
    assert!(
        text(&o).contains("streams: audit, connection"),
        "{}",
        text(&o)
    );
    assert!(
        text(&o).contains("coder: reachable (v2.36.0+sim), the token reads the audit log"),
        "{}",
        text(&o)
    );
    assert!(
        text(&o).contains("the token reads the connection log"),
        "{}",
        text(&o)
    );
    // What a confirmed batch means, per sink.
    assert!(
        text(&o).contains("delivery guarantee: synced"),
        "{}",
        text(&o)
    );
    // Without the license the connection stream would be off: said, not failed.
    sim.set_connection_log_licensed(false);
    let o = output_of(
        shipper(&["validate", "--config", cfg.to_str().unwrap()])
            .env("CODER_AUDIT_SHIPPER__CODER__STREAMS", "audit,connection"),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("the connection stream will be off")
            && text(&o).contains("Premium feature"),
        "{}",
        text(&o)
    );
    // A token Coder refuses is named as such.
    let o = output_of(
        shipper(&["validate", "--config", cfg.to_str().unwrap()]).env(
            "CODER_AUDIT_SHIPPER__CODER__TOKEN",
            "SimTokenId-wrongwrongwrongwrongwr",
        ),
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("coder: NOT reachable") && text(&o).contains("401"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("wrongwrong"), "the token was printed");

    let o = output_of(
        shipper(&["validate", "--config", cfg.to_str().unwrap()])
            .env("CODER_AUDIT_SHIPPER__CODER__PAGE_SIZE", "0"),
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("coder.page_size") && text(&o).contains("shipper.toml"),
        "{}",
        text(&o)
    );

    std::fs::write(
        &cfg,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("overlap", "overlpa"),
    )
    .unwrap();
    let o = output_of(&mut shipper(&[
        "validate",
        "--config",
        cfg.to_str().unwrap(),
    ]));
    assert!(!o.status.success());
    assert!(text(&o).contains("overlpa"), "{}", text(&o));
}

#[test]
fn a_token_from_the_environment_is_accepted_and_never_printed() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    sim.add_token("env-secret-42");
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sim.url(), "x", "");
    let body = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("token = \"x\"\n", "");
    std::fs::write(&cfg, body).unwrap();
    let o = output_of(&mut shipper(&[
        "validate",
        "--config",
        cfg.to_str().unwrap(),
    ]));
    assert!(!o.status.success());
    assert!(text(&o).contains("CODER_SESSION_TOKEN"), "{}", text(&o));
    let o = output_of(
        shipper(&["validate", "--config", cfg.to_str().unwrap()])
            .env("CODER_SESSION_TOKEN", "env-secret-42"),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("env-secret-42"));
}

#[test]
fn a_wrong_token_is_one_clear_error_without_the_token() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &sim.url(),
        "WrongToken-notthesecretatall12345",
        "",
    );
    let o = output_of(&mut shipper(&["run", "--config", cfg.to_str().unwrap()]));
    assert!(!o.status.success());
    let t = text(&o);
    assert!(t.contains("401") && t.contains("Auditor"), "{t}");
    assert!(!t.contains("notthesecretatall"), "{t}");
}

#[test]
fn backfill_ships_its_range_resumes_after_kill_9_and_reruns_as_a_no_op() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    let day = (Utc::now() - TimeDelta::days(20)).date_naive();
    let from = day.and_hms_opt(0, 0, 0).unwrap().and_utc();
    let to = from + TimeDelta::days(3);
    // 6 days of history; the backfill takes the middle 3.
    sim.backlog(
        12_000,
        Duration::from_secs(6 * 86_400),
        from + TimeDelta::days(4),
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sim.url(), SimConfig::DEFAULT_TOKEN, "");
    // A checkpoint after every page, and every page written alone, for the bound on
    // duplicates below. (By default a checkpoint a second at most: a kill -9 then sends up
    // to a second of the backfill again; 144 duplicates here against at most 100,
    // RELIABILITY.md. And the file sink gathers a scan's pages into 1 MiB writes: a kill
    // after such a write and before its checkpoint sends every page of it again.)
    let mut per_page = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("[checkpoint]\n", "[checkpoint]\nsave_interval = \"0s\"\n");
    per_page.push_str("batch_max_bytes = \"0\"\n");
    std::fs::write(&cfg, per_page).unwrap();
    let cfg_s = cfg.to_str().unwrap();
    let (from_s, to_s) = (
        from.format("%Y-%m-%d").to_string(),
        to.format("%Y-%m-%d").to_string(),
    );
    let args = [
        "backfill", "--config", cfg_s, "--from", &from_s, "--to", &to_s,
    ];

    // Kill it part-way through.
    let mut child = shipper(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = dir.path().join("audit.ndjson");
    let deadline = Instant::now() + Duration::from_secs(60);
    while common::read_ids(&out).len() < 1_000 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = common::read_ids(&out).len();
    assert!(partial > 0, "the backfill wrote nothing before the kill");

    let o = output_of(&mut shipper(&args));
    assert!(o.status.success(), "{}", text(&o));
    let delivered = common::read_ids(&out);
    let expected: HashSet<String> = sim
        .inserted()
        .into_iter()
        .filter(|(_, t)| *t >= from && *t < to)
        .map(|(id, _)| id)
        .collect();
    let got: HashSet<String> = delivered.iter().cloned().collect();
    assert_eq!(got, expected, "the backfill must ship exactly its range");
    let duplicates = delivered.len() - got.len();
    eprintln!(
        "backfill: {} ids, killed after {partial} lines, {duplicates} duplicates after resume",
        expected.len()
    );
    // Resuming from a partial checkpoint re-sends at most the page in flight.
    assert!(duplicates <= 100, "{duplicates} duplicates");

    // Done means done: running it again ships nothing more.
    let o = output_of(&mut shipper(&args));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(common::read_ids(&out).len(), delivered.len());

    let o = output_of(&mut shipper(&["checkpoint", "show", "--config", cfg_s]));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("backfill-") && text(&o).contains("archive"),
        "{}",
        text(&o)
    );
}

fn spawn_run(cfg: &Path, log: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    shipper(&["run", "--config", cfg.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// The issue's acceptance run: `run` under live traffic with ties, late rows and injected
/// 429/500/502/truncated/garbage answers, `kill -9`ed three times at random moments.
#[test]
fn run_survives_three_kill_9_under_live_traffic_with_zero_loss() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    let _guard = rt.enter();
    let start = Utc::now();
    sim.backlog(
        3_000,
        Duration::from_secs(86_400),
        start - TimeDelta::minutes(2),
    );
    let live = sim.spawn_live(LiveTraffic {
        rows_per_sec: 60.0,
        late_share: 0.2,
        late_max: Duration::from_secs(20),
        tie_share: 0.1,
    });
    sim.set_fault_rate(0.05);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &sim.url(),
        SimConfig::DEFAULT_TOKEN,
        "start_at = \"beginning\"",
    );
    let log = dir.path().join("shipper.log");
    let out = dir.path().join("audit.ndjson");

    let mut rng = rand::rng();
    let mut child = spawn_run(&cfg, &log);
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(rng.random_range(700..2_500)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        child = spawn_run(&cfg, &log);
    }
    std::thread::sleep(Duration::from_secs(2));
    live.abort();
    sim.set_fault_rate(0.0);

    // Let it catch up with everything inserted.
    let deadline = Instant::now() + Duration::from_secs(90);
    let tally = loop {
        let t = common::tally(&sim, &common::read_ids(&out), start - TimeDelta::days(2));
        if t.lost.is_empty() || Instant::now() > deadline {
            break t;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    // SIGTERM: a clean stop.
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = child.wait().unwrap();
    let logs = std::fs::read_to_string(&log).unwrap();
    eprintln!(
        "kill -9 x3: {} ids inserted, {} lost, {} duplicates, {} faults served",
        tally.expected,
        tally.lost.len(),
        tally.duplicates,
        sim.stats().faults_served
    );
    assert!(
        tally.lost.is_empty(),
        "lost {} ids, e.g. {:?}",
        tally.lost.len(),
        &tally.lost[..tally.lost.len().min(3)]
    );
    assert!(tally.unexpected.is_empty());
    assert!(tally.expected > 3_000);
    assert!(
        status.success(),
        "SIGTERM should exit 0: {status:?}\n{logs}"
    );
    assert!(
        !logs.contains(SimConfig::DEFAULT_TOKEN),
        "the token reached the logs"
    );
}

fn write_normalizing_config(dir: &Path, url: &str) -> PathBuf {
    let path = dir.join("shipper.toml");
    std::fs::write(
        &path,
        format!(
            r#"[coder]
url = "{url}"
token = "{token}"
poll_interval = "200ms"
overlap = "1m"
page_size = 100
start_at = "beginning"

[checkpoint]
dir = "{state}"

[enrich]
deployment = "ci"

[sinks.archive]
type = "file"
path = "{archive}"
format = "ecs"

[sinks.lake]
type = "file"
path = "{lake}"
format = "ocsf"
ocsf_version = "1.1.0"
"#,
            token = SimConfig::DEFAULT_TOKEN,
            state = dir.join("state").display(),
            archive = dir.join("archive.ndjson").display(),
            lake = dir.join("lake.ndjson").display(),
        ),
    )
    .unwrap();
    path
}

/// The Coder audit ids in normalized lines (OCSF suffixes `:n` when one entry gave several).
fn audit_ids(lines: &str) -> HashSet<String> {
    lines
        .lines()
        .map(|l| {
            let l = l.split_once('\t').map_or(l, |(_, json)| json);
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            let id = v["event"]["id"]
                .as_str()
                .or(v["metadata"]["uid"].as_str())
                .unwrap();
            id.split(':').next().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn tap_prints_what_each_sink_would_receive_writes_nothing_and_run_ships_the_same() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(
        300,
        Duration::from_secs(7_200),
        Utc::now() - TimeDelta::minutes(10),
    );
    let inserted: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_normalizing_config(dir.path(), &sim.url());
    let cfg_s = cfg.to_str().unwrap();

    let o = output_of(&mut shipper(&[
        "tap", "--config", cfg_s, "--sink", "lake", "--once",
    ]));
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8(o.stdout.clone()).unwrap();
    for line in stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["metadata"]["version"], "1.1.0", "{line}");
        assert_eq!(v["unmapped"]["coder"]["deployment"], "ci", "{line}");
    }
    assert_eq!(audit_ids(&stdout), inserted);
    // Nothing written, no checkpoint moved.
    assert!(!dir.path().join("lake.ndjson").exists());
    assert!(!dir.path().join("archive.ndjson").exists());
    let checkpoints = std::fs::read_dir(dir.path().join("state")).map_or(0, |d| d.count());
    assert_eq!(checkpoints, 0);

    // Every sink, each line named; `run --dry-run` is the same thing, followed live.
    let o = output_of(&mut shipper(&["tap", "--config", cfg_s, "--once"]));
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8(o.stdout.clone()).unwrap();
    let archive: String = stdout
        .lines()
        .filter(|l| l.starts_with("archive\t"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        archive.lines().count(),
        inserted.len(),
        "one ECS document per entry"
    );
    assert_eq!(audit_ids(&archive), inserted);
    assert!(stdout.lines().any(|l| l.starts_with("lake\t")));
    let dry_path = dir.path().join("dry-run.out");
    let mut dry = shipper(&["run", "--config", cfg_s, "--dry-run"])
        .stdout(std::fs::File::create(&dry_path).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let archive_lines = || {
        std::fs::read_to_string(&dry_path)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("archive\t"))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while archive_lines() < inserted.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    dry.kill().unwrap();
    dry.wait().unwrap();
    assert_eq!(archive_lines(), inserted.len());
    assert!(!dir.path().join("archive.ndjson").exists());

    // And `run` ships exactly that, in each sink's format.
    let log = dir.path().join("run.log");
    let mut child = spawn_run(&cfg, &log);
    let deadline = Instant::now() + Duration::from_secs(60);
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    while (audit_ids(&read("archive.ndjson")).len() < inserted.len()
        || audit_ids(&read("lake.ndjson")).len() < inserted.len())
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(audit_ids(&read("archive.ndjson")), inserted);
    assert_eq!(audit_ids(&read("lake.ndjson")), inserted);
    assert!(
        read("archive.ndjson")
            .lines()
            .all(|l| l.contains(r#""ecs":{"version":"9.4.0"}"#))
    );
}

/// Since about v2.35 API tokens no longer extend their expiry with use (default lifetime 7
/// days): `validate` and `run` warn two weeks ahead, with the command that makes a lasting
/// one; a 401 names `--lifetime` too.
#[test]
fn a_token_close_to_its_expiry_is_warned_about() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sim.url(), SimConfig::DEFAULT_TOKEN, "");
    let validate = || {
        output_of(&mut shipper(&[
            "validate",
            "--config",
            cfg.to_str().unwrap(),
        ]))
    };

    let o = validate();
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("expires"), "a year away: {}", text(&o));

    sim.set_token_expiry(Utc::now() + TimeDelta::days(3));
    let o = validate();
    let t = text(&o);
    assert!(o.status.success(), "a warning, not a failure: {t}");
    assert!(
        t.contains("WARNING") && t.contains("expires") && t.contains("--lifetime"),
        "{t}"
    );
    assert!(!t.contains("s3cret"), "{t}");
}

/// A 3xx from `coder.url` (a moved domain, a proxy, anyone on an `http://` path) must not
/// hand the Auditor token to the redirect target: reqwest would follow it and keep
/// `Coder-Session-Token`, which it does not count as sensitive.
#[test]
fn a_redirect_from_coder_is_refused_and_the_token_never_reaches_its_target() {
    use std::io::Read;
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    // The redirect target: a listener that keeps whatever reaches it.
    let catcher = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = format!("http://{}", catcher.local_addr().unwrap());
    catcher.set_nonblocking(true).unwrap();
    let caught = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let keep = caught.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = stop.clone();
    let thread = std::thread::spawn(move || {
        while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
            if let Ok((mut s, _)) = catcher.accept() {
                s.set_read_timeout(Some(Duration::from_millis(500))).ok();
                let mut buf = [0u8; 4096];
                if let Ok(n) = s.read(&mut buf) {
                    keep.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    sim.set_redirect(Some(target.clone()));
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sim.url(), SimConfig::DEFAULT_TOKEN, "");
    let o = output_of(&mut shipper(&[
        "validate",
        "--config",
        cfg.to_str().unwrap(),
    ]));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    thread.join().unwrap();
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(
        t.contains("307") && t.contains("redirect") && t.contains(&target),
        "{t}"
    );
    let caught = String::from_utf8_lossy(&caught.lock().unwrap()).into_owned();
    assert!(
        !caught.contains("s3cret"),
        "the token reached the redirect target:\n{caught}"
    );
    assert!(caught.is_empty(), "nothing was sent there:\n{caught}");
}

/// A Coder behind a private CA: `coder.tls_ca_file` makes it trusted, and without it the
/// error says which setting to use. TLS is terminated by socat in front of the simulator
/// (installed for the Kafka TLS peer, `tests/peers/start-kafka-tls.sh`).
#[test]
fn a_coder_behind_a_private_ca_is_trusted_with_coder_tls_ca_file() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sh = |script: &str| {
        let s = Command::new("bash")
            .arg("-c")
            .arg(script)
            .current_dir(d)
            .status()
            .expect("bash");
        assert!(s.success(), "{script}");
    };
    sh(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca -keyout ca.key -out ca.pem 2>/dev/null \
        && openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key -out server.csr 2>/dev/null \
        && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.cnf \
        && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.cnf -out server.pem 2>/dev/null",
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sim_port = sim
        .url()
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let mut socat = Command::new("socat")
        .arg(format!(
            "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={},key={},verify=0",
            d.join("server.pem").display(),
            d.join("server.key").display()
        ))
        .arg(format!("TCP:127.0.0.1:{sim_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("socat (apt install socat)");
    let up = common::wait_until(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(up, "socat listens");
    let url = format!("https://127.0.0.1:{port}");
    let validate = |extra: &str| {
        let cfg = write_config(d, &url, SimConfig::DEFAULT_TOKEN, extra);
        output_of(&mut shipper(&[
            "validate",
            "--config",
            cfg.to_str().unwrap(),
        ]))
    };
    let untrusted = validate("");
    let trusted = validate(&format!("tls_ca_file = \"{}\"", d.join("ca.pem").display()));
    socat.kill().ok();
    socat.wait().ok();
    let t = text(&untrusted);
    assert!(!untrusted.status.success(), "{t}");
    assert!(
        t.contains("coder.tls_ca_file"),
        "the error names the setting: {t}"
    );
    let t = text(&trusted);
    assert!(trusted.status.success(), "{t}");
    assert!(
        !t.contains("WARNING: coder.url"),
        "https is no clear-text warning: {t}"
    );
}

#[test]
fn validate_warns_of_a_token_sent_in_clear_text() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sim.url(), SimConfig::DEFAULT_TOKEN, "");
    let o = output_of(&mut shipper(&[
        "validate",
        "--config",
        cfg.to_str().unwrap(),
    ]));
    let t = text(&o);
    assert!(o.status.success(), "a warning, not a failure: {t}");
    assert!(
        t.contains("WARNING: coder.url") && t.contains("clear text"),
        "{t}"
    );
}
