//! The shipper's own disk failing: a full or read-only checkpoint directory makes the
//! stream wait (an error line and a metric per attempt) and go on once the disk is back;
//! a corrupt checkpoint or a mistyped config stops it before it ships anything.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::coder_faults::{catch_up_and_stop, file_config};
use super::common::{self, delivered, scrape};
use super::report::{self, PeakRss};

/// A small tmpfs mounted for one test (CI runs as root, so it can), unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Self {
        std::fs::create_dir_all(at).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .expect("mount(8)");
        assert!(
            status.success(),
            "mounting a tmpfs needs root, as CI and the dev machine have"
        );
        Tmpfs(at.to_owned())
    }

    fn remount(&self, mode: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Fill it to the last byte.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let filler = self.0.join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
        while f.write_all(&block[..1]).is_ok() {}
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Run until the checkpoint write fails (seen as a metric and a log line), `repair`, and
/// check that everything arrives once the disk is back.
fn waits_for_its_disk(
    scenario: &str,
    break_disk: impl FnOnce(&Tmpfs),
    repair: impl FnOnce(&Tmpfs),
) {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(1_000, Duration::from_secs(3_600), Utc::now());
    let dir = tempfile::tempdir().unwrap();
    let state = Tmpfs::mount(&dir.path().join("state"), "256k");
    break_disk(&state);
    let cfg = file_config(dir.path(), &sim.url());
    let mut child = common::run_command(&cfg).spawn().unwrap();
    let peak = PeakRss::default();
    peak.watch(child.id());
    let (counted, exposition) = scrape::wait_for_metric(
        &cfg,
        "component_errors_total",
        &[
            "component_id=\"archive\"",
            "error_type=\"checkpoint_write\"",
        ],
        2.0,
    );
    let log = common::run_log(&cfg);
    assert!(counted, "{exposition}\n{log}");
    assert!(
        log.contains("could not be written, the stream waits"),
        "{log}"
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "the process stopped:\n{log}"
    );

    repair(&state);
    let log = catch_up_and_stop(&sim, dir.path(), &mut child, &cfg, Duration::from_secs(60));
    let out = dir.path().join("audit.ndjson");
    assert!(log.contains("written after failing"), "{log}");
    let checkpoints: Vec<_> = std::fs::read_dir(&state.0)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(
        checkpoints.len(),
        1,
        "the checkpoint is saved once the disk is back"
    );
    let t = common::tally(&sim, &delivered::file(&out), DateTime::<Utc>::MIN_UTC);
    report::record(
        scenario,
        "file",
        t.lost.len(),
        t.duplicates,
        &peak,
        &format!("{} ids", t.expected),
    );
    assert!(t.lost.is_empty(), "lost {:?}", t.lost);
}

#[test]
fn a_full_checkpoint_disk_makes_the_stream_wait_and_go_on_once_space_is_freed() {
    waits_for_its_disk(
        "checkpoint directory full (ENOSPC), then freed",
        |fs| {
            fs.fill();
        },
        |fs| std::fs::remove_file(fs.0.join("filler")).unwrap(),
    );
}

#[test]
fn a_read_only_checkpoint_disk_makes_the_stream_wait_and_go_on_once_writable() {
    waits_for_its_disk(
        "checkpoint directory read-only (EROFS), then writable",
        |fs| fs.remount("ro"),
        |fs| fs.remount("rw"),
    );
}

#[test]
fn a_corrupt_checkpoint_stops_the_run_naming_the_file_and_ships_nothing() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(200, Duration::from_secs(3_600), Utc::now());
    let dir = tempfile::tempdir().unwrap();
    let cfg = file_config(dir.path(), &sim.url());
    let out = dir.path().join("audit.ndjson");
    let mut child = common::run_command(&cfg).spawn().unwrap();
    assert!(common::wait_until(
        Duration::from_secs(30),
        || delivered::file(&out).len() >= 200
    ));
    assert!(common::stop_gracefully(&mut child).success());
    let checkpoint = std::fs::read_dir(dir.path().join("state"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .expect("a checkpoint");
    std::fs::write(&checkpoint, b"{\"version\": 1, \"cursor\": {\"posit").unwrap();
    let shipped = std::fs::read(&out).unwrap();

    let o = common::run_command(&cfg).status().unwrap();
    let log = common::run_log(&cfg);
    assert!(!o.success());
    assert!(
        log.contains("is corrupt") && log.contains(&checkpoint.display().to_string()),
        "{log}"
    );
    assert!(log.contains("start_at"), "the way out is named:\n{log}");
    assert_eq!(
        std::fs::read(&out).unwrap(),
        shipped,
        "nothing shipped from a guessed position"
    );
}

#[test]
fn a_config_value_of_the_wrong_type_names_the_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = file_config(dir.path(), "http://127.0.0.1:9");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace("page_size = 100", "page_size = \"ten\"")).unwrap();
    let o = common::run_command(&cfg).status().unwrap();
    let log = common::run_log(&cfg);
    assert!(!o.success());
    assert!(
        log.contains("page_size") && log.contains("shipper.toml"),
        "{log}"
    );
}
