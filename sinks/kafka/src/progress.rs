//! A batch's progress between delivery attempts: which records the brokers already have.
//!
//! librdkafka's own retries inside `message.timeout.ms` keep the idempotent producer's id
//! and sequence numbers, so they never duplicate. A failure past that ends the attempt,
//! and the retry loop hands the same batch back. Sending it whole again would write once
//! more every record whose delivery report had succeeded, through a new producer whose new
//! id idempotence cannot match to the old: duplicates. So the records confirmed (or
//! dead-lettered) are kept here and skipped; only those whose report failed go out again.
//! A record whose report says `ERR__MSG_TIMED_OUT` while it was in flight may still have
//! been written (librdkafka's INTRODUCTION.md, "Message timeout considerations"): that one
//! can be duplicated, and carries its audit id as the key for consumers to drop.

use sink_core::{Batch, DeadRecord};

/// Attempts in a row on which the brokers answered `UNKNOWN_TOPIC_OR_PART` for one topic
/// before the sink stops: librdkafka retries that error while a new topic's metadata
/// propagates, so a few attempts are normal, a run of them is a missing topic.
pub const MISSING_TOPIC_ATTEMPTS: usize = 5;

pub struct Progress {
    /// [`Batch::fingerprint`] of the batch this is the progress of.
    batch: u64,
    /// Per record: the brokers have it, or it was dead-lettered.
    pub done: Vec<bool>,
    /// Records the brokers refused for good.
    pub dead: Vec<DeadRecord>,
    /// The topic the brokers called unknown on the last attempts, and on how many in a row.
    pub missing_topic: Option<(String, usize)>,
}

impl Progress {
    pub fn new(batch: &Batch) -> Self {
        Progress {
            batch: batch.fingerprint(),
            done: vec![false; batch.len()],
            dead: Vec::new(),
            missing_topic: None,
        }
    }

    /// Whether this is `batch`'s progress (a retry), not an earlier batch's.
    pub fn is_for(&self, batch: &Batch) -> bool {
        self.batch == batch.fingerprint() && self.done.len() == batch.len()
    }

    /// Count an attempt that failed transiently, with the topic the brokers called
    /// unknown on it, if any. Returns that topic and the attempts in a row once they reach
    /// [`MISSING_TOPIC_ATTEMPTS`].
    pub fn failed(&mut self, unknown_topic: Option<String>) -> Option<(String, usize)> {
        self.missing_topic = match (self.missing_topic.take(), unknown_topic) {
            (Some((before, n)), Some(now)) if before == now => Some((now, n + 1)),
            (_, Some(now)) => Some((now, 1)),
            (_, None) => None,
        };
        self.missing_topic
            .clone()
            .filter(|(_, n)| *n >= MISSING_TOPIC_ATTEMPTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_run_of_one_unknown_topic_reaches_the_cap() {
        let mut p = Progress::new(&Batch::default());
        for _ in 1..MISSING_TOPIC_ATTEMPTS {
            assert_eq!(p.failed(Some("a".into())), None);
        }
        // Another failure in between starts the count again.
        assert_eq!(p.failed(None), None);
        for _ in 1..MISSING_TOPIC_ATTEMPTS {
            assert_eq!(p.failed(Some("a".into())), None);
        }
        assert_eq!(
            p.failed(Some("b".into())),
            None,
            "another topic starts at 1"
        );
        for _ in 2..MISSING_TOPIC_ATTEMPTS {
            assert_eq!(p.failed(Some("b".into())), None);
        }
        assert_eq!(
            p.failed(Some("b".into())),
            Some(("b".into(), MISSING_TOPIC_ATTEMPTS))
        );
    }
}
