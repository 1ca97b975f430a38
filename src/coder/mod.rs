//! Everything about talking to Coder: the HTTP client, the lenient entry models, the cursor
//! and the tailer that walks the audit log (and the connection log) with it.

pub mod budget;
mod call;
mod capabilities;
mod client;
mod connection;
pub mod context;
mod cursor;
pub mod entitlement;
mod entry;
mod error;
mod join;
mod json_text;
mod late;
mod lazy;
pub mod lookup;
mod options;
mod outlet;
mod oversize;
mod page;
mod permission;
pub mod probe;
mod scan;
mod sessions;
pub mod skim;
mod stream;
mod tailer;
mod time;
mod window;

pub use client::{BuildInfo, ClientOptions, CoderClient, TokenSource};
pub use connection::{ConnectionEvent, ConnectionLog, DISCONNECT_SUFFIX, Phase, SshInfo, WebInfo};
pub use context::CoderContext;
pub use cursor::{
    Cursor, EntryKey, KeyHasher, KeyMap, KeySet, LateBucket, OpenSession, Partial, SeenEntry,
};
pub use entry::{AuditEntry, Organization, Oversized, User};
pub use error::CoderError;
pub use join::{Refusal, SkipSet};
pub use json_text::{JsonText, is_secret, write_raw};
pub use lazy::{Glance, LazyAudit};
pub use options::TailerOptions;
pub use outlet::{Outlet, TailError};
pub use page::{Entry, Event, Page, Reading, parse_page, parse_stream_page, parse_stream_page_as};
pub use stream::Stream;
pub use tailer::{StepReport, Tailer};
pub(crate) use time::parse_time_with_offset;
pub use window::{Window, date_to_bound};
