//! `azure-cortex`: the command-line entry point. Parses arguments, sets up logging and the
//! shutdown signal, and hands over to the library crates.

mod emulator_cmd;
mod logging;
mod worker_cmd;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "azure-cortex",
    version,
    about = "Onboard Azure into Prisma Cloud / Cortex Cloud CSPM"
)]
struct Cli {
    /// More log output (-v debug, -vv trace). Logs go to stderr.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the Prisma Cloud API emulator (a sandbox tenant on this machine).
    #[command(after_help = emulator_cmd::EXAMPLES)]
    Emulator(Box<emulator_cmd::EmulatorArgs>),
    /// Run onboarding jobs from the store (several workers share the work through leases).
    Worker(worker_cmd::WorkerArgs),
}

fn main() -> anyhow::Result<()> {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches)?;
    logging::init(cli.verbose);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Emulator(args) => {
                let sub = matches
                    .subcommand_matches("emulator")
                    .expect("parsed above");
                emulator_cmd::run(*args, sub).await
            }
            Command::Worker(args) => worker_cmd::run(args).await,
        }
    })
}
