//! Reading a page that is too large to hold: the entry of a 200 MB template diff.
//!
//! The tailer first asks for fewer rows (see [`super::Tailer`]); a single entry over
//! `coder.max_response_bytes` cannot be made smaller that way, and Coder has no filter that
//! leaves its diff out. Refusing it would stop the stream on that row for ever. So the
//! page is read once more through a [`Skimmer`]: the body streams through it and comes out
//! as the same JSON, except that each field of an entry whose value is larger than the
//! budget becomes `null`, and the entry gets one more field naming what was left out:
//!
//! ```json
//! {"id":"…","time":"…","action":"write","diff":null,…,
//!  "coder_audit_shipper_truncated":{"fields_omitted":["diff"],"original_bytes":209715200}}
//! ```
//!
//! Memory is bounded by the budget, not by the body: a value being skipped is counted,
//! never kept. The id, time, action, resource and user fields are small and always
//! survive, so the event ships, marked, and the stream moves on.

/// The field added to an entry that lost fields, in the raw JSON a `raw` sink receives.
pub const TRUNCATION_FIELD: &str = "coder_audit_shipper_truncated";

/// What was left out of one entry of a skimmed page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elided {
    /// The entry's position in the page's list.
    pub index: usize,
    /// The entry's fields whose values were left out, in the order Coder sent them.
    pub fields: Vec<String>,
    /// The entry's size as Coder sent it.
    pub original_bytes: u64,
}

/// A streaming filter for one response body (see the module doc).
///
/// It follows the JSON's nesting byte by byte. The page is an object (depth 1) holding the
/// list (depth 2) of entry objects (depth 3); a value that starts after a key's `:` inside
/// an entry is held aside until it ends, and written out only if it fits the budget.
#[derive(Debug)]
pub struct Skimmer {
    budget: usize,
    out: Vec<u8>,
    /// Open containers, `b'{'` or `b'['`.
    stack: Vec<u8>,
    in_string: bool,
    escaped: bool,
    /// Where the reader is among an entry's fields.
    at: At,
    /// The key of the field being read.
    key: Vec<u8>,
    /// A field value being held aside.
    value: Option<Held>,
    /// The entry being read.
    entry: Option<EntryState>,
    entries_done: usize,
    elided: Vec<Elided>,
}

/// The grammar of an entry's fields: `{ "key" : value , … }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    Key,
    InKey,
    Colon,
    Value,
    InValue,
    After,
}

#[derive(Debug)]
struct Held {
    /// The value's bytes while they fit the budget; dropped once they do not.
    bytes: Vec<u8>,
    over: bool,
    /// A number or literal: it ends at the first delimiter.
    scalar: bool,
}

#[derive(Debug)]
struct EntryState {
    size: u64,
    omitted: Vec<String>,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl Skimmer {
    /// `budget`: the largest field value kept, in bytes.
    pub fn new(budget: usize) -> Self {
        Self {
            budget,
            out: Vec::new(),
            stack: Vec::new(),
            in_string: false,
            escaped: false,
            at: At::After,
            key: Vec::new(),
            value: None,
            entry: None,
            entries_done: 0,
            elided: Vec::new(),
        }
    }

    /// The JSON kept so far (bounded by the budget per field).
    pub fn kept_bytes(&self) -> usize {
        self.out.len() + self.value.as_ref().map_or(0, |v| v.bytes.len())
    }

    /// Feed the next chunk of the body.
    pub fn push(&mut self, chunk: &[u8]) {
        for &b in chunk {
            self.byte(b);
        }
    }

    /// The skimmed body and what each entry lost. An unbalanced body comes out cut short,
    /// for the page parser to reject (a truncated answer is retried).
    pub fn finish(mut self) -> (Vec<u8>, Vec<Elided>) {
        // A body that ends inside a value: what was held of it, as it came.
        if let Some(v) = self.value.take() {
            self.out.extend_from_slice(&v.bytes);
        }
        (self.out, self.elided)
    }

    /// Whether the innermost container is an entry: an object at depth 3 inside the list.
    fn in_entry(&self) -> bool {
        self.stack.len() == 3 && self.stack[2] == b'{' && self.stack[1] == b'['
    }

    fn emit(&mut self, b: u8) {
        if let Some(e) = &mut self.entry {
            e.size += 1;
        }
        match &mut self.value {
            Some(v) if v.over => {}
            Some(v) if v.bytes.len() >= self.budget => {
                v.over = true;
                v.bytes = Vec::new();
            }
            Some(v) => v.bytes.push(b),
            None => self.out.push(b),
        }
    }

    fn byte(&mut self, b: u8) {
        if self.in_string {
            self.emit(b);
            let in_key = self.at == At::InKey && self.in_entry();
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.in_string = false;
                if in_key {
                    self.at = At::Colon;
                    return;
                }
                if self.at == At::InValue && self.in_entry() {
                    self.end_value();
                }
                return;
            }
            if in_key {
                self.key.push(b);
            }
            return;
        }
        let in_entry = self.in_entry();
        if in_entry
            && self.at == At::InValue
            && self.value.as_ref().is_some_and(|v| v.scalar)
            && (is_space(b) || matches!(b, b',' | b'}' | b']'))
        {
            self.end_value();
        }
        if in_entry && self.at == At::Value && !is_space(b) {
            // A value still held here means a body that is no JSON; what was held goes
            // out as it came, for the page parser to refuse.
            self.flush_held();
            self.value = Some(Held {
                bytes: Vec::new(),
                over: false,
                scalar: !matches!(b, b'"' | b'{' | b'['),
            });
            self.at = At::InValue;
        }
        match b {
            b'"' => {
                self.in_string = true;
                if in_entry && self.at == At::Key {
                    self.at = At::InKey;
                    self.key.clear();
                }
                self.emit(b);
            }
            b':' => {
                self.emit(b);
                if in_entry && self.at == At::Colon {
                    self.at = At::Value;
                }
            }
            b',' => {
                self.emit(b);
                if in_entry && self.at == At::After {
                    self.at = At::Key;
                }
            }
            b'{' | b'[' => {
                if self.stack.len() == 2 && b == b'{' && self.stack[1] == b'[' {
                    self.entry = Some(EntryState {
                        size: 0,
                        omitted: Vec::new(),
                    });
                }
                self.emit(b);
                self.stack.push(b);
                if self.in_entry() {
                    self.at = At::Key;
                }
            }
            b'}' | b']' => {
                if in_entry && b == b'}' {
                    self.close_entry();
                    return;
                }
                self.emit(b);
                self.stack.pop();
                if self.in_entry() && self.at == At::InValue {
                    self.end_value();
                } else if self.stack.len() < 3 {
                    // Out of the entry with a value still held: no JSON (see above).
                    self.flush_held();
                }
            }
            _ => self.emit(b),
        }
    }

    /// Write a held value out as it came (or as much as was kept of it).
    fn flush_held(&mut self) {
        if let Some(v) = self.value.take() {
            self.out.extend_from_slice(&v.bytes);
        }
    }

    /// A field's value has ended: keep it, or write `null` and note the field.
    fn end_value(&mut self) {
        self.at = At::After;
        let Some(v) = self.value.take() else {
            return;
        };
        if v.over {
            self.out.extend_from_slice(b"null");
            // The key as JSON text (escapes and all) between its quotes.
            let mut quoted = Vec::with_capacity(self.key.len() + 2);
            quoted.push(b'"');
            quoted.extend_from_slice(&self.key);
            quoted.push(b'"');
            let key = serde_json::from_slice::<String>(&quoted)
                .unwrap_or_else(|_| String::from_utf8_lossy(&self.key).into_owned());
            if let Some(e) = &mut self.entry {
                e.omitted.push(key);
            }
        } else {
            self.out.extend_from_slice(&v.bytes);
        }
    }

    fn close_entry(&mut self) {
        if self.value.is_some() {
            self.end_value();
        }
        if let Some(e) = self.entry.take().filter(|e| !e.omitted.is_empty()) {
            let original_bytes = e.size + 1;
            let marker = serde_json::json!({
                "fields_omitted": e.omitted,
                "original_bytes": original_bytes,
            });
            self.out.extend_from_slice(b",\"");
            self.out.extend_from_slice(TRUNCATION_FIELD.as_bytes());
            self.out.extend_from_slice(b"\":");
            self.out.extend_from_slice(marker.to_string().as_bytes());
            self.elided.push(Elided {
                index: self.entries_done,
                fields: e.omitted,
                original_bytes,
            });
        }
        self.out.push(b'}');
        self.stack.pop();
        self.entries_done += 1;
        self.at = At::After;
    }
}

#[cfg(test)]
mod tests;
