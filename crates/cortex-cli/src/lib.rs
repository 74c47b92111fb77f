//! The `azure-cortex` command line, as a library: the binary flattens [`Command`] and
//! [`GlobalArgs`] into its own parser and calls [`run`].
//!
//! ```text
//! azure-cortex [--data-dir DIR] [--database-url URL] [--sandbox] [--output human|json] [-v|-q]
//!   onboard  subscription | tenant | entra | batch | cortex SCOPE
//!   accounts list | show | status | enable | disable | offboard [--delete]
//!   instances list | show | accounts | enable | disable | delete   (Cortex Cloud)
//!   groups   list | create
//!   jobs     list | show | follow | cancel | resume | approve
//!   template subscription | tenant | entra --out DIR
//!   doctor
//! ```
//!
//! Commands are thin: they turn flags into the engine's and the client's inputs, run, and
//! render ([`output`]). Onboarding runs the engine's worker in this process and follows the
//! job's stored events ([`follow`]); `--sandbox` runs the Prisma Cloud emulator in-process
//! ([`sandbox`]). Results and exit codes: [`report`], [`exit`]; the JSON shapes are in
//! `docs/cli.md` and [`schemas`].

pub mod azure;
pub mod commands;
pub mod exit;
pub mod follow;
pub mod logging;
pub mod output;
pub mod prompt;
pub mod report;
pub mod sandbox;
pub mod schemas;
pub mod session;

use std::path::PathBuf;
use std::process::ExitCode;

pub use exit::{CliError, Exit};
pub use output::{Format, Out};
pub use sandbox::SandboxFaults;
pub use session::open_store;

use commands::{accounts, discover, doctor, groups, instances, jobs, onboard, template};

/// Examples shown by `azure-cortex --help`.
pub const EXAMPLES: &str = "\
Examples:
  azure-cortex --sandbox doctor
  azure-cortex --sandbox onboard subscription 8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f \\
      --tenant 0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d --name prod
  azure-cortex --sandbox accounts list
  azure-cortex --sandbox onboard cortex tenant --tenant 0091a7ea-5021-42d3-a276-18004980b42b \\
      --subscription 8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f
  azure-cortex --sandbox instances list
  azure-cortex onboard batch subscriptions.csv --tenant 0a1b2c3d-… --output json
  azure-cortex template subscription --tenant … --subscription … --out ./tf
  azure-cortex serve --sandbox --listen 127.0.0.1:8080     # the web UI and REST API

Exit codes: 0 success · 1 failed · 2 bad input or usage · 3 batch partly failed · 4 cancelled.
Real tenants: PRISMA_API_URL, PRISMA_ACCESS_KEY_ID, PRISMA_SECRET_KEY (see `doctor`).
The JSON output and every command: docs/cli.md.";

/// Flags every command takes, before or after the command name.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Where the store, the key file and the Terraform workspaces live.
    #[arg(
        long,
        global = true,
        env = "AZURE_CORTEX_DATA_DIR",
        default_value = "./azure-cortex-data",
        value_name = "DIR"
    )]
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://…` [default: SQLite in the data directory].
    #[arg(
        long,
        global = true,
        env = "AZURE_CORTEX_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,
    /// Sandbox: the Prisma Cloud and Cortex Cloud emulator in this process and the offline
    /// Terraform twin — nothing touches Azure or a real tenant. State persists in the data
    /// directory.
    #[arg(long, global = true)]
    pub sandbox: bool,
    /// Output: progress and a summary for people, or JSON lines for programs.
    #[arg(long, global = true, value_enum, default_value_t = Format::Human)]
    pub output: Format,
    /// More detail (-v: API calls and debug logs, -vv: Terraform's log and trace logs).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only the result (and errors).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Logs on stderr: text lines for people, or one JSON object per line for a log pipeline.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "AZURE_CORTEX_LOG_FORMAT",
        default_value_t = logging::LogFormat::Text
    )]
    pub log_format: logging::LogFormat,
    /// Allow questions (approve a plan, confirm a delete); never asked without it.
    #[arg(long, global = true)]
    pub interactive: bool,
    /// Sandbox fault injection (testing).
    #[arg(long, global = true, hide = true, value_enum, default_value_t = SandboxFaults::None)]
    pub sandbox_faults: SandboxFaults,
    /// Seconds per resource of the Terraform twin (testing).
    #[arg(long, global = true, hide = true, value_name = "SECONDS")]
    pub sandbox_step_secs: Option<f64>,
}

impl GlobalArgs {
    pub fn out(&self) -> Out {
        Out::new(self.output, self.verbose, self.quiet)
    }
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Onboard a subscription, a tenant, Entra ID, or a CSV of subscriptions.
    #[command(subcommand)]
    Onboard(onboard::OnboardCommand),
    /// The Azure accounts in Prisma Cloud: list, show, status, enable, disable, offboard.
    #[command(subcommand, after_help = accounts::EXAMPLES)]
    Accounts(accounts::AccountsCommand),
    /// Cortex Cloud integration instances: list, show, accounts, enable, disable, delete.
    #[command(subcommand, after_help = instances::EXAMPLES)]
    Instances(instances::InstancesCommand),
    /// Prisma Cloud account groups: list, create.
    #[command(subcommand, after_help = groups::EXAMPLES)]
    Groups(groups::GroupsCommand),
    /// Onboarding jobs: list, show, follow, cancel, resume, approve.
    #[command(subcommand, after_help = jobs::EXAMPLES)]
    Jobs(jobs::JobsCommand),
    /// Write the Azure-side Terraform configuration to a folder, without applying it.
    #[command(after_help = template::EXAMPLES)]
    Template(template::TemplateArgs),
    /// Check Terraform, Azure credentials, Prisma Cloud, the clock and the data directory.
    #[command(after_help = doctor::EXAMPLES)]
    Doctor(doctor::DoctorArgs),
    /// The tenant's management groups and subscriptions, joined with the platform's accounts.
    #[command(after_help = discover::EXAMPLES)]
    Discover(discover::DiscoverArgs),
}

/// Runs one command; errors are reported (stderr, and stdout with `--output json`) and turned
/// into the exit code.
pub async fn run(global: GlobalArgs, command: Command) -> ExitCode {
    let out = global.out();
    let result = match command {
        Command::Onboard(c) => onboard::run(&global, &out, c).await,
        Command::Accounts(c) => accounts::run(&global, &out, c).await,
        Command::Instances(c) => instances::run(&global, &out, c).await,
        Command::Groups(c) => groups::run(&global, &out, c).await,
        Command::Jobs(c) => jobs::run(&global, &out, c).await,
        Command::Template(a) => template::run(&global, &out, a).await,
        Command::Doctor(a) => doctor::run(&global, &out, a).await,
        Command::Discover(a) => discover::run(&global, &out, a).await,
    };
    match result {
        Ok(exit) => exit.into(),
        Err(e) => {
            out.error(&e);
            e.exit.into()
        }
    }
}
