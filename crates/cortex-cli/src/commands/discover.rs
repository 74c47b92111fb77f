//! `azure-cortex discover --tenant T`: the tenant's management-group tree with its
//! subscriptions (name, id, state) as the Azure credentials see it, each joined with the
//! Prisma Cloud accounts (own account, covered by a tenant account, onboarded but disabled or
//! failing, not onboarded), with counts per group. `--output json` prints one object
//! (`docs/cli.md`, "discover"). `--connection NAME` joins with another platform connection's
//! accounts instead of the default Prisma Cloud one: a saved Prisma Cloud connection, or a
//! Cortex Cloud one whose integration instances are the accounts (`cortex-sandbox` with
//! `--sandbox`).

use azure_access::discovery::DiscoveryFailure;
use onboarding_engine::EngineError;
use onboarding_engine::coverage::{self, CoverageError, CoverageView, PlatformSource};
use prisma_types::TenantId;

use crate::GlobalArgs;
use crate::azure::AzureTarget;
use crate::exit::{CliError, Exit};
use crate::output::Out;
use crate::session::{Prisma, Session};

pub const EXAMPLES: &str = "\
Examples:
  azure-cortex discover --tenant 3f6e2a10-7c4d-4b8e-9a21-5d0c8e7b6a41
  azure-cortex --sandbox discover --tenant 3f6e2a10-7c4d-4b8e-9a21-5d0c8e7b6a41 --output json
  azure-cortex discover --tenant T --not-covered    # only what still needs onboarding
  azure-cortex --sandbox discover --tenant 3f6e2a10-7c4d-4b8e-9a21-5d0c8e7b6a41 --connection cortex-sandbox";

#[derive(Clone, Debug, clap::Args)]
pub struct DiscoverArgs {
    /// The tenant (directory) id the Azure credentials sign in to.
    #[arg(long, value_name = "TENANT_ID")]
    pub tenant: String,
    /// List only the subscriptions not covered (not onboarded, or disabled/failing).
    #[arg(long)]
    pub not_covered: bool,
    /// Join with this connection's accounts instead of the default Prisma Cloud connection's:
    /// a saved Prisma Cloud or Cortex Cloud connection (`cortex-sandbox` with --sandbox).
    #[arg(long, value_name = "NAME")]
    pub connection: Option<String>,
}

pub async fn run(global: &GlobalArgs, out: &Out, args: DiscoverArgs) -> Result<Exit, CliError> {
    let tenant = TenantId::parse_as("tenant", &args.tenant)
        .map_err(|e| CliError::new(Exit::Usage, "invalid_tenant", e.to_string()))?;
    let azure = AzureTarget::open(global.sandbox)
        .await
        .map_err(|(reason, fix)| {
            CliError::new(
                Exit::Failed,
                "azure_unavailable",
                format!("{reason} ({fix})"),
            )
        })?;
    let view = match args.connection.as_deref() {
        Some(name) => {
            let session = Session::open(global).await?;
            let read = coverage::read_for(
                &session.engine,
                &azure.env,
                &azure.endpoints,
                Some(name),
                Some(&tenant.to_string()),
            )
            .await
            .map_err(cli_error);
            session.close().await?;
            read?
        }
        None => {
            let prisma = Prisma::connect(global).await?;
            let read = match prisma.client() {
                Ok(client) => coverage::read(
                    &azure.env,
                    &azure.endpoints,
                    PlatformSource::Prisma(&client),
                    Some(&tenant.to_string()),
                )
                .await
                .map_err(cli_error),
                Err(e) => Err(e),
            };
            let closed = prisma.close().await;
            let view = read?;
            closed?;
            view
        }
    };
    if out.json() {
        let view = if args.not_covered {
            view.only_not_covered()
        } else {
            view
        };
        let mut line = serde_json::to_value(&view).unwrap_or_default();
        line["type"] = "discover".into();
        out.json_line(&line);
    } else {
        print_table(out, &view, args.not_covered);
    }
    Ok(Exit::Success)
}

fn cli_error(e: CoverageError) -> CliError {
    match e {
        CoverageError::Credentials { reason, fix } => CliError::new(
            Exit::Failed,
            "azure_credentials",
            format!("{reason} (fix: {fix})"),
        ),
        CoverageError::Endpoints(m) => CliError::new(Exit::Usage, "azure_endpoint", m),
        CoverageError::Discovery(d) if d.kind == DiscoveryFailure::WrongTenant => {
            CliError::new(Exit::Usage, "discovery", d.to_string())
        }
        CoverageError::Discovery(d) => CliError::new(Exit::Failed, "discovery", d.to_string()),
        CoverageError::Platform(e) => CliError::from(e),
        CoverageError::Cortex(e) => CliError::failed(format!("cortex_{}", e.code()), e.to_string()),
        CoverageError::Connection(e) => match *e {
            EngineError::UnknownConnection { name } => CliError::new(
                Exit::Usage,
                "unknown_connection",
                format!(
                    "--connection: no connection is named `{name}` (`azure-cortex connections list` shows them)"
                ),
            ),
            other => other.into(),
        },
    }
}

fn print_table(out: &Out, report: &CoverageView, not_covered: bool) {
    let t = &report.totals;
    out.line(&format!(
        "tenant {}: {} subscriptions: {} own account, {} covered, {} onboarded but not working, {} not onboarded",
        report.tenant_id, t.subscriptions, t.own_account, t.covered, t.not_working, t.not_onboarded
    ));
    for g in &report.groups {
        let c = &g.counts;
        out.line(&format!(
            "{}{} ({})  {} subs: {} own, {} covered, {} not working, {} not onboarded",
            "  ".repeat(g.depth),
            g.group.display_name,
            g.group.id,
            c.subscriptions,
            c.own_account,
            c.covered,
            c.not_working,
            c.not_onboarded
        ));
        for s in report.subscriptions.iter().filter(|s| {
            s.coverage
                .subscription
                .management_group
                .eq_ignore_ascii_case(&g.group.id)
        }) {
            if not_covered && !s.not_covered() {
                continue;
            }
            let s = &s.coverage;
            out.line(&format!(
                "{}- {:<22} {}  {:<8}  {}",
                "  ".repeat(g.depth + 1),
                s.subscription.display_name,
                s.subscription.id,
                s.subscription.state,
                s.coverage.words()
            ));
        }
    }
}
