//! When and how long to wait before trying a call again.
//!
//! Outcomes are classified first (smithy-rs style): throttling (425, 429), transient server
//! errors (500, 502, 503, 504) and transport failures are retryable; everything else is not.
//! Delays use full jitter — `rand(0..1) × min(base × 2^n, max)` — so a crowd of callers that
//! failed together does not come back together. A `Retry-After` from the server (seconds or an
//! HTTP date) wins, clamped to `max_retry_after`. Every call has its own attempt budget and
//! deadline; nothing is shared between calls, so one unlucky call never spends the retries of
//! the others.

use std::time::{Duration, SystemTime};

use rand::Rng;

#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts per call, the first included. A replay after re-login does not count.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// The most a server's `Retry-After` may make us wait at once.
    pub max_retry_after: Duration,
    /// No attempt starts after this much time since the call began.
    pub call_deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(60),
            call_deadline: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The full-jitter delay before retry number `retry` (1 for the first retry).
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(20));
        let cap = exp.min(self.max_delay);
        cap.mul_f64(rand::rng().random::<f64>())
    }

    /// The delay for a retry, honouring a server hint.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(hint) => hint.min(self.max_retry_after),
            None => self.backoff(retry),
        }
    }
}

/// Status codes worth another attempt.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 425 | 429 | 500 | 502 | 503 | 504)
}

/// Status codes that prove the request was not processed (safe to re-send even a create):
/// 425 (the server refused to process a request that might be replayed), 429 (refused by the
/// limiter), and 503 (RFC 9110 §15.6.4: the server is *unable to handle* the request, with a
/// `Retry-After` saying when to come back). A 500, 502 or 504 may follow work the server did,
/// so a create answered so is looked up before it is sent again. Both platforms use this one
/// list (`docs/architecture.md`, "A call through the client", item 5).
pub fn proves_not_processed(status: u16) -> bool {
    matches!(status, 425 | 429 | 503)
}

/// Parses `Retry-After`: delta-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_jitter_stays_under_the_capped_exponential() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            ..RetryPolicy::default()
        };
        for retry in 1..30 {
            let cap = Duration::from_millis(100 * (1u64 << (retry - 1).min(20))).min(p.max_delay);
            for _ in 0..50 {
                assert!(p.backoff(retry) <= cap);
            }
        }
        // Jitter really varies.
        let samples: std::collections::HashSet<_> = (0..20).map(|_| p.backoff(5)).collect();
        assert!(samples.len() > 10);
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(7)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        let p = RetryPolicy {
            max_retry_after: Duration::from_secs(5),
            ..RetryPolicy::default()
        };
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(100))),
            Duration::from_secs(5)
        );
    }
}
