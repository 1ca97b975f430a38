//! The HTTP sink end to end: the Coder simulator → `coder-audit-shipper run` → an intake.
//!
//! The transport (NDJSON and JSON-array bodies, gzip) is checked against a real HTTP
//! server, Tenzir's `accept_http` (`tests/peers/start-http.sh`). The status rule (429 with
//! `Retry-After`, a 400 refusing a request, 403) is checked against `coder_sim::intake`,
//! written from Datadog's and Sumo Logic's documented statuses: `accept_http` answers 200
//! to everything.
#![cfg(feature = "http")]

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use coder_sim::intake::{IntakeOptions, IntakeSim};
use common::{delivered, peers, run_log, spawn_run, stop_gracefully, wait_until};
use serde_json::Value;

fn write_config(dir: &Path, coder_url: &str, sink: &str) -> PathBuf {
    common::shipper_config(
        dir,
        coder_url,
        100,
        &format!("[sinks.siem]\ntype = \"http\"\nbatch_timeout = \"200ms\"\n{sink}"),
    )
}

/// The audit ids of `lines` (raw `id` or ECS `event.id`), each copy.
fn ids(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .filter_map(|v| v["id"].as_str().or_else(|| v["event"]["id"].as_str()))
        .map(str::to_owned)
        .collect()
}

fn read_lines(file: &str) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn every_event_reaches_a_real_intake_once_as_ndjson_and_as_a_json_array() {
    let rt = common::runtime();
    for (encoding, format) in [("ndjson", "raw"), ("json_array", "ecs")] {
        let peer = peers::http(encoding);
        let sim = rt.block_on(common::unlimited_sim());
        sim.backlog(
            500,
            Duration::from_secs(3_600),
            Utc::now() - TimeDelta::minutes(5),
        );
        let expected: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
        let dir = tempfile::tempdir().unwrap();
        let cfg = write_config(
            dir.path(),
            &sim.url(),
            &format!(
                "uri = \"{}\"\nencoding = \"{encoding}\"\nformat = \"{format}\"\n\
                 max_request_events = 50",
                peer["HTTP_URL"]
            ),
        );
        let mine = |records: &[Value]| -> Vec<String> {
            ids(records)
                .into_iter()
                .filter(|id| expected.contains(id))
                .collect()
        };
        let mut child = spawn_run(&cfg);
        let done = wait_until(Duration::from_secs(60), || {
            delivered::distinct(&mine(&read_lines(&peer["HTTP_EVENTS_FILE"]))).0 == expected
        });
        stop_gracefully(&mut child);
        assert!(done, "{encoding}: {}", run_log(&cfg));
        let (got, copies) = delivered::distinct(&mine(&read_lines(&peer["HTTP_EVENTS_FILE"])));
        assert_eq!(got, expected);
        assert_eq!(copies, 0, "{encoding}: each event once");
        let log = std::fs::read_to_string(
            Path::new(&peers::run_dir()).join(format!("http-{encoding}.log")),
        )
        .unwrap_or_default();
        assert!(
            !log.contains("expected"),
            "the intake could not read a body as {encoding}: {log}"
        );
    }
}

#[test]
fn throttling_is_waited_out_and_a_refused_record_is_dead_lettered_alone() {
    let rt = common::runtime();
    let marker = "refuse-me-http-0123456789";
    let key = "dd-key-do-not-print";
    let intake = rt
        .block_on(IntakeSim::start(IntakeOptions {
            auth: Some(("DD-API-KEY".into(), key.into())),
            // After two requests taken: a retry must not send them again.
            throttle: 3,
            throttle_from: 2,
            reject_marker: Some(marker.into()),
            ..IntakeOptions::default()
        }))
        .unwrap();
    let sim = rt.block_on(common::unlimited_sim());
    let t = Utc::now() - TimeDelta::minutes(30);
    sim.backlog(200, Duration::from_secs(600), t);
    let (bad_id, bad) = common::marked_entry(marker, t - TimeDelta::minutes(3));
    assert!(sim.insert_entry(&bad));
    let mut expected: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    expected.remove(&bad_id);
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("dd-api-key");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    // The URL from a file, as a Sumo Logic source's (whose path is its token) would be.
    let uri_file = dir.path().join("intake-url");
    std::fs::write(
        &uri_file,
        format!("{}?token=sumo-secret-path", intake.url()),
    )
    .unwrap();
    let cfg = write_config(
        dir.path(),
        &sim.url(),
        &format!(
            "uri_file = \"{}\"\nencoding = \"json_array\"\nformat = \"ecs\"\n\
             auth_header = \"DD-API-KEY\"\nauth_file = \"{}\"\nmax_request_events = 40\n\
             [sinks.siem.headers]\n\"DD-SOURCE\" = \"coder\"",
            uri_file.display(),
            key_file.display()
        ),
    );
    let mut child = spawn_run(&cfg);
    let dead_file = dir.path().join("state/dead-letter/siem.ndjson");
    let done = wait_until(Duration::from_secs(60), || {
        delivered::distinct(&ids(&intake.records())).0 == expected && dead_file.exists()
    });
    stop_gracefully(&mut child);
    let log = run_log(&cfg);
    assert!(done, "{log}");
    let copies: HashMap<String, usize> =
        ids(&intake.records())
            .into_iter()
            .fold(HashMap::new(), |mut m, id| {
                *m.entry(id).or_default() += 1;
                m
            });
    // A refused request keeps nothing, so halving it sends its good records once each
    // in the end: no copies.
    assert!(copies.values().all(|&n| n == 1), "{copies:?}");
    assert!(!copies.contains_key(&bad_id));
    let dead = std::fs::read_to_string(&dead_file).unwrap();
    assert_eq!(dead.lines().count(), 1, "{dead}");
    assert!(
        dead.contains(&bad_id) && dead.contains("HTTP 400"),
        "{dead}"
    );
    assert!(intake.refused() >= 2, "halving took more than one refusal");
    assert!(
        intake
            .content_types()
            .iter()
            .all(|c| c == "application/json")
    );
    assert!(log.contains("retrying") || log.contains("429"), "{log}");
    assert!(!log.contains(key), "the key leaked: {log}");
    assert!(!log.contains("sumo-secret-path"), "the URL leaked: {log}");
}

#[test]
fn a_refused_key_ends_the_run_and_validate_hides_the_url_from_a_file() {
    let rt = common::runtime();
    let intake = rt
        .block_on(IntakeSim::start(IntakeOptions {
            auth: Some(("DD-API-KEY".into(), "right".into())),
            ..IntakeOptions::default()
        }))
        .unwrap();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(5, Duration::from_secs(600), Utc::now());
    let dir = tempfile::tempdir().unwrap();
    let uri_file = dir.path().join("intake-url");
    std::fs::write(
        &uri_file,
        format!("{}?token=sumo-secret-path", intake.url()),
    )
    .unwrap();
    let cfg = write_config(
        dir.path(),
        &sim.url(),
        &format!(
            "uri_file = \"{}\"\nauth_header = \"DD-API-KEY\"\nauth = \"wrong-key-do-not-print\"",
            uri_file.display()
        ),
    );
    let run = |command: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_coder-audit-shipper"))
            .args([command, "--config", cfg.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let out = run("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("HTTP 403") && err.contains("auth_file"),
        "{err}"
    );
    assert!(
        !err.contains("wrong-key-do-not-print") && !err.contains("sumo-secret-path"),
        "{err}"
    );
    let out = run("validate");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("http POST the URL in"), "{text}");
    assert!(!text.contains("sumo-secret-path"), "{text}");
}

/// `config/http-{sentinel,datadog,sumo}.toml` as shipped, pointed at the intake simulator
/// (their URLs, secret files and the Coder address swapped, nothing else): each delivers
/// every event with the credential in the header its vendor documents, in its encoding.
#[test]
fn the_example_configs_for_sentinel_datadog_and_sumo_deliver_as_their_vendors_document() {
    let rt = common::runtime();
    let configs = [
        (
            "http-sentinel.toml",
            Some(("Authorization", "Bearer entra-token")),
            "entra-token",
            "application/json",
        ),
        (
            "http-datadog.toml",
            Some(("DD-API-KEY", "dd-key")),
            "dd-key",
            "application/json",
        ),
        ("http-sumo.toml", None, "", "application/x-ndjson"),
    ];
    for (file, auth, secret, content_type) in configs {
        let intake = rt
            .block_on(IntakeSim::start(IntakeOptions {
                auth: auth.map(|(h, v)| (h.to_owned(), v.to_owned())),
                ..IntakeOptions::default()
            }))
            .unwrap();
        let sim = rt.block_on(common::unlimited_sim());
        sim.backlog(
            120,
            Duration::from_secs(3_600),
            Utc::now() - TimeDelta::minutes(5),
        );
        let expected: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
        let dir = tempfile::tempdir().unwrap();
        let secret_file = dir.path().join("secret");
        std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
        let coder_token = dir.path().join("coder-token");
        std::fs::write(&coder_token, coder_sim::SimConfig::DEFAULT_TOKEN).unwrap();
        // Sumo's URL (the credential) comes from a file: one under a secret path.
        let url_file = dir.path().join("url");
        std::fs::write(
            &url_file,
            intake.url_of("/receiver/v1/http/ZaVnC4dhaV3secret"),
        )
        .unwrap();
        let shipped = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("config")
                .join(file),
        )
        .unwrap();
        let quoted = |p: &Path| format!("\"{}\"", p.display());
        let text: String = shipped
            .lines()
            .map(|line| {
                let key = line.split('=').next().unwrap_or("").trim();
                match key {
                    // The backlog too: a new config starts at now by default.
                    "url" => format!("url = \"{}\"\nstart_at = \"beginning\"", sim.url()),
                    "token_file" => format!("token_file = {}", quoted(&coder_token)),
                    "dir" => format!("dir = {}", quoted(&dir.path().join("state"))),
                    "uri" => {
                        // The shipped URL's path and query, at the simulator.
                        let u = line.split('"').nth(1).unwrap();
                        let path = &u[u.find("://").map(|i| i + 3).unwrap()..];
                        let path = &path[path.find('/').unwrap()..];
                        format!("uri = \"{}\"", intake.url_of(path))
                    }
                    "uri_file" => format!("uri_file = {}", quoted(&url_file)),
                    "auth_file" => format!("auth_file = {}", quoted(&secret_file)),
                    _ => line.to_owned(),
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let cfg = dir.path().join("shipper.toml");
        std::fs::write(&cfg, format!("{text}\n")).unwrap();
        let mut child = spawn_run(&cfg);
        let done = wait_until(Duration::from_secs(60), || {
            delivered::distinct(&ids(&intake.records())).0 == expected
        });
        stop_gracefully(&mut child);
        let log = run_log(&cfg);
        assert!(done, "{file}: {log}");
        let (_, copies) = delivered::distinct(&ids(&intake.records()));
        assert_eq!(copies, 0, "{file}");
        assert!(
            intake.content_types().iter().all(|c| c == content_type),
            "{file}: {:?}",
            intake.content_types()
        );
        assert!(
            intake
                .records()
                .iter()
                .all(|r| r["ecs"]["version"].is_string()),
            "{file}: ECS documents"
        );
        assert!(secret.is_empty() || !log.contains(secret), "{file}: {log}");
        assert!(!log.contains("ZaVnC4dhaV3secret"), "{file}: {log}");
    }
}

/// Over HTTPS with `tls_ca_file`, to a real server that checks the credential: Splunk
/// HEC's raw endpoint (`/services/collector/raw`, Tenzir's `accept_splunk` over TLS), which
/// takes any body with `Authorization: Splunk <token>` and a channel header, as the
/// generic sink sends them (`auth_scheme`, `headers`). Without the CA the server is not
/// trusted: `validate` says so and `run` stops with it.
#[test]
fn over_https_with_a_custom_ca_to_a_real_server_and_refused_without_it() {
    use base64::Engine;
    let hec = peers::hec_tls();
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(
        200,
        Duration::from_secs(3_600),
        Utc::now() - TimeDelta::minutes(5),
    );
    let expected: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    let source = common::unique("http-tls");
    let dir = tempfile::tempdir().unwrap();
    let sink = format!(
        "uri = \"{}/services/collector/raw?source={source}&sourcetype=_json\"\n\
         auth_scheme = \"Splunk\"\nauth = \"{}\"\ntls_ca_file = \"{}\"\n\
         max_request_events = 25\n\
         [sinks.siem.headers]\n\"X-Splunk-Request-Channel\" = \"{}\"",
        hec["HEC_URL"],
        hec["HEC_TOKEN"],
        hec["HEC_CA_FILE"],
        uuid::Uuid::new_v4()
    );
    // Each request is one record in Tenzir's file: its body, base64.
    let received = || -> Vec<String> {
        read_lines(&hec["HEC_EVENTS_FILE"])
            .iter()
            .filter(|v| v["source"] == source.as_str())
            .filter_map(|v| v["raw"].as_str())
            .filter_map(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .flat_map(|body| {
                String::from_utf8_lossy(&body)
                    .lines()
                    .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                    .collect::<Vec<_>>()
            })
            .filter_map(|v| v["id"].as_str().map(str::to_owned))
            .collect()
    };
    let cfg = write_config(dir.path(), &sim.url(), &sink);
    let mut child = spawn_run(&cfg);
    let done = wait_until(Duration::from_secs(60), || {
        delivered::distinct(&received()).0 == expected
    });
    stop_gracefully(&mut child);
    assert!(done, "{}", run_log(&cfg));
    assert_eq!(delivered::distinct(&received()).1, 0, "each event once");

    let dir = tempfile::tempdir().unwrap();
    let untrusted: String = sink
        .lines()
        .filter(|l| !l.starts_with("tls_ca_file"))
        .map(|l| format!("{l}\n"))
        .collect();
    let cfg = write_config(dir.path(), &sim.url(), &untrusted);
    let run = |command: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_coder-audit-shipper"))
            .args([command, "--config", cfg.to_str().unwrap()])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, text) = run("validate");
    assert!(
        !ok && text.contains("not trusted") && text.contains("tls_ca_file"),
        "{text}"
    );
    let (ok, text) = run("run");
    assert!(!ok && text.contains("not trusted"), "{text}");
    assert!(
        !text.contains(&hec["HEC_TOKEN"]),
        "the token leaked: {text}"
    );
}
