//! The skimmer (an entry over `coder.max_response_bytes`) on arbitrary bytes in arbitrary
//! chunks: it never panics; with a budget nothing exceeds it gives the body back byte for
//! byte; and whatever page the parser accepts whole, it accepts skimmed, with as many
//! entries.
#![no_main]

use coder_audit_shipper::coder::skim::Skimmer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, body)) = data.split_first() else {
        return;
    };
    let budget = usize::from(knobs % 64) + 1;
    let chunk = usize::from(knobs / 64) * 7 + 1;
    let mut whole = Skimmer::new(usize::MAX);
    let mut small = Skimmer::new(budget);
    for c in body.chunks(chunk) {
        whole.push(c);
        small.push(c);
    }
    assert_eq!(whole.finish().0, body, "an unlimited budget changed the body");
    let (skimmed, _) = small.finish();
    if let Ok(page) = coder_audit_shipper::coder::parse_page(bytes::Bytes::copy_from_slice(body)) {
        let again = coder_audit_shipper::coder::parse_page(bytes::Bytes::from(skimmed))
            .expect("a page the parser accepts stays a page when skimmed");
        assert_eq!(again.events.len(), page.events.len());
    }
});
