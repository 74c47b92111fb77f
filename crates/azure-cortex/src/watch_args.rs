//! The health watch's flags, shared by `serve` and `worker` (both run it: replicas on one
//! store split every round's checks through the store's leases).

use std::time::Duration;

use onboarding_engine::Engine;
use onboarding_engine::watch::{HealthWatch, WatchConfig};
use tokio_util::sync::CancellationToken;

#[derive(clap::Args, Debug, Clone)]
pub struct WatchArgs {
    /// Seconds between health-watch rounds (each onboarded account's capabilities read from
    /// its platform and recorded).
    #[arg(long, value_name = "SECS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub watch_interval_secs: u64,
    /// Days before a client secret's end date to notify at (comma-separated).
    #[arg(long, value_name = "DAYS", value_delimiter = ',', default_values_t = [30u32, 7, 1], value_parser = clap::value_parser!(u32).range(1..=365))]
    pub secret_warning_days: Vec<u32>,
    /// Rotate client secrets our Terraform created this many days before their end date (a
    /// `rotate_secret` job, once per end date across replicas); off when absent.
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=365))]
    pub rotate_before_days: Option<u32>,
    /// Do not run the health watch in this process.
    #[arg(long)]
    pub no_watch: bool,
}

impl WatchArgs {
    pub fn config(&self) -> WatchConfig {
        WatchConfig {
            interval: Duration::from_secs(self.watch_interval_secs),
            secret_warning_days: self.secret_warning_days.clone(),
            rotate_before: self
                .rotate_before_days
                .map(|d| Duration::from_secs(u64::from(d) * 86_400)),
            ..WatchConfig::default()
        }
    }

    /// Starts the watch on `engine` until `stop` (unless `--no-watch`).
    pub fn spawn(
        &self,
        engine: &Engine,
        stop: CancellationToken,
    ) -> Result<Option<tokio::task::JoinHandle<()>>, onboarding_engine::EngineError> {
        if self.no_watch {
            return Ok(None);
        }
        let watch = HealthWatch::new(engine.clone(), self.config())?;
        Ok(Some(tokio::spawn(async move { watch.run(stop).await })))
    }
}
