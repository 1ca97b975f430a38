//! The Elasticsearch (8/9) and OpenSearch (2) sink: ECS documents into a data stream
//! (`logs-coder.audit-default`, `logs-coder.connection-default`) through the Bulk API.
//!
//! * [`config`]: the table, credentials (API key, basic, bearer), the index per stream;
//! * [`bulk`]: a batch as `create` actions keyed by the audit id;
//! * [`reply`]: what a bulk answer means, item by item (the retry rule);
//! * [`template`]: the index template that types our fields, and `validate`'s check;
//! * [`sink`]: sending, and keeping between attempts only the documents still to send.
//!
//! Each document's `_id` is its record's id, and the action is `create`: a batch sent
//! again after a crash (or a lost answer) is answered 409 for every document the index
//! already has, counted as delivered and in `component_already_delivered_events_total`.
//! Exactly once in the index, in effect, whatever the crashes.

pub mod bulk;
pub mod config;
pub mod reply;
pub mod sink;
pub mod template;

pub use config::{DEFAULT_INDEX, ElasticsearchSinkConfig};
pub use sink::ElasticsearchSink;
