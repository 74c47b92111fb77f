//! The Azure identity: Terraform in a per-job workspace, or an existing service principal.
//!
//! Modes ([`TerraformMode`]):
//! * `Real` — our configuration (`azure_config::builtin`) or Prisma's template, applied with
//!   the real binary against Azure.
//! * `Twin` — sandbox with Terraform installed: the `terraform_data` twin of the same
//!   configuration (same addresses, dependencies and outputs) applied for real, offline, so a
//!   user without Azure watches a real Terraform run resource by resource.
//! * `Replay` — sandbox without Terraform: a stream synthesized from the same resource list,
//!   replayed at a steady pace; the job says so.
//!
//! The workspace (`<data-dir>/workspaces/<job>`, mode 0700) gets `main.tf.json` and
//! `terraform.tfvars.json`: user values reach Terraform as data, never spliced into
//! expressions. The client secret comes out of `terraform output -json` straight into a
//! [`SecretString`] and the store's encrypted secrets; afterwards the state and plan files
//! (which hold it in plaintext) are encrypted into the store or removed, per
//! [`StatePolicy`](crate::StatePolicy).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use azure_config::{ConfigInput, GeneratedConfig, Scope as ConfigScope};
use prisma_client::TemplateScope;
use prisma_types::SecretString;
use terraform_runner::plugin_cache;
use terraform_runner::runner::{RunnerConfig, RunnerEvent, TerraformRunner};

use crate::bus::emit;
use crate::engine::{EngineInner, StatePolicy};
use crate::error::EngineError;
use crate::events::EngineEvent;
use crate::job::prisma::PrismaRun;
use crate::job::{Flow, IdentityOut, JobRun};
use crate::request::{IdentitySource, Scope};

/// The store name of a job's Azure client secret.
pub const CLIENT_SECRET: &str = "azure_client_secret";
/// The store name of a job's encrypted Terraform state.
pub const TERRAFORM_STATE: &str = "terraform_state";

#[derive(Clone, Debug, PartialEq)]
pub enum TerraformMode {
    Real { binary: PathBuf },
    Twin { binary: PathBuf, step_seconds: f64 },
    Replay { pace: Duration },
}

impl TerraformMode {
    /// Sandbox: the twin when `terraform` is on PATH, else the replay.
    pub fn sandbox() -> Self {
        match find_on_path("terraform") {
            Some(binary) => TerraformMode::Twin {
                binary,
                step_seconds: 0.4,
            },
            None => TerraformMode::Replay {
                pace: Duration::from_millis(150),
            },
        }
    }

    /// Real runs with `terraform` from PATH (or this path).
    pub fn real(binary: Option<PathBuf>) -> Self {
        TerraformMode::Real {
            binary: binary
                .or_else(|| find_on_path("terraform"))
                .unwrap_or_else(|| "terraform".into()),
        }
    }
}

pub fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

pub(crate) fn runner(
    inner: &EngineInner,
    binary: &Path,
    workdir: &Path,
    env: Vec<(String, SecretString)>,
) -> TerraformRunner {
    TerraformRunner::new(RunnerConfig {
        binary: binary.to_path_buf(),
        workdir: workdir.to_path_buf(),
        env,
        timeouts: Default::default(),
        kill_grace: Duration::from_secs(10),
        plugin_cache: Some(plugin_cache_dir(inner)),
    })
}

/// The provider plugin cache every Terraform run of this data directory shares
/// ([`terraform_runner::plugin_cache`]): terraform's own `TF_PLUGIN_CACHE_DIR` when the user
/// set one (e.g. a cache shared with other tools, or beside a filesystem mirror), else
/// `<data-dir>/terraform-plugins`.
pub(crate) fn plugin_cache_dir(inner: &EngineInner) -> PathBuf {
    std::env::var_os("TF_PLUGIN_CACHE_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| inner.config.data_dir.join("terraform-plugins"))
}

/// Identifies a configuration by the providers it requires, for its recorded dependency lock
/// file: configurations with the same `required_providers` install the same builds.
pub(crate) fn providers_key(main_tf_json: &serde_json::Value) -> String {
    use sha2::Digest;
    let providers = &main_tf_json["terraform"]["required_providers"];
    let digest = sha2::Sha256::digest(providers.to_string().as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// What `request` needs Terraform's Azure caller to be allowed (`azure_access::privileges`).
pub fn privilege_target(
    request: &crate::request::OnboardingRequest,
) -> azure_access::privileges::Target {
    use azure_access::privileges::{Target, TargetScope};
    let scope = match &request.scope {
        Scope::Subscription {
            subscription_id, ..
        } => TargetScope::Subscription(subscription_id.to_string()),
        Scope::Tenant { tenant_id, .. } => TargetScope::Tenant(tenant_id.to_string()),
        Scope::Entra { .. } => TargetScope::EntraOnly,
    };
    let (creates_identity, directory_readers, audit_log_export) = match &request.identity {
        IdentitySource::Builtin {
            directory_readers,
            audit_log_export,
            ..
        } => (true, *directory_readers, *audit_log_export),
        IdentitySource::PrismaTemplate | IdentitySource::SharedTenant { .. } => {
            (true, false, false)
        }
        IdentitySource::Existing { .. } => (false, false, false),
    };
    Target {
        scope,
        creates_identity,
        directory_readers,
        audit_log_export,
    }
}

/// Azure credentials and privileges, checked as `doctor --scope` checks them (one
/// implementation: `azure_access::ready`): a configured method that yields no token, or a
/// caller without the roles the request needs, fails the prerequisites, before Terraform.
/// Every platform's flow checks its own [`azure_access::privileges::Target`] here.
pub(crate) async fn check_azure(
    target: &azure_access::privileges::Target,
) -> Result<(), EngineError> {
    let env = azure_access::Env::from_process();
    let endpoints =
        azure_access::Endpoints::from_env(&env).map_err(|e| EngineError::Prerequisite {
            what: e.to_string(),
            fix: "set it to the endpoint's https URL, or unset it for the public cloud".into(),
        })?;
    match azure_access::ready(&env, &endpoints, Some(target)).await {
        Ok(ready) => {
            emit(EngineEvent::log(
                "info",
                format!("Azure credentials: {}", ready.identity.summary()),
            ));
            emit(EngineEvent::log(
                "info",
                "Azure privileges: nothing missing for this scope and these features",
            ));
            Ok(())
        }
        Err(not_ready) => {
            if let Some(identity) = not_ready.identity() {
                emit(EngineEvent::log(
                    "info",
                    format!("Azure credentials: {}", identity.summary()),
                ));
            }
            Err(EngineError::Prerequisite {
                what: not_ready.what(),
                fix: not_ready.fix(),
            })
        }
    }
}

/// The prerequisite check for Terraform identities.
pub(crate) async fn check_terraform(
    inner: &EngineInner,
    request: &crate::request::OnboardingRequest,
) -> Result<(), EngineError> {
    match &inner.config.terraform {
        TerraformMode::Replay { .. } => {
            emit(EngineEvent::log(
                "warn",
                "terraform is not installed: the sandbox replays a stream of the same resources instead of running it",
            ));
            Ok(())
        }
        TerraformMode::Twin { binary, .. } | TerraformMode::Real { binary } => {
            check_terraform_binary(inner, binary).await?;
            if matches!(inner.config.terraform, TerraformMode::Real { .. }) {
                check_azure(&privilege_target(request)).await?;
            } else {
                emit(EngineEvent::log(
                    "info",
                    "sandbox: applying the terraform_data twin of the Azure configuration (no Azure)",
                ));
            }
            Ok(())
        }
    }
}

/// `terraform version` runs (every flow's prerequisite when it applies a configuration).
pub(crate) async fn check_terraform_binary(
    inner: &EngineInner,
    binary: &Path,
) -> Result<(), EngineError> {
    let version = runner(inner, binary, &inner.config.data_dir, Vec::new())
        .version()
        .await
        .map_err(|e| EngineError::Prerequisite {
            what: format!("terraform could not be run ({e})"),
            fix: "install Terraform ≥ 1.5 and put it on PATH".into(),
        })?;
    emit(EngineEvent::log(
        "info",
        format!("terraform {} ({})", version.version, version.platform),
    ));
    Ok(())
}

/// A stable 5-character name suffix per job, so a re-run converges on the same names.
pub(crate) fn name_suffix(job: &str) -> String {
    let digest = job.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    });
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..5)
        .map(|i| char::from(alphabet[((digest >> (i * 8)) % 36) as usize]))
        .collect()
}

fn config_input(run: &PrismaRun<'_>) -> ConfigInput {
    config_input_of(&run.request, &run.job.id.to_string())
}

/// The configuration input of onboarding `r` as job `job` generated it (its name suffix comes
/// from the job id): a rotation or a destroy regenerates the same configuration from it.
pub(crate) fn config_input_of(r: &crate::request::OnboardingRequest, job: &str) -> ConfigInput {
    let scope = match r.scope {
        Scope::Subscription { .. } => ConfigScope::Subscription,
        Scope::Tenant { .. } => ConfigScope::TenantWithGroups,
        Scope::Entra { .. } => ConfigScope::EntraOnly,
    };
    let (rotation, readers, audit) = match &r.identity {
        IdentitySource::Builtin {
            secret_rotation_days,
            directory_readers,
            audit_log_export,
        } => (*secret_rotation_days, *directory_readers, *audit_log_export),
        _ => (180, false, false),
    };
    ConfigInput {
        scope,
        tenant_id: r.scope.tenant_id().clone(),
        subscription_id: match &r.scope {
            Scope::Subscription {
                subscription_id, ..
            } => Some(subscription_id.clone()),
            _ => None,
        },
        features: r.features_for_scope(),
        flow_logs: r.flow_logs,
        environment: r.environment,
        name_suffix: name_suffix(job),
        secret_rotation_days: rotation,
        directory_readers: readers,
        audit_log_export: audit.then(|| azure_config::AuditLogExport {
            resource_group: "prisma-cloud-audit".into(),
            location: "westeurope".into(),
            namespace_name: format!("prisma-audit-{}", name_suffix(job)),
        }),
    }
}

pub(crate) fn workspace_dir(inner: &EngineInner, job: &str) -> Result<PathBuf, EngineError> {
    let dir = inner.config.data_dir.join("workspaces").join(job);
    std::fs::create_dir_all(&dir)
        .map_err(|e| EngineError::Workspace(format!("{}: {e}", dir.display())))?;
    set_mode(&dir, 0o700)?;
    Ok(dir)
}

#[cfg(unix)]
pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<(), EngineError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| EngineError::Workspace(format!("{}: {e}", path.display())))
}

#[cfg(not(unix))]
pub(crate) fn set_mode(_: &Path, _: u32) -> Result<(), EngineError> {
    Ok(())
}

pub(crate) fn write_json(
    dir: &Path,
    name: &str,
    value: &serde_json::Value,
) -> Result<(), EngineError> {
    let path = dir.join(name);
    let text =
        serde_json::to_string_pretty(value).map_err(|e| EngineError::Workspace(e.to_string()))?;
    std::fs::write(&path, text)
        .map_err(|e| EngineError::Workspace(format!("{}: {e}", path.display())))?;
    set_mode(&path, 0o600)
}

pub(crate) fn forward(event: RunnerEvent) {
    emit(match event {
        RunnerEvent::Message(m) => EngineEvent::from_terraform(&m),
        RunnerEvent::Stderr(line) | RunnerEvent::Unparsed(line) => {
            EngineEvent::TerraformLog { line }
        }
    });
}

/// Runs the Terraform identity step; `Ok(None)` means "planned, waiting for approval".
pub(crate) async fn run_terraform(run: &PrismaRun<'_>) -> Result<Option<IdentityOut>, EngineError> {
    let inner = run.inner;
    let job = run.job.id.to_string();
    let input = config_input(run);
    let dir = workspace_dir(inner, &job)?;
    let generated: GeneratedConfig = match &inner.config.terraform {
        TerraformMode::Real { .. } => match run.request.identity {
            IdentitySource::PrismaTemplate => prisma_template(run, &input).await?,
            _ => azure_config::builtin::generate(&input)?,
        },
        TerraformMode::Twin { step_seconds, .. } => {
            if run.request.identity == IdentitySource::PrismaTemplate {
                // Fetch it anyway, so the user can review what real mode would apply.
                let template = prisma_template(run, &input).await?;
                write_json(&dir, "prisma-template.review.json", &template.main_tf_json)?;
                emit(EngineEvent::log(
                    "info",
                    "sandbox: Prisma's template saved for review; the twin runs in its place",
                ));
            }
            azure_config::twin::generate(&input, *step_seconds)?
        }
        TerraformMode::Replay { .. } => azure_config::builtin::generate(&input)?,
    };
    let names = generated.output_names;

    let outputs: BTreeMap<String, (bool, serde_json::Value)> = match &inner.config.terraform {
        TerraformMode::Replay { pace } => match replay(run, &generated, *pace).await? {
            Some(outputs) => outputs,
            None => return Ok(None),
        },
        TerraformMode::Real { binary } | TerraformMode::Twin { binary, .. } => {
            let env = twin_seed_env(inner, None);
            match apply_on_state(run, binary, &job, &dir, &generated, env, Plan::Apply).await? {
                Some(outputs) => outputs
                    .into_iter()
                    .map(|(k, v)| (k, (v.sensitive, v.value)))
                    .collect(),
                None => return Ok(None),
            }
        }
    };

    let text = |name: &str| -> Result<String, EngineError> {
        outputs
            .get(name)
            .and_then(|(_, v)| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| EngineError::MissingOutput {
                name: name.to_owned(),
            })
    };
    let secret = SecretString::from(text(names.client_secret)?);
    inner.store.put_secret(&job, CLIENT_SECRET, &secret).await?;
    let identity = IdentityOut {
        client_id: text(names.client_id)?,
        service_principal_id: text(names.service_principal_object_id)?,
        secret_expiry: names.secret_expiry.and_then(|n| text(n).ok()),
    };
    emit(EngineEvent::log(
        "info",
        format!(
            "Azure identity ready: client ID {}, service principal object ID {} (client secret stored encrypted)",
            identity.client_id, identity.service_principal_id
        ),
    ));
    Ok(Some(identity))
}

/// What a Terraform run on an identity's state does with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Create or change toward the configuration.
    Apply,
    /// Remove everything the state holds (`plan -destroy`).
    Destroy,
    /// Only the destroy plan, for review: stops after planning (at the approval gate when the
    /// job needs approval), nothing applied; the approved run plans again on the same state.
    DestroyReview,
}

/// The twin's secret seed as Terraform's environment (nothing outside the twin): `seed`, or a
/// fresh one (the twin derives its "client secret" from it, as Entra would mint one).
pub(crate) fn twin_seed_env(
    inner: &EngineInner,
    seed: Option<&SecretString>,
) -> Vec<(String, SecretString)> {
    if !matches!(inner.config.terraform, TerraformMode::Twin { .. }) {
        return Vec::new();
    }
    let seed = seed.cloned().unwrap_or_else(new_twin_seed);
    vec![("TF_VAR_twin_secret_seed".to_owned(), seed)]
}

/// A random seed for the twin's client secret.
pub(crate) fn new_twin_seed() -> SecretString {
    let seed: [u8; 24] = rand::random();
    SecretString::from(seed.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// One Terraform run of `generated` in `dir` on the state stored under `owner` (restored
/// first): init → plan (or `plan -destroy`) → approval gate → apply → outputs. The state is
/// encrypted back under `owner` and every plaintext file that holds a secret removed, whether
/// the run succeeded or not. `Ok(None)`: planned, waiting for approval (the plaintext files
/// are removed then too: the approved run plans again on the same state).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn apply_on_state<F: Flow>(
    run: &JobRun<'_, F>,
    binary: &Path,
    owner: &str,
    dir: &Path,
    generated: &GeneratedConfig,
    env: Vec<(String, SecretString)>,
    plan_kind: Plan,
) -> Result<Option<BTreeMap<String, terraform_runner::stream::OutputValue>>, EngineError> {
    let inner = run.inner;
    write_json(dir, "main.tf.json", &generated.main_tf_json)?;
    write_json(dir, "terraform.tfvars.json", &generated.tfvars_json)?;
    restore_state(inner, owner, dir).await?;
    let tf = runner(inner, binary, dir, env);
    let cache = plugin_cache_dir(inner);
    let providers = providers_key(&generated.main_tf_json);
    tracing::debug!(
        providers_key = %providers,
        cache = %cache.display(),
        "provider plugin cache and dependency lock key"
    );
    if plugin_cache::seed_lock_file(&cache, &providers, dir)
        .map_err(|e| EngineError::Workspace(format!("dependency lock file: {e}")))?
    {
        emit(EngineEvent::log(
            "info",
            "providers pinned by the lock file recorded at this configuration's first run",
        ));
    }
    let plan = dir.join("tfplan");
    match apply_workspace(run, &tf, &plan, plan_kind).await {
        Ok(Some(outputs)) if plan_kind == Plan::DestroyReview => {
            // Nothing changed: the state stays as stored, the plaintext copies go.
            secure_state(inner, owner, dir, true).await?;
            Ok(Some(outputs))
        }
        Ok(Some(outputs)) => {
            secure_state(inner, owner, dir, false).await?;
            finish_workspace(&cache, &providers, dir);
            Ok(Some(outputs))
        }
        Ok(None) => {
            if plan_kind != Plan::Apply {
                // Nothing changed yet: the state stays as stored, the plaintext copies go.
                secure_state(inner, owner, dir, true).await?;
            }
            Ok(None)
        }
        Err(e) => {
            // Interrupted or failed: the state written so far holds secrets too. It is
            // encrypted into the store (and restored before the next init); the plaintext
            // files go.
            if let Err(secure) = secure_state(inner, owner, dir, true).await {
                tracing::warn!(error = %secure, "could not secure the Terraform state");
            }
            Err(e)
        }
    }
}

/// After a successful apply: the workspace's lock file becomes the configuration's recorded
/// one (if it is the first), and `.terraform/` (provider links, modules) goes. Neither failure
/// fails the job: the identity exists; they are logged.
pub(crate) fn finish_workspace(cache: &Path, providers: &str, dir: &Path) {
    if let Err(e) = plugin_cache::record_lock_file(cache, providers, dir) {
        tracing::warn!(error = %e, "could not record the dependency lock file");
    }
    match plugin_cache::remove_installed_providers(dir) {
        Ok(bytes) => tracing::debug!(bytes, workspace = %dir.display(), "removed .terraform"),
        Err(e) => tracing::warn!(error = %e, "could not remove the workspace's .terraform"),
    }
}

/// init → plan → (approval gate) → apply → output. `Ok(None)`: planned, waiting for approval.
pub(crate) async fn apply_workspace<F: Flow>(
    run: &JobRun<'_, F>,
    tf: &TerraformRunner,
    plan: &Path,
    plan_kind: Plan,
) -> Result<Option<BTreeMap<String, terraform_runner::stream::OutputValue>>, EngineError> {
    let _slot = terraform_slot(run).await?;
    let mut sink = forward;
    let approved_plan_waiting = run.job.approved && plan.exists();
    if !approved_plan_waiting {
        let init = tf.init(&run.cancel, &mut sink).await?;
        phase_done(&init);
        let planned = match plan_kind {
            Plan::Apply => tf.plan(plan, &run.cancel, &mut sink).await?,
            Plan::Destroy | Plan::DestroyReview => {
                let out = format!("-out={}", plan.display());
                tf.run(
                    terraform_runner::runner::Phase::Plan,
                    &["-destroy", &out],
                    &run.cancel,
                    &mut sink,
                )
                .await?
            }
        };
        phase_done(&planned);
        if run.awaiting_approval() {
            let (add, change, destroy) = planned.changes.unwrap_or_default();
            emit(EngineEvent::ApprovalRequired {
                add,
                change,
                destroy,
            });
            return Ok(None);
        }
        if plan_kind == Plan::DestroyReview {
            return Ok(Some(BTreeMap::new()));
        }
    }
    let applied = tf.apply(plan, &run.cancel, &mut sink).await?;
    phase_done(&applied);
    match plan_kind {
        Plan::Apply => Ok(Some(tf.output().await?)),
        Plan::Destroy | Plan::DestroyReview => Ok(Some(BTreeMap::new())),
    }
}

/// One of the engine's Terraform slots for the run about to start, waiting (and saying so)
/// when all are taken; a cancelled job stops waiting.
async fn terraform_slot<'a, F: Flow>(
    run: &'a JobRun<'_, F>,
) -> Result<tokio::sync::SemaphorePermit<'a>, EngineError> {
    let slots = &run.inner.terraform_slots;
    if let Ok(slot) = slots.try_acquire() {
        return Ok(slot);
    }
    emit(EngineEvent::log(
        "info",
        format!(
            "waiting for a Terraform slot: {} Terraform runs at once is this engine's limit",
            run.inner.config.terraform_concurrency.max(1)
        ),
    ));
    tokio::select! {
        slot = slots.acquire() => {
            slot.map_err(|_| EngineError::Workspace("the engine is shutting down".into()))
        }
        _ = run.cancel.cancelled() => Err(EngineError::Cancelled),
    }
}

/// How long a Terraform phase took, for the job's timeline and `/metrics`.
fn phase_done(outcome: &terraform_runner::runner::PhaseOutcome) {
    emit(EngineEvent::TerraformPhase {
        phase: outcome.phase.to_string(),
        elapsed_ms: u64::try_from(outcome.elapsed.as_millis()).unwrap_or(u64::MAX),
    });
}

async fn prisma_template(
    run: &PrismaRun<'_>,
    input: &ConfigInput,
) -> Result<GeneratedConfig, EngineError> {
    let scope = match &run.request.scope {
        Scope::Subscription {
            subscription_id,
            tenant_id,
        } => TemplateScope::Subscription {
            tenant_id: tenant_id.clone(),
            subscription_id: subscription_id.clone(),
        },
        Scope::Tenant { tenant_id, .. } => TemplateScope::TenantWithGroups {
            tenant_id: tenant_id.clone(),
        },
        Scope::Entra { tenant_id } => TemplateScope::EntraOnly {
            tenant_id: tenant_id.clone(),
        },
    };
    let template = run
        .client()
        .await?
        .azure_template(&scope, &input.features, input.environment)
        .await?;
    emit(EngineEvent::log(
        "info",
        "fetched Prisma Cloud's Terraform template",
    ));
    Ok(GeneratedConfig {
        main_tf_json: template,
        tfvars_json: serde_json::json!({}),
        resources: Vec::new(),
        output_names: azure_config::outputs::names_for(input.scope),
    })
}

/// Sandbox without Terraform: replays a stream of the configuration's resources and makes up
/// the outputs an apply would have produced.
async fn replay(
    run: &PrismaRun<'_>,
    generated: &GeneratedConfig,
    pace: Duration,
) -> Result<Option<BTreeMap<String, (bool, serde_json::Value)>>, EngineError> {
    let resources: Vec<(String, String, String)> = generated
        .resources
        .iter()
        .map(|r| {
            (
                r.address.clone(),
                r.resource_type.clone(),
                r.resource_name.clone(),
            )
        })
        .collect();
    // The same gate as a real plan: every resource would be created.
    if run.awaiting_approval() {
        for (address, _, _) in &resources {
            emit(EngineEvent::TerraformPlannedChange {
                address: address.clone(),
                action: "create".into(),
            });
        }
        emit(EngineEvent::ApprovalRequired {
            add: resources.len() as u64,
            change: 0,
            destroy: 0,
        });
        return Ok(None);
    }
    let names = generated.output_names;
    let output_list: Vec<String> = [
        names.tenant_id,
        names.client_id,
        names.client_secret,
        names.service_principal_object_id,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let lines = terraform_runner::replay::synthesize_apply_stream(&resources, &output_list);
    let mut sink = forward;
    terraform_runner::replay::replay_lines(&lines, pace, &run.cancel, &mut sink).await?;
    let fake_guid = || uuid::Uuid::new_v4().to_string();
    let secret: String = {
        let bytes: [u8; 20] = rand::random();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    };
    let mut out = BTreeMap::new();
    out.insert(
        names.tenant_id.to_owned(),
        (
            false,
            serde_json::json!(run.request.scope.tenant_id().as_str()),
        ),
    );
    out.insert(
        names.client_id.to_owned(),
        (false, serde_json::json!(fake_guid())),
    );
    out.insert(
        names.service_principal_object_id.to_owned(),
        (false, serde_json::json!(fake_guid())),
    );
    out.insert(
        names.client_secret.to_owned(),
        (true, serde_json::json!(secret)),
    );
    // As the configuration's `time_rotating` would: now plus the rotation period.
    if let (
        Some(name),
        IdentitySource::Builtin {
            secret_rotation_days,
            ..
        },
    ) = (names.secret_expiry, &run.request.identity)
    {
        let end = time::OffsetDateTime::now_utc()
            + time::Duration::days(i64::from(*secret_rotation_days));
        let text = end
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        out.insert(name.to_owned(), (false, serde_json::json!(text)));
    }
    Ok(Some(out))
}

/// A run that is repeated after the state was secured (a crash between the apply and the
/// step's checkpoint) must start from that state, or Terraform would create everything again.
pub(crate) async fn restore_state(
    inner: &EngineInner,
    job: &str,
    dir: &Path,
) -> Result<(), EngineError> {
    let state = dir.join("terraform.tfstate");
    if !state.exists()
        && let Some(saved) = inner.store.get_secret(job, TERRAFORM_STATE).await?
    {
        std::fs::write(&state, saved.expose())
            .map_err(|e| EngineError::Workspace(format!("{}: {e}", state.display())))?;
        set_mode(&state, 0o600)?;
        emit(EngineEvent::log(
            "info",
            "restored the encrypted Terraform state into the workspace",
        ));
    }
    Ok(())
}

/// Encrypts the state into the store (or drops it, per policy — but a run that did not finish
/// (`interrupted`) always keeps its state, or the resume would create everything again) and
/// removes every plaintext file that holds the client secret: state, backup, saved plan.
pub(crate) async fn secure_state(
    inner: &EngineInner,
    job: &str,
    dir: &Path,
    interrupted: bool,
) -> Result<(), EngineError> {
    let state = dir.join("terraform.tfstate");
    if (interrupted || inner.config.state_policy == StatePolicy::KeepEncrypted)
        && let Ok(text) = std::fs::read_to_string(&state)
    {
        inner
            .store
            .put_secret(job, TERRAFORM_STATE, &SecretString::from(text))
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

/// Moves a file that holds a secret (a saved plan waiting for approval) into the store,
/// encrypted under `name`; the plaintext file goes. [`restore_parked`] puts it back.
pub(crate) async fn park_file(
    inner: &EngineInner,
    job: &str,
    name: &str,
    path: &Path,
) -> Result<(), EngineError> {
    use base64::Engine as _;
    let Ok(bytes) = std::fs::read(path) else {
        return Ok(());
    };
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    inner
        .store
        .put_secret(job, name, &SecretString::from(text))
        .await?;
    std::fs::remove_file(path)
        .map_err(|e| EngineError::Workspace(format!("{}: {e}", path.display())))
}

/// Writes a file [`park_file`] stored back to `path` (0600) unless it is there already.
pub(crate) async fn restore_parked(
    inner: &EngineInner,
    job: &str,
    name: &str,
    path: &Path,
) -> Result<(), EngineError> {
    use base64::Engine as _;
    if path.exists() {
        return Ok(());
    }
    let Some(saved) = inner.store.get_secret(job, name).await? else {
        return Ok(());
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(saved.expose())
        .map_err(|e| EngineError::Workspace(format!("{name}: {e}")))?;
    std::fs::write(path, bytes)
        .map_err(|e| EngineError::Workspace(format!("{}: {e}", path.display())))?;
    set_mode(path, 0o600)
}
