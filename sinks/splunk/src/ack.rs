//! Indexer acknowledgement bookkeeping: the channel and the ack ids HEC handed out that
//! the indexers have not confirmed yet.
//!
//! Ack ids are per channel, so one channel GUID belongs to one sink instance for its whole
//! life. HEC forgets an ack id once it has reported it true, so a `true` is acted on at
//! once; an id never reported true within the timeout means its request is sent again.
//!
//! Ack ids are counted per channel *per HEC instance*. Behind a load balancer without
//! sticky sessions two instances hand out the same id on one channel, and one instance's
//! `true` would confirm the other's request. Splunk asks for sticky sessions with a cookie
//! ("Load balancing configurations for Splunk Connect for Kafka": "Enable sticky sessions
//! on your load balancer with the maximum configurable cookie timeout period"); the sink
//! keeps cookies for that. An id handed out while the same id is still pending is the
//! sign that it did not work: neither request can be confirmed by that id, so both are
//! sent again ([`Pending::insert`]).

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
    /// Wait for `ack_id`. When that id is already pending, HEC gave it out twice on this
    /// channel: both requests come back (the earlier first), and the id is no longer
    /// waited for, since its `true` could be either's.
    pub fn insert(&mut self, ack_id: u64, request: T, sent_at: Instant) -> Result<(), [T; 2]> {
        match self.waiting.remove(&ack_id) {
            Some((earlier, _)) => Err([earlier, request]),
            None => {
                self.waiting.insert(ack_id, (request, sent_at));
                Ok(())
            }
        }
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
        p.insert(0, "a", t0).unwrap();
        p.insert(1, "b", t0 + Duration::from_secs(5)).unwrap();
        p.insert(2, "c", t0).unwrap();
        assert_eq!(p.ids(), vec![0, 1, 2]);
        assert_eq!(p.confirm(&[2, 9]), 1, "an id not ours is ignored");
        let gone = p.expired(Duration::from_secs(3), t0 + Duration::from_secs(4));
        assert_eq!(gone, vec!["a"]);
        assert_eq!(p.ids(), vec![1]);
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn an_id_given_out_twice_confirms_neither_request() {
        let t0 = Instant::now();
        let mut p = Pending::default();
        p.insert(4, "from instance a", t0).unwrap();
        p.insert(5, "other", t0).unwrap();
        assert_eq!(
            p.insert(4, "from instance b", t0),
            Err(["from instance a", "from instance b"])
        );
        assert_eq!(p.ids(), vec![5], "4 is no longer asked about");
        assert_eq!(p.confirm(&[4]), 0);
    }
}
