//! The audit page parser on arbitrary bytes: it may refuse a body, never panic, and every
//! event it returns carries a raw slice that is one whole JSON value and a non-empty key.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(page) = coder_audit_shipper::coder::parse_page(bytes::Bytes::copy_from_slice(data))
    else {
        return;
    };
    for event in &page.events {
        assert!(
            serde_json::from_slice::<serde_json::Value>(&event.raw).is_ok(),
            "an event's raw bytes are not one JSON value"
        );
        assert!(!event.key.to_string().is_empty());
    }
});
