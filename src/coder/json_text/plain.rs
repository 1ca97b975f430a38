//! Finding a few keys' string values in an object whose text has no escapes.
//!
//! serde_json's pass over `additional_fields` (a visitor per key and an `IgnoredAny` per
//! value) cost about 2,000 instructions for a build's five fields, and it ran twice per
//! entry: once for the look-ups' workspace id, once for the facts. Without a backslash in
//! the text every string ends at the next `"`, so the structure can be followed a quote or a
//! bracket at a time ([`memchr`] skips the strings' insides). The text was read as valid
//! JSON before it got here; this does not validate it again.

use super::Found;

/// The last string value of each of `keys` among the object's own fields (not nested
/// ones), as the serde pass finds them. `text` is a JSON object without `\`.
pub(super) fn strings<'a, const N: usize>(
    text: &'a str,
    keys: &[&str; N],
    found: &mut [Found<'a>; N],
) {
    let bytes = text.as_bytes();
    debug_assert!(bytes.first() == Some(&b'{') && memchr::memchr(b'\\', bytes).is_none());
    let mut depth = 0usize;
    // At depth 1: whether the next string is a key, and which wanted key's value is next.
    let mut key_next = false;
    let mut wanted: Option<usize> = None;
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'"' => {
                let start = at + 1;
                let Some(len) = memchr::memchr(b'"', &bytes[start..]) else {
                    return;
                };
                at = start + len;
                if depth == 1 {
                    let s = &text[start..at];
                    if key_next {
                        wanted = keys.iter().position(|k| *k == s);
                        key_next = false;
                    } else if let Some(k) = wanted.take() {
                        found[k] = Found::Str(s);
                    }
                }
            }
            b'{' | b'[' => {
                if depth == 1
                    && let Some(k) = wanted.take()
                {
                    found[k] = Found::Other;
                }
                depth += 1;
                key_next = depth == 1;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return;
                }
            }
            b',' => key_next = depth == 1,
            b':' | b' ' | b'\n' | b'\r' | b'\t' => {}
            // The first byte of a number, `true`, `false` or `null`.
            _ => {
                if depth == 1
                    && let Some(k) = wanted.take()
                {
                    found[k] = Found::Other;
                }
            }
        }
        at += 1;
    }
}
