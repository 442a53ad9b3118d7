//! Per-key, per-tool rate limits: a token bucket for each (caller, tool)
//! pair. A refused call learns how long to wait (`Retry-After`).
//!
//! Memory stays bounded whatever clients send: a bucket is keyed by a tool
//! the server offers (every unknown name shares one [`ToolKey::Unknown`]
//! bucket per caller, and a name sent is never stored), a bucket that has
//! refilled is the same as none and is swept, and [`MAX_BUCKETS`] caps the
//! table under a flood by dropping the buckets touched longest ago.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Most buckets kept at once.
pub const MAX_BUCKETS: usize = 10_000;

/// Calls per second and how many may come at once.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: f64,
}

/// Which bucket of a caller a call takes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToolKey {
    /// A tool the server offers, by its registered name.
    Known(&'static str),
    /// Any name the server does not offer.
    Unknown,
}

impl ToolKey {
    /// A bounded label for metrics and messages.
    pub fn label(self) -> &'static str {
        match self {
            ToolKey::Known(name) => name,
            ToolKey::Unknown => "unknown",
        }
    }
}

/// Where the limiter reads the time: the wall clock in the server, a clock
/// the test moves in tests.
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
}

/// The monotonic system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

struct Table {
    buckets: HashMap<(String, ToolKey), Bucket>,
    swept: Instant,
}

pub struct RateLimiter {
    limit: Option<RateLimit>,
    clock: Box<dyn Clock>,
    max_buckets: usize,
    table: Mutex<Table>,
}

impl RateLimiter {
    /// `None` (or a zero rate) disables limiting.
    pub fn new(limit: Option<RateLimit>) -> Self {
        Self::with_clock(limit, Box::new(SystemClock), MAX_BUCKETS)
    }

    /// A limiter that reads the time from `clock` and keeps at most
    /// `max_buckets` buckets.
    pub fn with_clock(limit: Option<RateLimit>, clock: Box<dyn Clock>, max_buckets: usize) -> Self {
        let swept = clock.now();
        RateLimiter {
            limit: limit.filter(|l| l.per_second > 0.0 && l.burst >= 1.0),
            clock,
            max_buckets: max_buckets.max(1),
            table: Mutex::new(Table {
                buckets: HashMap::new(),
                swept,
            }),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Buckets held now (the `vk_ratelimit_buckets` gauge).
    pub fn buckets(&self) -> usize {
        self.table().buckets.len()
    }

    /// Takes one token for `caller` calling `tool`; when none is left, says
    /// how long until one is.
    pub fn check(&self, caller: &str, tool: ToolKey) -> Result<(), Duration> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        let now = self.clock.now();
        // A bucket untouched this long is full again: the same as no bucket.
        let full_after = Duration::from_secs_f64(limit.burst / limit.per_second);
        let mut table = self.table();
        if now.saturating_duration_since(table.swept) >= full_after {
            table
                .buckets
                .retain(|_, b| now.saturating_duration_since(b.refilled) < full_after);
            table.swept = now;
        }
        let key = (caller.to_owned(), tool);
        if !table.buckets.contains_key(&key) {
            while table.buckets.len() >= self.max_buckets {
                // A flood of callers: forget the bucket touched longest ago.
                let Some(oldest) = table
                    .buckets
                    .iter()
                    .min_by_key(|(_, b)| b.refilled)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                table.buckets.remove(&oldest);
            }
        }
        let bucket = table.buckets.entry(key).or_insert(Bucket {
            tokens: limit.burst,
            refilled: now,
        });
        let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * limit.per_second).min(limit.burst);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / limit.per_second,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// A clock that moves only when the test says so.
    #[derive(Clone)]
    struct TestClock(Arc<Mutex<Instant>>);

    impl TestClock {
        fn new() -> Self {
            TestClock(Arc::new(Mutex::new(Instant::now())))
        }
        fn advance(&self, by: Duration) {
            *self.0.lock().expect("clock") += by;
        }
    }

    impl Clock for TestClock {
        fn now(&self) -> Instant {
            *self.0.lock().expect("clock")
        }
    }

    fn limiter(per_second: f64, burst: f64, max: usize) -> (RateLimiter, TestClock) {
        let clock = TestClock::new();
        let limiter = RateLimiter::with_clock(
            Some(RateLimit { per_second, burst }),
            Box::new(clock.clone()),
            max,
        );
        (limiter, clock)
    }

    const CREATE: ToolKey = ToolKey::Known("create_task");

    #[test]
    fn bucket_allows_a_burst_then_refuses_per_caller_and_tool() {
        let (limiter, clock) = limiter(1.0, 3.0, MAX_BUCKETS);
        for _ in 0..3 {
            assert!(limiter.check("key:a", CREATE).is_ok());
        }
        let wait = limiter.check("key:a", CREATE).expect_err("over the limit");
        assert_eq!(wait, Duration::from_secs(1));
        clock.advance(Duration::from_millis(500));
        let wait = limiter.check("key:a", CREATE).expect_err("half a token");
        assert_eq!(wait, Duration::from_millis(500));
        clock.advance(Duration::from_millis(500));
        assert!(limiter.check("key:a", CREATE).is_ok(), "refilled one token");
        assert!(
            limiter.check("key:a", ToolKey::Known("list_tasks")).is_ok(),
            "other tools have their own bucket"
        );
        assert!(
            limiter.check("key:b", CREATE).is_ok(),
            "other callers have their own bucket"
        );
        assert!(RateLimiter::new(None).check("x", ToolKey::Unknown).is_ok());
    }

    #[test]
    fn refilled_buckets_expire() {
        let (limiter, clock) = limiter(10.0, 20.0, MAX_BUCKETS);
        for caller in 0..50 {
            limiter
                .check(&format!("key:{caller}"), CREATE)
                .expect("first call");
        }
        assert_eq!(limiter.buckets(), 50);
        // 2 s refill every bucket (20 tokens at 10/s): the next call sweeps.
        clock.advance(Duration::from_secs(2));
        limiter.check("key:new", CREATE).expect("call");
        assert_eq!(limiter.buckets(), 1, "only the new caller's bucket is left");
    }

    #[test]
    fn a_flood_of_callers_stays_under_the_cap_and_keeps_busy_buckets() {
        let (limiter, clock) = limiter(1.0, 2.0, 100);
        limiter.check("key:busy", CREATE).expect("1");
        limiter.check("key:busy", CREATE).expect("2");
        for caller in 0..1_000 {
            clock.advance(Duration::from_micros(10));
            limiter
                .check(&format!("key:flood{caller}"), CREATE)
                .expect("a new caller has a full bucket");
            limiter.check("key:busy", CREATE).ok();
            assert!(limiter.buckets() <= 100, "{}", limiter.buckets());
        }
        assert!(
            limiter.check("key:busy", CREATE).is_err(),
            "the busy caller's empty bucket was not dropped by the flood"
        );
    }

    #[test]
    fn unknown_names_share_one_bucket() {
        let (limiter, _clock) = limiter(1.0, 3.0, MAX_BUCKETS);
        for _ in 0..3 {
            limiter.check("key:a", ToolKey::Unknown).expect("burst");
        }
        assert!(limiter.check("key:a", ToolKey::Unknown).is_err());
        assert_eq!(limiter.buckets(), 1);
        assert_eq!(ToolKey::Unknown.label(), "unknown");
    }
}
