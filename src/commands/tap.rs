//! `tap` (and `run --dry-run`): poll Coder and print to stdout exactly what each sink
//! would receive, in its format, writing nothing and moving no checkpoint.
//!
//! Each sink's tap starts where that sink's `run` checkpoint stands (or where `run` would
//! start without one), so it answers "what will my SIEM get next?". The cursor advances
//! in memory only. With one sink the output is that sink's records, one per line (NDJSON
//! for ecs/ocsf/raw); with several sinks or streams, each line starts with the sink's name
//! (and the stream's, for the connection log) and a tab.

use std::io::Write;
use std::path::Path;

use tokio::sync::watch;

use crate::checkpoint::CheckpointKey;
use crate::coder::{Cursor, Event, Outlet, TailError};

/// `tap` writes to standard output; a write that fails stops it.
#[derive(Debug, thiserror::Error)]
#[error("delivery failed: writing to stdout: {0}")]
struct StdoutError(std::io::Error);
use crate::config::Config;
use crate::pipeline::{EncodedGroup, Encoder, Filter, initial_cursor};

pub async fn tap(config_path: &Path, sink: Option<&str>, once: bool) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let names: Vec<String> = match sink {
        Some(name) if config.sinks.contains_key(name) => vec![name.to_owned()],
        Some(name) => anyhow::bail!(
            "no sink {name:?} in {}; it has: {}",
            config_path.display(),
            config.sinks.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
        None => config.sinks.keys().cloned().collect(),
    };
    let (tx, shutdown) = watch::channel(false);
    tokio::spawn(async move {
        super::stop_signal().await;
        let _ = tx.send(true);
    });
    let connected = super::connect(&config).await?;
    let streams = super::Streams::new(&config, connected, super::store(&config).await?)?;
    let prefix = names.len() > 1;
    let mut tasks = tokio::task::JoinSet::new();
    let available = streams.available_streams().await?;
    let prefix = prefix || available.len() > 1;
    for (name, stream) in names.iter().flat_map(|n| {
        available
            .iter()
            .filter(|s| config.streams_of(n).contains(s))
            .map(move |s| (n.clone(), *s))
    }) {
        let key = CheckpointKey::run(&name).with_stream(stream);
        let cursor = match streams.store.load(&key)? {
            Some(c) => c.cursor,
            None => initial_cursor(&streams.client, stream, config.coder.start_at).await?,
        };
        let mut tailer = streams.tailer(stream, cursor, None);
        let label = crate::pipeline::stream_name(&name, stream);
        let mut outlet = TapOutlet {
            prefix: prefix.then(|| format!("{label}\t")),
            encoder: streams.encoder(&name)?,
            filter: config
                .sinks
                .get(&name)
                .map(|s| s.filter.clone())
                .unwrap_or_default(),
        };
        let poll = config.coder.poll_interval;
        let mut stop = shutdown.clone();
        tasks.spawn(async move {
            loop {
                let report = tokio::select! {
                    r = tailer.step(&mut outlet) => r?,
                    _ = stop.changed() => return Ok::<_, TailError<StdoutError>>(()),
                };
                if report.live {
                    if once {
                        return Ok(());
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(poll) => {}
                        _ = stop.changed() => return Ok(()),
                    }
                }
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined??;
    }
    Ok(())
}

/// Prints what a sink would receive, after its filter; its "checkpoint" is the tailer's
/// in-memory cursor.
struct TapOutlet {
    prefix: Option<String>,
    encoder: Encoder,
    filter: Filter,
}

impl Outlet for TapOutlet {
    type Error = StdoutError;

    async fn deliver(&mut self, events: Vec<Event>) -> Result<(), StdoutError> {
        let group = EncodedGroup::of(&self.encoder, &self.filter, &events);
        let batch = group.batch;
        let mut out = std::io::stdout().lock();
        for record in batch.records() {
            let written = match &self.prefix {
                Some(p) => out.write_all(p.as_bytes()),
                None => Ok(()),
            }
            .and_then(|()| out.write_all(&record.payload))
            .and_then(|()| out.write_all(b"\n"));
            written.map_err(StdoutError)?;
        }
        out.flush().map_err(StdoutError)
    }

    async fn commit(&mut self, _cursor: &Cursor) -> Result<(), StdoutError> {
        Ok(())
    }
}
