//! The shipper's `[server]` listener from a test's side: where it listens, and what
//! `/metrics`, `/healthz` and `/readyz` answer.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

/// `[server]` listening on a free port, for a config's top.
pub const SERVER: &str = "[server]\nlisten = \"127.0.0.1:0\"\n";

/// The metrics address the shipper logged (`listen = "127.0.0.1:0"`), once it did.
pub fn metrics_address(cfg: &Path) -> Option<String> {
    let log = super::run_log(cfg);
    let at = log.find("address=")? + "address=".len();
    let rest = &log[at..];
    let end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}

/// GET `path` from the shipper's listener: the status and the body.
pub fn http_status(address: &str, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(address).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// GET `path`: the body, or `None` if it did not answer 200.
pub fn http_get(address: &str, path: &str) -> Option<String> {
    http_status(address, path).and_then(|(status, body)| (status == 200).then_some(body))
}

/// The sum of the samples of `name` whose labels contain every one of `labels`
/// (`error_type="rate_limited"`), or `None` when there is no such series.
pub fn metric(exposition: &str, name: &str, labels: &[&str]) -> Option<f64> {
    let mut found = None;
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            continue;
        }
        if !labels.iter().all(|l| rest.contains(l)) {
            continue;
        }
        if let Some(v) = rest.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) {
            *found.get_or_insert(0.0) += v;
        }
    }
    found
}

/// Scrape until `name{labels}` reaches at least `min`; the last exposition.
pub fn wait_for_metric(cfg: &Path, name: &str, labels: &[&str], min: f64) -> (bool, String) {
    let mut last = String::new();
    let reached = super::wait_until(Duration::from_secs(30), || {
        let Some(addr) = metrics_address(cfg) else {
            return false;
        };
        last = http_get(&addr, "/metrics").unwrap_or_default();
        metric(&last, name, labels).is_some_and(|v| v >= min)
    });
    (reached, last)
}
