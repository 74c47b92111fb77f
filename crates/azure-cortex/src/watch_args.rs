//! The health watch's flags, shared by `serve` and `worker` (both run it: replicas on one
//! store split every round's checks through the store's leases).

use std::time::Duration;

use cortex_cli::CliError;
use onboarding_engine::Engine;
use onboarding_engine::watch::{HealthWatch, WatchConfig};
use tokio_util::sync::CancellationToken;

/// The shortest round outside the sandbox, in seconds.
pub const MIN_INTERVAL_SECS: u64 = 10;

#[derive(clap::Args, Debug, Clone)]
pub struct WatchArgs {
    /// Seconds between health-watch rounds (each onboarded account's capabilities read from
    /// its platform and recorded). Below 10 (down to 1) only with --sandbox.
    #[arg(long, value_name = "SECS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=86_400))]
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

    fn check_interval(&self, sandbox: bool) -> Result<(), CliError> {
        if !sandbox && self.watch_interval_secs < MIN_INTERVAL_SECS {
            return Err(CliError::field(
                "watch_interval_secs",
                format!(
                    "--watch-interval-secs below {MIN_INTERVAL_SECS} is for the sandbox only: \
                     each round reads every onboarded account from the platform"
                ),
            ));
        }
        Ok(())
    }

    /// Starts the watch on `engine` until `stop` (unless `--no-watch`). A round shorter than
    /// [`MIN_INTERVAL_SECS`] is refused outside the sandbox (every round reads every account
    /// from the platform).
    pub fn spawn(
        &self,
        engine: &Engine,
        sandbox: bool,
        stop: CancellationToken,
    ) -> Result<Option<tokio::task::JoinHandle<()>>, CliError> {
        if self.no_watch {
            return Ok(None);
        }
        self.check_interval(sandbox)?;
        let watch = HealthWatch::new(engine.clone(), self.config())?;
        Ok(Some(tokio::spawn(async move { watch.run(stop).await })))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        watch: WatchArgs,
    }

    #[test]
    fn a_round_under_ten_seconds_is_for_the_sandbox_only() {
        let flags = Flags::try_parse_from(["x", "--watch-interval-secs", "2"]).unwrap();
        assert!(flags.watch.check_interval(true).is_ok());
        let e = flags.watch.check_interval(false).expect_err("refused");
        assert!(e.to_string().contains("--watch-interval-secs"), "{e}");
        let flags = Flags::try_parse_from(["x", "--watch-interval-secs", "10"]).unwrap();
        assert!(flags.watch.check_interval(false).is_ok());
        assert!(Flags::try_parse_from(["x", "--watch-interval-secs", "0"]).is_err());
    }
}
