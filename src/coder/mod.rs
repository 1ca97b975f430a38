//! Everything about talking to Coder: the HTTP client, the lenient entry model, the cursor
//! and the tailer that walks the audit log with it.

mod client;
mod cursor;
mod entry;
mod error;
mod page;
mod tailer;
mod window;

pub use client::{BuildInfo, ClientOptions, CoderClient, TokenSource};
pub use cursor::{Cursor, EntryKey, Partial, SeenEntry};
pub use entry::{AuditEntry, Organization, User};
pub use error::CoderError;
pub use page::{AuditPage, Event, parse_page};
pub use tailer::{Outlet, StepReport, TailError, Tailer, TailerOptions};
pub use window::{Window, date_to_bound};
