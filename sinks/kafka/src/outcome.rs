//! The retry rule: what a producer error means for a record and for its batch.
//!
//! * A record the broker can never take as it is (too large, invalid) is **dead-lettered**:
//!   retrying it would block the stream for ever.
//! * Authorization and authentication failures are **fatal** for the sink: nothing will
//!   change until an operator acts, and the checkpoint must stay where it is.
//! * Everything else (broker down, timeouts, leader moves, full queues) is **transient**:
//!   the batch is sent again; the idempotent producer and the message key make the resend
//!   safe for consumers.

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
            C::MessageSizeTooLarge | C::InvalidMessageSize | C::InvalidMessage | C::InvalidRecord,
        ) => Outcome::DeadLetter,
        Some(
            C::TopicAuthorizationFailed
            | C::ClusterAuthorizationFailed
            | C::SaslAuthenticationFailed
            | C::Authentication
            | C::InvalidTopic
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
    }
}
