//! `coder-sim`: the Coder audit API simulator as a standalone server, for end-to-end and
//! chaos tests that run the shipper as a separate process (and for trying it by hand).

use std::time::Duration;

use clap::Parser;
use coder_sim::server::LiveTraffic;
use coder_sim::{ApiVersion, Sim, SimConfig};

#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
    /// Coder version to imitate (count, limit and auth rules follow it).
    #[arg(long, default_value = "v2.36.0")]
    coder_version: String,
    /// Session token accepted (default: the demo token).
    #[arg(long, env = "CODER_SIM_TOKEN", default_value = SimConfig::DEFAULT_TOKEN, hide_env_values = true)]
    token: String,
    /// Rows of history to create, spread over --backlog-span before now.
    #[arg(long, default_value_t = 0)]
    backlog: usize,
    #[arg(long, default_value = "3d", value_parser = humantime::parse_duration)]
    backlog_span: Duration,
    /// Live rows inserted per second.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Share of live rows stamped in the past, and how far.
    #[arg(long, default_value_t = 0.0)]
    late_share: f64,
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    late_max: Duration,
    /// Share of live rows sharing the previous row's time.
    #[arg(long, default_value_t = 0.0)]
    tie_share: f64,
    /// Share of audit requests answered with a random fault (429, 500, 502, truncated, HTML).
    #[arg(long, default_value_t = 0.0)]
    fault_rate: f64,
    /// Rows inserted after every page served (shifts offsets under the reader).
    #[arg(long, default_value_t = 0)]
    inserts_per_page: usize,
    /// Requests per minute per token before 429 (0 disables, as in Coder).
    #[arg(long, default_value_t = 512)]
    rate_limit: u32,
    #[arg(long)]
    seed: Option<u64>,
    /// Append each audit request to this file: arrival time (Unix ns), path and query.
    #[arg(long)]
    request_log: Option<std::path::PathBuf>,
    /// Connection-log rows of history (v2.25+), spread over --backlog-span before now.
    #[arg(long, default_value_t = 0)]
    connection_backlog: usize,
    /// How many of the history's sessions are still open.
    #[arg(long, default_value_t = 0)]
    open_sessions: usize,
    /// Live connections per second (half of them sessions that end later).
    #[arg(long, default_value_t = 0.0)]
    connection_rate: f64,
    /// The longest a live session lasts.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    session_max: Duration,
    /// Answer the connection log with 403 "Premium feature", as without the license.
    #[arg(long)]
    unlicensed_connection_log: bool,
    /// Let the token read workspaces (as a Template Admin's may; the Auditor's may not),
    /// so the shipper's `[enrich.coder]` looks them up.
    #[arg(long)]
    workspaces_readable: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let version = ApiVersion::parse(&args.coder_version).ok_or_else(|| {
        anyhow::anyhow!(
            "--coder-version: expected v2.N, got {:?}",
            args.coder_version
        )
    })?;
    let config = SimConfig {
        version,
        tokens: vec![args.token.clone()],
        rate_limit: (args.rate_limit > 0).then(|| (args.rate_limit, Duration::from_secs(60))),
        seed: args.seed.unwrap_or_else(rand::random),
    };
    let sim = Sim::start_on(config, args.listen).await?;
    sim.set_workspaces_readable(args.workspaces_readable);
    if args.backlog > 0 {
        sim.backlog(
            args.backlog,
            args.backlog_span,
            chrono::Utc::now() - chrono::TimeDelta::minutes(10),
        );
    }
    if args.connection_backlog > 0 {
        sim.connection_backlog(
            args.connection_backlog,
            args.open_sessions,
            args.backlog_span,
            chrono::Utc::now() - chrono::TimeDelta::minutes(10),
        );
    }
    sim.set_connection_log_licensed(!args.unlicensed_connection_log);
    let _live_connections = (args.connection_rate > 0.0)
        .then(|| sim.spawn_live_connections(args.connection_rate, args.session_max));
    if let Some(path) = &args.request_log {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| anyhow::anyhow!("--request-log {}: {e}", path.display()))?;
        sim.log_requests(file);
    }
    sim.set_fault_rate(args.fault_rate);
    sim.set_inserts_per_page(args.inserts_per_page);
    let _live = (args.rate > 0.0).then(|| {
        sim.spawn_live(LiveTraffic {
            rows_per_sec: args.rate,
            late_share: args.late_share,
            late_max: args.late_max,
            tie_share: args.tie_share,
        })
    });
    // The first line is machine-read by tests: keep its shape.
    println!("listening on {}", sim.url());
    wait_for_stop().await;
    Ok(())
}

async fn wait_for_stop() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
