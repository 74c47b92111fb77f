//! Which of a tenant's subscriptions a platform covers: the tenant as the Azure credentials
//! see it (`azure_access::discovery`) joined with the platform's accounts
//! (`azure_access::coverage`). One implementation behind `azure-cortex discover` and
//! `GET /api/v1/coverage` (and the Coverage page), so the two always agree; [`CoverageView`] is
//! the JSON both print (`schemas/coverage.schema.json` of the CLI).
//!
//! The platform side ([`PlatformSource`]): Prisma Cloud's Azure cloud accounts (a subscription
//! or a tenant account), or Cortex Cloud's Azure integration instances. An instance stands for
//! its scope — the tenant (`ORGANIZATION`, `account_details.organization_id`), a management
//! group (`ACCOUNT_GROUP`, `account_details.account_group`) or one subscription (`ACCOUNT`,
//! `account_details.account_id`) — with its include/exclude list of subscriptions
//! (`scope_modifications.subscriptions`). A pending instance (its template not run yet) and a
//! deleted one cover nothing; a disabled one is onboarded but disabled; one in error is failing.

use azure_access::coverage::{
    self, AccountScope, Coverage, CoverageReport, PlatformAccount, SubscriptionFilter,
};
use azure_access::discovery::{DiscoveryError, DiscoveryFailure};
use azure_access::{Endpoints, Env};
use cortex_cloud_client::CortexClient;
use cortex_cloud_types::enums::{InstanceStatus, ModificationType};
use cortex_cloud_types::filter::{FilterData, FilterNode};
use cortex_cloud_types::wire::InstanceRow;
use prisma_client::PrismaClient;
use serde::Serialize;

/// Where the accounts of a coverage view come from.
#[derive(Clone, Copy)]
pub enum PlatformSource<'a> {
    Prisma(&'a PrismaClient),
    /// A Cortex Cloud tenant; `connection` is the connection's name (shown and linked).
    Cortex {
        client: &'a CortexClient,
        connection: &'a str,
    },
}

/// What `discover --output json` (with `"type": "discover"`) and `GET /api/v1/coverage` answer.
#[derive(Clone, Debug, Serialize)]
pub struct CoverageView {
    pub tenant_id: String,
    /// Who the Azure credentials are (the principal's display name).
    pub principal: String,
    /// The platform the accounts come from: `prisma` or `cortex`.
    pub platform: &'static str,
    /// The Cortex Cloud connection the instances were read through (absent for Prisma Cloud:
    /// the engine's own connection).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
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
        Self::of_platform(report, principal, names, "prisma", None)
    }

    fn of_platform(
        report: CoverageReport,
        principal: String,
        names: &[(String, String)],
        platform: &'static str,
        connection: Option<String>,
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
            platform,
            connection,
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
    /// Cortex Cloud's instance list failed.
    #[error(transparent)]
    Cortex(#[from] cortex_cloud_client::Error),
    /// The connection named is unknown or unreadable.
    #[error(transparent)]
    Connection(Box<crate::EngineError>),
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
            subscriptions: SubscriptionFilter::All,
        })
        .collect();
    let names = azure
        .iter()
        .map(|a| (a.account_id.clone(), a.name.clone()))
        .collect();
    (accounts, names)
}

/// Cortex Cloud's Azure instances in platform-neutral terms (see the module docs), with their
/// names (an instance without a name is named by its id).
pub fn cortex_accounts(rows: &[InstanceRow]) -> (Vec<PlatformAccount>, Vec<(String, String)>) {
    let mut accounts = Vec::new();
    let mut names = Vec::new();
    for row in rows
        .iter()
        .filter(|r| r.cloud_provider.is_empty() || r.cloud_provider.eq_ignore_ascii_case("azure"))
    {
        if matches!(
            row.status,
            InstanceStatus::Pending | InstanceStatus::Deleted
        ) {
            continue;
        }
        let details = &row.account_details;
        let (scope, id) = match row.scope.to_ascii_uppercase().as_str() {
            "ORGANIZATION" => (AccountScope::Tenant, &details.organization_id),
            "ACCOUNT_GROUP" => (AccountScope::ManagementGroup, &details.account_group),
            "ACCOUNT" => (AccountScope::Subscription, &details.account_id),
            _ => continue,
        };
        if id.is_empty() {
            continue;
        }
        let subscriptions = match &row.scope_modifications.subscriptions {
            Some(m) if m.enabled && scope != AccountScope::Subscription => {
                let ids = m.subscription_ids.clone().unwrap_or_default();
                match m.kind {
                    Some(ModificationType::Exclude) => SubscriptionFilter::Except(ids),
                    _ => SubscriptionFilter::Only(ids),
                }
            }
            _ => SubscriptionFilter::All,
        };
        accounts.push(PlatformAccount {
            id: id.clone(),
            scope,
            enabled: row.status != InstanceStatus::Disabled,
            failing: row.status == InstanceStatus::Error,
            subscriptions,
        });
        let name = if row.instance_name.is_empty() {
            row.instance_id.clone()
        } else {
            row.instance_name.clone()
        };
        names.push((id.clone(), name));
    }
    (accounts, names)
}

/// Reads `tenant` (the credentials' own when `None`) from Azure with `env`/`endpoints` and
/// joins it with the accounts of `platform`.
pub async fn read(
    env: &Env,
    endpoints: &Endpoints,
    platform: PlatformSource<'_>,
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
    let principal = session.identity.principal_name.clone();
    Ok(match platform {
        PlatformSource::Prisma(client) => {
            let listed = client.list_accounts().await?;
            let (accounts, names) = platform_accounts(&listed);
            CoverageView::of_platform(
                coverage::join(&tree, &accounts),
                principal,
                &names,
                "prisma",
                None,
            )
        }
        PlatformSource::Cortex { client, connection } => {
            let filter = FilterData::new().all(vec![FilterNode::eq("CLOUD_PROVIDER", "AZURE")]);
            let rows = client.all_instances(&filter).await?;
            let (accounts, names) = cortex_accounts(&rows);
            CoverageView::of_platform(
                coverage::join(&tree, &accounts),
                principal,
                &names,
                "cortex",
                Some(connection.to_owned()),
            )
        }
    })
}

/// [`read`] for the connection named `connection` of `engine`: the engine's own Prisma Cloud
/// connection when `None` or `default`, else a saved Prisma Cloud connection or a Cortex Cloud
/// one (the sandbox's `cortex-sandbox` included). An unknown name is
/// [`CoverageError::Connection`] with [`crate::EngineError::UnknownConnection`].
pub async fn read_for(
    engine: &crate::Engine,
    env: &Env,
    endpoints: &Endpoints,
    connection: Option<&str>,
    tenant: Option<&str>,
) -> Result<CoverageView, CoverageError> {
    let boxed = |e: crate::EngineError| CoverageError::Connection(Box::new(e));
    let name = connection
        .map(str::trim)
        .filter(|n| !n.is_empty() && *n != crate::connections::DEFAULT_CONNECTION);
    let Some(name) = name else {
        return read(
            env,
            endpoints,
            PlatformSource::Prisma(engine.client()),
            tenant,
        )
        .await;
    };
    match engine.cortex_connection(name).await {
        Ok(cortex) => {
            let client = CortexClient::new(crate::connections::cortex::interactive_config(
                &cortex,
                engine.extra_ca_pem(),
            ))?;
            let source = PlatformSource::Cortex {
                client: &client,
                connection: name,
            };
            read(env, endpoints, source, tenant).await
        }
        Err(crate::EngineError::WrongPlatform { .. }) => {
            let parsed =
                crate::connections::ConnectionName::parse_as("connection", name).map_err(|_| {
                    boxed(crate::EngineError::UnknownConnection {
                        name: name.to_owned(),
                    })
                })?;
            let client = engine.prisma_client(Some(&parsed)).await.map_err(boxed)?;
            read(env, endpoints, PlatformSource::Prisma(&client), tenant).await
        }
        Err(e) => Err(boxed(e)),
    }
}
