//! Emulated Microsoft Azure on loopback, one face per API, so that the product's sign-in (and,
//! later, its ARM and Graph calls) run for real in tests and in `serve --sandbox` without a
//! tenant.
//!
//! Faces:
//! * [`entra`] — Entra ID's OpenID Connect provider (`login.microsoftonline.com`): discovery,
//!   a sign-in page, token, JWKS with key rotation, end-session.
//! * [`cloud`] — what a Terraform caller talks to: the token endpoints (client secret,
//!   certificate, federated/OIDC, managed identity, the CLI's refresh), ARM and Graph, over
//!   the seeded tenant [`tenant_seed`]. It has its own listener ([`spawn_cloud`]) because its
//!   token endpoint shares Entra's path.
//!
//! Like the Prisma Cloud emulator, it starts from a listener and a shutdown signal ([`serve`]),
//! so tests run it on `127.0.0.1:0`; [`spawn`] binds, builds the state for the bound address
//! and serves in a task.

pub mod cloud;
pub mod entra;
pub mod tenant_seed;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;

pub use entra::{EntraConfig, EntraState, TokenFaults};

/// Every face as one router.
pub fn router(entra: Arc<EntraState>) -> Router {
    entra::router(entra)
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    entra: Arc<EntraState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(entra))
        .with_graceful_shutdown(shutdown)
        .await
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen: {0}")]
    Listen(#[from] std::io::Error),
    #[error("{0}")]
    Keys(#[from] entra::KeyError),
}

/// A running emulator. Dropping it does not stop the server; resolve the shutdown signal.
pub struct RunningAzure {
    pub addr: SocketAddr,
    pub entra: Arc<EntraState>,
    pub task: tokio::task::JoinHandle<()>,
}

impl RunningAzure {
    /// `http://127.0.0.1:PORT`: the emulated `https://login.microsoftonline.com`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The tenant's issuer, `{base}/{tenant}/v2.0`: what the product configures as authority.
    pub fn issuer(&self) -> String {
        self.entra.issuer()
    }
}

/// Binds `addr` (port 0: a free one), builds the tenant for that address and serves it in a
/// task until `shutdown` resolves.
pub async fn spawn(
    addr: SocketAddr,
    config: EntraConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<RunningAzure, StartError> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let entra = Arc::new(EntraState::new(config, &format!("http://{addr}"))?);
    let task = tokio::spawn({
        let entra = entra.clone();
        async move {
            if let Err(e) = serve(listener, entra, shutdown).await {
                tracing::error!(error = %e, "the Azure emulator stopped");
            }
        }
    });
    Ok(RunningAzure { addr, entra, task })
}

/// A running emulated cloud ([`cloud`]): point the authority host, ARM and Graph at
/// [`RunningCloud::base_url`].
pub struct RunningCloud {
    pub addr: SocketAddr,
    pub state: Arc<cloud::CloudState>,
    pub task: tokio::task::JoinHandle<()>,
}

impl RunningCloud {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Binds `addr`, builds the cloud over `tenant` for that address and serves it in a task
/// until `shutdown` resolves.
pub async fn spawn_cloud(
    addr: SocketAddr,
    tenant: tenant_seed::Tenant,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<RunningCloud, CloudStartError> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(cloud::CloudState::new(tenant, &format!("http://{addr}"))?);
    let app = cloud::router(state.clone());
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "the emulated Azure cloud stopped");
        }
    });
    Ok(RunningCloud { addr, state, task })
}

#[derive(Debug, thiserror::Error)]
pub enum CloudStartError {
    #[error("cannot listen: {0}")]
    Listen(#[from] std::io::Error),
    #[error("{0}")]
    Keys(#[from] cloud::CloudKeyError),
}
