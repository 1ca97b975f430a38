//! The command line. Command and flag names are a contract users script against: add to
//! them, never rename them.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Parser, Subcommand};

use crate::telemetry::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "coder-audit-shipper",
    version,
    about = "Ships Coder's audit trail to security tools, losing nothing"
)]
pub struct Cli {
    /// Log format on stderr (levels from RUST_LOG).
    #[arg(long, global = true, value_enum, default_value = "human")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Tail Coder's audit log into every configured sink until stopped.
    Run {
        #[arg(long, short)]
        config: PathBuf,
        /// Print what each sink would receive instead of sending it; move no checkpoint
        /// (the same as `tap`).
        #[arg(long)]
        dry_run: bool,
    },
    /// Poll Coder and print what each sink would receive, in its format; write nothing and
    /// move no checkpoint. Starts where each sink's checkpoint stands.
    Tap {
        #[arg(long, short)]
        config: PathBuf,
        /// Only this sink (output is then exactly its records, one per line).
        #[arg(long)]
        sink: Option<String>,
        /// Stop once caught up with Coder instead of following it.
        #[arg(long)]
        once: bool,
    },
    /// Replay a range of history into the sinks, then exit. Resumable: run it again after
    /// a kill and it continues where its checkpoint stands.
    Backfill {
        #[arg(long, short)]
        config: PathBuf,
        /// Start of the range (inclusive): YYYY-MM-DD (UTC) or an RFC 3339 time.
        #[arg(long, value_parser = parse_time)]
        from: DateTime<Utc>,
        /// End of the range (exclusive): YYYY-MM-DD (UTC) or an RFC 3339 time.
        #[arg(long, value_parser = parse_time)]
        to: DateTime<Utc>,
    },
    /// Check a config file; errors name the key. Exits non-zero when it is not valid.
    Validate {
        #[arg(long, short)]
        config: PathBuf,
        /// Only check the file; do not connect to the sinks.
        #[arg(long, conflicts_with = "send_test_event")]
        offline: bool,
        /// Also send each sink one clearly marked test event (resource_type
        /// coder_audit_shipper_test) and say whether its peer accepted it.
        #[arg(long)]
        send_test_event: bool,
        /// With --send-test-event: only to this sink.
        #[arg(long, requires = "send_test_event")]
        sink: Option<String>,
    },
    /// Send a sink's dead letters again (after fixing why the peer refused them). Records
    /// it refuses again go back to the dead-letter file.
    ReplayDeadLetters {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        sink: String,
    },
    /// Inspect checkpoints.
    Checkpoint {
        #[command(subcommand)]
        command: CheckpointCommand,
    },
    /// Start a simulated Coder with live traffic and ship it to a file: the whole job on a
    /// machine with no Coder at hand.
    Demo {
        /// Where to write (default: a new temporary directory, kept after exit).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Stop after this long (e.g. "30s"); default: run until Ctrl-C.
        #[arg(long, value_parser = humantime::parse_duration)]
        duration: Option<Duration>,
        /// Live audit events per second in the simulated Coder.
        #[arg(long, default_value_t = 5.0)]
        rate: f64,
        /// Rows of history the simulated Coder starts with.
        #[arg(long, default_value_t = 2000)]
        backlog: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum CheckpointCommand {
    /// Print every checkpoint in the configured store.
    Show {
        #[arg(long, short)]
        config: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// `2026-01-01` (midnight UTC) or an RFC 3339 time.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .ok_or_else(|| format!("{s:?} is not a valid date"));
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("expected YYYY-MM-DD or an RFC 3339 time, got {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_midnight() {
        assert_eq!(
            parse_time("2026-01-01").unwrap().to_rfc3339(),
            "2026-01-01T00:00:00+00:00"
        );
        assert_eq!(
            parse_time("2026-01-01T05:00:00+05:00")
                .unwrap()
                .to_rfc3339(),
            "2026-01-01T00:00:00+00:00"
        );
        assert!(parse_time("January").is_err());
    }

    #[test]
    fn the_cli_contract_parses() {
        Cli::try_parse_from(["x", "run", "--config", "a.toml"]).unwrap();
        Cli::try_parse_from([
            "x",
            "backfill",
            "--config",
            "a.toml",
            "--from",
            "2026-01-01",
            "--to",
            "2026-02-01",
        ])
        .unwrap();
        Cli::try_parse_from(["x", "validate", "--config", "a.toml"]).unwrap();
        Cli::try_parse_from(["x", "checkpoint", "show", "--config", "a.toml"]).unwrap();
        Cli::try_parse_from(["x", "demo"]).unwrap();
        Cli::try_parse_from(["x", "run", "--config", "a.toml", "--dry-run"]).unwrap();
        Cli::try_parse_from(["x", "tap", "--config", "a.toml", "--sink", "lake", "--once"])
            .unwrap();
    }
}
