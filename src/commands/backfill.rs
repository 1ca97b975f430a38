//! `backfill`: replay a range of history into the sinks, then exit.
//!
//! Each range has its own checkpoint namespace, so a backfill never moves the live cursor,
//! and a killed backfill resumes where its checkpoint stands when run again.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::watch;

use crate::checkpoint::CheckpointKey;
use crate::coder::Cursor;
use crate::config::Config;
use crate::pipeline::{SinkReader, StreamEnd, StreamStats, Timings, read_stream};

pub async fn backfill(
    config_path: &Path,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<()> {
    if from >= to {
        anyhow::bail!("--from ({from}) must be before --to ({to})");
    }
    let config = Config::load(config_path)?;
    let connected = super::connect(&config).await?;
    let streams = super::Streams::new(&config, connected, super::store(&config).await?)?;
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        super::stop_signal().await;
        let _ = tx.send(true);
    });
    let mut tasks = tokio::task::JoinSet::new();
    let mut all_stats = Vec::new();
    let timings = Timings {
        poll_interval: Duration::from_millis(100),
        shutdown_timeout: config.shutdown_timeout,
        detach_after: config.fanout.detach_after,
    };
    // One read of each stream for the sinks at the same place (all of them, unless an
    // earlier run was interrupted), as `run` does.
    for stream in streams.available_streams().await? {
        let mut sinks = Vec::new();
        for name in config.sinks_of(stream) {
            let key = CheckpointKey::backfill(name, from, to).with_stream(stream);
            let cursor = match streams.store.load(&key)? {
                Some(c) => {
                    tracing::info!(sink = %name, %stream, position = %c.cursor.position, "resuming backfill");
                    c.cursor
                }
                None => Cursor::starting_at(from - TimeDelta::microseconds(1), Some(from)),
            };
            let stats = Arc::new(StreamStats::default());
            all_stats.push(stats.clone());
            let (tailer, outlet) = streams
                .build(name, stream, key, cursor.clone(), Some(to), stats)
                .await?;
            sinks.push(SinkReader {
                name: name.clone(),
                cursor,
                tailer,
                outlet,
            });
        }
        let solo = streams.solo_tailer(stream, Some(to));
        let rx = rx.clone();
        tasks.spawn(async move {
            read_stream(stream, sinks, solo, timings, rx)
                .await
                .into_iter()
                .map(|(name, end)| (crate::pipeline::stream_name(&name, stream), end))
                .collect::<Vec<_>>()
        });
    }

    let progress = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(1000);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} backfill [{bar:40}] {percent}% {msg} ({elapsed})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });
    let span = (to - from).num_microseconds().unwrap_or(i64::MAX).max(1) as f64;
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    let mut failed = Vec::new();
    let mut unfinished = Vec::new();
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if let Some(bar) = &progress {
                    let (done, delivered) = progress_of(&all_stats, from, span);
                    bar.set_position((done * 1000.0) as u64);
                    bar.set_message(format!("{delivered} events"));
                }
            }
            joined = tasks.join_next() => match joined {
                None => break,
                Some(Ok(ends)) => {
                    for (name, end) in ends {
                        match end {
                            Ok(StreamEnd::Finished) => {}
                            Ok(StreamEnd::Stopped) => unfinished.push(name),
                            Err(e) => {
                                tracing::error!(sink = %name, "backfill stream stopped, its checkpoint is kept: {e}");
                                failed.push(format!("{name}: {e}"));
                            }
                        }
                    }
                }
                Some(Err(e)) => failed.push(format!("a stream task panicked: {e}")),
            }
        }
    }
    let delivered: u64 = all_stats
        .iter()
        .map(|s| s.delivered.load(Ordering::Relaxed))
        .sum();
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    if !failed.is_empty() {
        anyhow::bail!(
            "backfill failed for {} sink(s):\n  {}",
            failed.len(),
            failed.join("\n  ")
        );
    }
    if !unfinished.is_empty() {
        anyhow::bail!(
            "backfill interrupted before the end for {}; run the same command again to resume",
            unfinished.join(", ")
        );
    }
    eprintln!("backfill {from} .. {to} done: {delivered} events delivered");
    Ok(())
}

fn progress_of(stats: &[Arc<StreamStats>], from: DateTime<Utc>, span: f64) -> (f64, u64) {
    let from = from.timestamp_micros() as f64;
    let done = stats
        .iter()
        .map(|s| {
            let p = s.position_micros.load(Ordering::Relaxed) as f64;
            ((p - from) / span).clamp(0.0, 1.0)
        })
        .fold(1.0, f64::min);
    let delivered = stats
        .iter()
        .map(|s| s.delivered.load(Ordering::Relaxed))
        .sum();
    (done, delivered)
}
