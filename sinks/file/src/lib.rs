//! NDJSON sinks for local files and standard output.
//!
//! The file sink is the embedded default and the simplest durable peer: a batch counts as
//! delivered only once its lines are written *and* `fsync`ed, so a crash right after a
//! checkpoint write can never find the checkpoint ahead of the file.

pub mod config;
mod file;
mod stdout;

pub use config::{FileSinkConfig, StdoutSinkConfig};
pub use file::FileSink;
pub use stdout::StdoutSink;

/// One NDJSON chunk for a batch: every payload followed by `\n`.
fn ndjson(batch: &sink_core::Batch) -> Vec<u8> {
    let mut out = Vec::with_capacity(batch.payload_bytes() + batch.len());
    for record in batch.records() {
        out.extend_from_slice(&record.payload);
        out.push(b'\n');
    }
    out
}
