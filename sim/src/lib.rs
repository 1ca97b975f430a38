//! A faithful simulator of Coder's audit-log API (`GET /api/v2/audit`).
//!
//! It exists because a tailer is only as good as the traps it was tested against, and a real
//! Coder with an Enterprise licence cannot be started here. Everything it does follows
//! `coder-api/NOTES.md` of the project's shared material (the facts are repeated in the doc
//! comments, so this crate stands on its own):
//!
//! * offset paging in `time DESC` with **no tie-breaker** (ties come back in a fresh random
//!   order on every request), default limit 100 (none before v2.13), no maximum;
//! * the `q` grammar: lower-cased, `key:value` tokens, day-granular UTC `date_from` /
//!   `date_to` where `date_to` stops at 23:59:59.000000;
//! * `count` per version: 0 on an empty page before v2.25, exact until v2.31, capped at
//!   2001 with `count_cap: 2000` from v2.32;
//! * auth by `Coder-Session-Token` (and cookie, query, `Authorization: Bearer` from v2.25);
//! * the 512 requests/minute limiter with `Retry-After` on 429;
//! * injected faults (5xx, truncated and non-JSON bodies, hangs), live inserts while paging,
//!   late rows, retention deletes.
//!
//! The connection log of v2.25+ ([`connections`]) is served too: mutable rows, `403
//! Premium feature` without the license, 404 before v2.25.
//!
//! [`hec`] is the other simulated peer: a Splunk HEC with indexer acknowledgement, which
//! no installable HEC server answers truthfully.

pub mod authcheck;
pub mod body;
pub mod connections;
pub mod directory;
pub mod elastic;
pub mod generate;
pub mod go_json;
pub mod hec;
pub mod intake;
pub mod keys;
pub mod query;
pub mod redirect;
pub mod scenario;
pub mod server;
pub mod store;
pub mod version;

pub use generate::Generator;
pub use server::{Fault, Sim, SimConfig, SimHandle};
pub use store::{Row, Store};
pub use version::ApiVersion;
