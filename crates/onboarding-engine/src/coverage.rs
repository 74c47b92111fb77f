//! Which of a tenant's subscriptions Prisma Cloud covers: the tenant as the Azure credentials
//! see it (`azure_access::discovery`) joined with the platform's accounts
//! (`azure_access::coverage`). One implementation behind `azure-cortex discover` and
//! `GET /api/v1/coverage` (and the Coverage page), so the two always agree; [`CoverageView`] is
//! the JSON both print (`schemas/coverage.schema.json` of the CLI).

use azure_access::coverage::{self, AccountScope, Coverage, CoverageReport, PlatformAccount};
use azure_access::discovery::{DiscoveryError, DiscoveryFailure};
use azure_access::{Endpoints, Env};
use prisma_client::PrismaClient;
use serde::Serialize;

/// What `discover --output json` (with `"type": "discover"`) and `GET /api/v1/coverage` answer.
#[derive(Clone, Debug, Serialize)]
pub struct CoverageView {
    pub tenant_id: String,
    /// Who the Azure credentials are (the principal's display name).
    pub principal: String,
    /// The platform the accounts come from: `prisma`.
    pub platform: &'static str,
    pub totals: coverage::Counts,
    pub groups: Vec<coverage::GroupCoverage>,
    pub subscriptions: Vec<SubscriptionRow>,
}

/// A subscription, its coverage and the name of its own account (when it has one).
#[derive(Clone, Debug, Serialize)]
pub struct SubscriptionRow {
    #[serde(flatten)]
    pub coverage: coverage::SubscriptionCoverage,
    pub account_name: Option<String>,
}

impl SubscriptionRow {
    /// Not onboarded, or onboarded but disabled or failing.
    pub fn not_covered(&self) -> bool {
        matches!(
            self.coverage.coverage,
            Coverage::NotOnboarded | Coverage::NotWorking { .. }
        )
    }
}

impl CoverageView {
    pub fn from_report(
        report: CoverageReport,
        principal: String,
        names: &[(String, String)],
    ) -> Self {
        let subscriptions = report
            .subscriptions
            .into_iter()
            .map(|s| SubscriptionRow {
                account_name: names
                    .iter()
                    .find(|(id, _)| id.eq_ignore_ascii_case(&s.subscription.id))
                    .map(|(_, name)| name.clone()),
                coverage: s,
            })
            .collect();
        Self {
            tenant_id: report.tenant_id,
            principal,
            platform: "prisma",
            totals: report.totals,
            groups: report.groups,
            subscriptions,
        }
    }

    /// Only the subscriptions not covered (the groups and counts stay whole).
    pub fn only_not_covered(mut self) -> Self {
        self.subscriptions.retain(SubscriptionRow::not_covered);
        self
    }
}

/// Why coverage could not be read: each a sentence with the fix.
#[derive(Debug, thiserror::Error)]
pub enum CoverageError {
    /// An Azure endpoint variable is not a URL.
    #[error("{0}")]
    Endpoints(String),
    /// The Azure credentials yield no token.
    #[error("Azure credentials: {reason} (fix: {fix})")]
    Credentials { reason: String, fix: String },
    #[error("{0}")]
    Discovery(DiscoveryError),
    /// Prisma Cloud's account list failed.
    #[error(transparent)]
    Platform(#[from] prisma_client::Error),
}

impl CoverageError {
    /// The failure of discovery, when that is what failed.
    pub fn discovery_failure(&self) -> Option<DiscoveryFailure> {
        match self {
            CoverageError::Discovery(e) => Some(e.kind),
            _ => None,
        }
    }
}

/// Prisma Cloud's Azure accounts in platform-neutral terms, with their names.
pub fn platform_accounts(
    list: &[prisma_types::wire::CloudAccountListItem],
) -> (Vec<PlatformAccount>, Vec<(String, String)>) {
    let azure: Vec<_> = list
        .iter()
        .filter(|a| a.cloud_type.eq_ignore_ascii_case("azure"))
        .collect();
    let accounts = azure
        .iter()
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
        .collect();
    let names = azure
        .iter()
        .map(|a| (a.account_id.clone(), a.name.clone()))
        .collect();
    (accounts, names)
}

/// Reads `tenant` (the credentials' own when `None`) from Azure with `env`/`endpoints` and
/// joins it with `client`'s accounts.
pub async fn read(
    env: &Env,
    endpoints: &Endpoints,
    client: &PrismaClient,
    tenant: Option<&str>,
) -> Result<CoverageView, CoverageError> {
    let session = azure_access::credentials::check(env, endpoints)
        .await
        .map_err(|e| CoverageError::Credentials {
            reason: e.reason,
            fix: e.fix,
        })?;
    let tenant = tenant
        .map(str::to_owned)
        .unwrap_or_else(|| session.identity.tenant_id.clone());
    let tree = azure_access::discovery::discover(&session, &tenant)
        .await
        .map_err(CoverageError::Discovery)?;
    let listed = client.list_accounts().await?;
    let (accounts, names) = platform_accounts(&listed);
    Ok(CoverageView::from_report(
        coverage::join(&tree, &accounts),
        session.identity.principal_name.clone(),
        &names,
    ))
}
