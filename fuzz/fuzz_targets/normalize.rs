//! Every normalizer on an arbitrary entry: ECS and OCSF give JSON objects (within
//! `max_event_bytes` unless flagged over the limit), CEF and LEEF give one line that no
//! value can break or extend.
#![no_main]

use coder_audit_shipper::coder::AuditEntry;
use coder_audit_shipper::normalize::{ClassStrategy, Enrichment, Normalizer, OcsfVersion, Target};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let entry = AuditEntry::parse(text);
    let read_at = chrono::Utc::now();
    let enrich = Enrichment {
        deployment: Some("fuzz".into()),
        access_url: Some("https://coder.example.com".into()),
        coder_version: Some("v2.36.0".into()),
        ..Enrichment::default()
    };
    let json_targets = [
        Target::Ecs,
        Target::Ocsf {
            version: OcsfVersion::V1_8_0,
            classes: ClassStrategy::Semantic,
        },
        Target::Ocsf {
            version: OcsfVersion::V1_1_0,
            classes: ClassStrategy::Single,
        },
    ];
    for target in json_targets {
        for limit in [None, Some(2048)] {
            let n = Normalizer::new(target, enrich.clone(), limit);
            for encoded in n.encode(&entry, read_at) {
                let v: serde_json::Value =
                    serde_json::from_slice(&encoded.payload).expect("normalized JSON parses");
                assert!(v.is_object());
                if let Some(max) = limit {
                    assert!(encoded.payload.len() <= max || encoded.over_limit);
                }
            }
        }
    }
    for target in [Target::Cef, Target::Leef] {
        let n = Normalizer::new(target, enrich.clone(), None);
        for encoded in n.encode(&entry, read_at) {
            let line = std::str::from_utf8(&encoded.payload).expect("UTF-8");
            assert!(
                !line.contains('\n') && !line.contains('\r'),
                "a line break: {line:?}"
            );
            // The header: exactly the fixed number of unescaped `|` before the extension.
            let want = if target == Target::Cef { 7 } else { 6 };
            let mut pipes = 0;
            let mut escaped = false;
            let mut rest_at = None;
            for (i, c) in line.char_indices() {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '|') => pipes += 1,
                    _ => {}
                }
                if pipes == want {
                    rest_at = Some(i + 1);
                    break;
                }
            }
            let rest_at = rest_at.unwrap_or_else(|| panic!("{pipes} header fields: {line:?}"));
            if target == Target::Leef {
                // Attributes split at tabs: each is `key=value` with a known-safe key.
                for attr in line[rest_at..].split('\t') {
                    let (key, _) = attr.split_once('=').expect("key=value");
                    assert!(key.chars().all(|c| c.is_ascii_alphanumeric()), "{attr:?}");
                }
            }
        }
    }
});
