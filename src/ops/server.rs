//! The HTTP listener of `[server] listen`: `/metrics` (Prometheus text format) and
//! `/healthz` (the process answers). It binds before the streams start, so a port in use
//! stops the shipper at once instead of leaving it running unobserved.

use std::net::SocketAddr;

use axum::Router;
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
}

impl Server {
    pub async fn bind(addr: SocketAddr, streams: Streams) -> std::io::Result<Self> {
        super::metrics::install();
        let listener = TcpListener::bind(addr).await?;
        Ok(Self { listener, streams })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serve until `shutdown` turns true.
    pub async fn serve(self, mut shutdown: watch::Receiver<bool>) -> std::io::Result<()> {
        let streams = self.streams;
        let app = Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
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
