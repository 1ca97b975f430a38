//! The contract between the shipper's pipeline and every sink.
//!
//! The pipeline never knows which sink it feeds: it hands a [`Batch`] of already-encoded
//! [`Record`]s to a [`Sink`] and gets back a [`Delivery`] outcome. Only `Delivered` lets the
//! pipeline move that sink's checkpoint; `Retry` and `Reject` never do. Keeping this contract
//! small is what lets each sink crate own all of its peer's quirks (status codes, acks,
//! framing) without the pipeline growing a special case per sink.

mod batch;
mod delivery;
mod guarantee;
pub mod private_file;
mod retry;
pub mod secret;
mod sink;
pub mod size;
mod spec;
pub mod tls;

pub use batch::{Batch, Record};
pub use delivery::{DeadRecord, Delivery};
pub use guarantee::DeliveryGuarantee;
pub use retry::{Attempt, RetryPolicy, SendError, Sent, attempt_with_retry, send_with_retry};
pub use secret::Secret;
pub use sink::Sink;
pub use spec::{
    Batching, BuildError, Built, KeyError, SinkContext, SinkSpec, check_http_url, is_plain_http,
};
