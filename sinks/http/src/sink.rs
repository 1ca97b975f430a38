//! POSTing a batch's requests and keeping, between attempts, what the intake already took.

use std::collections::VecDeque;

use async_trait::async_trait;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use sink_core::tls::untrusted_certificate;
use sink_core::{Batch, DeadRecord, Delivery, Record, Sink};

use crate::config::{Auth, Compression, HttpConfig};
use crate::reply::{Reply, classify};
use crate::request::split;
use crate::transport::{self, ClientError};

pub struct HttpSink {
    name: String,
    config: HttpConfig,
    client: reqwest::Client,
    /// The static headers, Content-Type and Content-Encoding.
    headers: HeaderMap,
    auth_header: HeaderName,
    /// The batch that failed transiently, with what the intake already took of it.
    progress: Option<Progress>,
}

/// What is left of a batch after a transient failure: the retry loop hands the same batch
/// back, and the requests the intake took are not sent again (a 503 on the tenth request
/// must not resend the nine before it).
struct Progress {
    batch: u64,
    /// Requests still to send, in order, as indices of the batch's records.
    todo: VecDeque<Vec<usize>>,
    dead: Vec<DeadRecord>,
}

impl HttpSink {
    pub fn new(name: &str, config: HttpConfig) -> Result<Self, ClientError> {
        let client = transport::client(config.tls_ca_file.as_deref(), config.request_timeout)?;
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static(config.encoding.content_type()),
        );
        if config.compression == Compression::Gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        // Checked by `validate`: a name or value that does not parse is left out.
        for (name, value) in &config.headers {
            if let (Ok(name), Ok(mut value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value.expose()),
            ) {
                value.set_sensitive(true);
                headers.insert(name, value);
            }
        }
        let auth_header = HeaderName::from_bytes(config.auth_header.as_bytes())
            .map_err(|_| ClientError::Client("auth_header is not a header name".into()))?;
        Ok(HttpSink {
            name: name.to_owned(),
            config,
            client,
            headers,
            auth_header,
            progress: None,
        })
    }

    /// The auth header's value, read now (from `auth_file`, so a refreshed token is used
    /// from the next request on); `None` without auth.
    pub fn credential(&self) -> Result<Option<HeaderValue>, String> {
        let raw = match &self.config.auth {
            Auth::None => return Ok(None),
            Auth::Inline(s) => s.expose().trim().to_owned(),
            Auth::File(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("auth_file {}: {e}", path.display()))?
                .trim()
                .to_owned(),
        };
        if raw.is_empty() {
            return Err("the credential (auth / auth_file) is empty".into());
        }
        let value = match &self.config.auth_scheme {
            Some(scheme) => format!("{scheme} {raw}"),
            None => raw,
        };
        let mut value = HeaderValue::from_str(&value)
            .map_err(|_| "the credential has characters a header cannot carry".to_owned())?;
        value.set_sensitive(true);
        Ok(Some(value))
    }

    async fn post(&self, records: &[Record], request: &[usize]) -> Reply {
        let credential = match self.credential() {
            Ok(c) => c,
            // A file being replaced, or fixed by an operator: Coder keeps the events.
            Err(reason) => {
                return Reply::Retry {
                    after: None,
                    reason,
                };
            }
        };
        let body = self.config.encoding.body(records, request);
        let body = match self.config.compression {
            Compression::Gzip => transport::gzip(&body),
            Compression::None => body,
        };
        let mut http = self
            .client
            .post(self.config.uri.expose())
            .headers(self.headers.clone())
            .body(body);
        if let Some(value) = credential {
            http = http.header(self.auth_header.clone(), value);
        }
        let at = &self.config.shown_uri;
        let response = match http.send().await {
            Ok(r) => r,
            Err(e) if untrusted_certificate(&e) => {
                return Reply::Fatal {
                    reason: format!(
                        "{at}: its TLS certificate is not trusted ({}); set tls_ca_file to \
                         the CA that signed it",
                        transport::describe(&e)
                    ),
                };
            }
            Err(e) => {
                return Reply::Retry {
                    after: None,
                    reason: format!("{at}: {}", transport::describe(&e)),
                };
            }
        };
        let status = response.status().as_u16();
        let retry_after = transport::retry_after(response.headers());
        match transport::read_capped(response).await {
            Ok(body) => match classify(status, &body, retry_after) {
                Reply::Fatal { reason } => Reply::Fatal {
                    reason: format!("{at}: {reason}"),
                },
                other => other,
            },
            Err(e) => Reply::Retry {
                after: None,
                reason: format!("{at}: HTTP {status}, reading the reply: {e}"),
            },
        }
    }

    /// Send what `progress` has left, until it is done or an attempt fails.
    async fn drive(&self, records: &[Record], progress: &mut Progress) -> Delivery {
        while let Some(request) = progress.todo.pop_front() {
            match self.post(records, &request).await {
                Reply::Accepted => {}
                Reply::Retry { after, reason } => {
                    progress.todo.push_front(request);
                    return Delivery::Retry { after, reason };
                }
                Reply::Fatal { reason } => return Delivery::reject(reason),
                Reply::TooLarge if request.len() == 1 => progress.dead.push(DeadRecord {
                    index: request[0],
                    reason: "HTTP 413: the event alone is larger than the intake takes".into(),
                }),
                Reply::Refused { reason } if request.len() == 1 => progress.dead.push(DeadRecord {
                    index: request[0],
                    reason,
                }),
                // Halves until the records the intake refuses stand alone: the others are
                // delivered, those dead-lettered.
                Reply::TooLarge | Reply::Refused { .. } => {
                    let (a, b) = request.split_at(request.len() / 2);
                    progress.todo.push_front(b.to_vec());
                    progress.todo.push_front(a.to_vec());
                }
            }
        }
        match std::mem::take(&mut progress.dead) {
            dead if dead.is_empty() => Delivery::Delivered,
            dead => Delivery::PartlyDelivered { dead },
        }
    }
}

#[async_trait]
impl Sink for HttpSink {
    fn name(&self) -> &str {
        &self.name
    }

    async fn deliver(&mut self, batch: &Batch) -> Delivery {
        let mut progress = match self.progress.take() {
            Some(p) if p.batch == batch.fingerprint() => p,
            _ => {
                let all: Vec<usize> = (0..batch.len()).collect();
                Progress {
                    batch: batch.fingerprint(),
                    todo: split(
                        self.config.encoding,
                        batch.records(),
                        &all,
                        self.config.limits,
                    )
                    .into(),
                    dead: Vec::new(),
                }
            }
        };
        let delivery = self.drive(batch.records(), &mut progress).await;
        if matches!(delivery, Delivery::Retry { .. }) {
            self.progress = Some(progress);
        }
        delivery
    }

    /// The intake answers at all (any HTTP status: a generic intake has no health or
    /// auth check to ask without sending an event; `validate --send-test-event` sends one).
    async fn check(&mut self) -> Result<(), String> {
        self.credential()?;
        let at = &self.config.shown_uri;
        match self
            .client
            .request(reqwest::Method::OPTIONS, self.config.uri.expose())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if untrusted_certificate(&e) => Err(format!(
                "{at}: its TLS certificate is not trusted ({}); set tls_ca_file",
                transport::describe(&e)
            )),
            Err(e) => Err(format!("{at}: {}", transport::describe(&e))),
        }
    }
}
