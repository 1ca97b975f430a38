//! The syslog sink end to end: the Coder simulator → `coder-audit-shipper run` → rsyslog
//! (started by `tests/peers/start-syslog.sh`), which writes each message it receives, raw,
//! one per line, to a file per listener (TCP, UDP, TLS).
#![cfg(feature = "syslog")]

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use common::{peers, run_log, spawn_run, stop_gracefully, wait_until};
use serde_json::Value;

/// The restart test stops rsyslog: it runs alone, the others share it.
static SYSLOG: RwLock<()> = RwLock::new(());

fn write_config(dir: &Path, coder_url: &str, sinks: &str) -> PathBuf {
    common::shipper_config(dir, coder_url, 200, sinks)
}

/// One received RFC 5424 message, split into its parts.
#[derive(Debug, Clone)]
struct Message {
    pri: u32,
    timestamp: String,
    hostname: String,
    msgid: String,
    id: String,
    resource_type: Option<String>,
    /// MSG opened with the UTF-8 byte order mark (RFC 5424 §6.4).
    bom: bool,
    /// MSG without the byte order mark.
    body: String,
}

/// `<PRI>1 TIMESTAMP HOST APP PROCID MSGID [coder@32473 id="..." ...] BODY`, for lines of
/// `app`.
fn parse(line: &str, app: &str) -> Option<Message> {
    let rest = line.strip_prefix('<')?;
    let (pri, rest) = rest.split_once(">1 ")?;
    let mut parts = rest.splitn(6, ' ');
    let timestamp = parts.next()?.to_owned();
    let hostname = parts.next()?.to_owned();
    if parts.next()? != app {
        return None;
    }
    let _procid = parts.next()?;
    let msgid = parts.next()?.to_owned();
    let rest = parts.next()?;
    let sd = rest.strip_prefix("[coder@32473 ")?;
    let end = sd.find("] ")?;
    let (params, body) = (&sd[..end], &sd[end + 2..]);
    let value = |name: &str| {
        let start = params.find(&format!("{name}=\""))? + name.len() + 2;
        let len = params[start..].find('"')?;
        Some(params[start..start + len].to_owned())
    };
    Some(Message {
        pri: pri.parse().ok()?,
        timestamp,
        hostname,
        msgid,
        id: value("id")?,
        resource_type: value("resource_type"),
        bom: body.starts_with('\u{feff}'),
        body: body.trim_start_matches('\u{feff}').to_owned(),
    })
}

fn received(env: &HashMap<String, String>, listener: &str, app: &str) -> Vec<Message> {
    let file = Path::new(&env["SYSLOG_OUT_DIR"]).join(format!("{listener}.log"));
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| parse(l, app))
        .collect()
}

fn ids(messages: &[Message]) -> HashSet<String> {
    messages.iter().map(|m| m.id.clone()).collect()
}

fn sink(name: &str, app: &str, address: &str, extra: &str) -> String {
    format!(
        "[sinks.{name}]\ntype = \"syslog\"\naddress = \"{address}\"\napp_name = \"{app}\"\n{extra}\n"
    )
}

#[test]
fn every_event_arrives_over_tcp_tls_and_udp_in_each_framing() {
    let _shared = SYSLOG.read().unwrap_or_else(|e| e.into_inner());
    let env = peers::syslog();
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(
        150,
        Duration::from_secs(86_400),
        Utc::now() - TimeDelta::minutes(5),
    );
    let rows: HashMap<String, chrono::DateTime<Utc>> = sim.inserted().into_iter().collect();
    let all: HashSet<String> = rows.keys().cloned().collect();
    let apps: Vec<String> = (0..4).map(|_| common::unique("cas")).collect();
    let sinks = [
        sink(
            "tcp_octets",
            &apps[0],
            &env["SYSLOG_TCP"],
            "transport = \"tcp\"\nformat = \"ocsf\"",
        ),
        sink(
            "tcp_lf",
            &apps[1],
            &env["SYSLOG_TCP"],
            "framing = \"lf\"\nformat = \"ecs\"\nfacility = \"local3\"\nseverity = \"info\"\nbom = false",
        ),
        sink(
            "tls",
            &apps[2],
            &env["SYSLOG_TLS"],
            &format!(
                "transport = \"tls\"\ntls_ca_file = \"{}\"",
                env["SYSLOG_CA_FILE"]
            ),
        ),
        sink("udp", &apps[3], &env["SYSLOG_UDP"], "transport = \"udp\""),
    ]
    .concat();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sim.url(), &sinks);
    let mut child = spawn_run(&cfg);
    let listeners = ["tcp", "tcp", "tls", "udp"];
    let done = wait_until(Duration::from_secs(90), || {
        listeners
            .iter()
            .zip(&apps)
            .all(|(l, app)| ids(&received(&env, l, app)).len() >= all.len())
    });
    stop_gracefully(&mut child);
    let log = run_log(&cfg);
    for (listener, app) in listeners.iter().zip(&apps) {
        let got = received(&env, listener, app);
        assert_eq!(ids(&got), all, "{listener} {app}: done={done}\n{log}");
        for m in &got {
            // The event's own time, to the microsecond, and Coder's action as MSGID.
            let t = chrono::DateTime::parse_from_rfc3339(&m.timestamp).unwrap();
            assert_eq!(t.with_timezone(&Utc), rows[&m.id], "{m:?}");
            assert_eq!(m.hostname, "127.0.0.1");
            assert!(m.resource_type.is_some());
            // RFC 5424 §6.4's byte order mark opens a UTF-8 MSG, unless turned off.
            assert_eq!(m.bom, app != &apps[1], "{listener} {app}: {m:?}");
            let body: Value = serde_json::from_str(&m.body)
                .unwrap_or_else(|e| panic!("{listener}: body is not JSON ({e}): {}", m.body));
            match app {
                a if a == &apps[0] => {
                    assert_eq!(m.pri, 10 * 8 + 5, "authpriv.notice by default");
                    assert!(body["metadata"]["uid"].as_str().unwrap().starts_with(&m.id));
                }
                a if a == &apps[1] => {
                    assert_eq!(m.pri, 19 * 8 + 6, "local3.info");
                    assert_eq!(body["event"]["id"], m.id.as_str());
                    assert_eq!(
                        body["event"]["action"].as_str().unwrap().rsplit('.').next(),
                        Some(m.msgid.as_str())
                    );
                }
                _ => {
                    assert_eq!(body["id"], m.id.as_str());
                    assert_eq!(body["action"], m.msgid.as_str());
                }
            }
        }
    }
}

#[test]
fn a_200_kb_event_is_cut_and_counted_over_udp_and_whole_over_tcp_and_tls() {
    let _shared = SYSLOG.read().unwrap_or_else(|e| e.into_inner());
    let env = peers::syslog();
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    let t = Utc::now() - TimeDelta::minutes(30);
    sim.backlog(20, Duration::from_secs(600), t);
    let big_id = uuid::Uuid::new_v4().to_string();
    assert!(sim.insert_entry(&serde_json::json!({
        "id": big_id, "request_id": uuid::Uuid::new_v4().to_string(),
        "time": (t - TimeDelta::minutes(5)).to_rfc3339(),
        "ip": "10.0.0.1", "user_agent": "x", "resource_type": "template",
        "resource_id": uuid::Uuid::new_v4().to_string(), "resource_target": "big",
        "resource_icon": "", "action": "write", "status_code": 200, "additional_fields": {},
        "description": "{user} updated template {target}", "resource_link": "",
        "diff": {"source": {"old": "", "new": "x".repeat(200_000), "secret": false}},
        "is_deleted": false, "organization_id": uuid::Uuid::new_v4().to_string(), "user": null
    })));
    let all: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    let apps: Vec<String> = (0..3).map(|_| common::unique("big")).collect();
    let sinks = [
        sink("udp", &apps[0], &env["SYSLOG_UDP"], "transport = \"udp\""),
        sink("tcp", &apps[1], &env["SYSLOG_TCP"], ""),
        sink(
            "tls",
            &apps[2],
            &env["SYSLOG_TLS"],
            &format!(
                "transport = \"tls\"\ntls_ca_file = \"{}\"",
                env["SYSLOG_CA_FILE"]
            ),
        ),
    ]
    .concat();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sim.url(), &sinks);
    let mut child = spawn_run(&cfg);
    let listeners = ["udp", "tcp", "tls"];
    let done = wait_until(Duration::from_secs(60), || {
        listeners
            .iter()
            .zip(&apps)
            .all(|(l, app)| ids(&received(&env, l, app)).len() >= all.len())
    });
    stop_gracefully(&mut child);
    let log = run_log(&cfg);
    assert!(done, "{log}");
    for (listener, app) in listeners.iter().zip(&apps) {
        let got = received(&env, listener, app);
        let big = got.iter().find(|m| m.id == big_id).unwrap();
        if *listener == "udp" {
            assert!(
                big.body.len() < 65_507 && big.body.len() > 60_000,
                "{}",
                big.body.len()
            );
            assert!(
                serde_json::from_str::<Value>(&big.body).is_err(),
                "cut, so no longer JSON"
            );
        } else {
            let body: Value = serde_json::from_str(&big.body).expect("whole over a stream");
            assert_eq!(
                body["diff"]["source"]["new"].as_str().unwrap().len(),
                200_000
            );
        }
    }
    assert!(
        log.contains("message cut to fit max_message_bytes"),
        "{log}"
    );
    let summary = |sink: &str| {
        log.lines()
            .find(|l| l.contains("stream stopped") && l.contains(&format!("sink={sink}")))
            .unwrap_or_else(|| panic!("no summary for {sink}:\n{log}"))
            .to_owned()
    };
    assert!(summary("udp").contains("truncated=1"), "{log}");
    assert!(summary("tcp").contains("truncated=0"), "{log}");
}

#[test]
fn a_receiver_restarted_mid_run_loses_nothing() {
    let _alone = SYSLOG.write().unwrap_or_else(|e| e.into_inner());
    let env = peers::syslog();
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    sim.backlog(
        200,
        Duration::from_secs(3_600),
        Utc::now() - TimeDelta::minutes(5),
    );
    let before: HashSet<String> = sim.inserted().into_iter().map(|(id, _)| id).collect();
    let app = common::unique("restart");
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &sim.url(),
        &sink("siem", &app, &env["SYSLOG_TCP"], "connect_timeout = \"2s\""),
    );
    let mut child = spawn_run(&cfg);
    assert!(
        wait_until(Duration::from_secs(60), || ids(&received(
            &env, "tcp", &app
        ))
        .len()
            >= before.len()),
        "{}",
        run_log(&cfg)
    );

    // rsyslog stops (its connection to the shipper closes) while Coder keeps recording.
    let during = common::recorded_during_outage(
        &rt,
        &sim,
        Duration::from_secs(8),
        || peers::stop("syslog"),
        || {
            peers::syslog();
        },
    );
    assert!(during.len() >= 100, "only {} live rows", during.len());
    let all = wait_until(Duration::from_secs(60), || {
        ids(&received(&env, "tcp", &app)).is_superset(&during)
    });
    stop_gracefully(&mut child);
    let got = ids(&received(&env, "tcp", &app));
    let missing: Vec<_> = during.difference(&got).collect();
    let log = run_log(&cfg);
    assert!(
        all && missing.is_empty(),
        "{} of {} lost: {missing:?}\n{log}",
        missing.len(),
        during.len()
    );
    assert!(
        log.contains("retrying"),
        "the outage was noticed and retried:\n{log}"
    );
}

/// Undo CEF extension escaping (`\\`, `\=`, `\n`, `\r`).
fn cef_unescape(v: &str) -> String {
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A CEF line as (header fields, extension map), splitting only at unescaped separators.
fn parse_cef(line: &str) -> (Vec<String>, HashMap<String, String>) {
    let mut header = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars();
    while header.len() < 7 {
        match chars.next() {
            Some('\\') => {
                field.push('\\');
                field.extend(chars.next());
            }
            Some('|') => header.push(std::mem::take(&mut field)),
            Some(c) => field.push(c),
            None => break,
        }
    }
    let ext: String = chars.collect();
    // Keys are `[A-Za-z0-9]+` right before an unescaped `=`.
    let mut map = HashMap::new();
    let bytes: Vec<char> = ext.chars().collect();
    let mut splits = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == '\\' {
            i += 2;
            continue;
        }
        if bytes[i] == '=' {
            let mut k = i;
            while k > 0 && bytes[k - 1].is_ascii_alphanumeric() {
                k -= 1;
            }
            splits.push((k, i));
        }
        i += 1;
    }
    for (n, (k, eq)) in splits.iter().enumerate() {
        let end = splits.get(n + 1).map_or(bytes.len(), |(next, _)| next - 1);
        let key: String = bytes[*k..*eq].iter().collect();
        let value: String = bytes[eq + 1..end.max(eq + 1)].iter().collect();
        map.insert(key, cef_unescape(&value));
    }
    (header, map)
}

#[test]
fn cef_and_leef_bodies_escape_hostile_values() {
    let _shared = SYSLOG.read().unwrap_or_else(|e| e.into_inner());
    let env = peers::syslog();
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    let hostile_user = "eve=admin act=delete \\ | x\nforged=1\tusrName=root";
    // NUL, a terminal escape and U+2028 have no CEF/LEEF escape: they arrive as U+FFFD.
    let hostile_target = "ws|1\\2=3\r\nCEF:0|fake\u{0}\u{1b}[2J\u{2028}end";
    let shown_target = hostile_target.replace(['\u{0}', '\u{1b}', '\u{2028}'], "\u{fffd}");
    let id = uuid::Uuid::new_v4().to_string();
    let user_id = uuid::Uuid::new_v4().to_string();
    assert!(sim.insert_entry(&serde_json::json!({
        "id": id, "request_id": uuid::Uuid::new_v4().to_string(),
        "time": (Utc::now() - TimeDelta::minutes(10)).to_rfc3339(),
        "ip": "2001:db8::7", "user_agent": "curl/8", "resource_type": "workspace",
        "resource_id": uuid::Uuid::new_v4().to_string(), "resource_target": hostile_target,
        "resource_icon": "", "action": "delete", "status_code": 403, "additional_fields": {},
        "description": "{user} deleted workspace {target}", "resource_link": "/@eve/ws",
        "diff": {}, "is_deleted": false, "organization_id": uuid::Uuid::new_v4().to_string(),
        "user": {"id": user_id, "username": hostile_user, "email": "e@example.com", "roles": []}
    })));
    let apps = [common::unique("cef"), common::unique("leef")];
    let sinks = [
        sink("cef", &apps[0], &env["SYSLOG_TCP"], "body = \"cef\""),
        sink(
            "leef",
            &apps[1],
            &env["SYSLOG_TCP"],
            "body = \"leef\"\nframing = \"lf\"",
        ),
    ]
    .concat();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &sim.url(), &sinks);
    let mut child = spawn_run(&cfg);
    let done = wait_until(Duration::from_secs(60), || {
        apps.iter()
            .all(|app| !received(&env, "tcp", app).is_empty())
    });
    stop_gracefully(&mut child);
    assert!(done, "{}", run_log(&cfg));

    let cef = received(&env, "tcp", &apps[0]).remove(0);
    // rsyslog shows a raw control character as #ooo: no line break may be raw. (A tab is
    // a legal character in a CEF value; rsyslog shows it as #011.)
    assert!(
        !cef.body.contains("#012") && !cef.body.contains("#015"),
        "{}",
        cef.body
    );
    let (header, ext) = parse_cef(&cef.body.replace("#011", "\t"));
    assert_eq!(header.len(), 7, "{}", cef.body);
    assert_eq!(header[0], "CEF:0");
    assert_eq!(header[4], "workspace.delete");
    assert_eq!(header[6], "3", "a refused request is Low");
    assert_eq!(ext["suser"], hostile_user, "{}", cef.body);
    assert_eq!(ext["cs2"], shown_target);
    assert!(
        !cef.body.contains("#000") && !cef.body.contains("#033"),
        "no raw NUL or ESC: {}",
        cef.body
    );
    assert_eq!(ext["cs2Label"], "Resource Target");
    assert_eq!(ext["externalId"], id);
    assert_eq!(ext["outcome"], "failure");
    assert_eq!(ext["c6a2"], "2001:db8::7");
    assert_eq!(ext["cn1"], "403");
    assert!(
        !ext.contains_key("forged") && ext["act"] == "delete",
        "{ext:?}"
    );
    assert_eq!(
        ext.get("msg").map(String::as_str),
        Some(format!("{hostile_user} deleted workspace {shown_target}").as_str())
    );

    let leef = received(&env, "tcp", &apps[1]).remove(0);
    // No raw control character at all: tabs in values are escaped, the delimiter is the
    // only tab (which rsyslog shows as #011).
    assert!(
        !leef.body.contains("#012") && !leef.body.contains("#015"),
        "{}",
        leef.body
    );
    let leef = Message {
        body: leef.body.replace("#011", "\t"),
        ..leef
    };
    let fields: Vec<&str> = leef.body.splitn(7, '|').collect();
    assert_eq!(
        &fields[..6],
        [
            "LEEF:2.0",
            "Coder",
            "Coder",
            "v2.36.0+sim",
            "workspace.delete",
            "x09"
        ]
    );
    let attrs: HashMap<&str, String> = fields[6]
        .split('\t')
        .filter_map(|a| a.split_once('='))
        .map(|(k, v)| {
            (
                k,
                v.replace("\\t", "\t")
                    .replace("\\n", "\n")
                    .replace("\\r", "\r")
                    .replace("\\\\", "\\"),
            )
        })
        .collect();
    assert_eq!(attrs["usrName"], hostile_user, "{}", leef.body);
    assert_eq!(attrs["resource"], shown_target);
    assert_eq!(attrs["auditId"], id);
    assert_eq!(attrs["src"], "2001:db8::7");
    assert!(!attrs.contains_key("forged"), "{attrs:?}");
}

#[test]
fn validate_reaches_the_tls_receiver_and_names_an_untrusted_certificate() {
    let _shared = SYSLOG.read().unwrap_or_else(|e| e.into_inner());
    let env = peers::syslog();
    let rt = common::runtime();
    let sim = rt.block_on(common::unlimited_sim());
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &str| {
        let cfg = write_config(
            dir.path(),
            &sim.url(),
            &sink(
                "siem",
                "cas",
                &env["SYSLOG_TLS"],
                &format!("transport = \"tls\"\n{extra}"),
            ),
        );
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_coder-audit-shipper"))
            .args(["validate", "--config", cfg.to_str().unwrap()])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let trusted = run(&format!("tls_ca_file = \"{}\"", env["SYSLOG_CA_FILE"]));
    assert!(trusted.contains("sink siem: reachable"), "{trusted}");
    let untrusted = run("");
    assert!(
        untrusted.contains("sink siem: NOT reachable"),
        "{untrusted}"
    );
    assert!(
        untrusted.contains("certificate") && untrusted.contains("tls_ca_file"),
        "{untrusted}"
    );
}
