//! `azure-cortex discover --tenant T`: the tenant's management-group tree with its
//! subscriptions (name, id, state) as the Azure credentials see it, each joined with the
//! Prisma Cloud accounts (own account, covered by a tenant account, onboarded but disabled or
//! failing, not onboarded), with counts per group. `--output json` prints one object
//! (`docs/cli.md`, "discover").

use azure_access::coverage::{self, AccountScope, Coverage, CoverageReport, PlatformAccount};
use prisma_types::TenantId;

use crate::GlobalArgs;
use crate::azure::AzureTarget;
use crate::exit::{CliError, Exit};
use crate::output::Out;
use crate::session::Prisma;

pub const EXAMPLES: &str = "\
Examples:
  azure-cortex discover --tenant 3f6e2a10-7c4d-4b8e-9a21-5d0c8e7b6a41
  azure-cortex --sandbox discover --tenant 3f6e2a10-7c4d-4b8e-9a21-5d0c8e7b6a41 --output json
  azure-cortex discover --tenant T --not-covered    # only what still needs onboarding";

#[derive(Clone, Debug, clap::Args)]
pub struct DiscoverArgs {
    /// The tenant (directory) id the Azure credentials sign in to.
    #[arg(long, value_name = "TENANT_ID")]
    pub tenant: String,
    /// List only the subscriptions not covered (not onboarded, or disabled/failing).
    #[arg(long)]
    pub not_covered: bool,
}

/// Prisma Cloud's accounts in platform-neutral terms.
fn platform_accounts(list: &[prisma_types::wire::CloudAccountListItem]) -> Vec<PlatformAccount> {
    list.iter()
        .filter(|a| a.cloud_type.eq_ignore_ascii_case("azure"))
        .map(|a| PlatformAccount {
            id: a.account_id.clone(),
            scope: if a.account_type.eq_ignore_ascii_case("tenant") {
                AccountScope::Tenant
            } else {
                AccountScope::Subscription
            },
            enabled: a.enabled,
            failing: a.status.eq_ignore_ascii_case("error"),
        })
        .collect()
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
    let session = azure_access::credentials::check(&azure.env, &azure.endpoints)
        .await
        .map_err(|e| {
            CliError::new(
                Exit::Failed,
                "azure_credentials",
                format!("{} (fix: {})", e.reason, e.fix),
            )
        })?;
    let tree = azure_access::discovery::discover(&session, &tenant.to_string())
        .await
        .map_err(|e| CliError::new(Exit::Usage, "discovery", e.to_string()))?;
    let prisma = Prisma::connect(global).await?;
    let listed = match prisma.client() {
        Ok(client) => client.list_accounts().await.map_err(CliError::from),
        Err(e) => Err(e),
    };
    let closed = prisma.close().await;
    let listed = listed?;
    closed?;
    let report = coverage::join(&tree, &platform_accounts(&listed));
    if out.json() {
        out.json_line(&serde_json::json!({
            "type": "discover",
            "tenant_id": report.tenant_id,
            "principal": session.identity.principal_name,
            "totals": report.totals,
            "groups": report.groups,
            "subscriptions": report.subscriptions.iter()
                .filter(|s| !args.not_covered || matches!(s.coverage, Coverage::NotOnboarded | Coverage::NotWorking { .. }))
                .collect::<Vec<_>>(),
        }));
    } else {
        print_table(out, &report, args.not_covered);
    }
    Ok(Exit::Success)
}

fn print_table(out: &Out, report: &CoverageReport, not_covered: bool) {
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
            s.subscription
                .management_group
                .eq_ignore_ascii_case(&g.group.id)
        }) {
            if not_covered
                && !matches!(
                    s.coverage,
                    Coverage::NotOnboarded | Coverage::NotWorking { .. }
                )
            {
                continue;
            }
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
