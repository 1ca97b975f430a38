//! The process's request budget: `coder.max_requests_per_minute` requests to Coder in any
//! 60 seconds, whoever makes them.
//!
//! Coder limits API requests to 512 a minute by default (`CODER_API_RATE_LIMIT`), keyed by
//! user and normalized path and counted per replica (go-chi/httprate's sliding window;
//! `coderd/httpmw/ratelimit.go`; `coder-api/NOTES.md` §4). Every
//! reader of `/api/v2/audit` under the token's user shares one bucket: the UI's audit page,
//! the CLI, another shipper, and each of this process's sinks. Spending it leaves those
//! people 429s. So every request waits here first, for one budget below Coder's limit on
//! any single path.
//!
//! The budget is a token bucket that holds a tenth of a minute's requests and refills at
//! the rest of the minute's rate: `burst + 60 s × rate` is the budget, so no 60 seconds
//! ever hold more, and the requests come evenly instead of a minute's worth at once
//! followed by a minute of silence (which a log of the last minute's requests gave: a live
//! stream then waited up to a minute).
//!
//! Live tailing comes first: background reading (catch-up, backfill, the late sweep,
//! probes of empty history) takes a token only while the bucket holds more than half its
//! burst, so live scans, session look-ups and control requests always find some, and a
//! token that comes back while both wait goes to the live one. But a background request
//! that has waited [`PATIENCE`] competes as a live one: when the live streams alone ask
//! for more than the budget, a stream that is behind still moves, at a share. A 429's
//! `Retry-After` still wins: the client waits it out on top.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The smallest budget: a stream needs a few requests a minute to move at all.
pub const MIN_PER_MINUTE: u32 = 10;

/// How long a background request waits behind live ones before it competes with them.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// What a request is for: the `purpose` label of `coder_requests_total`, and its priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A scan of the live window: new events.
    Live,
    /// A closed window of a stream that is behind (after an outage, `start_at`).
    CatchUp,
    /// A window of `backfill`'s range.
    Backfill,
    /// Which open connection sessions have ended.
    Sessions,
    /// Connection-log rows that landed below the live scan.
    Late,
    /// `limit=1` probes for where history begins or an empty stretch ends.
    Probe,
    /// Version, entitlements, permissions, token expiry.
    Control,
    /// `[enrich.coder]`: what a workspace, template, organization or user id names. A
    /// look-up never waits for a token: it takes one now if the bucket holds more than the
    /// live reserve (as background reading does), or it is deferred (`super::lookup`).
    Lookup,
}

impl Purpose {
    pub fn label(self) -> &'static str {
        match self {
            Purpose::Live => "live",
            Purpose::CatchUp => "catch_up",
            Purpose::Backfill => "backfill",
            Purpose::Sessions => "sessions",
            Purpose::Late => "late",
            Purpose::Probe => "probe",
            Purpose::Control => "control",
            Purpose::Lookup => "lookup",
        }
    }

    /// Whether the request may use the reserve kept for live tailing.
    fn is_live(self) -> bool {
        matches!(self, Purpose::Live | Purpose::Sessions | Purpose::Control)
    }
}

/// A token bucket of `burst` tokens refilled at `per_second`, half the burst kept for live
/// tailing.
#[derive(Debug)]
pub struct RequestBudget {
    burst: f64,
    per_second: f64,
    /// What background requests leave in the bucket.
    reserve: f64,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RequestBudget {
    /// `per_minute` (at least [`MIN_PER_MINUTE`]) requests in any 60 s.
    pub fn new(per_minute: u32) -> Self {
        let per_minute = f64::from(per_minute.max(MIN_PER_MINUTE));
        let burst = (per_minute / 10.0).floor();
        RequestBudget {
            burst,
            per_second: (per_minute - burst) / 60.0,
            reserve: (burst / 2.0).floor(),
            bucket: Mutex::new(Bucket {
                tokens: burst,
                at: Instant::now(),
            }),
        }
    }

    /// Wait until a request for `purpose` fits the budget, and count it as sent. Returns
    /// how long it waited.
    pub async fn acquire(&self, purpose: Purpose) -> Duration {
        let start = Instant::now();
        let patient_until = start + PATIENCE;
        loop {
            let now = Instant::now();
            let live = purpose.is_live() || now >= patient_until;
            match self.try_take(live, now) {
                Ok(()) => return start.elapsed(),
                Err(at) if live => tokio::time::sleep_until(at).await,
                Err(at) => tokio::time::sleep_until(at.min(patient_until)).await,
            }
        }
    }

    /// Take a token for `purpose` if there is one now, without waiting.
    pub fn try_acquire_now(&self, purpose: Purpose) -> bool {
        self.try_take(purpose.is_live(), Instant::now()).is_ok()
    }

    /// Take a token now, or say when there will be one for this priority.
    fn try_take(&self, live: bool, now: Instant) -> Result<(), Instant> {
        let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let refill = now.saturating_duration_since(bucket.at).as_secs_f64() * self.per_second;
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.at = now;
        let needed = if live { 1.0 } else { 1.0 + self.reserve };
        if bucket.tokens >= needed {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = (needed - bucket.tokens) / self.per_second;
        // At least a millisecond: the timer's resolution.
        Err(now + Duration::from_secs_f64(wait).max(Duration::from_millis(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn a_look_up_never_waits_and_leaves_the_live_reserve() {
        // 60 a minute: a burst of 6, 3 of them kept for live tailing.
        let budget = RequestBudget::new(60);
        let taken = (0..10)
            .filter(|_| budget.try_acquire_now(Purpose::Lookup))
            .count();
        assert_eq!(taken, 3, "above the reserve only");
        assert!(
            budget.try_acquire_now(Purpose::Live),
            "the reserve is there"
        );
        assert!(budget.acquire(Purpose::Live).await.is_zero());
    }

    #[tokio::test(start_paused = true)]
    async fn no_minute_holds_more_than_the_budget_and_requests_come_evenly() {
        let budget = RequestBudget::new(60);
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..200 {
            budget.acquire(Purpose::Live).await;
            at.push(start.elapsed());
        }
        for (i, t) in at.iter().enumerate() {
            let in_window = at[i..].iter().filter(|u| **u < *t + MINUTE).count();
            assert!(
                in_window <= 60,
                "{in_window} requests within a minute of {t:?}"
            );
        }
        // A burst of a tenth of the budget, then one every 1/0.9 s (54 a minute).
        assert!(at[..6].iter().all(|d| d.is_zero()), "{:?}", &at[..8]);
        for pair in at[6..].windows(2) {
            let gap = (pair[1] - pair[0]).as_secs_f64();
            assert!((1.0 / 0.9 - gap).abs() < 0.01, "gap {gap}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn background_reading_leaves_the_reserve_to_live_tailing() {
        let budget = RequestBudget::new(120); // a burst of 12, 6 kept for live tailing
        for _ in 0..6 {
            assert!(budget.acquire(Purpose::Backfill).await.is_zero());
        }
        assert!(budget.try_take(false, Instant::now()).is_err());
        for _ in 0..6 {
            assert!(budget.acquire(Purpose::Live).await.is_zero());
        }
        // Both wait on an empty bucket: the live request gets the next token, and the
        // background one waits until the reserve is back as well.
        let live = budget.acquire(Purpose::Sessions);
        let background = budget.acquire(Purpose::Late);
        let (live, background) = tokio::join!(live, background);
        assert!((live.as_secs_f64() - 1.0 / 1.8).abs() < 0.01, "{live:?}");
        assert!(
            (background.as_secs_f64() - 8.0 / 1.8).abs() < 0.01,
            "the live one's token, then seven: one to take and six to leave: {background:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_behind_still_moves_when_live_ones_ask_for_more_than_the_budget() {
        let budget = std::sync::Arc::new(RequestBudget::new(60)); // 0.9 a second
        let stop = Instant::now() + Duration::from_secs(120);
        // Four live streams asking twice a second: far more than the budget.
        let live: Vec<_> = (0..4)
            .map(|_| {
                let budget = budget.clone();
                tokio::spawn(async move {
                    while Instant::now() < stop {
                        budget.acquire(Purpose::Live).await;
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                })
            })
            .collect();
        let mut caught_up = 0;
        while Instant::now() < stop {
            let waited = budget.acquire(Purpose::CatchUp).await;
            assert!(waited < PATIENCE + Duration::from_secs(10), "{waited:?}");
            caught_up += 1;
        }
        for task in live {
            task.await.unwrap();
        }
        // Live first, but not all of it: at least one in ten.
        assert!(
            caught_up >= 108 / 10,
            "{caught_up} catch-up requests in two minutes"
        );
    }

    #[test]
    fn a_budget_below_the_minimum_is_the_minimum() {
        let budget = RequestBudget::new(1);
        assert_eq!(budget.burst, 1.0);
        assert_eq!(budget.reserve, 0.0);
        assert!((budget.per_second - 9.0 / 60.0).abs() < 1e-9);
        let now = Instant::now();
        assert!(budget.try_take(false, now).is_ok());
        assert!(budget.try_take(true, now).is_err());
    }
}
