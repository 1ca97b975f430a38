//! A string that never prints: [`sink_core::Secret`], shared with the sink crates (the HEC
//! token is one too).

pub use sink_core::secret::Secret;
