//! The engine: accepts requests, persists them as jobs, and runs them with a bounded number
//! of workers that claim jobs with leases — so several processes (or replicas on PostgreSQL)
//! can share the work and take over each other's jobs after a crash.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cortex_store::{
    AuditEntry, BatchId, BatchSummary, JobId, JobRecord, JobState, NewBatch, NewJob, Store,
    StoredEvent,
};
use prisma_client::{ClientConfig, ClientEvent, EventHook, PrismaClient};
use prisma_types::SecretString;
use prisma_types::account::validate_client_secret;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bus::{EventBus, emit};
use crate::concurrency::{Concurrency, Sizer};
use crate::connections::{
    self, CONNECTION_OWNER, CORTEX_SANDBOX_CONNECTION, Connection, ConnectionName, ConnectionTest,
    ConnectionView, CortexConnection, DEFAULT_CONNECTION, Platform, PlatformConnection, Stored,
    mask_key_id,
};
use crate::error::EngineError;
use crate::events::EngineEvent;
use crate::identity::{CLIENT_SECRET, TerraformMode};
use crate::job::Stop;
use crate::lookups::BatchLookups;
use crate::request::{FieldError, IdentitySource, OnboardingRequest, RequestErrors};

/// What happens to Terraform state after a successful apply. The state holds the client
/// secret in plaintext; rotating or destroying the identity later needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatePolicy {
    /// Encrypted into the store; the plaintext files are removed from the workspace.
    KeepEncrypted,
    /// Removed; rotation and destroy then need a fresh import.
    Remove,
}

/// The most jobs an adaptive worker runs at once unless configured otherwise. The pacer holds
/// the API rate and [`DEFAULT_TERRAFORM_CONCURRENCY`] the Terraform processes, so this only
/// bounds the jobs' memory (a few KB each). It was 32 while it also bounded Terraform; at 50
/// requests/s with the fault mix Little's law asks for about 60 (docs/benchmarks.md).
pub const DEFAULT_MAX_CONCURRENCY: usize = 256;

/// The most jobs one claim takes. The claim loop fills every free slot with one statement
/// (one claim per job queued each behind the writer's other work: a 1,550-job batch started
/// about 100 jobs a second, fewer than its rate budget asked for); the bound keeps one
/// claim's lease clock from starting long before a job runs.
const CLAIM_AT_ONCE: usize = 64;

/// The most Terraform runs (init → plan → apply → output of one workspace) at once; a job
/// over it waits, saying so, before its `terraform init`.
pub const DEFAULT_TERRAFORM_CONCURRENCY: usize = 32;

#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub data_dir: PathBuf,
    pub worker_id: String,
    /// Jobs run at once by this process: the most, when `adaptive_concurrency` sizes it from
    /// the rate budget and the jobs' round trips (see [`crate::concurrency`]); exactly this
    /// many otherwise.
    pub concurrency: usize,
    pub adaptive_concurrency: bool,
    pub lease: Duration,
    pub poll_interval: Duration,
    pub terraform: TerraformMode,
    pub verify_timeout: Duration,
    pub state_policy: StatePolicy,
    /// Sandbox: the emulator stands in for Prisma and the twin for Azure.
    pub sandbox: bool,
    /// The built-in Cortex Cloud connection `cortex-sandbox` (the emulator's Cortex face in
    /// sandbox mode); never stored.
    pub cortex_sandbox: Option<CortexConnection>,
    /// The most subscriptions per role-set state of a tenant's shared identity
    /// ([`azure_config::tenant_identity::ROLE_SET_CHUNK`]; see [`crate::tenant_identity`]).
    pub role_set_chunk: usize,
    /// An extra CA (PEM) the Cortex Cloud clients trust (the sandbox emulator's).
    pub cortex_ca_pem: Option<String>,
    /// The most Terraform runs at once, whatever the jobs' concurrency.
    pub terraform_concurrency: usize,
}

impl EngineConfig {
    /// How many jobs to run at once, as configured.
    pub fn concurrency_mode(&self) -> Concurrency {
        let n = self.concurrency.max(1);
        if self.adaptive_concurrency {
            Concurrency::Adaptive { max: n }
        } else {
            Concurrency::Fixed(n)
        }
    }

    pub fn new(data_dir: PathBuf, terraform: TerraformMode) -> Self {
        Self {
            data_dir,
            worker_id: format!("worker-{}", uuid::Uuid::new_v4()),
            concurrency: DEFAULT_MAX_CONCURRENCY,
            adaptive_concurrency: true,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_millis(200),
            terraform,
            verify_timeout: Duration::from_secs(600),
            state_policy: StatePolicy::KeepEncrypted,
            sandbox: false,
            cortex_sandbox: None,
            role_set_chunk: azure_config::tenant_identity::ROLE_SET_CHUNK,
            cortex_ca_pem: None,
            terraform_concurrency: DEFAULT_TERRAFORM_CONCURRENCY,
        }
    }
}

pub(crate) struct EngineInner {
    pub store: Store,
    /// The `default` connection's client.
    pub client: PrismaClient,
    /// The hook every client reports to (calls become events of the job making them).
    pub hook: EventHook,
    /// One client per saved connection, built on first use (see [`crate::connections`]).
    pub connections: Mutex<HashMap<ConnectionName, PrismaClient>>,
    pub config: EngineConfig,
    pub bus: EventBus,
    /// How many jobs run at once, from what finished jobs measured.
    pub sizer: Sizer,
    /// What the jobs of a batch look up once (account groups, features).
    pub lookups: BatchLookups,
    /// The tenants' shared identities: one Terraform run at a time per tenant.
    pub tenant_identities: crate::tenant_identity::Locks,
    /// One Cortex Cloud client per connection in use (see [`crate::job`]'s Cortex flow).
    pub cortex_clients: Mutex<HashMap<String, cortex_cloud_client::CortexClient>>,
    /// Slots for Terraform runs (`config.terraform_concurrency` of them), taken by
    /// [`crate::identity::apply_workspace`].
    pub terraform_slots: tokio::sync::Semaphore,
}

impl EngineInner {
    /// The saved connection `name`, decrypted; `None` if there is none.
    pub(crate) async fn load_connection(
        &self,
        name: &ConnectionName,
    ) -> Result<Option<Connection>, EngineError> {
        let Some(value) = self
            .store
            .get_secret(CONNECTION_OWNER, name.as_str())
            .await?
        else {
            return Ok(None);
        };
        let unreadable = |message: String| EngineError::ConnectionUnreadable {
            name: name.to_string(),
            message,
        };
        let stored = Stored::open(name, &value).map_err(unreadable)?;
        stored.connection(name).map(Some).map_err(unreadable)
    }

    /// The client for a job's connection (`None`: the default one). A cached client is reused
    /// only if it was built from the connection as stored now.
    pub(crate) async fn client_for(
        &self,
        name: Option<&ConnectionName>,
    ) -> Result<PrismaClient, EngineError> {
        let Some(name) = name else {
            return Ok(self.client.clone());
        };
        let connection =
            self.load_connection(name)
                .await?
                .ok_or_else(|| EngineError::UnknownConnection {
                    name: name.to_string(),
                })?;
        let PlatformConnection::Prisma(connection) = connection.target else {
            return Err(EngineError::WrongPlatform {
                name: name.to_string(),
                found: connection.platform(),
                wanted: Platform::Prisma,
            });
        };
        if let Some(client) = self.cached(name)
            && connections::built_from(&client, &connection)
        {
            return Ok(client);
        }
        let config = connections::client_config(self.client.config(), &connection);
        let client = PrismaClient::with_hook(config, Some(self.hook.clone()))?;
        let mut cache = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        // Another job may have built one from the same values meanwhile: share it.
        match cache.get(name) {
            Some(other) if connections::built_from(other, &connection) => Ok(other.clone()),
            _ => {
                cache.insert(name.clone(), client.clone());
                Ok(client)
            }
        }
    }

    fn cached(&self, name: &ConnectionName) -> Option<PrismaClient> {
        let cache = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(name).cloned()
    }

    fn forget_client(&self, name: &ConnectionName) {
        let mut cache = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        cache.remove(name);
    }
}

/// The onboarding engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

impl Engine {
    /// An engine over `store`, talking to Prisma Cloud with `client_config`. Every client call,
    /// retry and login is reported as an event of the job that made it.
    pub fn new(
        store: Store,
        client_config: ClientConfig,
        config: EngineConfig,
    ) -> Result<Self, EngineError> {
        let hook: EventHook = Arc::new(|e: &ClientEvent| {
            if let Some(event) = EngineEvent::from_client(e) {
                emit(event);
            }
        });
        // Jobs never queue behind the client's cap on requests in flight: each has one call in
        // flight at a time. Connections' clients start from this configuration.
        let mut client_config = client_config;
        client_config.max_in_flight = client_config.max_in_flight.max(config.concurrency);
        let client = PrismaClient::with_hook(client_config, Some(hook.clone()))?;
        std::fs::create_dir_all(config.data_dir.join("workspaces")).map_err(|e| {
            EngineError::Workspace(format!("cannot create the data directory: {e}"))
        })?;
        // Terraform runs inside each workspace: every path handed to it (the plan file) must
        // not depend on this process's working directory.
        let mut config = config;
        config.data_dir = std::fs::canonicalize(&config.data_dir)
            .map_err(|e| EngineError::Workspace(format!("{}: {e}", config.data_dir.display())))?;
        Ok(Self {
            inner: Arc::new(EngineInner {
                store,
                client,
                hook,
                connections: Mutex::new(HashMap::new()),
                sizer: Sizer::new(config.concurrency_mode()),
                lookups: BatchLookups::default(),
                tenant_identities: Default::default(),
                cortex_clients: Mutex::new(HashMap::new()),
                terraform_slots: tokio::sync::Semaphore::new(config.terraform_concurrency.max(1)),
                config,
                bus: EventBus::default(),
            }),
        })
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The shared state, for the engine's other modules (the health watch).
    pub(crate) fn inner(&self) -> &EngineInner {
        &self.inner
    }

    /// The `default` connection's client (the one the engine was started with).
    pub fn client(&self) -> &PrismaClient {
        &self.inner.client
    }

    /// Saves (or replaces) a connection, encrypted; its cached client is dropped. Returns
    /// whether one of that name was replaced.
    pub async fn save_connection(
        &self,
        connection: &Connection,
        actor: &str,
    ) -> Result<bool, EngineError> {
        let store = &self.inner.store;
        let name = connection.name.as_str();
        let replaced = store
            .list_secret_names(CONNECTION_OWNER)
            .await?
            .iter()
            .any(|n| n == name);
        store
            .put_secret(CONNECTION_OWNER, name, &Stored::seal(connection, actor))
            .await?;
        self.inner.forget_client(&connection.name);
        self.audit(
            actor,
            if replaced {
                "connection.replaced"
            } else {
                "connection.saved"
            },
            name,
            serde_json::json!({
                "platform": connection.platform(),
                "api_url": connection.target.api_url(),
                "key_id": connection.target.shown_key_id(),
            }),
        )
        .await;
        Ok(replaced)
    }

    /// Deletes a saved connection and drops its cached client; `false` if there was none.
    /// Jobs that name it and have not started yet fail with `unknown_connection`.
    pub async fn delete_connection(
        &self,
        name: &ConnectionName,
        actor: &str,
    ) -> Result<bool, EngineError> {
        let deleted = self
            .inner
            .store
            .delete_secret(CONNECTION_OWNER, name.as_str())
            .await?;
        self.inner.forget_client(name);
        if deleted {
            self.audit(
                actor,
                "connection.deleted",
                name.as_str(),
                serde_json::Value::Null,
            )
            .await;
        }
        Ok(deleted)
    }

    /// Every connection, `default` first, then the saved ones by name: the access key id
    /// masked, the secret never (see [`ConnectionView`]).
    pub async fn list_connections(&self) -> Result<Vec<ConnectionView>, EngineError> {
        let mut views = vec![self.default_connection()];
        views.extend(self.cortex_sandbox_view());
        for raw in self.inner.store.list_secret_names(CONNECTION_OWNER).await? {
            let Ok(name) = ConnectionName::parse(&raw) else {
                // Not written by `save_connection`: not a connection.
                continue;
            };
            views.push(self.connection_view(&name).await?.unwrap_or_else(|| {
                ConnectionView::unreadable(&raw, Platform::Prisma, "deleted while listing".into())
            }));
        }
        Ok(views)
    }

    /// One connection's view (built-in ones included); `None` if there is none of that name.
    pub async fn connection(&self, name: &str) -> Result<Option<ConnectionView>, EngineError> {
        match name.trim() {
            DEFAULT_CONNECTION => return Ok(Some(self.default_connection())),
            CORTEX_SANDBOX_CONNECTION => return Ok(self.cortex_sandbox_view()),
            _ => {}
        }
        match ConnectionName::parse(name) {
            Ok(name) => self.connection_view(&name).await,
            Err(_) => Ok(None),
        }
    }

    fn default_connection(&self) -> ConnectionView {
        let config = self.inner.client.config();
        let target = PlatformConnection::Prisma(connections::PrismaConnection {
            api_url: config.base_url.clone(),
            access_key_id: config.credentials.access_key_id.clone(),
            secret_key: config.credentials.secret_key.clone(),
        });
        let description = if self.inner.config.sandbox {
            "sandbox emulator".into()
        } else {
            "the server's configured connection".into()
        };
        ConnectionView::of(DEFAULT_CONNECTION, true, &target, description)
    }

    fn cortex_sandbox_view(&self) -> Option<ConnectionView> {
        let cortex = self.inner.config.cortex_sandbox.clone()?;
        Some(ConnectionView::of(
            CORTEX_SANDBOX_CONNECTION,
            true,
            &PlatformConnection::Cortex(cortex),
            "sandbox emulator (Cortex Cloud)".into(),
        ))
    }

    async fn connection_view(
        &self,
        name: &ConnectionName,
    ) -> Result<Option<ConnectionView>, EngineError> {
        let value = match self
            .inner
            .store
            .get_secret(CONNECTION_OWNER, name.as_str())
            .await
        {
            Ok(Some(value)) => value,
            Ok(None) => return Ok(None),
            Err(cortex_store::StoreError::Crypto { .. }) => {
                return Ok(Some(ConnectionView::unreadable(
                    name.as_str(),
                    Platform::Prisma,
                    "its stored value cannot be decrypted with this server's keys; save it again"
                        .into(),
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let view = match Stored::open(name, &value) {
            Ok(stored) => match stored.connection(name) {
                Ok(c) => ConnectionView::of(name.as_str(), false, &c.target, stored.description()),
                Err(message) => ConnectionView::unreadable(name.as_str(), stored.platform, message),
            },
            Err(message) => ConnectionView::unreadable(name.as_str(), Platform::Prisma, message),
        };
        Ok(Some(view))
    }

    /// Logs in with the connection's key (`None`: the default connection, with the engine's
    /// own client). A saved connection is tested with a fresh client and a short retry budget,
    /// so the answer comes within seconds and reflects the key as stored now.
    /// [`EngineError::UnknownConnection`] if there is none of that name.
    pub async fn test_connection(
        &self,
        name: Option<&ConnectionName>,
        actor: &str,
    ) -> Result<ConnectionTest, EngineError> {
        let (client, label) = match name {
            None => (self.inner.client.clone(), DEFAULT_CONNECTION.to_owned()),
            Some(name) => {
                let connection = self.inner.load_connection(name).await?.ok_or_else(|| {
                    EngineError::UnknownConnection {
                        name: name.to_string(),
                    }
                })?;
                let prisma = match &connection.target {
                    PlatformConnection::Prisma(p) => p,
                    PlatformConnection::Cortex(c) => {
                        let result = connections::test_cortex(c, self.extra_ca_pem()).await;
                        return Ok(self.tested(actor, name.as_str(), result).await);
                    }
                };
                let config = connections::test_config(connections::client_config(
                    self.inner.client.config(),
                    prisma,
                ));
                (PrismaClient::new(config)?, name.to_string())
            }
        };
        let url = client.config().base_url.to_string();
        let key = mask_key_id(&client.config().credentials.access_key_id);
        let result = match client.ensure_session().await {
            Ok(()) => ConnectionTest {
                ok: true,
                message: format!("Prisma Cloud at {url} accepted access key {key}"),
            },
            Err(e) => ConnectionTest {
                ok: false,
                message: format!("{url} with access key {key}: {e}"),
            },
        };
        Ok(self.tested(actor, &label, result).await)
    }

    /// Tests the sandbox's built-in Cortex Cloud connection;
    /// [`EngineError::UnknownConnection`] outside the sandbox.
    pub async fn test_cortex_sandbox(&self, actor: &str) -> Result<ConnectionTest, EngineError> {
        let Some(cortex) = &self.inner.config.cortex_sandbox else {
            return Err(EngineError::UnknownConnection {
                name: CORTEX_SANDBOX_CONNECTION.into(),
            });
        };
        let result = connections::test_cortex(cortex, self.extra_ca_pem()).await;
        Ok(self.tested(actor, CORTEX_SANDBOX_CONNECTION, result).await)
    }

    /// The Prisma Cloud client of the connection `name` (`None`: the engine's own), the one its
    /// jobs use (cached per connection, rebuilt when the stored connection changed).
    /// [`EngineError::WrongPlatform`] for a Cortex Cloud connection.
    pub async fn prisma_client(
        &self,
        name: Option<&ConnectionName>,
    ) -> Result<PrismaClient, EngineError> {
        self.inner.client_for(name).await
    }

    /// The Cortex Cloud connection named `name`: the sandbox's built-in `cortex-sandbox` or a
    /// saved one. [`EngineError::UnknownConnection`] if there is none of that name,
    /// [`EngineError::WrongPlatform`] for a Prisma Cloud one. Its key stays in its
    /// `SecretString`: callers build a client from it ([`connections::cortex::client_config`]).
    pub async fn cortex_connection(&self, name: &str) -> Result<CortexConnection, EngineError> {
        let unknown = || EngineError::UnknownConnection {
            name: name.to_owned(),
        };
        if name == CORTEX_SANDBOX_CONNECTION {
            return self.inner.config.cortex_sandbox.clone().ok_or_else(unknown);
        }
        if name == DEFAULT_CONNECTION {
            return Err(EngineError::WrongPlatform {
                name: name.to_owned(),
                found: Platform::Prisma,
                wanted: Platform::Cortex,
            });
        }
        let parsed = ConnectionName::parse(name).map_err(|_| unknown())?;
        match self.inner.load_connection(&parsed).await?.map(|c| c.target) {
            Some(PlatformConnection::Cortex(c)) => Ok(c),
            Some(PlatformConnection::Prisma(_)) => Err(EngineError::WrongPlatform {
                name: name.to_owned(),
                found: Platform::Prisma,
                wanted: Platform::Cortex,
            }),
            None => Err(unknown()),
        }
    }

    /// The extra trusted CA of the engine's own client (the emulator's, in tests over https):
    /// Cortex Cloud clients trust it too.
    pub fn extra_ca_pem(&self) -> Option<String> {
        self.inner.client.config().extra_ca_pem.clone()
    }

    /// Audits a connection test and returns its outcome.
    async fn tested(&self, actor: &str, label: &str, result: ConnectionTest) -> ConnectionTest {
        self.audit(
            actor,
            "connection.tested",
            label,
            serde_json::json!({"ok": result.ok}),
        )
        .await;
        result
    }

    /// A request's connection must exist when it is submitted, and reach Prisma Cloud.
    async fn check_connections<'a>(
        &self,
        requests: impl Iterator<Item = (String, &'a OnboardingRequest)>,
    ) -> Result<(), EngineError> {
        let mut saved: Option<Vec<String>> = None;
        let mut platforms: HashMap<ConnectionName, Option<Platform>> = HashMap::new();
        let mut errors = Vec::new();
        for (field, request) in requests {
            let Some(name) = &request.connection else {
                continue;
            };
            if saved.is_none() {
                saved = Some(self.inner.store.list_secret_names(CONNECTION_OWNER).await?);
            }
            let saved = saved.as_deref().unwrap_or_default();
            if !saved.iter().any(|n| n == name.as_str()) {
                let known = std::iter::once(DEFAULT_CONNECTION)
                    .chain(saved.iter().map(String::as_str))
                    .collect::<Vec<_>>()
                    .join(", ");
                errors.push(FieldError {
                    field,
                    message: format!("no Prisma Cloud connection named '{name}'; known: {known}"),
                });
                continue;
            }
            let platform = match platforms.get(name) {
                Some(p) => *p,
                None => {
                    // Unreadable: the job fails at prerequisites with the reason.
                    let p = self
                        .inner
                        .load_connection(name)
                        .await
                        .ok()
                        .flatten()
                        .map(|c| c.platform());
                    platforms.insert(name.clone(), p);
                    p
                }
            };
            if let Some(found @ Platform::Cortex) = platform {
                errors.push(FieldError {
                    field,
                    message: format!(
                        "'{name}' is a {} connection; this request onboards into Prisma Cloud",
                        found.title()
                    ),
                });
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(EngineError::Invalid(RequestErrors { errors }))
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    fn new_job(
        request: &OnboardingRequest,
        batch: Option<BatchId>,
        actor: &str,
    ) -> Result<NewJob, EngineError> {
        let mut stored =
            serde_json::to_value(request).map_err(|e| EngineError::Workspace(e.to_string()))?;
        crate::origin::RequestId::stamp(&mut stored);
        Ok(NewJob {
            id: JobId(uuid::Uuid::now_v7()),
            batch_id: batch,
            kind: format!("onboard_{}", request.scope.label()),
            request: stored,
            created_by: actor.to_owned(),
        })
    }

    /// Checks that an `existing` identity comes with its secret (and only then).
    fn check_secret(
        request: &OnboardingRequest,
        secret: Option<&SecretString>,
    ) -> Result<(), EngineError> {
        let existing = matches!(request.identity, IdentitySource::Existing { .. });
        let error = |message: &str| {
            EngineError::Invalid(RequestErrors {
                errors: vec![FieldError {
                    field: "client_secret".into(),
                    message: message.into(),
                }],
            })
        };
        match (existing, secret) {
            (true, None) => Err(error(
                "is required for identity existing (from AZURE_CLIENT_SECRET, a file, or the API body)",
            )),
            (true, Some(s)) => validate_client_secret(s).map_err(|e| error(&e.message)),
            (false, Some(_)) => Err(error("only applies to identity existing")),
            (false, None) => Ok(()),
        }
    }

    /// Persists one onboarding as a job. The secret (for `existing`) is stored encrypted,
    /// never in the request.
    pub async fn submit(
        &self,
        request: &OnboardingRequest,
        client_secret: Option<SecretString>,
        actor: &str,
    ) -> Result<JobId, EngineError> {
        Self::check_secret(request, client_secret.as_ref())?;
        self.check_connections(std::iter::once(("connection".to_owned(), request)))
            .await?;
        let job = Self::new_job(request, None, actor)?;
        if let Some(secret) = &client_secret {
            self.inner
                .store
                .put_secret(&job.id.to_string(), CLIENT_SECRET, secret)
                .await?;
        }
        if let Err(e) = self.inner.store.insert_job(&job).await {
            let _ = self.inner.store.delete_secrets(&job.id.to_string()).await;
            return Err(e.into());
        }
        self.audit(actor, "job.submitted", &job.id.to_string(), serde_json::json!({
            "kind": job.kind, "account": request.scope.account_id(), "name": request.name.as_str(),
        }))
        .await;
        Ok(job.id)
    }

    /// *Edit and retry* of an existing identity: the client secret stored with job `from`, for
    /// a new job whose request uses the same existing app registration (same client id). A
    /// secret belongs to one app registration, so any other request gets `None` and must bring
    /// its own. The secret never leaves the server.
    pub async fn reusable_secret(
        &self,
        from: JobId,
        request: &OnboardingRequest,
    ) -> Result<Option<SecretString>, EngineError> {
        let IdentitySource::Existing { client_id, .. } = &request.identity else {
            return Ok(None);
        };
        let Some(old) = self.inner.store.get_job(from).await? else {
            return Ok(None);
        };
        let same_app = serde_json::from_value::<OnboardingRequest>(old.request)
            .ok()
            .is_some_and(|r| {
                matches!(&r.identity, IdentitySource::Existing { client_id: c, .. } if c == client_id)
            });
        if !same_app {
            return Ok(None);
        }
        Ok(self
            .inner
            .store
            .get_secret(&from.to_string(), CLIENT_SECRET)
            .await?)
    }

    /// Persists a batch: one job per request, all or nothing. Secrets pair with requests.
    pub async fn submit_batch(
        &self,
        label: &str,
        items: Vec<(OnboardingRequest, Option<SecretString>)>,
        actor: &str,
    ) -> Result<(BatchId, Vec<JobId>), EngineError> {
        self.submit_batch_from(label, items, None, actor).await
    }

    /// Persists a batch made from a file ([`crate::batch_file`]): one job per valid row, all or
    /// nothing, and every row of the file kept with the batch — the valid ones with their job,
    /// the skipped ones with their problems, all with their original row numbers — so that the
    /// batch's page, API and CSV report can show them later. Problems name `row N`.
    pub async fn submit_batch_rows(
        &self,
        label: &str,
        items: Vec<crate::batch_file::BatchItem>,
        skipped: Vec<crate::batch_file::SkippedRow>,
        actor: &str,
    ) -> Result<(BatchId, Vec<JobId>), EngineError> {
        let numbers: Vec<u64> = items.iter().map(|item| item.row).collect();
        let items = items
            .into_iter()
            .map(|item| (item.request, item.secret))
            .collect();
        self.submit_batch_from(label, items, Some((numbers, skipped)), actor)
            .await
    }

    /// Both submissions: `source` holds the row number of each item and the skipped rows.
    async fn submit_batch_from(
        &self,
        label: &str,
        items: Vec<(OnboardingRequest, Option<SecretString>)>,
        source: Option<(Vec<u64>, Vec<crate::batch_file::SkippedRow>)>,
        actor: &str,
    ) -> Result<(BatchId, Vec<JobId>), EngineError> {
        let numbers = source.as_ref().map(|(numbers, _)| numbers.as_slice());
        // `rows[3].connection` for the API's JSON rows; `row 7 connection` for a file's rows.
        let field = |i: usize, name: &str| match (numbers.and_then(|n| n.get(i)), name) {
            (Some(row), "") => format!("row {row}"),
            (Some(row), name) => format!("row {row} {name}"),
            (None, "") => format!("rows[{i}]"),
            (None, name) => format!("rows[{i}].{name}"),
        };
        let mut errors = Vec::new();
        for (i, (request, secret)) in items.iter().enumerate() {
            if let Err(EngineError::Invalid(e)) = Self::check_secret(request, secret.as_ref()) {
                errors.extend(e.errors.into_iter().map(|f| FieldError {
                    field: field(i, &f.field),
                    message: f.message,
                }));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, (request, _)) in items.iter().enumerate() {
            if !seen.insert(request.scope.account_id().to_owned()) {
                errors.push(FieldError {
                    field: field(i, ""),
                    message: format!("{} appears twice in the batch", request.scope.account_id()),
                });
            }
        }
        let rows = items
            .iter()
            .enumerate()
            .map(|(i, (r, _))| (field(i, "connection"), r));
        match self.check_connections(rows).await {
            Ok(()) => {}
            Err(EngineError::Invalid(e)) => errors.extend(e.errors),
            Err(other) => return Err(other),
        }
        if !errors.is_empty() {
            return Err(EngineError::Invalid(RequestErrors { errors }));
        }
        let batch = NewBatch {
            id: BatchId(uuid::Uuid::now_v7()),
            label: label.to_owned(),
            created_by: actor.to_owned(),
        };
        let jobs = items
            .iter()
            .map(|(r, _)| Self::new_job(r, Some(batch.id), actor))
            .collect::<Result<Vec<_>, _>>()?;
        let owners: Vec<String> = jobs.iter().map(|job| job.id.to_string()).collect();
        let secrets: Vec<(&str, &str, &SecretString)> = owners
            .iter()
            .zip(&items)
            .filter_map(|(owner, (_, secret))| {
                Some((owner.as_str(), CLIENT_SECRET, secret.as_ref()?))
            })
            .collect();
        self.inner.store.put_secrets(&secrets).await?;
        let source_rows = match &source {
            Some((numbers, skipped)) => {
                crate::batch_file::source_rows(&items, numbers, &jobs, skipped)
            }
            None => Vec::new(),
        };
        if let Err(e) = self
            .inner
            .store
            .insert_batch_with_rows(&batch, &jobs, &source_rows)
            .await
        {
            for job in &jobs {
                let _ = self.inner.store.delete_secrets(&job.id.to_string()).await;
            }
            return Err(e.into());
        }
        self.audit(
            actor,
            "batch.submitted",
            &batch.id.to_string(),
            serde_json::json!({
                "label": label, "jobs": jobs.len(),
                "skipped_rows": source.as_ref().map_or(0, |(_, skipped)| skipped.len()),
            }),
        )
        .await;
        Ok((batch.id, jobs.into_iter().map(|j| j.id).collect()))
    }

    pub async fn batch_summary(&self, batch: BatchId) -> Result<Option<BatchSummary>, EngineError> {
        Ok(self.inner.store.batch_summary(batch).await?)
    }

    pub async fn approve(&self, job: JobId, actor: &str) -> Result<bool, EngineError> {
        let ok = self.inner.store.approve(job).await?;
        self.audit(
            actor,
            "job.approved",
            &job.to_string(),
            serde_json::Value::Null,
        )
        .await;
        Ok(ok)
    }

    pub async fn cancel(&self, job: JobId, actor: &str) -> Result<bool, EngineError> {
        let ok = self.inner.store.request_cancel(job).await?;
        self.audit(
            actor,
            "job.cancel_requested",
            &job.to_string(),
            serde_json::Value::Null,
        )
        .await;
        Ok(ok)
    }

    /// Puts a failed or cancelled job back in the queue; it continues after its last
    /// completed step.
    pub async fn resume(&self, job: JobId, actor: &str) -> Result<bool, EngineError> {
        let ok = self.inner.store.requeue(job).await?;
        self.audit(
            actor,
            "job.resumed",
            &job.to_string(),
            serde_json::Value::Null,
        )
        .await;
        Ok(ok)
    }

    /// Puts every failed or cancelled job of a batch back in the queue (each resumes after its
    /// last completed step); returns them. The rest of the batch is left as it is.
    pub async fn retry_failed(
        &self,
        batch: BatchId,
        actor: &str,
    ) -> Result<Vec<JobId>, EngineError> {
        let jobs = self.inner.store.list_jobs(Some(batch), u32::MAX).await?;
        let mut resumed = Vec::new();
        for job in jobs
            .iter()
            .filter(|j| matches!(j.state, JobState::Failed | JobState::Cancelled))
        {
            if self.inner.store.requeue(job.id).await? {
                resumed.push(job.id);
            }
        }
        self.audit(
            actor,
            "batch.retried",
            &batch.to_string(),
            serde_json::json!({ "resumed": resumed.len() }),
        )
        .await;
        Ok(resumed)
    }

    /// Jobs whose live event channel is open (a running writer or a listener).
    pub fn open_event_channels(&self) -> usize {
        self.inner.bus.open_channels()
    }

    /// Calls `observer` with every event of the jobs this process runs, once stored (for
    /// per-process metrics: the platform calls this process made).
    pub fn observe_events(&self, observer: crate::bus::EventObserver) {
        self.inner.bus.observe(observer);
    }

    /// Events of `job` after `after_seq`, then live ones (see [`crate::bus`]).
    pub fn subscribe(&self, job: JobId, after_seq: i64) -> mpsc::Receiver<StoredEvent> {
        self.inner
            .bus
            .subscribe(self.inner.store.clone(), job, after_seq)
    }

    /// [`Self::subscribe`] for a caller that has just read that nothing is stored after
    /// `after_seq`: live events at once, without the first read of the store. An event stored
    /// in between is not lost: the next one shows the gap and the store is read then.
    pub fn subscribe_fresh(&self, job: JobId, after_seq: i64) -> mpsc::Receiver<StoredEvent> {
        self.inner
            .bus
            .subscribe_fresh(self.inner.store.clone(), job, after_seq)
    }

    pub(crate) async fn audit(
        &self,
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
        if let Err(e) = self.inner.store.audit(&entry).await {
            tracing::warn!(error = %e, action, "audit entry not written");
        }
    }

    /// How many jobs this process runs at once from now on (a `--concurrency N` flag).
    pub fn set_concurrency(&self, mode: Concurrency) {
        self.inner.sizer.set_mode(mode);
    }

    /// How this process sizes its concurrency (configured, or set by [`Self::set_concurrency`]).
    pub fn concurrency_mode(&self) -> Concurrency {
        self.inner.sizer.mode()
    }

    /// The jobs this process would run at once now (adaptive: as sized so far).
    pub fn concurrency_limit(&self) -> usize {
        self.inner.sizer.limit()
    }

    /// Claims and runs jobs until `shutdown`, at most as many at once as the sizer says (see
    /// [`crate::concurrency`]). With `until_idle`, returns once no job is queued or running
    /// anywhere (jobs awaiting approval wait).
    pub async fn run_worker(
        &self,
        shutdown: CancellationToken,
        until_idle: bool,
    ) -> Result<(), EngineError> {
        let running = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(Notify::new());
        let tracker = TaskTracker::new();
        'claim: loop {
            // Wait for a free slot; the limit may have grown or shrunk since the last job.
            while running.load(Ordering::SeqCst) >= self.inner.sizer.limit() {
                tokio::select! {
                    _ = finished.notified() => {}
                    _ = shutdown.cancelled() => break 'claim,
                }
            }
            if shutdown.is_cancelled() {
                break;
            }
            // Every free slot at once (one statement), at most CLAIM_AT_ONCE.
            let free = self
                .inner
                .sizer
                .limit()
                .saturating_sub(running.load(Ordering::SeqCst))
                .clamp(1, CLAIM_AT_ONCE);
            let claimed = self
                .inner
                .store
                .claim_jobs(
                    &self.inner.config.worker_id,
                    self.inner.config.lease,
                    free as u32,
                )
                .await?;
            if claimed.is_empty() {
                // Idle when this worker runs nothing and no job is queued or running anywhere
                // (a crashed worker's job counts until another takes it over when its lease
                // expires). `running`, not the tracker: a job's task counts down and notifies
                // just before it ends, and the tracker waits for its end below anyway.
                if until_idle
                    && running.load(Ordering::SeqCst) == 0
                    && !self.inner.store.any_job_to_run().await?
                {
                    break;
                }
                // A job that finishes may have been the last one: look again then, not a poll
                // interval later (at the end of a CLI batch that was most of its exit time).
                tokio::select! {
                    _ = tokio::time::sleep(self.inner.config.poll_interval) => {}
                    _ = finished.notified() => {}
                    _ = shutdown.cancelled() => break,
                }
            }
            for job in claimed {
                let engine = self.clone();
                let stop = shutdown.child_token();
                running.fetch_add(1, Ordering::SeqCst);
                let (running, finished) = (running.clone(), finished.clone());
                tracker.spawn(async move {
                    engine.run_job(job, stop).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    // A stored permit if the claim loop is not waiting: never lost.
                    finished.notify_one();
                });
            }
        }
        tracker.close();
        tracker.wait().await;
        Ok(())
    }

    /// Runs one claimed job to its end (or to the approval gate), renewing its lease.
    pub async fn run_job(&self, job: JobRecord, stop: CancellationToken) {
        let inner = &self.inner;
        let job_id = job.id;
        let origin = crate::origin::RequestId::of_stored_request(&job.request);
        let (events, writer) = inner
            .bus
            .start_job_from(inner.store.clone(), job_id, origin);
        let cancel = stop.child_token();
        let renewer = tokio::spawn(renew_lease(
            inner.store.clone(),
            job_id,
            inner.config.worker_id.clone(),
            inner.config.lease,
            cancel.clone(),
        ));
        let started = std::time::Instant::now();
        // One chain per job: its later calls go before other jobs' first ones, and what it
        // measured sizes the worker's concurrency.
        let (outcome, chain) = prisma_client::chain::run(events.clone().scope(crate::job::start(
            inner,
            job.clone(),
            cancel.clone(),
        )))
        .await;
        if outcome.is_ok() {
            inner.sizer.observe(started.elapsed(), &chain);
        }
        cancel.cancel();
        let lease_lost = matches!(renewer.await, Ok(Renewal::LeaseLost));
        let worker = &inner.config.worker_id;
        // The job's last events are stored before its end is recorded: a crash in between
        // leaves a job that runs again, never a finished job with a truncated history.
        let end = match outcome {
            Ok(result) => End::Finish(JobState::Succeeded, Some(result), None),
            Err(Stop::AwaitingApproval) => {
                events.emit(EngineEvent::log("info", "plan ready: waiting for approval"));
                End::Release(JobState::AwaitingApproval)
            }
            // Another worker runs the job now: its history and its end are that worker's.
            _ if lease_lost => End::Nothing,
            Err(Stop::Failed(_, EngineError::LeaseLost)) => End::Nothing,
            Err(Stop::Failed(_, EngineError::Cancelled))
                if stop.is_cancelled() && !self.cancel_requested(job_id).await =>
            {
                // This process is shutting down: leave the job for the next worker.
                End::Release(JobState::Queued)
            }
            Err(Stop::Failed(step, error)) => {
                let cancelled = matches!(error, EngineError::Cancelled);
                if cancelled {
                    events.emit(EngineEvent::JobCancelled);
                } else {
                    events.emit(EngineEvent::JobFailed {
                        step,
                        code: error.code().into(),
                        message: error.to_string(),
                    });
                }
                let detail = serde_json::json!({ "step": step, "code": error.code(), "message": error.to_string() });
                let state = if cancelled {
                    JobState::Cancelled
                } else {
                    JobState::Failed
                };
                End::Finish(state, None, Some(detail))
            }
        };
        drop(events);
        let _ = writer.await;
        let action = match &end {
            End::Finish(state, ..) => Some(format!("job.{state}")),
            _ => None,
        };
        let recorded = match end {
            End::Finish(state, result, error) => {
                inner
                    .store
                    .finish_job(job_id, worker, state, result.as_ref(), error.as_ref())
                    .await
            }
            End::Release(state) => inner.store.release_job(job_id, worker, state).await,
            End::Nothing => Ok(()),
        };
        if let Err(e) = recorded {
            tracing::warn!(job = %job_id, error = %e, "could not record the job's end");
        }
        if let Some(action) = action {
            self.audit_job_end(job_id, &action).await;
        }
    }

    /// The audit entry for a job's end, with the Prisma request ids of the writes it made (so
    /// Palo Alto support can find them).
    async fn audit_job_end(&self, job: JobId, action: &str) {
        let events = self
            .inner
            .store
            .events_after(job, 0, u32::MAX)
            .await
            .unwrap_or_default();
        let request_ids = events
            .iter()
            .filter(|e| e.event["type"] == "api_call")
            .filter(|e| {
                e.event["endpoint"]
                    .as_str()
                    .is_some_and(|p| !p.starts_with("GET ") && !p.contains("/login"))
            })
            .filter_map(|e| e.event["request_id"].as_str().map(str::to_owned))
            .collect();
        let account = events
            .iter()
            .rev()
            .find_map(|e| e.event["account_id"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let entry = AuditEntry {
            actor: self.inner.config.worker_id.clone(),
            action: action.to_owned(),
            target: job.to_string(),
            detail: serde_json::json!({ "account_id": account }),
            prisma_request_ids: request_ids,
        };
        if let Err(e) = self.inner.store.audit(&entry).await {
            tracing::warn!(error = %e, action, "audit entry not written");
        }
    }

    /// Every job of a batch with its outcome: onboarded (created), adopted, or failed with its
    /// reason; plus jobs still queued, running or waiting for approval.
    pub async fn batch_report(&self, batch: BatchId) -> Result<BatchReport, EngineError> {
        let mut jobs = self.inner.store.list_jobs(Some(batch), u32::MAX).await?;
        let source = self.inner.store.batch_rows(batch).await?;
        let row_of: std::collections::HashMap<JobId, u64> = source
            .iter()
            .filter_map(|r| r.job_id.map(|job| (job, r.row)))
            .collect();
        jobs.sort_by_key(|j| (row_of.get(&j.id).copied(), j.id));
        let mut report = BatchReport {
            batch_id: batch.to_string(),
            skipped: crate::batch_file::skipped_rows(&source),
            ..BatchReport::default()
        };
        for job in jobs {
            let account = job.request["scope"]["subscription_id"]
                .as_str()
                .or_else(|| job.request["scope"]["tenant_id"].as_str())
                .unwrap_or_default()
                .to_owned();
            let name = job.request["name"].as_str().unwrap_or_default().to_owned();
            let row = BatchRow {
                row: row_of.get(&job.id).copied(),
                job_id: job.id.to_string(),
                account_id: account,
                name,
                state: job.state,
                outcome: job
                    .result
                    .as_ref()
                    .and_then(|r| r["outcome"].as_str())
                    .map(str::to_owned),
                code: job
                    .error
                    .as_ref()
                    .and_then(|e| e["code"].as_str())
                    .map(str::to_owned),
                message: job
                    .error
                    .as_ref()
                    .and_then(|e| e["message"].as_str())
                    .map(str::to_owned),
            };
            match (job.state, row.outcome.as_deref()) {
                (JobState::Succeeded, Some("adopted")) => report.adopted += 1,
                (JobState::Succeeded, _) => report.onboarded += 1,
                (JobState::Failed | JobState::Cancelled, _) => report.failed += 1,
                _ => report.pending += 1,
            }
            report.rows.push(row);
        }
        report.total = report.rows.len() as u64;
        Ok(report)
    }

    async fn cancel_requested(&self, job: JobId) -> bool {
        matches!(self.inner.store.get_job(job).await, Ok(Some(j)) if j.cancel_requested)
    }
}

/// The outcome of a batch, job by job.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct BatchReport {
    pub batch_id: String,
    pub total: u64,
    pub onboarded: u64,
    pub adopted: u64,
    pub failed: u64,
    pub pending: u64,
    pub rows: Vec<BatchRow>,
    /// The rows of the batch's file that were left out for their problems, by row number
    /// (none for a batch submitted without a file).
    pub skipped: Vec<crate::batch_file::SkippedRow>,
}

/// One job of a batch, in submission order (which is row order for a batch from a file).
#[derive(Clone, Debug, serde::Serialize)]
pub struct BatchRow {
    /// The row of the batch's file this job came from (the header is row 1); `None` for a
    /// batch submitted without a file.
    pub row: Option<u64>,
    pub job_id: String,
    pub account_id: String,
    pub name: String,
    pub state: JobState,
    pub outcome: Option<String>,
    pub code: Option<String>,
    pub message: Option<String>,
}

/// How a run of a job is recorded once its events are flushed.
enum End {
    Finish(
        JobState,
        Option<serde_json::Value>,
        Option<serde_json::Value>,
    ),
    Release(JobState),
    Nothing,
}

/// Renews the lease every third of its length; cancels the job when the lease is lost or a
/// cancellation was requested.
async fn renew_lease(
    store: Store,
    job: JobId,
    worker: String,
    lease: Duration,
    cancel: CancellationToken,
) -> Renewal {
    let every = lease / 3;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = cancel.cancelled() => return Renewal::Ended,
        }
        match store.renew_lease(job, &worker, lease).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(%job, "lease lost to another worker; stopping this run");
                cancel.cancel();
                return Renewal::LeaseLost;
            }
            Err(e) => tracing::warn!(%job, error = %e, "lease renewal failed"),
        }
        if let Ok(Some(j)) = store.get_job(job).await
            && j.cancel_requested
        {
            cancel.cancel();
            return Renewal::Ended;
        }
    }
}

/// Why the lease renewal stopped.
enum Renewal {
    /// The run ended, or a cancellation was requested.
    Ended,
    /// Another worker holds the job now.
    LeaseLost,
}
