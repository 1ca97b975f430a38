//! What a scenario measures and how it reads the shipper: its peak memory, its metrics and
//! the figures it records.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The highest `VmHWM` (peak resident set) of every process watched, in KiB. A sampler
/// thread per process reads `/proc/PID/status` every 50 ms until the process is gone, so a
/// process killed with SIGKILL still has its peak counted up to its last sample.
#[derive(Clone, Default)]
pub struct PeakRss(Arc<AtomicU64>);

impl PeakRss {
    pub fn watch(&self, pid: u32) {
        let peak = self.0.clone();
        std::thread::spawn(move || {
            let path = format!("/proc/{pid}/status");
            loop {
                let Some(kib) = std::fs::read_to_string(&path).ok().and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("VmHWM:"))
                        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
                }) else {
                    return; // gone, or a zombie
                };
                peak.fetch_max(kib, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
    }

    pub fn mib(&self) -> f64 {
        self.0.load(Ordering::Relaxed) as f64 / 1024.0
    }
}

/// One scenario's figures, printed and appended to `reliability.txt`.
pub fn record(
    scenario: &str,
    sink: &str,
    lost: usize,
    duplicates: usize,
    peak: &PeakRss,
    note: &str,
) {
    let line = format!(
        "| {scenario} | {sink} | {lost} | {duplicates} | {:.1} | {note} |",
        peak.mib()
    );
    println!("{line}");
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("reliability.txt");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{line}");
    }
}

/// `[server]` listening on a free port, for a config's top.
pub const SERVER: &str = "[server]\nlisten = \"127.0.0.1:0\"\n";

/// The metrics address the shipper logged (`listen = "127.0.0.1:0"`), once it did.
pub fn metrics_address(cfg: &Path) -> Option<String> {
    let log = super::common::run_log(cfg);
    let at = log.find("address=")? + "address=".len();
    let rest = &log[at..];
    let end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}

/// GET `path` from the shipper's listener: the body, or `None` if it did not answer 200.
pub fn http_get(address: &str, path: &str) -> Option<String> {
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
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
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
    let reached = super::common::wait_until(Duration::from_secs(30), || {
        let Some(addr) = metrics_address(cfg) else {
            return false;
        };
        last = http_get(&addr, "/metrics").unwrap_or_default();
        metric(&last, name, labels).is_some_and(|v| v >= min)
    });
    (reached, last)
}
