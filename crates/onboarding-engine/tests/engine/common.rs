//! A sandbox for one test: emulator, store, engine.

use std::path::Path;
use std::time::Duration;

use cortex_store::{JobId, JobRecord, JobState, Keyring, Store, StoredEvent};
use onboarding_engine::{Engine, EngineConfig, RawRequest, TerraformMode};
use prisma_client::{BaseUrl, ClientConfig, Credentials, RetryPolicy};
use prisma_emulator::{EmulatorConfig, RunningEmulator, StatsReport};
use prisma_types::SecretString;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

pub const ACCESS_KEY: &str = "engine-test-key";
pub const SECRET_KEY: &str = "engine-test-secret-0123456789";
pub const TENANT: &str = "7e4a0000-aaaa-4bbb-8ccc-000000000001";

pub struct Sandbox {
    pub emu: RunningEmulator,
    stop: CancellationToken,
    pub dir: TempDir,
    pub engine: Engine,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub fn terraform_available() -> bool {
    onboarding_engine::identity::find_on_path("terraform").is_some()
}

/// The twin when terraform is installed (it is on the project machines), else the replay.
pub fn sandbox_mode() -> TerraformMode {
    match TerraformMode::sandbox() {
        TerraformMode::Twin { binary, .. } => TerraformMode::Twin {
            binary,
            step_seconds: 0.05,
        },
        other => {
            eprintln!("NOTE: terraform not on PATH; these tests use the replayed stream");
            other
        }
    }
}

/// The twin with no pause per resource; `None` (the test is skipped, saying so) without
/// terraform, for the tests that read what only a real run gives (a plan, a state, a slot).
#[allow(dead_code)]
pub fn twin() -> Option<TerraformMode> {
    match sandbox_mode() {
        TerraformMode::Twin { binary, .. } => Some(TerraformMode::Twin {
            binary,
            step_seconds: 0.0,
        }),
        _ => {
            eprintln!("SKIPPED: terraform not on PATH (this test reads a real run)");
            None
        }
    }
}

impl Sandbox {
    pub async fn start(mode: TerraformMode) -> Self {
        Self::start_with(mode, |_| {}, |_| {}).await
    }

    /// [`Self::start`] on a store the test opened (PostgreSQL, say).
    #[allow(dead_code)]
    pub async fn start_on(mode: TerraformMode, store: Store) -> Self {
        Self::start_full(mode, |_| {}, |_| {}, Some(store)).await
    }

    pub async fn start_with(
        mode: TerraformMode,
        emulator: impl FnOnce(&mut EmulatorConfig),
        engine: impl FnOnce(&mut EngineConfig),
    ) -> Self {
        Self::start_full(mode, emulator, engine, None).await
    }

    async fn start_full(
        mode: TerraformMode,
        emulator: impl FnOnce(&mut EmulatorConfig),
        engine: impl FnOnce(&mut EngineConfig),
        store: Option<Store>,
    ) -> Self {
        let mut config = EmulatorConfig::new(ACCESS_KEY, SecretString::from(SECRET_KEY));
        config.read_delay = Duration::from_millis(100);
        emulator(&mut config);
        let stop = CancellationToken::new();
        let emu = prisma_emulator::spawn(
            "127.0.0.1:0".parse().unwrap(),
            config,
            None,
            stop.clone().cancelled_owned(),
        )
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = match store {
            Some(store) => store,
            None => open_store(dir.path()).await,
        };
        let mut engine_config = EngineConfig::new(dir.path().to_path_buf(), mode);
        engine_config.sandbox = true;
        engine_config.verify_timeout = Duration::from_secs(3);
        engine_config.concurrency = 4;
        engine_config.lease = Duration::from_secs(6);
        engine(&mut engine_config);
        let engine = Engine::new(store, client_config(&emu), engine_config).unwrap();
        Sandbox {
            emu,
            stop,
            dir,
            engine,
        }
    }

    pub fn stats(&self) -> StatsReport {
        prisma_emulator::admin::stats_report(&self.emu.state)
    }

    /// Runs the worker until no job is left to claim.
    pub async fn run(&self) {
        self.run_within(Duration::from_secs(120)).await
    }

    /// The same with a longer guard against a hang, for big batches on a busy machine.
    pub async fn run_within(&self, limit: Duration) {
        tokio::time::timeout(
            limit,
            self.engine.run_worker(CancellationToken::new(), true),
        )
        .await
        .expect("worker finished in time")
        .unwrap();
    }

    /// Submits `request` (validated; `secret` for an existing identity), runs the worker and
    /// returns the job, which must have succeeded.
    pub async fn onboard(&self, request: RawRequest, secret: Option<SecretString>) -> JobRecord {
        let id = self
            .engine
            .submit(&request.validate().unwrap(), secret, "tester")
            .await
            .unwrap();
        self.run().await;
        self.succeeded(id).await
    }

    /// The job `id`, which must have succeeded (its error otherwise).
    pub async fn succeeded(&self, id: JobId) -> JobRecord {
        let record = self.job(id).await;
        assert_eq!(record.state, JobState::Succeeded, "{:?}", record.error);
        record
    }

    pub async fn job(&self, id: JobId) -> JobRecord {
        self.engine.store().get_job(id).await.unwrap().unwrap()
    }

    pub async fn events(&self, id: JobId) -> Vec<StoredEvent> {
        self.engine
            .store()
            .events_after(id, 0, 10_000)
            .await
            .unwrap()
    }

    pub async fn event_types(&self, id: JobId) -> Vec<String> {
        self.events(id)
            .await
            .iter()
            .map(|e| e.event["type"].as_str().unwrap_or("").to_owned())
            .collect()
    }
}

pub async fn open_store(dir: &Path) -> Store {
    let keyring = Keyring::load_or_create(dir).unwrap();
    Store::open(
        &format!("sqlite://{}", dir.join("cortex.db").display()),
        keyring,
    )
    .await
    .unwrap()
}

pub fn client_config(emu: &RunningEmulator) -> ClientConfig {
    let mut c = ClientConfig::new(
        BaseUrl::parse(&emu.base_url(), false).unwrap(),
        Credentials::new(ACCESS_KEY, SECRET_KEY),
    );
    c.retry = RetryPolicy {
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(500),
        ..RetryPolicy::default()
    };
    c
}

pub fn guid(ns: u16, n: u32) -> String {
    format!(
        "{ns:04x}{:04x}-1111-4222-8333-{:012x}",
        n >> 16,
        u64::from(n)
    )
}

/// A subscription request with the builtin identity.
pub fn subscription(sub: &str, name: &str) -> RawRequest {
    RawRequest {
        scope: Some("subscription".into()),
        subscription_id: Some(sub.into()),
        tenant_id: Some(TENANT.into()),
        name: Some(name.into()),
        groups: vec!["Default Account Group".into()],
        ..RawRequest::default()
    }
}

/// The same with an existing service principal.
pub fn existing(sub: &str, name: &str, n: u32) -> RawRequest {
    RawRequest {
        identity: Some("existing".into()),
        client_id: Some(guid(0xc1d0, n)),
        service_principal_id: Some(guid(0x5e00, n)),
        ..subscription(sub, name)
    }
}

pub fn secret(n: u32) -> SecretString {
    SecretString::from(format!("CANARY-AZURE-SECRET-{n:06}~q"))
}
