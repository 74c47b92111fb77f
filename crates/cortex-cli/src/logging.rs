//! Logging to stderr and the shutdown signal.
//!
//! `RUST_LOG` wins. Otherwise libraries log warnings only; `-v` turns on debug and `-vv` trace
//! for the project's own crates, `-q` keeps errors only. Logs never go to stdout, which belongs
//! to the command's output (human summary or JSON lines). `--log-format json` writes one JSON
//! object per line (timestamp, level, target, fields, spans) for log pipelines.

use tracing_subscriber::EnvFilter;

/// The project's crates, whose level `-v` raises.
const OURS: [&str; 11] = [
    "azure_cortex",
    "azure_emulator",
    "cortex_cli",
    "cortex_web",
    "onboarding_engine",
    "prisma_client",
    "prisma_emulator",
    "terraform_runner",
    "cortex_store",
    "azure_config",
    "prisma_types",
];

/// The filter for `-v` count and `-q`; `quiet_level` is our crates' level without either.
pub fn filter_for(verbose: u8, quiet: bool, quiet_level: &str) -> String {
    let (base, ours) = match (quiet, verbose) {
        (true, _) => ("error", "error"),
        (false, 0) => ("warn", quiet_level),
        (false, 1) => ("warn", "debug"),
        (false, _) => ("warn", "trace"),
    };
    let mut filter = base.to_owned();
    for krate in OURS {
        filter.push_str(&format!(",{krate}={ours}"));
    }
    filter
}

/// How log lines are written to stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the stderr subscriber (once; later calls do nothing): warnings by default.
pub fn init(verbose: u8, quiet: bool) {
    init_at(verbose, quiet, "warn", LogFormat::Text);
}

/// [`init`] with our crates at `level` by default (the long-running `emulator`, `worker` and
/// `serve` commands log their work at `info`), written as `format`.
pub fn init_at(verbose: u8, quiet: bool, level: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(filter_for(verbose, quiet, level)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(crate::output::colors_enabled_for_stderr())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_maps_to_levels() {
        assert!(filter_for(0, false, "warn").starts_with("warn,"));
        assert!(filter_for(0, false, "info").contains("prisma_emulator=info"));
        assert!(filter_for(1, false, "warn").contains("prisma_client=debug"));
        assert!(filter_for(2, false, "warn").contains("onboarding_engine=trace"));
        assert!(filter_for(3, true, "info").contains("cortex_cli=error"));
    }
}
