//! The Splunk HTTP Event Collector sink: batches of event envelopes to
//! `/services/collector/event`, gzip, and optionally indexer acknowledgement.
//!
//! * [`config`]: endpoint, token, index/sourcetype/source/host, TLS, ack settings;
//! * [`envelope`]: one record as a HEC event envelope, and the request bodies of a batch;
//! * [`reply`]: what HEC's status and JSON code mean (the retry rule);
//! * [`ack`]: the channel and the ack ids still waiting for the indexer (and what a
//!   repeated ack id means: a load balancer without sticky sessions);
//! * [`progress`]: what HEC already took of a batch, kept between attempts so a retry
//!   sends only what it refused;
//! * [`sink`]: sending a batch and waiting until HEC has it (or its indexers have, with
//!   acknowledgement on).
//!
//! With acknowledgement on, a 200 only means HEC parsed the request; the batch counts as
//! delivered when `/services/collector/ack` reports every request's ack id true. An ack
//! that does not come within `ack_timeout` means the request is sent again: duplicates
//! are possible (every event carries `coder_audit_id` in its indexed fields to find
//! them), loss is not.

pub mod ack;
pub mod config;
pub mod envelope;
pub mod progress;
pub mod reply;
pub mod sink;

pub use config::{AckConfig, HecCompression, HecConfig, HecSinkConfig, Token};
pub use sink::HecSink;
