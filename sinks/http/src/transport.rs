//! What every sink that POSTs to an HTTP intake does the same way: the client (a CA file,
//! no redirects), gzip, the peer's `Retry-After`, a capped reply, and errors that never
//! carry the URL (a Sumo Logic source's URL is its credential).
//!
//! The Elasticsearch sink uses these too; the Splunk sink predates them and keeps its own.

use std::path::Path;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("tls_ca_file {path}: {message}")]
    Ca { path: String, message: String },
    #[error("building the HTTP client: {0}")]
    Client(String),
}

/// A client that trusts the system's CAs and those in `ca_file`, and follows no redirect:
/// reqwest would carry a custom auth header along to another host, and a redirected POST
/// loses its body (RFC 9110 §15.4), so a 3xx is the sink's to refuse.
pub fn client(ca_file: Option<&Path>, timeout: Duration) -> Result<reqwest::Client, ClientError> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(50))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = ca_file {
        let ca_err = |message: String| ClientError::Ca {
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
    builder
        .build()
        .map_err(|e| ClientError::Client(e.to_string()))
}

/// `body` gzipped (fast level: the peer's CPU and ours matter more than the last bytes).
pub fn gzip(body: &[u8]) -> Bytes {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(body);
    Bytes::from(encoder.finish().unwrap_or_default())
}

/// The reply's `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// A reply body larger than this is no intake's answer (an Elasticsearch bulk reply is
/// about 150 bytes per item; 16 MiB covers 100,000 items) and is not read.
pub const MAX_REPLY_BYTES: usize = 16 << 20;

/// The reply's body, up to [`MAX_REPLY_BYTES`].
pub async fn read_capped(mut response: reqwest::Response) -> Result<Bytes, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > MAX_REPLY_BYTES {
            return Err(format!("the reply is larger than {MAX_REPLY_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.into())
}

/// The first bytes of a reply, as text, for an error message.
pub fn excerpt(body: &[u8]) -> String {
    let cut = body.len().min(300);
    String::from_utf8_lossy(&body[..cut]).trim().to_owned()
}

/// reqwest's message and its causes, without the URL: a URL may hold a credential (Sumo
/// Logic's HTTP source, a webhook's token), and errors reach logs and metrics.
pub fn describe(e: &reqwest::Error) -> String {
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

/// A URL as it may be shown: scheme, host and port, and the path only when `show_path`
/// (a Sumo source's path is its token; a query may carry a key).
pub fn shown(url: &str, show_path: bool) -> String {
    match url::Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("?");
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            let path = if show_path { u.path() } else { "/…" };
            format!("{}://{host}{port}{path}", u.scheme())
        }
        Err(_) => "<not a URL>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        h.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        let d = retry_after(&h).unwrap();
        assert!(
            d > Duration::from_secs(100) && d <= Duration::from_secs(120),
            "{d:?}"
        );
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO), "a past date: now");
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn a_shown_url_keeps_its_path_only_when_asked() {
        let sumo = "https://endpoint4.collection.sumologic.com/receiver/v1/http/ZaVnC4dhaV3_secret";
        assert_eq!(
            shown(sumo, false),
            "https://endpoint4.collection.sumologic.com/…"
        );
        assert!(!shown(sumo, false).contains("secret"));
        assert_eq!(
            shown("http://127.0.0.1:9200/_bulk?x=1", true),
            "http://127.0.0.1:9200/_bulk"
        );
    }

    #[test]
    fn gzip_round_trips() {
        use std::io::Read;
        let packed = gzip(b"{\"a\":1}\n");
        let mut out = String::new();
        flate2::read::GzDecoder::new(&packed[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "{\"a\":1}\n");
    }
}
