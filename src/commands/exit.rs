//! How `run` ends: the streams that stopped, why by type, and the exit code that tells a
//! supervisor which (sysexits.h).

use crate::checkpoint::CheckpointError;
use crate::coder::{CoderError, TailError};
use crate::pipeline::{DeliveryError, StreamError};

/// `run` stopped because another replica took the leader lock (exit code 75).
#[derive(Debug, thiserror::Error)]
#[error("this replica lost the leader lock; another replica ships from the shared checkpoints")]
pub struct LostLeadership;

/// The exit code of a command that failed with `e` (sysexits.h, see [`StreamsFailed`]).
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if let Some(failed) = e.downcast_ref::<StreamsFailed>() {
        return failed.exit_code();
    }
    if e.downcast_ref::<LostLeadership>().is_some() {
        return EX_TEMPFAIL;
    }
    1
}

/// sysexits.h: the service is unavailable (a sink refused what it was sent).
const EX_UNAVAILABLE: u8 = 69;
/// sysexits.h: a temporary failure, try again (another replica leads now).
const EX_TEMPFAIL: u8 = 75;
/// sysexits.h: permission denied (Coder refused the token).
const EX_NOPERM: u8 = 77;

/// Why a stream stopped, as far as the exit code and the log line go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cause {
    Other,
    /// Another replica holds the leader lock now ([`CheckpointError::Fenced`]).
    Fenced,
    /// A sink refused a batch, or kept failing past its retry budget.
    Sink,
    /// Coder refused the token (401, 403).
    Coder,
}

impl Cause {
    pub(super) fn of(e: &StreamError) -> Self {
        match e {
            TailError::Coder(CoderError::Unauthorized { .. } | CoderError::Forbidden { .. }) => {
                Cause::Coder
            }
            TailError::Outlet(DeliveryError::Checkpoint(CheckpointError::Fenced { .. })) => {
                Cause::Fenced
            }
            TailError::Outlet(DeliveryError::Send(_)) => Cause::Sink,
            _ => Cause::Other,
        }
    }
}

#[derive(Debug)]
pub(super) struct Failure {
    pub(super) cause: Cause,
    pub(super) line: String,
}

/// `run` ended with streams stopped on errors. The exit code tells a supervisor which
/// (sysexits.h): 77 (`EX_NOPERM`) Coder refused the token, 69 (`EX_UNAVAILABLE`) a sink
/// refused what it was sent, 75 (`EX_TEMPFAIL`) this replica lost the leader lock to
/// another, 1 anything else; with several, the first of these that applies.
#[derive(Debug)]
pub struct StreamsFailed {
    pub(super) failures: Vec<Failure>,
}

impl StreamsFailed {
    pub fn exit_code(&self) -> u8 {
        match self.failures.iter().map(|f| f.cause).max() {
            Some(Cause::Coder) => EX_NOPERM,
            Some(Cause::Sink) => EX_UNAVAILABLE,
            Some(Cause::Fenced) => EX_TEMPFAIL,
            _ => 1,
        }
    }
}

impl std::fmt::Display for StreamsFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} stream(s) stopped on errors:", self.failures.len())?;
        for failure in &self.failures {
            write!(f, "\n  {}", failure.line)?;
        }
        Ok(())
    }
}

impl std::error::Error for StreamsFailed {}

#[cfg(test)]
mod tests {
    use sink_core::SendError;

    use super::*;

    fn failed(errors: Vec<StreamError>) -> anyhow::Error {
        StreamsFailed {
            failures: errors
                .iter()
                .map(|e| Failure {
                    cause: Cause::of(e),
                    line: e.to_string(),
                })
                .collect(),
        }
        .into()
    }

    #[test]
    fn the_exit_code_says_why_by_the_errors_type() {
        let fenced = || {
            TailError::Outlet(DeliveryError::Checkpoint(CheckpointError::Fenced {
                path: "sinks/a".into(),
                epoch: 3,
            }))
        };
        let rejected = || {
            TailError::Outlet(DeliveryError::Send(SendError::Rejected {
                sink: "a".into(),
                reason: "400".into(),
            }))
        };
        let unauthorized = || {
            TailError::Coder(CoderError::Unauthorized {
                message: "token expired".into(),
            })
        };
        assert_eq!(exit_code(&failed(vec![fenced()])), 75);
        assert_eq!(exit_code(&failed(vec![rejected()])), 69);
        assert_eq!(exit_code(&failed(vec![fenced(), unauthorized()])), 77);
        assert_eq!(
            exit_code(&failed(vec![TailError::Outlet(
                DeliveryError::OutletStopped
            )])),
            1
        );
        assert_eq!(exit_code(&LostLeadership.into()), 75);
        assert_eq!(exit_code(&anyhow::anyhow!("no config")), 1);
        // The text stays what it was.
        let text = failed(vec![fenced()]).to_string();
        assert!(
            text.starts_with("1 stream(s) stopped on errors:")
                && text.contains("checkpoint write failed: ")
                && text.contains("no longer the leader"),
            "{text}"
        );
    }
}
