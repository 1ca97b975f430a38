//! Sending a batch to HEC and waiting until it is safe there.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use sink_core::tls::untrusted_certificate;
use sink_core::{Batch, DeadRecord, Delivery, Sink};

use crate::ack::Pending;
use crate::config::{HecCompression, HecConfig};
use crate::envelope::{Envelope, Request, compress, requests};
use crate::reply::{Reply, acked, classify};

/// The first ack poll of a batch; later ones double up to `ack_poll_interval`.
const FIRST_POLL: Duration = Duration::from_millis(100);

pub struct HecSink {
    name: String,
    config: HecConfig,
    client: reqwest::Client,
    envelope: Envelope,
    authorization: HeaderValue,
    /// This instance's channel (`X-Splunk-Request-Channel`): ack ids are counted per channel.
    channel: String,
    event_url: String,
    ack_url: String,
    health_url: String,
    /// Requests awaiting their indexer acknowledgement right now (a gauge's source).
    pending_acks: Arc<AtomicU64>,
}

/// Resets the pending-acks gauge when a batch ends, whichever way it ends.
struct ZeroOnDrop<'a>(&'a AtomicU64);

impl Drop for ZeroOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(0, Ordering::Relaxed);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("tls_ca_file {path}: {message}")]
    Ca { path: String, message: String },
    #[error("the HEC token has characters a header cannot carry")]
    Token,
    #[error("building the HTTP client: {0}")]
    Client(String),
}

impl HecSink {
    pub fn new(name: &str, config: HecConfig) -> Result<Self, BuildError> {
        let mut builder = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(50));
        if let Some(path) = &config.tls_ca_file {
            let ca_err = |message: String| BuildError::Ca {
                path: path.display().to_string(),
                message,
            };
            let pem = std::fs::read(path).map_err(|e| ca_err(e.to_string()))?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ca_err(e.to_string()))?;
            if certs.is_empty() {
                return Err(ca_err("no certificate in the file".into()));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| BuildError::Client(e.to_string()))?;
        let mut authorization = HeaderValue::from_str(&format!("Splunk {}", config.token.expose()))
            .map_err(|_| BuildError::Token)?;
        authorization.set_sensitive(true);
        let base = config.endpoint.trim_end_matches('/');
        let channel = uuid::Uuid::new_v4().to_string();
        Ok(HecSink {
            name: name.to_owned(),
            envelope: Envelope::new(&config),
            event_url: format!("{base}/services/collector/event"),
            ack_url: format!("{base}/services/collector/ack?channel={channel}"),
            health_url: format!("{base}/services/collector/health"),
            channel,
            authorization,
            client,
            config,
            pending_acks: Arc::default(),
        })
    }

    pub fn channel(&self) -> &str {
        &self.channel
    }

    async fn post(&self, request: &Request) -> Reply {
        let mut http = self
            .client
            .post(&self.event_url)
            .header(AUTHORIZATION, self.authorization.clone())
            .header("X-Splunk-Request-Channel", &self.channel)
            .header(CONTENT_TYPE, "application/json")
            .body(request.body.clone());
        if self.config.compression == HecCompression::Gzip {
            http = http.header(CONTENT_ENCODING, "gzip");
        }
        let response = match http.send().await {
            Ok(r) => r,
            Err(e) if untrusted_certificate(&e) => {
                return Reply::Fatal {
                    reason: format!(
                        "HEC {}: its TLS certificate is not trusted ({}); set tls_ca_file to the CA that signed it",
                        self.event_url,
                        without_url(&e)
                    ),
                };
            }
            Err(e) => {
                return Reply::Retry {
                    after: None,
                    reason: format!("HEC {}: {}", self.event_url, without_url(&e)),
                };
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        match response.bytes().await {
            Ok(body) => classify(status, &body, retry_after),
            Err(e) => Reply::Retry {
                after: None,
                reason: format!("HEC {status}: reading the reply: {}", without_url(&e)),
            },
        }
    }

    /// Ask HEC which of `ids` the indexers have.
    async fn poll_acks(&self, ids: &[u64]) -> Result<Vec<u64>, String> {
        let response = self
            .client
            .post(&self.ack_url)
            .header(AUTHORIZATION, self.authorization.clone())
            .header("X-Splunk-Request-Channel", &self.channel)
            .header(CONTENT_TYPE, "application/json")
            .body(serde_json::json!({ "acks": ids }).to_string())
            .send()
            .await
            .map_err(|e| format!("HEC ack query: {}", without_url(&e)))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("HEC ack query: {}", without_url(&e)))?;
        if status != 200 {
            return Err(format!(
                "HEC ack query: {status} {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ));
        }
        acked(&body)
    }
}

/// reqwest's message without the URL (which never holds the token here, but stays short).
fn without_url(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    if let Some(url) = e.url() {
        msg = msg.replace(&format!(" for url ({url})"), "");
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

#[async_trait]
impl Sink for HecSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn pending_acks(&self) -> Option<Arc<AtomicU64>> {
        self.config.ack.as_ref().map(|_| self.pending_acks.clone())
    }

    async fn deliver(&mut self, batch: &Batch) -> Delivery {
        let records = batch.records();
        let all: Vec<usize> = (0..records.len()).collect();
        let build = |indices: &[usize]| {
            requests(
                &self.envelope,
                records,
                indices,
                self.config.max_request_bytes,
                self.config.compression,
            )
        };
        let mut todo: VecDeque<Request> = build(&all).into();
        let mut pending: Pending<Request> = Pending::default();
        let mut dead: Vec<DeadRecord> = Vec::new();
        let max_pending = self
            .config
            .ack
            .as_ref()
            .map_or(usize::MAX, |a| a.max_pending.max(1));
        let mut poll_wait = FIRST_POLL / 2;
        let gauge = ZeroOnDrop(&self.pending_acks);
        loop {
            while pending.len() < max_pending
                && let Some(request) = todo.pop_front()
            {
                match self.post(&request).await {
                    Reply::Accepted { ack_id, notice } => {
                        if let Some(n) = notice {
                            tracing::warn!(sink = %self.name, "HEC accepted the request with a notice: {n}");
                        }
                        match (&self.config.ack, ack_id) {
                            (None, _) => {}
                            (Some(_), Some(id)) => {
                                pending.insert(id, request, Instant::now());
                                gauge.0.store(pending.len() as u64, Ordering::Relaxed);
                            }
                            (Some(_), None) => {
                                return Delivery::reject(
                                    "ack = true, but HEC answered without an ackId: indexer \
                                     acknowledgement is off for this token",
                                );
                            }
                        }
                    }
                    Reply::Retry { after, reason } => return Delivery::Retry { after, reason },
                    Reply::Fatal { reason } => return Delivery::reject(reason),
                    Reply::TooLarge if request.records.len() == 1 => dead.push(DeadRecord {
                        index: request.records[0],
                        reason:
                            "HEC 413: the event is larger than HEC accepts (max_content_length)"
                                .into(),
                    }),
                    Reply::TooLarge => {
                        let (a, b) = request.records.split_at(request.records.len() / 2);
                        for r in build(b).into_iter().rev().chain(build(a).into_iter().rev()) {
                            todo.push_front(r);
                        }
                    }
                    Reply::BadEvent { index, reason } => {
                        match index.and_then(|i| request.records.get(i)) {
                            Some(&bad) => {
                                dead.push(DeadRecord { index: bad, reason });
                                let rest: Vec<usize> = request
                                    .records
                                    .iter()
                                    .copied()
                                    .filter(|i| *i != bad)
                                    .collect();
                                for r in build(&rest).into_iter().rev() {
                                    todo.push_front(r);
                                }
                            }
                            None if request.records.len() == 1 => dead.push(DeadRecord {
                                index: request.records[0],
                                reason,
                            }),
                            // HEC did not say which: one event per request finds it.
                            None => {
                                for &i in request.records.iter().rev() {
                                    for r in build(&[i]) {
                                        todo.push_front(r);
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if pending.is_empty() {
                if todo.is_empty() {
                    break;
                }
                continue;
            }
            let Some(ack) = self.config.ack.clone() else {
                break;
            };
            // The first polls of a batch come sooner (from 100 ms, doubling up to the
            // interval): a lightly loaded indexer acknowledges within a fraction of a second,
            // and the batch holds the stream until it does.
            poll_wait = (poll_wait * 2).clamp(FIRST_POLL, ack.poll_interval.max(FIRST_POLL));
            tokio::time::sleep(poll_wait.min(ack.poll_interval)).await;
            match self.poll_acks(&pending.ids()).await {
                Ok(ids) => {
                    pending.confirm(&ids);
                }
                Err(e) => tracing::warn!(sink = %self.name, "asking HEC for acks: {e}"),
            }
            for request in pending.expired(ack.timeout, Instant::now()) {
                tracing::warn!(
                    sink = %self.name,
                    events = request.records.len(),
                    timeout = ?ack.timeout,
                    "no indexer acknowledgement in time; sending the events again"
                );
                todo.push_back(request);
            }
            gauge.0.store(pending.len() as u64, Ordering::Relaxed);
        }
        if dead.is_empty() {
            Delivery::Delivered
        } else {
            Delivery::PartlyDelivered { dead }
        }
    }

    /// HEC is healthy and takes our token: the health endpoint, then an empty event
    /// request (HEC checks the token before it finds there is no data).
    async fn check(&mut self) -> Result<(), String> {
        let health = self
            .client
            .get(&self.health_url)
            .send()
            .await
            .map_err(|e| format!("HEC {}: {}", self.health_url, without_url(&e)))?;
        if !health.status().is_success() {
            let status = health.status().as_u16();
            let body = health.text().await.unwrap_or_default();
            return Err(format!("HEC health {status}: {}", body.trim()));
        }
        let empty = Request {
            records: Vec::new(),
            body: compress(Vec::new(), self.config.compression),
        };
        match self.post(&empty).await {
            Reply::Fatal { reason } => Err(reason),
            Reply::Retry { reason, .. } => Err(reason),
            _ => Ok(()),
        }
    }
}
