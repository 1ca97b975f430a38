//! Sending a batch as bulk requests, and keeping between attempts only what is left.

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderValue};
use sink_core::tls::untrusted_certificate;
use sink_core::{Batch, DeadRecord, Delivery, Record, Sink};
use sink_http::Compression;
use sink_http::transport::{self, ClientError};

use crate::bulk;
use crate::config::{Credentials, ElasticsearchConfig};
use crate::reply::{Item, Reply, classify};
use crate::template::{Installed, install};

pub struct ElasticsearchSink {
    name: String,
    config: ElasticsearchConfig,
    client: reqwest::Client,
    /// `ApiKey ...` or `Bearer ...`, marked sensitive; `None` for basic or no auth.
    authorization: Option<HeaderValue>,
    bulk_url: String,
    /// Whether the templates were installed, or need not be (tried once per process).
    templates_done: bool,
    progress: Option<Progress>,
}

/// What is left of a batch after an attempt that did not finish it: the documents still
/// to send (those Elasticsearch refused for a while, or that were never sent) and those
/// it refused for good. Created documents are not sent again.
struct Progress {
    batch: u64,
    ids: Vec<String>,
    todo: Vec<usize>,
    dead: Vec<DeadRecord>,
}

/// What one attempt at a bulk request left to do.
enum Sent {
    /// Read: `again` goes in the next attempt (none: done), `dead` never will.
    Handled {
        again: Vec<usize>,
        after: Option<std::time::Duration>,
        reason: String,
        dead: Vec<DeadRecord>,
    },
    /// Halves of a request that was too large or refused whole.
    Split(Vec<usize>, Vec<usize>),
    Fatal(String),
}

impl Sent {
    fn done() -> Sent {
        Sent::again(Vec::new(), None, String::new())
    }

    fn again(again: Vec<usize>, after: Option<std::time::Duration>, reason: String) -> Sent {
        Sent::Handled {
            again,
            after,
            reason,
            dead: Vec::new(),
        }
    }

    fn dead(index: usize, reason: String) -> Sent {
        Sent::Handled {
            again: Vec::new(),
            after: None,
            reason: String::new(),
            dead: vec![DeadRecord { index, reason }],
        }
    }
}

impl ElasticsearchSink {
    pub fn new(name: &str, config: ElasticsearchConfig) -> Result<Self, ClientError> {
        let client = transport::client(config.tls_ca_file.as_deref(), config.request_timeout)?;
        let mut bulk_url = format!("{}/{}/_bulk", config.endpoint, config.index);
        if let Some(p) = &config.pipeline {
            bulk_url.push_str("?pipeline=");
            bulk_url.push_str(&percent_encode(p));
        }
        let authorization = match &config.credentials {
            Credentials::ApiKey(key) => Some(format!("ApiKey {}", key.expose())),
            Credentials::Bearer(token) => Some(format!("Bearer {}", token.expose())),
            Credentials::None | Credentials::Basic { .. } => None,
        }
        .map(|value| {
            let mut v = HeaderValue::from_str(&value).map_err(|_| {
                ClientError::Client("the credential has characters a header cannot carry".into())
            })?;
            v.set_sensitive(true);
            Ok::<_, ClientError>(v)
        })
        .transpose()?;
        Ok(ElasticsearchSink {
            name: name.to_owned(),
            authorization,
            templates_done: !config.templates,
            config,
            client,
            bulk_url,
            progress: None,
        })
    }

    /// A request to `url` with the credentials.
    pub(crate) fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let builder = self.client.request(method, url);
        match (&self.authorization, &self.config.credentials) {
            (Some(value), _) => builder.header(AUTHORIZATION, value.clone()),
            (None, Credentials::Basic { user, password }) => {
                builder.basic_auth(user, Some(password.expose()))
            }
            (None, _) => builder,
        }
    }

    pub(crate) fn name_for_log(&self) -> &str {
        &self.name
    }

    pub(crate) fn endpoint(&self) -> &str {
        &self.config.endpoint
    }

    pub(crate) fn index(&self) -> &str {
        &self.config.index
    }

    async fn post(&self, records: &[Record], ids: &[String], request: &[usize]) -> Sent {
        let body = bulk::body(records, ids, request);
        let mut http = self
            .request(reqwest::Method::POST, &self.bulk_url)
            .header(CONTENT_TYPE, "application/x-ndjson");
        http = match self.config.compression {
            Compression::Gzip => http
                .header(CONTENT_ENCODING, "gzip")
                .body(transport::gzip(&body)),
            Compression::None => http.body(body),
        };
        let at = &self.config.endpoint;
        let response = match http.send().await {
            Ok(r) => r,
            Err(e) if untrusted_certificate(&e) => {
                return Sent::Fatal(format!(
                    "{at}: its TLS certificate is not trusted ({}); set tls_ca_file to the \
                     CA that signed it",
                    transport::describe(&e)
                ));
            }
            Err(e) => {
                return Sent::again(
                    request.to_vec(),
                    None,
                    format!("{at}: {}", transport::describe(&e)),
                );
            }
        };
        let status = response.status().as_u16();
        let retry_after = transport::retry_after(response.headers());
        let body = match transport::read_capped(response).await {
            Ok(b) => b,
            Err(e) => {
                return Sent::again(
                    request.to_vec(),
                    None,
                    format!("{at}: {status}, reading the reply: {e}"),
                );
            }
        };
        match classify(status, &body, retry_after, request.len()) {
            Reply::AllCreated => Sent::done(),
            Reply::Items(items) => self.items(request, items),
            Reply::Retry { after, reason } => Sent::again(request.to_vec(), after, reason),
            Reply::Fatal { reason } => Sent::Fatal(format!("{at}: {reason}")),
            Reply::TooLarge | Reply::Refused { .. } if request.len() > 1 => {
                let (a, b) = request.split_at(request.len() / 2);
                Sent::Split(a.to_vec(), b.to_vec())
            }
            Reply::TooLarge => Sent::dead(
                request[0],
                "Elasticsearch 413: the document alone is larger than http.max_content_length"
                    .into(),
            ),
            Reply::Refused { reason } => Sent::dead(request[0], reason),
        }
    }

    /// The items of a bulk reply: created and already-there are done, the rest sorted.
    fn items(&self, request: &[usize], items: Vec<Item>) -> Sent {
        let mut again = Vec::new();
        let mut reason = String::new();
        let mut dead = Vec::new();
        let mut already = 0u64;
        for (&index, item) in request.iter().zip(items) {
            match item {
                Item::Created => {}
                Item::AlreadyThere => already += 1,
                Item::Retry(why) => {
                    again.push(index);
                    reason = why;
                }
                Item::Dead(why) => dead.push(DeadRecord { index, reason: why }),
                Item::Fatal(why) => return Sent::Fatal(format!("{}: {why}", self.config.endpoint)),
            }
        }
        if already > 0 {
            // A resend after a crash or a lost answer: the index already had them.
            metrics::counter!(
                "component_already_delivered_events_total",
                "component_kind" => "sink",
                "component_id" => self.name.clone(),
                "component_type" => "elasticsearch",
                "stream" => self.config.stream.clone()
            )
            .increment(already);
            tracing::info!(sink = %self.name, documents = already, "already in the index (409): sent before, not duplicated");
        }
        let reason = format!("{} document(s) refused for now: {reason}", again.len());
        Sent::Handled {
            again,
            after: None,
            reason,
            dead,
        }
    }
}

/// A query value with everything but unreserved characters (RFC 3986 §2.3) escaped.
fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl ElasticsearchSink {
    /// Send what `progress` has left: every request once, then, if any document must be
    /// sent again, a `Retry` holding only those (the retry loop's backoff is the wait).
    async fn drive(&self, records: &[Record], progress: &mut Progress) -> Delivery {
        let mut queue: std::collections::VecDeque<Vec<usize>> =
            bulk::split(records, &progress.todo, self.config.max_request_bytes).into();
        let mut again = Vec::new();
        let mut retry: Option<(Option<std::time::Duration>, String)> = None;
        while let Some(request) = queue.pop_front() {
            match self.post(records, &progress.ids, &request).await {
                Sent::Handled {
                    again: later,
                    after,
                    reason,
                    dead,
                } => {
                    progress.dead.extend(dead);
                    if !later.is_empty() {
                        let whole = later.len() == request.len();
                        again.extend(later);
                        retry = Some((after, reason));
                        // The cluster refused the whole request (down, busy): the rest
                        // waits for the next attempt rather than hitting it now.
                        if whole {
                            for rest in queue.drain(..) {
                                again.extend(rest);
                            }
                        }
                    }
                }
                Sent::Split(a, b) => {
                    queue.push_front(b);
                    queue.push_front(a);
                }
                Sent::Fatal(reason) => return Delivery::reject(reason),
            }
        }
        again.sort_unstable();
        progress.todo = again;
        match retry {
            Some((after, reason)) if !progress.todo.is_empty() => Delivery::Retry { after, reason },
            _ => match std::mem::take(&mut progress.dead) {
                dead if dead.is_empty() => Delivery::Delivered,
                dead => Delivery::PartlyDelivered { dead },
            },
        }
    }
}

#[async_trait]
impl Sink for ElasticsearchSink {
    fn name(&self) -> &str {
        &self.name
    }

    async fn deliver(&mut self, batch: &Batch) -> Delivery {
        if !self.templates_done {
            match install(self).await {
                Installed::Done => self.templates_done = true,
                Installed::Retry(reason) => return Delivery::retry(reason),
                Installed::Fatal(reason) => return Delivery::reject(reason),
            }
        }
        let mut progress = match self.progress.take() {
            Some(p) if p.batch == batch.fingerprint() => p,
            _ => Progress {
                batch: batch.fingerprint(),
                ids: bulk::document_ids(batch.records()),
                todo: (0..batch.len()).collect(),
                dead: Vec::new(),
            },
        };
        let delivery = self.drive(batch.records(), &mut progress).await;
        if matches!(delivery, Delivery::Retry { .. }) {
            self.progress = Some(progress);
        }
        delivery
    }

    /// The cluster answers with these credentials, and (where it can say: Elasticsearch
    /// with security on) they may write documents to the index.
    async fn check(&mut self) -> Result<(), String> {
        crate::template::check(self).await
    }
}
