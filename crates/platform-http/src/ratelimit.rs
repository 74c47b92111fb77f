//! Client-side pacing: one token bucket per endpoint, mirroring the server's, with two queues.
//!
//! Bulk work should run at the server's limit, not bounce off it. A call takes a token of its
//! endpoint's bucket when one is there; otherwise it waits in one of two queues and is granted
//! a token as the bucket refills:
//!
//! * [`Priority::Continuing`] — retries, and later calls of a chain already under way (see
//!   [`crate::chain`]). Finishing started work first keeps a retried onboarding from drifting
//!   to the end of the run, where a second fault becomes the tail of the batch.
//! * [`Priority::Fresh`] — first attempts of new work. While both queues wait, at least one
//!   grant in [`FRESH_EVERY`] goes to a fresh call, so new work is never starved.
//!
//! Tokens are granted only when the bucket holds one, so the client never sends faster than the
//! rate it knows. That rate is the server's own: configuration first, then
//! `X-RateLimit-Replenish-Rate` / `X-RateLimit-Burst-Capacity` as the server advertises them
//! (no fraction held back). The bucket holds one token less than the server's, which absorbs
//! network jitter without lowering the rate; `X-RateLimit-Remaining` lowers our count when the
//! server has fewer tokens than we thought, and a 429 empties the bucket: the server told us it
//! is empty. One timer task per endpoint runs only while calls wait.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

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
    /// Fraction of the server's advertised rate to use (≤ 1; 1 by default: the server's
    /// headers and 429s correct the pace, so nothing needs to be held back).
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
            headroom: 1.0,
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

/// Which queue a call waits in when its endpoint has no token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    /// A retry, or a later call of a chain already under way.
    Continuing,
    /// The first attempt of new work.
    Fresh,
}

/// While both queues wait, one grant in this many goes to the fresh queue.
pub const FRESH_EVERY: u32 = 4;

/// The bucket's capacity for a server burst: one token of slack for network jitter.
fn capacity(burst: u32) -> f64 {
    f64::from(burst.saturating_sub(1).max(1))
}

struct Endpoint {
    rps: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
    learned: bool,
    continuing: VecDeque<oneshot::Sender<()>>,
    fresh: VecDeque<oneshot::Sender<()>>,
    /// Grants to continuing calls in a row while a fresh call waited.
    streak: u32,
    /// A timer task grants tokens to the queues until they are empty.
    timer_armed: bool,
}

impl Endpoint {
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rps).min(self.capacity);
        self.last = now;
    }

    fn waiting(&self) -> usize {
        self.continuing.len() + self.fresh.len()
    }

    /// Grants what the bucket holds to the queues, by priority. Returns when the next token
    /// is due if calls still wait.
    fn pump(&mut self, now: Instant) -> Option<Instant> {
        self.refill(now);
        loop {
            if self.waiting() == 0 {
                self.streak = 0;
                return None;
            }
            if self.tokens < 1.0 {
                let due = (1.0 - self.tokens) / self.rps;
                return Some(now + Duration::from_secs_f64(due));
            }
            let fresh_turn = self.continuing.is_empty()
                || (!self.fresh.is_empty() && self.streak + 1 >= FRESH_EVERY);
            let waiter = if fresh_turn {
                self.streak = 0;
                self.fresh.pop_front()
            } else {
                if !self.fresh.is_empty() {
                    self.streak += 1;
                }
                self.continuing.pop_front()
            };
            // A waiter that gave up (its call was dropped) takes no token.
            if let Some(w) = waiter
                && w.send(()).is_ok()
            {
                self.tokens -= 1.0;
            }
        }
    }
}

type Shared = Arc<Mutex<Endpoint>>;

pub struct Pacer {
    config: PacingConfig,
    endpoints: Mutex<HashMap<String, Shared>>,
}

fn lock(e: &Shared) -> std::sync::MutexGuard<'_, Endpoint> {
    e.lock().unwrap_or_else(|p| p.into_inner())
}

impl Pacer {
    pub fn new(config: PacingConfig) -> Self {
        Self {
            config,
            endpoints: Mutex::new(HashMap::new()),
        }
    }

    fn endpoint(&self, name: &str) -> Shared {
        let mut map = self.endpoints.lock().unwrap_or_else(|p| p.into_inner());
        // Look up before inserting: `entry` would allocate the key on every call.
        if let Some(e) = map.get(name) {
            return e.clone();
        }
        let (rps, burst) = self
            .config
            .per_endpoint
            .get(name)
            .copied()
            .unwrap_or((self.config.default_rps, self.config.default_burst));
        let capacity = capacity(burst);
        let e = Arc::new(Mutex::new(Endpoint {
            rps: rps.max(0.001),
            capacity,
            tokens: capacity,
            last: Instant::now(),
            learned: false,
            continuing: VecDeque::new(),
            fresh: VecDeque::new(),
            streak: 0,
            timer_armed: false,
        }));
        map.insert(name.to_owned(), e.clone());
        e
    }

    /// Waits for a token of `endpoint`; returns how long it waited.
    pub async fn acquire(&self, endpoint: &str, priority: Priority) -> Duration {
        if !self.config.enabled {
            return Duration::ZERO;
        }
        let shared = self.endpoint(endpoint);
        let started = Instant::now();
        let rx = {
            let mut e = lock(&shared);
            e.refill(started);
            if e.waiting() == 0 && e.tokens >= 1.0 {
                e.tokens -= 1.0;
                return Duration::ZERO;
            }
            let (tx, rx) = oneshot::channel();
            match priority {
                Priority::Continuing => e.continuing.push_back(tx),
                Priority::Fresh => e.fresh.push_back(tx),
            }
            if let Some(due) = e.pump(started)
                && !e.timer_armed
            {
                e.timer_armed = true;
                tokio::spawn(run_timer(shared.clone(), due));
            }
            rx
        };
        // The sender is dropped only after a grant or with the pacer itself.
        let _ = rx.await;
        started.elapsed()
    }

    /// The rate `endpoint` is paced at now (requests/s); `None` when pacing is off.
    pub fn rate(&self, endpoint: &str) -> Option<f64> {
        self.config
            .enabled
            .then(|| lock(&self.endpoint(endpoint)).rps)
    }

    /// Calls waiting for a token of `endpoint`.
    pub fn queued(&self, endpoint: &str) -> usize {
        lock(&self.endpoint(endpoint)).waiting()
    }

    /// Learns the server's limits from its headers. Returns the new (rps, burst) on a change.
    pub fn observe(
        &self,
        endpoint: &str,
        replenish_rate: Option<f64>,
        burst: Option<u32>,
        remaining: Option<u32>,
    ) -> Option<(f64, u32)> {
        if !self.config.enabled || !self.config.follow_server {
            return None;
        }
        let rate = replenish_rate.filter(|r| *r > 0.0 && r.is_finite())?;
        let rps = rate * self.config.headroom.clamp(0.1, 1.0);
        let burst = burst.unwrap_or(1).max(1);
        let shared = self.endpoint(endpoint);
        let mut e = lock(&shared);
        e.refill(Instant::now());
        if let Some(remaining) = remaining {
            // The server counts fewer tokens than we do: it is right.
            e.tokens = e.tokens.min(f64::from(remaining));
        }
        let capacity = capacity(burst);
        if e.learned && (e.rps - rps).abs() < 1e-9 && (e.capacity - capacity).abs() < 1e-9 {
            return None;
        }
        e.rps = rps;
        e.capacity = capacity;
        e.tokens = e.tokens.min(capacity);
        e.learned = true;
        Some((rps, burst))
    }

    /// The server said 429: its bucket is empty, so ours is too.
    pub fn drain(&self, endpoint: &str) {
        if !self.config.enabled {
            return;
        }
        let shared = self.endpoint(endpoint);
        let mut e = lock(&shared);
        e.refill(Instant::now());
        e.tokens = e.tokens.min(0.0);
    }
}

/// Grants tokens to `endpoint`'s queues as they become due, until no call waits.
async fn run_timer(shared: Shared, mut due: Instant) {
    loop {
        tokio::time::sleep_until(due).await;
        let mut e = lock(&shared);
        match e.pump(Instant::now()) {
            Some(next) => due = next,
            None => {
                e.timer_armed = false;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::atomic::{AtomicUsize, Ordering};

    fn pacer(rps: f64, burst: u32) -> Arc<Pacer> {
        Arc::new(Pacer::new(PacingConfig::uniform(rps, burst)))
    }

    /// Spawns a call that records (label, grant time) once it gets its token.
    fn call(
        p: &Arc<Pacer>,
        priority: Priority,
        label: &'static str,
        log: &Arc<Mutex<Vec<(&'static str, Instant)>>>,
    ) -> tokio::task::JoinHandle<()> {
        let (p, log) = (p.clone(), log.clone());
        tokio::spawn(async move {
            p.acquire("GET /x", priority).await;
            log.lock().unwrap().push((label, Instant::now()));
        })
    }

    /// Lets spawned tasks run up to their first wait, in spawn order.
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_are_granted_at_the_rate_after_the_burst() {
        // Server burst 4: our bucket holds 3.
        let p = pacer(10.0, 4);
        let t0 = Instant::now();
        let log = Arc::new(Mutex::new(Vec::new()));
        let calls: Vec<_> = (0..6)
            .map(|_| call(&p, Priority::Fresh, "f", &log))
            .collect();
        for c in calls {
            c.await.unwrap();
        }
        let at: Vec<f64> = log
            .lock()
            .unwrap()
            .iter()
            .map(|(_, t)| (*t - t0).as_secs_f64())
            .collect();
        let expected = [0.0, 0.0, 0.0, 0.1, 0.2, 0.3];
        for (got, want) in at.iter().zip(expected) {
            assert!((got - want).abs() < 0.002, "{at:?}");
        }
        // Other endpoints have their own bucket.
        assert_eq!(p.acquire("GET /y", Priority::Fresh).await, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn continuing_calls_go_before_fresh_ones_that_waited_longer() {
        let p = pacer(10.0, 2); // one token
        let log = Arc::new(Mutex::new(Vec::new()));
        p.acquire("GET /x", Priority::Fresh).await; // empties the bucket
        let mut calls = Vec::new();
        for _ in 0..2 {
            calls.push(call(&p, Priority::Fresh, "fresh", &log));
        }
        settle().await;
        calls.push(call(&p, Priority::Continuing, "retry", &log));
        settle().await;
        for c in calls {
            c.await.unwrap();
        }
        let order: Vec<_> = log.lock().unwrap().iter().map(|(l, _)| *l).collect();
        assert_eq!(order, ["retry", "fresh", "fresh"]);
    }

    #[tokio::test(start_paused = true)]
    async fn fresh_calls_are_not_starved_by_a_flood_of_continuing_ones() {
        let p = pacer(100.0, 2);
        let log = Arc::new(Mutex::new(Vec::new()));
        p.acquire("GET /x", Priority::Fresh).await;
        let mut calls = Vec::new();
        for _ in 0..3 {
            calls.push(call(&p, Priority::Fresh, "fresh", &log));
        }
        settle().await;
        for _ in 0..40 {
            calls.push(call(&p, Priority::Continuing, "cont", &log));
        }
        settle().await;
        for c in calls {
            c.await.unwrap();
        }
        let order: Vec<_> = log.lock().unwrap().iter().map(|(l, _)| *l).collect();
        let fresh_at: Vec<usize> = order
            .iter()
            .enumerate()
            .filter(|(_, l)| **l == "fresh")
            .map(|(i, _)| i)
            .collect();
        // One grant in FRESH_EVERY goes to a waiting fresh call.
        let every = FRESH_EVERY as usize;
        assert_eq!(
            fresh_at,
            [every - 1, 2 * every - 1, 3 * every - 1],
            "{order:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn never_more_than_the_rate_allows_in_any_window() {
        // 20 req/s, server burst 5 (ours 4): in any window of length w the server admits at
        // most 5 + 20·w calls; a mix of priorities and dropped calls must stay within that.
        let p = pacer(20.0, 5);
        let grants = Arc::new(Mutex::new(Vec::new()));
        let mut calls = Vec::new();
        for i in 0..120 {
            let (p, grants) = (p.clone(), grants.clone());
            let priority = if i % 3 == 0 {
                Priority::Continuing
            } else {
                Priority::Fresh
            };
            calls.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis((i * 37 % 1000) as u64)).await;
                if i % 7 == 0 {
                    // Gives up while waiting: must not consume a token.
                    let _ = tokio::time::timeout(
                        Duration::from_millis(30),
                        p.acquire("GET /x", priority),
                    )
                    .await;
                    return;
                }
                p.acquire("GET /x", priority).await;
                grants.lock().unwrap().push(Instant::now());
            }));
        }
        for c in calls {
            c.await.unwrap();
        }
        let mut at = grants.lock().unwrap().clone();
        at.sort();
        assert!(at.len() > 90);
        for (i, start) in at.iter().enumerate() {
            for (j, end) in at.iter().enumerate().skip(i) {
                let window = (*end - *start).as_secs_f64();
                let allowed = 5.0 + 20.0 * window;
                assert!(
                    (j - i + 1) as f64 <= allowed + 1e-6,
                    "{} calls in {window:.3}s",
                    j - i + 1
                );
            }
        }
        // The run took the time the rate needs, not much more: ~(102 − 4) / 20 s.
        let span = (*at.last().unwrap() - *at.first().unwrap()).as_secs_f64();
        assert!(span < (at.len() as f64) / 20.0 + 0.1, "{span}");
    }

    #[tokio::test(start_paused = true)]
    async fn follows_the_server_and_drains_on_429() {
        let p = pacer(1000.0, 1000);
        assert_eq!(
            p.observe("GET /x", Some(10.0), Some(3), None),
            Some((10.0, 3))
        );
        assert_eq!(p.observe("GET /x", Some(10.0), Some(3), None), None);
        p.drain("GET /x");
        let waited = p.acquire("GET /x", Priority::Fresh).await;
        assert!(waited >= Duration::from_millis(99), "{waited:?}");
        // The server's remaining count lowers ours.
        let q = pacer(10.0, 10);
        q.observe("GET /x", Some(10.0), Some(10), Some(0));
        assert!(q.acquire("GET /x", Priority::Fresh).await >= Duration::from_millis(99));
        assert_eq!(q.rate("GET /x"), Some(10.0));
        let off = Pacer::new(PacingConfig::disabled());
        assert_eq!(off.acquire("GET /x", Priority::Fresh).await, Duration::ZERO);
        assert_eq!(off.rate("GET /x"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_timer_stops_when_nobody_waits() {
        let p = pacer(10.0, 2);
        let served = Arc::new(AtomicUsize::new(0));
        let mut calls = Vec::new();
        for _ in 0..3 {
            let (p, served) = (p.clone(), served.clone());
            calls.push(tokio::spawn(async move {
                p.acquire("GET /x", Priority::Fresh).await;
                served.fetch_add(1, Ordering::SeqCst);
            }));
        }
        for c in calls {
            c.await.unwrap();
        }
        assert_eq!(served.load(Ordering::SeqCst), 3);
        assert_eq!(p.queued("GET /x"), 0);
        assert!(!lock(&p.endpoint("GET /x")).timer_armed);
    }
}
