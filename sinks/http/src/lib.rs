//! The generic HTTP sink: batches of records POSTed as NDJSON or one JSON array to any
//! intake that takes them (Azure Monitor's Logs Ingestion API for Sentinel, Datadog's logs
//! intake, a Sumo Logic HTTP source, a webhook). `config/http-*.toml` has one for each.
//!
//! * [`config`]: the table, its checks and the build;
//! * [`request`]: records as request bodies, cut to the intake's limits;
//! * [`reply`]: what a status means (the retry rule);
//! * [`sink`]: sending, and keeping between attempts what the intake already took;
//! * [`transport`]: the client, gzip, `Retry-After` and errors without URLs, which the
//!   Elasticsearch sink shares.
//!
//! A 2xx is delivery: a generic intake offers nothing stronger, so a request whose answer
//! was lost is sent again (a duplicate, never a loss). Records the intake refuses for good
//! are found by halving the request and dead-lettered alone; the rest are delivered.

pub mod config;
pub mod reply;
pub mod request;
pub mod sink;
pub mod transport;

pub use config::{Compression, HttpSinkConfig};
pub use request::{Encoding, Limits};
pub use sink::HttpSink;
