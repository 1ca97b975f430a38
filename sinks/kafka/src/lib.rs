//! The Kafka sink: one message per record, keyed by Coder's audit id, with `acks=all` and
//! the idempotent producer, a batch confirmed only when every delivery report is in.
//!
//! * [`config`]: what the operator sets, and the librdkafka settings made from it;
//! * [`topic`]: the topic template (`coder-audit-{resource_type}`);
//! * [`outcome`]: which producer errors are retried, dead-lettered or fatal;
//! * [`progress`]: which records of a batch the brokers already have, so a retry sends
//!   only the others;
//! * [`sink`]: producing a batch and waiting for its reports.

pub mod config;
pub mod context;
pub mod outcome;
pub mod progress;
pub mod sink;
pub mod topic;

pub use config::{Compression, KafkaSettings, KafkaSinkConfig, MessageTime};
pub use sink::{EVENT_TIME_HEADER, KafkaSink};
pub use topic::TopicTemplate;
