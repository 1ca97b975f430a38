//! The HTTP listener of `[server] listen`: `/metrics` (Prometheus text format),
//! `/healthz` (the process answers: for a liveness probe) and `/readyz` (every stream is
//! running, not failing, and scanned Coder within `ready_staleness`: for a readiness probe
//! and for alerting; the body says which stream is not). It binds before the streams
//! start, so a port in use stops the shipper at once instead of leaving it unobserved.
//!
//! The port is reachable by whatever the network allows (in Kubernetes, the NetworkPolicy
//! admits the monitoring namespace only), and a client that holds connections open must not
//! stall the process: each connection gets [`HEADER_READ_TIMEOUT`] to send its request
//! headers and [`CONNECTION_LIFETIME`] in all, and at most [`MAX_CONNECTIONS`] are served at
//! once (more are closed at once, counted). A scrape takes milliseconds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// A client must send its request headers within this long, on every request.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection is closed after this long, however busy.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// Connections served at once; more are closed as they arrive.
pub const MAX_CONNECTIONS: usize = 128;

/// What the endpoints report: the pipeline's streams (`pipeline::Streams`), passed in so
/// that operations never reach into the pipeline.
pub trait Status: Send + Sync + 'static {
    /// The Prometheus exposition, every stream's counters copied in, its readiness judged
    /// with `staleness` as `/readyz` judges it.
    fn metrics(&self, staleness: Duration) -> String;
    /// Ready, or why not, one reason per stream.
    fn readiness(&self, staleness: Duration) -> Readiness;
}

/// What `/readyz` says: ready when there are no problems; the notes (how each sink reads
/// Coder, when a stream has several) follow either way.
#[derive(Debug, Default)]
pub struct Readiness {
    pub problems: Vec<String>,
    pub notes: Vec<String>,
}

/// A bound listener, not yet serving.
pub struct Server {
    listener: TcpListener,
    streams: Arc<dyn Status>,
    staleness: Duration,
}

impl Server {
    pub async fn bind(
        addr: SocketAddr,
        streams: Arc<dyn Status>,
        staleness: Duration,
    ) -> std::io::Result<Self> {
        super::metrics::install();
        let listener = TcpListener::bind(addr).await?;
        Ok(Self {
            listener,
            streams,
            staleness,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serve until `shutdown` turns true.
    pub async fn serve(self, mut shutdown: watch::Receiver<bool>) -> std::io::Result<()> {
        let streams = self.streams;
        let (ready, staleness) = (streams.clone(), self.staleness);
        let app = Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
            .route(
                "/readyz",
                get(move || {
                    let ready = ready.clone();
                    async move {
                        let Readiness { problems, notes } = ready.readiness(staleness);
                        let notes: String = if notes.is_empty() {
                            String::new()
                        } else {
                            let lines: String = notes.iter().map(|n| format!("{n}\n")).collect();
                            format!("\nreading Coder:\n{lines}")
                        };
                        if problems.is_empty() {
                            (StatusCode::OK, format!("ready\n{notes}"))
                        } else {
                            (
                                StatusCode::SERVICE_UNAVAILABLE,
                                format!("not ready:\n{}\n{notes}", problems.join("\n")),
                            )
                        }
                    }
                }),
            )
            .route(
                "/metrics",
                get(move || {
                    let streams = streams.clone();
                    async move {
                        (
                            [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                            streams.metrics(staleness),
                        )
                            .into_response()
                    }
                }),
            );
        let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let accepted = tokio::select! {
                a = self.listener.accept() => a,
                _ = stopped(&mut shutdown) => return Ok(()),
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                // Out of descriptors, or a connection reset before it was taken: the
                // listener itself is fine.
                Err(e) => {
                    tracing::debug!("accepting a metrics connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                crate::ops::metrics::server_connection_refused();
                drop(stream);
                continue;
            };
            let service = TowerToHyperService::new(app.clone());
            tokio::spawn(async move {
                let _permit = permit;
                let mut http = hyper::server::conn::http1::Builder::new();
                http.timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT);
                let connection = http.serve_connection(TokioIo::new(stream), service);
                let _ = tokio::time::timeout(CONNECTION_LIFETIME, connection).await;
            });
        }
    }
}

/// Resolves when `shutdown` turns true (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}
