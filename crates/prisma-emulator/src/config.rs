//! Emulator settings: access keys, token lifetime, rate limits, faults, consistency delay.

use std::collections::BTreeMap;
use std::time::Duration;

use prisma_types::SecretString;
use serde::{Deserialize, Serialize};

use crate::capabilities::ScenarioBook;

/// An access key the emulator accepts at `POST /login`.
#[derive(Clone, Debug)]
pub struct AccessKey {
    pub id: String,
    pub secret: SecretString,
}

/// A token bucket: `rps` tokens per second, at most `burst` stored.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Limit {
    pub rps: f64,
    pub burst: u32,
}

/// Per-user, per-endpoint rate limits. Endpoints are named `METHOD /route/{param}` exactly as
/// routed (e.g. `POST /cas/v1/azure_account`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RateLimits {
    pub enabled: bool,
    pub default: Limit,
    #[serde(default)]
    pub per_endpoint: BTreeMap<String, Limit>,
}

impl Default for RateLimits {
    /// Published numbers where Prisma publishes them (`GET /cloud/group` 32/32); 50/s with a
    /// burst of 50 elsewhere (Prisma publishes none for the onboarding endpoints).
    fn default() -> Self {
        let mut per_endpoint = BTreeMap::new();
        per_endpoint.insert(
            "GET /cloud/group".to_owned(),
            Limit {
                rps: 32.0,
                burst: 32,
            },
        );
        per_endpoint.insert(
            "POST /login".to_owned(),
            Limit {
                rps: 10.0,
                burst: 20,
            },
        );
        Self {
            enabled: true,
            default: Limit {
                rps: 50.0,
                burst: 50,
            },
            per_endpoint,
        }
    }
}

impl RateLimits {
    /// The same limit on every endpoint, login included.
    pub fn uniform(rps: f64, burst: u32) -> Self {
        Self {
            enabled: true,
            default: Limit { rps, burst },
            per_endpoint: BTreeMap::new(),
        }
    }

    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    pub fn limit_for(&self, endpoint: &str) -> Limit {
        self.per_endpoint
            .get(endpoint)
            .copied()
            .unwrap_or(self.default)
    }
}

/// Injected faults. Probabilities are per request, drawn from one seeded generator, so a run
/// with the same seed and the same request order sees the same faults.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Faults {
    /// Answer 429 as the rate limiter would (no `Retry-After`).
    pub p_429: f64,
    /// Answer 500 `internal_error`.
    pub p_500: f64,
    /// Answer 503 with `Retry-After`.
    pub p_503: f64,
    /// Reset the connection after the request arrived, before doing anything.
    pub p_reset: f64,
    /// On creates only (add account, add account group): commit, then drop the connection
    /// instead of answering.
    pub p_commit_then_drop: f64,
    /// Send 429s as the gateway's HTML page, without `x-redlock-status` or rate-limit headers.
    pub html_429: bool,
    /// Fixed latency added to every request, in milliseconds.
    pub latency_ms: u64,
    /// Extra uniformly random latency, 0..=this many milliseconds.
    pub latency_jitter_ms: u64,
    /// The `Retry-After` seconds sent with 503.
    pub retry_after_secs: u64,
}

impl Default for Faults {
    /// No faults; a 503, if one is configured later, says `Retry-After: 1`.
    fn default() -> Self {
        Self {
            p_429: 0.0,
            p_500: 0.0,
            p_503: 0.0,
            p_reset: 0.0,
            p_commit_then_drop: 0.0,
            html_429: false,
            latency_ms: 0,
            latency_jitter_ms: 0,
            retry_after_secs: 1,
        }
    }
}

impl Faults {
    /// The mix of the soak test: 10% 429, 3% 503, 1% reset, 1% commit-then-drop.
    pub fn soak_mix() -> Self {
        Self {
            p_429: 0.10,
            p_503: 0.03,
            p_reset: 0.01,
            p_commit_then_drop: 0.01,
            retry_after_secs: 1,
            ..Self::default()
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        for (name, p) in [
            ("p_429", self.p_429),
            ("p_500", self.p_500),
            ("p_503", self.p_503),
            ("p_reset", self.p_reset),
            ("p_commit_then_drop", self.p_commit_then_drop),
        ] {
            if !(0.0..=1.0).contains(&p) || p.is_nan() {
                return Err(format!(
                    "{name}: must be a probability between 0 and 1, got {p}"
                ));
            }
        }
        if self.p_429 + self.p_500 + self.p_503 + self.p_reset > 1.0 {
            return Err("p_429 + p_500 + p_503 + p_reset must not exceed 1".to_owned());
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    pub access_keys: Vec<AccessKey>,
    /// Tenants the access keys can see. With more than one, a login that names none gets
    /// `login_needs_customer_name`.
    pub customer_names: Vec<String>,
    /// JWT lifetime (`exp - iat`); 600 s like the real service.
    pub token_ttl: Duration,
    pub rate_limits: RateLimits,
    pub faults: Faults,
    pub seed: u64,
    /// How long after a create the account becomes readable (the real service is eventually
    /// consistent). Creates and duplicate checks see it at once.
    pub read_delay: Duration,
    /// What add/update cost when they run the status checks (no `skipStatusChecks=true`).
    pub status_check_delay: Duration,
    /// Largest request body accepted; larger gets 413.
    pub max_body_bytes: usize,
    pub scenarios: ScenarioBook,
    /// Base URL put in the JWT `iss`/`aud` claims.
    pub issuer: String,
    /// When set, `/_emulator/*` answers only requests with `Authorization: Bearer <token>`
    /// (401 otherwise). `azure-cortex emulator` sets one whenever it listens beyond loopback;
    /// the sandbox always sets a random one it never shows.
    pub admin_token: Option<SecretString>,
    /// The Cortex Cloud face: its keys, approved tenants and lifetimes.
    pub cortex: crate::cortex::CortexConfig,
}

impl EmulatorConfig {
    /// One access key, real token lifetime, default limits, no faults.
    pub fn new(access_key_id: impl Into<String>, secret_key: impl Into<SecretString>) -> Self {
        Self {
            access_keys: vec![AccessKey {
                id: access_key_id.into(),
                secret: secret_key.into(),
            }],
            customer_names: vec!["sandbox".to_owned()],
            token_ttl: Duration::from_secs(600),
            rate_limits: RateLimits::default(),
            faults: Faults::default(),
            seed: 0,
            read_delay: Duration::from_millis(0),
            status_check_delay: Duration::from_millis(0),
            max_body_bytes: 1024 * 1024,
            scenarios: ScenarioBook::default(),
            issuer: "https://api.sandbox.emulator.local".to_owned(),
            admin_token: None,
            cortex: crate::cortex::CortexConfig::default(),
        }
    }
}
