//! Retrying a batch until it is delivered, rejected, or the budget runs out.
//!
//! Sinks only classify an attempt; the waiting lives here, once, with `backon`'s capped,
//! jittered exponential backoff. A peer's own `Retry-After` wins over the computed delay.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

use crate::{Batch, DeadRecord, Delivery, Sink};

/// How long to keep retrying one batch.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// `None` retries for ever: the right default for a tailer, whose source (Coder) keeps
    /// the data, so waiting loses nothing while giving up would stop the stream.
    pub max_attempts: Option<usize>,
    /// A peer's `Retry-After` longer than this is cut to it: a misconfigured or hostile
    /// peer must not park a stream for a day.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(30),
            max_attempts: None,
            max_retry_after: Duration::from_secs(600),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self) -> impl Iterator<Item = Duration> {
        let builder = ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_jitter();
        let builder = match self.max_attempts {
            // backon counts retries, not attempts.
            Some(n) => builder.with_max_times(n.saturating_sub(1)),
            None => builder.without_max_times(),
        };
        builder.build()
    }
}

/// Why a batch was not delivered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    #[error("sink {sink} rejected the batch: {reason}")]
    Rejected { sink: String, reason: String },
    #[error("sink {sink} still failing after {attempts} attempts: {reason}")]
    Exhausted {
        sink: String,
        attempts: usize,
        reason: String,
    },
}

/// A batch the sink has handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub attempts: usize,
    /// Records the peer refused for good; the caller dead-letters them.
    pub dead: Vec<DeadRecord>,
}

/// One kind of attempt the retry loop repeats.
#[derive(Debug, Clone, Copy)]
pub enum Attempt<'a> {
    /// [`Sink::deliver`] of a whole batch.
    Deliver(&'a Batch),
    /// [`Sink::stage`] of a batch into the one being gathered.
    Stage(&'a Batch),
    /// [`Sink::deliver_staged`].
    DeliverStaged,
}

/// Deliver `batch` to `sink`, retrying transient failures per `policy`.
///
/// Returns the number of attempts it took and the records the peer refused for good. `on_retry` is told of every failed attempt
/// (for logs and metrics) with the delay before the next one.
pub async fn send_with_retry<S: Sink + ?Sized>(
    sink: &mut S,
    batch: &Batch,
    policy: &RetryPolicy,
    on_retry: impl FnMut(&str, Duration),
) -> Result<Sent, SendError> {
    attempt_with_retry(sink, Attempt::Deliver(batch), policy, on_retry).await
}

/// Repeat `attempt` on `sink` until it succeeds, is rejected, or `policy` gives up.
///
/// `deliver_staged` has no records to name: a `PartlyDelivered` from it (a sink's bug) is
/// refused as a rejection rather than moving the checkpoint past records nobody kept.
pub async fn attempt_with_retry<S: Sink + ?Sized>(
    sink: &mut S,
    attempt: Attempt<'_>,
    policy: &RetryPolicy,
    mut on_retry: impl FnMut(&str, Duration),
) -> Result<Sent, SendError> {
    let mut delays = policy.backoff();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let outcome = match attempt {
            Attempt::Deliver(batch) => sink.deliver(batch).await,
            Attempt::Stage(batch) => sink.stage(batch).await,
            Attempt::DeliverStaged => match sink.deliver_staged().await {
                Delivery::PartlyDelivered { .. } => Delivery::reject(
                    "delivering the staged batch named dead records it can no longer name",
                ),
                other => other,
            },
        };
        match outcome {
            Delivery::Delivered => {
                return Ok(Sent {
                    attempts,
                    dead: Vec::new(),
                });
            }
            Delivery::PartlyDelivered { dead } => return Ok(Sent { attempts, dead }),
            Delivery::Reject { reason } => {
                return Err(SendError::Rejected {
                    sink: sink.name().to_owned(),
                    reason,
                });
            }
            Delivery::Retry { after, reason } => {
                let Some(computed) = delays.next() else {
                    return Err(SendError::Exhausted {
                        sink: sink.name().to_owned(),
                        attempts,
                        reason,
                    });
                };
                let delay = match after {
                    Some(a) if a > policy.max_retry_after => {
                        tracing::warn!(
                            sink = sink.name(),
                            asked = ?a,
                            waiting = ?policy.max_retry_after,
                            "the peer asked to wait longer than the cap; waiting the cap"
                        );
                        policy.max_retry_after
                    }
                    Some(a) => a,
                    None => computed,
                };
                on_retry(&reason, delay);
                tokio::time::sleep(delay).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Record;
    use async_trait::async_trait;

    /// A sink that answers from a script, to pin the retry loop's rule.
    struct Scripted {
        answers: Vec<Delivery>,
        calls: usize,
    }

    #[async_trait]
    impl Sink for Scripted {
        fn name(&self) -> &str {
            "scripted"
        }
        async fn deliver(&mut self, _batch: &Batch) -> Delivery {
            self.calls += 1;
            self.answers.remove(0)
        }
    }

    fn batch() -> Batch {
        Batch::new(vec![Record {
            id: "a".into(),
            time_micros: None,
            resource_type: None,
            action: None,
            payload: "{}".into(),
        }])
    }

    fn fast(max_attempts: Option<usize>) -> RetryPolicy {
        RetryPolicy {
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            max_attempts,
            max_retry_after: Duration::from_secs(60),
        }
    }

    #[tokio::test]
    async fn retries_until_delivered() {
        let mut sink = Scripted {
            answers: vec![
                Delivery::retry("down"),
                Delivery::retry("busy"),
                Delivery::Delivered,
            ],
            calls: 0,
        };
        let mut seen = Vec::new();
        let attempts = send_with_retry(&mut sink, &batch(), &fast(None), |r, _| {
            seen.push(r.to_owned())
        })
        .await
        .map(|sent| sent.attempts);
        assert_eq!(attempts, Ok(3));
        assert_eq!(seen, ["down", "busy"]);
    }

    #[tokio::test]
    async fn reject_stops_at_once() {
        let mut sink = Scripted {
            answers: vec![Delivery::reject("bad token"), Delivery::Delivered],
            calls: 0,
        };
        let err = send_with_retry(&mut sink, &batch(), &fast(None), |_, _| {})
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::Rejected { ref reason, .. } if reason == "bad token"));
        assert_eq!(sink.calls, 1);
    }

    #[tokio::test]
    async fn budget_is_a_number_of_attempts() {
        let mut sink = Scripted {
            answers: (0..5).map(|_| Delivery::retry("down")).collect(),
            calls: 0,
        };
        let err = send_with_retry(&mut sink, &batch(), &fast(Some(3)), |_, _| {})
            .await
            .unwrap_err();
        assert_eq!(sink.calls, 3);
        assert!(matches!(err, SendError::Exhausted { attempts: 3, .. }));
    }

    #[tokio::test(start_paused = true)]
    async fn peer_retry_after_is_honoured() {
        let mut sink = Scripted {
            answers: vec![
                Delivery::Retry {
                    after: Some(Duration::from_secs(7)),
                    reason: "slow down".into(),
                },
                Delivery::Delivered,
            ],
            calls: 0,
        };
        let mut delays = Vec::new();
        send_with_retry(&mut sink, &batch(), &fast(None), |_, d| delays.push(d))
            .await
            .unwrap();
        assert_eq!(delays, [Duration::from_secs(7)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_of_a_day_is_cut_to_the_cap() {
        let mut sink = Scripted {
            answers: vec![
                Delivery::Retry {
                    after: Some(Duration::from_secs(86_400)),
                    reason: "come back tomorrow".into(),
                },
                Delivery::Delivered,
            ],
            calls: 0,
        };
        let mut delays = Vec::new();
        send_with_retry(&mut sink, &batch(), &fast(None), |_, d| delays.push(d))
            .await
            .unwrap();
        assert_eq!(delays, [Duration::from_secs(60)]);
    }
}
