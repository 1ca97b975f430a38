//! A HEC envelope around an arbitrary id and time and a JSON payload is one JSON object
//! that gives both back.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sink_core::Record;
use sink_splunk::envelope::Envelope;
use sink_splunk::{HecCompression, HecConfig, Token};

#[derive(Arbitrary, Debug)]
struct Input {
    id: String,
    time_micros: Option<i64>,
    host: Option<String>,
    source: String,
    sourcetype: String,
    index: Option<String>,
    event: String,
}

fuzz_target!(|input: Input| {
    let config = HecConfig {
        endpoint: "http://127.0.0.1:8088".into(),
        token: Token::new("t"),
        index: input.index,
        sourcetype: input.sourcetype,
        source: input.source,
        host: input.host,
        compression: HecCompression::None,
        ack: None,
        tls_ca_file: None,
        max_request_bytes: 1 << 20,
        request_timeout: std::time::Duration::from_secs(1),
    };
    // The payload is always one JSON document (what the encoders produce).
    let payload = serde_json::to_vec(&serde_json::json!({ "message": input.event })).unwrap();
    let record = Record {
        id: input.id.clone(),
        time_micros: input.time_micros,
        resource_type: None,
        action: None,
        payload: payload.into(),
    };
    let mut out = Vec::new();
    Envelope::new(&config).write(&record, &mut out);
    let v: serde_json::Value = serde_json::from_slice(&out).expect("one JSON object");
    assert_eq!(v["fields"]["coder_audit_id"], input.id.as_str());
    assert_eq!(v["event"]["message"], input.event.as_str());
    if let Some(m) = input.time_micros.filter(|m| *m >= 0) {
        let t = v["time"].as_f64().expect("time");
        assert!((t - m as f64 / 1e6).abs() < 1.0);
    }
});
