//! coder-audit-shipper: ships Coder's audit trail to security tools with durable cursors
//! that advance only after delivery.
//!
//! The binary (`main.rs`) is a thin CLI over this library:
//! * [`coder`]: the API client, the lenient entry model, the cursor and the tailer;
//! * [`checkpoint`]: where cursors are saved, one per stream, sink and namespace;
//! * [`pipeline`]: one tailer per sink, delivery with retry, checkpoint after delivery;
//! * [`normalize`]: each entry as ECS 9.4 or OCSF 1.8.0/1.1.0, pure functions, no I/O;
//! * [`config`]: the config file and its environment overrides;
//! * [`commands`]: `run`, `backfill`, `validate`, `checkpoint show`, `demo`.

pub mod checkpoint;
pub mod cli;
pub mod coder;
pub mod commands;
pub mod config;
pub mod dead_letter;
pub mod normalize;
pub mod ops;
pub mod pipeline;
pub mod secret;
pub mod sinks;
pub mod telemetry;
