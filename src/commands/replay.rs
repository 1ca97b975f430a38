//! `replay-dead-letters`: send a sink's dead letters again once the cause is fixed (a
//! broker's `message.max.bytes` raised, a HEC index created, a SIEM parser repaired).
//!
//! The file is first renamed to `<sink>.replaying.ndjson`, so what the sink refuses again,
//! and whatever a running shipper dead-letters meanwhile, goes to a fresh `<sink>.ndjson`.
//! The renamed file is removed only when every record in it is handled. A replay that
//! stops (the peer is down for longer than the retry budget) leaves it in place, and the
//! next replay starts with it: records may be sent twice, never dropped. Records go out
//! as they were dead-lettered: in the format the sink had then.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use sink_core::{Batch, RetryPolicy, send_with_retry};

use crate::config::Config;
use crate::dead_letter::DeadLetters;

/// Records per batch sent again.
const BATCH: usize = 500;

pub async fn replay_dead_letters(config_path: &Path, sink_name: &str) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let sink_config = config
        .sinks
        .get(sink_name)
        .with_context(|| format!("no sink {sink_name:?} in {}", config_path.display()))?;
    let dir = config.dead_letter_dir();
    let letters = DeadLetters::new(&dir, sink_name);
    let replaying = dir.join(format!("{sink_name}.replaying.ndjson"));
    if replaying.exists() {
        println!(
            "finishing the interrupted replay in {} first",
            replaying.display()
        );
    } else if letters.path().exists() {
        std::fs::rename(letters.path(), &replaying)
            .with_context(|| format!("moving {} aside to replay it", letters.path().display()))?;
    } else {
        println!("sink {sink_name}: no dead letters in {}", dir.display());
        return Ok(());
    }
    let records = DeadLetters::read(&replaying)?;
    let mut built = sink_config
        .build(
            sink_name,
            &config.origin_host(),
            config.streams_of(sink_name),
            // Dead letters do not say which log they came from.
            None,
        )
        .await?;
    // A bounded budget: a replay is run by hand and should say so when the peer is still
    // not taking the records, rather than wait for ever.
    let policy = RetryPolicy {
        min_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(10),
        max_attempts: Some(8),
        ..RetryPolicy::default()
    };
    let (mut sent_again, mut refused) = (0, 0);
    for chunk in records.chunks(BATCH) {
        let batch = Batch::new(chunk.to_vec());
        let sent = send_with_retry(built.sink.as_mut(), &batch, &policy, |reason, delay| {
            tracing::warn!(sink = sink_name, retry_in = ?delay, "replay failed, retrying: {reason}");
        })
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "replay stopped after {sent_again} records: {e}; {} still holds all {} (run the replay again)",
                replaying.display(),
                records.len()
            )
        })?;
        if !sent.dead.is_empty() {
            letters
                .write(sink_name, &batch, &sent.dead)
                .with_context(|| format!("writing {}", letters.path().display()))?;
            refused += sent.dead.len();
        }
        sent_again += chunk.len() - sent.dead.len();
    }
    if let Err(e) = built.sink.close().await {
        anyhow::bail!(
            "closing sink {sink_name}: {e}; {} is kept (run the replay again)",
            replaying.display()
        );
    }
    std::fs::remove_file(&replaying)
        .with_context(|| format!("removing {}", replaying.display()))?;
    println!(
        "sink {sink_name}: {sent_again} dead letters sent again{}",
        if refused > 0 {
            format!(
                ", {refused} refused again (back in {})",
                letters.path().display()
            )
        } else {
            String::new()
        }
    );
    Ok(())
}
