//! `[server]` (the operator's window: `/metrics`, `/healthz`, `/readyz`) and
//! `[dead_letter]` (where refused records wait for `replay-dead-letters`).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// `[server]`: the operator's window into a running shipper (`/metrics`, `/healthz`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Where to listen, e.g. `127.0.0.1:9598`; no listener when unset. Port 0 picks a free
    /// port and logs it.
    pub listen: Option<std::net::SocketAddr>,
    /// `/readyz` fails when a stream has not completed a scan of Coder for this long.
    #[serde(default = "default_ready_staleness", with = "humantime_serde")]
    pub ready_staleness: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: None,
            ready_staleness: default_ready_staleness(),
        }
    }
}

/// `[dead_letter]`: where records a peer refused for good are kept, one NDJSON file per
/// sink (`replay-dead-letters` sends them again).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterConfig {
    /// Default: `<checkpoint dir>/dead-letter`.
    pub dir: Option<PathBuf>,
}

fn default_ready_staleness() -> Duration {
    Duration::from_secs(120)
}
