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
mod tests {
    use super::*;
    use serde_json::{Value as Json, json};

    fn skim(body: &[u8], budget: usize, chunk: usize) -> (Json, Vec<Elided>) {
        let mut s = Skimmer::new(budget);
        for c in body.chunks(chunk.max(1)) {
            s.push(c);
        }
        let (out, elided) = s.finish();
        let v = serde_json::from_slice(&out)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out)));
        (v, elided)
    }

    #[test]
    fn a_page_whose_values_fit_comes_out_unchanged() {
        let page = json!({"audit_logs":[
            {"id":"a","time":"2026-01-01T00:00:00Z","diff":{"name":{"old":"x","new":"y","secret":false}},"status_code":200,"is_deleted":false,"user":null},
            {"id":"b","ip":"","additional_fields":[1,2,{"k":"}"}],"description":"with \"quotes\" and \\ , : { ["}
        ],"count":2,"count_cap":2000});
        let body = serde_json::to_vec(&page).unwrap();
        for chunk in [1, 3, 7, 4096] {
            let (v, elided) = skim(&body, 1_000, chunk);
            assert_eq!(v, page);
            assert!(elided.is_empty());
        }
    }

    #[test]
    fn large_values_become_null_and_the_entry_says_which() {
        let big = "x".repeat(10_000);
        let page = json!({"audit_logs":[
            {"id":"small","action":"login"},
            {"id":"big","time":"2026-01-01T00:00:00Z","action":"write","diff":{"readme":{"old":big,"new":"","secret":false}},"description":big,"status_code":200,"user":{"id":"u","username":"alice"}}
        ],"count":2});
        let body = serde_json::to_vec(&page).unwrap();
        for chunk in [1, 5, 64, 1 << 20] {
            let (v, elided) = skim(&body, 512, chunk);
            let e = &v["audit_logs"][1];
            assert_eq!(e["id"], "big");
            assert_eq!(e["action"], "write");
            assert_eq!(e["time"], "2026-01-01T00:00:00Z");
            assert_eq!(e["user"]["username"], "alice");
            assert_eq!(e["status_code"], 200);
            assert_eq!(e["diff"], Json::Null);
            assert_eq!(e["description"], Json::Null);
            // In the body's order (`json!` sorts keys).
            assert_eq!(
                e[TRUNCATION_FIELD]["fields_omitted"],
                json!(["description", "diff"])
            );
            let original = serde_json::to_vec(&page["audit_logs"][1]).unwrap().len() as u64;
            assert_eq!(e[TRUNCATION_FIELD]["original_bytes"], original);
            assert_eq!(v["audit_logs"][0], page["audit_logs"][0]);
            assert_eq!(v["count"], 2);
            assert_eq!(
                elided,
                [Elided {
                    index: 1,
                    fields: vec!["description".into(), "diff".into()],
                    original_bytes: original,
                }]
            );
        }
    }

    #[test]
    fn memory_stays_within_the_budget_whatever_the_value() {
        let mut s = Skimmer::new(1024);
        s.push(br#"{"audit_logs":[{"id":"a","diff":{"readme":{"old":""#);
        let chunk = vec![b'y'; 1 << 20];
        for _ in 0..20 {
            s.push(&chunk);
            assert!(s.kept_bytes() < 4096);
        }
        s.push(br#"","new":"","secret":false}},"action":"write"}],"count":1}"#);
        let (out, elided) = s.finish();
        let v: Json = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["audit_logs"][0]["action"], "write");
        assert_eq!(elided[0].fields, ["diff"]);
        assert!(elided[0].original_bytes > 20 << 20);
    }

    #[test]
    fn whitespace_and_large_scalars_are_handled() {
        let body = format!(
            "{{ \"audit_logs\" : [ {{ \"id\" : \"a\" , \"n\" : {} , \"t\" : true }} ] , \"count\" : 1 }}",
            "1".repeat(300)
        );
        let (v, elided) = skim(body.as_bytes(), 100, 7);
        assert_eq!(v["audit_logs"][0]["n"], Json::Null);
        assert_eq!(v["audit_logs"][0]["t"], true);
        assert_eq!(elided[0].fields, ["n"]);
    }

    #[test]
    fn a_truncated_body_stays_invalid() {
        let body = br#"{"audit_logs":[{"id":"a","diff":{"x""#;
        let mut s = Skimmer::new(100);
        s.push(body);
        let (out, _) = s.finish();
        assert!(serde_json::from_slice::<Json>(&out).is_err());
        // Nothing over the budget: the cut body comes back as it came.
        let mut s = Skimmer::new(usize::MAX);
        s.push(body);
        assert_eq!(s.finish().0, body);
    }

    /// Any JSON value, strings with escapes and delimiters included.
    fn json_value() -> impl proptest::strategy::Strategy<Value = Json> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Json::Null),
            any::<bool>().prop_map(Json::from),
            any::<i64>().prop_map(Json::from),
            "[a-z\\\\\"{}\\[\\],: \\n\\t\\u{1}é]{0,40}".prop_map(Json::from),
        ];
        leaf.prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Json::from),
                proptest::collection::btree_map("[a-z\\\\\",:{]{0,8}", inner, 0..6)
                    .prop_map(|m| Json::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_come_back_unchanged_with_an_unlimited_budget(
            body in proptest::collection::vec(
                proptest::sample::select(b"{}[]\",:\\ ab1".to_vec()),
                0..300,
            ),
            chunk in 1usize..17,
        ) {
            let mut s = Skimmer::new(usize::MAX);
            for c in body.chunks(chunk) {
                s.push(c);
            }
            proptest::prop_assert_eq!(s.finish().0, body);
        }

        #[test]
        fn any_page_is_unchanged_when_everything_fits_and_valid_json_when_not(
            entries in proptest::collection::vec(
                proptest::collection::btree_map("[a-z_\\\\\"]{0,10}", json_value(), 0..8),
                0..5,
            ),
            budget in 1usize..200,
            chunk in 1usize..64,
            pretty in proptest::bool::ANY,
        ) {
            let list: Vec<Json> = entries
                .into_iter()
                .map(|m| Json::Object(m.into_iter().collect()))
                .collect();
            let page = json!({"audit_logs": list, "count": 1});
            let body = if pretty {
                serde_json::to_vec_pretty(&page).unwrap()
            } else {
                serde_json::to_vec(&page).unwrap()
            };
            // Everything fits: byte for byte.
            let mut whole = Skimmer::new(usize::MAX);
            for c in body.chunks(chunk) {
                whole.push(c);
            }
            let (out, elided) = whole.finish();
            proptest::prop_assert_eq!(&out, &body);
            proptest::prop_assert!(elided.is_empty());
            // A small budget: still one valid page with every entry, each field either
            // kept as it was or null and named.
            let (v, elided) = skim(&body, budget, chunk);
            let got = v["audit_logs"].as_array().unwrap();
            proptest::prop_assert_eq!(got.len(), list.len());
            for (i, (g, want)) in got.iter().zip(&list).enumerate() {
                let omitted: Vec<String> = elided
                    .iter()
                    .find(|e| e.index == i)
                    .map(|e| e.fields.clone())
                    .unwrap_or_default();
                for (k, w) in want.as_object().unwrap() {
                    if omitted.contains(k) {
                        proptest::prop_assert_eq!(&g[k], &Json::Null);
                    } else {
                        proptest::prop_assert_eq!(&g[k], w);
                    }
                }
            }
        }
    }

    #[test]
    fn connection_pages_are_skimmed_the_same_way() {
        let page = json!({"connection_logs":[{"id":"c","connect_time":"2026-01-01T00:00:00Z","web_info":{"user_agent":"z".repeat(5000)}}],"count":1});
        let (v, elided) = skim(&serde_json::to_vec(&page).unwrap(), 256, 13);
        assert_eq!(v["connection_logs"][0]["id"], "c");
        assert_eq!(v["connection_logs"][0]["web_info"], Json::Null);
        assert_eq!(elided[0].fields, ["web_info"]);
    }
}
