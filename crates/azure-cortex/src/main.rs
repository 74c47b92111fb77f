//! `azure-cortex`: the command-line entry point. Parses arguments, sets up logging and the
//! runtime, and hands over: the onboarding commands to `cortex-cli`; `emulator`, `worker`,
//! `serve` (the web server of `cortex-web`) and `users` to their modules here. Exit codes are
//! `cortex-cli`'s (clap usage errors exit 2).

mod emulator_cmd;
mod packaging_cmd;
mod sandbox_sso;
mod serve_cmd;
mod users_cmd;
mod watch_args;
mod web_config;
mod worker_cmd;

use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// `--version`: the crate version, the commit and the build date (stamped by `build.rs`).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("AZURE_CORTEX_COMMIT"),
    ", built ",
    env!("AZURE_CORTEX_BUILD_DATE"),
    ")"
);

#[derive(Parser, Debug)]
#[command(
    name = "azure-cortex",
    version = VERSION,
    about = "Onboard Azure into Prisma Cloud / Cortex Cloud CSPM",
    after_help = cortex_cli::EXAMPLES
)]
struct Cli {
    #[command(flatten)]
    global: cortex_cli::GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    #[command(flatten)]
    Cli(Box<cortex_cli::Command>),
    /// Run the Prisma Cloud API emulator (a sandbox tenant on this machine).
    #[command(after_help = emulator_cmd::EXAMPLES)]
    Emulator(Box<emulator_cmd::EmulatorArgs>),
    /// Run onboarding jobs from the store (several workers share the work through leases).
    #[command(after_help = worker_cmd::ABOUT_SANDBOX)]
    Worker(worker_cmd::WorkerArgs),
    /// Run the web server: the REST API (/api/v1) over the store, with jobs run in-process.
    #[command(after_help = serve_cmd::EXAMPLES)]
    Serve(Box<serve_cmd::ServeArgs>),
    /// The web server's users: add, list.
    #[command(subcommand, after_help = users_cmd::EXAMPLES)]
    Users(users_cmd::UsersCommand),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    #[command(after_help = packaging_cmd::COMPLETIONS_EXAMPLES)]
    Completions(packaging_cmd::CompletionsArgs),
    /// Print the man page, or write every page with --out DIR.
    Manpage(packaging_cmd::ManpageArgs),
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());

    let level = match cli.command {
        Command::Cli(_) | Command::Users(_) | Command::Completions(_) | Command::Manpage(_) => {
            "warn"
        }
        Command::Emulator(_) | Command::Worker(_) | Command::Serve(_) => "info",
    };
    cortex_cli::logging::init_at(
        cli.global.verbose,
        cli.global.quiet,
        level,
        cli.global.log_format,
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(cortex_cli::Exit::Failed.code());
        }
    };
    let code = runtime.block_on(async move {
        match cli.command {
            Command::Cli(command) => cortex_cli::run(cli.global, *command).await,
            Command::Emulator(args) => {
                let sub = matches
                    .subcommand_matches("emulator")
                    .expect("parsed above");
                report(emulator_cmd::run(*args, sub).await)
            }
            Command::Worker(args) => report(worker_cmd::run(&cli.global, args).await),
            Command::Serve(args) => finish(
                &cli.global,
                serve_cmd::run(&cli.global, &matches, *args).await,
            ),
            Command::Users(command) => finish(
                &cli.global,
                users_cmd::run(&cli.global, &matches, command).await,
            ),
            // Generated from the parser itself, so they never drift from the real flags.
            Command::Completions(args) => report(packaging_cmd::completions(Cli::command(), &args)),
            Command::Manpage(args) => report(packaging_cmd::manpage(Cli::command(), &args)),
        }
    });
    // A blocked read of stdin (an unanswered question) must not keep the process alive.
    runtime.shutdown_timeout(Duration::from_secs(2));
    code
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(cortex_cli::Exit::Failed.code())
        }
    }
}

/// The exit code of a command returning the CLI's error type (reported as the CLI does).
fn finish(
    global: &cortex_cli::GlobalArgs,
    result: Result<cortex_cli::Exit, cortex_cli::CliError>,
) -> ExitCode {
    match result {
        Ok(exit) => exit.into(),
        Err(e) => {
            global.out().error(&e);
            e.exit.into()
        }
    }
}
