//! What a scenario measures and how it reads the shipper: its peak memory, its metrics and
//! the figures it records.

use std::io::Write;
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
