//! The Cortex Cloud face: the Cloud Onboarding API (`/public_api/v1/cloud_onboarding/*` and
//! `/api_keys/validate`), served by the same process as the Prisma Cloud face, per
//! `../shared/reference/cortex-cloud-api.md` §14. Choices where the sheet says UNCONFIRMED are
//! written in `docs/emulator.md` ("Cortex Cloud").
//!
//! In the order a request meets them:
//! * [`gateway`] — latency, the API key (standard, or advanced: SHA-256 of key + nonce +
//!   timestamp, stale timestamps and replayed nonces refused), the per-key per-endpoint token
//!   bucket and the injected faults — the limiter, fault dice and counters the Prisma face uses.
//! * [`routes`] — the endpoints: envelope checks, typed parsing (a bad field is a 422 whose
//!   `err_extra` item names it), then [`state`].
//! * [`state`] — instances (pending ones keyed by the tracking GUID), their accounts and
//!   capabilities, approved tenants; the API the template callback uses to turn a pending
//!   instance into a connected one ([`state::CortexState::connect`]).
//! * [`filters`] — `filter_data` evaluation: AND/OR, the common search types, sort, paging.
//! * [`reply`] — `{"reply": …}` answers and the error shape.
//!
//! The template content, its download route, the callback route and capability timing belong
//! to the template module (`template*`, `callback*` beside these files); they add routes to
//! [`router`] through [`extra_routes`] and change instances through [`state`].

pub mod admin;
pub mod auth;
pub mod callback;
pub mod config;
pub mod filters;
pub mod gateway;
pub mod reply;
pub mod routes;
pub mod state;
pub mod template;
pub mod template_routes;

use std::sync::Arc;

use axum::Router;

pub use config::{CortexConfig, CortexKey};
pub use state::{CortexFace, CortexState};

use crate::state::EmulatorState;

/// The Cortex Cloud API routes, behind the Cortex gateway; inside it, writes are saved to the
/// write-through snapshot before they answer ([`persist_writes`]).
pub fn router(state: Arc<EmulatorState>) -> Router {
    routes::api_router(state.clone())
        .merge(extra_routes(state.clone()))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            persist_writes,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            gateway::gateway,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(
            state.config.max_body_bytes,
        ))
        .with_state(state)
}

/// The endpoints that change the face's state (the template callback included); reads,
/// `get_identifiers` and template downloads change nothing worth saving.
fn is_write(method: &axum::http::Method, path: &str) -> bool {
    use cortex_cloud_types::wire::paths;
    if method == axum::http::Method::PUT {
        return path.starts_with(callback::UPLOAD_PATH_PREFIX);
    }
    let path = path.strip_suffix('/').unwrap_or(path);
    method == axum::http::Method::POST
        && [
            paths::CREATE_INSTANCE_TEMPLATE,
            paths::EDIT_INSTANCE,
            paths::ENABLE_DISABLE_INSTANCE,
            paths::DELETE_INSTANCE,
            paths::ENABLE_DISABLE_ACCOUNT,
        ]
        .contains(&path)
}

async fn persist_writes(
    axum::extract::State(state): axum::extract::State<Arc<EmulatorState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let write = is_write(req.method(), req.uri().path());
    let response = next.run(req).await;
    crate::snapshot::save_after_write(&state, write, response, || {
        reply::Failure::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "the emulator could not save its state; retry",
        )
        .into_response()
    })
}

/// Routes other Cortex modules add (template downloads, the callback). They sit behind the
/// same gateway; [`gateway::is_unauthenticated`] lists the ones that carry no API key.
fn extra_routes(state: Arc<EmulatorState>) -> Router<Arc<EmulatorState>> {
    template_routes::routes(state)
}
