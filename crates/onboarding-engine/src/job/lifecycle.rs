//! The rotation and offboarding flows ([`crate::lifecycle`] submits them): each works on the
//! account's onboarding job — its request, checkpoints and stored secrets — which
//! [`Onboarded`] loads once per run.

use std::path::PathBuf;

use azure_config::GeneratedConfig;
use azure_config::passwords::{PasswordKey, Passwords};
use cortex_store::JobId;
use prisma_client::PrismaClient;
use prisma_types::SecretString;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use super::prisma::{IdentityOut, ResolveOut, azure_account, wait_until_green};
use super::{CapabilityState, Flow, JobRun, StepDone, StepFuture, Stop};
use crate::bus::emit;
use crate::error::EngineError;
use crate::events::{EngineEvent, Step};
use crate::identity::{self, CLIENT_SECRET, Plan, TERRAFORM_STATE, TerraformMode};
use crate::lifecycle::{OffboardRequest, Ownership, RotateRequest};
use crate::request::OnboardingRequest;

/// The store name of a rotation's twin seed (so a resumed run derives the same new secret).
const TWIN_SEED: &str = "twin_secret_seed";

/// The onboarding a lifecycle job works on.
pub(crate) struct Onboarded {
    /// The store owner of its secrets (the onboarding job's id).
    owner: String,
    request: OnboardingRequest,
    resolved: ResolveOut,
    identity: IdentityOut,
}

/// What a lifecycle run keeps: its platform client and the onboarding, loaded once.
pub(crate) struct LifecycleFlow<R> {
    client: OnceCell<PrismaClient>,
    onboarded: OnceCell<Onboarded>,
    _request: std::marker::PhantomData<fn() -> R>,
}

impl<R> Default for LifecycleFlow<R> {
    fn default() -> Self {
        Self {
            client: OnceCell::new(),
            onboarded: OnceCell::new(),
            _request: std::marker::PhantomData,
        }
    }
}

/// What a lifecycle request says about its account.
pub(crate) trait AccountRequest: Send + Sync {
    fn onboarding_job(&self) -> &str;
    fn connection(&self) -> Option<&crate::connections::ConnectionName>;
    fn account_id(&self) -> &str;
}

impl AccountRequest for RotateRequest {
    fn onboarding_job(&self) -> &str {
        &self.onboarding_job
    }
    fn connection(&self) -> Option<&crate::connections::ConnectionName> {
        self.connection.as_ref()
    }
    fn account_id(&self) -> &str {
        &self.account_id
    }
}

impl AccountRequest for OffboardRequest {
    fn onboarding_job(&self) -> &str {
        &self.onboarding_job
    }
    fn connection(&self) -> Option<&crate::connections::ConnectionName> {
        self.connection.as_ref()
    }
    fn account_id(&self) -> &str {
        &self.account_id
    }
}

impl<R: AccountRequest> JobRun<'_, LifecycleFlow<R>>
where
    LifecycleFlow<R>: Flow<Request = R>,
{
    async fn client(&self) -> Result<&PrismaClient, EngineError> {
        self.flow
            .client
            .get_or_try_init(|| self.inner.client_for(self.request.connection()))
            .await
    }

    async fn onboarded(&self) -> Result<&Onboarded, EngineError> {
        self.flow
            .onboarded
            .get_or_try_init(|| async {
                let owner = self.request.onboarding_job().to_owned();
                let id: JobId = owner
                    .parse()
                    .map_err(|_| EngineError::Workspace("onboarding job id unreadable".into()))?;
                let missing = || EngineError::AccountNotFound {
                    account_id: self.request.account_id().to_owned(),
                };
                let job = self.inner.store.get_job(id).await?.ok_or_else(missing)?;
                let request: OnboardingRequest = serde_json::from_value(job.request)
                    .map_err(|e| EngineError::Workspace(format!("stored request: {e}")))?;
                let steps = self.inner.store.steps(id).await?;
                let checkpoint = |step: Step| {
                    steps
                        .iter()
                        .rev()
                        .find(|s| s.name == step.name() && s.state == "succeeded")
                        .and_then(|s| s.output.clone())
                        .ok_or_else(|| {
                            EngineError::Workspace(format!(
                                "onboarding job {owner}: its {} checkpoint is missing",
                                step.name()
                            ))
                        })
                };
                let unreadable = |e: serde_json::Error| EngineError::Workspace(e.to_string());
                Ok(Onboarded {
                    resolved: serde_json::from_value(checkpoint(Step::Resolve)?)
                        .map_err(unreadable)?,
                    identity: serde_json::from_value(checkpoint(Step::AzureIdentity)?)
                        .map_err(unreadable)?,
                    owner,
                    request,
                })
            })
            .await
    }

    /// Terraform's binary, or why this job cannot run Terraform.
    fn terraform_binary(&self) -> Result<PathBuf, EngineError> {
        match &self.inner.config.terraform {
            TerraformMode::Real { binary } | TerraformMode::Twin { binary, .. } => {
                Ok(binary.clone())
            }
            TerraformMode::Replay { .. } => Err(EngineError::Prerequisite {
                what: "terraform is not installed, and changing an identity's state needs it \
                       (the sandbox's replay only streams an onboarding)"
                    .into(),
                fix: "install Terraform ≥ 1.5 and put it on PATH".into(),
            }),
        }
    }

    /// The identity's Terraform state, decrypted from the store, and its password set.
    async fn stored_state(&self) -> Result<Passwords, EngineError> {
        let o = self.onboarded().await?;
        let state = self
            .inner
            .store
            .get_secret(&o.owner, TERRAFORM_STATE)
            .await?
            .ok_or_else(|| EngineError::Prerequisite {
                what: "no Terraform state is kept for this identity (the server removes states \
                       after apply, or the state was lost)"
                    .into(),
                fix: "keep states encrypted (the default state policy) or import the identity"
                    .into(),
            })?;
        let value: serde_json::Value = serde_json::from_str(state.expose())
            .map_err(|e| EngineError::Workspace(format!("stored Terraform state: {e}")))?;
        Ok(Passwords::from_state(&value))
    }

    /// The onboarding's configuration with `passwords`, as the onboarding generated it.
    fn identity_config(
        &self,
        o: &Onboarded,
        passwords: &Passwords,
    ) -> Result<GeneratedConfig, EngineError> {
        let input = identity::config_input_of(&o.request, &o.owner);
        match (&self.inner.config.terraform, Ownership::of(&o.request)) {
            // The sandbox applied the twin for Prisma's template too.
            (TerraformMode::Twin { step_seconds, .. }, _) => Ok(
                azure_config::twin::generate_with_passwords(&input, *step_seconds, passwords)?,
            ),
            (TerraformMode::Real { .. }, Ownership::Ours) => Ok(
                azure_config::builtin::generate_with_passwords(&input, passwords)?,
            ),
            _ => Err(EngineError::NotPossible {
                what: "changing this identity with Terraform".into(),
                why: "its configuration is not ours to regenerate (Prisma's template applied \
                      against Azure)"
                    .into(),
            }),
        }
    }

    /// One Terraform run on the onboarding's stored state, in this job's own workspace.
    async fn terraform(
        &self,
        passwords: &Passwords,
        env: Vec<(String, SecretString)>,
        plan: Plan,
    ) -> Result<Option<std::collections::BTreeMap<String, serde_json::Value>>, EngineError> {
        let o = self.onboarded().await?;
        let binary = self.terraform_binary()?;
        let generated = self.identity_config(o, passwords)?;
        let dir = identity::workspace_dir(self.inner, &self.job.id.to_string())?;
        let outputs =
            identity::apply_on_state(self, &binary, &o.owner, &dir, &generated, env, plan).await?;
        Ok(outputs.map(|o| o.into_iter().map(|(k, v)| (k, v.value)).collect()))
    }
}

// ---------------------------------------------------------------------------------------------
// Rotation

pub(crate) type RotateRun<'a> = JobRun<'a, LifecycleFlow<RotateRequest>>;

#[derive(Serialize, Deserialize, Debug, Clone)]
pub(crate) struct AddedOut {
    /// `terraform` or `supplied`.
    pub mode: String,
    pub password_key: Option<String>,
    pub secret_expiry: Option<String>,
}

impl Flow for LifecycleFlow<RotateRequest> {
    type Request = RotateRequest;

    const STEPS: &'static [Step] = &Step::ROTATE;

    fn run_step<'r>(run: &'r RotateRun<'r>, step: Step) -> StepFuture<'r> {
        Box::pin(async move {
            Ok(match step {
                Step::Prerequisites => {
                    run.rotation_prerequisites().await?;
                    StepDone::empty()
                }
                Step::AddPassword => StepDone::output(run.add_password().await?),
                Step::UpdateAccount => {
                    run.update_account().await?;
                    StepDone::empty()
                }
                Step::Verify => StepDone::output(run.verify_rotation().await?),
                Step::RemoveOldPassword => StepDone::output(run.remove_old_password().await?),
                other => return Err(unknown_step(other)),
            })
        })
    }

    fn needs_approval(_: &RotateRun<'_>) -> bool {
        false
    }

    fn result(run: &RotateRun<'_>) -> Result<serde_json::Value, Stop> {
        let added: AddedOut = run.required(Step::AddPassword)?;
        let capabilities: Vec<CapabilityState> = run.checkpoint(Step::Verify).unwrap_or_default();
        let r = &run.request;
        emit(EngineEvent::JobSucceeded {
            account_id: r.account_id.clone(),
            outcome: "rotated".into(),
        });
        Ok(serde_json::json!({
            "account_id": r.account_id,
            "account_name": r.account_name,
            "onboarding_job_id": r.onboarding_job,
            "outcome": "rotated",
            "mode": added.mode,
            "trigger": r.trigger,
            "password_key": added.password_key,
            "secret_expiry": added.secret_expiry,
            "capabilities": capabilities,
            "step_ms": run.step_ms(),
        }))
    }
}

fn unknown_step(step: Step) -> EngineError {
    EngineError::Workspace(format!("step {} is not part of this job", step.name()))
}

/// `cause`, saying that the old secret still works and what to do.
fn safely(cause: EngineError, next: &str) -> EngineError {
    EngineError::StepFailedSafely {
        source: Box::new(cause),
        next: next.to_owned(),
    }
}

impl RotateRun<'_> {
    fn terraform_rotation(&self) -> bool {
        self.request.password_key.is_some()
    }

    async fn rotation_prerequisites(&self) -> Result<(), EngineError> {
        let o = self.onboarded().await?;
        self.client().await?.ensure_session().await?;
        if self.terraform_rotation() {
            identity::check_terraform(self.inner, &o.request).await?;
            let passwords = self.stored_state().await?;
            emit(EngineEvent::log(
                "info",
                format!(
                    "the identity has {} client secret(s); a new one is added beside them before \
                     the account is switched",
                    passwords.len()
                ),
            ));
        } else {
            self.inner
                .store
                .get_secret(&self.job.id.to_string(), CLIENT_SECRET)
                .await?
                .ok_or(EngineError::SecretMissing)?;
            emit(EngineEvent::log(
                "info",
                "the identity was not created here: the new secret given with the job is \
                 tested, then set on the account (no Terraform)",
            ));
        }
        Ok(())
    }

    async fn add_password(&self) -> Result<AddedOut, EngineError> {
        let Some(raw) = &self.request.password_key else {
            return Ok(AddedOut {
                mode: "supplied".into(),
                password_key: None,
                secret_expiry: self.request.secret_expiry.clone(),
            });
        };
        let key = PasswordKey::parse(raw)?;
        let o = self.onboarded().await?;
        let target = self.stored_state().await?.with_added(&key);
        let job = self.job.id.to_string();
        let store = &self.inner.store;
        let seed = match store.get_secret(&job, TWIN_SEED).await? {
            Some(seed) => seed,
            None => {
                let seed = identity::new_twin_seed();
                store.put_secret(&job, TWIN_SEED, &seed).await?;
                seed
            }
        };
        let env = identity::twin_seed_env(self.inner, Some(&seed));
        let outputs = self
            .terraform(&target, env, Plan::Apply)
            .await
            .map_err(|e| {
                safely(
                    e,
                    "the account still uses the old secret, which keeps working; fix the cause \
                     and resume the job",
                )
            })?
            .ok_or_else(|| EngineError::Workspace("rotation stopped at a plan".into()))?;
        let names =
            azure_config::outputs::names_for(identity::config_input_of(&o.request, &o.owner).scope);
        let secret = outputs
            .get(names.client_secret)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| EngineError::MissingOutput {
                name: names.client_secret.to_owned(),
            })?;
        store
            .put_secret(&job, CLIENT_SECRET, &SecretString::from(secret.to_owned()))
            .await?;
        let secret_expiry = names
            .secret_expiry
            .and_then(|n| outputs.get(n))
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        emit(EngineEvent::log(
            "info",
            format!(
                "new client secret {key} created (stored encrypted); the old one is untouched{}",
                secret_expiry
                    .as_deref()
                    .map(|e| format!("; the new one ends on {e}"))
                    .unwrap_or_default()
            ),
        ));
        Ok(AddedOut {
            mode: "terraform".into(),
            password_key: Some(key.to_string()),
            secret_expiry,
        })
    }

    /// Tests the new secret with the platform's status checks, then switches the account to it.
    async fn update_account(&self) -> Result<(), EngineError> {
        let o = self.onboarded().await?;
        let job = self.job.id.to_string();
        let store = &self.inner.store;
        let new = store
            .get_secret(&job, CLIENT_SECRET)
            .await?
            .ok_or(EngineError::SecretMissing)?;
        let account = azure_account(&o.request, &o.resolved, &o.identity, new.clone())?;
        let client = self.client().await?;
        let keep = "the account still uses the old secret, which keeps working (the new one \
                    exists beside it); fix the cause and resume the job";
        let checks = client
            .status_check(&account)
            .await
            .map_err(|e| safely(e.into(), keep))?;
        let failing: Vec<String> = checks
            .iter()
            .filter(|c| c.status != "ok")
            .map(|c| format!("{}: {}", c.name, c.status_message.message))
            .collect();
        if !failing.is_empty() {
            return Err(safely(
                EngineError::PreflightFailed { failing },
                "the new secret was not set; the account keeps the old one",
            ));
        }
        client
            .update_azure_account(&account, true)
            .await
            .map_err(|e| safely(e.into(), keep))?;
        // From now on the new secret is the account's (later jobs read it from here).
        store.put_secret(&o.owner, CLIENT_SECRET, &new).await?;
        emit(EngineEvent::log(
            "info",
            "the account now uses the new client secret",
        ));
        Ok(())
    }

    async fn verify_rotation(&self) -> Result<Vec<CapabilityState>, EngineError> {
        let o = self.onboarded().await?;
        let client = self.client().await?;
        wait_until_green(
            client,
            &o.request,
            &self.request.account_id,
            self.inner.config.verify_timeout,
            &self.cancel,
        )
        .await
        .map_err(|e| {
            safely(
                e,
                "the account uses the new secret; the old one was not removed, so nothing is \
                 lost: fix the capabilities and resume the job (it removes the old secret once \
                 they are green)",
            )
        })
    }

    async fn remove_old_password(&self) -> Result<serde_json::Value, EngineError> {
        let Some(raw) = &self.request.password_key else {
            emit(EngineEvent::log(
                "info",
                "the old secret belongs to an identity not created here: remove it in Azure \
                 (Certificates & secrets) once nothing else uses it",
            ));
            return Ok(serde_json::json!({ "removed": 0 }));
        };
        let key = PasswordKey::parse(raw)?;
        let current = self.stored_state().await?;
        let target = Passwords::only(&key);
        let removed = current.len().saturating_sub(target.len());
        if current != target {
            // The twin's seed does not matter here: the output of this run is not read.
            let env = identity::twin_seed_env(self.inner, None);
            self.terraform(&target, env, Plan::Apply)
                .await
                .map_err(|e| {
                    safely(
                        e,
                        "the account uses the new secret and works; the old secret was not \
                         removed yet: resume the job to remove it",
                    )
                })?;
        }
        let job = self.job.id.to_string();
        let _ = self.inner.store.delete_secret(&job, TWIN_SEED).await;
        let _ = self.inner.store.delete_secret(&job, CLIENT_SECRET).await;
        emit(EngineEvent::log(
            "info",
            format!("removed {removed} old client secret(s); {key} is the only one"),
        ));
        Ok(serde_json::json!({ "removed": removed }))
    }
}

// ---------------------------------------------------------------------------------------------
// Offboarding

pub(crate) type OffboardRun<'a> = JobRun<'a, LifecycleFlow<OffboardRequest>>;

impl Flow for LifecycleFlow<OffboardRequest> {
    type Request = OffboardRequest;

    const STEPS: &'static [Step] = &Step::OFFBOARD;

    fn run_step<'r>(run: &'r OffboardRun<'r>, step: Step) -> StepFuture<'r> {
        Box::pin(async move {
            Ok(match step {
                Step::Prerequisites => {
                    run.offboard_prerequisites().await?;
                    StepDone::empty()
                }
                Step::PlanDestroy => match run.plan_destroy().await? {
                    None => StepDone::AwaitingApproval,
                    Some(out) => StepDone::output(out),
                },
                Step::OffboardAccount => StepDone::output(run.offboard_account().await?),
                Step::DestroyIdentity => StepDone::output(run.destroy_identity().await?),
                other => return Err(unknown_step(other)),
            })
        })
    }

    fn needs_approval(run: &OffboardRun<'_>) -> bool {
        run.request.require_approval && run.request.destroy_identity
    }

    fn result(run: &OffboardRun<'_>) -> Result<serde_json::Value, Stop> {
        let r = &run.request;
        let platform: serde_json::Value = run.required(Step::OffboardAccount)?;
        let destroyed: serde_json::Value = run.required(Step::DestroyIdentity)?;
        let outcome = platform["outcome"]
            .as_str()
            .unwrap_or("disabled")
            .to_owned();
        emit(EngineEvent::JobSucceeded {
            account_id: r.account_id.clone(),
            outcome: format!("offboarded ({outcome})"),
        });
        Ok(serde_json::json!({
            "account_id": r.account_id,
            "account_name": r.account_name,
            "onboarding_job_id": r.onboarding_job,
            "outcome": outcome,
            "identity": if r.destroy_identity { "destroyed" } else { "kept" },
            "identity_kept_because": r.identity_kept_because,
            "destroyed_resources": destroyed["destroyed"],
            "step_ms": run.step_ms(),
        }))
    }
}

impl OffboardRun<'_> {
    async fn offboard_prerequisites(&self) -> Result<(), EngineError> {
        let o = self.onboarded().await?;
        self.client().await?.ensure_session().await?;
        if let Some(why) = &self.request.identity_kept_because {
            emit(EngineEvent::log(
                "info",
                format!("the Azure identity is kept: {why}"),
            ));
        }
        if self.request.destroy_identity {
            identity::check_terraform(self.inner, &o.request).await?;
            let passwords = self.stored_state().await?;
            self.identity_config(o, &passwords)?;
        }
        Ok(())
    }

    /// `plan -destroy` of the identity, for review; `None`: waiting for approval.
    async fn plan_destroy(&self) -> Result<Option<serde_json::Value>, EngineError> {
        if !self.request.destroy_identity {
            return Ok(Some(serde_json::json!({ "planned": false })));
        }
        let passwords = self.stored_state().await?;
        let env = identity::twin_seed_env(self.inner, None);
        Ok(self
            .terraform(&passwords, env, Plan::DestroyReview)
            .await?
            .map(|_| serde_json::json!({ "planned": true })))
    }

    async fn offboard_account(&self) -> Result<serde_json::Value, EngineError> {
        let client = self.client().await?;
        let id = &self.request.account_id;
        let outcome = if self.request.delete {
            client.offboard(id).await?;
            "deleted"
        } else {
            client.set_account_enabled(id, false, true).await?;
            "disabled"
        };
        emit(EngineEvent::log(
            "info",
            format!("account {id} {outcome} in Prisma Cloud"),
        ));
        Ok(serde_json::json!({ "outcome": outcome }))
    }

    async fn destroy_identity(&self) -> Result<serde_json::Value, EngineError> {
        if !self.request.destroy_identity {
            return Ok(serde_json::json!({ "destroyed": 0 }));
        }
        let o = self.onboarded().await?;
        let passwords = self.stored_state().await?;
        let store = &self.inner.store;
        let count = |state: Option<SecretString>| {
            state
                .as_ref()
                .and_then(|s| serde_json::from_str::<serde_json::Value>(s.expose()).ok())
                .map(|s| managed_resources(&s))
                .unwrap_or_default()
        };
        let before = count(store.get_secret(&o.owner, TERRAFORM_STATE).await?);
        let env = identity::twin_seed_env(self.inner, None);
        let next = "the account is offboarded in the platform; the Azure identity (or part of it) \
                    remains: fix the cause and resume the job to finish the destroy";
        self.terraform(&passwords, env, Plan::Destroy)
            .await
            .map_err(|e| safely(e, next))?;
        let left = count(store.get_secret(&o.owner, TERRAFORM_STATE).await?);
        if left > 0 {
            return Err(safely(
                EngineError::Workspace(format!("{left} resource(s) still in the state")),
                next,
            ));
        }
        // Nothing in Azure holds that secret any more.
        store.delete_secret(&o.owner, CLIENT_SECRET).await?;
        let destroyed = before - left;
        emit(EngineEvent::log(
            "info",
            "the Azure identity is destroyed: app registration, service principal, roles, \
             consent and secrets removed; the empty state is kept encrypted",
        ));
        Ok(serde_json::json!({ "destroyed": destroyed }))
    }
}

/// The managed resource instances a Terraform state holds.
pub(crate) fn managed_resources(state: &serde_json::Value) -> usize {
    state["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["mode"] == "managed")
        .map(|r| r["instances"].as_array().map_or(0, Vec::len))
        .sum()
}
