//! What a new user meets first (issue 22): config errors that say where and what to write,
//! `validate --offline` on the example config, `checkpoint show` before anything ran.
//! Each runs the binary, as the user does. And the test peers a run starts stop when it
//! ends.

#[path = "common/peers.rs"]
mod peers;

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
        std::fs::write(run.path().join(format!("{name}.pid")), peer.id().to_string()).unwrap();
    }
    peers::stop_when_done(run.path(), "ours", owner.id()).unwrap();
    // A second peer of the same run shares the one watcher.
    peers::stop_when_done(run.path(), "also-ours", owner.id()).unwrap();
    std::thread::sleep(Duration::from_millis(1_500));
    assert!(ours.try_wait().unwrap().is_none(), "stopped while the run lasts");

    owner.kill().unwrap();
    owner.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while ours.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the run's peer outlived it");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Give a wrong watcher time to do harm before looking at the user's peer.
    std::thread::sleep(Duration::from_millis(1_500));
    assert!(users.try_wait().unwrap().is_none(), "a user's peer was stopped");
    assert!(!run.path().join("ours.pid").exists());
    assert!(!run.path().join("ours.started-by").exists());
    assert!(run.path().join("users.pid").exists());
    users.kill().unwrap();
    users.wait().unwrap();
}
