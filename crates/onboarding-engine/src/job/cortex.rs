//! Cortex Cloud's flow: validate → prerequisites → create_instance → download_template →
//! apply_template → await_connection → verify → list_accounts (fact sheet §8.2).
//!
//! * **prerequisites**: the job's Cortex connection and its key (`api_keys/validate`),
//!   terraform (the sandbox's twin needs it too: nothing else can make the callback), Azure
//!   credentials and privileges for real runs (`azure_access::ready`, as for Prisma), and the
//!   tenant approved for Cortex's application (`get_azure_approved_tenants`; refused naming
//!   `tenant_id`).
//! * **create_instance**: `create_instance_template` → a *pending* instance whose id is the
//!   tracking GUID (the checkpoint). Every instance is tagged `azure-cortex-job = <job id>`, so
//!   a run that stopped between the create and its checkpoint (or whose create's answer was
//!   lost) finds its pending instance instead of creating a second one.
//! * **download_template**: the signed `manual.TF` link (kept encrypted with the job, never in
//!   a checkpoint, event or log) is downloaded, its MD5 checked against `x-goog-hash` / `ETag`;
//!   an expired link is issued again (`edit_instance` on the pending instance, the API's
//!   *Re-download Connection Template*) and fetched once more. The bundle's files go into the
//!   job's workspace — without the signed `upload_output_url`, which is kept encrypted and
//!   given to Terraform only as `TF_VAR_upload_output_url`.
//! * **apply_template**: init → plan → (approval gate) → apply of the bundle's module (real)
//!   or its `twin/` (sandbox), streamed resource by resource as for Prisma
//!   ([`crate::identity::apply_workspace`]); state and a plan waiting for approval are kept
//!   encrypted in the store, their plaintext files removed (the plan holds the URL).
//! * **await_connection**: the template's callback makes Cortex create a *new* instance. Polls
//!   `get_instances` (not pending, Azure) with bounded backoff until the job's instance shows
//!   up (its tag; else §8.2's match: tenant, group or subscription, created after the apply),
//!   within `verify_timeout`; the timeout says what to check and how to resume.
//! * **verify**: `get_instance_details` until no capability is retrieving (4); each change is
//!   a `capability_status` event with Cortex's text and our fix; an error fails the job naming
//!   the capability, a warning finishes the step with it.
//! * **list_accounts**: `get_accounts` (paged).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use cortex_cloud_client::{CortexClient, HttpEvent};
use cortex_cloud_types::filter::{FilterData, FilterNode};
use cortex_cloud_types::wire::{EditInstance, InstanceDetails, InstanceRow, Tag, TemplateLinks};
use cortex_cloud_types::{CloudProvider, InstanceStatus};
use prisma_types::SecretString;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use super::{Flow, JobRun, StepDone, StepFuture, Stop, to_value};
use crate::bus::emit;
use crate::cortex::guidance;
use crate::cortex::request::{CortexConnectionRef, CortexRequest};
use crate::cortex::result::{CortexAccount, CortexCapabilityState, CortexJobResult};
use crate::engine::EngineInner;
use crate::error::EngineError;
use crate::events::{EngineEvent, Step};
use crate::identity::{self, TerraformMode};
use crate::request::{FieldError, RequestErrors};
use azure_config::cortex::CortexScope;

/// A Cortex Cloud job in progress.
pub(crate) type CortexRun<'a> = JobRun<'a, CortexFlow>;

/// The tag every instance this product creates carries: the job that created it.
pub const JOB_TAG: &str = "azure-cortex-job";
/// The job's secrets: the signed template link, the signed callback URL, a parked plan.
const TEMPLATE_LINK: &str = "cortex_template_link";
const UPLOAD_URL: &str = "cortex_upload_url";
const PARKED_PLAN: &str = "terraform_plan";
/// The bundle's variable holding the callback URL.
const UPLOAD_URL_VAR: &str = azure_config::cortex::UPLOAD_URL_VAR;
/// At most this many accounts are kept in the result (the total is always given).
const MAX_ACCOUNTS_KEPT: usize = 1000;

#[derive(Serialize, Deserialize, Debug, Clone)]
pub(crate) struct CreatedOut {
    pub pending_instance_id: String,
    /// Found (created by an earlier run of this job) rather than created now.
    pub found: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub(crate) struct TemplateOut {
    /// Hex MD5 of the bundle as downloaded and checked.
    pub md5: String,
    /// Which of the bundle's configurations the job applies (`main.tf.json` or
    /// `twin/main.tf.json`).
    pub configuration: String,
    /// The link had expired and was issued again.
    pub reissued: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub(crate) struct AppliedOut {
    /// When the apply step began (ms since the epoch): an instance matched without its tag
    /// must be newer.
    pub started_ms: i64,
    /// The template's non-sensitive outputs.
    pub outputs: BTreeMap<String, serde_json::Value>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub(crate) struct ConnectedOut {
    pub instance_id: String,
    pub instance_name: String,
    pub status: String,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub(crate) struct VerifiedOut {
    pub status: String,
    pub capabilities: Vec<CortexCapabilityState>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub(crate) struct AccountsOut {
    pub accounts: Vec<CortexAccount>,
    pub total: u64,
}

/// What a Cortex Cloud run keeps: the connection's client, built when a step first needs it.
#[derive(Default)]
pub(crate) struct CortexFlow {
    client: OnceCell<CortexClient>,
}

impl Flow for CortexFlow {
    type Request = CortexRequest;

    const STEPS: &'static [Step] = &Step::CORTEX;

    fn run_step<'r>(run: &'r CortexRun<'r>, step: Step) -> StepFuture<'r> {
        Box::pin(async move {
            Ok(match step {
                Step::Validate => StepDone::empty(),
                Step::Prerequisites => {
                    run.prerequisites().await?;
                    StepDone::empty()
                }
                Step::CreateInstance => StepDone::output(run.create_instance().await?),
                Step::DownloadTemplate => StepDone::output(run.download_template().await?),
                Step::ApplyTemplate => match run.apply_template().await? {
                    None => StepDone::AwaitingApproval,
                    Some(applied) => StepDone::output(applied),
                },
                Step::AwaitConnection => StepDone::output(run.await_connection().await?),
                Step::Verify => {
                    let (verified, warning) = run.verify().await?;
                    StepDone::Finished {
                        output: to_value(verified),
                        warning,
                    }
                }
                Step::ListAccounts => StepDone::output(run.list_accounts().await?),
                other => {
                    return Err(EngineError::Workspace(format!(
                        "step {} is not a Cortex Cloud step",
                        other.name()
                    )));
                }
            })
        })
    }

    fn needs_approval(run: &CortexRun<'_>) -> bool {
        run.request.require_approval
    }

    fn result(run: &CortexRun<'_>) -> Result<serde_json::Value, Stop> {
        let created: CreatedOut = run.required(Step::CreateInstance)?;
        let template: TemplateOut = run.required(Step::DownloadTemplate)?;
        let connected: ConnectedOut = run.required(Step::AwaitConnection)?;
        let verified: VerifiedOut = run.required(Step::Verify)?;
        let accounts: AccountsOut = run.required(Step::ListAccounts)?;
        emit(EngineEvent::JobSucceeded {
            account_id: connected.instance_id.clone(),
            outcome: verified.status.to_ascii_lowercase(),
        });
        let result = CortexJobResult {
            platform: "cortex".into(),
            instance_id: connected.instance_id,
            pending_instance_id: created.pending_instance_id,
            instance_name: connected.instance_name,
            status: verified.status,
            scope: scope_name(run.request.scope).into(),
            capabilities: verified.capabilities,
            accounts: accounts.accounts,
            accounts_total: accounts.total,
            template_md5: template.md5,
            step_ms: run
                .step_ms()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        };
        serde_json::to_value(result).map_err(|e| EngineError::Workspace(e.to_string()).into())
    }
}

fn scope_name(scope: CortexScope) -> &'static str {
    match scope {
        CortexScope::Tenant => "tenant",
        CortexScope::ManagementGroup => "management_group",
        CortexScope::Subscription => "subscription",
    }
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// The client of a Cortex connection, shared by the jobs that use it (one pacer per
/// connection, so bulk work stays polite); rebuilt when the connection changed.
pub(crate) async fn client_for(
    inner: &EngineInner,
    connection: &CortexConnectionRef,
) -> Result<CortexClient, EngineError> {
    let target =
        match connection {
            CortexConnectionRef::Sandbox => {
                inner.config.cortex_sandbox.clone().ok_or_else(|| {
                    EngineError::UnknownConnection {
                        name: connection.as_str().to_owned(),
                    }
                })?
            }
            CortexConnectionRef::Saved(name) => {
                let found = inner.load_connection(name).await?.ok_or_else(|| {
                    EngineError::UnknownConnection {
                        name: name.to_string(),
                    }
                })?;
                match found.target {
                    crate::connections::PlatformConnection::Cortex(c) => c,
                    other => {
                        return Err(EngineError::WrongPlatform {
                            name: name.to_string(),
                            found: other.platform(),
                            wanted: crate::connections::Platform::Cortex,
                        });
                    }
                }
            }
        };
    let key = connection.as_str().to_owned();
    let mut cache = inner
        .cortex_clients
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(client) = cache.get(&key)
        && client.config().api_url == target.api_url
        && client.config().key == target.key
    {
        return Ok(client.clone());
    }
    let mut config = cortex_cloud_client::ClientConfig::new(target.api_url, target.key);
    config.extra_ca_pem = inner.config.cortex_ca_pem.clone();
    // Jobs never queue behind the client's cap on requests in flight (one each at a time).
    config.max_in_flight = config.max_in_flight.max(inner.config.concurrency);
    let hook: cortex_cloud_client::EventHook = std::sync::Arc::new(|e: &HttpEvent| {
        if let Some(event) = EngineEvent::from_http(e) {
            emit(event);
        }
    });
    let client = CortexClient::with_hook(config, Some(hook))?;
    cache.insert(key, client.clone());
    Ok(client)
}

impl CortexRun<'_> {
    async fn client(&self) -> Result<&CortexClient, EngineError> {
        self.flow
            .client
            .get_or_try_init(|| async {
                let client = client_for(self.inner, &self.request.connection).await?;
                emit(EngineEvent::log(
                    "info",
                    format!(
                        "Cortex Cloud connection '{}': {} (key {}, {})",
                        self.request.connection.as_str(),
                        client.config().api_url,
                        client.config().key.id,
                        client.config().key.kind
                    ),
                ));
                Ok(client)
            })
            .await
    }

    fn job_key(&self) -> String {
        self.job.id.to_string()
    }

    async fn prerequisites(&self) -> Result<(), EngineError> {
        let client = self.client().await?;
        client.validate_key().await?;
        emit(EngineEvent::log(
            "info",
            "Cortex Cloud reachable; API key accepted",
        ));
        match &self.inner.config.terraform {
            TerraformMode::Replay { .. } => {
                return Err(EngineError::Prerequisite {
                    what: "terraform is not installed: a Cortex Cloud onboarding runs the \
                           authentication template with it (in the sandbox too: the template's \
                           callback is what connects the instance)"
                        .into(),
                    fix: "install Terraform ≥ 1.5 and put it on PATH".into(),
                });
            }
            TerraformMode::Real { binary } => {
                identity::check_terraform_binary(self.inner, binary).await?;
                identity::check_azure(&privilege_target(&self.request)).await?;
            }
            TerraformMode::Twin { binary, .. } => {
                identity::check_terraform_binary(self.inner, binary).await?;
                emit(EngineEvent::log(
                    "info",
                    "sandbox: applying the template's terraform_data twin (no Azure); its \
                     callback is real",
                ));
            }
        }
        check_tenant_approved(client, &self.request).await?;
        emit(EngineEvent::log(
            "info",
            format!(
                "tenant {} has approved Cortex Cloud's application",
                self.request.tenant_id
            ),
        ));
        Ok(())
    }

    /// The pending instance an earlier run of this job created, if any.
    async fn find_pending(&self) -> Result<Option<InstanceRow>, EngineError> {
        let filter = FilterData::new().all(vec![
            FilterNode::eq("CLOUD_PROVIDER", "AZURE"),
            FilterNode::eq("STATUS", "PENDING"),
        ]);
        let rows = self.client().await?.all_instances(&filter).await?;
        let job = self.job_key();
        Ok(rows
            .into_iter()
            .find(|r| has_job_tag(&r.custom_resources_tags, &job)))
    }

    fn instance_template(&self) -> cortex_cloud_types::wire::CreateInstanceTemplate {
        let mut template = self.request.instance_template();
        template.custom_resources_tags.push(Tag {
            key: JOB_TAG.into(),
            value: self.job_key(),
        });
        template
    }

    /// New links for the pending instance (its configuration unchanged): the API's way to
    /// *re-download the connection template*.
    async fn reissue_links(&self, pending_id: &str) -> Result<TemplateLinks, EngineError> {
        let t = self.instance_template();
        let edit = EditInstance {
            id: pending_id.to_owned(),
            scan_env_id: t.scan_env_id.clone().unwrap_or_default(),
            instance_name: t.instance_name.clone().unwrap_or_default(),
            cloud_provider: CloudProvider::Azure,
            custom_resources_tags: t.custom_resources_tags.clone(),
            scope_modifications: t.scope_modifications.clone(),
            additional_capabilities: Some(t.additional_capabilities.clone()),
            collection_configuration: Some(t.collection_configuration.clone()),
            cloud_partition: t.cloud_partition,
        };
        Ok(self.client().await?.edit_instance(&edit).await?)
    }

    /// Keeps the signed Terraform link, encrypted with the job.
    async fn keep_link(&self, links: &TemplateLinks) -> Result<(), EngineError> {
        let tf = links
            .manual
            .tf
            .clone()
            .ok_or_else(|| EngineError::CortexTemplate {
                what: "Cortex Cloud answered without a Terraform template link (manual.TF)".into(),
                fix: "check that the tenant offers Terraform templates for Azure; resume the job \
                      to ask again"
                    .into(),
            })?;
        self.inner
            .store
            .put_secret(&self.job_key(), TEMPLATE_LINK, &SecretString::from(tf))
            .await?;
        Ok(())
    }

    async fn create_instance(&self) -> Result<CreatedOut, EngineError> {
        // A run that stopped after the create and before its checkpoint: the same instance.
        if let Some(found) = self.find_pending().await? {
            return self.adopt_pending(found).await;
        }
        let client = self.client().await?;
        let links = match client
            .create_instance_template(&self.instance_template())
            .await
        {
            Ok(links) => links,
            Err(e) if e.is_ambiguous() => match self.find_pending().await? {
                // The create went through but its answer was lost.
                Some(found) => return self.adopt_pending(found).await,
                None => return Err(e.into()),
            },
            Err(e) => return Err(e.into()),
        };
        let pending = links
            .tracking_guid()
            .ok_or_else(|| EngineError::CortexTemplate {
                what: "Cortex Cloud's template links carry no tracking GUID".into(),
                fix: "report it with the job's API calls; resume the job to try again".into(),
            })?;
        self.keep_link(&links).await?;
        emit(EngineEvent::CortexInstance {
            instance_id: pending.clone(),
            status: InstanceStatus::Pending.as_str().into(),
        });
        emit(EngineEvent::log(
            "info",
            format!("pending instance {pending} created; its template link is valid for 7 days"),
        ));
        Ok(CreatedOut {
            pending_instance_id: pending,
            found: false,
        })
    }

    async fn adopt_pending(&self, found: InstanceRow) -> Result<CreatedOut, EngineError> {
        let pending = found.instance_id.to_ascii_lowercase();
        emit(EngineEvent::log(
            "info",
            format!(
                "pending instance {pending} was created by an earlier run of this job: using \
                 it, not creating another"
            ),
        ));
        let links = self.reissue_links(&pending).await?;
        self.keep_link(&links).await?;
        emit(EngineEvent::CortexInstance {
            instance_id: pending.clone(),
            status: InstanceStatus::Pending.as_str().into(),
        });
        Ok(CreatedOut {
            pending_instance_id: pending,
            found: true,
        })
    }

    async fn download_template(&self) -> Result<TemplateOut, EngineError> {
        let created: CreatedOut = self.required(Step::CreateInstance)?;
        self.prepare_workspace(&created.pending_instance_id).await
    }

    /// Downloads the bundle (issuing a new link once if it expired), checks it and writes the
    /// workspace.
    async fn prepare_workspace(&self, pending_id: &str) -> Result<TemplateOut, EngineError> {
        let job = self.job_key();
        let link = self
            .inner
            .store
            .get_secret(&job, TEMPLATE_LINK)
            .await?
            .ok_or_else(|| EngineError::Workspace("the template link is missing".into()))?;
        let (bundle, reissued) = match download(&link).await {
            Ok(bundle) => (bundle, false),
            Err(Download::Expired) => {
                emit(EngineEvent::log(
                    "warn",
                    "the template link has expired (links are valid for 7 days): asking Cortex \
                     Cloud for a new one",
                ));
                let links = self.reissue_links(pending_id).await?;
                self.keep_link(&links).await?;
                let link = self
                    .inner
                    .store
                    .get_secret(&job, TEMPLATE_LINK)
                    .await?
                    .ok_or_else(|| EngineError::Workspace("the template link is missing".into()))?;
                match download(&link).await {
                    Ok(bundle) => (bundle, true),
                    Err(e) => return Err(e.into_error()),
                }
            }
            Err(e) => return Err(e.into_error()),
        };
        emit(EngineEvent::log(
            "info",
            format!(
                "template downloaded: {} bytes, MD5 {} ({})",
                bundle.size, bundle.md5, bundle.checked
            ),
        ));
        let twin = matches!(self.inner.config.terraform, TerraformMode::Twin { .. });
        let configuration = if twin {
            "twin/main.tf.json"
        } else {
            "main.tf.json"
        };
        let main = bundle
            .files
            .get(configuration)
            .ok_or_else(|| EngineError::CortexTemplate {
                what: format!("the template bundle has no {configuration}"),
                fix: "the tenant's template may be ARM only; report it with the job id".into(),
            })?;
        let main: serde_json::Value =
            serde_json::from_str(main).map_err(|e| EngineError::CortexTemplate {
                what: format!("{configuration} in the bundle is not JSON ({e})"),
                fix: "resume the job to download it again".into(),
            })?;
        let mut tfvars: serde_json::Map<String, serde_json::Value> = bundle
            .files
            .get("terraform.tfvars.json")
            .and_then(|t| serde_json::from_str(t).ok())
            .ok_or_else(|| EngineError::CortexTemplate {
                what: "the template bundle has no readable terraform.tfvars.json".into(),
                fix: "resume the job to download it again".into(),
            })?;
        // The signed callback URL: kept encrypted, handed to Terraform through its environment.
        if let Some(url) = tfvars.remove(UPLOAD_URL_VAR) {
            let url = url.as_str().unwrap_or_default().to_owned();
            self.inner
                .store
                .put_secret(&job, UPLOAD_URL, &SecretString::from(url))
                .await?;
        }
        let dir = identity::workspace_dir(self.inner, &job)?;
        identity::write_json(&dir, "main.tf.json", &main)?;
        identity::write_json(
            &dir,
            "terraform.tfvars.json",
            &serde_json::Value::Object(tfvars),
        )?;
        identity::write_json(&dir, "deployment.auto.tfvars.json", &self.deployment_vars())?;
        Ok(TemplateOut {
            md5: bundle.md5,
            configuration: configuration.into(),
            reissued,
        })
    }

    /// What the person running the template chooses (§7.3), as Terraform variables.
    fn deployment_vars(&self) -> serde_json::Value {
        let r = &self.request;
        let mut vars = serde_json::json!({
            "subscription_id": r.subscription_id.as_str(),
            "resource_group_location": r.location,
        });
        if let (CortexScope::ManagementGroup, Some(mg)) = (r.scope, &r.management_group_id) {
            vars["management_group_id"] = serde_json::json!(mg.as_str());
        }
        vars
    }

    async fn apply_template(&self) -> Result<Option<AppliedOut>, EngineError> {
        let inner = self.inner;
        let job = self.job_key();
        let (TerraformMode::Real { binary } | TerraformMode::Twin { binary, .. }) =
            &inner.config.terraform
        else {
            return Err(EngineError::Prerequisite {
                what: "terraform is not installed".into(),
                fix: "install Terraform ≥ 1.5 and put it on PATH, then resume the job".into(),
            });
        };
        let started_ms = now_ms();
        // A run stopped after the template's callback went out (and before this step's
        // checkpoint): the deployment is complete — its last resource is the callback — and a
        // second callback would be refused. Not applied again.
        if let Some(row) = self.find_connected(None).await? {
            emit(EngineEvent::log(
                "info",
                format!(
                    "the template already ran to its callback (instance {}): not applied again",
                    row.instance_id
                ),
            ));
            return Ok(Some(AppliedOut {
                started_ms,
                outputs: BTreeMap::new(),
            }));
        }
        let dir = identity::workspace_dir(inner, &job)?;
        if !dir.join("main.tf.json").exists() {
            // Another machine ran the download, or the workspace was cleaned: fetch it again.
            let created: CreatedOut = self.required(Step::CreateInstance)?;
            let again = self.prepare_workspace(&created.pending_instance_id).await?;
            let before: TemplateOut = self.required(Step::DownloadTemplate)?;
            if again.md5 != before.md5 {
                emit(EngineEvent::log(
                    "warn",
                    format!(
                        "the template downloaded again differs from the one checked before \
                         (MD5 {} then {}): applying the new one",
                        before.md5, again.md5
                    ),
                ));
            }
        }
        let url = inner
            .store
            .get_secret(&job, UPLOAD_URL)
            .await?
            .ok_or_else(|| EngineError::CortexTemplate {
                what: "the template's callback URL is missing".into(),
                fix: "resume the job from download_template".into(),
            })?;
        identity::restore_state(inner, &job, &dir).await?;
        let plan = dir.join("tfplan");
        identity::restore_parked(inner, &job, PARKED_PLAN, &plan).await?;
        let env = vec![(format!("TF_VAR_{UPLOAD_URL_VAR}"), url)];
        let tf = identity::runner(inner, binary, &dir, env);
        let main: serde_json::Value = std::fs::read_to_string(dir.join("main.tf.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        let cache = identity::plugin_cache_dir(inner);
        let providers = identity::providers_key(&main);
        terraform_runner::plugin_cache::seed_lock_file(&cache, &providers, &dir)
            .map_err(|e| EngineError::Workspace(format!("dependency lock file: {e}")))?;
        match identity::apply_workspace(self, &tf, &plan, identity::Plan::Apply).await {
            Ok(Some(outputs)) => {
                identity::secure_state(inner, &job, &dir, false).await?;
                identity::finish_workspace(&cache, &providers, &dir);
                let outputs = outputs
                    .into_iter()
                    .filter(|(_, v)| !v.sensitive)
                    .map(|(k, v)| (k, v.value))
                    .collect();
                Ok(Some(AppliedOut {
                    started_ms,
                    outputs,
                }))
            }
            Ok(None) => {
                // The saved plan holds the callback URL: encrypted until the approval.
                identity::park_file(inner, &job, PARKED_PLAN, &plan).await?;
                Ok(None)
            }
            Err(e) => {
                if let Err(secure) = identity::secure_state(inner, &job, &dir, true).await {
                    tracing::warn!(error = %secure, "could not secure the Terraform state");
                }
                Err(e)
            }
        }
    }

    async fn await_connection(&self) -> Result<ConnectedOut, EngineError> {
        let created: CreatedOut = self.required(Step::CreateInstance)?;
        let applied: AppliedOut = self.required(Step::ApplyTemplate)?;
        let timeout = self.inner.config.verify_timeout;
        let started = Instant::now();
        loop {
            if let Some(row) = self.find_connected(Some(applied.started_ms)).await? {
                emit(EngineEvent::CortexInstance {
                    instance_id: row.instance_id.clone(),
                    status: row.status.as_str().into(),
                });
                emit(EngineEvent::log(
                    "info",
                    format!(
                        "the template's callback reached Cortex Cloud: instance {} ({}) \
                         created from pending instance {}",
                        row.instance_id, row.status, created.pending_instance_id
                    ),
                ));
                return Ok(ConnectedOut {
                    instance_id: row.instance_id.clone(),
                    instance_name: row.instance_name.clone(),
                    status: row.status.as_str().into(),
                });
            }
            let pause = next_poll(started.elapsed(), Duration::from_secs(15));
            if started.elapsed() + pause > timeout || self.cancel.is_cancelled() {
                return Err(EngineError::CortexCallbackTimeout {
                    waited_s: started.elapsed().as_secs(),
                    pending_instance_id: created.pending_instance_id,
                });
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = self.cancel.cancelled() => {}
            }
        }
    }

    /// The instance the template's callback created for this job: the one with its tag, else
    /// (given `after_ms`) one that matches as §8.2 recommends.
    async fn find_connected(
        &self,
        after_ms: Option<i64>,
    ) -> Result<Option<InstanceRow>, EngineError> {
        let filter = FilterData::new().all(vec![
            FilterNode::eq("CLOUD_PROVIDER", "AZURE"),
            FilterNode::neq("STATUS", "PENDING"),
        ]);
        let mut rows = self.client().await?.all_instances(&filter).await?;
        let job = self.job_key();
        let tagged = rows
            .iter()
            .position(|r| has_job_tag(&r.custom_resources_tags, &job));
        let matched = tagged.or_else(|| {
            after_ms.and_then(|after| rows.iter().position(|r| self.matches(r, after)))
        });
        Ok(matched.map(|i| rows.swap_remove(i)))
    }

    /// §8.2's match for an instance without our tag: the tenant, the group or subscription,
    /// created after the apply began.
    fn matches(&self, row: &InstanceRow, after_ms: i64) -> bool {
        let r = &self.request;
        let d = &row.account_details;
        let tenant = d.organization_id.eq_ignore_ascii_case(r.tenant_id.as_str());
        let place = match r.scope {
            CortexScope::Tenant => true,
            CortexScope::ManagementGroup => r
                .management_group_id
                .as_ref()
                .is_some_and(|mg| d.account_group.eq_ignore_ascii_case(mg.as_str())),
            CortexScope::Subscription => d
                .account_id
                .eq_ignore_ascii_case(r.subscription_id.as_str()),
        };
        let newer = row.created().is_some_and(|c| c.0 >= after_ms);
        tenant && place && newer
    }

    async fn verify(&self) -> Result<(VerifiedOut, Option<String>), EngineError> {
        let connected: ConnectedOut = self.required(Step::AwaitConnection)?;
        let client = self.client().await?;
        let timeout = self.inner.config.verify_timeout;
        let started = Instant::now();
        let mut last: Vec<CortexCapabilityState> = Vec::new();
        let details = loop {
            let details = client.get_instance_details(&connected.instance_id).await?;
            let states = capability_states(&details);
            if states != last {
                for s in states.iter().filter(|s| !last.contains(s)) {
                    emit(EngineEvent::CapabilityStatus {
                        capability: s.name.clone(),
                        status: s.status.clone(),
                        message: s.message.clone(),
                        remediation: s.remediation.clone(),
                        docs_url: if s.remediation.is_empty() {
                            String::new()
                        } else {
                            guidance::DOCS_URL.to_owned()
                        },
                    });
                }
                last = states;
            }
            if details.retrieving().next().is_none() {
                break details;
            }
            let pause = next_poll(started.elapsed(), Duration::from_secs(10));
            if started.elapsed() + pause > timeout || self.cancel.is_cancelled() {
                let failing = last
                    .iter()
                    .filter(|s| s.status == "retrieving")
                    .map(|s| format!("{}: still retrieving its status", s.name))
                    .collect();
                return Err(EngineError::CapabilitiesFailing {
                    failing,
                    waited_s: started.elapsed().as_secs(),
                });
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = self.cancel.cancelled() => {}
            }
        };
        let summary = |status: &str| -> Vec<String> {
            last.iter()
                .filter(|s| s.status == status)
                .map(|s| {
                    format!(
                        "{}: {} (fix: {})",
                        s.name,
                        s.message.trim_end_matches('.'),
                        s.remediation
                    )
                })
                .collect()
        };
        let errors = summary("error");
        if !errors.is_empty() {
            return Err(EngineError::CapabilitiesFailing {
                failing: errors,
                waited_s: started.elapsed().as_secs(),
            });
        }
        let warnings = summary("warning");
        let warning = (!warnings.is_empty()).then(|| {
            format!(
                "{} capability warning(s): {}",
                warnings.len(),
                warnings.join("; ")
            )
        });
        Ok((
            VerifiedOut {
                status: details.status.as_str().into(),
                capabilities: last,
            },
            warning,
        ))
    }

    async fn list_accounts(&self) -> Result<AccountsOut, EngineError> {
        let connected: ConnectedOut = self.required(Step::AwaitConnection)?;
        let rows = self
            .client()
            .await?
            .all_accounts(&connected.instance_id)
            .await?;
        let total = rows.len() as u64;
        let accounts: Vec<CortexAccount> = rows
            .iter()
            .take(MAX_ACCOUNTS_KEPT)
            .map(|a| CortexAccount {
                account_id: a.subscription().to_owned(),
                name: a.account_name.clone(),
                status: a.status.clone(),
                kind: a.kind.clone(),
            })
            .collect();
        emit(EngineEvent::log(
            "info",
            format!(
                "instance {} covers {total} account(s)",
                connected.instance_id
            ),
        ));
        Ok(AccountsOut { accounts, total })
    }
}

/// Each capability's state with our fix beside a warning or an error.
pub(crate) fn capability_states(details: &InstanceDetails) -> Vec<CortexCapabilityState> {
    details
        .security_capabilities
        .iter()
        .map(|c| {
            let status = c.status.label();
            let troubled = matches!(status, "warning" | "error");
            CortexCapabilityState {
                name: c.name.clone(),
                status: status.into(),
                code: c.status.code(),
                message: c.message.clone().unwrap_or_default(),
                remediation: if troubled {
                    guidance::fix_for(&c.name).into()
                } else {
                    String::new()
                },
            }
        })
        .collect()
}

/// How long to wait before the next poll of something that takes as long as it takes (the
/// callback, the capability checks): half the time waited so far, at least a second and at
/// most `cap`. A doubling pause overshot by up to its own length (an 8 s wait was seen at
/// 15.5 s: polls at 7.5 s, then 15.5 s); this one overshoots by at most half the wait, with
/// about as many calls (an 8 s wait: polls at 0, 1, 2, 3, 4.5, 6.75 and 10.1 s).
fn next_poll(waited: Duration, cap: Duration) -> Duration {
    (waited / 2).clamp(Duration::from_secs(1), cap)
}

fn has_job_tag(tags: &[Tag], job: &str) -> bool {
    tags.iter().any(|t| t.key == JOB_TAG && t.value == job)
}

/// What Terraform's Azure caller must be allowed to do for this template (§7.3): roles at the
/// scope, and at tenant and management-group scope the Graph app-role grants.
fn privilege_target(request: &CortexRequest) -> azure_access::privileges::Target {
    use azure_access::privileges::{Target, TargetScope};
    let scope = match (request.scope, &request.management_group_id) {
        (CortexScope::Tenant, _) => TargetScope::Tenant(request.tenant_id.to_string()),
        (CortexScope::ManagementGroup, Some(mg)) => TargetScope::ManagementGroup(mg.to_string()),
        _ => TargetScope::Subscription(request.subscription_id.to_string()),
    };
    Target {
        scope,
        creates_identity: request.scope != CortexScope::Subscription,
        directory_readers: false,
        audit_log_export: request.audit_logs.enabled,
    }
}

/// The tenant must have approved Cortex Cloud's application (§7.1): refused naming
/// `tenant_id`, before anything is created.
pub(crate) async fn check_tenant_approved(
    client: &CortexClient,
    request: &CortexRequest,
) -> Result<(), EngineError> {
    let tenants = client.approved_tenants(None).await?;
    let approved = tenants.iter().any(|t| {
        t.tenant_id.eq_ignore_ascii_case(request.tenant_id.as_str()) && t.is_still_approved
    });
    if approved {
        return Ok(());
    }
    Err(EngineError::Invalid(RequestErrors {
        errors: vec![FieldError {
            field: "tenant_id".into(),
            message: format!(
                "tenant {} has not approved Cortex Cloud's application; a Global Administrator \
                 of the tenant approves it from the Cortex console (Settings > Data Sources > \
                 Azure > Approve), then submit again",
                request.tenant_id
            ),
        }],
    }))
}

/// A downloaded, checked bundle.
struct Bundle {
    files: BTreeMap<String, String>,
    md5: String,
    size: usize,
    /// What the MD5 was checked against.
    checked: &'static str,
}

enum Download {
    Expired,
    Failed { what: String, fix: String },
}

impl Download {
    fn into_error(self) -> EngineError {
        match self {
            Download::Expired => EngineError::CortexTemplate {
                what: "the template link expired again right after it was issued".into(),
                fix: "check this machine's clock; resume the job".into(),
            },
            Download::Failed { what, fix } => EngineError::CortexTemplate { what, fix },
        }
    }
}

fn failed(what: impl Into<String>, fix: &str) -> Download {
    Download::Failed {
        what: what.into(),
        fix: fix.into(),
    }
}

/// Downloads the bundle behind a signed link. Nothing of the link appears in an error (it is
/// a credential): only the object-store's answer.
async fn download(link: &SecretString) -> Result<Bundle, Download> {
    use base64::Engine as _;
    use md5::Digest as _;
    let http = platform_http_client().map_err(|e| failed(e, "report it"))?;
    let answer = http.get(link.expose()).send().await.map_err(|e| {
        failed(
            format!(
                "the template could not be downloaded ({})",
                if e.is_timeout() {
                    "timed out"
                } else {
                    "connection failed"
                }
            ),
            "check that this machine reaches Cortex Cloud's template storage; resume the job",
        )
    })?;
    let status = answer.status().as_u16();
    let header = |name: &str| {
        answer
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let goog_md5 = header("x-goog-hash").and_then(|h| {
        h.split(',')
            .find_map(|p| p.trim().strip_prefix("md5=").map(str::to_owned))
    });
    let etag = header("etag").map(|e| e.trim_matches('"').to_ascii_lowercase());
    let body = answer.bytes().await.map_err(|_| {
        failed(
            "the template download was cut off",
            "resume the job to download it again",
        )
    })?;
    match status {
        200 => {}
        400 if String::from_utf8_lossy(&body).contains("ExpiredToken") => {
            return Err(Download::Expired);
        }
        403 => {
            return Err(failed(
                "the template storage refused the link's signature (403)",
                "resume the job: a new link is issued when the pending instance still exists",
            ));
        }
        404 => {
            return Err(failed(
                "the template is gone (404): the pending instance was deleted or expired after \
                 30 days",
                "submit the onboarding again",
            ));
        }
        other => {
            return Err(failed(
                format!("the template storage answered {other}"),
                "resume the job to download it again",
            ));
        }
    }
    let digest = md5::Md5::digest(&body);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
    let checked = match (&goog_md5, &etag) {
        (Some(m), _) if *m != b64 => {
            return Err(failed(
                "the template's MD5 does not match the x-goog-hash the storage sent: the \
                 download is damaged",
                "resume the job to download it again",
            ));
        }
        (Some(_), _) => "x-goog-hash",
        (None, Some(e)) if e.len() == 32 && *e != hex => {
            return Err(failed(
                "the template's MD5 does not match its ETag: the download is damaged",
                "resume the job to download it again",
            ));
        }
        (None, Some(e)) if e.len() == 32 => "ETag",
        _ => "no checksum offered by the storage; recorded",
    };
    let files = unpack(&body).map_err(|e| {
        failed(
            format!("the template bundle is not a readable .tar.gz ({e})"),
            "resume the job to download it again",
        )
    })?;
    Ok(Bundle {
        files,
        md5: hex,
        size: body.len(),
        checked,
    })
}

fn platform_http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

/// The text files of a `.tar.gz`, by path (at most 16 MiB unpacked).
fn unpack(bytes: &[u8]) -> Result<BTreeMap<String, String>, String> {
    const LIMIT: u64 = 16 << 20;
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(LIMIT)
        .read_to_end(&mut tar)
        .map_err(|e| e.to_string())?;
    let mut files = BTreeMap::new();
    let mut archive = tar::Archive::new(tar.as_slice());
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_owned();
        if Path::new(&path)
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(format!("unsafe path {path}"));
        }
        let mut text = String::new();
        entry
            .read_to_string(&mut text)
            .map_err(|e| format!("{path}: {e}"))?;
        files.insert(path, text);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_overshoot_by_at_most_half_the_wait_and_stay_within_the_cap() {
        let cap = Duration::from_secs(10);
        let mut at = Duration::ZERO;
        let mut polls = vec![at];
        while at < Duration::from_secs(8) {
            at += next_poll(at, cap);
            polls.push(at);
        }
        let secs: Vec<f64> = polls.iter().map(Duration::as_secs_f64).collect();
        assert_eq!(secs, [0.0, 1.0, 2.0, 3.0, 4.5, 6.75, 10.125]);
        assert_eq!(next_poll(Duration::from_secs(600), cap), cap);
        assert_eq!(next_poll(Duration::ZERO, cap), Duration::from_secs(1));
    }
}
