//! The syslog sink: each record as one RFC 5424 message, over TCP with RFC 6587 framing,
//! TLS (RFC 5425) or UDP (RFC 5426).
//!
//! * [`config`]: address, transport, framing, facility, TLS files, size limit;
//! * [`message`]: the RFC 5424 header and structured data around a record's body;
//! * [`framing`]: octet counting or LF between messages on a stream;
//! * [`connection`]: the persistent TCP/TLS connection or the UDP socket;
//! * [`sink`]: delivering a batch, and what counts as delivered.
//!
//! Syslog has no acknowledgement: a batch counts as delivered when every message is written
//! and flushed to the socket. A connection the receiver closed is noticed before the next
//! batch is written (not after, when the kernel would already have taken the bytes), and a
//! write that fails resends the whole batch on a new connection.

pub mod config;
pub mod connection;
pub mod framing;
pub mod message;
pub mod sink;

pub use config::{
    Facility, Framing, Severity, SyslogSettings, SyslogSinkConfig, TlsFiles, Transport,
};
pub use sink::SyslogSink;
