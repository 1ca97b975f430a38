//! An Elasticsearch Bulk API with per-item answers, for what no installable peer does.
//!
//! Tenzir's `accept_elasticsearch` (the real transport peer of the tests) takes every
//! action and answers `{"errors":false}` with a single item, so 409s, per-item 429s and
//! mapping errors are tested against this one. It follows Elastic's documentation:
//!
//! * "Bulk API": `POST /_bulk` and `POST /<target>/_bulk`, NDJSON action/source pairs
//!   (the last line ended by a newline, else 400), gzip bodies (`Content-Encoding: gzip`,
//!   "HTTP compression"); the reply is 200 with `errors` and one item per action, in order,
//!   each `{"<action>": {"_index","_id","status",...,"error"?}}`;
//! * `create` of an `_id` the index has: item 409 `version_conflict_engine_exception`,
//!   "[id]: version conflict, document already exists (current version [1])";
//! * "Data streams": a target named like a data stream (`logs-*-*`) takes only `create`
//!   ("only write ops with an op_type of create are allowed in data streams", 400) and
//!   needs `@timestamp` ("data stream timestamp field [@timestamp] is missing", 400
//!   `document_parsing_exception`); documents land in a backing index `.ds-<name>-...`;
//! * "Security": `Authorization: ApiKey <encoded>`, `Basic`, `Bearer` (401
//!   `security_exception` without or wrong, with `WWW-Authenticate`),
//!   `POST /_security/user/_has_privileges`;
//! * `GET /` (cluster info), `PUT /_component_template/<n>`, `PUT /_index_template/<n>`.
//!
//! Fault injection ([`EsOptions`]): whole requests answered 429
//! `es_rejected_execution_exception`; the first items answered 429 one by one; documents
//! containing `reject_marker` refused as a mapping error (400 `document_parsing_exception`);
//! requests whose answer is lost after indexing (502, as a proxy that timed out while
//! Elasticsearch went on: unverified that a real proxy answers 502 then, but some answer
//! is lost, and a resend must be answered 409).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct EsOptions {
    /// `Authorization: ApiKey <api_key>`.
    pub api_key: String,
    /// Also taken: `Authorization: Basic` of this user and password ...
    pub basic: Option<(String, String)>,
    /// ... and `Authorization: Bearer` of this token.
    pub bearer: Option<String>,
    /// Whole bulk requests answered 429 (the first `busy_requests`).
    pub busy_requests: usize,
    /// Items answered 429 one by one (the first `busy_items` create actions).
    pub busy_items: usize,
    /// A document containing this is refused as a mapping error.
    pub reject_marker: Option<String>,
    /// Bulk requests indexed but answered 502 (the first `lose_replies`, from the
    /// `lose_from`th request on).
    pub lose_replies: usize,
    pub lose_from: usize,
    /// What `_has_privileges` says.
    pub may_write: bool,
}

impl Default for EsOptions {
    fn default() -> Self {
        EsOptions {
            api_key: "ZXMtc2ltOmtleQ==".into(),
            basic: None,
            bearer: None,
            busy_requests: 0,
            busy_items: 0,
            reject_marker: None,
            lose_replies: 0,
            lose_from: 0,
            may_write: true,
        }
    }
}

#[derive(Default)]
struct Inner {
    /// Target → `_id` → source, as stored.
    indices: HashMap<String, HashMap<String, Value>>,
    /// Every create action received for each `_id`, copies included.
    received: HashMap<String, usize>,
    requests: usize,
    conflicts: usize,
    busy_requests_left: usize,
    busy_items_left: usize,
    lose_left: usize,
    templates: Vec<String>,
}

#[derive(Clone)]
struct Shared {
    options: Arc<EsOptions>,
    inner: Arc<Mutex<Inner>>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running simulator (it runs until the runtime ends).
#[derive(Clone)]
pub struct EsSim {
    pub addr: SocketAddr,
    shared: Shared,
}

impl EsSim {
    pub async fn start(options: EsOptions) -> std::io::Result<Self> {
        let shared = Shared {
            inner: Arc::new(Mutex::new(Inner {
                busy_requests_left: options.busy_requests,
                busy_items_left: options.busy_items,
                lose_left: options.lose_replies,
                ..Inner::default()
            })),
            options: Arc::new(options),
        };
        let app = Router::new()
            .route("/", get(root))
            .route("/_bulk", post(bulk_default))
            .route("/{target}/_bulk", post(bulk))
            .route("/_component_template/{name}", put(template))
            .route("/_index_template/{name}", put(template))
            .route("/_security/user/_has_privileges", post(has_privileges))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(EsSim { addr, shared })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The documents stored in `target` (a data stream's name), by `_id`.
    pub fn documents(&self, target: &str) -> HashMap<String, Value> {
        self.shared
            .lock()
            .indices
            .get(target)
            .cloned()
            .unwrap_or_default()
    }

    /// How many create actions came for each `_id`, copies included.
    pub fn received(&self) -> HashMap<String, usize> {
        self.shared.lock().received.clone()
    }

    /// Items answered 409 so far.
    pub fn conflicts(&self) -> usize {
        self.shared.lock().conflicts
    }

    pub fn requests(&self) -> usize {
        self.shared.lock().requests
    }

    /// The templates installed, in order (`_component_template/<n>`, `_index_template/<n>`).
    pub fn templates(&self) -> Vec<String> {
        self.shared.lock().templates.clone()
    }
}

/// `None` when the request carries the API key, else the 401 to answer.
fn refused(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    use base64::Engine;
    let options = &shared.options;
    let mut taken = vec![format!("ApiKey {}", options.api_key)];
    if let Some((user, password)) = &options.basic {
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        taken.push(format!("Basic {pair}"));
    }
    if let Some(token) = &options.bearer {
        taken.push(format!("Bearer {token}"));
    }
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if taken.iter().any(|t| t == given) {
        return None;
    }
    let body = json!({"error": {"root_cause": [{"type": "security_exception", "reason": "unable to authenticate with provided credentials and anonymous access is not allowed for this request"}], "type": "security_exception", "reason": "unable to authenticate with provided credentials and anonymous access is not allowed for this request"}, "status": 401});
    Some(
        (
            StatusCode::UNAUTHORIZED,
            [("www-authenticate", "ApiKey")],
            axum::Json(body),
        )
            .into_response(),
    )
}

async fn root(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(r) = refused(&shared, &headers) {
        return r;
    }
    axum::Json(json!({
        "name": "es-sim", "cluster_name": "coder-audit-shipper-test",
        "version": {"number": "8.17.0", "build_flavor": "default"},
        "tagline": "You Know, for Search"
    }))
    .into_response()
}

async fn template(
    State(shared): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Bytes,
) -> Response {
    if let Some(r) = refused(&shared, &headers) {
        return r;
    }
    if serde_json::from_slice::<Value>(&body).is_err() {
        return (StatusCode::BAD_REQUEST, "not JSON").into_response();
    }
    let kind = uri.path().split('/').nth(1).unwrap_or("").to_owned();
    shared.lock().templates.push(format!("{kind}/{name}"));
    axum::Json(json!({"acknowledged": true})).into_response()
}

async fn has_privileges(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(r) = refused(&shared, &headers) {
        return r;
    }
    let may = shared.options.may_write;
    axum::Json(json!({"username": "es-sim", "has_all_requested": may, "index": {}})).into_response()
}

async fn bulk_default(state: State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    bulk(state, Path(String::new()), headers, body).await
}

fn is_data_stream(target: &str) -> bool {
    target.starts_with("logs-") || target.starts_with("metrics-")
}

fn item_error(kind: &str, reason: String) -> Value {
    json!({"type": kind, "reason": reason})
}

async fn bulk(
    State(shared): State<Shared>,
    Path(default_target): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = refused(&shared, &headers) {
        return r;
    }
    let Some(body) = crate::body::decoded(&headers, &body) else {
        return (StatusCode::BAD_REQUEST, "bad gzip").into_response();
    };
    let bad_request = |reason: &str| {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": {"type": "illegal_argument_exception", "reason": reason}, "status": 400})),
        )
            .into_response()
    };
    if !body.ends_with(b"\n") {
        return bad_request("The bulk request must be terminated by a newline [\\n]");
    }
    let mut inner = shared.lock();
    inner.requests += 1;
    let request_no = inner.requests;
    if inner.busy_requests_left > 0 {
        inner.busy_requests_left -= 1;
        return (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(json!({"error": {"type": "es_rejected_execution_exception", "reason": "rejected execution of coordinating operation"}, "status": 429})),
        )
            .into_response();
    }
    let mut lines = body.split(|b| *b == b'\n').filter(|l| !l.is_empty());
    let mut items = Vec::new();
    let mut errors = false;
    while let Some(action_line) = lines.next() {
        let Ok(action) = serde_json::from_slice::<Value>(action_line) else {
            return bad_request("Malformed action/metadata line");
        };
        let Some((op, meta)) = action.as_object().and_then(|o| o.iter().next()) else {
            return bad_request("Malformed action/metadata line");
        };
        let target = meta["_index"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| default_target.clone());
        let id = meta["_id"].as_str().unwrap_or("").to_owned();
        let Some(source_line) = lines.next() else {
            return bad_request("the bulk request ends without the source of its last action");
        };
        let (status, error) = {
            let source: Option<Value> = serde_json::from_slice(source_line).ok();
            *inner.received.entry(id.clone()).or_default() += 1;
            if inner.busy_items_left > 0 {
                inner.busy_items_left -= 1;
                (
                    429,
                    Some(item_error(
                        "es_rejected_execution_exception",
                        "rejected execution of primary operation".into(),
                    )),
                )
            } else if source.is_none() {
                (
                    400,
                    Some(item_error(
                        "document_parsing_exception",
                        "failed to parse".into(),
                    )),
                )
            } else if is_data_stream(&target) && op != "create" {
                (
                    400,
                    Some(item_error(
                        "illegal_argument_exception",
                        "only write ops with an op_type of create are allowed in data streams"
                            .into(),
                    )),
                )
            } else if is_data_stream(&target)
                && source.as_ref().and_then(|s| s.get("@timestamp")).is_none()
            {
                (400, Some(item_error("document_parsing_exception", "[1:2] failed to parse: data stream timestamp field [@timestamp] is missing".into())))
            } else if shared
                .options
                .reject_marker
                .as_deref()
                .is_some_and(|m| source_line.windows(m.len()).any(|w| w == m.as_bytes()))
            {
                (
                    400,
                    Some(item_error(
                        "document_parsing_exception",
                        "[1:40] failed to parse field [source.ip] of type [ip] in document".into(),
                    )),
                )
            } else {
                let index = inner.indices.entry(target.clone()).or_default();
                if index.contains_key(&id) {
                    inner.conflicts += 1;
                    (
                        409,
                        Some(item_error(
                            "version_conflict_engine_exception",
                            format!(
                                "[{id}]: version conflict, document already exists (current version [1])"
                            ),
                        )),
                    )
                } else {
                    index.insert(id.clone(), source.unwrap_or(Value::Null));
                    (201, None)
                }
            }
        };
        errors |= error.is_some();
        let mut result = json!({"_index": format!(".ds-{target}-2026.12.06-000001"), "_id": id, "status": status});
        match error {
            Some(e) => result["error"] = e,
            None => {
                result["_version"] = json!(1);
                result["result"] = json!("created");
            }
        }
        items.push(json!({ op.clone(): result }));
    }
    if inner.lose_left > 0 && request_no > shared.options.lose_from {
        inner.lose_left -= 1;
        return (StatusCode::BAD_GATEWAY, "upstream timed out").into_response();
    }
    axum::Json(json!({"took": 1, "errors": errors, "items": items})).into_response()
}
