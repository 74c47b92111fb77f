//! `azure-cortex worker`: runs onboarding jobs from the data directory's store until stopped
//! (or, with `--until-done`, until no job is queued or running). Several workers — processes
//! on one machine, or replicas sharing PostgreSQL — split the work through leases.
//!
//! The data directory, database and `--sandbox` are the global flags. With `--sandbox` the
//! Azure side is the Terraform twin; Prisma Cloud is the one configured in the environment
//! (`PRISMA_API_URL`…, e.g. an `azure-cortex emulator` another process runs) or, when none is,
//! the in-process emulator with the data directory's sandbox state.

use std::time::Duration;

use anyhow::Context;
use cortex_cli::GlobalArgs;
use cortex_cli::session::{Prisma, engine_config};
use onboarding_engine::Engine;
use prisma_client::ClientConfig;
use tokio_util::sync::CancellationToken;

pub const ABOUT_SANDBOX: &str = "\
With --sandbox the Azure side is the Terraform twin; Prisma Cloud is the one in PRISMA_API_URL
(e.g. an `azure-cortex emulator` running elsewhere) or, when that is not set, the in-process
emulator with the data directory's sandbox state.

Examples:
  azure-cortex worker --until-done
  azure-cortex --sandbox worker --until-done --concurrency 16";

#[derive(clap::Args, Debug)]
pub struct WorkerArgs {
    /// Run exactly N jobs at once [default: sized from the rate limits and round-trip times,
    /// at most --max-concurrency].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: Option<u16>,
    /// The most jobs run at once when the concurrency is sized automatically.
    #[arg(long, value_name = "N", default_value_t = onboarding_engine::engine::DEFAULT_MAX_CONCURRENCY as u16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub max_concurrency: u16,
    /// The most Terraform runs at once, whatever the number of jobs (a job over it waits
    /// before its `terraform init`).
    #[arg(long, value_name = "N", default_value_t = onboarding_engine::engine::DEFAULT_TERRAFORM_CONCURRENCY as u16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub terraform_concurrency: u16,
    /// Seconds a claimed job stays this worker's without renewal.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(2..=3600))]
    pub lease_secs: u64,
    /// Stop when no job is queued or running.
    #[arg(long)]
    pub until_done: bool,
    /// Seconds to wait for capabilities to turn green [default: 600; 5 with --sandbox].
    #[arg(long)]
    pub verify_timeout_secs: Option<u64>,
    #[command(flatten)]
    pub watch: crate::watch_args::WatchArgs,
}

fn prisma_configured() -> bool {
    ["PRISMA_API_URL", "PRISMACLOUD_URL"]
        .iter()
        .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()))
}

pub async fn run(global: &GlobalArgs, args: WorkerArgs) -> anyhow::Result<()> {
    let store = cortex_cli::open_store(&global.data_dir, global.database_url.as_deref()).await?;
    let sandbox = if global.sandbox && !prisma_configured() {
        Some(Prisma::connect(global).await?)
    } else {
        None
    };
    let client = match &sandbox {
        Some(prisma) => prisma.config.clone(),
        None => ClientConfig::from_env().context(
            "Prisma Cloud connection (PRISMA_API_URL, PRISMA_ACCESS_KEY_ID, PRISMA_SECRET_KEY)",
        )?,
    };
    let mut config = match &sandbox {
        Some(prisma) => prisma.engine_config(global),
        None => engine_config(global),
    };
    config.concurrency = usize::from(args.concurrency.unwrap_or(args.max_concurrency));
    config.adaptive_concurrency = args.concurrency.is_none();
    config.terraform_concurrency = usize::from(args.terraform_concurrency);
    config.lease = Duration::from_secs(args.lease_secs);
    config.verify_timeout = match (args.verify_timeout_secs, global.sandbox) {
        (Some(secs), _) => Duration::from_secs(secs),
        (None, true) => Duration::from_secs(5),
        (None, false) => Duration::from_secs(600),
    };
    let engine = Engine::new(store, client, config)?;
    let stop = CancellationToken::new();
    let signal = stop.clone();
    tokio::spawn(async move {
        cortex_cli::logging::shutdown_signal().await;
        signal.cancel();
    });
    // A worker that stops when the queue is empty has no rounds to run.
    let watch = if args.until_done {
        None
    } else {
        args.watch.spawn(&engine, global.sandbox, stop.clone())?
    };
    let worked = engine.run_worker(stop, args.until_done).await;
    if let Some(watch) = watch {
        let _ = watch.await;
    }
    if let Some(prisma) = sandbox {
        prisma.close().await?;
    }
    engine.store().close().await;
    worked?;
    Ok(())
}
