//! The transport under the messages: one persistent TCP or TLS stream, or a UDP socket.
//!
//! Plain TCP syslog has no acknowledgement, so the classic loss is a batch written into a
//! connection the receiver has already closed: the kernel takes the bytes, the peer answers
//! with a reset, and they are gone. Before each batch the stream is polled once for a read;
//! a receiver never sends data, so end-of-stream or an error there means the connection is
//! dead and a new one is made first.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::config::{SyslogSettings, TlsFiles, Transport};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}: {message}")]
    File { path: String, message: String },
    #[error("no certificate in {0}")]
    NoCertificate(String),
    #[error("TLS client certificate: {0}")]
    ClientCert(String),
    #[error("loading the system's CA certificates: {0}")]
    SystemRoots(String),
    #[error("`{0}` is not a valid TLS server name")]
    ServerName(String),
    #[error("`cert_file` and `key_file` go together")]
    HalfIdentity,
}

/// Makes connections to the receiver.
pub struct Connector {
    address: String,
    transport: Transport,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    connect_timeout: Duration,
}

impl Connector {
    pub fn new(config: &SyslogSettings) -> Result<Self, TlsError> {
        let tls = match config.transport {
            Transport::Tls => Some(tls_connector(&config.tls, &config.address)?),
            _ => None,
        };
        Ok(Connector {
            address: config.address.clone(),
            transport: config.transport,
            tls,
            connect_timeout: config.connect_timeout,
        })
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    pub async fn connect(&self) -> io::Result<Connection> {
        let connecting = async {
            match (&self.transport, &self.tls) {
                (Transport::Udp, _) => {
                    let socket = UdpSocket::bind(if self.address.starts_with('[') {
                        "[::]:0"
                    } else {
                        "0.0.0.0:0"
                    })
                    .await?;
                    socket.connect(&self.address).await?;
                    Ok(Connection::Udp(socket))
                }
                (_, Some((connector, name))) => {
                    let tcp = TcpStream::connect(&self.address).await?;
                    tcp.set_nodelay(true)?;
                    let tls = connector.connect(name.clone(), tcp).await?;
                    Ok(Connection::Tls(Box::new(tls)))
                }
                (_, None) => {
                    let tcp = TcpStream::connect(&self.address).await?;
                    tcp.set_nodelay(true)?;
                    Ok(Connection::Tcp(tcp))
                }
            }
        };
        tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no connection within {:?}", self.connect_timeout),
                )
            })?
    }
}

pub enum Connection {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Udp(UdpSocket),
}

impl Connection {
    /// Whether the receiver has closed (or reset) a stream. One poll, no waiting.
    pub async fn is_closed(&mut self) -> bool {
        let mut buf = [0u8; 512];
        let read = match self {
            Connection::Udp(_) => return false,
            Connection::Tcp(s) => tokio::time::timeout(Duration::ZERO, s.read(&mut buf)).await,
            // Through TLS: session tickets are consumed, a close_notify reads as the end.
            Connection::Tls(s) => tokio::time::timeout(Duration::ZERO, s.read(&mut buf)).await,
        };
        match read {
            Err(_elapsed) => false,
            Ok(Ok(0)) | Ok(Err(_)) => true,
            // A receiver has nothing to say; whatever it said is ignored.
            Ok(Ok(_)) => false,
        }
    }

    /// Write framed bytes to a stream and flush them.
    pub async fn write_stream(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Connection::Tcp(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
            Connection::Tls(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
            Connection::Udp(_) => Err(io::Error::other("a UDP socket has no stream")),
        }
    }

    /// Send one datagram.
    pub async fn send_datagram(&mut self, message: &[u8]) -> io::Result<()> {
        match self {
            Connection::Udp(s) => s.send(message).await.map(|_| ()),
            _ => Err(io::Error::other("not a UDP socket")),
        }
    }
}

fn tls_connector(
    files: &TlsFiles,
    address: &str,
) -> Result<(TlsConnector, ServerName<'static>), TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    match &files.ca_file {
        Some(path) => {
            let certs = read_certs(path)?;
            for cert in certs {
                roots.add(cert).map_err(|e| TlsError::File {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            if found.certs.is_empty() {
                let why = found
                    .errors
                    .first()
                    .map_or("none found".to_owned(), ToString::to_string);
                return Err(TlsError::SystemRoots(why));
            }
            roots.add_parsable_certificates(found.certs);
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::ClientCert(e.to_string()))?
        .with_root_certificates(roots);
    let config = match (&files.cert_file, &files.key_file) {
        (Some(cert), Some(key)) => {
            let chain = read_certs(cert)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::File {
                path: key.display().to_string(),
                message: e.to_string(),
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| TlsError::ClientCert(e.to_string()))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(TlsError::HalfIdentity),
    };
    let host = files
        .server_name
        .clone()
        .unwrap_or_else(|| host_of(address).to_owned());
    let name = ServerName::try_from(host.clone()).map_err(|_| TlsError::ServerName(host))?;
    Ok((TlsConnector::from(Arc::new(config)), name))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.display().to_string()));
    }
    Ok(certs)
}

/// `host` of `host:port` or `[v6]:port`.
pub fn host_of(address: &str) -> &str {
    if let Some(rest) = address.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    address.rsplit_once(':').map_or(address, |(h, _)| h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_of_an_address() {
        assert_eq!(host_of("siem.example.com:6514"), "siem.example.com");
        assert_eq!(host_of("[::1]:6514"), "::1");
        assert_eq!(host_of("127.0.0.1:514"), "127.0.0.1");
    }
}
