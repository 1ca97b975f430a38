//! A batch's records as request bodies: NDJSON lines or one JSON array, each request under
//! the intake's size and count limits.

use bytes::Bytes;
use serde::Deserialize;
use sink_core::Record;

/// How records are put in a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// One JSON document per line, each ended by `\n` (`application/x-ndjson`): Sumo
    /// Logic's HTTP source takes a line per message, webhooks and Vector's `http` source
    /// take it.
    #[default]
    Ndjson,
    /// `[doc,doc,...]` (`application/json`): what Azure Monitor's Logs Ingestion API
    /// (Sentinel) and Datadog's logs intake take.
    JsonArray,
}

impl Encoding {
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Ndjson => "application/x-ndjson",
            Encoding::JsonArray => "application/json",
        }
    }

    /// The bytes a body of `count` records of `payload_bytes` in all takes.
    fn body_len(self, count: usize, payload_bytes: usize) -> usize {
        match self {
            Encoding::Ndjson => payload_bytes + count,
            Encoding::JsonArray => payload_bytes + count.saturating_sub(1) + 2,
        }
    }

    /// The body of `indices` of `records`, uncompressed.
    pub fn body(self, records: &[Record], indices: &[usize]) -> Bytes {
        let bytes: usize = indices.iter().map(|&i| records[i].payload.len()).sum();
        let mut body = Vec::with_capacity(self.body_len(indices.len(), bytes));
        match self {
            Encoding::Ndjson => {
                for &i in indices {
                    body.extend_from_slice(&records[i].payload);
                    body.push(b'\n');
                }
            }
            Encoding::JsonArray => {
                body.push(b'[');
                for (n, &i) in indices.iter().enumerate() {
                    if n > 0 {
                        body.push(b',');
                    }
                    body.extend_from_slice(&records[i].payload);
                }
                body.push(b']');
            }
        }
        body.into()
    }
}

/// The limits of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Uncompressed body bytes (Datadog: 5 MB; Azure Monitor and Sumo Logic: 1 MB).
    pub max_bytes: usize,
    /// Records (Datadog: 1,000 per array).
    pub max_events: usize,
}

/// `indices` of `records` cut into requests, in order, each within `limits`. A record
/// alone over `max_bytes` gets a request of its own: the intake decides (a 413 dead-letters
/// it).
pub fn split(
    encoding: Encoding,
    records: &[Record],
    indices: &[usize],
    limits: Limits,
) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut bytes = 0;
    for &i in indices {
        let len = records[i].payload.len();
        let full = !current.is_empty()
            && (current.len() >= limits.max_events.max(1)
                || encoding.body_len(current.len() + 1, bytes + len) > limits.max_bytes);
        if full {
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

    fn records(sizes: &[usize]) -> Vec<Record> {
        sizes
            .iter()
            .enumerate()
            .map(|(n, &len)| Record {
                id: format!("r{n}").into(),
                time_micros: None,
                resource_type: None,
                action: None,
                payload: Bytes::from(format!("\"{}\"", "x".repeat(len - 2))),
            })
            .collect()
    }

    #[test]
    fn bodies_are_ndjson_lines_or_one_array() {
        let r = records(&[3, 4]);
        assert_eq!(&Encoding::Ndjson.body(&r, &[0, 1])[..], b"\"x\"\n\"xx\"\n");
        assert_eq!(
            &Encoding::JsonArray.body(&r, &[0, 1])[..],
            b"[\"x\",\"xx\"]"
        );
        assert_eq!(&Encoding::JsonArray.body(&r, &[1])[..], b"[\"xx\"]");
        let array: Vec<String> =
            serde_json::from_slice(&Encoding::JsonArray.body(&r, &[1, 0])).unwrap();
        assert_eq!(array, ["xx", "x"]);
    }

    #[test]
    fn requests_stay_within_bytes_and_count_and_keep_order() {
        let r = records(&[10; 7]);
        let all: Vec<usize> = (0..7).collect();
        let by_count = split(
            Encoding::Ndjson,
            &r,
            &all,
            Limits {
                max_bytes: 1 << 20,
                max_events: 3,
            },
        );
        assert_eq!(by_count, vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
        // 11 bytes a line: two lines fit in 22, not three.
        let by_bytes = split(
            Encoding::Ndjson,
            &r,
            &all,
            Limits {
                max_bytes: 22,
                max_events: 100,
            },
        );
        assert_eq!(by_bytes, vec![vec![0, 1], vec![2, 3], vec![4, 5], vec![6]]);
        for request in &by_bytes {
            assert!(Encoding::Ndjson.body(&r, request).len() <= 22);
        }
        // An array of two: 1 + 10 + 1 + 10 + 1 = 23 bytes.
        let arrays = split(
            Encoding::JsonArray,
            &r,
            &[0, 1, 2],
            Limits {
                max_bytes: 23,
                max_events: 100,
            },
        );
        assert_eq!(arrays, vec![vec![0, 1], vec![2]]);
    }

    #[test]
    fn a_record_over_the_limit_goes_alone() {
        let r = records(&[5, 50, 5]);
        let out = split(
            Encoding::Ndjson,
            &r,
            &[0, 1, 2],
            Limits {
                max_bytes: 20,
                max_events: 100,
            },
        );
        assert_eq!(out, vec![vec![0], vec![1], vec![2]]);
    }
}
