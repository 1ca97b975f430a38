//! `demo`: the whole job on a machine with no Coder. Starts the simulated Coder (history,
//! live traffic, ties, late rows, a few injected faults; connections and sessions that end
//! while it runs), ships its audit and connection logs to NDJSON files with the real
//! pipeline, and prints a running count.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use coder_sim::server::LiveTraffic;
use coder_sim::{Sim, SimConfig};
use tokio::sync::watch;

use crate::coder::Stream;
use crate::config::Config;
use crate::pipeline::StreamStats;

pub async fn demo(
    dir: Option<PathBuf>,
    duration: Option<Duration>,
    rate: f64,
    backlog: usize,
) -> anyhow::Result<()> {
    let dir = match dir {
        Some(d) => d,
        None => tempfile::Builder::new()
            .prefix("coder-audit-shipper-demo-")
            .tempdir()
            .context("creating a temporary directory")?
            .keep(),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let sim = Sim::start(SimConfig {
        rate_limit: None,
        ..SimConfig::default()
    })
    .await
    .context("starting the simulated Coder")?;
    // The demo's token may read workspaces (as a Template Admin's may), so the events show
    // what `[enrich.coder]` adds: each workspace's template and owner.
    sim.set_workspaces_readable(true);
    sim.backlog(
        backlog,
        Duration::from_secs(2 * 86_400),
        chrono::Utc::now() - chrono::TimeDelta::minutes(1),
    );
    // Connections too (SSH, IDE, apps): sessions that end while the demo runs, a few left
    // open in the history.
    sim.connection_backlog(
        backlog / 4,
        3,
        Duration::from_secs(2 * 86_400),
        chrono::Utc::now() - chrono::TimeDelta::minutes(1),
    );
    let _live_connections = sim.spawn_live_connections(rate / 4.0, Duration::from_secs(20));
    sim.set_fault_rate(0.02);
    let _live = sim.spawn_live(LiveTraffic {
        rows_per_sec: rate,
        late_share: 0.1,
        late_max: Duration::from_secs(20),
        tie_share: 0.05,
    });

    let output = dir.join("audit.ndjson");
    let ocsf_output = dir.join("audit.ocsf.ndjson");
    let config_path = dir.join("demo.toml");
    std::fs::write(
        &config_path,
        format!(
            r#"# Written by `coder-audit-shipper demo`: the same config `run` takes.
[coder]
url = "{url}"
token = "{token}"
poll_interval = "1s"
overlap = "1m"
start_at = "beginning"
streams = ["audit", "connection"]

[checkpoint]
dir = "{state}"

[enrich]
deployment = "demo"

[sinks.archive]
type = "file"
path = "{output}"
format = "raw"

[sinks.siem]
type = "file"
path = "{ocsf_output}"
format = "ocsf"
"#,
            url = sim.url(),
            token = SimConfig::DEFAULT_TOKEN,
            state = dir.join("state").display(),
            output = output.display(),
            ocsf_output = ocsf_output.display(),
        ),
    )?;
    let config = Config::load(&config_path)?;
    println!("simulated Coder at {}", sim.url());
    println!("shipping its audit log to {}", output.display());
    println!("  and, as OCSF 1.8.0, to {}", ocsf_output.display());
    println!("config: {}  (Ctrl-C to stop)", config_path.display());
    println!(
        "the simulated Coder answers about 2% of requests with an injected fault (429, 500, \
         502, a cut or garbled page): the WARN lines about them are the shipper retrying, \
         and nothing is lost"
    );

    let (tx, rx) = watch::channel(false);
    let stop_tx = tx.clone();
    tokio::spawn(async move {
        match duration {
            Some(d) => {
                tokio::select! {
                    _ = tokio::time::sleep(d) => {}
                    _ = super::stop_signal() => {}
                }
            }
            None => super::stop_signal().await,
        }
        let _ = stop_tx.send(true);
    });

    let archive = ("archive".to_owned(), Stream::Audit);
    let connections = ("archive".to_owned(), Stream::Connection);
    let stats: BTreeMap<super::run::StreamId, Arc<StreamStats>> = [
        (archive.clone(), Arc::default()),
        (connections.clone(), Arc::default()),
    ]
    .into_iter()
    .collect();
    let pipeline = super::run_config(&config, rx.clone(), &stats);
    tokio::pin!(pipeline);
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let result = loop {
        tokio::select! {
            r = &mut pipeline => break r,
            _ = ticker.tick() => {
                let shipped = stats[&archive].delivered.load(Ordering::Relaxed);
                let sessions = stats[&connections].delivered.load(Ordering::Relaxed);
                println!(
                    "shipped {shipped} audit events ({} in the simulated Coder) and {sessions} connection events",
                    sim.row_count()
                );
            }
        }
    };
    let shipped = stats[&archive].delivered.load(Ordering::Relaxed);
    let sessions = stats[&connections].delivered.load(Ordering::Relaxed);
    println!(
        "stopped: {shipped} audit events and {sessions} connection events in {} (raw) and {} \
         (OCSF 1.8.0)",
        output.display(),
        ocsf_output.display()
    );
    drop(tx);
    result
}
