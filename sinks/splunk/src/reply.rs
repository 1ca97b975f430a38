//! What HEC's answer to an event request means: Splunk's status codes and its JSON `code`
//! ("Format events for HTTP Event Collector", "Troubleshoot HTTP Event Collector").
//!
//! | answer | meaning | here |
//! | --- | --- | --- |
//! | 200, code 0 | accepted (with `ackId` when acks are on) | wait for the ack, or done |
//! | 2xx with another code | accepted: a 2xx is Splunk's acceptance whatever the body says (copies of the status table list "queue approaching capacity" codes that come with 200: unverified) | as above; the code is logged |
//! | 503 code 9 "Server is busy", 18–20 unhealthy, 429, 5xx, 408 | transient | retry with backoff, `Retry-After` honoured |
//! | 400 code 6 "Invalid data format", 12/13 event missing or blank, 15 indexed fields | one event is bad (`invalid-event-number`) | dead-letter that event, resend the rest |
//! | 413 | the request is too large | split it; a single event too large is dead-lettered |
//! | 3xx | a redirect (not followed: the token would go along, and a redirected POST loses its body) | fatal, naming `endpoint` |
//! | 401/403 codes 1–4 | token missing, invalid or disabled | fatal for the sink |
//! | 400 code 7 incorrect index, 14 ACK disabled, 10/11 channel | configuration | fatal, naming the setting |

use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
struct Body {
    #[serde(default)]
    text: String,
    code: Option<i64>,
    #[serde(rename = "ackId")]
    ack_id: Option<u64>,
    #[serde(rename = "invalid-event-number")]
    invalid_event_number: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Accepted {
        ack_id: Option<u64>,
        /// A `code` other than 0 that came with the 2xx, to be logged.
        notice: Option<String>,
    },
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// One event of the request will never be accepted; `index` in the request's events
    /// when HEC said which.
    BadEvent {
        index: Option<usize>,
        reason: String,
    },
    TooLarge,
    Fatal {
        reason: String,
    },
}

/// The rule on a status, the response body and a `Retry-After` header.
pub fn classify(status: u16, body: &[u8], retry_after: Option<Duration>) -> Reply {
    let parsed: Body = serde_json::from_slice(body).unwrap_or_default();
    let said = if parsed.text.is_empty() {
        String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
    } else {
        parsed.text.clone()
    };
    let what = match parsed.code {
        Some(code) => format!("HEC {status} (code {code}): {said}"),
        None => format!("HEC {status}: {said}"),
    };
    match (status, parsed.code) {
        (200..=299, None | Some(0)) => Reply::Accepted {
            ack_id: parsed.ack_id,
            notice: None,
        },
        (200..=299, Some(_)) => Reply::Accepted {
            ack_id: parsed.ack_id,
            notice: Some(what),
        },
        (_, Some(1..=4)) | (401 | 403, _) => Reply::Fatal {
            reason: format!(
                "{what}; check the HEC token (token, token_file) and that it is enabled"
            ),
        },
        (_, Some(7)) => Reply::Fatal {
            reason: format!("{what}; the token may not write to `index`"),
        },
        (_, Some(14)) => Reply::Fatal {
            reason: format!(
                "{what}; `ack = true` needs indexer acknowledgement enabled on the token"
            ),
        },
        (_, Some(10 | 11)) => Reply::Fatal {
            reason: format!("{what}; the token requires a channel: set `ack = true`"),
        },
        (_, Some(9 | 18 | 19 | 20)) | (408 | 429, _) | (500..=599, _) => Reply::Retry {
            after: retry_after,
            reason: what,
        },
        (413, _) => Reply::TooLarge,
        (300..=399, _) => Reply::Fatal {
            reason: format!(
                "{what}; HEC redirected the request, and redirects are not followed (the \
                 token would go along): set endpoint to the address that answers"
            ),
        },
        (400, Some(5 | 6 | 12 | 13 | 15)) => Reply::BadEvent {
            index: parsed.invalid_event_number,
            reason: what,
        },
        _ => Reply::Fatal { reason: what },
    }
}

/// `{"acks":{"0":true,"1":false}}` → the ids reported true.
pub fn acked(body: &[u8]) -> Result<Vec<u64>, String> {
    #[derive(Deserialize)]
    struct Acks {
        acks: std::collections::HashMap<String, bool>,
    }
    let acks: Acks = serde_json::from_slice(body)
        .map_err(|e| format!("HEC's ack reply is not {{\"acks\":{{...}}}}: {e}"))?;
    Ok(acks
        .acks
        .into_iter()
        .filter(|(_, done)| *done)
        .filter_map(|(id, _)| id.parse().ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(status: u16, body: &str) -> Reply {
        classify(status, body.as_bytes(), None)
    }

    #[test]
    fn the_rule() {
        assert_eq!(
            c(200, r#"{"text":"Success","code":0,"ackId":7}"#),
            Reply::Accepted {
                ack_id: Some(7),
                notice: None
            }
        );
        assert_eq!(
            c(200, r#"{"text":"Success","code":0}"#),
            Reply::Accepted {
                ack_id: None,
                notice: None
            }
        );
        // A 2xx is an acceptance whatever its code says; the code is passed on to log.
        assert_eq!(
            c(
                200,
                r#"{"text":"Queue approaching capacity","code":25,"ackId":3}"#
            ),
            Reply::Accepted {
                ack_id: Some(3),
                notice: Some("HEC 200 (code 25): Queue approaching capacity".into())
            }
        );
        assert!(matches!(
            c(200, r#"{"text":"Invalid token","code":4}"#),
            Reply::Accepted { .. }
        ));
        assert!(matches!(
            c(503, r#"{"text":"Server is busy","code":9}"#),
            Reply::Retry { .. }
        ));
        assert!(matches!(c(429, ""), Reply::Retry { .. }));
        assert!(matches!(
            c(500, r#"{"text":"Internal server error","code":8}"#),
            Reply::Retry { .. }
        ));
        assert!(matches!(
            c(502, "<html>bad gateway</html>"),
            Reply::Retry { .. }
        ));
        assert_eq!(
            c(
                400,
                r#"{"text":"Invalid data format","code":6,"invalid-event-number":3}"#
            ),
            Reply::BadEvent {
                index: Some(3),
                reason: "HEC 400 (code 6): Invalid data format".into()
            }
        );
        assert!(matches!(
            c(400, r#"{"text":"Event field is required","code":12}"#),
            Reply::BadEvent { index: None, .. }
        ));
        assert!(matches!(
            c(403, r#"{"text":"Invalid token","code":4}"#),
            Reply::Fatal { .. }
        ));
        assert!(matches!(
            c(401, r#"{"text":"Token is required","code":2}"#),
            Reply::Fatal { .. }
        ));
        assert!(matches!(
            c(400, r#"{"text":"Incorrect index","code":7}"#),
            Reply::Fatal { .. }
        ));
        assert!(matches!(
            c(400, r#"{"text":"ACK is disabled","code":14}"#),
            Reply::Fatal { .. }
        ));
        assert_eq!(c(413, ""), Reply::TooLarge);
        assert!(matches!(c(307, ""), Reply::Fatal { reason } if reason.contains("redirect")));
        assert!(matches!(c(404, "not found"), Reply::Fatal { .. }));
    }

    #[test]
    fn retry_after_is_passed_on() {
        let r = classify(503, br#"{"code":9}"#, Some(Duration::from_secs(7)));
        assert!(matches!(r, Reply::Retry { after: Some(d), .. } if d == Duration::from_secs(7)));
    }

    #[test]
    fn ack_replies() {
        let mut ids = acked(br#"{"acks":{"0":true,"1":false,"2":true}}"#).unwrap();
        ids.sort();
        assert_eq!(ids, vec![0, 2]);
        assert!(acked(b"<html>").is_err());
    }
}
