//! A Splunk HEC server with indexer acknowledgement, for what no installable peer does.
//!
//! Tenzir's `accept_splunk` (the real HEC peer of the tests) answers `/services/collector/ack`
//! with `false` for ever, so the ack protocol is tested against this one. It follows
//! Splunk's documentation ("About HTTP Event Collector Indexer Acknowledgment", "Format
//! events for HTTP Event Collector", the HEC error-code table):
//!
//! * `POST /services/collector/event` with `Authorization: Splunk <token>` (401 code 2
//!   without, 403 code 4 when wrong) and `X-Splunk-Request-Channel` (400 code 10 without);
//!   gzip bodies (`Content-Encoding: gzip`); concatenated JSON envelopes, each needing
//!   `event` (400 code 12, with `invalid-event-number`); the reply carries `ackId`, counted
//!   from 0 per channel *per instance*;
//! * the events of an accepted request are indexed at once (so a test sees every copy a
//!   client sends); its ack turns true `ack_delay` later ("About HTTP Event Collector
//!   Indexer Acknowledgment": the 200 comes before indexing, the ack after it);
//! * `POST /services/collector/ack?channel=<guid>` with `{"acks":[ids]}` answers
//!   `{"acks":{"<id>":bool}}`, false for an id it does not know; Splunk forgets an id once
//!   it has reported it true;
//! * `GET /services/collector/health`: `{"text":"HEC is healthy","code":17}`.
//!
//! Several instances can stand behind one address ([`HecSim::start_balanced`], see
//! [`balancer`]), each with its own channels and ack ids, as Splunk indexers behind a load
//! balancer are.
//!
//! Fault injection: `busy` event requests from the `busy_from`th on get 503 code 9 "Server
//! is busy"; the first `lose` requests are acknowledged never (their events are "lost before indexing",
//! so only a resend gets them indexed); an envelope containing `reject_marker` is refused
//! with 400 code 6 "Invalid data format" and its `invalid-event-number` (the events before
//! it in the request are indexed, as Splunk does); more than `max_pending` unqueried acks on
//! a channel answer 503 code 9.

mod balancer;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use balancer::Front;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

/// Just enough of an envelope to check it has an `event`.
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(borrow)]
    event: Option<&'a RawValue>,
}

#[derive(Debug, Clone)]
pub struct HecOptions {
    pub token: String,
    pub ack_delay: Duration,
    pub busy: usize,
    /// The first busy request (0: the first request).
    pub busy_from: usize,
    pub lose: usize,
    pub reject_marker: Option<String>,
    pub max_pending: usize,
}

impl Default for HecOptions {
    fn default() -> Self {
        HecOptions {
            token: "hec-sim-token".into(),
            ack_delay: Duration::from_millis(200),
            busy: 0,
            busy_from: 0,
            lose: 0,
            reject_marker: None,
            max_pending: 10_000,
        }
    }
}

#[derive(Default)]
struct Channel {
    next_ack: u64,
    /// Ack id → when it becomes true.
    pending: HashMap<u64, Instant>,
}

#[derive(Default)]
struct Inner {
    channels: HashMap<String, Channel>,
    /// Envelopes as received: parsed only when a test asks, so the simulator's own cost
    /// stays out of throughput benchmarks.
    indexed: Vec<Box<RawValue>>,
    requests: usize,
    busy_left: usize,
    lose_left: usize,
    lost: usize,
    acks_reported: usize,
    /// The `invalid-event-number` of each 400 for a bad event.
    refusals: Vec<usize>,
}

#[derive(Clone)]
struct Shared {
    options: Arc<HecOptions>,
    inner: Arc<Mutex<Inner>>,
}

/// A running simulator; dropping it leaves the server running until the runtime ends.
#[derive(Clone)]
pub struct HecSim {
    pub addr: SocketAddr,
    instances: Vec<Shared>,
}

impl Shared {
    fn new(options: &HecOptions) -> Self {
        Shared {
            inner: Arc::new(Mutex::new(Inner {
                busy_left: options.busy,
                lose_left: options.lose,
                ..Inner::default()
            })),
            options: Arc::new(options.clone()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl HecSim {
    pub async fn start(options: HecOptions) -> std::io::Result<Self> {
        Self::start_on(
            "127.0.0.1:0".parse().map_err(std::io::Error::other)?,
            options,
        )
        .await
    }

    pub async fn start_on(addr: SocketAddr, options: HecOptions) -> std::io::Result<Self> {
        Self::serve(addr, vec![Shared::new(&options)], false).await
    }

    /// `instances` HEC instances (each with `options`) behind one round-robin load
    /// balancer; with `sticky`, the balancer keeps a client on one instance by a cookie.
    pub async fn start_balanced(
        options: HecOptions,
        instances: usize,
        sticky: bool,
    ) -> std::io::Result<Self> {
        let instances = (0..instances.max(1))
            .map(|_| Shared::new(&options))
            .collect();
        Self::serve(
            "127.0.0.1:0".parse().map_err(std::io::Error::other)?,
            instances,
            sticky,
        )
        .await
    }

    async fn serve(
        addr: SocketAddr,
        instances: Vec<Shared>,
        sticky: bool,
    ) -> std::io::Result<Self> {
        let front = Front::new(instances.clone(), sticky);
        let app = Router::new()
            .route("/services/collector/event", post(event))
            .route("/services/collector", post(event))
            .route("/services/collector/ack", post(ack))
            .route("/services/collector/health", get(health))
            .with_state(front);
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(HecSim { addr, instances })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The envelopes indexed so far, every copy, in arrival order (instance by instance).
    pub fn indexed(&self) -> Vec<Value> {
        self.instances
            .iter()
            .flat_map(|i| {
                i.lock()
                    .indexed
                    .iter()
                    .filter_map(|raw| serde_json::from_str(raw.get()).ok())
                    .collect::<Vec<Value>>()
            })
            .collect()
    }

    /// How many envelopes were indexed.
    pub fn indexed_count(&self) -> usize {
        self.sum(|i| i.indexed.len())
    }

    /// Event requests answered (any status).
    pub fn requests(&self) -> usize {
        self.sum(|i| i.requests)
    }

    /// Event requests each instance answered.
    pub fn requests_by_instance(&self) -> Vec<usize> {
        self.instances.iter().map(|i| i.lock().requests).collect()
    }

    /// Requests whose events were dropped and whose ack never turns true.
    pub fn lost(&self) -> usize {
        self.sum(|i| i.lost)
    }

    /// Ack ids reported true.
    pub fn acks_reported(&self) -> usize {
        self.sum(|i| i.acks_reported)
    }

    /// The `invalid-event-number` of every 400 for a bad event: how many events before
    /// it were indexed anyway.
    pub fn refusals(&self) -> Vec<usize> {
        self.instances
            .iter()
            .flat_map(|i| i.lock().refusals.clone())
            .collect()
    }

    fn sum(&self, of: impl Fn(&Inner) -> usize) -> usize {
        self.instances.iter().map(|i| of(&i.lock())).sum()
    }
}

fn reply(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return Err(Box::new(reply(
            StatusCode::UNAUTHORIZED,
            json!({"text": "Token is required", "code": 2}),
        )));
    };
    match auth.strip_prefix("Splunk ") {
        Some(t) if t == shared.options.token => Ok(()),
        Some(_) => Err(Box::new(reply(
            StatusCode::FORBIDDEN,
            json!({"text": "Invalid token", "code": 4}),
        ))),
        None => Err(Box::new(reply(
            StatusCode::UNAUTHORIZED,
            json!({"text": "Invalid authorization", "code": 3}),
        ))),
    }
}

fn channel_of(headers: &HeaderMap, query: &HashMap<String, String>) -> Option<String> {
    headers
        .get("x-splunk-request-channel")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| query.get("channel").cloned())
        .filter(|c| !c.is_empty())
}

/// What both endpoints check first: the token, then the channel (code 10 without one).
fn authorized_channel(
    shared: &Shared,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<String, Box<Response>> {
    authorized(shared, headers)?;
    channel_of(headers, query).ok_or_else(|| {
        Box::new(reply(
            StatusCode::BAD_REQUEST,
            json!({"text": "Data channel is missing", "code": 10}),
        ))
    })
}

async fn event(
    State(front): State<Front>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (shared, cookie) = front.pick(&headers);
    cookie.set(event_on(shared, query, headers, body))
}

fn event_on(
    shared: &Shared,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let channel = match authorized_channel(shared, &headers, &query) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let Some(bytes) = crate::body::decoded(&headers, &body) else {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"text": "Invalid data format", "code": 6}),
        );
    };
    // Parse before taking the lock: ack queries must not wait behind a large body.
    let mut events = Vec::new();
    let mut refused = None;
    let stream = serde_json::Deserializer::from_slice(&bytes).into_iter::<Box<RawValue>>();
    for (n, item) in stream.enumerate() {
        let Ok(envelope) = item else {
            refused = Some((n, "Invalid data format", 6));
            break;
        };
        let marked = shared
            .options
            .reject_marker
            .as_deref()
            .is_some_and(|m| envelope.get().contains(m));
        if marked {
            refused = Some((n, "Invalid data format", 6));
            break;
        }
        let has_event = serde_json::from_str::<Probe<'_>>(envelope.get())
            .is_ok_and(|p| p.event.is_some_and(|e| e.get() != "null"));
        if !has_event {
            refused = Some((n, "Event field is required", 12));
            break;
        }
        events.push(envelope);
    }
    let mut inner = shared.lock();
    let n = inner.requests;
    inner.requests += 1;
    if n >= shared.options.busy_from && inner.busy_left > 0 {
        inner.busy_left -= 1;
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"text": "Server is busy", "code": 9}),
        );
    }
    if inner
        .channels
        .get(&channel)
        .is_some_and(|c| c.pending.len() >= shared.options.max_pending)
    {
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"text": "Server is busy", "code": 9}),
        );
    }
    if let Some((n, text, code)) = refused {
        // Splunk indexes what came before the bad event (unverified: modelled on what
        // `invalid-event-number` suggests, no Splunk page says so).
        inner.indexed.extend(events);
        inner.refusals.push(n);
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"text": text, "code": code, "invalid-event-number": n}),
        );
    }
    if events.is_empty() {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"text": "No data", "code": 5}),
        );
    }
    let lose = inner.lose_left > 0;
    if lose {
        inner.lose_left -= 1;
        inner.lost += 1;
    }
    let ready = Instant::now() + shared.options.ack_delay;
    let ch = inner.channels.entry(channel).or_default();
    let id = ch.next_ack;
    ch.next_ack += 1;
    if !lose {
        ch.pending.insert(id, ready);
        inner.indexed.extend(events);
    }
    reply(
        StatusCode::OK,
        json!({"text": "Success", "code": 0, "ackId": id}),
    )
}

async fn ack(
    State(front): State<Front>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (shared, cookie) = front.pick(&headers);
    cookie.set(ack_on(shared, query, headers, body))
}

fn ack_on(
    shared: &Shared,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let channel = match authorized_channel(shared, &headers, &query) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let Ok(asked) = serde_json::from_slice::<Value>(&body) else {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"text": "Invalid data format", "code": 6}),
        );
    };
    let ids: Vec<u64> = asked["acks"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let now = Instant::now();
    let mut inner = shared.lock();
    let mut answer = serde_json::Map::new();
    if let Some(ch) = inner.channels.get_mut(&channel) {
        for id in ids {
            let done = ch.pending.get(&id).is_some_and(|at| *at <= now);
            if done {
                ch.pending.remove(&id);
            }
            answer.insert(id.to_string(), Value::Bool(done));
        }
    } else {
        for id in ids {
            answer.insert(id.to_string(), Value::Bool(false));
        }
    }
    inner.acks_reported += answer
        .values()
        .filter(|v| v.as_bool() == Some(true))
        .count();
    reply(StatusCode::OK, json!({ "acks": answer }))
}

async fn health() -> Response {
    reply(
        StatusCode::OK,
        json!({"text": "HEC is healthy", "code": 17}),
    )
}
