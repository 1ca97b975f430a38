//! `hec-sim`: the Splunk HEC simulator with indexer acknowledgement as a standalone server
//! (for benchmarks with `ack = true`; Tenzir's HEC never confirms an ack).

use std::time::Duration;

use clap::Parser;
use coder_sim::hec::{HecOptions, HecSim};

#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
    #[arg(
        long,
        env = "HEC_SIM_TOKEN",
        default_value = "hec-sim-token",
        hide_env_values = true
    )]
    token: String,
    /// How long an accepted request takes to be "indexed" (its ack turns true).
    #[arg(long, default_value = "50ms", value_parser = humantime::parse_duration)]
    ack_delay: Duration,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sim = HecSim::start_on(
        args.listen,
        HecOptions {
            token: args.token,
            ack_delay: args.ack_delay,
            ..HecOptions::default()
        },
    )
    .await?;
    println!("listening on {}", sim.url());
    tokio::signal::ctrl_c().await?;
    eprintln!("indexed {} events", sim.indexed_count());
    Ok(())
}
