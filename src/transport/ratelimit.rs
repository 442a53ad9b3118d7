//! Per-key, per-tool rate limits: a token bucket for each (caller, tool)
//! pair. A refused call learns how long to wait (`Retry-After`).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Calls per second and how many may come at once.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: f64,
}

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

pub struct RateLimiter {
    limit: Option<RateLimit>,
    buckets: Mutex<HashMap<(String, String), Bucket>>,
}

impl RateLimiter {
    /// `None` (or a zero rate) disables limiting.
    pub fn new(limit: Option<RateLimit>) -> Self {
        RateLimiter {
            limit: limit.filter(|l| l.per_second > 0.0 && l.burst >= 1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `caller` calling `tool`; when none is left, says
    /// how long until one is.
    pub fn check(&self, caller: &str, tool: &str) -> Result<(), Duration> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > 100_000 {
            // Forget idle callers; a full bucket is the same as no bucket.
            let full_after = Duration::from_secs_f64(limit.burst / limit.per_second);
            buckets.retain(|_, b| now.duration_since(b.refilled) < full_after);
        }
        let bucket = buckets
            .entry((caller.to_owned(), tool.to_owned()))
            .or_insert(Bucket {
                tokens: limit.burst,
                refilled: now,
            });
        let elapsed = now.duration_since(bucket.refilled).as_secs_f64();
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
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_refuses_per_caller_and_tool() {
        let limiter = RateLimiter::new(Some(RateLimit {
            per_second: 1.0,
            burst: 3.0,
        }));
        for _ in 0..3 {
            assert!(limiter.check("key:a", "create_task").is_ok());
        }
        let wait = limiter
            .check("key:a", "create_task")
            .expect_err("over the limit");
        assert!(
            wait > Duration::from_millis(500) && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(
            limiter.check("key:a", "list_tasks").is_ok(),
            "other tools have their own bucket"
        );
        assert!(
            limiter.check("key:b", "create_task").is_ok(),
            "other callers have their own bucket"
        );
        assert!(RateLimiter::new(None).check("x", "y").is_ok());
    }
}
