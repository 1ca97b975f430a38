//! Chaos: the guarantees under the faults a security pipeline meets. Each scenario runs
//! the real binary against the Coder simulator and the real peers, counts loss (must be
//! zero) and duplicates against the simulator's ground truth, and records its figures
//! (loss, duplicates, peak RSS) in `$CARGO_TARGET_TMPDIR/reliability.txt`, the source of
//! RELIABILITY.md.
//!
//! * `kill9`: 20 × SIGKILL at random moments, live traffic, file + Kafka + S3 + Security Lake;
//! * `outages`: each peer down for 30 s in turn while the other sinks go on;
//! * `coder_faults`: 429 storms, 5xx, bad bodies, hangs, 401/403/404, TLS, DNS;
//! * `local_faults`: a full and a read-only checkpoint directory, a corrupt checkpoint;
//! * `failover`: two replicas on the postgres store, the leader killed, the fence;
//! * `hostile`: a 200 MB entry, deep diffs, delimiters and control characters, secrets;
//! * `sessions`: 10 × SIGKILL while connection sessions open and close;
//! * `rejoin`: S3 down for 2 minutes beside two file sinks sharing one read of Coder.

#[path = "../common/mod.rs"]
mod common;

mod coder_faults;
mod failover;
#[cfg(feature = "syslog")]
mod hostile;
#[cfg(all(feature = "kafka", feature = "s3", feature = "security_lake"))]
mod kill9;
mod local_faults;
#[cfg(all(
    feature = "kafka",
    feature = "s3",
    feature = "security_lake",
    feature = "splunk",
    feature = "syslog"
))]
mod outages;
#[cfg(feature = "s3")]
mod rejoin;
mod report;
mod sessions;

/// Scenarios that stop a shared peer run alone; the others share the peers.
pub static PEERS: std::sync::RwLock<()> = std::sync::RwLock::new(());
