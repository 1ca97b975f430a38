//! The syslog sink's settings.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    #[default]
    Tcp,
    Udp,
    /// TCP with TLS (RFC 5425), server certificate verified.
    Tls,
}

/// How messages are separated on a TCP or TLS stream (RFC 6587). UDP sends one message
/// per datagram and needs neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Framing {
    /// `<length> <message>`: any byte may appear in a message.
    #[default]
    OctetCounting,
    /// A message then `\n`, for receivers that only split lines. A line feed inside a
    /// body is written as a space (JSON bodies stay the same JSON; CEF and LEEF escape
    /// theirs already).
    Lf,
}

/// RFC 5424 §6.2.1 facilities, by their usual names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Facility {
    Kern,
    User,
    Mail,
    Daemon,
    Auth,
    Syslog,
    Lpr,
    News,
    Uucp,
    Cron,
    #[default]
    Authpriv,
    Ftp,
    Ntp,
    Security,
    Console,
    SolarisCron,
    Local0,
    Local1,
    Local2,
    Local3,
    Local4,
    Local5,
    Local6,
    Local7,
}

impl Facility {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// RFC 5424 §6.2.1 severities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Emerg,
    Alert,
    Crit,
    Err,
    Warning,
    #[default]
    Notice,
    Info,
    Debug,
}

impl Severity {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// TLS trust and client identity, all PEM files.
#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    /// CAs that may sign the receiver's certificate; the system roots when absent.
    pub ca_file: Option<PathBuf>,
    /// A client certificate chain and its key, for receivers that ask for one.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// The name checked against the receiver's certificate; the address's host when absent.
    pub server_name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SyslogSinkConfig {
    /// `host:port`.
    pub address: String,
    pub transport: Transport,
    pub framing: Framing,
    pub facility: Facility,
    pub severity: Severity,
    /// RFC 5424 HOSTNAME.
    pub hostname: String,
    /// RFC 5424 APP-NAME.
    pub app_name: String,
    /// The SD-ID of the structured data element (`name@<private enterprise number>`).
    pub sd_id: String,
    /// MSG starts with the UTF-8 byte order mark, as RFC 5424 §6.4 asks of a UTF-8 MSG.
    pub bom: bool,
    pub tls: TlsFiles,
    /// Messages longer than this are cut (and counted); `None` sends them whole.
    pub max_message_bytes: Option<usize>,
    pub connect_timeout: Duration,
    /// A write the receiver does not take within this long fails the batch (it is resent).
    pub write_timeout: Duration,
}

/// The largest UDP payload over IPv4: the default limit for `transport = "udp"`.
pub const UDP_MAX_PAYLOAD: usize = 65_507;
