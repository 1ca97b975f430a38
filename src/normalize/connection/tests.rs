//! Connection moments in every format.

use chrono::Utc;
use serde_json::{Value, json};

use super::*;
use crate::normalize::{Enrichment, OcsfVersion};

fn event(json: &str, phase: Phase) -> ConnectionEvent {
    ConnectionEvent {
        log: ConnectionLog::parse(json),
        phase,
    }
}

const SESSION: &str = r#"{"id":"893e75e0-1518-4ac8-9629-35923a39533a","connect_time":"2026-05-19T16:45:57.122Z","organization":{"id":"2e1105ea-9827-41ef-8e19-fb7f93dac993","name":"coder"},"workspace_owner_id":"70d43e6e-5e1b-4875-b07a-91a1f6a399c0","workspace_owner_username":"alice","workspace_id":"05567e23-31e2-4c00-bd05-4d499d437347","workspace_name":"dev","agent_name":"main","ip":"fd7a:115c:a1e0:4b86:9046:80e:6c70:33b7","type":"ssh","ssh_info":{"connection_id":"026c8c11-fc5c-4df8-a286-5fe6d7f54f98","disconnect_reason":"server shut down","disconnect_time":"2026-05-19T16:49:57.122Z","exit_code":0}}"#;

#[test]
fn a_closed_session_gives_a_start_and_an_end_sharing_the_connection_id() {
    let e = event(SESSION, Phase::ConnectAndDisconnect);
    let moments = Moment::of(e.phase);
    assert_eq!(moments, [Moment::Connect, Moment::Disconnect]);
    let read_at = Utc::now();
    let docs: Vec<Value> = moments
        .iter()
        .map(|m| {
            ecs_document(
                &ConnectionFacts::of(&e, *m),
                &Enrichment::default(),
                read_at,
            )
        })
        .collect();
    assert_eq!(docs[0]["event"]["type"], json!(["start"]));
    assert_eq!(docs[1]["event"]["type"], json!(["end"]));
    assert_eq!(
        docs[0]["event"]["id"],
        "893e75e0-1518-4ac8-9629-35923a39533a"
    );
    assert_eq!(
        docs[1]["event"]["id"],
        "893e75e0-1518-4ac8-9629-35923a39533a:disconnect"
    );
    for d in &docs {
        assert_eq!(
            d["coder"]["connection"]["connection_id"],
            "026c8c11-fc5c-4df8-a286-5fe6d7f54f98"
        );
        assert_eq!(d["host"]["name"], "dev");
        assert!(
            d.get("user").is_none(),
            "an agent-reported session names no user"
        );
    }
    assert_eq!(docs[1]["@timestamp"], "2026-05-19T16:49:57.122000Z");
    assert_eq!(docs[1]["event"]["duration"], json!(240_000_000_000_i64));
    assert_eq!(
        docs[1]["coder"]["connection"]["disconnect_reason"],
        "server shut down"
    );
    let ocsf = ocsf_event(
        &ConnectionFacts::of(&e, Moment::Disconnect),
        OcsfVersion::V1_1_0,
        &Enrichment::default(),
        read_at,
    );
    assert_eq!(ocsf["type_uid"], 400702);
    assert_eq!(
        ocsf["metadata"]["correlation_uid"],
        "026c8c11-fc5c-4df8-a286-5fe6d7f54f98"
    );
    assert_eq!(
        ocsf["unmapped"]["coder"]["workspace"]["owner"]["name"],
        "alice"
    );
    assert!(
        ocsf["dst_endpoint"].get("owner").is_none(),
        "1.1.0 has no owner"
    );
}

#[test]
fn a_refused_tunnel_is_denied_and_names_its_user() {
    let e = event(
        r#"{"id":"09747acf-207f-4f53-a875-fde339924f60","connect_time":"2026-05-19T16:45:57.122Z","workspace_name":"dev","type":"tunnel","web_info":{"user_agent":"coder-cli/2.0.0","user":{"id":"test-user-2","username":"TestUser2","email":"test2@coder.com"},"slug_or_port":"","status_code":403}}"#,
        Phase::Connect,
    );
    let f = ConnectionFacts::of(&e, Moment::Connect);
    let ecs = ecs_document(&f, &Enrichment::default(), Utc::now());
    assert_eq!(ecs["event"]["type"], json!(["denied"]));
    assert_eq!(ecs["event"]["outcome"], "failure");
    assert_eq!(ecs["user"]["name"], "TestUser2");
    assert!(ecs.get("source").is_none(), "no ip, no source");
    let ocsf = ocsf_event(&f, OcsfVersion::V1_8_0, &Enrichment::default(), Utc::now());
    assert_eq!(ocsf["class_uid"], 4001);
    // An authorization denial: the connection opened and Coder said no.
    assert_eq!(ocsf["activity_id"], 1);
    assert_eq!(ocsf["status_id"], 2);
    assert_eq!(ocsf["action_id"], 2);
    assert_eq!(ocsf["disposition_id"], 26);
    assert_eq!(ocsf["src_endpoint"]["name"], "unknown");
    assert_eq!(ocsf["actor"]["user"]["name"], "TestUser2");
}

#[test]
fn cef_and_leef_lines_escape_hostile_values() {
    let e = event(
        r#"{"id":"x","connect_time":"2026-05-19T16:45:57Z","workspace_name":"a=b|c\nd","type":"ssh","ssh_info":{"connection_id":"c"}}"#,
        Phase::Connect,
    );
    let f = ConnectionFacts::of(&e, Moment::Connect);
    let cef = cef_line(&f, &Enrichment::default());
    assert!(
        cef.starts_with("CEF:0|Coder|Coder|unknown|ssh.connect|"),
        "{cef}"
    );
    // No host name: not `dhost`, but a labelled string.
    assert!(cef.contains(r"flexString1=a\=b|c\nd"), "{cef}");
    assert!(!cef.contains("dhost="), "{cef}");
    assert!(!cef.contains('\n'));
    let leef = leef_line(&f, &Enrichment::default());
    assert!(leef.contains("dstHost=a=b|c\\nd"), "{leef}");
    assert!(!leef.contains('\n'));
}
