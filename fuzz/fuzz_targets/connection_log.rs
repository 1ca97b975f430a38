//! The connection-log page parser and every normalizer of its events on arbitrary bytes:
//! a body may be refused, nothing panics, every moment of a row gives a JSON object (ECS,
//! OCSF) or one unbroken line (CEF, LEEF), and a disconnect never shares the connect's id.
#![no_main]

use coder_audit_shipper::coder::{Entry, Phase, Stream, parse_stream_page};
use coder_audit_shipper::normalize::{ClassStrategy, Enrichment, Normalizer, OcsfVersion, Target};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(page) = parse_stream_page(Stream::Connection, bytes::Bytes::copy_from_slice(data))
    else {
        return;
    };
    let read_at = chrono::Utc::now();
    let targets = [
        Target::Ecs,
        Target::Ocsf {
            version: OcsfVersion::V1_8_0,
            classes: ClassStrategy::Semantic,
        },
        Target::Ocsf {
            version: OcsfVersion::V1_1_0,
            classes: ClassStrategy::Semantic,
        },
        Target::Cef,
        Target::Leef,
    ];
    for event in page.events {
        let Entry::Connection(mut c) = event.entry else {
            panic!("a connection page gave an audit entry");
        };
        for phase in [
            Phase::Connect,
            Phase::Disconnect,
            Phase::ConnectAndDisconnect,
        ] {
            c.phase = phase;
            for target in targets {
                let n = Normalizer::new(target, Enrichment::default(), None);
                let encoded = n.encode_connection(&c, read_at);
                assert_eq!(
                    encoded.len(),
                    if phase == Phase::ConnectAndDisconnect {
                        2
                    } else {
                        1
                    }
                );
                for (_, e) in encoded {
                    match target {
                        Target::Cef | Target::Leef => {
                            let line = std::str::from_utf8(&e.payload).expect("UTF-8");
                            assert!(!line.contains('\n') && !line.contains('\r'), "{line:?}");
                        }
                        _ => {
                            let v: serde_json::Value =
                                serde_json::from_slice(&e.payload).expect("JSON");
                            assert!(v.is_object());
                        }
                    }
                }
            }
        }
    }
});
