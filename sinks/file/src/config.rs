//! `type = "file"` and `type = "stdout"`: what the operator sets, and the sinks built from it.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use sink_core::size::byte_size;
use sink_core::{Batching, BuildError, Built, DeliveryGuarantee, SinkContext, SinkSpec};

use crate::{FileSink, StdoutSink};

/// `[sinks.NAME]` with `type = "file"`: NDJSON appended to `path`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    pub path: PathBuf,
    /// Rotate when the file would grow past this many bytes (`None`: never rotate).
    pub max_bytes: Option<u64>,
    /// Rotated files kept beside the live one (`audit.ndjson.1` is the newest).
    #[serde(default = "default_max_files")]
    pub max_files: u32,
    /// Pages that follow each other within one scan of Coder (a backfill, a catch-up)
    /// are written and synced together, up to this much ("0" writes every page alone).
    /// A scan's last page is written when the scan ends, so live events never wait.
    #[serde(default = "default_batch_max_bytes", deserialize_with = "byte_size")]
    pub batch_max_bytes: u64,
    /// ... or once the oldest of them has waited this long.
    #[serde(default = "default_batch_timeout", with = "humantime_serde")]
    pub batch_timeout: Duration,
}

fn default_max_files() -> u32 {
    5
}

fn default_batch_max_bytes() -> u64 {
    1 << 20
}

fn default_batch_timeout() -> Duration {
    Duration::from_secs(1)
}

#[async_trait]
impl SinkSpec for FileSinkConfig {
    const TYPE: &'static str = "file";

    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }

    fn guarantee(&self) -> DeliveryGuarantee {
        DeliveryGuarantee::Synced
    }

    async fn build(&self, ctx: &SinkContext<'_>) -> Result<Built, BuildError> {
        Ok(Built {
            sink: Box::new(FileSink::new(ctx.name, self.clone())),
            // An `fsync` costs the same for one page as for eight: pages that come
            // together share one.
            batching: Batching::within_a_scan(self.batch_max_bytes, self.batch_timeout),
        })
    }
}

/// `[sinks.NAME]` with `type = "stdout"`: NDJSON on standard output (a debugging tap).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutSinkConfig {}

#[async_trait]
impl SinkSpec for StdoutSinkConfig {
    const TYPE: &'static str = "stdout";

    fn describe(&self) -> String {
        "stdout".to_owned()
    }

    fn guarantee(&self) -> DeliveryGuarantee {
        DeliveryGuarantee::Written
    }

    async fn build(&self, ctx: &SinkContext<'_>) -> Result<Built, BuildError> {
        Ok(Built {
            sink: Box::new(StdoutSink::new(ctx.name)),
            batching: Batching::IMMEDIATE,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batching(json: serde_json::Value) -> Batching {
        let c: FileSinkConfig = serde_json::from_value(json).unwrap();
        let ctx = SinkContext {
            name: "archive",
            origin: "coder.example.com",
            format: "raw",
            schema: "coder",
            classes: &[],
            stream: None,
        };
        let built = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(c.build(&ctx))
            .unwrap();
        built.batching
    }

    #[test]
    fn a_file_sink_gathers_a_scans_pages_up_to_1_mib_or_1_s_unless_told_otherwise() {
        let default = batching(serde_json::json!({"path": "a.ndjson"}));
        assert_eq!(default.max_bytes, 1 << 20);
        assert_eq!(default.timeout, Some(Duration::from_secs(1)));
        assert!(default.at_scan_end);
        let per_page = batching(serde_json::json!({"path": "a.ndjson", "batch_max_bytes": "0"}));
        assert_eq!(per_page.max_bytes, 0);
        let set = batching(
            serde_json::json!({"path": "a.ndjson", "batch_max_bytes": "8MiB", "batch_timeout": "250ms"}),
        );
        assert_eq!(set.max_bytes, 8 << 20);
        assert_eq!(set.timeout, Some(Duration::from_millis(250)));
    }
}
