//! What Elasticsearch's (and OpenSearch's) answer to a bulk request means: the retry rule.
//!
//! A bulk request answers 200 even when some of its actions failed: `errors: true` and one
//! item per action, in order, each with its own `status` and `error` ("Bulk API",
//! Elasticsearch reference: "the response contains a result for each action, in the order
//! they were submitted", and "429 ... EsRejectedExecutionException ... retry"). So the
//! answer is read per item:
//!
//! | item status | meaning | here |
//! | --- | --- | --- |
//! | 200, 201 | created | delivered |
//! | 409 `version_conflict_engine_exception` | a document with this `_id` is already there: a resend after a crash or a lost answer | delivered (counted) |
//! | 429 `es_rejected_execution_exception`, 5xx | the node is busy or a shard is unavailable | this item is sent again, alone with the others that were |
//! | 400 `mapper_parsing_exception`, `document_parsing_exception`, `illegal_argument_exception`, other 4xx | the document does not fit the index's mapping | dead-lettered, with Elasticsearch's reason |
//! | 401, 403 `security_exception` | the credentials may not write this index | fatal |
//! | 404 `index_not_found_exception` | no index, and the cluster may not create one (`action.auto_create_index`, `require_alias`) | fatal |
//!
//! And the request's own status ("REST API compatibility", "Common options"; unverified
//! for OpenSearch beyond its matching status codes):
//!
//! | status | here |
//! | --- | --- |
//! | 200 with `errors: false` | all delivered (Tenzir's emulation answers a single item then: the flag is what is read) |
//! | 200 with `errors: true`, but not one item per action | sent again whole: `create` makes a resend harmless |
//! | 429, 408, 5xx | sent again (`Retry-After` honoured) |
//! | 413 (`http.max_content_length`) | split; one document alone is dead-lettered |
//! | 400 | the body was refused whole: split to find the document, dead-letter it alone |
//! | 401, 403 | fatal (credentials) |
//! | 404, 405 | fatal: no bulk endpoint here (check `endpoint`) |
//! | 3xx | fatal: redirects are not followed (credentials would go along) |

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use sink_http::transport::excerpt;

/// What became of one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Created,
    /// 409: the index already has it.
    AlreadyThere,
    Retry(String),
    Dead(String),
    Fatal(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// One outcome per action, in order.
    Items(Vec<Item>),
    /// `errors: false`: every action succeeded.
    AllCreated,
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    TooLarge,
    /// The request was refused whole (400): with one document, that document.
    Refused {
        reason: String,
    },
    Fatal {
        reason: String,
    },
}

#[derive(Deserialize)]
struct BulkResponse {
    errors: bool,
    #[serde(default)]
    items: Vec<serde_json::Map<String, Value>>,
}

/// The rule on one item's status and error.
pub fn item(status: u16, error: Option<&Value>) -> Item {
    let what = match error {
        Some(e) => format!(
            "{status} {}: {}",
            e["type"].as_str().unwrap_or("error"),
            e["reason"].as_str().unwrap_or("")
        ),
        None => status.to_string(),
    };
    match status {
        200..=299 => Item::Created,
        409 => Item::AlreadyThere,
        429 | 408 | 500..=599 => Item::Retry(what),
        401 | 403 => Item::Fatal(format!(
            "{what}; the credentials may not write to the index (privileges `create_doc` \
             and `auto_configure` on it)"
        )),
        404 => Item::Fatal(format!(
            "{what}; the index does not exist and the cluster will not create it: check \
             `index`, or install the index template (`templates = true`)"
        )),
        400..=499 => Item::Dead(format!("Elasticsearch refused the document: {what}")),
        _ => Item::Retry(what),
    }
}

/// The rule on a bulk request's status, its body, a `Retry-After`, and how many actions
/// the request carried.
pub fn classify(status: u16, body: &[u8], retry_after: Option<Duration>, actions: usize) -> Reply {
    let what = || {
        let said = excerpt(body);
        if said.is_empty() {
            format!("Elasticsearch {status}")
        } else {
            format!("Elasticsearch {status}: {said}")
        }
    };
    match status {
        200..=299 => {
            let Ok(parsed) = serde_json::from_slice::<BulkResponse>(body) else {
                return Reply::Retry {
                    after: None,
                    reason: format!("{} (not a bulk response)", what()),
                };
            };
            if !parsed.errors {
                return Reply::AllCreated;
            }
            if parsed.items.len() != actions {
                return Reply::Retry {
                    after: None,
                    reason: format!(
                        "Elasticsearch said some actions failed but answered {} items for {actions} actions",
                        parsed.items.len()
                    ),
                };
            }
            Reply::Items(
                parsed
                    .items
                    .iter()
                    .map(|i| {
                        // `{"create": {...}}`: the action's one key.
                        let result = i.values().next();
                        let status = result
                            .and_then(|r| r["status"].as_u64())
                            .and_then(|s| u16::try_from(s).ok())
                            .unwrap_or(500);
                        item(status, result.and_then(|r| r.get("error")))
                    })
                    .collect(),
            )
        }
        408 | 429 | 500..=599 => Reply::Retry {
            after: retry_after,
            reason: what(),
        },
        413 => Reply::TooLarge,
        400 => Reply::Refused { reason: what() },
        401 | 403 => Reply::Fatal {
            reason: format!(
                "{}; check the credentials (api_key, user/password, bearer_token)",
                what()
            ),
        },
        404 | 405 => Reply::Fatal {
            reason: format!("{}; no bulk endpoint here: check endpoint", what()),
        },
        300..=399 => Reply::Fatal {
            reason: format!(
                "{}; redirects are not followed (the credentials would go along): set \
                 endpoint to the address that answers",
                what()
            ),
        },
        _ => Reply::Fatal { reason: what() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_item_rule() {
        assert_eq!(item(201, None), Item::Created);
        assert_eq!(item(200, None), Item::Created);
        let conflict = serde_json::json!({"type": "version_conflict_engine_exception", "reason": "[a]: version conflict, document already exists"});
        assert_eq!(item(409, Some(&conflict)), Item::AlreadyThere);
        assert!(matches!(item(429, None), Item::Retry(_)));
        assert!(matches!(item(503, None), Item::Retry(_)));
        let mapping = serde_json::json!({"type": "document_parsing_exception", "reason": "failed to parse field [source.ip] of type [ip]"});
        assert_eq!(
            item(400, Some(&mapping)),
            Item::Dead(
                "Elasticsearch refused the document: 400 document_parsing_exception: failed to parse field [source.ip] of type [ip]".into()
            )
        );
        assert!(matches!(item(403, None), Item::Fatal(_)));
        assert!(matches!(item(404, None), Item::Fatal(_)));
    }

    #[test]
    fn a_bulk_reply_is_read_per_item_in_order() {
        let body = br#"{"took":3,"errors":true,"items":[
            {"create":{"_index":"i","_id":"a","status":201,"result":"created"}},
            {"create":{"_index":"i","_id":"b","status":409,"error":{"type":"version_conflict_engine_exception","reason":"exists"}}},
            {"create":{"_index":"i","_id":"c","status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},
            {"create":{"_index":"i","_id":"d","status":400,"error":{"type":"mapper_parsing_exception","reason":"bad"}}}]}"#;
        let Reply::Items(items) = classify(200, body, None, 4) else {
            panic!("{:?}", classify(200, body, None, 4));
        };
        assert_eq!(items[0], Item::Created);
        assert_eq!(items[1], Item::AlreadyThere);
        assert!(matches!(&items[2], Item::Retry(r) if r.contains("queue full")));
        assert!(matches!(&items[3], Item::Dead(r) if r.contains("mapper_parsing_exception")));
    }

    #[test]
    fn errors_false_is_all_created_whatever_the_items() {
        let tenzir = br#"{"errors":false,"items":[{"create":{"status":201,"result":"created"}}]}"#;
        assert_eq!(classify(200, tenzir, None, 40), Reply::AllCreated);
    }

    #[test]
    fn an_answer_that_cannot_be_matched_to_its_actions_is_a_retry() {
        let short = br#"{"errors":true,"items":[{"create":{"status":201}}]}"#;
        assert!(matches!(classify(200, short, None, 2), Reply::Retry { .. }));
        assert!(matches!(
            classify(200, b"<html>", None, 2),
            Reply::Retry { .. }
        ));
    }

    #[test]
    fn the_request_rule() {
        let after = Some(Duration::from_secs(4));
        assert_eq!(
            classify(429, b"", after, 1),
            Reply::Retry {
                after,
                reason: "Elasticsearch 429".into()
            }
        );
        assert!(matches!(classify(503, b"", None, 1), Reply::Retry { .. }));
        assert_eq!(classify(413, b"", None, 1), Reply::TooLarge);
        assert!(matches!(
            classify(400, b"{}", None, 1),
            Reply::Refused { .. }
        ));
        for fatal in [401, 403, 404, 405, 301] {
            assert!(
                matches!(classify(fatal, b"", None, 1), Reply::Fatal { .. }),
                "{fatal}"
            );
        }
    }
}
