//! A record as a HEC event envelope, and a batch as request bodies.
//!
//! ```json
//! {"time":1764158400.123456,"host":"coder.example.com","source":"coder-audit-shipper",
//!  "sourcetype":"coder:audit","index":"coder","event":{...},"fields":{"coder_audit_id":"..."}}
//! ```
//!
//! `event` is the record's JSON as encoded for the sink (raw, ECS or OCSF), embedded as
//! it is; `time` is the event's own time in epoch seconds with microseconds (left out when
//! the entry had none, so HEC stamps the arrival time). `fields` are indexed fields:
//! `coder_audit_id` lets a search find the duplicates a resend may leave.

use std::io::Write;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Serialize;
use sink_core::Record;

use crate::config::{HecCompression, HecConfig};

/// The metadata every envelope of a sink carries, serialized once.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// `"host":...,"source":...,"sourcetype":...,"index":...` without braces.
    common: String,
}

#[derive(Serialize)]
struct Common<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<&'a str>,
    source: &'a str,
    sourcetype: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<&'a str>,
}

impl Envelope {
    pub fn new(config: &HecConfig) -> Self {
        let common = serde_json::to_string(&Common {
            host: config.host.as_deref(),
            source: &config.source,
            sourcetype: &config.sourcetype,
            index: config.index.as_deref(),
        })
        .unwrap_or_else(|_| "{}".into());
        Envelope {
            common: common
                .trim_start_matches('{')
                .trim_end_matches('}')
                .to_owned(),
        }
    }

    /// Append the envelope of `record` (and a newline) to `out`.
    pub fn write(&self, record: &Record, out: &mut Vec<u8>) {
        out.push(b'{');
        if let Some(micros) = record.time_micros.filter(|m| *m >= 0) {
            out.extend_from_slice(
                format!("\"time\":{}.{:06},", micros / 1_000_000, micros % 1_000_000).as_bytes(),
            );
        }
        out.extend_from_slice(self.common.as_bytes());
        out.extend_from_slice(b",\"event\":");
        out.extend_from_slice(&record.payload);
        out.extend_from_slice(b",\"fields\":{\"coder_audit_id\":");
        // An id is Coder's UUID; serde escapes anything else.
        out.extend_from_slice(
            serde_json::to_string(&*record.id)
                .unwrap_or_else(|_| "\"\"".into())
                .as_bytes(),
        );
        out.extend_from_slice(b"}}\n");
    }
}

/// One HTTP request: which records (by index in the batch) and its body.
#[derive(Debug, Clone)]
pub struct Request {
    pub records: Vec<usize>,
    pub body: Bytes,
}

/// Group `indices` of `records` into request bodies of about `max_bytes` each (a single
/// larger envelope gets a request of its own).
pub fn requests(
    envelope: &Envelope,
    records: &[Record],
    indices: &[usize],
    max_bytes: usize,
    compression: HecCompression,
) -> Vec<Request> {
    let mut out = Vec::new();
    let mut body = Vec::new();
    let mut members = Vec::new();
    for &i in indices {
        let Some(record) = records.get(i) else {
            continue;
        };
        let before = body.len();
        envelope.write(record, &mut body);
        if before > 0 && body.len() > max_bytes {
            let tail = body.split_off(before);
            out.push(finish(std::mem::take(&mut members), body, compression));
            body = tail;
        }
        members.push(i);
    }
    if !members.is_empty() {
        out.push(finish(members, body, compression));
    }
    out
}

fn finish(records: Vec<usize>, body: Vec<u8>, compression: HecCompression) -> Request {
    Request {
        records,
        body: compress(body, compression),
    }
}

/// A body as sent: gzip (fastest level: HEC bodies are short-lived) or as it is.
pub fn compress(body: Vec<u8>, compression: HecCompression) -> Bytes {
    match compression {
        HecCompression::None => Bytes::from(body),
        HecCompression::Gzip => Bytes::from(gzip(&body)),
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(bytes.len() / 4), Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config() -> HecConfig {
        HecConfig {
            endpoint: "http://127.0.0.1:8088".into(),
            token: crate::Token::new("t"),
            index: Some("coder".into()),
            sourcetype: "coder:audit".into(),
            source: "coder-audit-shipper".into(),
            host: Some("coder.example.com".into()),
            compression: HecCompression::None,
            ack: None,
            tls_ca_file: None,
            max_request_bytes: 1 << 20,
            request_timeout: Duration::from_secs(30),
        }
    }

    fn record(id: &str, micros: Option<i64>) -> Record {
        Record {
            id: id.into(),
            time_micros: micros,
            resource_type: None,
            action: None,
            payload: Bytes::from_static(br#"{"action":"login"}"#),
        }
    }

    #[test]
    fn an_envelope_carries_time_metadata_event_and_the_audit_id() {
        let mut out = Vec::new();
        Envelope::new(&config()).write(&record("a-1", Some(1_700_000_000_000_042)), &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "time": 1_700_000_000.000042,
                "host": "coder.example.com", "source": "coder-audit-shipper",
                "sourcetype": "coder:audit", "index": "coder",
                "event": {"action": "login"}, "fields": {"coder_audit_id": "a-1"}
            })
        );
        assert!(out.starts_with(b"{\"time\":1700000000.000042,"));
    }

    #[test]
    fn no_time_and_no_index_are_left_out() {
        let mut c = config();
        c.index = None;
        let mut out = Vec::new();
        Envelope::new(&c).write(&record("a", None), &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert!(v.get("time").is_none() && v.get("index").is_none(), "{v}");
    }

    #[test]
    fn a_batch_is_split_into_requests_of_about_max_bytes() {
        let records: Vec<_> = (0..10)
            .map(|i| record(&format!("id-{i}"), Some(i)))
            .collect();
        let all: Vec<usize> = (0..10).collect();
        let one = {
            let mut out = Vec::new();
            Envelope::new(&config()).write(&records[0], &mut out);
            out.len()
        };
        let reqs = requests(
            &Envelope::new(&config()),
            &records,
            &all,
            one * 3,
            HecCompression::None,
        );
        assert_eq!(reqs.len(), 4);
        let members: Vec<usize> = reqs.iter().flat_map(|r| r.records.clone()).collect();
        assert_eq!(members, all);
        assert!(reqs.iter().all(|r| r.body.len() <= one * 3 + 3));
        let single = requests(
            &Envelope::new(&config()),
            &records,
            &all,
            1,
            HecCompression::None,
        );
        assert_eq!(single.len(), 10, "an envelope over the limit goes alone");
    }
}
