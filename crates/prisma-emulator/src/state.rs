//! Everything a request handler can reach: configuration, the store, the token issuer, the
//! rate limiter, the fault generator and the counters the admin endpoint reports.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::auth::TokenIssuer;
use crate::capabilities::ScenarioBook;
use crate::config::{EmulatorConfig, Faults, Limit, RateLimits};
use crate::store::Store;

pub struct EmulatorState {
    pub config: EmulatorConfig,
    pub store: Mutex<Store>,
    pub tokens: TokenIssuer,
    pub limiter: RateLimiter,
    pub faults: Mutex<FaultDice>,
    pub scenarios: RwLock<ScenarioBook>,
    pub stats: Stats,
    /// The Cortex Cloud face's instances, accounts and nonces.
    pub cortex: crate::cortex::CortexFace,
    /// The emulator clock and the client secrets' end dates ([`crate::aging`]).
    pub aging: crate::aging::Aging,
    /// The write-through snapshot file ([`crate::snapshot`]), when set.
    persist_path: RwLock<Option<PathBuf>>,
    /// Serialises snapshot saves.
    pub(crate) persist_lock: Mutex<()>,
}

impl EmulatorState {
    pub fn new(config: EmulatorConfig) -> Self {
        // The signing key is random per process: tokens do not survive a restart, like a
        // session store that was wiped.
        let mut rng = StdRng::from_os_rng();
        let signing: [u8; 32] = rng.random();
        Self {
            tokens: TokenIssuer::new(&signing, config.token_ttl, config.issuer.clone()),
            limiter: RateLimiter::new(config.rate_limits.clone()),
            faults: Mutex::new(FaultDice::new(config.faults.clone(), config.seed)),
            scenarios: RwLock::new(config.scenarios.clone()),
            store: Mutex::new(Store::new()),
            stats: Stats::default(),
            cortex: crate::cortex::CortexFace::new(&config.cortex),
            aging: Default::default(),
            persist_path: RwLock::new(None),
            persist_lock: Mutex::new(()),
            config,
        }
    }

    /// From now on every successful write request saves the accounts and groups to `path`
    /// before it answers ([`crate::snapshot::persist`]).
    pub fn persist_to(&self, path: PathBuf) {
        *self.persist_path.write().unwrap_or_else(|p| p.into_inner()) = Some(path);
    }

    pub fn persist_path(&self) -> Option<PathBuf> {
        self.persist_path
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn scenarios(&self) -> ScenarioBook {
        self.scenarios
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Token buckets per (user, endpoint), refilled continuously.
pub struct RateLimiter {
    limits: RwLock<RateLimits>,
    buckets: Mutex<HashMap<(String, String), Bucket>>,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// The outcome of taking a token, with what the `X-RateLimit-*` headers report.
#[derive(Debug, Clone, Copy)]
pub struct RateDecision {
    pub admitted: bool,
    pub remaining: u32,
    pub limit: Limit,
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> Self {
        Self {
            limits: RwLock::new(limits),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn set_limits(&self, limits: RateLimits) {
        *self.limits.write().unwrap_or_else(|p| p.into_inner()) = limits;
        self.buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    pub fn limits(&self) -> RateLimits {
        self.limits
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// `None` when rate limiting is off.
    pub fn take(&self, user: &str, endpoint: &str) -> Option<RateDecision> {
        let limits = self.limits();
        if !limits.enabled {
            return None;
        }
        let limit = limits.limit_for(endpoint);
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets
            .entry((user.to_owned(), endpoint.to_owned()))
            .or_insert(Bucket {
                tokens: f64::from(limit.burst),
                last: now,
            });
        let elapsed = now.duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * limit.rps).min(f64::from(limit.burst));
        bucket.last = now;
        let admitted = bucket.tokens >= 1.0;
        if admitted {
            bucket.tokens -= 1.0;
        }
        Some(RateDecision {
            admitted,
            remaining: bucket.tokens.floor() as u32,
            limit,
        })
    }
}

/// What the dice decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultDraw {
    None,
    TooManyRequests,
    InternalError,
    Unavailable,
    Reset,
}

/// The seeded fault generator.
pub struct FaultDice {
    pub faults: Faults,
    rng: StdRng,
}

impl FaultDice {
    pub fn new(faults: Faults, seed: u64) -> Self {
        Self {
            faults,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    pub fn reseed(&mut self, faults: Faults, seed: u64) {
        *self = Self::new(faults, seed);
    }

    /// Draws the request's fault, whether a create should commit and then drop, and the added
    /// latency. Always consumes the same number of random values, so a seed replays exactly.
    pub fn draw(&mut self) -> (FaultDraw, bool, u64) {
        let f = &self.faults;
        let roll: f64 = self.rng.random();
        let commit_roll: f64 = self.rng.random();
        let jitter_roll: f64 = self.rng.random();
        let mut edge = 0.0;
        let mut pick = FaultDraw::None;
        for (p, draw) in [
            (f.p_429, FaultDraw::TooManyRequests),
            (f.p_500, FaultDraw::InternalError),
            (f.p_503, FaultDraw::Unavailable),
            (f.p_reset, FaultDraw::Reset),
        ] {
            edge += p;
            if roll < edge {
                pick = draw;
                break;
            }
        }
        let latency = f.latency_ms + (jitter_roll * (f.latency_jitter_ms as f64)).round() as u64;
        (pick, commit_roll < f.p_commit_then_drop, latency)
    }
}

#[derive(Default)]
pub struct Stats {
    pub logins: AtomicU64,
    pub failed_logins: AtomicU64,
    pub extends: AtomicU64,
    /// Accounts committed by add (CAS or legacy); tenant children not counted.
    pub accounts_created: AtomicU64,
    /// Adds refused with `duplicate_cloud_account`.
    pub duplicates_refused: AtomicU64,
    pub endpoints: Mutex<BTreeMap<String, EndpointStats>>,
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct EndpointStats {
    /// Requests that reached the emulator.
    pub requests: u64,
    /// Requests the rate limiter admitted (each consumed a token).
    pub admitted: u64,
    /// 429s from the rate limiter itself.
    pub rate_limited: u64,
    pub injected_429: u64,
    pub injected_500: u64,
    pub injected_503: u64,
    pub injected_resets: u64,
    pub commit_then_drop: u64,
    pub unauthorized: u64,
}

impl Stats {
    pub fn bump(&self, endpoint: &str, f: impl FnOnce(&mut EndpointStats)) {
        let mut map = self.endpoints.lock().unwrap_or_else(|p| p.into_inner());
        f(map.entry(endpoint.to_owned()).or_default());
    }

    pub fn count(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
