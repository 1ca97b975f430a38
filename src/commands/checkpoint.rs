//! `checkpoint show`: where each stream stands.

use std::collections::BTreeMap;
use std::path::Path;

use crate::checkpoint::Checkpoint;
use crate::config::{Config, StoreKind};

pub async fn show_checkpoints(config_path: &Path, json: bool) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let dir = &config.checkpoint.dir;
    if config.checkpoint.store == StoreKind::File && !dir.is_dir() {
        anyhow::bail!(
            "{}: checkpoint directory {} does not exist (checkpoint.dir): nothing has run with \
             this config on this machine, or it ran elsewhere",
            config_path.display(),
            dir.display()
        );
    }
    let checkpoints = super::store(&config).await?.list()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&checkpoints)?);
        return Ok(());
    }
    if checkpoints.is_empty() {
        println!("no checkpoints in {}", config.checkpoint.dir.display());
        return Ok(());
    }
    // OPEN: connection sessions waiting for their disconnect.
    println!(
        "{:<40} {:<11} {:<16} {:<32} {:>6} {:>5}  UPDATED",
        "NAMESPACE", "STREAM", "SINK", "POSITION", "SEEN", "OPEN"
    );
    for c in &checkpoints {
        let partial = c
            .cursor
            .partial
            .as_ref()
            .map(|p| {
                format!(
                    " (window to {} delivered above {})",
                    p.window_end, p.done_above
                )
            })
            .unwrap_or_default();
        println!(
            "{:<40} {:<11} {:<16} {:<32} {:>6} {:>5}  {}{partial}",
            c.namespace,
            c.stream,
            c.sink,
            c.cursor.position.to_rfc3339(),
            c.cursor.seen.len(),
            c.cursor.sessions.len(),
            c.updated_at.to_rfc3339()
        );
    }
    for line in reading(&checkpoints) {
        println!("{line}");
    }
    Ok(())
}

/// How the next start reads each stream of several sinks: one read for the sinks at the
/// most common checkpoint, the others alone until they catch up and join (the same
/// [`crate::pipeline::shared_start`] that `pipeline::read_stream` asks). A running shipper says how they read now in `/readyz`.
fn reading(checkpoints: &[Checkpoint]) -> Vec<String> {
    let mut streams: BTreeMap<(&str, &str), Vec<&Checkpoint>> = BTreeMap::new();
    for c in checkpoints {
        streams
            .entry((c.namespace.as_str(), c.stream.as_str()))
            .or_default()
            .push(c);
    }
    let mut lines = Vec::new();
    for ((namespace, stream), sinks) in streams {
        if sinks.len() < 2 {
            continue;
        }
        let Some(shared) = crate::pipeline::shared_start(sinks.iter().map(|c| &c.cursor)) else {
            continue;
        };
        let (with, apart): (Vec<&&Checkpoint>, Vec<&&Checkpoint>) =
            sinks.iter().partition(|c| c.cursor == *shared);
        let names = |cs: &[&&Checkpoint]| {
            cs.iter()
                .map(|c| c.sink.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut line = format!(
            "{namespace} {stream}: one read of Coder for {}",
            names(&with)
        );
        if !apart.is_empty() {
            line += &format!(
                "; {} at another place, reading alone until caught up",
                names(&apart)
            );
        }
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::coder::Cursor;

    fn checkpoint(sink: &str, stream: &str, position: &str) -> Checkpoint {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        Checkpoint {
            version: 1,
            namespace: "run".into(),
            stream: stream.into(),
            sink: sink.into(),
            updated_at: at(position),
            cursor: Cursor::starting_at(at(position), None),
        }
    }

    #[test]
    fn says_which_sinks_the_next_start_reads_together_and_which_alone() {
        let lines = reading(&[
            checkpoint("a", "audit", "2026-01-01T12:00:00Z"),
            checkpoint("b", "audit", "2026-01-01T12:00:00Z"),
            checkpoint("c", "audit", "2026-01-01T11:00:00Z"),
            checkpoint("a", "connection", "2026-01-01T12:00:00Z"),
            checkpoint("b", "connection", "2026-01-01T12:00:00Z"),
            // A stream of one sink: nothing to say.
            checkpoint("a", "other", "2026-01-01T12:00:00Z"),
        ]);
        assert_eq!(
            lines,
            [
                "run audit: one read of Coder for a, b; c at another place, reading alone until caught up",
                "run connection: one read of Coder for a, b",
            ]
        );
    }
}
