//! Indexer acknowledgement bookkeeping: the channel and the ack ids HEC handed out that
//! the indexers have not confirmed yet.
//!
//! Ack ids are per channel, so one channel GUID belongs to one sink instance for its whole
//! life. HEC forgets an ack id once it has reported it true, so a `true` is acted on at
//! once; an id never reported true within the timeout means its request is sent again.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Requests waiting for their ack, by ack id.
#[derive(Debug)]
pub struct Pending<T> {
    waiting: HashMap<u64, (T, Instant)>,
}

impl<T> Default for Pending<T> {
    fn default() -> Self {
        Pending {
            waiting: HashMap::new(),
        }
    }
}

impl<T> Pending<T> {
    pub fn insert(&mut self, ack_id: u64, request: T, sent_at: Instant) {
        self.waiting.insert(ack_id, (request, sent_at));
    }

    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// The ack ids to ask about.
    pub fn ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.waiting.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Forget the ids HEC reported true; returns how many were ours.
    pub fn confirm(&mut self, acked: &[u64]) -> usize {
        acked
            .iter()
            .filter(|id| self.waiting.remove(id).is_some())
            .count()
    }

    /// Take out the requests whose ack is older than `timeout`: they must be sent again.
    pub fn expired(&mut self, timeout: Duration, now: Instant) -> Vec<T> {
        let old: Vec<u64> = self
            .waiting
            .iter()
            .filter(|(_, (_, at))| now.saturating_duration_since(*at) >= timeout)
            .map(|(id, _)| *id)
            .collect();
        old.into_iter()
            .filter_map(|id| self.waiting.remove(&id).map(|(r, _)| r))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmed_ids_leave_and_old_ones_expire() {
        let t0 = Instant::now();
        let mut p = Pending::default();
        p.insert(0, "a", t0);
        p.insert(1, "b", t0 + Duration::from_secs(5));
        p.insert(2, "c", t0);
        assert_eq!(p.ids(), vec![0, 1, 2]);
        assert_eq!(p.confirm(&[2, 9]), 1, "an id not ours is ignored");
        let gone = p.expired(Duration::from_secs(3), t0 + Duration::from_secs(4));
        assert_eq!(gone, vec!["a"]);
        assert_eq!(p.ids(), vec![1]);
        assert_eq!(p.len(), 1);
    }
}
