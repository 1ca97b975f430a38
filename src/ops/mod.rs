//! What an operator watches: Prometheus metrics and the HTTP endpoints that serve them.
//!
//! Counters that a stream already keeps for itself ([`crate::pipeline::StreamStats`]) are
//! copied into the exposition at scrape time, so there is one source of truth per number
//! and the lag gauges are computed against the scrape's own clock. Errors that happen
//! where no stream's counters are at hand (a request to Coder, a checkpoint write) are
//! counted through the `metrics` facade where they happen.

pub mod entitlement;
pub mod metrics;
pub mod server;
