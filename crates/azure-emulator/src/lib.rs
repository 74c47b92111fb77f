//! Emulated Microsoft Azure on loopback, one face per API, so that the product's sign-in (and,
//! later, its ARM and Graph calls) run for real in tests and in `serve --sandbox` without a
//! tenant.
//!
//! Faces:
//! * [`entra`] — Entra ID's OpenID Connect provider (`login.microsoftonline.com`): discovery,
//!   a sign-in page, token, JWKS with key rotation, end-session.
//!
//! Like the Prisma Cloud emulator, it starts from a listener and a shutdown signal ([`serve`]),
//! so tests run it on `127.0.0.1:0`; [`spawn`] binds, builds the state for the bound address
//! and serves in a task.

pub mod entra;

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
