//! A faithful, stateful emulator of the Prisma Cloud CSPM API for Azure onboarding.
//!
//! It serves every endpoint the product uses — login and extend, supported features, the
//! Terraform template, add / update / status-check of Azure accounts (CAS and legacy bodies),
//! reads, lists, account groups, tenant children, enable/disable and offboarding — with the
//! documented validation, response shapes and i18n keys, so the product, its tests and users'
//! own pipelines run without a real tenant. Where the real contract is unconfirmed, the choice
//! made here is written in `docs/emulator.md`.
//!
//! Modules, in the order a request meets them:
//! * [`net`] — the listener; connections a fault can reset; optional TLS ([`tls`]).
//! * [`gateway`] — latency, `x-redlock-auth`, per-user per-endpoint token buckets, then injected
//!   faults; the outer `edge` layer adds request ids and turns framework rejections into API
//!   errors.
//! * `routes` — the endpoints; [`capabilities`] computes status checks from the request and
//!   [`capabilities::ScenarioBook`]; [`template`] writes the Terraform configuration.
//! * [`store`] — accounts, groups and the synthetic Azure hierarchy behind tenants.
//! * [`admin`] — `/_emulator/*` counters and runtime fault, limit and scenario control
//!   (behind a bearer token when [`EmulatorConfig::admin_token`] is set).
//! * [`snapshot`] — both faces' state (accounts, groups, Cortex instances) to a file and back,
//!   optionally written through.
//! * [`seed`] — the sandbox's first accounts, from the seeded Azure tenant.
//! * [`connect_proxy`] — an HTTP `CONNECT` proxy so unchanged official clients, which accept
//!   only `*.prismacloud.io` hosts, reach the emulator.
//!
//! Two faces share the process, the gateway machinery (limiter, fault dice, counters) and the
//! listener: the Prisma Cloud API (`routes`) and the Cortex Cloud Cloud Onboarding API
//! ([`cortex`], under `/public_api/v1/cloud_onboarding/` and `/api_keys/validate`).

pub mod admin;
pub mod aging;
pub mod auth;
pub mod capabilities;
mod clock;
pub mod config;
pub mod connect_proxy;
pub mod cortex;
pub mod error;
pub mod gateway;
pub mod net;
mod routes;
pub mod seed;
pub mod snapshot;
pub mod state;
pub mod store;
pub mod template;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;

pub use admin::StatsReport;
pub use config::{EmulatorConfig, Faults, Limit, RateLimits};
pub use state::EmulatorState;

/// The whole emulator as one router (API behind the gateway, plus `/_emulator/*`).
pub fn router(state: Arc<EmulatorState>) -> Router {
    routes::api_router(state.clone())
        .merge(cortex::router(state.clone()))
        .merge(admin::admin_router(state))
        .layer(axum::middleware::from_fn(gateway::edge))
}

/// A running emulator: its address and state. Dropping it does not stop the server; send the
/// shutdown signal given to [`serve`] / [`spawn`].
pub struct RunningEmulator {
    pub addr: SocketAddr,
    pub state: Arc<EmulatorState>,
    pub tls: bool,
    /// Ends when the server has shut down (after the shutdown signal, open requests done).
    pub task: tokio::task::JoinHandle<()>,
}

impl RunningEmulator {
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }
}

/// Serves the emulator on `listener` until `shutdown` resolves. With `tls`, connections are
/// TLS with the generated certificate.
pub async fn serve(
    listener: TcpListener,
    state: Arc<EmulatorState>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = net::EmulatorListener::new(listener, tls)?;
    let app = router(state).into_make_service_with_connect_info::<net::ConnInfo>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds `addr` (port 0 for any), spawns the server on the current runtime and returns at once.
pub async fn spawn(
    addr: SocketAddr,
    config: EmulatorConfig,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<RunningEmulator> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(EmulatorState::new(config));
    let is_tls = tls.is_some();
    let server_state = state.clone();
    let task = tokio::spawn(async move {
        if let Err(e) = serve(listener, server_state, tls, shutdown).await {
            tracing::error!(error = %e, "emulator server stopped");
        }
    });
    Ok(RunningEmulator {
        addr,
        state,
        tls: is_tls,
        task,
    })
}
