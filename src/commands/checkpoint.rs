//! `checkpoint show`: where each stream stands.

use std::path::Path;

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
    for c in checkpoints {
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
    Ok(())
}
