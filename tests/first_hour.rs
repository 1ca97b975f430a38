//! What a new user meets first (issue 22): config errors that say where and what to write,
//! `validate --offline` on the example config, `checkpoint show` before anything ran.
//! Each runs the binary, as the user does. And the test peers a run starts stop when it
//! ends.

mod common;

use common::peers;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_coder-audit-shipper");

fn shipper(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .env_remove("CODER_SESSION_TOKEN")
        .stdin(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("CODER_AUDIT_SHIPPER__") {
            c.env_remove(k);
        }
    }
    c
}

fn run(c: &mut Command) -> (Output, String) {
    let o = c.output().expect("run the shipper");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o, text)
}

/// A config in `dir` with `coder` and `sink` lines added to a minimal one.
fn config(dir: &Path, coder: &str, sink: &str) -> PathBuf {
    let path = dir.join("shipper.toml");
    std::fs::write(
        &path,
        format!(
            "[coder]\nurl = \"https://coder.example.com\"\ntoken = \"t\"\n{coder}\n\
             [checkpoint]\ndir = \"{}\"\n\
             [sinks.archive]\ntype = \"file\"\npath = \"{}\"\n{sink}\n",
            dir.join("state").display(),
            dir.join("audit.ndjson").display()
        ),
    )
    .unwrap();
    path
}

fn validate(cfg: &Path) -> Command {
    shipper(&["validate", "--offline", "--config", cfg.to_str().unwrap()])
}

#[test]
fn an_error_from_an_environment_override_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "", "");
    let (o, text) = run(validate(&cfg).env("CODER_AUDIT_SHIPPER__CODER__PAGESIZE", "5"));
    assert!(!o.status.success(), "{text}");
    assert!(
        text.contains("environment variable CODER_AUDIT_SHIPPER__CODER__PAGESIZE")
            && text.contains("coder.pagesize"),
        "{text}"
    );
    assert!(text.contains("did you mean `page_size`"), "{text}");
}

#[test]
fn a_typo_inside_a_sink_names_its_key_and_the_nearest_valid_name() {
    let dir = tempfile::tempdir().unwrap();
    for (line, key, hint) in [
        (
            "format = \"ocfs\"",
            "sinks.archive.format",
            "did you mean `ocsf`",
        ),
        (
            "max_file = 3",
            "sinks.archive.max_file",
            "did you mean `max_files`",
        ),
    ] {
        let cfg = config(dir.path(), "", line);
        let (o, text) = run(&mut validate(&cfg));
        assert!(!o.status.success(), "{line}: {text}");
        assert!(text.contains(key) && text.contains(hint), "{line}: {text}");
        // The sink's lines come last, at line 10 of `config`'s file.
        assert!(text.contains("shipper.toml:10: "), "{line}: {text}");
    }
}

#[test]
fn a_number_where_a_duration_belongs_says_what_to_write() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "poll_interval = 2", "");
    let (o, text) = run(&mut validate(&cfg));
    assert!(!o.status.success(), "{text}");
    assert!(
        text.contains("coder.poll_interval") && text.contains("write \"2s\""),
        "{text}"
    );
    assert!(text.contains("shipper.toml:4: "), "{text}");
}

#[test]
fn the_example_config_passes_validate_offline_and_a_missing_token_file_says_what_to_do() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/minimal.toml");
    let (o, text) = run(&mut validate(&example));
    assert!(o.status.success(), "{text}");
    assert!(text.contains("not readable here"), "{text}");
    // Online, the missing file is an error that says how to proceed.
    let (o, text) = run(&mut shipper(&[
        "validate",
        "--config",
        example.to_str().unwrap(),
    ]));
    assert!(!o.status.success(), "{text}");
    assert!(
        text.contains("coder.token_file") && text.contains("CODER_SESSION_TOKEN"),
        "{text}"
    );
    // CODER_SESSION_TOKEN stands in for a token file that is not there.
    let (o, text) = run(validate(&example).env("CODER_SESSION_TOKEN", "env-token-77"));
    assert!(o.status.success(), "{text}");
    assert!(text.contains("inline or CODER_SESSION_TOKEN"), "{text}");
    assert!(!text.contains("env-token-77"), "{text}");
}

#[test]
fn checkpoint_show_before_anything_ran_says_so_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "", "");
    let (o, text) = run(&mut shipper(&[
        "checkpoint",
        "show",
        "--config",
        cfg.to_str().unwrap(),
    ]));
    assert!(!o.status.success(), "{text}");
    assert!(
        text.contains("does not exist")
            && text.contains(&dir.path().join("state").display().to_string()),
        "{text}"
    );
    // Once the directory is there (a run made it), an empty one is no error.
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    let (o, text) = run(&mut shipper(&[
        "checkpoint",
        "show",
        "--config",
        cfg.to_str().unwrap(),
    ]));
    assert!(o.status.success(), "{text}");
    assert!(text.contains("no checkpoints"), "{text}");
}

#[test]
fn validate_says_what_the_request_budget_allows_and_warns_when_polling_outgrows_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "", "");
    let (o, text) = run(&mut validate(&cfg));
    assert!(o.status.success(), "{text}");
    assert!(
        text.contains("at most 300 a minute") && !text.contains("WARNING"),
        "{text}"
    );
    // One sink polling twice a second: 120 a minute of a budget of 100.
    let cfg = config(
        dir.path(),
        "poll_interval = \"500ms\"\nmax_requests_per_minute = 100",
        "",
    );
    let (o, text) = run(&mut validate(&cfg));
    assert!(o.status.success(), "{text}");
    assert!(
        text.contains("ask for about 120 requests a minute"),
        "{text}"
    );
    let cfg = config(dir.path(), "max_requests_per_minute = 1000", "");
    let (_, text) = run(&mut validate(&cfg));
    assert!(
        text.contains("above Coder's default limit of 512"),
        "{text}"
    );
    let cfg = config(dir.path(), "max_requests_per_minute = 5", "");
    let (o, text) = run(&mut validate(&cfg));
    assert!(!o.status.success(), "{text}");
    assert!(
        text.contains("coder.max_requests_per_minute") && text.contains("at least 10"),
        "{text}"
    );
}

/// Stand-in peers (`sleep`s with pid files, as `start-*.sh` write them) and a stand-in test
/// run: the peer the run marked stops once the run is gone; the one it did not start (a
/// user's) keeps running.
#[test]
fn the_peers_a_test_run_started_stop_when_it_ends_and_a_users_peer_is_left_alone() {
    use std::time::{Duration, Instant};
    let run = tempfile::tempdir().unwrap();
    let sleeper = || Command::new("sleep").arg("300").spawn().unwrap();
    let (mut ours, mut users, mut owner) = (sleeper(), sleeper(), sleeper());
    for (name, peer) in [("ours", &ours), ("users", &users)] {
        std::fs::write(
            run.path().join(format!("{name}.pid")),
            peer.id().to_string(),
        )
        .unwrap();
    }
    peers::stop_when_done(run.path(), "ours", owner.id()).unwrap();
    // A second peer of the same run shares the one watcher.
    peers::stop_when_done(run.path(), "also-ours", owner.id()).unwrap();
    std::thread::sleep(Duration::from_millis(1_500));
    assert!(
        ours.try_wait().unwrap().is_none(),
        "stopped while the run lasts"
    );

    owner.kill().unwrap();
    owner.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while ours.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the run's peer outlived it");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Give a wrong watcher time to do harm before looking at the user's peer.
    std::thread::sleep(Duration::from_millis(1_500));
    assert!(
        users.try_wait().unwrap().is_none(),
        "a user's peer was stopped"
    );
    assert!(!run.path().join("ours.pid").exists());
    assert!(!run.path().join("ours.started-by").exists());
    assert!(run.path().join("users.pid").exists());
    users.kill().unwrap();
    users.wait().unwrap();
}

/// The README's "Quick start against your Coder", its commands as written, run in a
/// directory shaped like the clone after step 2's build, against the simulator (at Coder's
/// own rate limit). Step 1's token is the simulator's; step 2's edits are the ones it
/// lists, so a README or example config that drifts apart fails here.
#[test]
fn the_readme_quick_start_works_as_written() {
    use chrono::Utc;
    use std::time::{Duration, Instant};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let section = readme
        .split("## Quick start against your Coder")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("the README has its quick start");
    let commands: Vec<&str> = section.split('`').skip(1).step_by(2).collect();
    let command = |prefix: &str| -> String {
        commands
            .iter()
            .find(|c| c.starts_with(prefix))
            .unwrap_or_else(|| panic!("the quick start has no `{prefix}...`: {commands:?}"))
            .to_string()
    };
    let (copy, check, start) = (
        command("cp "),
        command("target/release/coder-audit-shipper validate"),
        command("target/release/coder-audit-shipper run"),
    );

    let rt = common::runtime();
    let sim = rt
        .block_on(coder_sim::Sim::start(coder_sim::SimConfig::default()))
        .expect("start the simulator");
    let _guard = rt.enter();
    let dir = tempfile::tempdir().unwrap();
    let clone = dir.path();
    std::os::unix::fs::symlink(root.join("config"), clone.join("config")).unwrap();
    std::fs::create_dir_all(clone.join("target/release")).unwrap();
    std::os::unix::fs::symlink(BIN, clone.join("target/release/coder-audit-shipper")).unwrap();
    let shell = |line: &str| {
        let mut c = Command::new("sh");
        c.args(["-c", &format!("exec {line}")])
            .current_dir(clone)
            .env_remove("CODER_SESSION_TOKEN")
            .stdin(Stdio::null());
        c
    };
    let (o, text) = run(&mut shell(&copy));
    assert!(o.status.success(), "{copy}: {text}");

    // Step 2: coder.url, the token (CODER_SESSION_TOKEN instead of token_file),
    // checkpoint.dir and the sink's path.
    let config = clone.join("shipper.toml");
    let out = clone.join("audit.ndjson");
    let mut toml = std::fs::read_to_string(&config).unwrap();
    for (from, to) in [
        (
            "url = \"https://coder.example.com\"".to_owned(),
            format!("url = \"{}\"", sim.url()),
        ),
        (
            "token_file = \"/var/run/secrets/coder/token\"\n".to_owned(),
            String::new(),
        ),
        (
            "dir = \"/var/lib/coder-audit-shipper\"".to_owned(),
            format!("dir = \"{}\"", clone.join("state").display()),
        ),
        (
            "path = \"/var/log/coder-audit/audit.ndjson\"".to_owned(),
            format!("path = \"{}\"", out.display()),
        ),
    ] {
        assert!(
            toml.contains(&from),
            "config/minimal.toml has no `{from}` to edit"
        );
        toml = toml.replacen(&from, &to, 1);
    }
    std::fs::write(&config, toml).unwrap();
    let token = coder_sim::SimConfig::DEFAULT_TOKEN;

    // Step 3: validate, then run.
    let (o, text) = run(shell(&check).env("CODER_SESSION_TOKEN", token));
    assert!(o.status.success(), "{check}: {text}");
    assert!(!text.contains(token), "the token was printed: {text}");
    let before = sim.stats().audit_requests;
    let log = std::fs::File::create(clone.join("run.log")).unwrap();
    let mut child = shell(&start)
        .env("CODER_SESSION_TOKEN", token)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    // `start_at = "now"`: what Coder records once the shipper has read it is shipped.
    let deadline = Instant::now() + Duration::from_secs(30);
    while sim.stats().audit_requests < before + 1 {
        assert!(Instant::now() < deadline, "run never read Coder");
        std::thread::sleep(Duration::from_millis(50));
    }
    let from = Utc::now();
    let live = sim.spawn_live(coder_sim::server::LiveTraffic {
        rows_per_sec: 20.0,
        late_share: 0.0,
        late_max: Duration::ZERO,
        tie_share: 0.1,
    });
    std::thread::sleep(Duration::from_secs(3));
    live.abort();
    let deadline = Instant::now() + Duration::from_secs(60);
    let tally = loop {
        let t = common::tally(&sim, &common::read_ids(&out), from);
        if t.lost.is_empty() || Instant::now() > deadline {
            break t;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let logs = std::fs::read_to_string(clone.join("run.log")).unwrap();
    assert!(tally.expected >= 20, "{} rows inserted", tally.expected);
    assert!(tally.lost.is_empty(), "lost {:?}\n{logs}", tally.lost);
    assert_eq!(tally.duplicates, 0, "{logs}");
    assert!(tally.unexpected.is_empty(), "{logs}");
    assert!(status.success(), "SIGTERM: {status:?}\n{logs}");
    assert!(!logs.contains(token), "the token reached the log");
}
