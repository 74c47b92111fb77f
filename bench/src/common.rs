//! The start-up the engine benchmarks share (`engine-bench`, `bulk-identity-bench`,
//! `cortex-onboarding-bench`): the in-process emulator at a uniform rate limit, a SQLite store in a temporary data directory,
//! a Prisma client paced at that limit and the engine over them — and what they read back
//! afterwards (failures of a batch, the rate-limit bound, the database's size).

use std::collections::BTreeMap;
use std::time::Duration;

use cortex_store::{BatchId, JobState, Keyring, Store};
use onboarding_engine::{Engine, EngineConfig, TerraformMode};
use prisma_client::{BaseUrl, ClientConfig, Credentials, PacingConfig};
use prisma_emulator::admin::StatsReport;
use prisma_emulator::{EmulatorConfig, RateLimits, RunningEmulator};
use prisma_types::SecretString;
use tokio_util::sync::CancellationToken;

/// What a benchmark asks of the set-up.
pub struct Setup {
    /// The emulator's limit per endpoint (req/s, burst the same); the client paces at it.
    pub rps: u32,
    /// Latency the emulator adds to every request.
    pub latency_ms: u64,
    /// How the engine runs Terraform.
    pub terraform: TerraformMode,
}

/// A running emulator, store and engine; the emulator stops when this is dropped.
pub struct EngineBench {
    pub emulator: RunningEmulator,
    pub store: Store,
    pub engine: Engine,
    /// The data directory (store file `bench.db`, workspaces, plugin cache).
    pub dir: tempfile::TempDir,
    pub rps: u32,
    stop: CancellationToken,
}

/// The store's file name in the data directory.
const DB: &str = "bench.db";

impl EngineBench {
    /// Starts everything; `configure` adjusts the engine's configuration (concurrency,
    /// sandbox) after the benchmarks' common settings.
    pub async fn start(
        setup: Setup,
        configure: impl FnOnce(&mut EngineConfig),
    ) -> anyhow::Result<Self> {
        Self::start_with(setup, |_| {}, |config, _| configure(config)).await
    }

    /// [`EngineBench::start`], with `emulator` adjusting the emulator's configuration (its
    /// Cortex face) before it starts and `configure` seeing the running emulator (its URL).
    pub async fn start_with(
        setup: Setup,
        emulator: impl FnOnce(&mut EmulatorConfig),
        configure: impl FnOnce(&mut EngineConfig, &RunningEmulator),
    ) -> anyhow::Result<Self> {
        let Setup {
            rps,
            latency_ms,
            terraform,
        } = setup;
        let mut emulator_config =
            EmulatorConfig::new("bench", SecretString::from("bench-secret-key"));
        emulator_config.rate_limits = RateLimits::uniform(f64::from(rps), rps);
        emulator_config.read_delay = Duration::ZERO;
        emulator_config.faults.latency_ms = latency_ms;
        emulator(&mut emulator_config);
        let stop = CancellationToken::new();
        let emulator = prisma_emulator::spawn(
            "127.0.0.1:0".parse()?,
            emulator_config,
            None,
            stop.clone().cancelled_owned(),
        )
        .await?;
        let dir = tempfile::tempdir()?;
        let store = Store::open(
            &format!("sqlite://{}", dir.path().join(DB).display()),
            Keyring::load_or_create(dir.path())?,
        )
        .await?;
        let mut client = ClientConfig::new(
            BaseUrl::parse(&emulator.base_url(), false)?,
            Credentials::new("bench", "bench-secret-key"),
        );
        client.pacing = PacingConfig::uniform(f64::from(rps), rps);
        let mut config = EngineConfig::new(dir.path().to_path_buf(), terraform);
        config.verify_timeout = Duration::from_secs(120);
        config.poll_interval = Duration::from_millis(20);
        configure(&mut config, &emulator);
        let engine = Engine::new(store.clone(), client, config)?;
        Ok(Self {
            emulator,
            store,
            engine,
            dir,
            rps,
            stop,
        })
    }

    /// The emulator's counters.
    pub fn stats(&self) -> StatsReport {
        prisma_emulator::admin::stats_report(&self.emulator.state)
    }

    /// The least time the emulator's per-endpoint token buckets allow for the calls they
    /// admitted: max over endpoints (logins aside) of `(admitted − burst) / rate`.
    pub fn bound_s(&self, stats: &StatsReport) -> f64 {
        let rps = f64::from(self.rps);
        stats
            .endpoints
            .iter()
            .filter(|(name, _)| !name.contains("/login") && !name.contains("/auth_token"))
            .map(|(_, e)| crate::endpoint_bound_s(e.admitted, rps))
            .fold(0.0, f64::max)
    }

    /// Jobs of `batch` that did not succeed.
    pub async fn failures(&self, batch: BatchId) -> anyhow::Result<u64> {
        let summary = self
            .engine
            .batch_summary(batch)
            .await?
            .ok_or_else(|| anyhow::anyhow!("batch {batch} is gone"))?;
        Ok(summary
            .by_state
            .iter()
            .filter(|(s, _)| **s != JobState::Succeeded)
            .map(|(_, n)| *n)
            .sum())
    }

    /// Bytes of the store's files (database, WAL, shared memory).
    pub fn db_bytes(&self) -> u64 {
        [DB.to_owned(), format!("{DB}-wal"), format!("{DB}-shm")]
            .iter()
            .filter_map(|f| std::fs::metadata(self.dir.path().join(f)).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Admitted calls per endpoint, for the JSON line.
    pub fn calls_per_endpoint(stats: &StatsReport) -> BTreeMap<String, u64> {
        stats
            .endpoints
            .iter()
            .map(|(k, v)| (k.clone(), v.admitted))
            .collect()
    }

    /// Closes the store and stops the emulator.
    pub async fn close(self) {
        self.store.close().await;
        self.stop.cancel();
    }
}

impl Drop for EngineBench {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Time per step over `jobs`, from their `step_finished` events: for each step (every name in
/// `expected` even if no job ran it, and any other that ran), how many jobs ran it and its
/// `sum_s`, `p50_s`, `p95_s`, `max_s` in seconds. Also the moment (seconds after `since`) the
/// first and the last job finished, which shows whether a batch finishes in waves or together.
pub async fn step_times(
    store: &Store,
    jobs: &[cortex_store::JobId],
    since: time::OffsetDateTime,
    expected: &[&str],
) -> anyhow::Result<serde_json::Value> {
    let mut per_step: BTreeMap<String, Vec<f64>> = expected
        .iter()
        .map(|s| ((*s).to_owned(), Vec::new()))
        .collect();
    let mut finished: Vec<time::OffsetDateTime> = Vec::new();
    for job in jobs {
        let mut last = None;
        for e in store.events_after(*job, 0, 1_000_000).await? {
            if e.event["type"] == "step_finished" {
                let step = e.event["step"].as_str().unwrap_or("?").to_owned();
                let seconds = e.event["elapsed_ms"].as_f64().unwrap_or(0.0) / 1000.0;
                per_step.entry(step).or_default().push(seconds);
            }
            last = Some(e.at);
        }
        finished.extend(last);
    }
    let steps: serde_json::Map<String, serde_json::Value> = per_step
        .into_iter()
        .map(|(step, mut seconds)| {
            seconds.sort_by(f64::total_cmp);
            let summary = serde_json::json!({
                "runs": seconds.len(),
                "sum_s": crate::round(seconds.iter().sum()),
                "p50_s": crate::round(crate::percentile(&seconds, 50.0)),
                "p95_s": crate::round(crate::percentile(&seconds, 95.0)),
                "max_s": crate::round(seconds.last().copied().unwrap_or(0.0)),
            });
            (step, summary)
        })
        .collect();
    finished.sort_unstable();
    let at = |t: Option<&time::OffsetDateTime>| t.map(|t| (*t - since).as_seconds_f64());
    Ok(serde_json::json!({
        "steps": steps,
        "first_job_done_s": at(finished.first()),
        "last_job_done_s": at(finished.last()),
    }))
}
