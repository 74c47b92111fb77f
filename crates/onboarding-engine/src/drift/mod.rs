//! Drift: the accounts the product manages, the configuration it keeps them at (their *desired
//! state*), how the platform's current configuration differs, and the two ways to mend it.
//!
//! * **Managed accounts** ([`managed_accounts`]): every account a succeeded onboarding job
//!   registered (its desired state is what that job set: enabled, features, account groups,
//!   flow logs, a tenant's management-group/subscription filters — [`AccountConfig`]), and
//!   every account *adopted* from elsewhere ([`adopt`]: its desired state is what it had when
//!   adopted). *Adopt current* ([`adopt_current`]) makes the current configuration the new
//!   desired state (stored in `desired_states`, audited).
//! * **Checks** ([`check`]): `GET /v1/cloudAccounts/azureAccounts/{id}` against the desired
//!   state, field by field (desired → current). The health watch checks every managed account
//!   in its round (once across replicas: the round's lease), and a new finding is an audit
//!   entry (`drift.found`) and a `drift_found` notification through the configured sinks.
//! * **Reconcile** ([`submit_reconcile`], `reconcile.rs`): a job (`reconcile_account`) that
//!   reviews what it will change (the approval gate, when asked), puts the desired
//!   configuration back with an update that re-sends the masked key (no secret needed), and
//!   verifies the platform shows it.
//! * **Lifecycle** ([`lifecycle`]): an adopted account has no Terraform state here, so secret
//!   rotation and identity destroy are unavailable for it, with a machine-readable reason.

pub mod config;
mod reconcile;

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use cortex_store::{
    AuditEntry, DesiredStateRecord, DriftFinding, JobId, JobState, NewJob, NewNotification,
};

pub use config::{AccountConfig, Difference, ScopeFilter, fingerprint};
pub use reconcile::ReconcileRequest;
pub(crate) use reconcile::run as run_reconcile;

use crate::connections::{ConnectionName, DEFAULT_CONNECTION};
use crate::engine::Engine;
use crate::error::EngineError;
use crate::job::ResolveOut;
use crate::request::OnboardingRequest;
use crate::watch::{HealthWatch, prisma_key};

/// The job kind of a reconcile.
pub const RECONCILE_KIND: &str = "reconcile_account";

/// Why secret rotation and identity destroy are unavailable for an adopted account (the
/// `code` of [`Unavailable`]).
pub const NO_TERRAFORM_STATE: &str = "adopted_without_terraform_state";

/// Where a managed account came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The product onboarded it.
    Onboarded,
    /// Onboarded elsewhere, adopted into management.
    Adopted,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Onboarded => "onboarded",
            Origin::Adopted => "adopted",
        }
    }
}

/// A lifecycle action that is not available, and why (machine-readable `code`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unavailable {
    pub code: &'static str,
    pub message: String,
}

/// What can be done to a managed account beyond drift.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Lifecycle {
    pub rotate_secret: bool,
    pub destroy_identity: bool,
    /// Set when either is unavailable.
    pub unavailable: Option<Unavailable>,
}

/// An account the product manages, with the configuration it keeps it at.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ManagedAccount {
    /// `prisma:<connection>:<account id>` (the health watch's key).
    pub key: String,
    pub platform: &'static str,
    /// The connection's name (`default` for the engine's own).
    pub connection: String,
    pub account_id: String,
    pub account_name: String,
    pub origin: Origin,
    /// The onboarding job (onboarded accounts).
    pub job_id: Option<String>,
    pub desired: AccountConfig,
    /// `onboarding` (the job's request), `adoption` or `adopt_current`.
    pub desired_source: String,
    pub lifecycle: Lifecycle,
}

impl ManagedAccount {
    fn connection_name(&self) -> Result<Option<ConnectionName>, EngineError> {
        if self.connection == DEFAULT_CONNECTION {
            return Ok(None);
        }
        ConnectionName::parse(&self.connection)
            .map(Some)
            .map_err(|e| EngineError::Workspace(format!("stored connection name: {e}")))
    }
}

/// One account's comparison.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DriftReport {
    pub account_key: String,
    pub account_id: String,
    pub account_name: String,
    pub origin: Origin,
    pub checked_at: String,
    pub desired: AccountConfig,
    /// `None` when the platform could not be read (`error` says why).
    pub current: Option<AccountConfig>,
    pub differences: Vec<Difference>,
    pub drifted: bool,
    pub error: Option<String>,
}

/// The reason rotation and destroy are unavailable for an account of `origin`, if they are.
pub fn lifecycle(origin: Origin) -> Lifecycle {
    match origin {
        Origin::Onboarded => Lifecycle {
            rotate_secret: true,
            destroy_identity: true,
            unavailable: None,
        },
        Origin::Adopted => Lifecycle {
            rotate_secret: false,
            destroy_identity: false,
            unavailable: Some(Unavailable {
                code: NO_TERRAFORM_STATE,
                message: "this account was onboarded elsewhere and adopted: azure-cortex has no \
                          Terraform state for its Azure identity, so it cannot rotate the \
                          client secret or destroy the identity (rotate it where it was \
                          created, then update the account)"
                    .to_owned(),
            }),
        },
    }
}

/// The group IDs a job's `resolve` step found (its checkpoint).
async fn resolved_groups(engine: &Engine, job: JobId) -> Result<Vec<String>, EngineError> {
    let steps = engine.store().steps(job).await?;
    Ok(steps
        .into_iter()
        .find(|s| s.name == "resolve" && s.state == "succeeded")
        .and_then(|s| s.output)
        .and_then(|o| serde_json::from_value::<ResolveOut>(o).ok())
        .map(|r| r.group_ids)
        .unwrap_or_default())
}

/// Every managed account, by name: the onboarded ones (the newest succeeded job per account)
/// and the adopted ones.
pub async fn managed_accounts(engine: &Engine) -> Result<Vec<ManagedAccount>, EngineError> {
    let store = engine.store();
    let overrides = store.desired_states().await?;
    let mut accounts: Vec<ManagedAccount> = Vec::new();
    for job in store.list_jobs(None, u32::MAX).await? {
        if job.state != JobState::Succeeded || !job.kind.starts_with("onboard_") {
            continue;
        }
        let (Ok(request), Some(account_id)) = (
            serde_json::from_value::<OnboardingRequest>(job.request.clone()),
            job.result.as_ref().and_then(|r| r["account_id"].as_str()),
        ) else {
            continue;
        };
        let key = prisma_key(request.connection.as_ref(), account_id);
        // Newest first: the first job seen for an account is its latest onboarding.
        if accounts.iter().any(|a| a.key == key) {
            continue;
        }
        let job_id = job.id.to_string();
        let adopted_current = overrides.iter().find(|o| {
            o.account_key == key
                && o.origin == "onboarded"
                && o.job_id.as_deref() == Some(job_id.as_str())
        });
        let (desired, desired_source) = match adopted_current
            .and_then(|o| serde_json::from_value::<AccountConfig>(o.desired.clone()).ok())
        {
            Some(desired) => (desired, "adopt_current".to_owned()),
            None => (
                AccountConfig::from_request(&request, &resolved_groups(engine, job.id).await?),
                "onboarding".to_owned(),
            ),
        };
        accounts.push(ManagedAccount {
            key,
            platform: "prisma",
            connection: request
                .connection
                .as_ref()
                .map_or(DEFAULT_CONNECTION, |c| c.as_str())
                .to_owned(),
            account_id: account_id.to_owned(),
            account_name: request.name.as_str().to_owned(),
            origin: Origin::Onboarded,
            job_id: Some(job_id),
            desired,
            desired_source,
            lifecycle: lifecycle(Origin::Onboarded),
        });
    }
    for o in overrides.iter().filter(|o| o.origin == "adopted") {
        // An adopted account the product onboarded since is an onboarded one.
        if accounts.iter().any(|a| a.key == o.account_key) {
            continue;
        }
        let Ok(desired) = serde_json::from_value::<AccountConfig>(o.desired.clone()) else {
            tracing::warn!(account = %o.account_key, "stored desired state unreadable; skipped");
            continue;
        };
        accounts.push(ManagedAccount {
            key: o.account_key.clone(),
            platform: "prisma",
            connection: o
                .connection
                .clone()
                .unwrap_or_else(|| DEFAULT_CONNECTION.to_owned()),
            account_id: o.account_id.clone(),
            account_name: o.account_name.clone(),
            origin: Origin::Adopted,
            job_id: None,
            desired,
            desired_source: o.source.clone(),
            lifecycle: lifecycle(Origin::Adopted),
        });
    }
    accounts.sort_by(|a, b| a.account_name.cmp(&b.account_name).then(a.key.cmp(&b.key)));
    Ok(accounts)
}

/// The managed account with this platform ID (under `connection`, or any when `None`).
pub async fn managed_account(
    engine: &Engine,
    account_id: &str,
    connection: Option<&str>,
) -> Result<ManagedAccount, EngineError> {
    let id = account_id.trim();
    managed_accounts(engine)
        .await?
        .into_iter()
        .find(|a| {
            a.account_id.eq_ignore_ascii_case(id) && connection.is_none_or(|c| a.connection == c)
        })
        .ok_or_else(|| EngineError::NotManaged {
            account_id: id.to_owned(),
        })
}

/// Why rotation and destroy are unavailable for the platform account `account_id`, if they
/// are (an adopted account); `None` for an account the product onboarded or does not manage.
pub async fn lifecycle_block(
    engine: &Engine,
    account_id: &str,
) -> Result<Option<Unavailable>, EngineError> {
    Ok(match managed_account(engine, account_id, None).await {
        Ok(a) => a.lifecycle.unavailable,
        Err(EngineError::NotManaged { .. }) => None,
        Err(e) => return Err(e),
    })
}

/// The platform's current configuration of `account`; `None` if it no longer exists there.
pub(crate) async fn read_current(
    inner: &crate::engine::EngineInner,
    connection: Option<&ConnectionName>,
    account_id: &str,
) -> Result<Option<prisma_types::wire::AzureAccountView>, EngineError> {
    let client = inner.client_for(connection).await?;
    Ok(client.get_azure_account(account_id).await?)
}

fn millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Compares one managed account with the platform now, records the finding, and — when the
/// drift is new (another fingerprint than the last finding's) — audits it (`drift.found`) and
/// sends a `drift_found` notification through `watch`'s sinks.
pub async fn check(
    watch: &HealthWatch,
    account: &ManagedAccount,
) -> Result<DriftReport, EngineError> {
    let engine = watch.engine();
    let now = watch.now();
    let (current, error) = match read_current(
        engine.inner(),
        account.connection_name()?.as_ref(),
        &account.account_id,
    )
    .await
    {
        Ok(Some(view)) => (Some(AccountConfig::from_view(&view)), None),
        Ok(None) => (
            None,
            Some(format!(
                "account {} no longer exists in Prisma Cloud",
                account.account_id
            )),
        ),
        Err(e) => (None, Some(e.to_string())),
    };
    let differences = current
        .as_ref()
        .map(|c| account.desired.differences(c))
        .unwrap_or_default();
    let print = fingerprint(&differences);
    let finding = DriftFinding {
        account_key: account.key.clone(),
        account_id: account.account_id.clone(),
        account_name: account.account_name.clone(),
        checked_at_ms: millis(now),
        fingerprint: print.clone(),
        differences: serde_json::to_value(&differences).unwrap_or_default(),
        error: error.clone(),
    };
    // A failed read keeps the last finding's verdict (nothing new is known).
    if error.is_none() {
        let previous = engine.store().put_drift_finding(&finding).await?;
        if !print.is_empty() && previous.as_deref() != Some(print.as_str()) {
            found(watch, account, &differences, now).await?;
        }
    }
    Ok(DriftReport {
        account_key: account.key.clone(),
        account_id: account.account_id.clone(),
        account_name: account.account_name.clone(),
        origin: account.origin,
        checked_at: rfc3339(now),
        desired: account.desired.clone(),
        current,
        drifted: !differences.is_empty(),
        differences,
        error,
    })
}

/// A new drift: the audit entry and the notification (once per finding).
async fn found(
    watch: &HealthWatch,
    account: &ManagedAccount,
    differences: &[Difference],
    now: OffsetDateTime,
) -> Result<(), EngineError> {
    let words: Vec<String> = differences.iter().map(Difference::words).collect();
    audit(
        watch.engine(),
        crate::watch::WATCH_ACTOR,
        "drift.found",
        &account.account_name,
        json!({"account_id": account.account_id, "differences": differences}),
    )
    .await;
    let note = NewNotification {
        dedupe_key: format!(
            "drift_found:{}:{}:{}",
            account.key,
            fingerprint(differences),
            millis(now)
        ),
        kind: "drift_found".to_owned(),
        account_key: Some(account.key.clone()),
        payload: json!({
            "kind": "drift_found",
            "summary": format!(
                "{}: configuration drifted from what azure-cortex set ({})",
                account.account_name,
                words.join("; ")
            ),
            "at": rfc3339(now),
            "account": {
                "platform": account.platform,
                "account_id": account.account_id,
                "name": account.account_name,
                "job_id": account.job_id.clone().unwrap_or_default(),
            },
            "differences": differences,
        }),
        created_at_ms: millis(now),
    };
    watch.send(note).await?;
    Ok(())
}

/// Checks every managed account now (on demand).
pub async fn check_all(watch: &HealthWatch) -> Result<Vec<DriftReport>, EngineError> {
    let mut reports = Vec::new();
    for account in managed_accounts(watch.engine()).await? {
        reports.push(check(watch, &account).await?);
    }
    Ok(reports)
}

/// The drift the last checks recorded (watch or on demand), by account name.
pub async fn recorded(engine: &Engine) -> Result<Vec<DriftFinding>, EngineError> {
    Ok(engine.store().drift_findings().await?)
}

async fn audit(
    engine: &Engine,
    actor: &str,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) {
    let entry = AuditEntry {
        actor: actor.to_owned(),
        action: action.to_owned(),
        target: target.to_owned(),
        detail,
        prisma_request_ids: Vec::new(),
    };
    if let Err(e) = engine.store().audit(&entry).await {
        tracing::warn!(error = %e, action, "audit entry not written");
    }
}

fn desired_record(
    account: &ManagedAccount,
    desired: &AccountConfig,
    source: &str,
    actor: &str,
    now: OffsetDateTime,
) -> DesiredStateRecord {
    DesiredStateRecord {
        account_key: account.key.clone(),
        platform: account.platform.to_owned(),
        connection: (account.connection != DEFAULT_CONNECTION).then(|| account.connection.clone()),
        account_id: account.account_id.clone(),
        account_name: account.account_name.clone(),
        origin: account.origin.as_str().to_owned(),
        job_id: account.job_id.clone(),
        source: source.to_owned(),
        desired: serde_json::to_value(desired).unwrap_or_default(),
        updated_at_ms: millis(now),
        updated_by: actor.to_owned(),
    }
}

/// *Adopt current*: the platform's current configuration becomes the account's desired state
/// (audited `drift.adopted_current` with what changed); the drift is cleared.
pub async fn adopt_current(
    watch: &HealthWatch,
    account_id: &str,
    connection: Option<&str>,
    actor: &str,
) -> Result<DriftReport, EngineError> {
    let engine = watch.engine();
    let account = managed_account(engine, account_id, connection).await?;
    let view = read_current(
        engine.inner(),
        account.connection_name()?.as_ref(),
        &account.account_id,
    )
    .await?
    .ok_or_else(|| EngineError::PlatformAccountMissing {
        account_id: account.account_id.clone(),
    })?;
    let current = AccountConfig::from_view(&view);
    let before = account.desired.differences(&current);
    let now = watch.now();
    engine
        .store()
        .put_desired_state(&desired_record(
            &account,
            &current,
            "adopt_current",
            actor,
            now,
        ))
        .await?;
    audit(
        engine,
        actor,
        "drift.adopted_current",
        &account.account_name,
        json!({"account_id": account.account_id, "previous_differences": before}),
    )
    .await;
    let account = ManagedAccount {
        desired: current,
        desired_source: "adopt_current".to_owned(),
        ..account
    };
    check(watch, &account).await
}

/// A platform account the product does not manage (yet).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AdoptableAccount {
    pub account_id: String,
    pub name: String,
    /// `account` (a subscription) or `tenant`.
    pub account_type: String,
    pub enabled: bool,
    pub connection: String,
}

fn connection_arg(connection: Option<&str>) -> Result<Option<ConnectionName>, EngineError> {
    match connection.map(str::trim) {
        None | Some("") | Some(DEFAULT_CONNECTION) => Ok(None),
        Some(name) => ConnectionName::parse(name).map(Some).map_err(|e| {
            EngineError::Invalid(crate::request::RequestErrors {
                errors: vec![crate::request::FieldError {
                    field: "connection".into(),
                    message: e.to_string(),
                }],
            })
        }),
    }
}

/// The connection's Azure accounts that no one manages here: top-level ones (a tenant's
/// children come with their tenant), not onboarded by the product, not adopted.
pub async fn adoptable(
    engine: &Engine,
    connection: Option<&str>,
) -> Result<Vec<AdoptableAccount>, EngineError> {
    let connection = connection_arg(connection)?;
    let client = engine.inner().client_for(connection.as_ref()).await?;
    let managed = managed_accounts(engine).await?;
    let name = connection
        .as_ref()
        .map_or(DEFAULT_CONNECTION, |c| c.as_str())
        .to_owned();
    let mut out: Vec<AdoptableAccount> = client
        .list_accounts()
        .await?
        .into_iter()
        .filter(|a| a.cloud_type.eq_ignore_ascii_case("azure") && a.parent_account_id.is_none())
        .filter(|a| {
            !managed
                .iter()
                .any(|m| m.connection == name && m.account_id.eq_ignore_ascii_case(&a.account_id))
        })
        .map(|a| AdoptableAccount {
            account_id: a.account_id,
            name: a.name,
            account_type: a.account_type.to_ascii_lowercase(),
            enabled: a.enabled,
            connection: name.clone(),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name).then(a.account_id.cmp(&b.account_id)));
    Ok(out)
}

/// Adopts platform accounts into management: each one's current configuration becomes its
/// desired state (audited `account.adopted`); from now on the health watch and drift check
/// it. An account already managed is [`EngineError::AlreadyManaged`]; one the platform does
/// not have is [`EngineError::PlatformAccountMissing`]; nothing is adopted then.
pub async fn adopt(
    watch: &HealthWatch,
    account_ids: &[String],
    connection: Option<&str>,
    actor: &str,
) -> Result<Vec<ManagedAccount>, EngineError> {
    let engine = watch.engine();
    let connection = connection_arg(connection)?;
    let managed = managed_accounts(engine).await?;
    let mut records: Vec<(ManagedAccount, DesiredStateRecord)> = Vec::new();
    for raw in account_ids {
        let id = prisma_types::TenantId::parse(raw.trim())
            .map_err(|_| {
                EngineError::Invalid(crate::request::RequestErrors {
                    errors: vec![crate::request::FieldError {
                        field: "account_ids".into(),
                        message: format!("{raw:?} is not an account ID (a GUID)"),
                    }],
                })
            })?
            .to_string();
        let key = prisma_key(connection.as_ref(), &id);
        if managed.iter().any(|m| m.key == key) || records.iter().any(|(a, _)| a.key == key) {
            return Err(EngineError::AlreadyManaged { account_id: id });
        }
        let view = read_current(engine.inner(), connection.as_ref(), &id)
            .await?
            .ok_or_else(|| EngineError::PlatformAccountMissing {
                account_id: id.clone(),
            })?;
        let desired = AccountConfig::from_view(&view);
        let account = ManagedAccount {
            key,
            platform: "prisma",
            connection: connection
                .as_ref()
                .map_or(DEFAULT_CONNECTION, |c| c.as_str())
                .to_owned(),
            account_id: id,
            account_name: view.cloud_account.name.clone(),
            origin: Origin::Adopted,
            job_id: None,
            desired,
            desired_source: "adoption".to_owned(),
            lifecycle: lifecycle(Origin::Adopted),
        };
        let record = desired_record(&account, &account.desired, "adoption", actor, watch.now());
        records.push((account, record));
    }
    let mut adopted = Vec::new();
    for (account, record) in records {
        engine.store().put_desired_state(&record).await?;
        audit(
            engine,
            actor,
            "account.adopted",
            &account.account_name,
            json!({"account_id": account.account_id, "connection": account.connection}),
        )
        .await;
        adopted.push(account);
    }
    Ok(adopted)
}

/// Submits a reconcile job for the managed account: it reviews the differences (and waits for
/// approval when `require_approval`), applies the desired state, and verifies it.
pub async fn submit_reconcile(
    engine: &Engine,
    account_id: &str,
    connection: Option<&str>,
    require_approval: bool,
    actor: &str,
) -> Result<JobId, EngineError> {
    let account = managed_account(engine, account_id, connection).await?;
    let request = ReconcileRequest {
        account_key: account.key.clone(),
        account_id: account.account_id.clone(),
        account_name: account.account_name.clone(),
        connection: account.connection_name()?,
        desired: account.desired.clone(),
        require_approval,
    };
    let job = NewJob {
        id: JobId(uuid::Uuid::now_v7()),
        batch_id: None,
        kind: RECONCILE_KIND.to_owned(),
        request: serde_json::to_value(&request)
            .map_err(|e| EngineError::Workspace(e.to_string()))?,
        created_by: actor.to_owned(),
    };
    engine.store().insert_job(&job).await?;
    audit(
        engine,
        actor,
        "job.submitted",
        &job.id.to_string(),
        json!({"kind": RECONCILE_KIND, "account": account.account_id, "name": account.account_name}),
    )
    .await;
    Ok(job.id)
}
