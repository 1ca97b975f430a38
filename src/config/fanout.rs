//! `[fanout]`: how the sinks that read a stream together let a slow one go.

use std::time::Duration;

use serde::Deserialize;

/// `[fanout]`: sinks that start a stream at the same place share one read of Coder; a sink
/// whose queue stays full this long (or at once, when it is failing) goes on alone.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FanoutConfig {
    #[serde(default = "default_detach_after", with = "humantime_serde")]
    pub detach_after: Duration,
}

impl Default for FanoutConfig {
    fn default() -> Self {
        Self {
            detach_after: default_detach_after(),
        }
    }
}

fn default_detach_after() -> Duration {
    Duration::from_secs(30)
}
