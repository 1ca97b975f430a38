//! The skimmer against hostile and oversized pages.

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
