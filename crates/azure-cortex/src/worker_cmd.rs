//! `azure-cortex worker`: runs onboarding jobs from the data directory's store until stopped
//! (or, with `--until-done`, until no job is queued or running). Several workers — processes
//! on one machine, or replicas sharing PostgreSQL — split the work through leases.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use cortex_store::{Keyring, Store};
use onboarding_engine::{Engine, EngineConfig, TerraformMode};
use prisma_client::ClientConfig;
use tokio_util::sync::CancellationToken;

#[derive(clap::Args, Debug)]
pub struct WorkerArgs {
    /// Where the store, the key file and the Terraform workspaces live.
    #[arg(
        long,
        env = "AZURE_CORTEX_DATA_DIR",
        default_value = "./azure-cortex-data"
    )]
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://…` (default: SQLite in the data directory).
    #[arg(long, env = "AZURE_CORTEX_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Jobs run at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// Seconds a claimed job stays this worker's without renewal.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(2..=3600))]
    pub lease_secs: u64,
    /// Stop when no job is queued or running.
    #[arg(long)]
    pub until_done: bool,
    /// Azure side in sandbox mode: the Terraform twin (or a replay without terraform).
    #[arg(long)]
    pub sandbox: bool,
    /// Seconds to wait for capabilities to turn green.
    #[arg(long, default_value_t = 600)]
    pub verify_timeout_secs: u64,
}

pub async fn open_store(data_dir: &std::path::Path, url: Option<&str>) -> anyhow::Result<Store> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("--data-dir {}", data_dir.display()))?;
    let keyring = Keyring::load_or_create(data_dir).context("the encryption key")?;
    let url = match url {
        Some(u) => u.to_owned(),
        None => format!("sqlite://{}", data_dir.join("azure-cortex.db").display()),
    };
    Store::open(&url, keyring)
        .await
        .context("opening the store")
}

pub async fn run(args: WorkerArgs) -> anyhow::Result<()> {
    let store = open_store(&args.data_dir, args.database_url.as_deref()).await?;
    let client = ClientConfig::from_env().context(
        "Prisma Cloud connection (PRISMA_API_URL, PRISMA_ACCESS_KEY_ID, PRISMA_SECRET_KEY)",
    )?;
    let mode = if args.sandbox {
        TerraformMode::sandbox()
    } else {
        TerraformMode::real(None)
    };
    let mut config = EngineConfig::new(args.data_dir.clone(), mode);
    config.sandbox = args.sandbox;
    config.concurrency = usize::from(args.concurrency);
    config.lease = Duration::from_secs(args.lease_secs);
    config.verify_timeout = Duration::from_secs(args.verify_timeout_secs);
    let engine = Engine::new(store, client, config)?;
    let stop = CancellationToken::new();
    let signal = stop.clone();
    tokio::spawn(async move {
        crate::logging::shutdown_signal().await;
        signal.cancel();
    });
    engine.run_worker(stop, args.until_done).await?;
    Ok(())
}
