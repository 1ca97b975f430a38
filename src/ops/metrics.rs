//! Metric names, labels and the Prometheus recorder.
//!
//! Names follow Vector's `component_*` style: every series carries `component_kind`
//! (`source` for Coder, `sink`) and `component_id` (`coder`, or the sink's name), and
//! sinks add `component_type` (the config's `type`) and `stream` (`audit`, `connection`).
//! Label values are names from the config and fixed words, never a URL, a token or an
//! audit field, so nothing secret or unbounded can reach a series.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Requests to Coder that failed, by `error_type` (`CoderError::kind`).
pub const ERRORS: &str = "component_errors_total";
pub const RECEIVED_EVENTS: &str = "component_received_events_total";
pub const SENT_EVENTS: &str = "component_sent_events_total";
pub const SENT_BYTES: &str = "component_sent_event_bytes_total";
pub const SENT_BATCHES: &str = "component_sent_batches_total";
pub const RETRIES: &str = "component_retries_total";
pub const DEAD_LETTERED: &str = "component_dead_lettered_events_total";
pub const TRUNCATED: &str = "component_truncated_events_total";
/// Entries a sink's filter left out: handled, its checkpoint moves past them.
pub const FILTERED: &str = "component_filtered_events_total";
/// Now minus the newest event time the sink confirmed.
pub const CHECKPOINT_LAG: &str = "checkpoint_lag_seconds";
/// Requests sent and awaiting the peer's acknowledgement (HEC indexer acks).
pub const PENDING_ACKS: &str = "component_pending_acks";
/// Now minus when the stream last completed a scan of Coder.
pub const POLL_AGE: &str = "last_successful_poll_age_seconds";
/// 1 while a stream is ready as `/readyz` judges it, else 0: what an alert can hold for
/// a while, where `/readyz` answers only now. A stream turned off, or a sink a reload
/// removed, reads 1 (the recorder cannot forget a series).
pub const READY: &str = "component_ready";
/// 1 once a stream stopped on an error it does not retry (401 or 403 from Coder, a
/// sink's fatal answer); it stays stopped until a restart or a reload.
pub const STOPPED: &str = "component_stopped";
pub const DELIVERY_GUARANTEE: &str = "component_delivery_guarantee_info";
/// 1, labelled with the version Coder's `/api/v2/buildinfo` reported.
pub const CODER_INFO: &str = "coder_build_info";
/// 1 while Coder's license covers audit logging (`audit_log` entitled or in its grace
/// period), 0 when it does not: Coder then records nothing new and says nothing.
pub const AUDIT_ENTITLED: &str = "coder_audit_log_entitled";
/// 1 when the connection stream is configured and Coder serves its log, 0 when Coder
/// answered 403 (no Premium license) or 404 (older than v2.25) and the stream is off.
pub const CONNECTION_LOG_AVAILABLE: &str = "coder_connection_log_available";
/// 1 while Coder says the token's user may read the connection log, 0 while it says no
/// (`POST /api/v2/authcheck`): the connection streams then wait, holding their cursors.
pub const CONNECTION_LOG_PERMITTED: &str = "coder_connection_log_permitted";
/// Connection-log rows the late sweep shipped, by `reason` (`late`, `unknown_after_restart`).
pub const LATE_ROWS: &str = "coder_connection_late_rows_total";
/// How far below the live scan's floor (`position - overlap`) the latest sweep's latest
/// row had landed, in seconds.
pub const LATE_LATENESS: &str = "coder_connection_late_row_lateness_seconds";
/// Open connection sessions given up before their disconnect was seen, by `reason`:
/// `horizon` (open longer than `coder.session_horizon`) or `deleted` (the row is gone).
pub const SESSIONS_ABANDONED: &str = "coder_connection_sessions_abandoned_total";
/// Requests sent to Coder, by `stream` (`audit`, `connection`, `none`) and `purpose`
/// (`coder::budget::Purpose`): what the request budget was spent on.
pub const CODER_REQUESTS: &str = "coder_requests_total";
/// How long requests that had to wait for `coder.max_requests_per_minute` waited, by
/// `purpose` (a summary: `_count` requests waited, `_sum` seconds).
pub const CODER_BUDGET_WAIT: &str = "coder_request_budget_wait_seconds";

/// Sinks that left a stream's shared reader to read Coder alone, by `reason` (`slow`: the
/// queue stayed full for `fanout.detach_after`; `failing`: full while the sink failed).
pub const DETACHED: &str = "component_detached_total";
/// A sink reading alone asked to join its stream's shared reader, by `outcome` (`joined`,
/// or why not yet: `catching_up` (the shared reader is not at the present), `behind`,
/// `midway`, `missing_rows`, `sessions_differ`, `unlearnt`; see `coder::join`).
pub const JOIN_ATTEMPTS: &str = "component_join_attempts_total";
/// Rows a sink that joined had already delivered alone, not handed to it again.
pub const SPARED: &str = "component_rows_spared_total";
/// 1 while a sink reads through its stream's shared reader, 0 while it reads alone beside
/// one (started behind it, or left it); absent for a stream's only sink.
pub const SHARED_READ: &str = "component_shared_read";

/// GeoIP look-ups (`[enrich.geoip]`), by `result`: `placed`, `not_found` (in no network
/// of the databases), `not_looked_up` (private, loopback, link-local or CGNAT) and
/// `undecodable` (a record of another layout). One per event and encoding.
pub const GEOIP_LOOKUPS: &str = "enrich_geoip_lookups_total";
/// Coder look-ups (`[enrich.coder]`), by `kind` (`workspace`, `template`, `organization`,
/// `user`) and `result`: `hit` (cached), `miss` (asked of Coder and answered in time),
/// `gone` (404), `error`, `timeout` (not answered within `lookup_timeout`; shipped
/// without), `deferred` (not asked: the request budget had no token to spare). One per
/// event and id it names.
pub const LOOKUPS: &str = "enrich_lookups_total";
/// 1 while a kind of Coder look-up is on, 0 when it is off (403, or workspaces the token
/// may not read), by `kind`.
pub const LOOKUP_ON: &str = "enrich_lookup_enabled";
/// What the look-up cache holds: `enrich_lookup_cache_entries` and its estimated bytes.
pub const LOOKUP_CACHE_ENTRIES: &str = "enrich_lookup_cache_entries";
pub const LOOKUP_CACHE_BYTES: &str = "enrich_lookup_cache_bytes";

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
        process().describe();
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
    counter!(
        RECEIVED_EVENTS,
        "Entries read from Coder for the sink, by stream (audit, connection)"
    );
    counter!(SENT_EVENTS, "Entries the sink confirmed, by stream");
    counter!(
        SENT_BYTES,
        "Bytes of the records the sink confirmed, before compression"
    );
    counter!(SENT_BATCHES, "Batches the sink confirmed");
    counter!(
        GEOIP_LOOKUPS,
        "GeoIP look-ups of client addresses, by result (placed, not_found, not_looked_up, undecodable)"
    );
    counter!(
        LOOKUPS,
        "Coder look-ups of the ids events name, by kind and result (hit, miss, gone, error, timeout, deferred)"
    );
    ::metrics::describe_gauge!(
        LOOKUP_ON,
        "1 while a kind of Coder look-up is on, 0 when it is off (403, or workspaces the token may not read)"
    );
    ::metrics::describe_gauge!(
        LOOKUP_CACHE_ENTRIES,
        "Answers the Coder look-up cache holds"
    );
    ::metrics::describe_gauge!(
        LOOKUP_CACHE_BYTES,
        "An estimate of the bytes the Coder look-up cache holds"
    );
    counter!(RETRIES, "Delivery attempts that failed and were retried");
    counter!(
        DEAD_LETTERED,
        "Records the peer refused for good, written to the dead-letter file"
    );
    counter!(
        TRUNCATED,
        "Records cut to fit max_event_bytes or the transport"
    );
    counter!(
        FILTERED,
        "Entries the sink's filter left out; its checkpoint moves past them"
    );
    ::metrics::describe_gauge!(
        CHECKPOINT_LAG,
        "Seconds between now and the newest event the sink confirmed"
    );
    ::metrics::describe_gauge!(
        POLL_AGE,
        "Seconds since the stream last completed a scan of Coder"
    );
    ::metrics::describe_gauge!(
        READY,
        "1 while the stream is ready as /readyz judges it (running, not failing, scanned Coder within ready_staleness), else 0"
    );
    ::metrics::describe_gauge!(
        STOPPED,
        "1 once the stream stopped on an error it does not retry (401 or 403 from Coder, a sink's fatal answer)"
    );
    ::metrics::describe_gauge!(
        PENDING_ACKS,
        "Requests sent and awaiting the peer's acknowledgement (HEC indexer acks)"
    );
    ::metrics::describe_gauge!(
        DELIVERY_GUARANTEE,
        "What a sink's confirmation means, as the guarantee label (synced, written, replicated, stored, indexed, accepted, sent)"
    );
    ::metrics::describe_gauge!(CODER_INFO, "The Coder version, as a label");
    ::metrics::describe_gauge!(
        AUDIT_ENTITLED,
        "1 while Coder's license covers audit logging, 0 when it does not"
    );
    ::metrics::describe_gauge!(
        CONNECTION_LOG_AVAILABLE,
        "1 while Coder serves the connection log to the connection stream, 0 when it is off"
    );
    counter!(
        LATE_ROWS,
        "Connection-log rows found below the live scan's window and shipped, by reason"
    );
    ::metrics::describe_gauge!(
        LATE_LATENESS,
        "How far below the live scan's floor the latest late connection row had landed"
    );
    ::metrics::describe_gauge!(
        CONNECTION_LOG_PERMITTED,
        "1 while the token's user may read the connection log (authcheck), 0 while the connection streams wait for that permission"
    );
    counter!(
        SESSIONS_ABANDONED,
        "Open connection sessions whose disconnect will not be shipped, by reason"
    );
    counter!(
        DETACHED,
        "Times a sink left its stream's shared reader to read Coder alone, by reason"
    );
    counter!(
        JOIN_ATTEMPTS,
        "Times a sink reading alone asked to join its stream's shared reader, by outcome"
    );
    counter!(
        SPARED,
        "Rows a sink had delivered alone before it joined the shared reader, not handed to it again"
    );
    ::metrics::describe_gauge!(
        SHARED_READ,
        "1 while a sink reads through its stream's shared reader, 0 while it reads alone beside one"
    );
    counter!(
        CODER_REQUESTS,
        "Requests sent to Coder (retries included), by stream and purpose"
    );
    ::metrics::describe_histogram!(
        CODER_BUDGET_WAIT,
        ::metrics::Unit::Seconds,
        "How long requests to Coder waited for coder.max_requests_per_minute, by purpose"
    );
}

/// Sink `sink` left a shared reader to read alone, for `reason`.
pub fn sink_detached(sink: &str, reason: &'static str) {
    ::metrics::counter!(DETACHED, "component_kind" => "sink", "component_id" => sink.to_owned(), "reason" => reason)
        .increment(1);
}

/// Sink `sink` asked to join the shared reader of `stream`: `outcome` is `joined` or why
/// not yet.
pub fn join_attempt(sink: &str, stream: &'static str, outcome: &'static str) {
    ::metrics::counter!(JOIN_ATTEMPTS, "component_kind" => "sink", "component_id" => sink.to_owned(), "stream" => stream, "outcome" => outcome)
        .increment(1);
}

/// Sink `sink`, just joined, was not handed `rows` it had delivered alone.
pub fn rows_spared(sink: &str, rows: u64) {
    ::metrics::counter!(SPARED, "component_kind" => "sink", "component_id" => sink.to_owned())
        .increment(rows);
}

/// One request to Coder sent for `purpose` of `stream` (`None`: not a stream's), after
/// waiting `waited` for the request budget.
pub fn coder_request(
    stream: Option<&'static str>,
    purpose: &'static str,
    waited: std::time::Duration,
) {
    ::metrics::counter!(CODER_REQUESTS, "stream" => stream.unwrap_or("none"), "purpose" => purpose)
        .increment(1);
    if !waited.is_zero() {
        ::metrics::histogram!(CODER_BUDGET_WAIT, "purpose" => purpose).record(waited.as_secs_f64());
    }
}

/// The Coder version the shipper connected to.
pub fn coder_version(version: &str) {
    ::metrics::gauge!(CODER_INFO, "version" => version.to_owned()).set(1.0);
}

/// Whether Coder's license covers audit logging.
pub fn audit_entitled(entitled: bool) {
    ::metrics::gauge!(AUDIT_ENTITLED).set(if entitled { 1.0 } else { 0.0 });
}

/// Whether the connection stream runs (see [`CONNECTION_LOG_AVAILABLE`]).
/// Rows the late sweep found below the live scan's floor (`reason="late"`), and rows of an
/// hour that changed while the shipper was down, shipped whole
/// (`reason="unknown_after_restart"`); and how far below the floor the latest sweep's
/// latest row landed.
pub fn late_connection_rows(late: u64, resent: u64, max_lateness: Option<chrono::TimeDelta>) {
    ::metrics::counter!(LATE_ROWS, "reason" => "late").increment(late);
    ::metrics::counter!(LATE_ROWS, "reason" => "unknown_after_restart").increment(resent);
    if let Some(d) = max_lateness {
        ::metrics::gauge!(LATE_LATENESS).set(d.num_milliseconds() as f64 / 1000.0);
    }
}

/// A connection to the metrics listener closed on arrival: `server::MAX_CONNECTIONS`
/// were open.
pub fn server_connection_refused() {
    ::metrics::counter!(ERRORS, "component_kind" => "server", "component_id" => "server", "error_type" => "connection_limit")
        .increment(1);
}

pub fn connection_log_permitted(permitted: bool) {
    ::metrics::gauge!(CONNECTION_LOG_PERMITTED).set(if permitted { 1.0 } else { 0.0 });
}

pub fn connection_log_available(available: bool) {
    ::metrics::gauge!(CONNECTION_LOG_AVAILABLE).set(if available { 1.0 } else { 0.0 });
}

/// Open sessions given up (see [`SESSIONS_ABANDONED`]).
pub fn sessions_abandoned(reason: &'static str, n: u64) {
    ::metrics::counter!(SESSIONS_ABANDONED, "reason" => reason).increment(n);
}

/// One GeoIP look-up (see [`GEOIP_LOOKUPS`]).
pub fn geoip_lookup(result: &'static str) {
    ::metrics::counter!(GEOIP_LOOKUPS, "result" => result).increment(1);
}

/// How `n` Coder look-ups of events ended (see [`LOOKUPS`]).
pub fn enrich_lookups(kind: &'static str, result: &'static str, n: u64) {
    ::metrics::counter!(LOOKUPS, "kind" => kind, "result" => result).increment(n);
}

/// Whether a kind of Coder look-up is on (see [`LOOKUP_ON`]).
pub fn lookup_kind_on(kind: &'static str, on: bool) {
    ::metrics::gauge!(LOOKUP_ON, "kind" => kind).set(if on { 1.0 } else { 0.0 });
}

/// What the look-up cache holds.
pub fn lookup_cache(entries: usize, bytes: usize) {
    ::metrics::gauge!(LOOKUP_CACHE_ENTRIES).set(entries as f64);
    ::metrics::gauge!(LOOKUP_CACHE_BYTES).set(bytes as f64);
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

/// The process's own numbers (`process_resident_memory_bytes`,
/// `process_cpu_seconds_total`, open descriptors, threads), as client_golang's process
/// collector names them, so a dashboard made for any Go service reads them.
fn process() -> &'static metrics_process::Collector {
    static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();
    PROCESS.get_or_init(metrics_process::Collector::default)
}

/// The exposition in Prometheus text format: every series recorded so far, and the
/// process's numbers read now.
pub fn render() -> String {
    let handle = handle();
    process().collect();
    handle.render()
}
