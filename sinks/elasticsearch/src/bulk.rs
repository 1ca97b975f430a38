//! A batch as Bulk API request bodies: a `create` action with the record's id, then the
//! document, each line ended by `\n` ("Bulk API": the final line must end with a newline).
//!
//! `create` with `_id` is what makes a resend harmless: Elasticsearch answers 409
//! `version_conflict_engine_exception` for an id the index already has, and the sink
//! counts that as delivered. A data stream takes only `create` ("Data streams": "you
//! cannot send indexing or update requests for existing documents directly to a data
//! stream ... use op_type create").

use bytes::Bytes;
use sink_core::Record;

/// Each record's `_id`: the record's id, and for the second and later record of a batch
/// with the same id `id-N`. No encoding the sink takes makes two records of one entry
/// today, but if one did, the second must not be taken for a resend of the first.
pub fn document_ids(records: &[Record]) -> Vec<String> {
    let mut seen = std::collections::HashMap::<&str, usize>::new();
    records
        .iter()
        .map(|r| {
            let n = seen.entry(&r.id).or_default();
            *n += 1;
            if *n == 1 {
                r.id.to_string()
            } else {
                format!("{}-{}", r.id, *n)
            }
        })
        .collect()
}

/// The bulk body of `indices` of `records`.
pub fn body(records: &[Record], ids: &[String], indices: &[usize]) -> Bytes {
    let bytes: usize = indices
        .iter()
        .map(|&i| records[i].payload.len() + ids[i].len() + 24)
        .sum();
    let mut body = Vec::with_capacity(bytes);
    for &i in indices {
        body.extend_from_slice(b"{\"create\":{\"_id\":");
        // serde_json quotes and escapes the id; writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut body, &ids[i]);
        body.extend_from_slice(b"}}\n");
        body.extend_from_slice(&records[i].payload);
        body.push(b'\n');
    }
    body.into()
}

/// `indices` cut into requests of at most `max_bytes` (about: the action lines are
/// counted too), in order; a record over it alone.
pub fn split(records: &[Record], indices: &[usize], max_bytes: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0;
    for &i in indices {
        let len = records[i].payload.len() + records[i].id.len() + 24;
        if !current.is_empty() && bytes + len > max_bytes {
            out.push(std::mem::take(&mut current));
            bytes = 0;
        }
        current.push(i);
        bytes += len;
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, payload: &str) -> Record {
        Record {
            id: id.into(),
            time_micros: None,
            resource_type: None,
            action: None,
            payload: Bytes::from(payload.to_owned()),
        }
    }

    #[test]
    fn each_record_is_a_create_with_its_id_then_its_document() {
        let records = [record("a\"1", r#"{"x":1}"#), record("b", r#"{"y":2}"#)];
        let ids = document_ids(&records);
        let body = body(&records, &ids, &[1, 0]);
        let lines: Vec<&str> = std::str::from_utf8(&body).unwrap().lines().collect();
        assert_eq!(
            lines,
            [
                r#"{"create":{"_id":"b"}}"#,
                r#"{"y":2}"#,
                r#"{"create":{"_id":"a\"1"}}"#,
                r#"{"x":1}"#
            ]
        );
        assert!(body.ends_with(b"\n"));
    }

    #[test]
    fn a_repeated_id_in_a_batch_gets_a_suffix() {
        let records = [record("a", "{}"), record("b", "{}"), record("a", "{}")];
        assert_eq!(document_ids(&records), ["a", "b", "a-2"]);
    }

    #[test]
    fn requests_stay_near_the_limit_and_keep_order() {
        let records: Vec<Record> = (0..5)
            .map(|n| record(&n.to_string(), &"x".repeat(75)))
            .collect();
        // 75 + 1 + 24 = 100 bytes each.
        let out = split(&records, &[0, 1, 2, 3, 4], 250);
        assert_eq!(out, vec![vec![0, 1], vec![2, 3], vec![4]]);
        assert_eq!(split(&records, &[0, 1], 10), vec![vec![0], vec![1]]);
    }
}
