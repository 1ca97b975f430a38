//! Sending a batch to HEC and waiting until it is safe there.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use sink_core::tls::untrusted_certificate;
use sink_core::{Batch, DeadRecord, Delivery, Record, Sink};

use crate::config::{HecCompression, HecConfig};
use crate::envelope::{Envelope, Request, compress, requests};
use crate::progress::Progress;
use crate::reply::{Reply, acked, classify};

/// How long one request at a time awaits its ack after HEC gave out an ack id twice.
const SERIAL_FOR: Duration = Duration::from_secs(600);

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
    /// The batch that failed transiently, with what HEC already took of it.
    progress: Option<Progress>,
    /// Until when one request at a time awaits its ack (ack ids repeated on the channel).
    serial_until: Option<Instant>,
    duplicate_ack_ids: u64,
    warned_duplicate_ack_id: bool,
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
            .pool_idle_timeout(Duration::from_secs(50))
            // A load balancer's stickiness cookie keeps this sink (its one channel) on one
            // HEC instance, whose ack ids are the only ones that mean anything to it.
            .cookie_store(true)
            // reqwest strips `Authorization` on a cross-host redirect but follows https →
            // http, and a redirected POST loses its body: a 3xx is refused (see `reply`).
            .redirect(reqwest::redirect::Policy::none());
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
            progress: None,
            serial_until: None,
            duplicate_ack_ids: 0,
            warned_duplicate_ack_id: false,
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
        match read_capped(response).await {
            Ok(body) => classify(status, &body, retry_after),
            Err(e) => Reply::Retry {
                after: None,
                reason: format!("HEC {status}: reading the reply: {e}"),
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
        let body = read_capped(response)
            .await
            .map_err(|e| format!("HEC ack query: {e}"))?;
        if status != 200 {
            return Err(format!(
                "HEC ack query: {status} {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ));
        }
        acked(&body)
    }
}

/// HEC's answers are a few hundred bytes of JSON (an ack reply grows with the ids asked
/// about: about 20 bytes each); anything past this is no answer of HEC's, and is not read.
const MAX_REPLY_BYTES: usize = 1 << 20;

/// The reply's body, up to [`MAX_REPLY_BYTES`].
async fn read_capped(mut response: reqwest::Response) -> Result<bytes::Bytes, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| without_url(&e))? {
        if body.len() + chunk.len() > MAX_REPLY_BYTES {
            return Err(format!("the reply is larger than {MAX_REPLY_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.into())
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

impl HecSink {
    /// The requests carrying `indices` of `records`.
    fn requests_for(&self, records: &[Record], indices: &[usize]) -> Vec<Request> {
        requests(
            &self.envelope,
            records,
            indices,
            self.config.max_request_bytes,
            self.config.compression,
        )
    }

    /// Requests that may await their ack at once: one while ack ids repeat on the channel.
    fn max_pending(&self) -> usize {
        match &self.config.ack {
            None => usize::MAX,
            Some(_) if self.serial_until.is_some_and(|t| Instant::now() < t) => 1,
            Some(a) => a.max_pending.max(1),
        }
    }

    /// HEC gave out `ack_id` while a request with that id was still pending on this
    /// channel: two HEC instances behind a load balancer without sticky sessions (or an
    /// instance that restarted). Counted, warned about once, and for [`SERIAL_FOR`] one
    /// request at a time, since with a single id pending no two can collide.
    fn duplicate_ack_id(&mut self, ack_id: u64) {
        metrics::counter!(
            "component_errors_total",
            "component_kind" => "sink",
            "component_id" => self.name.clone(),
            "error_type" => "duplicate_ack_id"
        )
        .increment(1);
        self.duplicate_ack_ids += 1;
        self.serial_until = Some(Instant::now() + SERIAL_FOR);
        if !std::mem::replace(&mut self.warned_duplicate_ack_id, true) {
            tracing::warn!(
                sink = %self.name,
                ack_id,
                "HEC gave out ack id {ack_id} twice on one channel: it is behind a load \
                 balancer without sticky sessions, or restarted. Both requests are sent \
                 again, and one request at a time awaits its ack for a while. Enable \
                 cookie-based sticky sessions on the load balancer (Splunk asks for them \
                 with indexer acknowledgement); this warning is not repeated, the \
                 component_errors_total{{error_type=\"duplicate_ack_id\"}} counter is"
            );
        }
    }

    /// Times HEC gave out an ack id already pending on the channel, since the sink was built.
    pub fn duplicate_ack_ids(&self) -> u64 {
        self.duplicate_ack_ids
    }

    /// Send what `progress` has to send and wait for its acks, until the batch is done or
    /// an attempt fails; `progress` then holds what is left.
    async fn drive(&mut self, records: &[Record], progress: &mut Progress) -> Delivery {
        let gauge = self.pending_acks.clone();
        let _zero = ZeroOnDrop(&gauge);
        let mut poll_wait = None;
        loop {
            while progress.pending.len() < self.max_pending()
                && let Some(request) = progress.todo.pop_front()
            {
                match self.post(&request).await {
                    Reply::Accepted { ack_id, notice } => {
                        if let Some(n) = notice {
                            tracing::warn!(sink = %self.name, "HEC accepted the request with a notice: {n}");
                        }
                        match (&self.config.ack, ack_id) {
                            (None, _) => {}
                            (Some(_), Some(id)) => {
                                if let Err(both) =
                                    progress.pending.insert(id, request, Instant::now())
                                {
                                    self.duplicate_ack_id(id);
                                    progress.todo.extend(both);
                                }
                                gauge.store(progress.pending.len() as u64, Ordering::Relaxed);
                            }
                            (Some(_), None) => {
                                return Delivery::reject(
                                    "ack = true, but HEC answered without an ackId: indexer \
                                     acknowledgement is off for this token",
                                );
                            }
                        }
                    }
                    Reply::Retry { after, reason } => {
                        // Only this request and those after it are sent again; those HEC
                        // took stay pending (see `progress`).
                        progress.todo.push_front(request);
                        return Delivery::Retry { after, reason };
                    }
                    Reply::Fatal { reason } => return Delivery::reject(reason),
                    Reply::TooLarge if request.records.len() == 1 => {
                        progress.dead.push(DeadRecord {
                            index: request.records[0],
                            reason:
                                "HEC 413: the event is larger than HEC accepts (max_content_length)"
                                    .into(),
                        })
                    }
                    Reply::TooLarge => {
                        let (a, b) = request.records.split_at(request.records.len() / 2);
                        let halves = [self.requests_for(records, a), self.requests_for(records, b)];
                        for r in halves.into_iter().flatten().rev() {
                            progress.todo.push_front(r);
                        }
                    }
                    Reply::BadEvent { index, reason } => {
                        // The events before the bad one may already be indexed (Splunk's
                        // pages do not say: unverified); they are sent again, since a
                        // duplicate can be found and a loss cannot.
                        match index.and_then(|i| request.records.get(i)) {
                            Some(&bad) => {
                                progress.dead.push(DeadRecord { index: bad, reason });
                                let rest: Vec<usize> = request
                                    .records
                                    .iter()
                                    .copied()
                                    .filter(|i| *i != bad)
                                    .collect();
                                for r in self.requests_for(records, &rest).into_iter().rev() {
                                    progress.todo.push_front(r);
                                }
                            }
                            None if request.records.len() == 1 => progress.dead.push(DeadRecord {
                                index: request.records[0],
                                reason,
                            }),
                            // HEC did not say which: one event per request finds it.
                            None => {
                                for &i in request.records.iter().rev() {
                                    for r in self.requests_for(records, &[i]) {
                                        progress.todo.push_front(r);
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if progress.pending.is_empty() {
                if progress.todo.is_empty() {
                    break;
                }
                continue;
            }
            let Some(ack) = self.config.ack.clone() else {
                break;
            };
            // The first polls of an attempt come sooner (from `first_poll`, doubling up to
            // the interval): a lightly loaded indexer acknowledges within a second, and the
            // batch holds the stream until it does.
            let wait = poll_wait.map_or(ack.first_poll, |w: Duration| w * 2);
            let wait = wait.min(ack.poll_interval);
            poll_wait = Some(wait);
            tokio::time::sleep(wait).await;
            match self.poll_acks(&progress.pending.ids()).await {
                Ok(ids) => {
                    progress.pending.confirm(&ids);
                }
                Err(e) => tracing::warn!(sink = %self.name, "asking HEC for acks: {e}"),
            }
            for request in progress.pending.expired(ack.timeout, Instant::now()) {
                tracing::warn!(
                    sink = %self.name,
                    events = request.records.len(),
                    timeout = ?ack.timeout,
                    "no indexer acknowledgement in time; sending the events again"
                );
                progress.todo.push_back(request);
            }
            gauge.store(progress.pending.len() as u64, Ordering::Relaxed);
        }
        match std::mem::take(&mut progress.dead) {
            dead if dead.is_empty() => Delivery::Delivered,
            dead => Delivery::PartlyDelivered { dead },
        }
    }
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
        let mut progress = match self.progress.take() {
            Some(p) if p.is_for(batch) => {
                tracing::debug!(
                    sink = %self.name,
                    awaiting_ack = p.pending.len(),
                    to_send = p.todo.len(),
                    "resuming the batch: requests HEC took are not sent again"
                );
                p
            }
            _ => {
                let all: Vec<usize> = (0..batch.len()).collect();
                Progress::new(batch, self.requests_for(batch.records(), &all))
            }
        };
        let delivery = self.drive(batch.records(), &mut progress).await;
        if matches!(delivery, Delivery::Retry { .. }) {
            self.pending_acks
                .store(progress.pending.len() as u64, Ordering::Relaxed);
            self.progress = Some(progress);
        }
        delivery
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
