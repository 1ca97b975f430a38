//! The HTTP listener of `[server] listen`: `/metrics` (Prometheus text format),
//! `/healthz` (the process answers: for a liveness probe) and `/readyz` (every stream is
//! running, not failing, and scanned Coder within `ready_staleness`: for a readiness probe
//! and for alerting; the body says which stream is not). It binds before the streams
//! start, so a port in use stops the shipper at once instead of leaving it unobserved.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::metrics::Streams;

/// A bound listener, not yet serving.
pub struct Server {
    listener: TcpListener,
    streams: Streams,
    staleness: Duration,
}

impl Server {
    pub async fn bind(
        addr: SocketAddr,
        streams: Streams,
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
                        match ready.readiness(staleness) {
                            Ok(()) => (StatusCode::OK, "ready\n".to_owned()),
                            Err(reasons) => (
                                StatusCode::SERVICE_UNAVAILABLE,
                                format!("not ready:\n{}\n", reasons.join("\n")),
                            ),
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
                            streams.render(),
                        )
                            .into_response()
                    }
                }),
            );
        axum::serve(self.listener, app)
            .with_graceful_shutdown(async move {
                while !*shutdown.borrow() {
                    if shutdown.changed().await.is_err() {
                        break;
                    }
                }
            })
            .await
    }
}
