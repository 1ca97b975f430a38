//! The retry rule: what a producer error means for a record and for its batch.
//!
//! * A record the broker can never take as it is (too large, invalid, a timestamp the
//!   broker refuses: `INVALID_TIMESTAMP` with `message.timestamp.before.max.ms`, KIP-937;
//!   `RECORD_LIST_TOO_LARGE`, which librdkafka's error table marks permanent) is
//!   **dead-lettered**: retrying it would block the stream for ever.
//! * Authorization and authentication failures, and a topic the cluster does not have
//!   (librdkafka's local `ERR__UNKNOWN_TOPIC`, reported once the topic is still missing
//!   after `topic.metadata.propagation.max.ms`: auto-creation is off), are **fatal** for the
//!   sink: nothing will change until an operator acts, and the checkpoint must stay where
//!   it is. The broker's `UNKNOWN_TOPIC_OR_PART` alone is not: librdkafka retries it while
//!   a new topic's metadata propagates; only a run of attempts failing on it for one topic
//!   stops the sink ([`crate::progress::MISSING_TOPIC_ATTEMPTS`]), each retry counted
//!   meanwhile.
//! * Everything else (broker down, timeouts, leader moves, full queues) is **transient**:
//!   the records whose reports failed are sent again, through a new producer, so one that
//!   timed out in flight and was written anyway is written twice; each carries its audit
//!   id as the key, for consumers to drop.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Transient,
    DeadLetter,
    Fatal,
}

pub fn classify(error: &KafkaError) -> Outcome {
    use RDKafkaErrorCode as C;
    match error.rdkafka_error_code() {
        Some(
            C::MessageSizeTooLarge
            | C::InvalidMessageSize
            | C::InvalidMessage
            | C::InvalidRecord
            | C::InvalidTimestamp
            | C::MessageBatchTooLarge,
        ) => Outcome::DeadLetter,
        Some(
            C::TopicAuthorizationFailed
            | C::ClusterAuthorizationFailed
            | C::SaslAuthenticationFailed
            | C::Authentication
            | C::InvalidTopic
            | C::UnknownTopic
            | C::Fatal,
        ) => Outcome::Fatal,
        _ => Outcome::Transient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule() {
        let p = |c| KafkaError::MessageProduction(c);
        assert_eq!(
            classify(&p(RDKafkaErrorCode::MessageSizeTooLarge)),
            Outcome::DeadLetter
        );
        assert_eq!(
            classify(&p(RDKafkaErrorCode::TopicAuthorizationFailed)),
            Outcome::Fatal
        );
        assert_eq!(
            classify(&p(RDKafkaErrorCode::MessageTimedOut)),
            Outcome::Transient
        );
        assert_eq!(
            classify(&p(RDKafkaErrorCode::QueueFull)),
            Outcome::Transient
        );
        assert_eq!(
            classify(&p(RDKafkaErrorCode::BrokerTransportFailure)),
            Outcome::Transient
        );
        assert_eq!(
            classify(&p(RDKafkaErrorCode::UnknownTopicOrPartition)),
            Outcome::Transient
        );
        // Permanent for the record: never retried for ever.
        for code in [
            RDKafkaErrorCode::InvalidTimestamp,
            RDKafkaErrorCode::MessageBatchTooLarge,
        ] {
            assert_eq!(classify(&p(code)), Outcome::DeadLetter, "{code:?}");
        }
        // A topic the cluster does not have (and will not create): the sink stops.
        assert_eq!(classify(&p(RDKafkaErrorCode::UnknownTopic)), Outcome::Fatal);
    }
}
