//! Delivering a batch: every message written and flushed, or the whole batch again.

use async_trait::async_trait;
use sink_core::tls::untrusted_certificate;
use sink_core::{Batch, Delivery, Sink};

use crate::config::{SyslogSettings, Transport};
use crate::connection::{Connection, Connector, TlsError};
use crate::framing::frame;
use crate::message::Header;

pub struct SyslogSink {
    name: String,
    config: SyslogSettings,
    header: Header,
    connector: Connector,
    connection: Option<Connection>,
    /// Messages cut to `max_message_bytes`, in delivered batches.
    truncated: u64,
}

impl SyslogSink {
    pub fn new(name: &str, config: SyslogSettings) -> Result<Self, TlsError> {
        let connector = Connector::new(&config)?;
        let header = Header::new(
            config.facility,
            config.severity,
            &config.hostname,
            &config.app_name,
        )
        .with_sd_id(&config.sd_id)
        .with_bom(config.bom);
        Ok(SyslogSink {
            name: name.to_owned(),
            config,
            header,
            connector,
            connection: None,
            truncated: 0,
        })
    }

    /// The open connection, a new one when there is none or the receiver closed it.
    async fn connection(&mut self) -> Result<&mut Connection, Failure> {
        if let Some(c) = self.connection.as_mut()
            && c.is_closed().await
        {
            tracing::info!(sink = %self.name, address = self.connector.address(), "the receiver closed the connection; reconnecting");
            self.connection = None;
        }
        if self.connection.is_none() {
            let c = self.connector.connect().await.map_err(|e| Failure {
                fatal: untrusted_certificate(&e),
                reason: format!(
                    "connecting to the syslog receiver {}: {e}{}",
                    self.connector.address(),
                    if untrusted_certificate(&e) {
                        "; set tls_ca_file to the CA that signed its certificate"
                    } else {
                        ""
                    }
                ),
            })?;
            self.connection = Some(c);
        }
        self.connection.as_mut().ok_or_else(|| Failure {
            fatal: false,
            reason: "no connection".to_owned(),
        })
    }

    async fn write(&mut self, messages: Vec<Vec<u8>>) -> Result<(), Failure> {
        let framing = self.config.framing;
        let timeout = self.config.write_timeout;
        let address = self.connector.address().to_owned();
        let connection = self.connection().await?;
        let written = async {
            if let Connection::Udp(_) = connection {
                for m in &messages {
                    connection.send_datagram(m).await?;
                }
                Ok(())
            } else {
                let mut buf = Vec::with_capacity(messages.iter().map(|m| m.len() + 8).sum());
                for m in &messages {
                    frame(framing, m, &mut buf);
                }
                connection.write_stream(&buf).await
            }
        };
        let reason = match tokio::time::timeout(timeout, written).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => format!("writing to the syslog receiver {address}: {e}"),
            Err(_) => format!("the syslog receiver {address} took no data for {timeout:?}"),
        };
        Err(Failure {
            fatal: false,
            reason,
        })
    }
}

/// Why a batch did not go out; `fatal` when retrying cannot help.
struct Failure {
    fatal: bool,
    reason: String,
}

#[async_trait]
impl Sink for SyslogSink {
    fn name(&self) -> &str {
        &self.name
    }

    async fn deliver(&mut self, batch: &Batch) -> Delivery {
        let limit = self.config.max_message_bytes;
        let mut cut = 0;
        let mut messages = Vec::with_capacity(batch.len());
        for record in batch.records() {
            let (message, was_cut) = self.header.message(record, limit);
            if was_cut {
                cut += 1;
                tracing::warn!(
                    sink = %self.name,
                    id = %record.id,
                    bytes = record.payload.len(),
                    max_message_bytes = limit.unwrap_or_default(),
                    "message cut to fit max_message_bytes"
                );
            }
            messages.push(message);
        }
        match self.write(messages).await {
            Ok(()) => {
                self.truncated += cut;
                Delivery::Delivered
            }
            Err(Failure {
                fatal: true,
                reason,
            }) => Delivery::reject(reason),
            Err(Failure { reason, .. }) => {
                // Whatever the stream took before the failure is resent with the batch.
                self.connection = None;
                Delivery::retry(reason)
            }
        }
    }

    /// A TCP connection (and TLS handshake) to the receiver. UDP has nothing to answer.
    async fn check(&mut self) -> Result<(), String> {
        if self.config.transport == Transport::Udp {
            return self
                .connector
                .connect()
                .await
                .map(|_| ())
                .map_err(|e| format!("syslog receiver {}: {e}", self.connector.address()));
        }
        self.connection().await.map(|_| ()).map_err(|f| f.reason)
    }

    async fn close(&mut self) -> Result<(), String> {
        if let Some(Connection::Tls(mut s)) = self.connection.take() {
            use tokio::io::AsyncWriteExt;
            // close_notify, so the receiver sees a clean end rather than a truncation.
            let _ = s.shutdown().await;
        }
        Ok(())
    }

    fn truncated(&self) -> u64 {
        self.truncated
    }
}
