//! A page's entries read and located in the same pass.
//!
//! The general reader ([`super::parse_stream_page_as`]) reads a page twice: serde_json
//! first finds every entry's bytes (`Vec<&RawValue>`, a scan of the whole page), then
//! each entry is read again into its view. The first pass was 15.5 % of an ECS backfill's
//! instructions (BENCHMARKS.md, "One pass over a page"). serde_json reports where a value
//! ends only through [`serde_json::StreamDeserializer::byte_offset`], so this walks the
//! page's top level by hand (whitespace, braces, commas, colons) and reads each key,
//! entry and count with a stream deserializer that starts where the walk stands: the end
//! of each entry is where the next byte of the walk begins.
//!
//! It is a fast path, never a second opinion: anything it does not expect (a key twice,
//! a `count` that is not a number, the other stream's list, an entry nested past serde's
//! limit, an invalid page) gives `None`, and the general reader reads the page as before,
//! with its own errors and fallbacks. So a page reads the same whichever path took it
//! (tested below on every shape that takes the fallback and on those that do not).

use std::ops::Range;

use serde::Deserialize;

use super::super::entry::Key;

/// The entries of a page's list, each made into an `E` as it was read.
pub(super) struct Listed<E> {
    /// `None` for a list sent as `null` (a Go nil slice).
    pub entries: Option<Vec<E>>,
    pub count: Option<i64>,
}

/// Read the page `text`'s list `field` in one pass, each entry as a `T` that `each` makes
/// an `E` of at once, with its bytes' place in the page (a page's entries read whole are
/// about 800 bytes each: collecting them first held a second copy of the page). `None`
/// when the page is anything but the plain shape (see the module's doc).
pub(super) fn read<'de, T: Deserialize<'de>, E>(
    text: &'de str,
    field: &str,
    mut each: impl FnMut(T, Range<usize>) -> E,
) -> Option<Listed<E>> {
    let mut walk = Walk { text, at: 0 };
    walk.expect(b'{')?;
    let mut listed = Listed {
        entries: None,
        count: None,
    };
    let (mut seen_list, mut seen_count) = (false, false);
    if !walk.eat(b'}') {
        loop {
            let (Key(key), _) = walk.value::<Key>()?;
            walk.expect(b':')?;
            if key == field && !seen_list {
                seen_list = true;
                listed.entries = walk.list(&mut each)?;
            } else if key == "count" && !seen_count {
                seen_count = true;
                listed.count = walk.value::<Option<i64>>()?.0;
            } else if key == "audit_logs" || key == "connection_logs" || key == "count" {
                // A repeated field, or the other stream's list: the general reader's
                // concern (it refuses the first and checks the second's type).
                return None;
            } else {
                walk.value::<serde::de::IgnoredAny>()?;
            }
            if walk.eat(b',') {
                continue;
            }
            walk.expect(b'}')?;
            break;
        }
    }
    // Nothing but whitespace may follow the page, and the list must have been there.
    walk.skip_whitespace();
    (walk.at == text.len() && seen_list).then_some(listed)
}

/// Where the walk stands in the page.
struct Walk<'de> {
    text: &'de str,
    at: usize,
}

impl<'de> Walk<'de> {
    /// JSON's whitespace (RFC 8259 §2).
    fn skip_whitespace(&mut self) {
        let bytes = self.text.as_bytes();
        while matches!(bytes.get(self.at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Step over `byte` when it comes next, after any whitespace.
    fn eat(&mut self, byte: u8) -> bool {
        self.skip_whitespace();
        let found = self.text.as_bytes().get(self.at) == Some(&byte);
        if found {
            self.at += 1;
        }
        found
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.eat(byte).then_some(())
    }

    /// One value as a `T`, and the place of its bytes.
    fn value<T: Deserialize<'de>>(&mut self) -> Option<(T, Range<usize>)> {
        self.skip_whitespace();
        let start = self.at;
        // The walk stands after ASCII (whitespace or punctuation), so this is a char
        // boundary.
        let rest = self.text.get(start..)?;
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<T>();
        let value = stream.next()?.ok()?;
        self.at = start + stream.byte_offset();
        Some((value, start..self.at))
    }

    /// A list of entries, or `null`.
    fn list<T: Deserialize<'de>, E>(
        &mut self,
        each: &mut impl FnMut(T, Range<usize>) -> E,
    ) -> Option<Option<Vec<E>>> {
        if !self.eat(b'[') {
            let (null, _) = self.value::<Option<serde::de::IgnoredAny>>()?;
            return null.is_none().then_some(None);
        }
        let mut entries = Vec::new();
        if self.eat(b']') {
            return Some(Some(entries));
        }
        loop {
            let (entry, at) = self.value::<T>()?;
            entries.push(each(entry, at));
            if self.eat(b',') {
                continue;
            }
            self.expect(b']')?;
            return Some(Some(entries));
        }
    }
}

#[cfg(test)]
mod tests;
