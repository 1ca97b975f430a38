//! What an operator watches: Prometheus metrics and the HTTP endpoints that serve them.
//!
//! A leaf: it knows no stream, no Coder and no sink. Errors are counted through the
//! `metrics` facade where they happen ([`metrics`]'s small functions, called from the
//! leaves); the counters a stream keeps for itself reach `/metrics` and `/readyz` through
//! the [`server::Status`] the pipeline passes in.

pub mod metrics;
pub mod server;
