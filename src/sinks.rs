//! Building sinks from their config. The pipeline only ever sees `Box<dyn Sink>`.

use sink_core::Sink;
use sink_file::{FileSink, FileSinkConfig, StdoutSink};

use crate::config::SinkConfig;

pub fn build(name: &str, config: &SinkConfig) -> Box<dyn Sink> {
    match config {
        SinkConfig::File(c) => Box::new(FileSink::new(
            name,
            FileSinkConfig {
                path: c.path.clone(),
                max_bytes: c.max_bytes,
                max_files: c.max_files,
            },
        )),
        SinkConfig::Stdout(_) => Box::new(StdoutSink::new(name)),
    }
}
