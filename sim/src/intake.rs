//! A log intake that answers with the statuses the HTTP sink's rule is about, for what no
//! installable peer does: Tenzir's `accept_http` (the transport peer) answers 200 to
//! everything, whatever the body.
//!
//! It behaves as the intakes the README configures document themselves:
//!
//! * Datadog's logs intake ("Send logs", API reference): 202 on acceptance, 400 for "an
//!   issue in the payload formatting", 403 for an invalid API key, 413 over 5 MB, 5xx to be
//!   retried;
//! * Sumo Logic's HTTP source ("Troubleshooting HTTP Sources"): 401 for a missing or
//!   invalid token, 429 for quota throttling;
//! * RFC 6585 §4: 429 may carry `Retry-After`.
//!
//! A request is all or nothing (none of these intakes documents partial acceptance): a
//! body with a record containing `reject_marker` is refused whole with 400 and nothing of
//! it kept. `throttle` requests from the `throttle_from`th on are answered 429 with
//! `Retry-After: 1`. A body
//! over `max_body` bytes (uncompressed) is answered 413. Bodies are NDJSON or a JSON
//! array (by `Content-Type`), gzip or not.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct IntakeOptions {
    /// The header and value a request must carry (`DD-API-KEY`, `key`).
    pub auth: Option<(String, String)>,
    pub throttle: usize,
    /// The first throttled request (0: the first request).
    pub throttle_from: usize,
    pub reject_marker: Option<String>,
    pub max_body: usize,
}

impl Default for IntakeOptions {
    fn default() -> Self {
        IntakeOptions {
            auth: None,
            throttle: 0,
            throttle_from: 0,
            reject_marker: None,
            max_body: 5_000_000,
        }
    }
}

#[derive(Default)]
struct Inner {
    records: Vec<Value>,
    requests: usize,
    refused: usize,
    throttle_left: usize,
    /// Content-Type of each accepted request.
    content_types: Vec<String>,
}

#[derive(Clone)]
struct Shared {
    options: Arc<IntakeOptions>,
    inner: Arc<Mutex<Inner>>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running intake (it runs until the runtime ends).
#[derive(Clone)]
pub struct IntakeSim {
    pub addr: SocketAddr,
    shared: Shared,
}

impl IntakeSim {
    pub async fn start(options: IntakeOptions) -> std::io::Result<Self> {
        let shared = Shared {
            inner: Arc::new(Mutex::new(Inner {
                throttle_left: options.throttle,
                ..Inner::default()
            })),
            options: Arc::new(options),
        };
        // Any path: each intake has its own (Datadog's /api/v2/logs, a DCR's stream).
        let app = Router::new()
            .fallback(post(intake))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(IntakeSim { addr, shared })
    }

    pub fn url(&self) -> String {
        format!("http://{}/api/v2/logs", self.addr)
    }

    /// The URL of `path` (any path takes records).
    pub fn url_of(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every record kept, copies included, in arrival order.
    pub fn records(&self) -> Vec<Value> {
        self.shared.lock().records.clone()
    }

    pub fn requests(&self) -> usize {
        self.shared.lock().requests
    }

    /// Requests refused with 400.
    pub fn refused(&self) -> usize {
        self.shared.lock().refused
    }

    pub fn content_types(&self) -> Vec<String> {
        self.shared.lock().content_types.clone()
    }
}

async fn intake(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut inner = shared.lock();
    inner.requests += 1;
    if let Some((name, value)) = &shared.options.auth {
        let given = headers.get(name.as_str()).and_then(|v| v.to_str().ok());
        if given != Some(value.as_str()) {
            return (StatusCode::FORBIDDEN, r#"{"errors":["Forbidden"]}"#).into_response();
        }
    }
    if inner.throttle_left > 0 && inner.requests > shared.options.throttle_from {
        inner.throttle_left -= 1;
        return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], "").into_response();
    }
    let Some(body) = crate::body::decoded(&headers, &body) else {
        return (StatusCode::BAD_REQUEST, "bad gzip").into_response();
    };
    if body.len() > shared.options.max_body {
        return (StatusCode::PAYLOAD_TOO_LARGE, "").into_response();
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let records: Option<Vec<Value>> = if content_type.starts_with("application/json") {
        serde_json::from_slice(&body).ok()
    } else {
        body.split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).ok())
            .collect()
    };
    let Some(records) = records else {
        inner.refused += 1;
        return (
            StatusCode::BAD_REQUEST,
            "the body is not what its Content-Type says",
        )
            .into_response();
    };
    if let Some(marker) = &shared.options.reject_marker
        && body.windows(marker.len()).any(|w| w == marker.as_bytes())
    {
        inner.refused += 1;
        return (StatusCode::BAD_REQUEST, r#"{"errors":["invalid record"]}"#).into_response();
    }
    inner.records.extend(records);
    inner.content_types.push(content_type);
    (StatusCode::ACCEPTED, "{}").into_response()
}
