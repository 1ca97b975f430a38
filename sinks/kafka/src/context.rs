//! librdkafka's own log lines, made fit for an operator's log.
//!
//! With a broker down, librdkafka reports the same failure several times a second
//! ("1/1 brokers are down", "Connect to ... failed"), each through its log and its error
//! callback: hundreds of lines for a 30 s outage that the sink already reports once per
//! retry. Here each distinct message is logged once, then again at most every
//! [`QUIET_FOR`] with how many were held back; debug-level lines stay at debug.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;

/// How long an identical librdkafka message stays quiet after it was logged.
pub const QUIET_FOR: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct QuietContext {
    /// Message → when it was last logged, and how many were held back since.
    seen: Mutex<HashMap<String, (Instant, u64)>>,
}

impl QuietContext {
    /// Whether to log `message` now, and how many like it were held back before.
    fn admit(&self, message: &str) -> Option<u64> {
        // "1/1 brokers are down" and "(after 0ms in state CONNECT, 1 identical error(s)
        // suppressed)" vary in their numbers only: one key for all of them.
        let key: String = message
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .take(200)
            .collect();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match seen.get_mut(&key) {
            Some((last, held)) if now.duration_since(*last) < QUIET_FOR => {
                *held += 1;
                None
            }
            Some((last, held)) => {
                *last = now;
                Some(std::mem::take(held))
            }
            None => {
                if seen.len() > 1_000 {
                    seen.clear();
                }
                seen.insert(key, (now, 0));
                Some(0)
            }
        }
    }
}

impl ClientContext for QuietContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error
            | RDKafkaLogLevel::Warning => {
                if let Some(held) = self.admit(log_message) {
                    tracing::warn!(
                        facility = fac,
                        held_back = held,
                        "librdkafka: {log_message}"
                    );
                }
            }
            _ => tracing::debug!(facility = fac, "librdkafka: {log_message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if let Some(held) = self.admit(reason) {
            tracing::warn!(held_back = held, "librdkafka: {error}: {reason}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_message_is_logged_once_per_window_whatever_its_numbers() {
        let c = QuietContext::default();
        assert_eq!(c.admit("1/1 brokers are down"), Some(0));
        assert_eq!(c.admit("0/2 brokers are down"), None);
        assert_eq!(c.admit("1/1 brokers are down"), None);
        assert_eq!(c.admit("Connect to 127.0.0.1:9092 failed"), Some(0));
        // Past the window it comes back, with the count held back.
        let key: String = "1/1 brokers are down"
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .collect();
        c.seen.lock().unwrap().get_mut(&key).unwrap().0 -= QUIET_FOR;
        assert_eq!(c.admit("1/1 brokers are down"), Some(2));
    }
}
