//! Prisma Cloud's flow: validate → prerequisites → resolve → azure_identity → preflight →
//! register → verify.
//!
//! * **prerequisites**: the job's connection (a deleted one fails here with
//!   `unknown_connection`), terraform, and Prisma Cloud accepting the key.
//! * **resolve**: account-group names to IDs (optionally created), features checked against
//!   `/cas/v1/features` — both looked up once per batch.
//! * **azure_identity**: [`crate::identity`] (Terraform, or an existing service principal).
//! * **preflight**, **register** (adopting an account that exists), **verify** (polling the
//!   account's config status until every requested capability is ok).

use std::time::{Duration, Instant};

use prisma_client::{FeatureScope, Outcome, PrismaClient};
use prisma_types::account::{
    AccountScope, AzureCredentials, EntraTenant, HierarchyEntry, SelectionType, Subscription,
    TenantWithGroups,
};
use prisma_types::{AccountGroupId, AzureAccount, ObjectId};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use super::{Flow, JobRun, StepDone, StepFuture, Stop, to_value};
use crate::bus::emit;
use crate::error::EngineError;
use crate::events::{EngineEvent, Step};
use crate::guidance;
use crate::identity;
use crate::request::{GroupRef, IdentitySource, OnboardingRequest, Scope};

/// A Prisma Cloud job in progress.
pub(crate) type PrismaRun<'a> = JobRun<'a, PrismaFlow>;

#[derive(Serialize, Deserialize, Debug, Clone)]
pub(crate) struct ResolveOut {
    pub group_ids: Vec<String>,
}

/// What the identity step produced (the secret is stored encrypted beside it).
#[derive(Serialize, Deserialize, Debug, Clone)]
pub(crate) struct IdentityOut {
    pub client_id: String,
    pub service_principal_id: String,
    #[serde(default)]
    pub secret_expiry: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub(crate) struct RegisterOut {
    pub account_id: String,
    pub outcome: Outcome,
    pub reconciled: bool,
}

/// A capability's state as the result reports it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct CapabilityState {
    pub name: String,
    pub status: String,
    pub message: String,
    pub remediation: String,
}

/// What a Prisma Cloud run keeps: the client of the request's connection, resolved when a step
/// first needs it.
#[derive(Default)]
pub(crate) struct PrismaFlow {
    client: OnceCell<PrismaClient>,
}

impl Flow for PrismaFlow {
    type Request = OnboardingRequest;

    const STEPS: &'static [Step] = &Step::ALL;

    fn run_step<'r>(run: &'r PrismaRun<'r>, step: Step) -> StepFuture<'r> {
        Box::pin(async move {
            Ok(match step {
                Step::Validate => StepDone::empty(),
                Step::Prerequisites => {
                    run.prerequisites().await?;
                    StepDone::empty()
                }
                Step::Resolve => StepDone::output(run.resolve().await?),
                Step::AzureIdentity => match run.azure_identity().await? {
                    None if run.awaiting_approval() => StepDone::AwaitingApproval,
                    identity => StepDone::Finished {
                        output: identity.and_then(to_value),
                        warning: None,
                    },
                },
                Step::Preflight => {
                    let (states, warning) = run.preflight().await?;
                    StepDone::Finished {
                        output: to_value(states),
                        warning,
                    }
                }
                Step::Register => StepDone::output(run.register().await?),
                Step::Verify => StepDone::output(run.verify().await?),
                other => {
                    return Err(EngineError::Workspace(format!(
                        "step {} is not a Prisma Cloud step",
                        other.name()
                    )));
                }
            })
        })
    }

    fn needs_approval(run: &PrismaRun<'_>) -> bool {
        run.request.require_approval && run.request.uses_terraform()
    }

    fn result(run: &PrismaRun<'_>) -> Result<serde_json::Value, Stop> {
        let register: RegisterOut = run.required(Step::Register)?;
        let identity: Option<IdentityOut> = run.checkpoint(Step::AzureIdentity);
        let capabilities: Vec<CapabilityState> = run.checkpoint(Step::Verify).unwrap_or_default();
        emit(EngineEvent::JobSucceeded {
            account_id: register.account_id.clone(),
            outcome: outcome_name(register.outcome).into(),
        });
        Ok(serde_json::json!({
            "account_id": register.account_id,
            "account_name": run.request.name.as_str(),
            "outcome": outcome_name(register.outcome),
            "reconciled": register.reconciled,
            "client_id": identity.as_ref().map(|i| i.client_id.clone()),
            "service_principal_id": identity.as_ref().map(|i| i.service_principal_id.clone()),
            "secret_expiry": identity.and_then(|i| i.secret_expiry),
            "capabilities": capabilities,
            "step_ms": run.step_ms(),
        }))
    }
}

impl PrismaRun<'_> {
    /// The Prisma Cloud client of the job's connection (the engine's own for `default`). The
    /// first step that calls it (`prerequisites`, or the first step of a resumed run) fails
    /// with `unknown_connection` if the connection was deleted after the job was submitted.
    pub async fn client(&self) -> Result<&PrismaClient, EngineError> {
        self.flow
            .client
            .get_or_try_init(|| async {
                let client = self
                    .inner
                    .client_for(self.request.connection.as_ref())
                    .await?;
                if let Some(name) = &self.request.connection {
                    emit(EngineEvent::log(
                        "info",
                        format!(
                            "Prisma Cloud connection '{name}': {}",
                            client.config().base_url
                        ),
                    ));
                }
                Ok(client)
            })
            .await
    }

    async fn prerequisites(&self) -> Result<(), EngineError> {
        // The connection first: a deleted one is named before anything else is checked.
        let client = self.client().await?;
        if self.request.uses_terraform() {
            identity::check_terraform(self.inner, &self.request).await?;
        }
        client.ensure_session().await?;
        emit(EngineEvent::log(
            "info",
            "Prisma Cloud reachable; access key accepted",
        ));
        Ok(())
    }

    async fn resolve(&self) -> Result<ResolveOut, EngineError> {
        let client = self.client().await?;
        // Shared by the jobs of the batch: read once, not once per job.
        let lookups = self
            .inner
            .lookups
            .of(self.job.batch_id, self.request.connection.as_ref());
        let mut group_ids = Vec::new();
        let needs_lookup = self
            .request
            .groups
            .iter()
            .any(|g| matches!(g, GroupRef::Name(_)));
        let mut known = lookups.groups.lock().await;
        if needs_lookup && known.is_none() {
            *known = Some(client.list_account_groups().await?);
        }
        for g in &self.request.groups {
            match g {
                GroupRef::Id(id) => group_ids.push(id.to_string()),
                GroupRef::Name(name) => {
                    let groups = known.get_or_insert_with(Vec::new);
                    match groups.iter().find(|x| x.name.eq_ignore_ascii_case(name)) {
                        Some(found) => group_ids.push(found.id.clone()),
                        None if self.request.create_missing_groups => {
                            let (created, outcome) = client
                                .create_account_group(name, "Created by azure-cortex onboarding")
                                .await?;
                            emit(EngineEvent::log(
                                "info",
                                format!("account group '{name}' {}", outcome_name(outcome)),
                            ));
                            group_ids.push(created.id.clone());
                            // The batch's other jobs find it instead of creating it again.
                            groups.push(created);
                        }
                        None => {
                            return Err(EngineError::GroupNotFound {
                                name: name.clone(),
                                existing: groups.iter().map(|x| x.name.clone()).collect(),
                            });
                        }
                    }
                }
            }
        }
        drop(known);
        let scope = match self.request.scope {
            Scope::Subscription { .. } => FeatureScope::Subscription,
            Scope::Tenant { .. } => FeatureScope::TenantWithGroups,
            Scope::Entra { .. } => FeatureScope::EntraOnly,
        };
        if !self.request.features_for_scope().is_empty() {
            let mut features = lookups.features.lock().await;
            let key = (scope, self.request.environment);
            let supported = match features.get(&key) {
                Some(known) => known.clone(),
                None => {
                    let answer = client
                        .supported_features(scope, self.request.environment)
                        .await?;
                    features.insert(key, answer.clone());
                    answer
                }
            };
            drop(features);
            for f in self.request.features.iter() {
                if !supported
                    .supported_features
                    .iter()
                    .any(|s| s == f.display_name())
                {
                    return Err(EngineError::FeatureNotSupported {
                        feature: f.display_name().into(),
                        supported: supported.supported_features,
                    });
                }
            }
        }
        group_ids.dedup();
        Ok(ResolveOut { group_ids })
    }

    async fn azure_identity(&self) -> Result<Option<IdentityOut>, EngineError> {
        match &self.request.identity {
            IdentitySource::Existing {
                client_id,
                service_principal_id,
            } => {
                emit(EngineEvent::log(
                    "info",
                    "using the existing service principal; no Terraform",
                ));
                Ok(Some(IdentityOut {
                    client_id: client_id.to_string(),
                    service_principal_id: service_principal_id.to_string(),
                    secret_expiry: None,
                }))
            }
            IdentitySource::SharedTenant { .. } => crate::tenant_identity::run(self).await,
            _ => identity::run_terraform(self).await,
        }
    }

    /// The account as Prisma needs it, from the request, the resolved groups and the identity.
    async fn account(&self) -> Result<AzureAccount, EngineError> {
        let resolved: ResolveOut = self.required(Step::Resolve)?;
        let identity: IdentityOut = self.required(Step::AzureIdentity)?;
        let secret = self
            .inner
            .store
            .get_secret(&self.job.id.to_string(), identity::CLIENT_SECRET)
            .await?
            .ok_or(EngineError::SecretMissing)?;
        let group_ids = resolved
            .group_ids
            .iter()
            .map(|g| AccountGroupId::parse(g))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| EngineError::Workspace(e.to_string()))?;
        let parse = |field: &str, v: &str| {
            ObjectId::parse_as(field, v).map_err(|e| EngineError::Workspace(e.to_string()))
        };
        let credentials = AzureCredentials::new(
            parse("client_id", &identity.client_id)?,
            secret,
            parse("service_principal_id", &identity.service_principal_id)?,
        )
        .map_err(|e| EngineError::MissingOutput { name: e.field })?;
        let r = &self.request;
        let scope = match &r.scope {
            Scope::Subscription {
                subscription_id,
                tenant_id,
            } => AccountScope::Subscription(Subscription {
                subscription_id: subscription_id.clone(),
                tenant_id: tenant_id.clone(),
                name: r.name.clone(),
                group_ids,
                features: r.features.clone(),
                monitor_flow_logs: r.flow_logs,
                environment: r.environment,
                enabled: r.enabled,
            }),
            Scope::Tenant {
                tenant_id,
                include_management_groups,
                exclude_management_groups,
                include_subscriptions,
                exclude_subscriptions,
            } => {
                let mut selection = Vec::new();
                if include_management_groups.is_empty() && include_subscriptions.is_empty() {
                    selection.push(HierarchyEntry::WholeTenant);
                }
                for m in include_management_groups {
                    selection.push(HierarchyEntry::ManagementGroup(
                        m.clone(),
                        SelectionType::Include,
                    ));
                }
                for s in include_subscriptions {
                    selection.push(HierarchyEntry::Subscription(
                        s.clone(),
                        SelectionType::Include,
                    ));
                }
                for m in exclude_management_groups {
                    selection.push(HierarchyEntry::ManagementGroup(
                        m.clone(),
                        SelectionType::Exclude,
                    ));
                }
                for s in exclude_subscriptions {
                    selection.push(HierarchyEntry::Subscription(
                        s.clone(),
                        SelectionType::Exclude,
                    ));
                }
                AccountScope::Tenant(TenantWithGroups {
                    tenant_id: tenant_id.clone(),
                    name: r.name.clone(),
                    default_account_group_id: group_ids[0].clone(),
                    selection,
                    features: r.features.clone(),
                    monitor_flow_logs: r.flow_logs,
                    environment: r.environment,
                    enabled: r.enabled,
                })
            }
            Scope::Entra { tenant_id } => AccountScope::Entra(EntraTenant {
                tenant_id: tenant_id.clone(),
                name: r.name.clone(),
                group_ids,
                environment: r.environment,
                enabled: r.enabled,
            }),
        };
        AzureAccount::new(scope, credentials).map_err(|e| EngineError::Workspace(e.to_string()))
    }

    /// Reports each capability's state as an event, with a fix for the failing ones (Prisma
    /// Cloud's remediation when it gave one, else ours) and a link to the docs.
    fn report(&self, states: &mut [CapabilityState]) {
        let scope = self.request.role_scope();
        for s in states.iter_mut() {
            if s.status != "ok" && s.remediation.is_empty() {
                s.remediation = guidance::fix_for(&s.name, &scope);
            }
            emit(EngineEvent::CapabilityStatus {
                capability: s.name.clone(),
                status: s.status.clone(),
                message: s.message.clone(),
                remediation: s.remediation.clone(),
                docs_url: if s.status == "ok" {
                    String::new()
                } else {
                    guidance::docs_url(&s.name).to_owned()
                },
            });
        }
    }

    /// The pre-flight status checks. Any capability not `ok` stops the job here, before a
    /// known-broken account is registered, unless the request says `register_anyway`: then
    /// the step finishes with a warning (the second value) and verification reports them.
    async fn preflight(&self) -> Result<(Vec<CapabilityState>, Option<String>), EngineError> {
        let account = self.account().await?;
        let checks = self.client().await?.status_check(&account).await?;
        let mut states: Vec<CapabilityState> = checks
            .into_iter()
            .map(|c| CapabilityState {
                name: c.name,
                status: c.status,
                message: c.status_message.message,
                remediation: String::new(),
            })
            .collect();
        self.report(&mut states);
        let failing = failing_summaries(&states);
        if failing.is_empty() {
            return Ok((states, None));
        }
        if !self.request.register_anyway {
            return Err(EngineError::PreflightFailed { failing });
        }
        let warning = format!(
            "{} pre-flight check(s) failing; registered anyway as asked: {}",
            failing.len(),
            failing.join("; ")
        );
        emit(EngineEvent::log("warn", warning.clone()));
        Ok((states, Some(warning)))
    }

    async fn register(&self) -> Result<RegisterOut, EngineError> {
        let account = self.account().await?;
        let registration = self
            .client()
            .await?
            .add_azure_account(&account, true)
            .await?;
        if registration.outcome == Outcome::Adopted {
            // Already onboarded: bring it in line with this request.
            self.client()
                .await?
                .update_azure_account(&account, true)
                .await?;
            emit(EngineEvent::log(
                "info",
                "the account already existed in Prisma Cloud: adopted and updated",
            ));
        }
        Ok(RegisterOut {
            account_id: registration.account_id,
            outcome: registration.outcome,
            reconciled: registration.reconciled,
        })
    }

    async fn verify(&self) -> Result<Vec<CapabilityState>, EngineError> {
        let register: RegisterOut = self.required(Step::Register)?;
        let timeout = self.inner.config.verify_timeout;
        let client = self.client().await?;
        client
            .wait_until_readable(&register.account_id, timeout.max(Duration::from_secs(5)))
            .await?;
        let wanted = requested_capabilities(&self.request);
        let started = Instant::now();
        let mut pause = Duration::from_millis(500);
        let mut last: Vec<CapabilityState> = Vec::new();
        loop {
            let items = client.config_status(&register.account_id).await?;
            let mut states = capability_states(&wanted, &items);
            if states != last {
                last = states.clone();
                self.report(&mut states);
            }
            if states.iter().all(|s| s.status == "ok") {
                return Ok(states);
            }
            if started.elapsed() + pause > timeout || self.cancel.is_cancelled() {
                return Err(EngineError::CapabilitiesFailing {
                    failing: failing_summaries(&states),
                    waited_s: started.elapsed().as_secs(),
                });
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = self.cancel.cancelled() => {}
            }
            pause = (pause * 2).min(Duration::from_secs(15));
        }
    }
}

/// `capability: why` for each capability not `ok` (the fixes travel in the events).
fn failing_summaries(states: &[CapabilityState]) -> Vec<String> {
    states
        .iter()
        .filter(|s| s.status != "ok")
        .map(|s| format!("{}: {}", s.name, s.message.trim_end_matches('.')))
        .collect()
}

/// Each wanted capability's state from a config status answer (which lists only the
/// capabilities with problems: one not listed is `ok`).
pub(crate) fn capability_states(
    wanted: &[String],
    items: &[prisma_types::wire::ConfigStatusItem],
) -> Vec<CapabilityState> {
    wanted
        .iter()
        .map(|name| match items.iter().find(|i| &i.name == name) {
            Some(i) => CapabilityState {
                name: name.clone(),
                status: i.status.clone(),
                message: i.message.clone(),
                remediation: i.remediation.clone(),
            },
            None => CapabilityState {
                name: name.clone(),
                status: "ok".into(),
                message: String::new(),
                remediation: String::new(),
            },
        })
        .collect()
}

/// The capability names Prisma reports for what this request asks for.
pub(crate) fn requested_capabilities(r: &OnboardingRequest) -> Vec<String> {
    use prisma_types::Feature;
    let mut names = Vec::new();
    if !matches!(r.scope, Scope::Entra { .. }) {
        names.push("Cloud Visibility Compliance and Governance".to_owned());
        if r.flow_logs {
            names.push("Flow Logs".to_owned());
        }
        for (f, name) in [
            (Feature::AgentlessScanning, "Agentless Scanning"),
            (
                Feature::ServerlessFunctionScanning,
                "Serverless Function Scanning",
            ),
            (Feature::Remediation, "Remediation"),
            (Feature::AutoProtect, "Auto Protect"),
        ] {
            if r.features.contains(f) {
                names.push(name.to_owned());
            }
        }
    }
    if !matches!(r.scope, Scope::Subscription { .. }) {
        names.push("Microsoft Entra ID".to_owned());
    }
    names
}

fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Created => "created",
        Outcome::Adopted => "adopted",
    }
}
