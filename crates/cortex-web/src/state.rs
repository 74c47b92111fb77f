//! What every handler shares: the engine, the users database, the configuration, the
//! shutdown signal (which ends open event streams), login throttling and metrics.

use std::sync::Arc;

use onboarding_engine::Engine;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::auth::throttle::LoginThrottle;
use crate::auth::{AuthError, AuthStore, GeneratedAdmin, SESSION_COOKIE, SESSION_COOKIE_TLS};
use crate::config::WebConfig;
use crate::metrics::Metrics;

/// The application. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    auth: AuthStore,
    config: WebConfig,
    shutdown: CancellationToken,
    throttle: LoginThrottle,
    metrics: Arc<Metrics>,
    batch_hubs: crate::sse::BatchHubs,
    tls: Option<TlsAcceptor>,
    cert_reloader: Option<Arc<crate::tls::CertReloader>>,
    oidc: Option<Arc<crate::auth::oidc::OidcClient>>,
    azure: std::sync::OnceLock<AzureAccess>,
}

/// Where the Coverage page and `GET /api/v1/coverage` read Azure: the environment the
/// providers read and the endpoints (the process's, unless [`AppState::set_azure`] gave the
/// sandbox's emulated Azure).
#[derive(Clone, Debug)]
pub struct AzureAccess {
    pub env: azure_access::Env,
    /// An endpoint variable that is not a URL, in words.
    pub endpoints: Result<azure_access::Endpoints, String>,
}

impl AzureAccess {
    pub fn from_process() -> Self {
        let env = azure_access::Env::from_process();
        let endpoints = azure_access::Endpoints::from_env(&env).map_err(|e| e.to_string());
        Self { env, endpoints }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("users database: {0}")]
    Auth(#[from] AuthError),
    #[error("TLS: {0}")]
    Tls(String),
}

impl AppState {
    /// The application over `engine` with the users in `auth`. Loads the TLS certificate and
    /// key when configured.
    pub fn new(engine: Engine, auth: AuthStore, config: WebConfig) -> Result<Self, StartError> {
        let (tls, cert_reloader) = match &config.tls {
            Some(files) => {
                let (acceptor, reloader) = crate::tls::acceptor(files).map_err(StartError::Tls)?;
                (Some(acceptor), Some(reloader))
            }
            None => (None, None),
        };
        let oidc = config
            .oidc
            .clone()
            .map(|c| Arc::new(crate::auth::oidc::OidcClient::new(c)));
        let metrics = Arc::new(Metrics::default());
        let observer = Arc::downgrade(&metrics);
        engine.observe_events(Arc::new(move |event| {
            if let Some(metrics) = observer.upgrade() {
                metrics.observe_event(event);
            }
        }));
        Ok(Self {
            inner: Arc::new(Inner {
                throttle: LoginThrottle::new(config.login_max_failures, config.login_window),
                engine,
                auth,
                config,
                shutdown: CancellationToken::new(),
                metrics,
                batch_hubs: crate::sse::BatchHubs::default(),
                tls,
                cert_reloader,
                oidc,
                azure: std::sync::OnceLock::new(),
            }),
        })
    }

    /// Opens the users database named in `config` and builds the application. In sandbox
    /// mode, the first start (no user yet) creates `admin` with a generated password, returned
    /// here for the caller to print once.
    pub async fn open(
        engine: Engine,
        config: WebConfig,
    ) -> Result<(Self, Option<GeneratedAdmin>), StartError> {
        let auth = AuthStore::open_for(&config).await?;
        // Everything that can still fail (the TLS files) is checked before the first admin is
        // created: its password is shown only once, so it must not be made for a start that
        // then fails.
        let state = Self::new(engine, auth, config)?;
        let admin = if state.config().sandbox {
            state.auth().ensure_first_admin().await?
        } else {
            None
        };
        Ok((state, admin))
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub fn auth(&self) -> &AuthStore {
        &self.inner.auth
    }

    pub fn config(&self) -> &WebConfig {
        &self.inner.config
    }

    /// Cancelled when the server shuts down: event streams end, the in-process worker stops.
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// The single sign-on client, when `[oidc]` is configured.
    pub fn oidc(&self) -> Option<&crate::auth::oidc::OidcClient> {
        self.inner.oidc.as_deref()
    }

    /// Points discovery and coverage at `azure` (the sandbox's emulated Azure); only the first
    /// call counts (before serving).
    pub fn set_azure(&self, azure: AzureAccess) {
        let _ = self.inner.azure.set(azure);
    }

    /// Where discovery and coverage read Azure (the process's environment unless set).
    pub fn azure(&self) -> &AzureAccess {
        self.inner.azure.get_or_init(AzureAccess::from_process)
    }

    pub(crate) fn throttle(&self) -> &LoginThrottle {
        &self.inner.throttle
    }

    pub(crate) fn batch_hubs(&self) -> &crate::sse::BatchHubs {
        &self.inner.batch_hubs
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub(crate) fn tls(&self) -> Option<&TlsAcceptor> {
        self.inner.tls.as_ref()
    }

    /// The certificate reloader under TLS (`serve` reloads on SIGHUP; tests may call it).
    pub fn cert_reloader(&self) -> Option<&Arc<crate::tls::CertReloader>> {
        self.inner.cert_reloader.as_ref()
    }

    pub fn is_tls(&self) -> bool {
        self.inner.tls.is_some()
    }

    pub fn cookie_name(&self) -> &'static str {
        if self.is_tls() {
            SESSION_COOKIE_TLS
        } else {
            SESSION_COOKIE
        }
    }
}
