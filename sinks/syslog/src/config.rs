//! The syslog sink's table (`[sinks.NAME]`, [`SyslogSinkConfig`]) and the settings the
//! sink runs with ([`SyslogSettings`]).

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use sink_core::size::opt_byte_size;
use sink_core::{Batching, BuildError, Built, DeliveryGuarantee, KeyError, SinkContext, SinkSpec};

use crate::message;
use crate::sink::SyslogSink;

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

/// What the sink runs with: the operator's [`SyslogSinkConfig`] with its defaults filled in
/// (HOSTNAME, the message limit of the transport).
#[derive(Debug, Clone)]
pub struct SyslogSettings {
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

/// `[sinks.NAME]` with `type = "syslog"`: one RFC 5424 message per event over TCP, TLS or
/// UDP. The message body (`body`: JSON, CEF or LEEF) is one of the shipper's encoding keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogSinkConfig {
    /// `host:port`.
    pub address: String,
    #[serde(default)]
    pub transport: Transport,
    #[serde(default)]
    pub framing: Framing,
    #[serde(default)]
    pub facility: Facility,
    #[serde(default)]
    pub severity: Severity,
    #[serde(default = "default_app_name")]
    pub app_name: String,
    /// The SD-ID of the structured data element: `name@<private enterprise number>`. The
    /// default uses 32473, the number RFC 5612 reserves for examples; use your own PEN.
    #[serde(default = "default_sd_id")]
    pub sd_id: String,
    /// MSG starts with the UTF-8 byte order mark (RFC 5424 §6.4); `false` for receivers
    /// that show it as a stray character.
    #[serde(default = "default_bom")]
    pub bom: bool,
    /// RFC 5424 HOSTNAME. Default: the host of the Coder URL.
    pub hostname: Option<String>,
    pub tls_ca_file: Option<PathBuf>,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// The name the receiver's certificate must carry. Default: the address's host.
    pub tls_server_name: Option<String>,
    /// Longer messages are cut and counted. Default: 65507 (one UDP datagram) over UDP,
    /// no limit over TCP and TLS.
    #[serde(default, deserialize_with = "opt_byte_size")]
    pub max_message_bytes: Option<u64>,
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    #[serde(default = "default_write_timeout", with = "humantime_serde")]
    pub write_timeout: Duration,
}

fn default_app_name() -> String {
    "coder-audit".into()
}
fn default_sd_id() -> String {
    message::SD_ID.into()
}
fn default_bom() -> bool {
    true
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_write_timeout() -> Duration {
    Duration::from_secs(30)
}

/// RFC 5426 §3.2: receivers must take messages of 480 octets over IPv4.
const SMALLEST_LIMIT: u64 = 480;

impl SyslogSinkConfig {
    /// The settings the sink runs with; `origin` is the default HOSTNAME.
    pub fn settings(&self, origin: &str) -> SyslogSettings {
        SyslogSettings {
            address: self.address.clone(),
            transport: self.transport,
            framing: self.framing,
            facility: self.facility,
            severity: self.severity,
            hostname: self.hostname.clone().unwrap_or_else(|| origin.to_owned()),
            app_name: self.app_name.clone(),
            sd_id: self.sd_id.clone(),
            bom: self.bom,
            tls: TlsFiles {
                ca_file: self.tls_ca_file.clone(),
                cert_file: self.tls_cert_file.clone(),
                key_file: self.tls_key_file.clone(),
                server_name: self.tls_server_name.clone(),
            },
            max_message_bytes: match (self.max_message_bytes, self.transport) {
                (Some(n), _) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
                (None, Transport::Udp) => Some(UDP_MAX_PAYLOAD),
                (None, _) => None,
            },
            connect_timeout: self.connect_timeout,
            write_timeout: self.write_timeout,
        }
    }
}

#[async_trait]
impl SinkSpec for SyslogSinkConfig {
    const TYPE: &'static str = "syslog";
    const TAKES_BODY: bool = true;

    fn validate(&self) -> Result<(), KeyError> {
        let port = self.address.rsplit_once(':').map(|(_, p)| p.parse::<u16>());
        if !matches!(port, Some(Ok(_))) {
            return Err(KeyError::new(
                "address",
                format!("expected host:port, got {:?}", self.address),
            ));
        }
        let tls_keys = [
            ("tls_ca_file", self.tls_ca_file.is_some()),
            ("tls_cert_file", self.tls_cert_file.is_some()),
            ("tls_key_file", self.tls_key_file.is_some()),
            ("tls_server_name", self.tls_server_name.is_some()),
        ];
        if self.transport != Transport::Tls
            && let Some((k, _)) = tls_keys.iter().find(|(_, set)| *set)
        {
            return Err(KeyError::new(*k, "applies only to transport = \"tls\""));
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return Err(KeyError::new(
                "tls_cert_file",
                "tls_cert_file and tls_key_file go together",
            ));
        }
        if self.max_message_bytes.is_some_and(|n| n < SMALLEST_LIMIT) {
            return Err(KeyError::new(
                "max_message_bytes",
                "must be at least 480 (RFC 5426's smallest)",
            ));
        }
        if !message::valid_sd_id(&self.sd_id) {
            return Err(KeyError::new(
                "sd_id",
                format!(
                    "{:?} is no SD-ID: 1 to 32 printable ASCII characters without '=', ' ', ']' or '\"', as name@<private enterprise number> (RFC 5424 §6.3.2, §7.2.2)",
                    self.sd_id
                ),
            ));
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!(
            "syslog {:?} {}{}",
            self.transport,
            self.address,
            if self.transport == Transport::Udp {
                String::new()
            } else {
                format!(" ({:?} framing)", self.framing)
            }
        )
    }

    fn guarantee(&self) -> DeliveryGuarantee {
        DeliveryGuarantee::Sent
    }

    fn exposure(&self) -> Option<String> {
        (self.transport != Transport::Tls).then(|| {
            format!(
                "transport {:?}: events cross the network in clear text; use transport = \"tls\"",
                self.transport
            )
        })
    }

    /// RFC 5425 (syslog over TLS) frames messages by octet counting only.
    fn advice(&self) -> Option<String> {
        (self.transport == Transport::Tls && self.framing != Framing::OctetCounting).then(|| {
            format!(
                "framing {:?} over TLS: RFC 5425 defines only octet counting; use it unless the receiver needs otherwise",
                self.framing
            )
        })
    }

    async fn build(&self, ctx: &SinkContext<'_>) -> Result<Built, BuildError> {
        let sink = SyslogSink::new(ctx.name, self.settings(ctx.origin)).map_err(BuildError::of)?;
        Ok(Built {
            sink: Box::new(sink),
            batching: Batching::IMMEDIATE,
        })
    }
}
