//! Client-side pacing: one token bucket per endpoint, mirroring the server's.
//!
//! Bulk work should run at the server's limit, not bounce off it. Each call reserves the next
//! free slot of its endpoint's bucket (tokens may go negative: the deficit is the queue), so
//! waiters are served in order without a thundering herd. Rates start from configuration and
//! follow `X-RateLimit-Replenish-Rate` / `X-RateLimit-Burst-Capacity` when the server sends
//! them, scaled by `headroom` so clock jitter does not tip us over. A 429 empties the bucket:
//! the server told us it is empty.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct PacingConfig {
    pub enabled: bool,
    /// Rate for endpoints with no configured or learned limit.
    pub default_rps: f64,
    pub default_burst: u32,
    /// Configured limits by endpoint name (`POST /cas/v1/azure_account`).
    pub per_endpoint: HashMap<String, (f64, u32)>,
    /// Adopt the server's advertised limits.
    pub follow_server: bool,
    /// Fraction of the server's rate to use (≤ 1).
    pub headroom: f64,
}

impl Default for PacingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            default_rps: 10.0,
            default_burst: 10,
            per_endpoint: HashMap::new(),
            follow_server: true,
            headroom: 0.98,
        }
    }
}

impl PacingConfig {
    /// The same rate everywhere (e.g. the emulator's `--rate-limit`).
    pub fn uniform(rps: f64, burst: u32) -> Self {
        Self {
            default_rps: rps,
            default_burst: burst,
            ..Self::default()
        }
    }

    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }
}

struct Bucket {
    rps: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    learned: bool,
}

impl Bucket {
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rps).min(self.burst);
        self.last = now;
    }
}

pub struct Pacer {
    config: PacingConfig,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Pacer {
    pub fn new(config: PacingConfig) -> Self {
        Self {
            config,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn bucket<'a>(&self, map: &'a mut HashMap<String, Bucket>, endpoint: &str) -> &'a mut Bucket {
        // Look up before inserting: `entry` would allocate the key on every reservation.
        if !map.contains_key(endpoint) {
            map.insert(endpoint.to_owned(), self.new_bucket(endpoint));
        }
        map.get_mut(endpoint).expect("inserted above")
    }

    fn new_bucket(&self, endpoint: &str) -> Bucket {
        let (rps, burst) = self
            .config
            .per_endpoint
            .get(endpoint)
            .copied()
            .unwrap_or((self.config.default_rps, self.config.default_burst));
        let burst = f64::from(burst.max(1));
        Bucket {
            rps: rps.max(0.001),
            burst,
            tokens: burst,
            last: Instant::now(),
            learned: false,
        }
    }

    /// Reserves a slot and returns how long to wait for it (zero when a token is there).
    pub fn reserve(&self, endpoint: &str) -> Duration {
        if !self.config.enabled {
            return Duration::ZERO;
        }
        let now = Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = self.bucket(&mut map, endpoint);
        b.refill(now);
        b.tokens -= 1.0;
        if b.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-b.tokens / b.rps)
        }
    }

    /// Waits for a slot.
    pub async fn acquire(&self, endpoint: &str) -> Duration {
        let wait = self.reserve(endpoint);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        wait
    }

    /// Learns the server's limits from its headers. Returns the new (rps, burst) on a change.
    pub fn observe(
        &self,
        endpoint: &str,
        replenish_rate: Option<f64>,
        burst: Option<u32>,
    ) -> Option<(f64, u32)> {
        if !self.config.enabled || !self.config.follow_server {
            return None;
        }
        let rate = replenish_rate.filter(|r| *r > 0.0 && r.is_finite())?;
        let rps = rate * self.config.headroom.clamp(0.1, 1.0);
        let burst = f64::from(burst.unwrap_or(1).max(1));
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = self.bucket(&mut map, endpoint);
        if b.learned && (b.rps - rps).abs() < 1e-9 && (b.burst - burst).abs() < 1e-9 {
            return None;
        }
        b.refill(Instant::now());
        b.rps = rps;
        b.burst = burst;
        b.tokens = b.tokens.min(burst);
        b.learned = true;
        Some((rps, burst as u32))
    }

    /// The server said 429: its bucket is empty, so ours is too.
    pub fn drain(&self, endpoint: &str) {
        if !self.config.enabled {
            return;
        }
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = self.bucket(&mut map, endpoint);
        b.refill(Instant::now());
        b.tokens = b.tokens.min(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_queue_at_the_rate_after_the_burst() {
        let p = Pacer::new(PacingConfig {
            headroom: 1.0,
            ..PacingConfig::uniform(10.0, 3)
        });
        let waits: Vec<_> = (0..6).map(|_| p.reserve("GET /x")).collect();
        assert_eq!(&waits[..3], &[Duration::ZERO; 3]);
        // Then 100 ms apart: ~0.1, ~0.2, ~0.3 s.
        for (i, w) in waits[3..].iter().enumerate() {
            let expect = 0.1 * (i + 1) as f64;
            assert!((w.as_secs_f64() - expect).abs() < 0.01, "{i}: {w:?}");
        }
        // Other endpoints have their own bucket.
        assert_eq!(p.reserve("GET /y"), Duration::ZERO);
    }

    #[test]
    fn follows_the_server_and_drains_on_429() {
        let p = Pacer::new(PacingConfig::uniform(1000.0, 1000));
        assert_eq!(p.observe("GET /x", Some(10.0), Some(2)), Some((9.8, 2)));
        assert_eq!(p.observe("GET /x", Some(10.0), Some(2)), None);
        p.drain("GET /x");
        assert!(p.reserve("GET /x") > Duration::from_millis(50));
        assert_eq!(
            Pacer::new(PacingConfig::disabled()).reserve("GET /x"),
            Duration::ZERO
        );
    }
}
