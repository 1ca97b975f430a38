//! Standard output: the debugging tap and the pipe-to-anything sink.
//!
//! Every stdout sink of the process (one per stream) writes a whole batch under one lock:
//! tokio splits a large write, and two sinks' lines must never interleave.

use async_trait::async_trait;
use sink_core::{Batch, Delivery, Sink};
use tokio::io::AsyncWriteExt;

pub struct StdoutSink {
    name: String,
    out: tokio::io::Stdout,
}

impl StdoutSink {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            out: tokio::io::stdout(),
        }
    }
}

#[async_trait]
impl Sink for StdoutSink {
    fn name(&self) -> &str {
        &self.name
    }

    async fn deliver(&mut self, batch: &Batch) -> Delivery {
        static STDOUT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let chunk = crate::ndjson(batch);
        let _whole_batch = STDOUT.lock().await;
        match self.out.write_all(&chunk).await {
            Ok(()) => match self.out.flush().await {
                Ok(()) => Delivery::Delivered,
                Err(e) => Delivery::retry(format!("flushing stdout: {e}")),
            },
            // A closed pipe will not reopen: retrying for ever would only hide it.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                Delivery::reject(format!("stdout is closed: {e}"))
            }
            Err(e) => Delivery::retry(format!("writing stdout: {e}")),
        }
    }
}
