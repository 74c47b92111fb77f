//! The web server's configuration for `serve` and `users`: [`cortex_web::WebConfig`] from a
//! TOML file (`--config`), the environment and flags — flag > environment > file > default.
//!
//! The global `--data-dir`, `--database-url` and `--sandbox` count as flags when given on the
//! command line; their variables (`AZURE_CORTEX_DATA_DIR`, `AZURE_CORTEX_DATABASE_URL`) rank
//! with the environment, just below `CORTEX_WEB_DATA_DIR` and `CORTEX_WEB_DATABASE_URL`; the
//! CLI's default data directory (`./azure-cortex-data`) comes last, so every command of the
//! binary finds the same data directory.

use std::path::{Path, PathBuf};

use clap::ArgMatches;
use clap::parser::ValueSource;
use cortex_cli::{CliError, GlobalArgs};
use cortex_web::config::ConfigError;
use cortex_web::{WebConfig, WebSettings};

/// `--config FILE`.
#[derive(clap::Args, Debug, Clone)]
pub struct ConfigArgs {
    /// The server's TOML configuration file (keys in docs/cli.md); the environment
    /// (`CORTEX_WEB_*`) and flags override it.
    #[arg(long = "config", value_name = "FILE")]
    pub file: Option<PathBuf>,
}

/// The settings the global flags give, at the level their source ranks.
fn global_settings(global: &GlobalArgs, matches: &ArgMatches, level: ValueSource) -> WebSettings {
    let at = |id: &str| matches.value_source(id) == Some(level);
    WebSettings {
        data_dir: at("data_dir").then(|| global.data_dir.clone()),
        database_url: global.database_url.clone().filter(|_| at("database_url")),
        sandbox: (level == ValueSource::CommandLine && global.sandbox).then_some(true),
        ..WebSettings::default()
    }
}

/// Merges `flags` (this command's) and the global flags over the environment `env` over the
/// file; errors name the setting and exit 2.
pub fn load(
    global: &GlobalArgs,
    matches: &ArgMatches,
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    flags: WebSettings,
) -> Result<WebConfig, CliError> {
    let file = match file {
        Some(path) => WebSettings::from_file(path).map_err(|e| config_error(e, "config"))?,
        None => WebSettings::default(),
    };
    let env = WebSettings::from_env(env).map_err(|e| config_error(e, "environment"))?;
    let settings = flags
        .over(global_settings(global, matches, ValueSource::CommandLine))
        .over(env)
        .over(global_settings(global, matches, ValueSource::EnvVariable))
        .over(file)
        .over(WebSettings {
            data_dir: Some(global.data_dir.clone()),
            ..WebSettings::default()
        });
    WebConfig::from_settings(settings).map_err(|e| config_error(e, "config"))
}

/// A configuration error as exit 2: an invalid value names its key; a file or variable that
/// cannot be read or parsed names `config` (the file) or `environment`.
fn config_error(e: ConfigError, source: &str) -> CliError {
    match e {
        ConfigError::Invalid { key, message } => CliError::field(key, message),
        ConfigError::Read {
            source_name,
            message,
        } => CliError::field(source, format!("cannot read {source_name}: {message}")),
        ConfigError::Parse {
            source_name,
            message,
        } if source == "config" => CliError::field(source, format!("{source_name}: {message}")),
        ConfigError::Parse { message, .. } => CliError::field(source, message),
    }
}

/// `global` as the configuration says: its data directory, database and sandbox switch (for
/// the CLI's store, Prisma and engine helpers).
pub fn effective_global(global: &GlobalArgs, config: &WebConfig) -> GlobalArgs {
    let mut global = global.clone();
    global.data_dir = config.data_dir.clone();
    global.database_url = config.database_url.clone();
    global.sandbox = config.sandbox;
    global
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches, Parser};
    use cortex_cli::Exit;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        global: GlobalArgs,
        #[command(subcommand)]
        command: Sub,
    }

    #[derive(clap::Subcommand, Debug)]
    enum Sub {
        Serve,
    }

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<WebConfig, CliError> {
        // Clap reads the global flags' variables from the process environment; these tests
        // pass them through `env` instead, and only for names no other test sets.
        let matches = Cli::command()
            .try_get_matches_from(std::iter::once("azure-cortex").chain(args.iter().copied()))
            .unwrap();
        let cli = Cli::from_arg_matches(&matches).unwrap();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        load(&cli.global, &matches, None, env, WebSettings::default())
    }

    #[test]
    fn the_global_flags_rank_as_flags_and_the_default_last() {
        let c = parse(&["serve"], &[]).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("./azure-cortex-data"));
        assert!(!c.sandbox);
        let c = parse(&["serve"], &[("CORTEX_WEB_DATA_DIR", "/srv/web")]).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/srv/web"));
        assert_eq!(c.auth_database, PathBuf::from("/srv/web/web-auth.db"));
        let c = parse(
            &["serve", "--data-dir", "/flag", "--sandbox"],
            &[("CORTEX_WEB_DATA_DIR", "/srv/web")],
        )
        .unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/flag"));
        assert!(c.sandbox);
        let c = parse(&["--data-dir", "/before", "serve"], &[]).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/before"));
        let c = parse(&["serve"], &[("CORTEX_WEB_SANDBOX", "true")]).unwrap();
        assert!(c.sandbox);
    }

    #[test]
    fn bad_settings_are_named_and_exit_2() {
        let e = parse(&["serve"], &[("CORTEX_WEB_SESSION_HOURS", "0")]).unwrap_err();
        assert_eq!(e.exit, Exit::Usage);
        assert_eq!(e.fields[0].field, "session_hours");
        let e = parse(&["serve"], &[("CORTEX_WEB_LISTEN", "nowhere")]).unwrap_err();
        assert_eq!(e.exit, Exit::Usage);
        assert!(e.message.contains("CORTEX_WEB_LISTEN"), "{}", e.message);
    }
}
