//! `[enrich.coder]`: what the ids of an entry name, asked of Coder through the same client
//! and token, so an analyst reads "workspace dev of alice, template docker-dev" where the
//! entry said only a UUID.
//!
//! The tailer hands each page's new events through [`Lookups::attach`] before they go to
//! the sinks ([`Enriching`]): one look-up per stream, not per sink, shared by every sink
//! and format. Three promises:
//!
//! - **Delivery is never held hostage.** A page waits at most `lookup_timeout` for its
//!   look-ups; what is not answered by then ships without, counted as `timeout`, and the
//!   fetch goes on to fill the cache for the next events.
//! - **Requests stay near the number of distinct ids.** Answers are cached ([`cache`]), one
//!   id in flight is fetched once however many events wait, at most [`IN_FLIGHT`] fetches
//!   run at once, and every request comes out of the process's request budget, of which the
//!   look-ups take at most a quarter ([`share_of`]).
//! - **Only what the token may read.** A 403 turns that kind of look-up off with one
//!   warning. Workspaces are looked up only after `POST /api/v2/authcheck` said the user may
//!   read them all: the Auditor role may not, and Coder answers 404 (not 403) for a
//!   workspace the user may not read, which would look like "deleted".

mod cache;
mod fetch;
mod outlet;
mod wants;

use std::collections::{BTreeSet, HashMap};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;

use super::budget::RequestBudget;
use tokio::time::Instant;

pub use cache::{FAILURE_TTL, LookupCache, Outcome};
pub use fetch::{Answer, Kind, is_uuid};
pub use outlet::Enriching;

use super::context::CoderContext;
use super::{CoderClient, CoderError, Entry, Event};
use cache::{Key, Probe};
use wants::{Answers, Tally, Wants};

/// Fetches running at once, whatever a page asks: a page naming a thousand new ids must
/// not spend the request budget in one go.
pub const IN_FLIGHT: usize = 8;

/// How `[enrich.coder]` looks up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupOptions {
    /// How long a page waits for its look-ups.
    pub timeout: Duration,
    /// How long an answer is kept.
    pub ttl: Duration,
    pub max_entries: NonZeroUsize,
    /// An estimate of what the cache may hold, in bytes.
    pub max_bytes: usize,
    /// The look-ups' share of the request budget (see [`share_of`]); `None`: no cap of
    /// their own (no budget).
    pub max_per_minute: Option<u32>,
}

/// The look-ups' share of a budget of `per_minute` requests: at most a quarter. A start
/// or a backfill meets hundreds of new ids at once. Made to wait for the budget, they
/// left the scans waiting (the demo's catch-up stalled for seconds) and each page waited
/// out its timeout for look-ups queued behind the budget. So a look-up never waits: it
/// takes a token of this share and one of the request budget above its live reserve, or
/// it is deferred (the event ships without it, counted `deferred`) and asked when a later
/// event names the id.
pub fn share_of(per_minute: u32) -> Option<u32> {
    (per_minute > 0).then(|| (per_minute / 4).max(super::budget::MIN_PER_MINUTE))
}

/// The look-ups of one process: its cache, and which kinds are off.
pub struct Lookups {
    client: Arc<CoderClient>,
    cache: LookupCache,
    timeout: Duration,
    /// By [`Kind`] (its index in [`Kind::ALL`]): off after a 403, or for workspaces when
    /// `authcheck` said no.
    off: [AtomicBool; 4],
    in_flight: Arc<Semaphore>,
    /// The look-ups' share of the request budget: a fetch that finds none now is deferred.
    share: Option<RequestBudget>,
    /// After a 429, no look-up is asked before this.
    paused_until: std::sync::Mutex<Option<Instant>>,
    /// When to ask `authcheck` about workspaces again: every `ttl`, or a minute after a
    /// check that failed. `None` before the first.
    permission_due: tokio::sync::Mutex<Option<Instant>>,
    ttl: Duration,
}

/// How one look-up of one event ended: the `result` label of `enrich_lookups_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupResult {
    /// The cache had it.
    Hit,
    /// Asked of Coder (or of a fetch already running) and answered in time.
    Miss,
    /// Coder says it is gone (404).
    Gone,
    /// Coder could not be asked or failed.
    Error,
    /// Not answered within `lookup_timeout`.
    Timeout,
    /// Not asked: the look-ups' share of the request budget was spent ([`share_of`]).
    Deferred,
}

impl LookupResult {
    pub const ALL: [LookupResult; 6] = [
        LookupResult::Hit,
        LookupResult::Miss,
        LookupResult::Gone,
        LookupResult::Error,
        LookupResult::Timeout,
        LookupResult::Deferred,
    ];

    pub fn label(self) -> &'static str {
        match self {
            LookupResult::Hit => "hit",
            LookupResult::Miss => "miss",
            LookupResult::Gone => "gone",
            LookupResult::Error => "error",
            LookupResult::Timeout => "timeout",
            LookupResult::Deferred => "deferred",
        }
    }
}

impl std::fmt::Debug for Lookups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookups")
            .field("timeout", &self.timeout)
            .field("cache", &self.cache.size())
            .finish_non_exhaustive()
    }
}

impl Lookups {
    /// Look-ups through `client`. Workspaces stay off until `authcheck` says they may be
    /// read (asked before the first delivery).
    pub fn new(client: Arc<CoderClient>, options: &LookupOptions) -> Arc<Self> {
        Arc::new(Lookups {
            client,
            cache: LookupCache::new(options.ttl, options.max_entries, options.max_bytes),
            timeout: options.timeout,
            off: [
                AtomicBool::new(true),
                AtomicBool::new(false),
                AtomicBool::new(false),
                AtomicBool::new(false),
            ],
            in_flight: Arc::new(Semaphore::new(IN_FLIGHT)),
            share: options.max_per_minute.map(RequestBudget::new),
            paused_until: std::sync::Mutex::new(None),
            permission_due: tokio::sync::Mutex::new(None),
            ttl: options.ttl,
        })
    }

    /// Ask Coder whether the token's user may read workspaces when it is time to (every
    /// `ttl`), waiting no longer than `deadline`.
    async fn check_permission_if_due(&self, deadline: Instant) {
        let mut due = self.permission_due.lock().await;
        if due.is_some_and(|at| Instant::now() < at) {
            return;
        }
        let first = due.is_none();
        let asked = tokio::time::timeout_at(deadline, self.client.may_read_workspaces()).await;
        let answer = asked.unwrap_or_else(|_| {
            Err(CoderError::TimedOut {
                path: "/api/v2/authcheck".into(),
            })
        });
        let next = if answer.is_ok() {
            self.ttl
        } else {
            Duration::from_secs(60)
        };
        *due = Some(Instant::now() + next);
        self.set_workspaces(answer, first);
    }

    /// Turn workspace look-ups on or off by Coder's answer, saying so when it changes. An
    /// error keeps them as they were (off before the first answer).
    fn set_workspaces(&self, answer: Result<bool, CoderError>, first: bool) {
        let was_on = !self.is_off(Kind::Workspace);
        let on = match answer {
            Ok(on) => on,
            Err(e) => {
                if first {
                    tracing::warn!(
                        "enrich.coder: could not ask Coder whether the token may read workspaces ({e}); \
                         workspace look-ups are off until it answers"
                    );
                }
                was_on
            }
        };
        if !on && (was_on || first) {
            tracing::warn!(
                "enrich.coder: the token's user may not read workspaces (POST /api/v2/authcheck; \
                 the Auditor role reads templates, users and the audit log, not workspaces), so \
                 workspace look-ups are off: events name a workspace's template only when the \
                 user may read workspaces (Owner, Template Admin, or a custom role)"
            );
        } else if on && !was_on && !first {
            tracing::info!(
                "enrich.coder: the token's user may read workspaces now; workspace look-ups are on"
            );
        }
        self.off[Kind::Workspace.index()].store(!on, Ordering::Relaxed);
        crate::ops::metrics::lookup_kind_on(Kind::Workspace.label(), on);
    }

    fn is_off(&self, kind: Kind) -> bool {
        self.off[kind.index()].load(Ordering::Relaxed)
    }

    /// Whether any kind of look-up is on.
    pub fn any_on(&self) -> bool {
        Kind::ALL.iter().any(|k| !self.is_off(*k))
    }

    /// Entries held and their estimated bytes.
    pub fn cache_size(&self) -> (usize, usize) {
        self.cache.size()
    }

    /// Look up what `events` name and attach it to each, waiting at most the timeout.
    pub async fn attach(self: &Arc<Self>, events: &mut [Event]) {
        if events.is_empty() {
            return;
        }
        let started = Instant::now();
        let deadline = started + self.timeout;
        self.check_permission_if_due(deadline).await;
        if !self.any_on() {
            return;
        }
        let wants: Vec<Wants> = events.iter().map(Wants::of).collect();
        let keys: BTreeSet<(Kind, &str)> = wants.iter().flat_map(|w| w.keys()).collect();
        let keys = keys.into_iter().map(|(kind, id)| (kind, id.to_owned()));
        let mut answers = self.resolve(keys, deadline).await;
        // The owners the workspaces named, when the rows did not.
        let owners: BTreeSet<&str> = wants
            .iter()
            .filter(|w| w.owner.is_none())
            .filter_map(|w| answers.owner_of(w.workspace))
            .filter(|id| answers.get(Kind::User, id).is_none())
            .collect();
        let owners: Vec<Key> = owners
            .into_iter()
            .map(|id| (Kind::User, id.to_owned()))
            .collect();
        answers.extend(self.resolve(owners, deadline).await);
        tracing::debug!(waited = ?started.elapsed(), events = events.len(), "enrich.coder: looked up");
        // Events that want the same ids share one context.
        let mut made: HashMap<Wants, Option<Arc<CoderContext>>, foldhash::fast::RandomState> =
            HashMap::default();
        let mut tally = Tally::default();
        let contexts: Vec<Option<Arc<CoderContext>>> = wants
            .iter()
            .map(|want| {
                for (kind, how) in want.results(&answers) {
                    tally.add(kind, how);
                }
                let made = made.entry(*want).or_insert_with(|| {
                    let context = want.context(&answers);
                    (!context.is_empty()).then(|| Arc::new(context))
                });
                made.clone()
            })
            .collect();
        for (kind, how, n) in tally.counts() {
            crate::ops::metrics::enrich_lookups(kind.label(), how.label(), n);
        }
        for (event, context) in events.iter_mut().zip(contexts) {
            if context.is_none() {
                continue;
            }
            match &mut event.entry {
                Entry::Audit(a) => a.entry_mut().context = context,
                Entry::Connection(c) => c.log.context = context,
            }
        }
    }

    /// Each key's outcome (and how it came), waiting for the fetches until `deadline`.
    /// Keys of kinds that are off are left out. Each key counts once per call.
    async fn resolve(
        self: &Arc<Self>,
        keys: impl IntoIterator<Item = Key>,
        deadline: Instant,
    ) -> Answers {
        let mut answers = Answers::default();
        let mut waiting = Vec::new();
        for key in keys {
            if self.is_off(key.0) {
                continue;
            }
            match self.cache.probe(&key) {
                Probe::Held(outcome) => {
                    let how = match outcome {
                        Outcome::Found(_) => LookupResult::Hit,
                        Outcome::Gone => LookupResult::Gone,
                        Outcome::Failed => LookupResult::Error,
                    };
                    answers.insert(key, (outcome, how));
                }
                Probe::Waiting(rx) => waiting.push((key, rx)),
                Probe::Fetch(_) if !self.may_ask_now() => {
                    // Nobody else waits on a fetch that was never started.
                    self.cache.abandon(&key);
                    answers.insert(key, (Outcome::Failed, LookupResult::Deferred));
                }
                Probe::Fetch(rx) => {
                    self.spawn_fetch(key.clone(), deadline);
                    waiting.push((key, rx));
                }
            }
        }
        for (key, mut rx) in waiting {
            let got = tokio::time::timeout_at(deadline, rx.wait_for(Option::is_some)).await;
            let answer = match got {
                Ok(Ok(v)) => match v.clone() {
                    Some(Outcome::Found(f)) => (Outcome::Found(f), LookupResult::Miss),
                    Some(Outcome::Gone) => (Outcome::Gone, LookupResult::Gone),
                    _ => (Outcome::Failed, LookupResult::Error),
                },
                Ok(Err(_)) => (Outcome::Failed, LookupResult::Error),
                Err(_) => (Outcome::Failed, LookupResult::Timeout),
            };
            answers.insert(key, answer);
        }
        answers
    }

    /// Whether a look-up may be asked now: a token of the look-ups' share and, then, one of
    /// the request budget above its live reserve, both without waiting. Under a catch-up or
    /// backfill that spends the budget most look-ups are deferred: they never slow it.
    fn may_ask_now(&self) -> bool {
        self.share
            .as_ref()
            .is_none_or(|s| s.try_acquire_now(super::budget::Purpose::Live))
            && self
                .client
                .budget()
                .is_none_or(|b| b.try_acquire_now(super::budget::Purpose::Lookup))
    }

    /// Fetch `key` in a task of its own, so it outlives a page that stopped waiting. A
    /// fetch that cannot start by `deadline` (all [`IN_FLIGHT`] busy) is abandoned: the
    /// next event that names the id asks again.
    fn spawn_fetch(self: &Arc<Self>, key: Key, deadline: Instant) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let permit = tokio::time::timeout_at(deadline, this.in_flight.clone().acquire_owned())
                .await
                .ok()
                .and_then(Result::ok);
            let Some(_permit) = permit else {
                this.cache.abandon(&key);
                return;
            };
            let outcome = this.fetch(key.0, &key.1).await;
            this.cache.settle(key, outcome);
            let (entries, bytes) = this.cache.size();
            crate::ops::metrics::lookup_cache(entries, bytes);
        });
    }

    /// One request, and what its failure means for the other look-ups.
    async fn fetch(&self, kind: Kind, id: &str) -> Outcome {
        let paused = *self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
        if paused.is_some_and(|until| Instant::now() < until) || self.is_off(kind) {
            return Outcome::Failed;
        }
        match self.client.look_up(kind, id).await {
            Ok(Answer::Found(found)) => Outcome::Found(found),
            Ok(Answer::Gone) => Outcome::Gone,
            Err(CoderError::Forbidden { message, .. }) => {
                if !self.off[kind.index()].swap(true, Ordering::Relaxed) {
                    crate::ops::metrics::lookup_kind_on(kind.label(), false);
                    tracing::warn!(
                        kind = kind.label(),
                        "enrich.coder: Coder refused a {} look-up (403: {message}); {} look-ups are off until restart",
                        kind.label(),
                        kind.label()
                    );
                }
                Outcome::Failed
            }
            Err(CoderError::RateLimited { retry_after, .. }) => {
                let wait = retry_after
                    .unwrap_or(Duration::from_secs(60))
                    .min(Duration::from_secs(600));
                *self.paused_until.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(Instant::now() + wait);
                tracing::warn!(
                    retry_in = ?wait,
                    "enrich.coder: Coder rate-limited a look-up (429); look-ups wait, events ship without them meanwhile"
                );
                Outcome::Failed
            }
            Err(e) => {
                tracing::debug!(kind = kind.label(), "enrich.coder: look-up failed: {e}");
                Outcome::Failed
            }
        }
    }
}
