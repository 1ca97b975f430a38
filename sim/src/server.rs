//! The HTTP server, its shared state, and the handle tests use to drive it.

use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::connections::{self, ConnectionStore};
use crate::query;
use crate::store::{Row, Store};
use crate::version::CountMode;
use crate::{ApiVersion, Generator};

/// How the simulator starts.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub version: ApiVersion,
    /// Session tokens that authenticate. Anything else is a 401.
    pub tokens: Vec<String>,
    /// Requests allowed per window per user (a token here) and path (Coder: 512 per
    /// minute); `None` disables it.
    pub rate_limit: Option<(u32, Duration)>,
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            version: ApiVersion::HEAD,
            tokens: vec![Self::DEFAULT_TOKEN.to_owned()],
            rate_limit: Some((512, Duration::from_secs(60))),
            seed: rand::random(),
        }
    }
}

impl SimConfig {
    /// The token `demo` and the tests use: `<10-char id>-<22-char secret>` like Coder's.
    pub const DEFAULT_TOKEN: &'static str = "SimTokenId-s3cretS3cretS3cretS3cr";
}

/// A fault served instead of (or around) a normal audit page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429 with `Retry-After` (seconds), as go-chi/httprate sends it.
    RateLimited { retry_after_secs: u64 },
    /// A 5xx with Coder's error body.
    ServerError(u16),
    /// A 200 whose JSON body stops half-way.
    Truncated,
    /// A 200 with an HTML error page from a proxy instead of JSON.
    Garbage,
    /// Wait this long, then answer normally (for the client's request timeout).
    Hang(Duration),
    /// 401 as for an expired or revoked token.
    Unauthorized,
    /// 403 as the route guard of v2.20+ answers a user without the Auditor role.
    Forbidden,
    /// 404 as a server without the route answers (chi's "Route not found.").
    RouteNotFound,
}

/// Live traffic: rows inserted in the background while the tailer runs.
#[derive(Debug, Clone)]
pub struct LiveTraffic {
    pub rows_per_sec: f64,
    /// Share of rows whose `time` lies in the past (commit lag, replica skew).
    pub late_share: f64,
    /// How far in the past a late row may be.
    pub late_max: Duration,
    /// Share of rows that reuse the previous row's exact `time` (when that row is no older
    /// than `late_max`).
    pub tie_share: f64,
}

#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub audit_requests: u64,
    pub connection_requests: u64,
    pub faults_served: u64,
    pub rate_limited: u64,
}

pub(crate) struct Inner {
    pub(crate) config: SimConfig,
    store: Store,
    generator: Generator,
    faults: VecDeque<Fault>,
    fault_rate: f64,
    inserts_per_page: usize,
    purges_per_page: usize,
    /// Every id ever inserted, with its time: the ground truth for loss assertions.
    inserted: Vec<(String, DateTime<Utc>)>,
    deleted: HashSet<String>,
    pub(crate) tokens: HashSet<String>,
    limiter: std::collections::HashMap<String, VecDeque<Instant>>,
    rng: StdRng,
    stats: Stats,
    last_time: Option<DateTime<Utc>>,
    /// Where each audit request is written as it arrives (see [`SimHandle::log_requests`]).
    request_log: Option<std::fs::File>,
    connections: ConnectionStore,
    /// Every connection row ever inserted, with its connect time.
    connections_inserted: Vec<(String, DateTime<Utc>)>,
    /// Connection rows deleted right after a connection-log page is served whose `q`
    /// contains the text and whose offset is the number (see
    /// [`SimHandle::delete_connections_after_page`]).
    connection_deletes_after_page: Option<(String, usize, Vec<String>)>,
    /// The Premium `connection_log` feature; without it the route answers 403.
    connection_log_licensed: bool,
    /// The token's user may read the connection log (see [`crate::authcheck`]).
    pub(crate) connection_log_permitted: bool,
    /// Connection rows inserted between pages get a `connect_time` up to this far in the
    /// past (see [`SimHandle::set_connection_lateness`]).
    connection_lateness: Option<Duration>,
    /// Every request is answered 307 to this origin (see [`SimHandle::set_redirect`]).
    pub(crate) redirect_to: Option<String>,
    /// When every token expires (`GET /api/v2/users/me/keys/{id}`).
    pub(crate) token_expires_at: DateTime<Utc>,
    /// Audit pages of more than this many rows are answered this much later
    /// (see [`SimHandle::set_slow_pages`]).
    slow_pages: Option<(usize, Duration)>,
    /// What the ids of the entries name (see [`crate::directory`]).
    pub(crate) directory: crate::directory::Directory,
}

/// A running simulator. Cheap to clone; every clone drives the same server.
#[derive(Clone)]
pub struct SimHandle {
    inner: Arc<Mutex<Inner>>,
    addr: SocketAddr,
}

/// Entry point: `Sim::start(config).await?` binds 127.0.0.1 on a free port.
pub struct Sim;

impl Sim {
    pub async fn start(config: SimConfig) -> std::io::Result<SimHandle> {
        Self::start_on(config, "127.0.0.1:0".parse().expect("literal address")).await
    }

    pub async fn start_on(config: SimConfig, addr: SocketAddr) -> std::io::Result<SimHandle> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let inner = Inner {
            generator: Generator::new(config.version),
            tokens: config.tokens.iter().cloned().collect(),
            rng: StdRng::seed_from_u64(config.seed),
            config,
            store: Store::default(),
            faults: VecDeque::new(),
            fault_rate: 0.0,
            inserts_per_page: 0,
            purges_per_page: 0,
            inserted: Vec::new(),
            deleted: HashSet::new(),
            limiter: Default::default(),
            stats: Stats::default(),
            last_time: None,
            request_log: None,
            connections: ConnectionStore::default(),
            connections_inserted: Vec::new(),
            connection_deletes_after_page: None,
            connection_log_licensed: true,
            connection_log_permitted: true,
            connection_lateness: None,
            slow_pages: None,
            redirect_to: None,
            token_expires_at: Utc::now() + TimeDelta::days(365),
            directory: crate::directory::Directory::default(),
        };
        let handle = SimHandle {
            inner: Arc::new(Mutex::new(inner)),
            addr,
        };
        let app = Router::new()
            .route("/api/v2/buildinfo", get(buildinfo))
            .route("/api/v2/audit", get(audit))
            .route("/api/v2/audit/testgenerate", post(testgenerate))
            .route("/api/v2/connectionlog", get(connection_log))
            .route("/api/v2/entitlements", get(entitlements))
            .route("/api/v2/authcheck", post(crate::authcheck::authcheck))
            .route("/api/v2/users/me/keys/{keyid}", get(crate::keys::api_key))
            .route(
                "/api/v2/workspaces/{id}",
                get(crate::directory::workspace_route),
            )
            .route(
                "/api/v2/templates/{id}",
                get(crate::directory::template_route),
            )
            .route(
                "/api/v2/organizations/{id}",
                get(crate::directory::organization_route),
            )
            .route("/api/v2/users/{id}", get(crate::directory::user_route))
            .route("/__sim/ids", get(sim_ids))
            .fallback(not_found)
            .layer(axum::middleware::from_fn_with_state(
                handle.clone(),
                crate::redirect::redirect,
            ))
            .with_state(handle.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("coder-sim server stopped: {e}");
            }
        });
        Ok(handle)
    }
}

impl SimHandle {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock is a bug in the simulator itself; keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Insert one generated entry at `time`; returns its id.
    pub fn insert_at(&self, time: DateTime<Utc>) -> String {
        self.lock().insert_generated(time)
    }

    /// Insert an entry verbatim (e.g. from a sample page). Returns false if it has no
    /// parseable `time`, which Coder can never produce.
    pub fn insert_entry(&self, entry: &Value) -> bool {
        match Row::from_entry(entry) {
            Some(row) => {
                self.lock().insert_row(row);
                true
            }
            None => false,
        }
    }

    /// `n` rows spread evenly over `[end - span, end]`, with a few ties and a row at
    /// 23:59:59.5 of every day the span crosses: the traps a backlog must survive.
    /// Returns how many rows that made, `n` plus the day edges, which a test that counts
    /// must use rather than `n`: an hour ending just past midnight holds one edge.
    pub fn backlog(&self, n: usize, span: Duration, end: DateTime<Utc>) -> usize {
        let span = TimeDelta::from_std(span).unwrap_or(TimeDelta::days(1));
        let start = end - span;
        let mut inner = self.lock();
        let step = span.num_microseconds().unwrap_or(i64::MAX) / (n.max(1) as i64);
        let mut t = start;
        for i in 0..n {
            if i % 50 != 7 {
                t = start + TimeDelta::microseconds(step.saturating_mul(i as i64));
            }
            inner.insert_generated(t);
        }
        let mut inserted = n;
        let mut day = start.duration_trunc(TimeDelta::days(1)).unwrap_or(start);
        while day < end {
            let edge = day + TimeDelta::days(1) - TimeDelta::milliseconds(500);
            if edge >= start && edge <= end {
                inner.insert_generated(edge);
                inserted += 1;
            }
            day += TimeDelta::days(1);
        }
        inserted
    }

    /// Serve `fault` to the next audit request (faults queue up in order).
    pub fn push_fault(&self, fault: Fault) {
        self.lock().faults.push_back(fault);
    }

    /// Serve a random fault (429, 500, 502, truncated, garbage) to this share of requests.
    pub fn set_fault_rate(&self, rate: f64) {
        self.lock().fault_rate = rate.clamp(0.0, 1.0);
    }

    /// Append one line per audit request to `file` from now on: the Unix time of its
    /// arrival in nanoseconds, a space, and its path and query. The benchmark replays the
    /// lines to time the simulator alone, and reads the first one's time for the shipper's
    /// start-up to first poll.
    pub fn log_requests(&self, file: std::fs::File) {
        self.lock().request_log = Some(file);
    }

    /// Insert this many new rows (time = now) right after each page of either log is
    /// served (audit rows after an audit page, web connections after a connection-log
    /// page), shifting every offset the tailer has not read yet: Coder writes between any
    /// two requests.
    pub fn set_inserts_per_page(&self, n: usize) {
        self.lock().inserts_per_page = n;
    }

    /// Connection rows inserted between pages (`set_inserts_per_page`) carry a
    /// `connect_time` a random amount up to `max` in the past, as Coder's do: the agent
    /// stamps it with its own clock, which may run slow, and holds reports while coderd is
    /// out of reach, sending them when the link is back (issue #18's reading of
    /// `agent/agentconnectionlog`; not verified here).
    /// Answer an audit page of more than `rows` rows `delay` late: Coder's time to build a
    /// page grows with what its rows hold (a diff can carry a template's README) and it
    /// has no maximum `limit`, so a large enough page times out every time (issue #18).
    pub fn set_slow_pages(&self, slow: Option<(usize, Duration)>) {
        self.lock().slow_pages = slow;
    }

    /// Answer every request with `307 Temporary Redirect` to the same path at `origin`
    /// (`http://host:port`): a moved domain, a proxy's https upgrade gone wrong, or anyone
    /// on an `http://` path. `None` serves again.
    pub fn set_redirect(&self, origin: Option<String>) {
        self.lock().redirect_to = origin;
    }

    /// When the tokens expire, as `GET /api/v2/users/me/keys/{id}` says (a year from the
    /// start by default). Expiry itself is not enforced: revoke a token for a 401.
    pub fn set_token_expiry(&self, at: DateTime<Utc>) {
        self.lock().token_expires_at = at;
    }

    pub fn set_connection_lateness(&self, max: Option<Duration>) {
        self.lock().connection_lateness = max;
    }

    /// Delete this many random rows right after each audit page is served, pulling every
    /// unread row up under the tailer.
    pub fn set_purges_per_page(&self, n: usize) {
        self.lock().purges_per_page = n;
    }

    pub fn revoke_all_tokens(&self) {
        self.lock().tokens.clear();
    }

    pub fn add_token(&self, token: &str) {
        self.lock().tokens.insert(token.to_owned());
    }

    /// Retention: delete rows older than `cutoff`.
    pub fn delete_older_than(&self, cutoff: DateTime<Utc>) -> usize {
        let mut inner = self.lock();
        let gone = inner.store.delete_older_than(cutoff);
        let n = gone.len();
        inner.deleted.extend(gone);
        n
    }

    /// Delete `n` random rows from anywhere in the table, as Coder's purge of old
    /// connection events does: rows below them move *up* under a reader.
    pub fn purge_random(&self, n: usize) -> usize {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let len = inner.store.len();
        if len == 0 || n == 0 {
            return 0;
        }
        let mut doomed = HashSet::new();
        for _ in 0..n.min(len) {
            let i = inner.rng.random_range(0..len);
            doomed.insert(inner.store.rows()[i].id.clone());
        }
        let gone = inner.store.delete_where(|r| doomed.contains(&r.id));
        let count = gone.len();
        inner.deleted.extend(gone);
        count
    }

    /// Every id inserted so far, with its time.
    pub fn inserted(&self) -> Vec<(String, DateTime<Utc>)> {
        self.lock().inserted.clone()
    }

    /// Every audit entry the store holds now, as served (for a test's own oracle).
    pub fn entries(&self) -> Vec<serde_json::Value> {
        self.lock()
            .store
            .rows()
            .iter()
            .filter_map(|r| serde_json::from_str(&r.json).ok())
            .collect()
    }

    pub fn deleted(&self) -> HashSet<String> {
        self.lock().deleted.clone()
    }

    /// Whether the token's user may read workspaces (`authcheck`, and the workspace
    /// look-ups); by default not, as for the Auditor role.
    pub fn set_workspaces_readable(&self, readable: bool) {
        self.lock().directory.workspaces_readable = readable;
    }

    /// Answer look-ups of `id` with 404 from now on, as for a deleted resource.
    pub fn delete_resource(&self, id: &str) {
        self.lock().directory.deleted.insert(id.to_owned());
    }

    /// Answer the next look-up with `fault` instead (403, 429, 5xx, a hang).
    pub fn push_lookup_fault(&self, fault: Fault) {
        self.lock().directory.faults.push_back(fault);
    }

    /// Look-up requests served so far, by collection (`workspaces`, `templates`, …).
    pub fn lookup_requests(&self) -> std::collections::BTreeMap<String, u64> {
        self.lock().directory.requests.clone()
    }

    pub fn stats(&self) -> Stats {
        self.lock().stats.clone()
    }

    pub fn row_count(&self) -> usize {
        self.lock().store.len()
    }

    /// Open a session (an ssh-like connection-log row, `ongoing`) at `time`; returns its id.
    pub fn open_session(&self, time: DateTime<Utc>) -> String {
        self.lock().insert_connection(time, true)
    }

    /// Open a session at `time` that reuses `connection_id` on agent `agent`: Coder keys
    /// rows by `(connection_id, workspace_id, agent_name)`, so one connection id can name
    /// several rows, and a `connection_id:` search returns them all. Returns the row's id.
    pub fn open_session_with_connection_id(
        &self,
        time: DateTime<Utc>,
        connection_id: &str,
        agent: &str,
    ) -> String {
        let mut inner = self.lock();
        let id = inner.insert_connection(time, true);
        inner
            .connections
            .reuse_connection_id(&id, connection_id, agent);
        id
    }

    /// Insert a web connection (app, port forward, tunnel) at `time`; returns its id.
    pub fn insert_web_connection(&self, time: DateTime<Utc>) -> String {
        self.lock().insert_connection(time, false)
    }

    /// Insert a connection-log row as given (a scenario's, [`crate::scenario`]).
    pub fn insert_connection_row(&self, row: crate::connections::ConnectionRow) {
        let mut inner = self.lock();
        inner
            .connections_inserted
            .push((row.id.clone(), row.connect_time));
        inner.connections.insert(row);
    }

    /// End session `id` at `at`, as the agent's disconnect report updates its row. False
    /// when there is no such open session.
    pub fn close_session(&self, id: &str, at: DateTime<Utc>) -> bool {
        let mut inner = self.lock();
        let (reason, code) = connections::reason(&mut inner.rng);
        inner.connections.close(id, at, reason, code)
    }

    /// A session whose disconnect report reached coderd before its connect (one agent's
    /// batch, out of order): the row is written at `disconnected_at` as both its connect
    /// and its disconnect. Returns its id; [`Self::late_connect`] brings the connect.
    pub fn disconnect_before_connect(&self, disconnected_at: DateTime<Utc>) -> String {
        let mut inner = self.lock();
        let id = inner.insert_connection(disconnected_at, true);
        let (reason, code) = connections::reason(&mut inner.rng);
        inner.connections.close(&id, disconnected_at, reason, code);
        id
    }

    /// The connect report of [`Self::disconnect_before_connect`]'s session: its
    /// `connect_time` moves earlier, to `connected_at`.
    pub fn late_connect(&self, id: &str, connected_at: DateTime<Utc>) -> bool {
        self.lock()
            .connections
            .connect_after_disconnect(id, connected_at)
    }

    /// `n` connections spread over `[end - span, end]`: web connections and sessions, most
    /// of them ended a few minutes after they opened, `open` of them still going.
    pub fn connection_backlog(&self, n: usize, open: usize, span: Duration, end: DateTime<Utc>) {
        let span = TimeDelta::from_std(span).unwrap_or(TimeDelta::days(1));
        let start = end - span;
        let step = span.num_microseconds().unwrap_or(i64::MAX) / (n.max(1) as i64);
        let mut inner = self.lock();
        for i in 0..n {
            let t = start + TimeDelta::microseconds(step.saturating_mul(i as i64));
            let session = i % 2 == 0 || n - i <= open;
            let id = inner.insert_connection(t, session);
            if session && n - i > open {
                let lasted = TimeDelta::seconds(inner.rng.random_range(1..600));
                let (reason, code) = connections::reason(&mut inner.rng);
                inner
                    .connections
                    .close(&id, (t + lasted).min(end), reason, code);
            }
        }
    }

    /// Retention of the connection log: delete rows connected before `cutoff`.
    pub fn delete_connections_older_than(&self, cutoff: DateTime<Utc>) -> usize {
        self.lock().connections.delete_older_than(cutoff).len()
    }

    /// Delete these connection rows right after serving the first connection-log page
    /// whose `q` contains `query` at `offset`: a purge between two requests of one paged
    /// search, pulling every later row up under the reader.
    pub fn delete_connections_after_page(&self, query: &str, offset: usize, ids: &[String]) {
        self.lock().connection_deletes_after_page =
            Some((query.to_lowercase(), offset, ids.to_vec()));
    }

    /// Grant or take away the Premium connection-log feature (403 without it).
    /// Give or take the token's user the permission to read the connection log (the
    /// Auditor role). Without it `/api/v2/connectionlog` answers 200 with no rows, as
    /// Coder does, and `/api/v2/authcheck` says false.
    pub fn set_connection_log_permitted(&self, permitted: bool) {
        self.lock().connection_log_permitted = permitted;
    }

    pub fn set_connection_log_licensed(&self, licensed: bool) {
        self.lock().connection_log_licensed = licensed;
    }

    /// Every connection row inserted so far, with its connect time.
    pub fn connections_inserted(&self) -> Vec<(String, DateTime<Utc>)> {
        self.lock().connections_inserted.clone()
    }

    /// The ids of the sessions that have ended.
    pub fn closed_sessions(&self) -> HashSet<String> {
        self.lock()
            .connections
            .rows()
            .iter()
            .filter(|r| r.closed)
            .map(|r| r.id.clone())
            .collect()
    }

    /// Open and close sessions, and insert web connections, in the background until the
    /// returned task is aborted: `per_sec` new connections, each session ending after
    /// up to `session_max`.
    pub fn spawn_live_connections(
        &self,
        per_sec: f64,
        session_max: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let handle = self.clone();
        tokio::spawn(async move {
            let tick = Duration::from_millis(100);
            let mut owed = 0.0;
            let mut open: Vec<(String, Instant, Duration)> = Vec::new();
            let mut interval = tokio::time::interval(tick);
            loop {
                interval.tick().await;
                owed += per_sec * tick.as_secs_f64();
                let mut inner = handle.lock();
                while owed >= 1.0 {
                    owed -= 1.0;
                    let session = inner.rng.random_bool(0.5);
                    let id = inner.insert_connection(Utc::now(), session);
                    if session {
                        let max = session_max.as_millis().max(1) as u64;
                        let lasts = Duration::from_millis(inner.rng.random_range(0..max));
                        open.push((id, Instant::now(), lasts));
                    }
                }
                let now = Instant::now();
                let mut i = 0;
                while i < open.len() {
                    if now.duration_since(open[i].1) >= open[i].2 {
                        let (id, _, _) = open.swap_remove(i);
                        let (reason, code) = connections::reason(&mut inner.rng);
                        inner.connections.close(&id, Utc::now(), reason, code);
                    } else {
                        i += 1;
                    }
                }
            }
        })
    }

    /// Start inserting rows in the background until the returned task is aborted.
    pub fn spawn_live(&self, live: LiveTraffic) -> tokio::task::JoinHandle<()> {
        let handle = self.clone();
        tokio::spawn(async move {
            let tick = Duration::from_millis(50);
            let mut owed = 0.0;
            let mut interval = tokio::time::interval(tick);
            loop {
                interval.tick().await;
                owed += live.rows_per_sec * tick.as_secs_f64();
                let mut inner = handle.lock();
                while owed >= 1.0 {
                    owed -= 1.0;
                    let now = Utc::now();
                    // A tie repeats the previous row's time, if that row is recent: the
                    // first live row must not tie with a backlog row minutes old, which
                    // would be a row later than any overlap (and than Coder produces).
                    let recent = inner.last_time.filter(|t| {
                        now.signed_duration_since(*t)
                            .to_std()
                            .is_ok_and(|age| age <= live.late_max)
                    });
                    let time = if let Some(previous) = recent
                        && inner.rng.random_bool(live.tie_share)
                    {
                        previous
                    } else if inner.rng.random_bool(live.late_share) {
                        let max = live.late_max.as_micros() as i64;
                        now - TimeDelta::microseconds(inner.rng.random_range(0..=max.max(1)))
                    } else {
                        now
                    };
                    inner.insert_generated(time);
                }
            }
        })
    }
}

impl Inner {
    fn insert_generated(&mut self, time: DateTime<Utc>) -> String {
        // Postgres keeps µs.
        let time = time
            .duration_trunc(TimeDelta::microseconds(1))
            .unwrap_or(time);
        let id = uuid::Uuid::new_v4().to_string();
        let entry = self.generator.entry(&id, time, &mut self.rng);
        if let Some(row) = Row::from_entry(&entry) {
            self.insert_row(row);
        }
        id
    }

    fn insert_connection(&mut self, time: DateTime<Utc>, session: bool) -> String {
        let time = time
            .duration_trunc(TimeDelta::microseconds(1))
            .unwrap_or(time);
        let id = uuid::Uuid::new_v4().to_string();
        let row = connections::row(self.config.version, &id, time, session, &mut self.rng);
        self.connections_inserted.push((id.clone(), time));
        self.connections.insert(row);
        id
    }

    fn insert_row(&mut self, row: Row) {
        self.inserted.push((row.id.clone(), row.time));
        self.last_time = Some(row.time);
        self.store.insert(row);
    }

    /// go-chi/httprate: a sliding window per key; `Retry-After` is the window in seconds.
    /// Coder keys it by user id and endpoint path (`coderd/httpmw/ratelimit.go`,
    /// `RateLimit`: `httprate.KeyByEndpoint` with the user), so the audit log and the
    /// connection log are two buckets for one user.
    fn rate_limited(&mut self, key: &str) -> Option<(u32, Duration)> {
        let (limit, window) = self.config.rate_limit?;
        let now = Instant::now();
        let hits = self.limiter.entry(key.to_owned()).or_default();
        while hits
            .front()
            .is_some_and(|t| now.duration_since(*t) > window)
        {
            hits.pop_front();
        }
        if hits.len() >= limit as usize {
            return Some((limit, window));
        }
        hits.push_back(now);
        None
    }

    /// The 429 for `key` when its bucket is full, counted.
    pub(crate) fn limited(&mut self, key: &str) -> Option<Response> {
        let (limit, window) = self.rate_limited(key)?;
        self.stats.rate_limited += 1;
        Some(rate_limited_response(limit, window.as_secs().max(1)))
    }

    fn random_fault(&mut self) -> Option<Fault> {
        if self.fault_rate <= 0.0 || !self.rng.random_bool(self.fault_rate) {
            return None;
        }
        Some(match self.rng.random_range(0..5) {
            0 => Fault::RateLimited {
                retry_after_secs: 1,
            },
            1 => Fault::ServerError(500),
            2 => Fault::ServerError(502),
            3 => Fault::Truncated,
            _ => Fault::Garbage,
        })
    }
}

fn coder_error(status: StatusCode, message: &str, detail: Option<&str>) -> Response {
    let mut body = json!({ "message": message });
    if let Some(d) = detail {
        body["detail"] = json!(d);
    }
    (status, axum::Json(body)).into_response()
}

/// `APITokenFromRequest`: cookie, query, `Coder-Session-Token`, then (v2.25+) Bearer.
pub(crate) fn token_from(
    headers: &HeaderMap,
    params: &AuditParams,
    version: ApiVersion,
) -> Option<String> {
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| kv.trim().strip_prefix("coder_session_token="))
        .map(str::to_owned);
    cookie
        .or_else(|| params.coder_session_token.clone())
        .or_else(|| {
            headers
                .get("Coder-Session-Token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .or_else(|| {
            version
                .accepts_bearer()
                .then(|| {
                    headers
                        .get(header::AUTHORIZATION)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.strip_prefix("Bearer "))
                        .map(str::to_owned)
                })
                .flatten()
        })
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct AuditParams {
    q: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
    after_id: Option<String>,
    coder_session_token: Option<String>,
}

async fn buildinfo(State(sim): State<SimHandle>) -> Response {
    let version = sim.lock().config.version;
    axum::Json(json!({
        "external_url": "https://github.com/coder/coder",
        "version": version.version_string(),
        "dashboard_url": sim.url(),
        "telemetry": false,
        "workspace_proxy": false,
        "agent_api_version": "2.0",
        "provisioner_api_version": "1.0",
        "upgrade_message": "",
        "deployment_id": "sim"
    }))
    .into_response()
}

async fn entitlements(State(sim): State<SimHandle>, headers: HeaderMap) -> Response {
    let version = sim.lock().config.version;
    let token = token_from(&headers, &AuditParams::default(), version);
    if !token.is_some_and(|t| sim.lock().tokens.contains(&t)) {
        return unauthorized();
    }
    axum::Json(json!({
        "features": {"audit_log": {"entitlement": "entitled", "enabled": true}},
        "warnings": [], "errors": [], "has_license": true, "trial": false
    }))
    .into_response()
}

pub(crate) fn unauthorized() -> Response {
    coder_error(
        StatusCode::UNAUTHORIZED,
        "You are signed out or your session has expired. Please sign in again to continue.",
        None,
    )
}

fn parse_page_param(name: &str, value: Option<&str>) -> Result<usize, Box<Response>> {
    match value {
        None | Some("") => Ok(0),
        Some(v) => v
            .parse::<i32>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| n as usize)
            .ok_or_else(|| {
                // `coderd/pagination.go`, `parsePagination`: the parser's errors as
                // validations under one message.
                Box::new(
                    (
                        StatusCode::BAD_REQUEST,
                        axum::Json(json!({
                            "message": "Query parameters have invalid values.",
                            "validations": [{
                                "field": name,
                                "detail": format!(
                                    "Query param {name:?} must be a valid 32-bit positive integer."
                                ),
                            }],
                        })),
                    )
                        .into_response(),
                )
            }),
    }
}

/// What every list request goes through first: the request log, the token, the rate
/// limiter, then a queued or random fault. `Err` is the answer to send instead.
fn admit(
    sim: &SimHandle,
    headers: &HeaderMap,
    uri: &Uri,
    params: &AuditParams,
    connection_log: bool,
) -> Result<(ApiVersion, Option<Fault>), Box<Response>> {
    let mut inner = sim.lock();
    if connection_log {
        inner.stats.connection_requests += 1;
    } else {
        inner.stats.audit_requests += 1;
    }
    if let Some(log) = &mut inner.request_log {
        let now = Utc::now().timestamp_nanos_opt().unwrap_or(0);
        // A benchmark aid: a failed write only leaves the log short.
        let _ = writeln!(log, "{now} {uri}");
    }
    let version = inner.config.version;
    let token = token_from(headers, params, version);
    let Some(token) = token.filter(|t| inner.tokens.contains(t)) else {
        return Err(Box::new(unauthorized()));
    };
    if let Some((limit, window)) = inner.rate_limited(&format!("{token} {}", uri.path())) {
        inner.stats.rate_limited += 1;
        return Err(Box::new(rate_limited_response(
            limit,
            window.as_secs().max(1),
        )));
    }
    let fault = inner.faults.pop_front().or_else(|| inner.random_fault());
    if fault.is_some() {
        inner.stats.faults_served += 1;
    }
    Ok((version, fault))
}

/// The answer a fault replaces the page with, if it does (a hang answers late, a
/// truncation cuts the page).
pub(crate) async fn fault_response(fault: Option<&Fault>) -> Option<Response> {
    match fault? {
        Fault::RateLimited { retry_after_secs } => {
            Some(rate_limited_response(512, *retry_after_secs))
        }
        Fault::ServerError(code) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Some(coder_error(
                status,
                "An internal server error occurred.",
                Some("simulated"),
            ))
        }
        Fault::Unauthorized => Some(unauthorized()),
        Fault::Forbidden => Some(coder_error(
            StatusCode::FORBIDDEN,
            "Forbidden.",
            Some(
                "You don't have permission to view this content. If you believe this is a mistake, please contact your administrator or try signing in with different credentials.",
            ),
        )),
        Fault::RouteNotFound => Some(coder_error(StatusCode::NOT_FOUND, "Route not found.", None)),
        Fault::Garbage => Some(
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/html")],
                "<html><body><h1>502 Bad Gateway</h1></body></html>",
            )
                .into_response(),
        ),
        Fault::Hang(d) => {
            tokio::time::sleep(*d).await;
            None
        }
        Fault::Truncated => None,
    }
}

/// Cut a body half-way, as a dropped connection does.
fn truncate_body(mut body: String) -> String {
    let mut cut = body.len() / 2;
    while !body.is_char_boundary(cut) {
        cut -= 1;
    }
    body.truncate(cut);
    body
}

/// `limit` and `offset` as Coder parses them, with v2.13's default limit of 100.
fn page_bounds(params: &AuditParams, version: ApiVersion) -> Result<(usize, usize), Box<Response>> {
    let limit = parse_page_param("limit", params.limit.as_deref())?;
    let offset = parse_page_param("offset", params.offset.as_deref())?;
    // v2.13+: LIMIT COALESCE(NULLIF(limit, 0), 100). Before: LIMIT $1, so 0 rows.
    let limit = if limit == 0 && version.defaults_limit() {
        100
    } else {
        limit
    };
    Ok((limit, offset))
}

/// `count` (and `count_cap`) as `version` computes them.
fn count_fields(version: ApiVersion, total: usize, empty: bool) -> String {
    match version.count_mode() {
        CountMode::ZeroOnEmptyPage if empty => ",\"count\":0".to_owned(),
        CountMode::ZeroOnEmptyPage | CountMode::Exact => format!(",\"count\":{total}"),
        CountMode::Capped(cap) => format!(
            ",\"count\":{},\"count_cap\":{cap}",
            total.min(cap as usize + 1)
        ),
    }
}

/// `GET /api/v2/connectionlog` (v2.25+, Premium).
async fn connection_log(
    State(sim): State<SimHandle>,
    headers: HeaderMap,
    uri: Uri,
    Query(params): Query<AuditParams>,
) -> Response {
    if sim.lock().config.version.minor < 25 {
        return not_found().await;
    }
    let (version, fault) = match admit(&sim, &headers, &uri, &params, true) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    if !sim.lock().connection_log_licensed {
        return coder_error(
            StatusCode::FORBIDDEN,
            "Connection Log is a Premium feature. Contact sales!",
            None,
        );
    }
    if let Some(r) = fault_response(fault.as_ref()).await {
        return r;
    }
    let (limit, offset) = match page_bounds(&params, version) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    // Coder counts and reads the log through authorization-filtered queries and answers
    // 403 only for an authorization *error*: a reader without the permission sees an empty
    // log (`enterprise/coderd/connectionlog.go`, `connectionLogs`: count 0 → empty 200).
    if !sim.lock().connection_log_permitted {
        return axum::Json(json!({"connection_logs": [], "count": 0, "count_cap": 2000}))
            .into_response();
    }
    let filter = match connections::parse_query(params.q.as_deref().unwrap_or("")) {
        Ok(f) => f,
        Err(e) => {
            return invalid_query("connection", &e);
        }
    };
    let body = {
        let mut guard = sim.lock();
        let inner = &mut *guard;
        let (entries, total) = inner
            .connections
            .query(&filter, offset, limit, &mut inner.rng);
        let body = format!(
            "{{\"connection_logs\":[{}]{}}}",
            entries.join(","),
            count_fields(version, total, entries.is_empty())
        );
        for _ in 0..inner.inserts_per_page {
            let late = inner.connection_lateness.map_or(TimeDelta::zero(), |max| {
                let ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX).max(1);
                TimeDelta::milliseconds(i64::try_from(inner.rng.random_range(0..ms)).unwrap_or(0))
            });
            // Late reports are of sessions too (only then: other tests count on web rows).
            let session = inner.connection_lateness.is_some() && inner.rng.random_bool(0.3);
            inner.insert_connection(Utc::now() - late, session);
        }
        let q = params.q.as_deref().unwrap_or("").to_lowercase();
        if let Some((_, _, doomed)) = inner
            .connection_deletes_after_page
            .take_if(|(text, at, _)| q.contains(text.as_str()) && *at == offset)
        {
            inner.connections.delete_ids(&doomed);
        }
        body
    };
    let body = if fault == Some(Fault::Truncated) {
        truncate_body(body)
    } else {
        body
    };
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn audit(
    State(sim): State<SimHandle>,
    headers: HeaderMap,
    uri: Uri,
    Query(params): Query<AuditParams>,
) -> Response {
    let (version, fault) = match admit(&sim, &headers, &uri, &params, false) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    if let Some(r) = fault_response(fault.as_ref()).await {
        return r;
    }
    if let Some(after_id) = params.after_id.as_deref()
        && uuid::Uuid::parse_str(after_id).is_err()
    {
        return coder_error(
            StatusCode::BAD_REQUEST,
            "Query param \"after_id\" must be a valid uuid.",
            None,
        );
    }
    let (limit, offset) = match page_bounds(&params, version) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let filter = match query::parse(params.q.as_deref().unwrap_or("")) {
        Ok(f) => f,
        Err(e) => {
            return invalid_query("audit", &e);
        }
    };
    let slow;
    let mut body = {
        let mut guard = sim.lock();
        let inner = &mut *guard;
        let page = inner.store.query(&filter, offset, limit, &mut inner.rng);
        slow = inner
            .slow_pages
            .filter(|(rows, _)| page.entries.len() > *rows)
            .map(|(_, delay)| delay);
        let mut body =
            String::with_capacity(page.entries.iter().map(|e| e.len() + 1).sum::<usize>() + 64);
        body.push_str("{\"audit_logs\":[");
        for (i, e) in page.entries.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(e);
        }
        body.push(']');
        body.push_str(&count_fields(version, page.total, page.entries.is_empty()));
        body.push('}');
        for _ in 0..inner.inserts_per_page {
            inner.insert_generated(Utc::now());
        }
        let purges = inner.purges_per_page;
        drop(guard);
        sim.purge_random(purges);
        body
    };
    if fault == Some(Fault::Truncated) {
        body = truncate_body(body);
    }
    if let Some(delay) = slow {
        tokio::time::sleep(delay).await;
    }
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// 400 for a search Coder cannot parse, naming the field as Coder's validations do.
fn invalid_query(log: &str, e: &query::QueryError) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({
            "message": format!("Invalid {log} search query."),
            "validations": [{"field": e.field, "detail": e.detail}]
        })),
    )
        .into_response()
}

fn rate_limited_response(limit: u32, retry_after_secs: u64) -> Response {
    let mut r = coder_error(
        StatusCode::TOO_MANY_REQUESTS,
        &format!("You've been rate limited for sending more than {limit} requests in 1m0s."),
        None,
    );
    let h = r.headers_mut();
    h.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    h.insert("X-RateLimit-Limit", HeaderValue::from(limit));
    h.insert("X-RateLimit-Remaining", HeaderValue::from(0));
    r
}

#[derive(Debug, Deserialize)]
struct TestGenerate {
    time: Option<DateTime<Utc>>,
    action: Option<String>,
    resource_type: Option<String>,
}

/// `POST /api/v2/audit/testgenerate`: insert a row with an arbitrary time (owner only).
async fn testgenerate(
    State(sim): State<SimHandle>,
    headers: HeaderMap,
    axum::Json(req): axum::Json<TestGenerate>,
) -> Response {
    let mut inner = sim.lock();
    let token = token_from(&headers, &AuditParams::default(), inner.config.version);
    if !token.is_some_and(|t| inner.tokens.contains(&t)) {
        return unauthorized();
    }
    let time = req.time.unwrap_or_else(Utc::now);
    let id = uuid::Uuid::new_v4().to_string();
    let mut entry = inner.generator.entry(&id, time, &mut rand::rng());
    if let Some(a) = req.action {
        entry["action"] = json!(a);
    }
    if let Some(r) = req.resource_type {
        entry["resource_type"] = json!(r);
    }
    if let Some(row) = Row::from_entry(&entry) {
        inner.insert_row(row);
    }
    StatusCode::NO_CONTENT.into_response()
}

/// Ground truth for tests that run the simulator in another process.
async fn sim_ids(State(sim): State<SimHandle>) -> Response {
    let inner = sim.lock();
    let inserted: Vec<Value> = inner
        .inserted
        .iter()
        .map(|(id, t)| json!({"id": id, "time": Generator::format_time(*t)}))
        .collect();
    axum::Json(json!({"inserted": inserted, "deleted": inner.deleted.iter().collect::<Vec<_>>()}))
        .into_response()
}

async fn not_found() -> Response {
    coder_error(StatusCode::NOT_FOUND, "Route not found.", None)
}
