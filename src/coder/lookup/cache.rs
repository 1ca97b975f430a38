//! The look-ups' memory: what each id named, for a while, and which ids are being asked.
//!
//! An LRU ([`lru::LruCache`]) capped by entry count and by an estimate of the bytes it
//! holds, each answer kept for `ttl` (a failure for [`FAILURE_TTL`], so a sick Coder is
//! not asked again for every page). An id being fetched has a [`watch`] channel every
//! event that needs it waits on: one request, however many events wait (single-flight).

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::Duration;

use lru::LruCache;
use tokio::sync::watch;
use tokio::time::Instant;

use super::fetch::Kind;
use crate::coder::context::Found;

/// How long a failed look-up (5xx, a transport error, a 429) is remembered.
pub const FAILURE_TTL: Duration = Duration::from_secs(30);

/// What the cache holds for one id (each key is a kind and an id).
pub type Key = (Kind, String);

/// How a look-up ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Found(Found),
    /// Coder answered 404: the event keeps what it carried.
    Gone,
    /// Coder could not be asked or did not answer usefully.
    Failed,
}

/// What the cache says about a key, and what the caller must do.
pub enum Probe {
    /// Answered, and fresh.
    Held(Outcome),
    /// Someone is fetching it: wait on this.
    Waiting(watch::Receiver<Option<Outcome>>),
    /// Nobody is: the caller fetches it, and settles it through [`LookupCache::settle`].
    Fetch(watch::Receiver<Option<Outcome>>),
}

#[derive(Debug)]
struct Held {
    outcome: Outcome,
    expires: Instant,
    weight: usize,
}

struct Inner {
    lru: LruCache<Key, Held>,
    bytes: usize,
    pending: HashMap<Key, watch::Sender<Option<Outcome>>>,
}

pub struct LookupCache {
    inner: Mutex<Inner>,
    ttl: Duration,
    max_bytes: usize,
}

/// What one held entry costs besides its answer: the key, the LRU's node and map slot.
const ENTRY_OVERHEAD: usize = 96;

impl LookupCache {
    pub fn new(ttl: Duration, max_entries: NonZeroUsize, max_bytes: usize) -> Self {
        LookupCache {
            inner: Mutex::new(Inner {
                lru: LruCache::new(max_entries),
                bytes: 0,
                pending: HashMap::new(),
            }),
            ttl,
            max_bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What is known of `key` now, or who is to fetch it.
    pub fn probe(&self, key: &Key) -> Probe {
        let now = Instant::now();
        let mut inner = self.lock();
        if let Some(held) = inner.lru.get(key) {
            if held.expires > now {
                return Probe::Held(held.outcome.clone());
            }
            if let Some(stale) = inner.lru.pop(key) {
                inner.bytes = inner.bytes.saturating_sub(stale.weight);
            }
        }
        if let Some(tx) = inner.pending.get(key) {
            return Probe::Waiting(tx.subscribe());
        }
        let (tx, rx) = watch::channel(None);
        inner.pending.insert(key.clone(), tx);
        Probe::Fetch(rx)
    }

    /// Record how the fetch of `key` ended and wake whoever waits for it.
    pub fn settle(&self, key: Key, outcome: Outcome) {
        let ttl = match outcome {
            Outcome::Failed => FAILURE_TTL.min(self.ttl),
            _ => self.ttl,
        };
        let weight = ENTRY_OVERHEAD
            + key.1.len()
            + match &outcome {
                Outcome::Found(f) => f.weight(),
                _ => 0,
            };
        let mut inner = self.lock();
        if let Some(tx) = inner.pending.remove(&key) {
            // Nobody waiting any more is fine: the answer is still kept.
            let _ = tx.send(Some(outcome.clone()));
        }
        let held = Held {
            outcome,
            expires: Instant::now() + ttl,
            weight,
        };
        inner.bytes += weight;
        if let Some((_, old)) = inner.lru.push(key, held) {
            inner.bytes = inner.bytes.saturating_sub(old.weight);
        }
        while inner.bytes > self.max_bytes {
            match inner.lru.pop_lru() {
                Some((_, old)) => inner.bytes = inner.bytes.saturating_sub(old.weight),
                None => break,
            }
        }
    }

    /// Forget that `key` is being fetched, without an answer (the fetch never started):
    /// whoever waits sees [`Outcome::Failed`], and the next event asks again.
    pub fn abandon(&self, key: &Key) {
        if let Some(tx) = self.lock().pending.remove(key) {
            let _ = tx.send(Some(Outcome::Failed));
        }
    }

    /// Entries held and their estimated bytes (`enrich_lookup_cache_*`).
    pub fn size(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.lru.len(), inner.bytes)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::coder::context::UserInfo;

    fn key(id: &str) -> Key {
        (Kind::User, id.to_owned())
    }

    fn user(email: &str) -> Outcome {
        Outcome::Found(Found::User(Arc::new(UserInfo {
            email: Some(email.to_owned()),
            ..UserInfo::default()
        })))
    }

    fn cache(entries: usize, bytes: usize) -> LookupCache {
        LookupCache::new(
            Duration::from_secs(600),
            NonZeroUsize::new(entries).unwrap_or(NonZeroUsize::MIN),
            bytes,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn one_fetch_however_many_wait_and_answers_expire() {
        let c = cache(10, 1 << 20);
        let Probe::Fetch(mut first) = c.probe(&key("a")) else {
            panic!("nobody fetches a yet");
        };
        let Probe::Waiting(mut second) = c.probe(&key("a")) else {
            panic!("the second asker waits for the first fetch");
        };
        c.settle(key("a"), user("a@x.example"));
        for rx in [&mut first, &mut second] {
            let got = rx.wait_for(Option::is_some).await.map(|v| v.clone());
            assert_eq!(got.ok().flatten(), Some(user("a@x.example")));
        }
        assert!(matches!(c.probe(&key("a")), Probe::Held(o) if o == user("a@x.example")));
        tokio::time::advance(Duration::from_secs(601)).await;
        assert!(matches!(c.probe(&key("a")), Probe::Fetch(_)), "expired");
    }

    #[tokio::test(start_paused = true)]
    async fn failures_are_kept_briefly() {
        let c = cache(10, 1 << 20);
        let _ = c.probe(&key("a"));
        c.settle(key("a"), Outcome::Failed);
        assert!(matches!(c.probe(&key("a")), Probe::Held(Outcome::Failed)));
        tokio::time::advance(FAILURE_TTL + Duration::from_secs(1)).await;
        assert!(matches!(c.probe(&key("a")), Probe::Fetch(_)));
    }

    #[test]
    fn capped_by_count_and_by_bytes_least_recent_first() {
        let c = cache(3, 1 << 20);
        for id in ["a", "b", "c", "d"] {
            let _ = c.probe(&key(id));
            c.settle(key(id), Outcome::Gone);
        }
        assert_eq!(c.size().0, 3);
        assert!(
            matches!(c.probe(&key("a")), Probe::Fetch(_)),
            "a went first"
        );
        assert!(matches!(c.probe(&key("d")), Probe::Held(Outcome::Gone)));

        let one = ENTRY_OVERHEAD + 1 + user("x@x.example").weight_for_test();
        let c = cache(100, one * 2);
        for id in ["a", "b", "c"] {
            let _ = c.probe(&key(id));
            c.settle(key(id), user("x@x.example"));
        }
        let (entries, bytes) = c.size();
        assert_eq!(entries, 2);
        assert!(bytes <= one * 2, "{bytes} > {}", one * 2);
    }

    #[tokio::test]
    async fn an_abandoned_fetch_wakes_its_waiters_and_is_asked_again() {
        let c = cache(10, 1 << 20);
        let Probe::Fetch(_) = c.probe(&key("a")) else {
            panic!("first");
        };
        let Probe::Waiting(mut rx) = c.probe(&key("a")) else {
            panic!("second");
        };
        c.abandon(&key("a"));
        let got = rx.wait_for(Option::is_some).await.map(|v| v.clone());
        assert_eq!(got.ok().flatten(), Some(Outcome::Failed));
        assert!(matches!(c.probe(&key("a")), Probe::Fetch(_)));
    }

    impl Outcome {
        fn weight_for_test(&self) -> usize {
            match self {
                Outcome::Found(f) => f.weight(),
                _ => 0,
            }
        }
    }
}
