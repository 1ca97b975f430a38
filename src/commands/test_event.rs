//! `validate --send-test-event`: one clearly marked event through a sink, end to end.
//!
//! `validate` alone asks each peer whether it is there (a Kafka metadata request, an S3
//! HeadBucket, HEC's health endpoint), which says nothing of whether it takes our events:
//! a token may reach HEC and not write to its index, a bucket policy may allow HEAD and
//! not PUT. The test event goes the way every event goes (the sink's own encoding, its
//! batch, its retry rule, its acknowledgement), so "accepted" means the peer took one.
//!
//! The event is an audit entry no Coder writes: `resource_type`
//! `coder_audit_shipper_test`, the description and target say what it is, and
//! `additional_fields.coder_audit_shipper_test` is true, so a SIEM can drop or find it. It
//! moves no checkpoint and is never dead-lettered.

use std::time::Duration;

use bytes::Bytes;
use chrono::{SecondsFormat, Utc};
use sink_core::{Attempt, RetryPolicy, attempt_with_retry};

use crate::coder::{Event, Stream, parse_page};
use crate::config::Config;
use crate::pipeline::Encoder;

/// The resource type of the test event: no Coder resource has it.
pub const RESOURCE_TYPE: &str = "coder_audit_shipper_test";

/// A test event stamped `now`, with a fresh id: what a sink is sent.
pub fn event() -> anyhow::Result<Event> {
    let id = uuid::Uuid::new_v4().to_string();
    let nil = "00000000-0000-0000-0000-000000000000";
    let entry = serde_json::json!({
        "id": id,
        "request_id": nil,
        "time": Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true),
        "ip": "",
        "user_agent": format!(
            "coder-audit-shipper/{} (validate --send-test-event)",
            env!("CARGO_PKG_VERSION")
        ),
        "resource_type": RESOURCE_TYPE,
        "resource_id": nil,
        "resource_target": "coder-audit-shipper test event",
        "resource_icon": "",
        "action": "write",
        "diff": {},
        "status_code": 200,
        "additional_fields": {"coder_audit_shipper_test": true},
        "description": "coder-audit-shipper validate --send-test-event: a test event, not \
                        from Coder; safe to ignore",
        "resource_link": "",
        "is_deleted": false,
        "organization_id": nil,
        "user": null
    });
    let body = serde_json::json!({"audit_logs": [entry], "count": 1}).to_string();
    let page = parse_page(Bytes::from(body)).map_err(|e| anyhow::anyhow!("{e}"))?;
    page.events
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("the test event did not parse"))
}

/// Send `event` to sink `name` as `encoder` makes it, retrying as the sink's rule says
/// for a short while; `Ok` once the peer accepted it.
pub async fn send(
    config: &Config,
    name: &str,
    encoder: &Encoder,
    event: &Event,
) -> Result<(), String> {
    let sink = config
        .sinks
        .get(name)
        .ok_or_else(|| format!("no sink {name:?}"))?;
    // The test event is an audit entry: a sink of the connection log alone is built for
    // that log, so it is told about the audit log too.
    let mut streams = config.streams_of(name).to_vec();
    if !streams.contains(&Stream::Audit) {
        streams.push(Stream::Audit);
    }
    let mut built = sink
        .build(name, &config.origin_host(), &streams, Some(Stream::Audit))
        .await
        .map_err(|e| e.to_string())?;
    let (batch, _) = encoder.encode(std::slice::from_ref(event));
    let policy = RetryPolicy {
        min_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(2),
        max_attempts: Some(4),
        ..RetryPolicy::default()
    };
    let attempts = if built.sink.stages() {
        vec![Attempt::Stage(&batch), Attempt::DeliverStaged]
    } else {
        vec![Attempt::Deliver(&batch)]
    };
    let mut result = Ok(());
    for attempt in attempts {
        let sent = attempt_with_retry(built.sink.as_mut(), attempt, &policy, |reason, delay| {
            tracing::warn!(sink = name, retry_in = ?delay, "test event not taken yet: {reason}");
        })
        .await;
        match sent {
            Ok(sent) if sent.dead.is_empty() => {}
            Ok(sent) => {
                let reasons: Vec<&str> = sent.dead.iter().map(|d| d.reason.as_str()).collect();
                result = Err(format!("refused: {}", reasons.join("; ")));
                break;
            }
            Err(e) => {
                result = Err(e.to_string());
                break;
            }
        }
    }
    let _ = built.sink.close().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_event_says_what_it_is() {
        let e = event().unwrap();
        let audit = e.audit().expect("an audit entry");
        assert_eq!(audit.resource_type.as_deref(), Some(RESOURCE_TYPE));
        assert!(e.time.is_some(), "stamped now");
        let raw = String::from_utf8_lossy(&e.raw).into_owned();
        assert!(raw.contains("\"coder_audit_shipper_test\":true"), "{raw}");
        assert_ne!(event().unwrap().key, e.key, "a fresh id each time");
    }
}
