//! The streams a running shipper exposes: each scrape copies their counters into the
//! Prometheus exposition, and `/readyz` judges them. One source of truth per number (the
//! stream's own [`StreamStats`]), and the lag gauges computed against the scrape's clock.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use super::{Reading, StreamStats};
use crate::coder::Stream;
use crate::ops::metrics as ops_metrics;
use crate::ops::server::{Readiness, Status};

/// The streams whose counters each scrape copies, by sink name and log.
#[derive(Clone, Default)]
pub struct Streams {
    inner: Arc<Mutex<BTreeMap<(String, Stream), Exposed>>>,
}

/// A sink's type and its stream's counters.
/// A stream's sink type, its delivery guarantee, and its counters.
type Exposed = (&'static str, &'static str, Arc<StreamStats>);

/// How `/readyz` names a stream: the sink, and the log when it is not the audit log.
pub fn stream_name(sink: &str, stream: Stream) -> String {
    match stream {
        Stream::Audit => sink.to_owned(),
        other => format!("{sink} ({other})"),
    }
}

impl Streams {
    pub fn register(
        &self,
        sink: &str,
        stream: Stream,
        sink_type: &'static str,
        guarantee: &'static str,
        stats: Arc<StreamStats>,
    ) {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((sink.to_owned(), stream), (sink_type, guarantee, stats));
    }

    /// Forget one stream (it was turned off): it is no longer exposed or judged ready.
    pub fn unregister(&self, sink: &str, stream: Stream) {
        let gone = self
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove_entry(&(sink.to_owned(), stream));
        gone.into_iter().for_each(settle);
    }

    /// Forget every stream (a reload registers the new set).
    pub fn clear(&self) {
        let gone = std::mem::take(&mut *self.inner.lock().unwrap_or_else(|e| e.into_inner()));
        gone.into_iter().for_each(settle);
    }

    /// Copy every stream's counters into the recorder, then render it. Readiness is
    /// judged with `staleness`, as [`Streams::readiness`] judges it.
    pub fn render(&self, staleness: std::time::Duration) -> String {
        let now = chrono::Utc::now().timestamp_micros();
        let limit = i64::try_from(staleness.as_micros()).unwrap_or(i64::MAX);
        let streams = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for ((name, stream), (sink_type, guarantee, stats)) in streams.iter() {
            ::metrics::gauge!(
                ops_metrics::DELIVERY_GUARANTEE,
                "component_kind" => "sink",
                "component_id" => name.clone(),
                "component_type" => *sink_type,
                "guarantee" => *guarantee
            )
            .set(1.0);
            let labels = [
                ("component_kind", "sink".to_owned()),
                ("component_id", name.clone()),
                ("component_type", (*sink_type).to_owned()),
                ("stream", stream.name().to_owned()),
            ];
            let n = |v: &std::sync::atomic::AtomicU64| v.load(Ordering::Relaxed);
            let age =
                |micros: u64| (now - i64::try_from(micros).unwrap_or(i64::MAX)).max(0) as f64 / 1e6;
            ::metrics::counter!(ops_metrics::RECEIVED_EVENTS, &labels).absolute(n(&stats.received));
            ::metrics::counter!(ops_metrics::SENT_EVENTS, &labels).absolute(n(&stats.delivered));
            ::metrics::counter!(ops_metrics::SENT_BYTES, &labels)
                .absolute(n(&stats.delivered_bytes));
            ::metrics::counter!(ops_metrics::SENT_BATCHES, &labels).absolute(n(&stats.batches));
            ::metrics::counter!(ops_metrics::RETRIES, &labels).absolute(n(&stats.retries));
            ::metrics::counter!(ops_metrics::DEAD_LETTERED, &labels)
                .absolute(n(&stats.dead_lettered));
            ::metrics::counter!(ops_metrics::TRUNCATED, &labels).absolute(n(&stats.truncated));
            ::metrics::counter!(ops_metrics::FILTERED, &labels).absolute(n(&stats.filtered));
            let newest = n(&stats.newest_micros);
            if newest > 0 {
                ::metrics::gauge!(ops_metrics::CHECKPOINT_LAG, &labels).set(age(newest));
            }
            let pending = stats
                .pending_acks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
                .map(|g| g.load(Ordering::Relaxed));
            if let Some(pending) = pending {
                ::metrics::gauge!(ops_metrics::PENDING_ACKS, &labels).set(pending as f64);
            }
            let reading = Reading::of(stats);
            if reading != Reading::Own {
                let shared = f64::from(u8::from(reading == Reading::Shared));
                ::metrics::gauge!(ops_metrics::SHARED_READ, &labels).set(shared);
            }
            let scanned = n(&stats.last_scan_micros);
            if scanned > 0 {
                ::metrics::gauge!(ops_metrics::POLL_AGE, &labels).set(age(scanned));
            }
            let ready = problem(stats, now, limit).is_none();
            ::metrics::gauge!(ops_metrics::READY, &labels).set(f64::from(u8::from(ready)));
            let stopped = stats.stopped.load(Ordering::Relaxed);
            ::metrics::gauge!(ops_metrics::STOPPED, &labels).set(f64::from(u8::from(stopped)));
        }
        ops_metrics::render()
    }

    /// Ready when every stream is running, not failing, and completed a scan of Coder
    /// within `staleness`; otherwise the reasons, one per stream.
    pub fn readiness(&self, staleness: std::time::Duration) -> Result<(), Vec<String>> {
        let now = chrono::Utc::now().timestamp_micros();
        let limit = i64::try_from(staleness.as_micros()).unwrap_or(i64::MAX);
        let streams = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut reasons = Vec::new();
        if streams.is_empty() {
            reasons.push("no stream started yet".to_owned());
        }
        for ((sink, stream), (_, _, stats)) in streams.iter() {
            if let Some(problem) = problem(stats, now, limit) {
                reasons.push(format!("{}: {problem}", stream_name(sink, *stream)));
            }
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons)
        }
    }

    /// How each sink reads Coder, for the streams read by several sinks.
    pub fn reading(&self) -> Vec<String> {
        let streams = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        streams
            .iter()
            .filter_map(|((sink, stream), (_, _, stats))| {
                let how = Reading::of(stats).describe()?;
                Some(format!("{}: {how}", stream_name(sink, *stream)))
            })
            .collect()
    }
}

/// A forgotten stream's readiness gauges, which the recorder keeps at their last value:
/// ready and not stopped, so that a stream turned off (a connection log without its
/// licence) or a sink a reload removed holds no alert. A sink the reload keeps sets them
/// again at the next scrape.
fn settle(((sink, stream), (sink_type, _, _)): ((String, Stream), Exposed)) {
    let labels = [
        ("component_kind", "sink".to_owned()),
        ("component_id", sink),
        ("component_type", sink_type.to_owned()),
        ("stream", stream.name().to_owned()),
    ];
    ::metrics::gauge!(ops_metrics::READY, &labels).set(1.0);
    ::metrics::gauge!(ops_metrics::STOPPED, &labels).set(0.0);
}

/// Why one stream is not ready at `now` (µs), scans older than `limit` (µs) being stale;
/// `None` when it is.
fn problem(stats: &StreamStats, now: i64, limit: i64) -> Option<String> {
    let scanned = i64::try_from(stats.last_scan_micros.load(Ordering::Relaxed)).unwrap_or(0);
    if stats.stopped.load(Ordering::Relaxed) {
        Some("stopped on an error".to_owned())
    } else if stats.not_permitted.load(Ordering::Relaxed) {
        Some("Coder says the token may not read the connection log; waiting".to_owned())
    } else if stats.failing.load(Ordering::Relaxed) {
        Some("delivery or checkpoint failing, retrying".to_owned())
    } else if scanned == 0 {
        Some("no scan of Coder completed yet".to_owned())
    } else if now - scanned > limit {
        Some(format!(
            "no scan of Coder completed for {} s",
            (now - scanned) / 1_000_000
        ))
    } else {
        None
    }
}

impl Status for Streams {
    fn metrics(&self, staleness: std::time::Duration) -> String {
        self.render(staleness)
    }

    fn readiness(&self, staleness: std::time::Duration) -> Readiness {
        Readiness {
            problems: Streams::readiness(self, staleness)
                .err()
                .unwrap_or_default(),
            notes: self.reading(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::metrics::{
        CHECKPOINT_LAG, DEAD_LETTERED, DELIVERY_GUARANTEE, READY, SENT_EVENTS, STOPPED,
        coder_error, install,
    };

    #[test]
    fn a_streams_counters_and_lag_are_exposed_under_its_labels() {
        install();
        let streams = Streams::default();
        let stats = Arc::new(StreamStats::default());
        stats.delivered.store(42, Ordering::Relaxed);
        stats.dead_lettered.store(2, Ordering::Relaxed);
        let ten_seconds_ago = chrono::Utc::now().timestamp_micros() - 10_000_000;
        stats
            .newest_micros
            .store(u64::try_from(ten_seconds_ago).unwrap(), Ordering::Relaxed);
        streams.register("siem", Stream::Audit, "splunk_hec", "accepted", stats);
        coder_error("rate_limited");
        let text = streams.render(std::time::Duration::from_secs(60));
        let labels = r#"component_kind="sink",component_id="siem",component_type="splunk_hec",stream="audit""#;
        assert!(
            text.contains(&format!("{SENT_EVENTS}{{{labels}}} 42")),
            "{text}"
        );
        assert!(
            text.contains(&format!("{DEAD_LETTERED}{{{labels}}} 2")),
            "{text}"
        );
        let lag: f64 = text
            .lines()
            .find(|l| l.starts_with(CHECKPOINT_LAG))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .expect("a lag sample");
        assert!((10.0..60.0).contains(&lag), "{lag}");
        assert!(
            text.contains(r#"error_type="rate_limited""#),
            "errors counted where they happen show too: {text}"
        );
        assert!(text.contains("# HELP component_sent_events_total"));
        assert!(
            text.contains(&format!(
                r#"{DELIVERY_GUARANTEE}{{component_kind="sink",component_id="siem",component_type="splunk_hec",guarantee="accepted"}} 1"#
            )),
            "{text}"
        );
    }

    /// The gauge says what `/readyz` says, for an alert to hold over minutes.
    #[test]
    fn readiness_and_a_stop_are_exposed_as_gauges() {
        install();
        let streams = Streams::default();
        let stats = Arc::new(StreamStats::default());
        streams.register(
            "ready-probe",
            Stream::Audit,
            "file",
            "synced",
            stats.clone(),
        );
        let labels = r#"component_kind="sink",component_id="ready-probe",component_type="file",stream="audit""#;
        let sample = |name: &str| {
            let text = streams.render(std::time::Duration::from_secs(60));
            let line = format!("{name}{{{labels}}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(line.as_str()).map(str::to_owned))
                .unwrap_or_else(|| panic!("no {name} sample: {text}"))
        };
        assert_eq!(sample(READY), "0", "no scan yet");
        let now = u64::try_from(chrono::Utc::now().timestamp_micros()).unwrap();
        stats.last_scan_micros.store(now, Ordering::Relaxed);
        assert_eq!(sample(READY), "1");
        assert_eq!(sample(STOPPED), "0");
        stats.stopped.store(true, Ordering::Relaxed);
        assert_eq!(sample(READY), "0");
        assert_eq!(sample(STOPPED), "1");
        assert!(
            streams
                .readiness(std::time::Duration::from_secs(60))
                .is_err()
        );
        // Turned off: no longer judged, and its gauges hold no alert.
        streams.unregister("ready-probe", Stream::Audit);
        let text = streams.render(std::time::Duration::from_secs(60));
        assert!(text.contains(&format!("{READY}{{{labels}}} 1")), "{text}");
        assert!(text.contains(&format!("{STOPPED}{{{labels}}} 0")), "{text}");
    }
}
