//! Logging setup. Logs go to stderr so that the stdout sink's NDJSON stays clean.

use std::io::IsTerminal;

use tracing::{Level, Metadata};
use tracing_subscriber::filter::{EnvFilter, FilterExt, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

/// Third-party targets whose `trace` events are dropped whatever `RUST_LOG` says: at
/// `trace`, aws-sigv4 logs the canonical request it signs, session-token header included
/// (`http_request/sign.rs`, "calculated signing parameters"), and the HTTP stacks log
/// request parts.
const NO_TRACE: &[&str] = &[
    "aws_sigv4",
    "aws_smithy",
    "aws_config",
    "aws_sdk",
    "hyper",
    "reqwest",
    "h2",
    "rustls",
];

/// Whether an event may be logged at all (before `RUST_LOG` is asked).
fn allowed(meta: &Metadata<'_>) -> bool {
    *meta.level() != Level::TRACE || !NO_TRACE.iter().any(|t| meta.target().starts_with(t))
}

/// Levels come from `RUST_LOG` (default `info`), less [`NO_TRACE`]. Colours only on a
/// terminal: journald, `kubectl logs` and log files get plain text.
pub fn init(format: LogFormat) {
    let env = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = env.and(filter_fn(allowed));
    let layer = fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Human => tracing_subscriber::registry()
            .with(layer.with_filter(filter))
            .try_init(),
        LogFormat::Json => tracing_subscriber::registry()
            .with(layer.json().with_filter(filter))
            .try_init(),
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::callsite::Identifier;
    use tracing::field::FieldSet;
    use tracing::metadata::Kind;

    struct Site;
    impl tracing::Callsite for Site {
        fn set_interest(&self, _: tracing::subscriber::Interest) {}
        fn metadata(&self) -> &Metadata<'_> {
            unreachable!()
        }
    }
    static SITE: Site = Site;

    fn meta(target: &'static str, level: Level) -> Metadata<'static> {
        Metadata::new(
            "e",
            target,
            level,
            None,
            None,
            None,
            FieldSet::new(&[], Identifier(&SITE)),
            Kind::EVENT,
        )
    }

    #[test]
    fn the_signer_s_trace_is_dropped_and_ours_is_not() {
        assert!(!allowed(&meta(
            "aws_sigv4::http_request::sign",
            Level::TRACE
        )));
        assert!(allowed(&meta(
            "aws_sigv4::http_request::sign",
            Level::DEBUG
        )));
        assert!(allowed(&meta(
            "coder_audit_shipper::coder::tailer",
            Level::TRACE
        )));
    }
}
