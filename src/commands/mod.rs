//! The subcommands. Each returns `anyhow::Result`: this is the binary's edge, where errors
//! become one clear message and an exit code.

mod backfill;
mod checkpoint;
#[cfg(feature = "demo")]
mod demo;
mod run;
mod validate;

use std::sync::Arc;

use anyhow::Context;

pub use backfill::backfill;
pub use checkpoint::show_checkpoints;
#[cfg(feature = "demo")]
pub use demo::demo;
pub use run::{run, run_config};
pub use validate::validate;

use crate::checkpoint::{CheckpointStore, FileStore};
use crate::coder::{ClientOptions, CoderClient};
use crate::config::{Config, StoreKind};

pub(crate) fn store(config: &Config) -> Arc<dyn CheckpointStore> {
    match config.checkpoint.store {
        StoreKind::File => Arc::new(FileStore::new(&config.checkpoint.dir)),
    }
}

/// The client, after logging the server's version from `/api/v2/buildinfo`.
pub(crate) async fn connect(config: &Config) -> anyhow::Result<Arc<CoderClient>> {
    let token = config.token_source()?;
    let client = CoderClient::new(
        &config.coder.url,
        token,
        ClientOptions {
            request_timeout: config.coder.request_timeout,
            max_response_bytes: config.coder.max_response_bytes,
            ..ClientOptions::default()
        },
    )?;
    let info = client.buildinfo().await.with_context(|| {
        format!(
            "reading {}/api/v2/buildinfo",
            config.coder.url.trim_end_matches('/')
        )
    })?;
    tracing::info!(coder_version = %info.version, url = %config.coder.url, "connected to Coder");
    Ok(Arc::new(client))
}

/// Resolves when SIGTERM or Ctrl-C arrives.
pub(crate) async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
