//! The detection pack (`detections/`), proven on what the shipper ships.
//!
//! The simulator plays every attack the rules name amid a benign baseline
//! (`coder_sim::scenario`); `run` ships it into an ECS file and an OCSF file; each rule,
//! converted by pySigma's SQLite backend through the pack's own ECS or OCSF pipeline, runs
//! over those files (`detections/tools/pack.py match`). Each must fire on exactly its
//! scenario's events, each once, and on no baseline event: a normalizer change that moves a
//! field a rule reads fails here. The other tests keep `sigma check` passing and the
//! committed queries current.
//!
//! The tools come from PyPI at pinned versions (`scripts/sigma-venv.sh`); a missing
//! registry fails these tests, never skips them.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's python, made once for all the tests of this file.
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sigma");
        let status = Command::new("bash")
            .arg(root().join("scripts/sigma-venv.sh"))
            .arg(&dir)
            .status()
            .expect("run scripts/sigma-venv.sh");
        assert!(
            status.success(),
            "sigma-venv.sh failed: it needs python3 and PyPI"
        );
        dir.join("venv/bin/python")
    })
}

/// `pack.py args…`: its status and its output, both streams.
fn pack(args: &[&str]) -> (bool, String) {
    let out = Command::new(python())
        .arg(root().join("detections/tools/pack.py"))
        .args(args)
        .output()
        .expect("run pack.py");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn every_rule_passes_sigma_check() {
    let (ok, out) = pack(&["check"]);
    assert!(ok, "{out}");
    assert!(out.contains("No validation issues found."), "{out}");
}

/// The check is not a formality: an ATT&CK tag that does not exist fails it.
#[test]
fn sigma_check_refuses_an_unknown_attack_technique() {
    let dir = tempfile::tempdir().unwrap();
    let rule =
        std::fs::read_to_string(root().join("detections/rules/audit/coder_license_removed.yml"))
            .unwrap()
            .replace("attack.t1562.008", "attack.t1562.999");
    std::fs::write(dir.path().join("bad.yml"), rule).unwrap();
    let (ok, out) = pack(&["check", dir.path().to_str().unwrap()]);
    assert!(!ok, "{out}");
    assert!(out.contains("t1562.999"), "{out}");
}

/// CI keeps `detections/generated/` what the rules and pipelines make now.
#[test]
fn the_committed_queries_are_current() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = pack(&["generate", dir.path().to_str().unwrap()]);
    assert!(ok, "{out}");
    let committed = root().join("detections/generated");
    let mut made: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    made.sort();
    let mut kept: Vec<String> = std::fs::read_dir(&committed)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    kept.sort();
    assert_eq!(
        made, kept,
        "detections/generated holds other files than pack.py makes"
    );
    for name in made {
        let now = std::fs::read_to_string(dir.path().join(&name)).unwrap();
        let then = std::fs::read_to_string(committed.join(&name)).unwrap();
        assert!(
            now == then,
            "detections/generated/{name} is stale: run `python detections/tools/pack.py \
             generate detections/generated` in the venv of scripts/sigma-venv.sh"
        );
    }
}

/// What `pack.py match` found for one rule.
#[derive(Debug)]
struct Hits {
    ids: Vec<String>,
    groups: Vec<String>,
    query: String,
}

fn matched(format: &str, events: &Path, dir: &Path) -> BTreeMap<String, Hits> {
    let out = dir.join(format!("matched-{format}.json"));
    let (ok, text) = pack(&[
        "match",
        format,
        events.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    let all: BTreeMap<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
    let strings = |v: &Value| -> Vec<String> {
        let mut s: Vec<String> = v
            .as_array()
            .unwrap_or(&Vec::new())
            .iter()
            .map(|x| x.as_str().unwrap().to_owned())
            .collect();
        s.sort();
        s
    };
    all.into_iter()
        .map(|(rule, v)| {
            let hits = Hits {
                ids: strings(&v["ids"]),
                groups: strings(&v["groups"]),
                query: v["query"].as_str().unwrap_or_default().to_owned(),
            };
            (rule, hits)
        })
        .collect()
}

#[test]
fn every_rule_fires_on_its_attack_and_never_on_the_baseline() {
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    let scenario = coder_sim::scenario::detections(Utc::now() - TimeDelta::hours(3));
    scenario.play(&sim);

    let dir = tempfile::tempdir().unwrap();
    let (ecs, ocsf, sinks) = common::ecs_and_ocsf_files(dir.path());
    let cfg = common::shipper_config(dir.path(), &sim.url(), 100, &sinks);
    common::read_streams(&cfg, r#"["audit", "connection"]"#);

    let mut child = common::spawn_run(&cfg);
    let all: Vec<String> = sim
        .inserted()
        .into_iter()
        .chain(sim.connections_inserted())
        .map(|(id, _)| id)
        .collect();
    let shipped = common::wait_until(Duration::from_secs(60), || {
        [&ecs, &ocsf].iter().all(|path| {
            let (got, _) = common::delivered::distinct(&common::delivered::file(path));
            all.iter().all(|id| got.contains(id))
        })
    });
    let status = common::stop_gracefully(&mut child);
    let log = common::run_log(&cfg);
    assert!(shipped, "not everything was shipped:\n{log}");
    assert!(status.success(), "{log}");

    let baseline = scenario.baseline();
    assert!(
        baseline.len() > 30,
        "the baseline is too small to mean anything"
    );
    for (format, events) in [("ecs", &ecs), ("ocsf", &ocsf)] {
        let hits = matched(format, events, dir.path());
        let rules: Vec<&String> = hits.keys().collect();
        let scenarios: Vec<&str> = scenario.expected.keys().copied().collect();
        assert_eq!(
            rules, scenarios,
            "{format}: every rule needs an attack in the scenario"
        );
        for (rule, got) in &hits {
            let mut want = scenario.expected[rule.as_str()].clone();
            want.sort();
            assert!(
                !got.ids.iter().any(|id| baseline.contains(id)),
                "{format}: {rule} fired on the baseline: {:?}\n{}",
                got.ids,
                got.query
            );
            assert_eq!(
                got.ids, want,
                "{format}: {rule} must fire on its scenario's events, each once\n{}",
                got.query
            );
            let groups = scenario
                .groups
                .get(rule.as_str())
                .cloned()
                .unwrap_or_default();
            assert_eq!(
                got.groups, groups,
                "{format}: {rule} fired for other groups"
            );
        }
    }
}
