//! Metric names, labels and the Prometheus recorder.
//!
//! Names follow Vector's `component_*` style: every series carries `component_kind`
//! (`source` for Coder, `sink`) and `component_id` (`coder`, or the sink's name), and
//! sinks add `component_type` (the config's `type`). Label values are names from the
//! config and fixed words, never a URL, a token or an audit field, so nothing secret or
//! unbounded can reach a series.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::pipeline::StreamStats;

/// Requests to Coder that failed, by `error_type` (`CoderError::kind`).
pub const ERRORS: &str = "component_errors_total";
pub const SENT_EVENTS: &str = "component_sent_events_total";
pub const SENT_BATCHES: &str = "component_sent_batches_total";
pub const RETRIES: &str = "component_retries_total";
pub const DEAD_LETTERED: &str = "component_dead_lettered_events_total";
pub const TRUNCATED: &str = "component_truncated_events_total";
/// Now minus the newest event time the sink confirmed.
pub const CHECKPOINT_LAG: &str = "checkpoint_lag_seconds";

/// The process-wide recorder, installed on first use.
fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        // Fails only when another recorder is already installed (a test that installed
        // its own); this handle then renders nothing, which that test will see.
        let _ = ::metrics::set_global_recorder(recorder);
        describe();
        handle
    })
}

/// Install the recorder, so that counters from here on are kept.
pub fn install() {
    handle();
}

fn describe() {
    use ::metrics::describe_counter as counter;
    counter!(ERRORS, "Failed operations, by component and error_type");
    counter!(SENT_EVENTS, "Audit entries the sink confirmed");
    counter!(SENT_BATCHES, "Batches the sink confirmed");
    counter!(RETRIES, "Delivery attempts that failed and were retried");
    counter!(
        DEAD_LETTERED,
        "Records the peer refused for good, written to the dead-letter file"
    );
    counter!(
        TRUNCATED,
        "Records cut to fit max_event_bytes or the transport"
    );
    ::metrics::describe_gauge!(
        CHECKPOINT_LAG,
        "Seconds between now and the newest event the sink confirmed"
    );
}

/// A failed request to Coder (retried or not).
pub fn coder_error(error_type: &'static str) {
    ::metrics::counter!(ERRORS, "component_kind" => "source", "component_id" => "coder", "error_type" => error_type)
        .increment(1);
}

/// A failure local to a sink's stream (`checkpoint_write`, `dead_letter_write`).
pub fn sink_error(sink: &str, error_type: &'static str) {
    ::metrics::counter!(ERRORS, "component_kind" => "sink", "component_id" => sink.to_owned(), "error_type" => error_type)
        .increment(1);
}

/// The streams whose counters each scrape copies, by sink name.
#[derive(Clone, Default)]
pub struct Streams {
    inner: Arc<Mutex<BTreeMap<String, Exposed>>>,
}

/// A sink's type and its stream's counters.
type Exposed = (&'static str, Arc<StreamStats>);

impl Streams {
    pub fn register(&self, sink: &str, sink_type: &'static str, stats: Arc<StreamStats>) {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(sink.to_owned(), (sink_type, stats));
    }

    /// The exposition in Prometheus text format.
    pub fn render(&self) -> String {
        let handle = handle();
        let now = chrono::Utc::now().timestamp_micros();
        let streams = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for (name, (sink_type, stats)) in streams.iter() {
            let labels = [
                ("component_kind", "sink".to_owned()),
                ("component_id", name.clone()),
                ("component_type", (*sink_type).to_owned()),
            ];
            let n = |v: &std::sync::atomic::AtomicU64| v.load(Ordering::Relaxed);
            ::metrics::counter!(SENT_EVENTS, &labels).absolute(n(&stats.delivered));
            ::metrics::counter!(SENT_BATCHES, &labels).absolute(n(&stats.batches));
            ::metrics::counter!(RETRIES, &labels).absolute(n(&stats.retries));
            ::metrics::counter!(DEAD_LETTERED, &labels).absolute(n(&stats.dead_lettered));
            ::metrics::counter!(TRUNCATED, &labels).absolute(n(&stats.truncated));
            let newest = n(&stats.newest_micros);
            if newest > 0 {
                let lag = (now - i64::try_from(newest).unwrap_or(i64::MAX)).max(0) as f64 / 1e6;
                ::metrics::gauge!(CHECKPOINT_LAG, &labels).set(lag);
            }
        }
        handle.render()
    }
}
