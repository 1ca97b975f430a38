//! RFC 5424 messages around arbitrary record fields: the header stays well formed, the
//! structured data gives back the exact id, and a cut message stays within the limit.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sink_core::Record;
use sink_syslog::message::Header;
use sink_syslog::{Facility, Severity};

#[derive(Arbitrary, Debug)]
struct Input {
    id: String,
    action: Option<String>,
    resource_type: Option<String>,
    time_micros: Option<i64>,
    hostname: String,
    app_name: String,
    payload: Vec<u8>,
    max: Option<u16>,
}

fuzz_target!(|input: Input| {
    let header = Header::new(
        Facility::Authpriv,
        Severity::Notice,
        &input.hostname,
        &input.app_name,
    );
    let record = Record {
        id: input.id.clone(),
        time_micros: input.time_micros,
        resource_type: input.resource_type,
        action: input.action,
        payload: input.payload.into(),
    };
    let max = input.max.map(usize::from);
    let (message, cut) = header.message(&record, max);
    // Only the body is cut: a header longer than the limit leaves an empty body.
    if let Some(max) = max
        && cut
    {
        assert!(message.len() <= max || message.ends_with(b"] "));
    }
    // `<PRI>1 ` then five space-free header fields.
    let text = String::from_utf8_lossy(&message);
    assert!(text.starts_with("<85>1 "));
    let mut fields = text[6..].splitn(6, ' ');
    for _ in 0..5 {
        let f = fields.next().expect("header field");
        assert!(
            !f.is_empty() && f.chars().all(|c| c.is_ascii_graphic()),
            "{f:?}"
        );
    }
    // The id comes back from the structured data, unescaped.
    let sd = fields.next().expect("structured data");
    let after = sd
        .strip_prefix("[coder@32473 id=\"")
        .expect("SD-ID and id first");
    let mut id = String::new();
    let mut chars = after.chars();
    loop {
        match chars.next() {
            Some('\\') => id.extend(chars.next()),
            Some('"') => break,
            Some(c) => id.push(c),
            None => panic!("unterminated id"),
        }
    }
    assert_eq!(id, input.id);
});
