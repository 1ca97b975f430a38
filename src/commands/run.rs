//! `run`: tail into every sink until SIGTERM; SIGHUP reloads the config.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context;
use tokio::sync::watch;

use super::exit::{Cause, Failure, LostLeadership, StreamsFailed};
use crate::checkpoint::{CheckpointKey, CheckpointStore, PostgresStore};
use crate::coder::{CoderError, Stream, TailError};
use crate::config::{Config, StoreKind};
use crate::ops::server::Server;
use crate::pipeline::{
    SinkReader, StreamEnd, StreamError, StreamStats, Timings, initial_cursor, read_stream,
};

pub async fn run(config_path: &Path) -> anyhow::Result<()> {
    // SIGHUP's handler goes in first: from here on a reload can never kill the process
    // (its default action), not even while a standby waits for the leader lock.
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("installing the SIGHUP handler")?;
    let mut config = Config::load(config_path)?;
    let (term_tx, term_rx) = watch::channel(false);
    let term_tx = Arc::new(term_tx);
    {
        let term_tx = term_tx.clone();
        tokio::spawn(async move {
            super::stop_signal().await;
            tracing::info!("stop requested; finishing");
            let _ = term_tx.send(true);
        });
    }
    let exposed = serve(&config, term_rx.clone()).await?;
    let Some(leadership) = Leadership::take(&config, term_rx.clone(), term_tx).await? else {
        return Ok(()); // stopped while a standby
    };
    // One set of counters per sink name and stream for the whole process, so a reload
    // does not reset them.
    let mut stats: BTreeMap<StreamId, Arc<StreamStats>> = BTreeMap::new();
    loop {
        for name in config.sinks.keys() {
            for &stream in config.streams_of(name) {
                let s = stats.entry((name.clone(), stream)).or_default();
                s.stopped.store(false, Ordering::Relaxed);
                s.failing.store(false, Ordering::Relaxed);
            }
        }
        exposed.clear();
        // This generation of streams ends on SIGTERM, or when SIGHUP brings a new config.
        let (gen_tx, gen_rx) = watch::channel(false);
        let forward = {
            let (term, gen_tx) = (term_rx.clone(), gen_tx.clone());
            tokio::spawn(async move {
                wait_true(term).await;
                let _ = gen_tx.send(true);
            })
        };
        let (ran, reloaded) = {
            let streams = run_streams(&config, gen_rx, &stats, &exposed, leadership.store());
            tokio::pin!(streams);
            let mut reloaded = None;
            let ran = loop {
                tokio::select! {
                    ran = &mut streams => break ran,
                    Some(()) = hup.recv(), if reloaded.is_none() => {
                        reloaded = reload(config_path, &config);
                        if reloaded.is_some() {
                            // Drain, save the checkpoints, then switch: nothing lost or
                            // repeated.
                            let _ = gen_tx.send(true);
                        }
                    }
                }
            };
            (ran, reloaded)
        };
        forward.abort();
        ran?;
        leadership.still_held()?;
        match reloaded {
            Some(new) if !*term_rx.borrow() => {
                tracing::info!(
                    sinks = new.sinks.len(),
                    "reloaded: the streams drained and start again with the new config"
                );
                config = new;
            }
            _ => return Ok(()),
        }
    }
}

/// The config at `path` again, for SIGHUP; `None`, with one error line, when it does not
/// load (or its secret files cannot be read): the running config then stays.
fn reload(path: &Path, running: &Config) -> Option<Config> {
    tracing::info!(config = %path.display(), "SIGHUP: reloading the config");
    let loaded = Config::load(path)
        .map_err(anyhow::Error::from)
        .and_then(|c| c.token_source().map(|_| c).map_err(anyhow::Error::from));
    match loaded {
        Err(e) => {
            tracing::error!("the new config is refused; the running one stays: {e:#}");
            None
        }
        Ok(c) => {
            if c.server.listen != running.server.listen {
                tracing::warn!(
                    "server.listen changed: it applies at the next start, not on reload"
                );
            }
            if c.checkpoint.store != running.checkpoint.store
                || c.checkpoint.dir != running.checkpoint.dir
                || c.checkpoint.schema != running.checkpoint.schema
            {
                tracing::warn!(
                    "[checkpoint] changed: the checkpoint store applies at the next start, not on reload"
                );
            }
            Some(c)
        }
    }
}

/// With the postgres store, only the replica holding the leader lock ships: this waits for
/// the lock, and watches that it is still held.
struct Leadership {
    store: Option<Arc<PostgresStore>>,
    deposed: Arc<std::sync::atomic::AtomicBool>,
}

impl Leadership {
    /// `None` when `shutdown` came while waiting as a standby. A file store needs no lock.
    async fn take(
        config: &Config,
        shutdown: watch::Receiver<bool>,
        stop: Arc<watch::Sender<bool>>,
    ) -> anyhow::Result<Option<Self>> {
        let deposed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let checkpoint = &config.checkpoint;
        if checkpoint.store == StoreKind::File {
            return Ok(Some(Self {
                store: None,
                deposed,
            }));
        }
        let url = config.postgres_url()?;
        let every = checkpoint.takeover_interval;
        let Some(store) = PostgresStore::lead(&url, &checkpoint.schema, every, shutdown).await?
        else {
            return Ok(None);
        };
        let store = Arc::new(store);
        {
            let (store, deposed) = (store.clone(), deposed.clone());
            tokio::spawn(async move {
                let why = store.deposed(every).await;
                tracing::error!("no longer the leader ({why}): stopping");
                deposed.store(true, Ordering::Relaxed);
                let _ = stop.send(true);
            });
        }
        Ok(Some(Self {
            store: Some(store),
            deposed,
        }))
    }

    /// The store the streams write through (`None`: the config's own).
    fn store(&self) -> Option<Arc<dyn CheckpointStore>> {
        self.store.clone().map(|s| s as Arc<dyn CheckpointStore>)
    }

    fn still_held(&self) -> Result<(), LostLeadership> {
        if self.deposed.load(Ordering::Relaxed) {
            return Err(LostLeadership);
        }
        Ok(())
    }
}

/// A sink's name and the log its stream reads.
pub type StreamId = (String, Stream);

/// Run every sink's streams until `shutdown` turns true, with the `[server]` listener when
/// the config has one. A stream named in `stats` counts into the counters given there (the
/// demo prints them).
pub async fn run_config(
    config: &Config,
    shutdown: watch::Receiver<bool>,
    stats: &BTreeMap<StreamId, Arc<StreamStats>>,
) -> anyhow::Result<()> {
    let exposed = serve(config, shutdown.clone()).await?;
    run_streams(config, shutdown, stats, &exposed, None).await
}

/// Start the `[server]` listener, if any, until `shutdown`: before Coder is reached, so an
/// operator sees the errors of a Coder that cannot be reached.
async fn serve(
    config: &Config,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<crate::pipeline::Streams> {
    let exposed = crate::pipeline::Streams::default();
    if let Some(listen) = config.server.listen {
        let server = Server::bind(
            listen,
            Arc::new(exposed.clone()),
            config.server.ready_staleness,
        )
        .await
        .with_context(|| format!("server.listen: binding {listen}"))?;
        tracing::info!(address = %server.local_addr()?, "serving /metrics, /healthz and /readyz");
        tokio::spawn(async move {
            if let Err(e) = server.serve(shutdown).await {
                tracing::error!("the metrics listener stopped: {e}");
            }
        });
    }
    Ok(exposed)
}

/// One generation of streams: one per sink and log, until `shutdown` turns true.
async fn run_streams(
    config: &Config,
    shutdown: watch::Receiver<bool>,
    stats: &BTreeMap<StreamId, Arc<StreamStats>>,
    exposed: &crate::pipeline::Streams,
    store: Option<Arc<dyn CheckpointStore>>,
) -> anyhow::Result<()> {
    let connected = tokio::select! {
        c = super::connect(config) => c?,
        _ = wait_true(shutdown.clone()) => return Ok(()),
    };
    crate::ops::metrics::coder_version(&connected.coder_version);
    let store = match store {
        Some(store) => store,
        None => super::store(config).await?,
    };
    let streams = super::Streams::new(config, connected, store)?;
    tokio::spawn(crate::coder::entitlement::watch(
        streams.client.clone(),
        shutdown.clone(),
    ));
    let mut tasks: tokio::task::JoinSet<Vec<(StreamId, Result<StreamEnd, StreamError>)>> =
        tokio::task::JoinSet::new();
    let mut counters: BTreeMap<StreamId, Arc<StreamStats>> = BTreeMap::new();
    let available = tokio::select! {
        a = streams.available_streams() => a?,
        _ = wait_true(shutdown.clone()) => return Ok(()),
    };
    let timings = Timings {
        poll_interval: config.coder.poll_interval,
        shutdown_timeout: config.shutdown_timeout,
        detach_after: config.fanout.detach_after,
    };
    for stream in available {
        // Where a sink without a checkpoint starts: found once per stream (`beginning`
        // probes Coder for it), the same for every such sink.
        let mut start = None;
        let mut sinks: Vec<SinkReader> = Vec::new();
        for name in config.sinks_of(stream) {
            let key = CheckpointKey::run(name).with_stream(stream);
            let cursor = match streams.store.load(&key)? {
                Some(c) => {
                    tracing::info!(sink = %name, %stream, position = %c.cursor.position, "resuming from checkpoint");
                    c.cursor
                }
                None => {
                    let c = match start.clone() {
                        Some(c) => c,
                        None => {
                            let c = initial_cursor(&streams.client, stream, config.coder.start_at)
                                .await?;
                            start = Some(c.clone());
                            c
                        }
                    };
                    tracing::info!(sink = %name, %stream, position = %c.position, "no checkpoint; starting");
                    c
                }
            };
            let id = (name.clone(), stream);
            let stream_stats = stats.get(&id).cloned().unwrap_or_default();
            counters.insert(id.clone(), stream_stats.clone());
            if let Some(sink) = config.sinks.get(name) {
                exposed.register(
                    name,
                    stream,
                    sink.type_name(),
                    sink.kind.guarantee().as_str(),
                    stream_stats.clone(),
                );
            }
            let (tailer, outlet) = streams
                .build(name, stream, key, cursor.clone(), None, stream_stats)
                .await?;
            sinks.push(SinkReader {
                name: name.clone(),
                cursor,
                tailer,
                outlet,
            });
        }
        let solo = streams.solo_tailer(stream, None);
        let rx = shutdown.clone();
        tasks.spawn(async move {
            read_stream(stream, sinks, solo, timings, rx)
                .await
                .into_iter()
                .map(|(name, end)| ((name, stream), end))
                .collect()
        });
    }
    let mut failed = Vec::new();
    let mut connection_log_gone = false;
    while let Some(joined) = tasks.join_next().await {
        let ends = match joined {
            Ok(ends) => ends,
            Err(e) => {
                failed.push(Failure {
                    cause: Cause::Other,
                    line: format!("a stream task panicked: {e}"),
                });
                continue;
            }
        };
        for end in ends {
            match end {
                // Coder took the connection log away while running (the license lapsed, the
                // token lost its role): that stream is off, as at start, and the rest runs on.
                ((name, Stream::Connection), Err(TailError::Coder(e)))
                    if matches!(
                        e,
                        CoderError::Forbidden { .. } | CoderError::NotFound { .. }
                    ) =>
                {
                    exposed.unregister(&name, Stream::Connection);
                    if !std::mem::replace(&mut connection_log_gone, true) {
                        crate::ops::metrics::connection_log_available(false);
                        let why = match &e {
                            CoderError::Forbidden { message, .. } => format!("403: {message}"),
                            _ => "404: the route is gone".to_owned(),
                        };
                        tracing::warn!(
                            "Coder stopped serving /api/v2/connectionlog ({why}): the connection \
                         stream is off until the next start or reload, its checkpoints are kept; \
                         the other streams run on"
                        );
                    }
                }
                (id, Ok(StreamEnd::Stopped | StreamEnd::Finished)) => {
                    let c = counters.get(&id).cloned().unwrap_or_default();
                    let n = |v: &std::sync::atomic::AtomicU64| v.load(Ordering::Relaxed);
                    let (name, stream) = id;
                    tracing::info!(
                        sink = %name,
                        %stream,
                        delivered = n(&c.delivered),
                        batches = n(&c.batches),
                        retries = n(&c.retries),
                        dead_lettered = n(&c.dead_lettered),
                        truncated = n(&c.truncated),
                        "stream stopped"
                    );
                }
                ((name, stream), Err(e)) => {
                    report_fatal(&name, stream, &e);
                    failed.push(Failure {
                        cause: Cause::of(&e),
                        line: format!("{}: {e}", crate::pipeline::stream_name(&name, stream)),
                    });
                }
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(StreamsFailed { failures: failed }.into())
    }
}

fn report_fatal(sink: &str, stream: Stream, e: &StreamError) {
    match Cause::of(e) {
        Cause::Fenced => tracing::warn!(
            sink,
            %stream,
            "stream stopped: another replica holds the leader lock and ships from the shared checkpoints: {e}"
        ),
        _ => tracing::error!(sink, %stream, "stream stopped, its checkpoint is kept: {e}"),
    }
}

async fn wait_true(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
