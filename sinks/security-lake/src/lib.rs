//! The Amazon Security Lake sink: OCSF 1.1.0 events as Parquet, one custom source per
//! event class, in the layout Security Lake's custom sources take.
//!
//! * [`config`]: the sources by class, the lake's bucket, region and account, batching;
//! * [`schema`]: each class's Parquet schema, from OCSF 1.1.0's own schema data;
//! * [`route`]: which object (class, day) each record goes to, in time order;
//! * [`conform`]: an event as its class's row (JSON attributes as text, nothing dropped);
//! * [`stage`]: the batch being gathered, its rows on disk per (class, day) until it is due;
//! * [`parquet_file`]: the rows as a Parquet file, spilled to disk when large;
//! * [`object`]: the partition and the object's name;
//! * [`sink`]: the staged batch as objects, uploaded through the S3 sink's uploader (its retry
//!   rule too: `sink_s3::outcome`).

pub mod config;
pub mod conform;
pub mod object;
pub mod parquet_file;
pub mod route;
pub mod schema;
pub mod sink;
pub mod stage;

pub use config::SecurityLakeSinkConfig;
