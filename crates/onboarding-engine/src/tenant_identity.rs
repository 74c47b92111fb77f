//! Bulk with one identity per tenant: the subscriptions of a batch in one tenant share one app
//! registration, service principal and client secret, and each is granted its own roles — in
//! one Terraform configuration and state per tenant ([`azure_config::tenant_identity`]).
//!
//! # The choice
//!
//! [`IdentityPer`] is the batch's choice (CLI `onboard batch --identity-per`, the API's
//! `identity_per`, the bulk page): `shared-tenant` (the default for bulk) turns every builtin
//! subscription row into [`IdentitySource::SharedTenant`]; `subscription` keeps one identity
//! per subscription. The trade-off ([`IdentityPer::TRADE_OFF`]): one identity is one secret
//! to rotate and one app in Entra ID instead of hundreds, and one Terraform run per tenant
//! instead of one per subscription; but the secret opens every subscription of the tenant, and
//! the audit-log export and the Directory Readers role are per-subscription options the shared
//! identity does not take (such rows are refused with the fix).
//!
//! # The flow (the `azure_identity` step of a shared-identity job)
//!
//! 1. Take the tenant identity's lock: in this process a mutex per tenant (jobs of a batch
//!    queue behind one another without polling), across processes the store's named lease
//!    `tenant-identity/<environment>/<tenant>` (renewed while held). Two batches in one
//!    tenant never run two applies on one state.
//! 2. Read the identity's record (encrypted in the store under that name: the subscriptions
//!    granted so far and what each was granted, the client and service principal IDs; the
//!    secret and the Terraform state beside it). If this subscription is granted already
//!    (another job of the batch applied it), the job takes the identity and no Terraform runs.
//! 3. Otherwise the job applies the configuration for every subscription granted so far, its
//!    own, and those of its batch's other shared-identity jobs in the tenant that have not
//!    finished — so a batch makes one apply, and a later batch adds to the same state (its plan
//!    adds only the new role sets). The Terraform events are this job's; the others log which
//!    job applied.
//! 4. The secret is copied to the job's own secrets; preflight, registration (paced by the
//!    client at the API's limit) and verification are per job as always, so a subscription's
//!    failure stays its row's.
//!
//! A failed apply fails the job that ran it; the batch's other jobs that were waiting fail at
//! once with the same reason instead of each repeating a failing apply (a retry applies again).
//! The state is always kept encrypted (the policy `remove` would lose the tenant's identity).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use azure_config::GeneratedConfig;
use azure_config::tenant_identity::{
    self as config, IdentityInput, RoleSetInput, SubscriptionGrant, place_in_chunks,
};
use cortex_store::{BatchId, JobId, JobState};
use prisma_types::{FeatureSet, SecretString, SubscriptionId, TenantId};
use serde::{Deserialize, Serialize};
use terraform_runner::plugin_cache;

use crate::bus::emit;
use crate::engine::EngineInner;
use crate::error::EngineError;
use crate::events::EngineEvent;
use crate::identity::{self, CLIENT_SECRET, TERRAFORM_STATE, TerraformMode};
use crate::job::IdentityOut;
use crate::job::prisma::PrismaRun;
use crate::request::{FieldError, IdentitySource, OnboardingRequest, Scope};

/// How a batch's builtin subscription rows get their Azure identity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityPer {
    /// One identity per tenant, shared by its subscriptions (the default for bulk).
    #[default]
    SharedTenant,
    /// One identity (app registration, secret, Terraform run) per subscription.
    Subscription,
}

impl IdentityPer {
    /// The choice in one paragraph, for `--help`, the API document and the bulk page.
    pub const TRADE_OFF: &'static str = "shared-tenant (default): one app registration and \
        client secret per tenant, granted each subscription's roles in one Terraform run per \
        tenant; later batches in the tenant add to it. One secret to rotate instead of one per \
        subscription, but that secret opens every subscription of the tenant, and rows with \
        audit-log export, Directory Readers or plan approval need their own identity. \
        subscription: one identity per subscription, as a single onboarding makes.";

    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "shared-tenant" | "shared_tenant" | "tenant" | "" => Ok(IdentityPer::SharedTenant),
            "subscription" => Ok(IdentityPer::Subscription),
            other => Err(format!(
                "'{}' is not one of shared-tenant, subscription",
                other.chars().take(40).collect::<String>()
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IdentityPer::SharedTenant => "shared-tenant",
            IdentityPer::Subscription => "subscription",
        }
    }

    /// Applies the choice to one row: with `SharedTenant`, a subscription with the builtin
    /// identity takes the tenant's shared identity. Other rows (tenants, Entra ID, Prisma's
    /// template, existing identities) are left as they are. A builtin row asking for what the
    /// shared identity cannot give is refused, naming the field (without the row: the caller
    /// adds it).
    pub fn apply(self, request: &mut OnboardingRequest) -> Result<(), FieldError> {
        if self == IdentityPer::Subscription || !matches!(request.scope, Scope::Subscription { .. })
        {
            return Ok(());
        }
        let IdentitySource::Builtin {
            secret_rotation_days,
            directory_readers,
            audit_log_export,
        } = request.identity
        else {
            return Ok(());
        };
        let refuse = |field: &str, what: &str| FieldError {
            field: field.to_owned(),
            message: format!(
                "{what} needs an identity of its own: submit the batch with identity per \
                 subscription (--identity-per subscription), or drop it from the row"
            ),
        };
        if audit_log_export {
            return Err(refuse("audit_log_export", "the audit-log export"));
        }
        if directory_readers {
            return Err(refuse("directory_readers", "the Directory Readers role"));
        }
        if request.require_approval {
            return Err(refuse(
                "require_approval",
                "a plan approval per subscription",
            ));
        }
        request.identity = IdentitySource::SharedTenant {
            secret_rotation_days,
        };
        Ok(())
    }
}

/// The store owner (and lease name) of a tenant's shared identity.
pub fn owner(environment: prisma_types::Environment, tenant: &TenantId) -> String {
    format!("tenant-identity/{environment}/{tenant}")
}

/// The record's name under [`owner`] (encrypted like every store secret).
const RECORD: &str = "identity";
/// The twin's secret seed, kept so the twin's secret stays the same across batches, as the
/// real one does.
const TWIN_SEED: &str = "twin_secret_seed";
/// How long a lease lasts unless renewed, and how often it is renewed while held.
const LEASE: Duration = Duration::from_secs(60);
const RENEW_EVERY: Duration = Duration::from_secs(20);

/// What the store keeps of a tenant's shared identity (no secret: those lie beside it).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Record {
    name_suffix: String,
    secret_rotation_days: u32,
    client_id: String,
    service_principal_id: String,
    #[serde(default)]
    secret_expiry: Option<String>,
    /// Subscription → what it was granted.
    subscriptions: BTreeMap<SubscriptionId, Grant>,
    /// Subscription → the role-set chunk whose state holds its roles (placed before the
    /// chunk's first apply, so a failed apply's partial state is found again). A granted
    /// subscription without a chunk has its roles in the identity's own state: a tenant
    /// onboarded before the role sets were chunked.
    #[serde(default)]
    chunks: BTreeMap<SubscriptionId, u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Grant {
    features: FeatureSet,
    flow_logs: bool,
}

impl Grant {
    fn of(request: &OnboardingRequest) -> Self {
        Grant {
            features: request.features.clone(),
            flow_logs: request.flow_logs,
        }
    }
}

/// A failed apply, so the same batch's waiting jobs fail at once with its reason.
struct Failure {
    batch: Option<BatchId>,
    at: Instant,
    job: JobId,
    message: String,
}

/// This process's locks and recent failures, per tenant identity.
#[derive(Default)]
pub(crate) struct Locks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    failures: Mutex<HashMap<String, Failure>>,
}

impl Locks {
    fn lock_of(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(key.to_owned()).or_default().clone()
    }
}

/// Holds the store lease while alive and renews it. [`Lease::release`] gives it up before the
/// process's lock is let go: the next job of this process waiting for the lock then finds the
/// lease free at once (a release left to a spawned task lost that race and made every waiter
/// sleep a retry interval: 0.4 s per job, 40 s of a 100-job batch). Dropped without
/// `release` (an error or a cancellation), it is given up in the background.
struct Lease {
    renew: tokio::task::JoinHandle<()>,
    store: Option<cortex_store::Store>,
    key: String,
    holder: String,
}

impl Lease {
    async fn release(mut self) {
        self.renew.abort();
        if let Some(store) = self.store.take()
            && let Err(e) = store.release_named_lease(&self.key, &self.holder).await
        {
            tracing::warn!(error = %e, "could not release the tenant identity's lease");
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renew.abort();
        if let Some(store) = self.store.take() {
            let (key, holder) = (
                std::mem::take(&mut self.key),
                std::mem::take(&mut self.holder),
            );
            tokio::spawn(async move {
                if let Err(e) = store.release_named_lease(&key, &holder).await {
                    tracing::warn!(error = %e, "could not release the tenant identity's lease");
                }
            });
        }
    }
}

async fn take_lease(run: &PrismaRun<'_>, key: &str) -> Result<Lease, EngineError> {
    let store = run.inner.store.clone();
    let holder = format!("{}/{}", run.inner.config.worker_id, run.job.id);
    let mut told = false;
    while !store.try_named_lease(key, &holder, LEASE).await? {
        if !told {
            emit(EngineEvent::log(
                "info",
                "waiting for the tenant's shared identity: another process is applying it",
            ));
            told = true;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = run.cancel.cancelled() => return Err(EngineError::Cancelled),
        }
    }
    let renew = {
        let (store, key, holder) = (store.clone(), key.to_owned(), holder.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                match store.try_named_lease(&key, &holder, LEASE).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(lease = %key, "the tenant identity's lease was lost");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "could not renew the tenant identity's lease")
                    }
                }
            }
        })
    };
    Ok(Lease {
        renew,
        store: Some(store),
        key: key.to_owned(),
        holder,
    })
}

/// The `azure_identity` step of a shared-identity job.
pub(crate) async fn run(run: &PrismaRun<'_>) -> Result<Option<IdentityOut>, EngineError> {
    let inner = run.inner;
    let r = &run.request;
    let Scope::Subscription {
        subscription_id: _,
        tenant_id,
    } = &r.scope
    else {
        return Err(EngineError::Workspace(
            "the tenant's shared identity is for subscriptions only".into(),
        ));
    };
    let IdentitySource::SharedTenant {
        secret_rotation_days,
    } = r.identity
    else {
        return Err(EngineError::Workspace(
            "not a shared-identity request".into(),
        ));
    };
    let key = owner(r.environment, tenant_id);
    let arrived = Instant::now();
    if let Some(out) = if_granted(run, &key, read_record(inner, &key).await?.as_ref()).await? {
        return Ok(Some(out));
    }
    let lock = inner.tenant_identities.lock_of(&key);
    let _local = tokio::select! {
        guard = lock.lock() => guard,
        _ = run.cancel.cancelled() => return Err(EngineError::Cancelled),
    };
    let lease = take_lease(run, &key).await?;
    let out = under_lease(run, &key, arrived, secret_rotation_days).await;
    lease.release().await;
    out
}

/// The part of [`run`] done holding the tenant identity's lock and lease.
async fn under_lease(
    run: &PrismaRun<'_>,
    key: &str,
    arrived: Instant,
    secret_rotation_days: u32,
) -> Result<Option<IdentityOut>, EngineError> {
    let inner = run.inner;
    let r = &run.request;
    let Scope::Subscription {
        subscription_id,
        tenant_id,
    } = &r.scope
    else {
        return Err(EngineError::Workspace(
            "not a subscription-scope request".into(),
        ));
    };
    let record = read_record(inner, key).await?;
    let grant = Grant::of(r);
    if let Some(out) = if_granted(run, key, record.as_ref()).await? {
        return Ok(Some(out));
    }
    let record = {
        if let Some(failed) = inner
            .tenant_identities
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .filter(|f| f.batch == run.job.batch_id && f.at > arrived)
        {
            return Err(EngineError::SharedIdentityFailed {
                job: failed.job.to_string(),
                message: failed.message.clone(),
            });
        }
        let mut wanted: BTreeMap<SubscriptionId, Grant> = record
            .as_ref()
            .map(|rec| rec.subscriptions.clone())
            .unwrap_or_default();
        wanted.extend(batch_siblings(run, tenant_id).await?);
        wanted.insert(subscription_id.clone(), grant);
        match apply(run, key, record, wanted, secret_rotation_days).await {
            Ok(record) => record,
            Err(e) => {
                if !matches!(e, EngineError::Cancelled) && !run.cancel.is_cancelled() {
                    inner
                        .tenant_identities
                        .failures
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(
                            key.to_owned(),
                            Failure {
                                batch: run.job.batch_id,
                                at: Instant::now(),
                                job: run.job.id,
                                message: e.to_string(),
                            },
                        );
                }
                return Err(e);
            }
        }
    };
    hand_out(run, key, record).await.map(Some)
}

async fn read_record(inner: &EngineInner, key: &str) -> Result<Option<Record>, EngineError> {
    match inner.store.get_secret(key, RECORD).await? {
        Some(text) => serde_json::from_str(text.expose())
            .map(Some)
            .map_err(|e| EngineError::Workspace(format!("tenant identity record: {e}"))),
        None => Ok(None),
    }
}

/// When `record` already grants this job's subscription its roles: the identity for the job,
/// with no Terraform run. Safe without the lock (a record only gains subscriptions, and each
/// is written whole), so a batch's later jobs do not queue behind one another.
async fn if_granted(
    run: &PrismaRun<'_>,
    key: &str,
    record: Option<&Record>,
) -> Result<Option<IdentityOut>, EngineError> {
    let Scope::Subscription {
        subscription_id, ..
    } = &run.request.scope
    else {
        return Ok(None);
    };
    let grant = Grant::of(&run.request);
    let Some(record) = record.filter(|rec| rec.subscriptions.get(subscription_id) == Some(&grant))
    else {
        return Ok(None);
    };
    emit(EngineEvent::log(
        "info",
        format!(
            "the tenant's shared identity (client ID {}) already grants subscription \
             {subscription_id} its roles: no Terraform run for this job",
            record.client_id
        ),
    ));
    hand_out(run, key, record.clone()).await.map(Some)
}

/// The identity of `record` for this job: its client secret copied to the job's own secrets.
async fn hand_out(
    run: &PrismaRun<'_>,
    key: &str,
    record: Record,
) -> Result<IdentityOut, EngineError> {
    let store = &run.inner.store;
    let secret = store
        .get_secret(key, CLIENT_SECRET)
        .await?
        .ok_or(EngineError::SecretMissing)?;
    store
        .put_secret(&run.job.id.to_string(), CLIENT_SECRET, &secret)
        .await?;
    Ok(IdentityOut {
        client_id: record.client_id,
        service_principal_id: record.service_principal_id,
        secret_expiry: record.secret_expiry,
    })
}

/// The subscriptions (and grants) of the batch's other shared-identity jobs in this tenant
/// that have not finished: applied together with this job's, in one run.
async fn batch_siblings(
    run: &PrismaRun<'_>,
    tenant: &TenantId,
) -> Result<Vec<(SubscriptionId, Grant)>, EngineError> {
    let Some(batch) = run.job.batch_id else {
        return Ok(Vec::new());
    };
    let jobs = run.inner.store.list_jobs(Some(batch), u32::MAX).await?;
    Ok(jobs
        .into_iter()
        .filter(|j| {
            j.id != run.job.id
                && matches!(
                    j.state,
                    JobState::Queued | JobState::Running | JobState::AwaitingApproval
                )
        })
        .filter_map(|j| serde_json::from_value::<OnboardingRequest>(j.request).ok())
        .filter(|other| {
            matches!(other.identity, IdentitySource::SharedTenant { .. })
                && other.environment == run.request.environment
                && other.connection == run.request.connection
        })
        .filter_map(|other| match &other.scope {
            Scope::Subscription {
                subscription_id,
                tenant_id,
            } if tenant_id == tenant => Some((subscription_id.clone(), Grant::of(&other))),
            _ => None,
        })
        .collect())
}

/// One Terraform run of the tenant's configuration for `wanted`, on its stored state.
async fn apply(
    run: &PrismaRun<'_>,
    key: &str,
    record: Option<Record>,
    wanted: BTreeMap<SubscriptionId, Grant>,
    secret_rotation_days: u32,
) -> Result<Record, EngineError> {
    let inner = run.inner;
    let r = &run.request;
    let tenant_id = r.scope.tenant_id().clone();
    let (name_suffix, rotation) = match &record {
        Some(rec) => {
            if rec.secret_rotation_days != secret_rotation_days {
                emit(EngineEvent::log(
                    "warn",
                    format!(
                        "the tenant's shared identity rotates its secret every {} days; this \
                         row's {secret_rotation_days} does not change it",
                        rec.secret_rotation_days
                    ),
                ));
            }
            (rec.name_suffix.clone(), rec.secret_rotation_days)
        }
        None => (identity::name_suffix(key), secret_rotation_days),
    };
    let new: Vec<String> = wanted
        .keys()
        .filter(|s| {
            record
                .as_ref()
                .is_none_or(|rec| !rec.subscriptions.contains_key(*s))
        })
        .map(ToString::to_string)
        .collect();
    emit(EngineEvent::log(
        "info",
        format!(
            "{} the tenant's shared identity for {} subscription(s), {} of them new in this run \
             (role sets in Terraform states of at most {} subscriptions each)",
            if record.is_some() {
                "extending"
            } else {
                "creating"
            },
            wanted.len(),
            new.len(),
            inner.config.role_set_chunk.max(1)
        ),
    ));
    let identity = IdentityInput {
        tenant_id,
        environment: r.environment,
        name_suffix: name_suffix.clone(),
        secret_rotation_days: rotation,
    };
    let (binary, step_seconds) = match &inner.config.terraform {
        TerraformMode::Real { binary } => (binary, None),
        TerraformMode::Twin {
            binary,
            step_seconds,
        } => (binary, Some(*step_seconds)),
        TerraformMode::Replay { pace } => {
            let generated = config::generate(
                &identity.with_subscriptions(grants(&wanted)),
                config::Render::Providers,
            )?;
            let outputs = replay(run, &generated, record.as_ref(), &new, *pace).await?;
            let mut record = identity_record(inner, key, &outputs, record, &identity).await?;
            record.subscriptions = wanted;
            save_record(inner, key, &record).await?;
            return Ok(ready(record));
        }
    };
    let chunked = Chunked {
        run,
        key,
        binary,
        step_seconds,
        identity: &identity,
    };
    // A tenant onboarded before the role sets were chunked keeps its first subscriptions' role
    // sets in the identity's own state: they stay in its configuration (or Terraform would
    // plan to destroy them).
    let in_identity_state: BTreeMap<SubscriptionId, Grant> = wanted
        .iter()
        .filter(|(s, _)| {
            record.as_ref().is_some_and(|rec| {
                rec.subscriptions.contains_key(*s) && !rec.chunks.contains_key(*s)
            })
        })
        .map(|(s, g)| (s.clone(), g.clone()))
        .collect();
    let outputs = chunked.identity(&in_identity_state).await?;
    let mut record = identity_record(inner, key, &outputs, record, &identity).await?;
    record.subscriptions.extend(in_identity_state.clone());
    let chunks = place_in_chunks(
        &mut record.chunks,
        wanted
            .keys()
            .filter(|s| !in_identity_state.contains_key(*s))
            .cloned(),
        inner.config.role_set_chunk,
    );
    // The placement is kept before any chunk applies: a failed apply's partial state belongs
    // to the same chunk when the subscription comes again.
    save_record(inner, key, &record).await?;
    let changed: BTreeSet<u32> = wanted
        .iter()
        .filter(|(s, g)| {
            !in_identity_state.contains_key(*s) && record.subscriptions.get(*s) != Some(g)
        })
        .filter_map(|(s, _)| record.chunks.get(s).copied())
        .chain(chunks)
        .collect();
    for chunk in changed {
        let members: BTreeMap<SubscriptionId, Grant> = record
            .chunks
            .iter()
            .filter(|(_, c)| **c == chunk)
            .filter_map(|(s, _)| wanted.get(s).map(|g| (s.clone(), g.clone())))
            .collect();
        chunked
            .role_sets(chunk, &members, &record.service_principal_id)
            .await?;
        record.subscriptions.extend(members);
        save_record(inner, key, &record).await?;
    }
    Ok(ready(record))
}

/// The role sets' grants in the configuration's terms.
fn grants(wanted: &BTreeMap<SubscriptionId, Grant>) -> BTreeMap<SubscriptionId, SubscriptionGrant> {
    wanted
        .iter()
        .map(|(s, g)| {
            let grant = SubscriptionGrant {
                features: g.features.clone(),
                flow_logs: g.flow_logs,
            };
            (s.clone(), grant)
        })
        .collect()
}

/// The Terraform runs of one `apply` on real Terraform (or the twin): the identity's state,
/// then each role-set chunk's.
struct Chunked<'a, 'r> {
    run: &'a PrismaRun<'r>,
    key: &'a str,
    binary: &'a Path,
    /// `Some` for the twin.
    step_seconds: Option<f64>,
    identity: &'a IdentityInput,
}

impl Chunked<'_, '_> {
    /// The identity's configuration (with the role sets kept in its state, if any) on the
    /// identity's state; its outputs.
    async fn identity(
        &self,
        in_state: &BTreeMap<SubscriptionId, Grant>,
    ) -> Result<BTreeMap<String, String>, EngineError> {
        let with_roles =
            (!in_state.is_empty()).then(|| self.identity.with_subscriptions(grants(in_state)));
        let how = config::Render::twin_if(self.step_seconds);
        let generated = match &with_roles {
            Some(input) => config::generate(input, how)?,
            None => config::generate_identity(self.identity, how)?,
        };
        if how == config::Render::Providers {
            return run_workspace(self.run, self.key, self.binary, &generated, Vec::new()).await;
        }
        let store = &self.run.inner.store;
        let seed = match store.get_secret(self.key, TWIN_SEED).await? {
            Some(seed) => seed,
            None => {
                let bytes: [u8; 24] = rand::random();
                let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                let seed = SecretString::from(hex);
                store.put_secret(self.key, TWIN_SEED, &seed).await?;
                seed
            }
        };
        let env = vec![(
            format!("TF_VAR_{}", azure_config::twin::SECRET_SEED_VAR),
            seed,
        )];
        run_workspace(self.run, self.key, self.binary, &generated, env).await
    }

    /// Chunk `chunk`'s configuration for `members` (every subscription placed in it) on the
    /// chunk's own state.
    async fn role_sets(
        &self,
        chunk: u32,
        members: &BTreeMap<SubscriptionId, Grant>,
        principal_id: &str,
    ) -> Result<(), EngineError> {
        emit(EngineEvent::log(
            "info",
            format!(
                "role sets, chunk {chunk}: {} subscription(s) in its own Terraform state",
                members.len()
            ),
        ));
        let input = RoleSetInput {
            tenant_id: self.identity.tenant_id.clone(),
            environment: self.identity.environment,
            name_suffix: self.identity.name_suffix.clone(),
            principal_id: principal_id.to_owned(),
            subscriptions: grants(members),
        };
        let generated =
            config::generate_role_sets(&input, config::Render::twin_if(self.step_seconds))?;
        let owner = chunk_owner(self.key, chunk);
        run_workspace(self.run, &owner, self.binary, &generated, Vec::new()).await?;
        Ok(())
    }
}

/// The store owner of a role-set chunk's state (its workspace is named after it).
fn chunk_owner(key: &str, chunk: u32) -> String {
    format!("{key}/roles-{chunk}")
}

/// The identity's outputs into the record (the secret stored beside it), keeping the
/// subscriptions and chunks of the record before.
async fn identity_record(
    inner: &EngineInner,
    key: &str,
    outputs: &BTreeMap<String, String>,
    before: Option<Record>,
    identity: &IdentityInput,
) -> Result<Record, EngineError> {
    let names = config::output_names();
    let text = |name: &str| -> Result<String, EngineError> {
        outputs
            .get(name)
            .filter(|s| !s.is_empty())
            .cloned()
            .ok_or_else(|| EngineError::MissingOutput {
                name: name.to_owned(),
            })
    };
    let secret = SecretString::from(text(names.client_secret)?);
    inner.store.put_secret(key, CLIENT_SECRET, &secret).await?;
    let (subscriptions, chunks) = before
        .map(|rec| (rec.subscriptions, rec.chunks))
        .unwrap_or_default();
    let record = Record {
        name_suffix: identity.name_suffix.clone(),
        secret_rotation_days: identity.secret_rotation_days,
        client_id: text(names.client_id)?,
        service_principal_id: text(names.service_principal_object_id)?,
        secret_expiry: names.secret_expiry.and_then(|n| text(n).ok()),
        subscriptions,
        chunks,
    };
    save_record(inner, key, &record).await?;
    Ok(record)
}

async fn save_record(inner: &EngineInner, key: &str, record: &Record) -> Result<(), EngineError> {
    let json = serde_json::to_string(record).map_err(|e| EngineError::Workspace(e.to_string()))?;
    inner
        .store
        .put_secret(key, RECORD, &SecretString::from(json))
        .await?;
    Ok(())
}

/// Logs the identity as ready and returns it.
fn ready(record: Record) -> Record {
    emit(EngineEvent::log(
        "info",
        format!(
            "the tenant's shared identity is ready: client ID {}, service principal object ID \
             {}, granted on {} subscription(s) (client secret stored encrypted)",
            record.client_id,
            record.service_principal_id,
            record.subscriptions.len()
        ),
    ));
    record
}

/// init → plan → apply → output in the tenant's workspace, on its restored state; the state
/// is encrypted into the store afterwards (also after a failure) and the plaintext removed.
async fn run_workspace(
    run: &PrismaRun<'_>,
    key: &str,
    binary: &Path,
    generated: &GeneratedConfig,
    env: Vec<(String, SecretString)>,
) -> Result<BTreeMap<String, String>, EngineError> {
    let inner = run.inner;
    let dir = identity::workspace_dir(inner, &key.replace('/', "-"))?;
    identity::write_json(&dir, azure_config::MAIN_FILE, &generated.main_tf_json)?;
    identity::write_json(&dir, azure_config::TFVARS_FILE, &generated.tfvars_json)?;
    identity::restore_state(inner, key, &dir).await?;
    let tf = identity::runner(inner, binary, &dir, env);
    let cache = identity::plugin_cache_dir(inner);
    let providers = identity::providers_key(&generated.main_tf_json);
    plugin_cache::seed_lock_file(&cache, &providers, &dir)
        .map_err(|e| EngineError::Workspace(format!("dependency lock file: {e}")))?;
    let plan = dir.join("tfplan");
    let applied = identity::apply_workspace(run, &tf, &plan, identity::Plan::Apply).await;
    let secured = secure_state(inner, key, &dir).await;
    let outputs = applied?.ok_or_else(|| {
        EngineError::Workspace("the shared identity does not stop for approval".into())
    })?;
    secured?;
    identity::finish_workspace(&cache, &providers, &dir);
    Ok(outputs
        .into_iter()
        .filter_map(|(k, v)| v.value.as_str().map(|s| (k, s.to_owned())))
        .collect())
}

/// The state always goes encrypted into the store (the next batch in the tenant starts from
/// it); every plaintext file that holds the secret is removed.
async fn secure_state(inner: &EngineInner, key: &str, dir: &Path) -> Result<(), EngineError> {
    let state = dir.join("terraform.tfstate");
    if let Ok(text) = std::fs::read_to_string(&state) {
        inner
            .store
            .put_secret(key, TERRAFORM_STATE, &SecretString::from(text))
            .await?;
    }
    for name in ["terraform.tfstate", "terraform.tfstate.backup", "tfplan"] {
        let path = dir.join(name);
        if path.exists() {
            std::fs::remove_file(&path)
                .map_err(|e| EngineError::Workspace(format!("{}: {e}", path.display())))?;
        }
    }
    Ok(())
}

/// Sandbox without Terraform: a stream of the new subscriptions' resources (all of them on
/// the first run), and the identity's outputs made up once and kept.
async fn replay(
    run: &PrismaRun<'_>,
    generated: &GeneratedConfig,
    record: Option<&Record>,
    new: &[String],
    pace: Duration,
) -> Result<BTreeMap<String, String>, EngineError> {
    let resources: Vec<(String, String, String)> = generated
        .resources
        .iter()
        .filter(|r| record.is_none() || new.iter().any(|s| r.address.contains(s.as_str())))
        .map(|r| {
            (
                r.address.clone(),
                r.resource_type.clone(),
                r.resource_name.clone(),
            )
        })
        .collect();
    let names = generated.output_names;
    let lines = terraform_runner::replay::synthesize_apply_stream(&resources, &[]);
    let mut sink = identity::forward;
    terraform_runner::replay::replay_lines(&lines, pace, &run.cancel, &mut sink).await?;
    let mut out = BTreeMap::new();
    match record {
        Some(rec) => {
            let secret = run
                .inner
                .store
                .get_secret(
                    &owner(run.request.environment, run.request.scope.tenant_id()),
                    CLIENT_SECRET,
                )
                .await?
                .ok_or(EngineError::SecretMissing)?;
            out.insert(names.client_id.to_owned(), rec.client_id.clone());
            out.insert(
                names.service_principal_object_id.to_owned(),
                rec.service_principal_id.clone(),
            );
            out.insert(names.client_secret.to_owned(), secret.expose().to_owned());
            if let (Some(name), Some(end)) = (names.secret_expiry, &rec.secret_expiry) {
                out.insert(name.to_owned(), end.clone());
            }
        }
        None => {
            let bytes: [u8; 20] = rand::random();
            out.insert(names.client_id.to_owned(), uuid::Uuid::new_v4().to_string());
            out.insert(
                names.service_principal_object_id.to_owned(),
                uuid::Uuid::new_v4().to_string(),
            );
            out.insert(
                names.client_secret.to_owned(),
                bytes.iter().map(|b| format!("{b:02x}")).collect(),
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::RawRequest;

    fn request(identity: &str) -> OnboardingRequest {
        RawRequest {
            scope: Some("subscription".into()),
            subscription_id: Some("8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f".into()),
            tenant_id: Some("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".into()),
            name: Some("prod".into()),
            groups: vec!["Default Account Group".into()],
            identity: Some(identity.into()),
            client_id: (identity == "existing")
                .then(|| "11111111-1111-4111-8111-111111111111".into()),
            service_principal_id: (identity == "existing")
                .then(|| "22222222-2222-4222-8222-222222222222".into()),
            ..RawRequest::default()
        }
        .validate()
        .unwrap()
    }

    #[test]
    fn shared_tenant_takes_builtin_subscription_rows_only() {
        let mut r = request("builtin");
        IdentityPer::SharedTenant.apply(&mut r).unwrap();
        assert_eq!(
            r.identity,
            IdentitySource::SharedTenant {
                secret_rotation_days: 180
            }
        );
        for kind in ["existing", "prisma-template"] {
            let mut r = request(kind);
            let before = r.identity.clone();
            IdentityPer::SharedTenant.apply(&mut r).unwrap();
            assert_eq!(r.identity, before);
        }
        let mut r = request("builtin");
        IdentityPer::Subscription.apply(&mut r).unwrap();
        assert!(matches!(r.identity, IdentitySource::Builtin { .. }));
    }

    #[test]
    fn what_the_shared_identity_cannot_give_is_refused_by_field() {
        let mut r = request("builtin");
        r.identity = IdentitySource::Builtin {
            secret_rotation_days: 30,
            directory_readers: false,
            audit_log_export: true,
        };
        let e = IdentityPer::SharedTenant.apply(&mut r).unwrap_err();
        assert_eq!(e.field, "audit_log_export");
        assert!(e.message.contains("--identity-per subscription"), "{e}");
        let mut r = request("builtin");
        r.require_approval = true;
        assert_eq!(
            IdentityPer::SharedTenant.apply(&mut r).unwrap_err().field,
            "require_approval"
        );
    }

    #[test]
    fn the_choice_parses() {
        assert_eq!(
            IdentityPer::parse("shared-tenant"),
            Ok(IdentityPer::SharedTenant)
        );
        assert_eq!(
            IdentityPer::parse(" subscription "),
            Ok(IdentityPer::Subscription)
        );
        assert!(
            IdentityPer::parse("per-job")
                .unwrap_err()
                .contains("shared-tenant")
        );
        assert_eq!(IdentityPer::default().as_str(), "shared-tenant");
    }
}
