//! `run`: tail into every sink until SIGTERM.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context;
use tokio::sync::watch;

use crate::checkpoint::CheckpointKey;
use crate::coder::TailError;
use crate::config::Config;
use crate::ops::server::Server;
use crate::pipeline::{StreamEnd, StreamStats, initial_cursor, run_stream};

pub async fn run(config_path: &Path) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        super::stop_signal().await;
        tracing::info!("stop requested; finishing");
        let _ = tx.send(true);
    });
    run_config(&config, rx, &BTreeMap::new()).await
}

/// Run every sink's stream until `shutdown` turns true. A sink named in `stats` counts
/// into the counters given there (the demo prints them).
pub async fn run_config(
    config: &Config,
    shutdown: watch::Receiver<bool>,
    stats: &BTreeMap<String, Arc<StreamStats>>,
) -> anyhow::Result<()> {
    // Listening first: an operator sees the errors of a Coder that cannot be reached.
    let exposed = crate::ops::metrics::Streams::default();
    if let Some(listen) = config.server.listen {
        let server = Server::bind(listen, exposed.clone())
            .await
            .with_context(|| format!("server.listen: binding {listen}"))?;
        tracing::info!(address = %server.local_addr()?, "serving /metrics and /healthz");
        let rx = shutdown.clone();
        tokio::spawn(async move {
            if let Err(e) = server.serve(rx).await {
                tracing::error!("the metrics listener stopped: {e}");
            }
        });
    }
    let connected = tokio::select! {
        c = super::connect(config) => c?,
        _ = wait_true(shutdown.clone()) => return Ok(()),
    };
    let streams = super::Streams::new(config, connected)?;
    let mut tasks = tokio::task::JoinSet::new();
    let mut counters: BTreeMap<String, Arc<StreamStats>> = BTreeMap::new();
    for name in config.sinks.keys() {
        let key = CheckpointKey::run(name);
        let cursor = match streams.store.load(&key)? {
            Some(c) => {
                tracing::info!(sink = %name, position = %c.cursor.position, "resuming from checkpoint");
                c.cursor
            }
            None => {
                let c = initial_cursor(&streams.client, config.coder.start_at).await?;
                tracing::info!(sink = %name, position = %c.position, "no checkpoint; starting");
                c
            }
        };
        let stream_stats = stats.get(name).cloned().unwrap_or_default();
        counters.insert(name.clone(), stream_stats.clone());
        if let Some(sink) = config.sinks.get(name) {
            exposed.register(name, sink.type_name(), stream_stats.clone());
        }
        let (tailer, outlet) = streams.build(name, key, cursor, None, stream_stats).await?;
        let name = name.clone();
        let poll = config.coder.poll_interval;
        let rx = shutdown.clone();
        let grace = config.shutdown_timeout;
        tasks.spawn(async move { (name, run_stream(tailer, outlet, poll, rx, grace).await) });
    }
    let mut failed = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((name, Ok(StreamEnd::Stopped | StreamEnd::Finished))) => {
                let c = counters.get(&name).cloned().unwrap_or_default();
                let n = |v: &std::sync::atomic::AtomicU64| v.load(Ordering::Relaxed);
                tracing::info!(
                    sink = %name,
                    delivered = n(&c.delivered),
                    batches = n(&c.batches),
                    retries = n(&c.retries),
                    dead_lettered = n(&c.dead_lettered),
                    truncated = n(&c.truncated),
                    "stream stopped"
                );
            }
            Ok((name, Err(e))) => {
                report_fatal(&name, &e);
                failed.push(format!("{name}: {e}"));
            }
            Err(e) => failed.push(format!("a stream task panicked: {e}")),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "{} stream(s) stopped on errors:\n  {}",
            failed.len(),
            failed.join("\n  ")
        )
    }
}

fn report_fatal(sink: &str, e: &TailError) {
    tracing::error!(sink, "stream stopped, its checkpoint is kept: {e}");
}

async fn wait_true(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
