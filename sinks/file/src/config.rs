//! `type = "file"` and `type = "stdout"`: what the operator sets, and the sinks built from it.

use std::path::PathBuf;

use async_trait::async_trait;
use serde::Deserialize;
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
}

fn default_max_files() -> u32 {
    5
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
            batching: Batching::IMMEDIATE,
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
