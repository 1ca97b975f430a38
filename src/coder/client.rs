//! The HTTP client for Coder's API.
//!
//! Transient failures (5xx, 429, transport errors, a truncated or non-JSON page) are retried
//! here with capped, jittered backoff (`backon`), honouring `Retry-After`, for as long as it
//! takes: Coder keeps the data, so waiting loses nothing. Only answers that waiting cannot
//! fix (401, 403, 404, 400, a body over the size cap) come back as errors.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use serde::Deserialize;

use super::CoderError;
use super::Stream;
use super::budget::{Purpose, RequestBudget};
use super::call::Call;
use super::error::{Retry, parse_retry_after, transport_error, without_query};
use super::page::Reading;
use super::skim::{Elided, Skimmer};
use crate::secret::Secret;

mod pages;
pub use pages::OnTimeout;

const TOKEN_HEADER: &str = "Coder-Session-Token";

/// Where the session token comes from. A file is re-read when Coder answers 401, so a
/// rotated Kubernetes secret is picked up without a restart.
#[derive(Debug, Clone)]
pub enum TokenSource {
    Static(Secret),
    File(PathBuf),
}

impl TokenSource {
    fn read(&self) -> Result<Secret, CoderError> {
        match self {
            TokenSource::Static(s) => Ok(s.clone()),
            TokenSource::File(path) => std::fs::read_to_string(path)
                .map(|s| Secret::new(s.trim()))
                .map_err(|e| CoderError::Unauthorized {
                    message: format!("cannot read token file {}: {e}", path.display()),
                }),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub request_timeout: Duration,
    pub max_response_bytes: u64,
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// PEM CA certificates that may sign Coder's certificate, besides the system's.
    pub tls_ca_file: Option<std::path::PathBuf>,
    /// `coder.max_requests_per_minute`: every request of the process waits for it (see
    /// [`super::budget`]). `None`: no budget (the tests' clients).
    pub max_requests_per_minute: Option<u32>,
    /// How far each audit entry is read before anything asks (see [`super::LazyAudit`]):
    /// whole at once for a process whose audit sinks read them whole anyway.
    pub audit_reading: Reading,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            max_response_bytes: 64 * 1024 * 1024,
            retry_min: Duration::from_millis(250),
            retry_max: Duration::from_secs(60),
            tls_ca_file: None,
            max_requests_per_minute: None,
            audit_reading: Reading::Glance,
        }
    }
}

/// `GET /api/v2/buildinfo` (unauthenticated): the server version picks version-specific
/// expectations and goes into the log at start.
#[derive(Debug, Clone, Deserialize)]
pub struct BuildInfo {
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub external_url: String,
}

pub struct CoderClient {
    http: reqwest::Client,
    base: reqwest::Url,
    token_source: TokenSource,
    token: Mutex<Secret>,
    options: ClientOptions,
    budget: Option<RequestBudget>,
}

impl std::fmt::Debug for CoderClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoderClient")
            .field("base", &self.base.as_str())
            .finish()
    }
}

impl CoderClient {
    pub fn new(url: &str, token: TokenSource, options: ClientOptions) -> Result<Self, CoderError> {
        let mut base = reqwest::Url::parse(url)
            .map_err(|e| CoderError::Transport(format!("coder.url {url:?} is not a URL: {e}")))?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let mut builder = reqwest::Client::builder();
        if let Some(path) = &options.tls_ca_file {
            let ca_err = |message: String| {
                CoderError::Transport(format!("coder.tls_ca_file {}: {message}", path.display()))
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
        let http = builder
            .timeout(options.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("coder-audit-shipper/", env!("CARGO_PKG_VERSION")))
            // reqwest strips only `Authorization`, `Cookie` and proxy headers on a
            // cross-host redirect, not `Coder-Session-Token`, and follows https → http: a
            // 3xx is an error here, naming where it pointed.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| CoderError::Transport(format!("building the HTTP client: {e}")))?;
        let first = token.read()?;
        let budget = options.max_requests_per_minute.map(RequestBudget::new);
        Ok(Self {
            http,
            base,
            token_source: token,
            token: Mutex::new(first),
            options,
            budget,
        })
    }

    /// `coder.max_response_bytes`: the largest answer read whole.
    pub fn max_response_bytes(&self) -> u64 {
        self.options.max_response_bytes
    }

    pub(super) fn current_token(&self) -> Secret {
        self.token
            .lock()
            .map(|t| t.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Re-read a token file; true if it changed (worth one more try after a 401).
    fn refresh_token(&self) -> bool {
        let TokenSource::File(_) = self.token_source else {
            return false;
        };
        let Ok(fresh) = self.token_source.read() else {
            return false;
        };
        let mut held = self.token.lock().unwrap_or_else(|p| p.into_inner());
        if *held == fresh {
            return false;
        }
        *held = fresh;
        true
    }

    /// Make `call` and parse the body, retrying (per [`CoderError::retry`]) until it parses
    /// or fails for good. A body that does not parse counts as a transient fault: proxies
    /// answer 200 with HTML, connections drop mid-body. Every attempt waits for the
    /// request budget first.
    pub(super) async fn get_parsed<T>(
        &self,
        call: Call<'_>,
        parse: impl Fn(Body) -> Result<T, String>,
    ) -> Result<T, CoderError> {
        let call = &call;
        let attempt = || async {
            let parsed = match self.get_once(call).await {
                Ok(body) => parse(body).map_err(|reason| CoderError::Malformed {
                    path: format!("/{}", call.path),
                    reason,
                }),
                Err(e) => Err(e),
            };
            // Every failed request counts, retried or final.
            if let Err(e) = &parsed {
                crate::ops::metrics::coder_error(e.kind());
            }
            parsed
        };
        attempt
            .retry(self.backoff())
            .when(|e: &CoderError| {
                e.retry() != Retry::No
                    && !(call.timeout_returns && matches!(e, CoderError::TimedOut { .. }))
            })
            .adjust(|e: &CoderError, d| match e.retry() {
                // Coder sends 60 (go-chi/httprate's window); anything far longer is a proxy
                // or a fault, and must not park the stream: cut, and counted.
                Retry::After(after) if after > MAX_RETRY_AFTER => {
                    crate::ops::metrics::coder_error("retry_after_capped");
                    Some(MAX_RETRY_AFTER)
                }
                Retry::After(after) => Some(after),
                _ => d,
            })
            .notify(|e: &CoderError, d| {
                tracing::warn!(error_kind = e.kind(), retry_in = ?d, path = call.path, "request to Coder failed: {e}");
            })
            .await
    }

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.options.retry_min)
            .with_max_delay(self.options.retry_max)
            .with_jitter()
            .without_max_times()
    }

    /// One GET. A 401 with a token file re-reads the file and, if it changed, tries once more.
    pub(super) async fn get_once(&self, call: &Call<'_>) -> Result<Body, CoderError> {
        match self.send(call).await {
            Err(CoderError::Unauthorized { .. }) if self.refresh_token() => {
                tracing::info!("Coder answered 401; re-read the token file and trying again");
                self.send(call).await
            }
            other => other,
        }
    }

    /// The process's request budget, if any (a look-up takes its token up front).
    pub(super) fn budget(&self) -> Option<&RequestBudget> {
        self.budget.as_ref()
    }

    /// Wait for the request budget, and count the request; a look-up took its token
    /// before it started (`super::lookup`).
    async fn spend(&self, call: &Call<'_>) {
        let waited = match &self.budget {
            Some(budget) if call.purpose != Purpose::Lookup => budget.acquire(call.purpose).await,
            _ => Duration::ZERO,
        };
        crate::ops::metrics::coder_request(
            call.stream.map(Stream::name),
            call.purpose.label(),
            waited,
        );
    }

    /// One GET (or POST of `call.post` as JSON). With `call.skim`, a successful body is
    /// read through a [`Skimmer`] with that field budget instead of whole (error bodies
    /// are always read whole, within the cap).
    async fn send(&self, call: &Call<'_>) -> Result<Body, CoderError> {
        self.spend(call).await;
        let Call {
            path,
            params,
            skim,
            post,
            ..
        } = *call;
        let mut url = self
            .base
            .join(path)
            .map_err(|e| CoderError::Transport(format!("joining {path}: {e}")))?;
        if !params.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let display_path = format!("/{path}");
        let mut headers = HeaderMap::new();
        let mut value = HeaderValue::from_str(self.current_token().expose()).map_err(|_| {
            CoderError::Unauthorized {
                message: "the session token contains characters not allowed in a header".into(),
            }
        })?;
        value.set_sensitive(true);
        headers.insert(TOKEN_HEADER, value);
        let request = match post {
            Some(json) => self
                .http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(json.to_owned()),
            None => self.http.get(url),
        };
        let mut response = request
            .headers(headers)
            .send()
            .await
            .map_err(|e| transport_error(&display_path, e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map_or_else(|| "(no Location)".to_owned(), without_query);
            return Err(CoderError::Redirected {
                path: display_path,
                status: status.as_u16(),
                location,
            });
        }
        let limit = self.options.max_response_bytes;
        if let Some(budget) = skim.filter(|_| status.is_success()) {
            let mut skimmer = Skimmer::new(budget);
            // What is kept is bounded by the budget per field: room for 64 fields at the
            // budget, or the cap if larger (a cap smaller than one ordinary entry must not
            // wedge the stream). A body of countless small fields is still refused.
            let keep_limit =
                limit.max(u64::try_from(budget).unwrap_or(u64::MAX).saturating_mul(64));
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| transport_error(&display_path, e))?
            {
                skimmer.push(&chunk);
                if skimmer.kept_bytes() as u64 > keep_limit {
                    return Err(CoderError::TooLarge {
                        path: display_path,
                        limit,
                    });
                }
            }
            let (body, elided) = skimmer.finish();
            return Ok(Body::Skimmed(Bytes::from(body), elided));
        }
        if response.content_length().is_some_and(|n| n > limit) {
            return Err(CoderError::TooLarge {
                path: display_path,
                limit,
            });
        }
        // Sized up front when the length is known: growing it chunk by chunk copied a
        // page about twice over.
        let expected = response.content_length().unwrap_or(0).min(limit);
        let mut body = BytesMut::with_capacity(usize::try_from(expected).unwrap_or(0));
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport_error(&display_path, e))?
        {
            if body.len() as u64 + chunk.len() as u64 > limit {
                return Err(CoderError::TooLarge {
                    path: display_path,
                    limit,
                });
            }
            body.extend_from_slice(&chunk);
        }
        if status.is_success() {
            Ok(Body::Whole(body.freeze()))
        } else {
            Err(CoderError::from_status(
                &display_path,
                status.as_u16(),
                &body,
                retry_after,
            ))
        }
    }
}

/// A response body as [`CoderClient::send`] read it.
pub(super) enum Body {
    Whole(Bytes),
    /// Read through a [`Skimmer`]: the entries that lost fields, and which.
    Skimmed(Bytes, Vec<Elided>),
}

impl Body {
    pub(super) fn into_bytes(self) -> Bytes {
        self.into_parts().0
    }

    fn into_parts(self) -> (Bytes, Vec<Elided>) {
        match self {
            Body::Whole(b) => (b, Vec::new()),
            Body::Skimmed(b, elided) => (b, elided),
        }
    }
}

/// The longest `Retry-After` from Coder that is honoured as given.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);
