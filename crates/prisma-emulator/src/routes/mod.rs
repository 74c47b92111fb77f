//! The routing table: every endpoint the emulator serves, behind the gateway.

mod accounts;
mod catalog;
mod groups;
mod session;
mod validate;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, patch, post, put};

use crate::state::EmulatorState;

/// The API routes (paths exactly as the real service has them).
pub fn api_router(state: Arc<EmulatorState>) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .route("/login", post(session::login))
        .route("/auth_token/extend", get(session::extend))
        .route(
            "/cas/v1/features/cloud/{cloud_type}",
            post(catalog::supported_features),
        )
        .route("/cas/v1/azure_template", post(catalog::template))
        .route("/cas/v1/azure_account", post(accounts::add_account))
        .route(
            "/cas/v1/azure_account/{account_id}",
            put(accounts::update_account),
        )
        .route(
            "/cas/v1/cloud_account/status/azure",
            post(accounts::status_check),
        )
        .route(
            "/account/{account_id}/config/status",
            get(accounts::config_status),
        )
        .route(
            "/cloud/{cloud_type}/{account_id}",
            get(accounts::get_account_details)
                .put(accounts::update_account_legacy)
                .delete(accounts::delete_account),
        )
        .route("/cloud/{cloud_type}", post(accounts::add_account_legacy))
        .route(
            "/cloud/status/{cloud_type}",
            post(accounts::status_check_legacy),
        )
        .route(
            "/v1/cloudAccounts/azureAccounts/{account_id}",
            get(accounts::get_azure_account),
        )
        .route("/cloud", get(accounts::list_accounts))
        .route("/cloud/name", get(accounts::list_names))
        .route("/cloud/type", get(catalog::cloud_types))
        .route("/meta_info", get(catalog::meta_info))
        .route(
            "/cloud/{cloud_type}/{account_id}/project",
            get(accounts::list_account_children),
        )
        .route(
            "/v1/cloudAccounts/azureAccounts",
            get(accounts::list_azure_accounts),
        )
        .route(
            "/cloud/group",
            get(groups::list_groups).post(groups::create_group),
        )
        .route("/cloud/group/name", get(groups::list_group_names))
        .route(
            "/cloud/group/{group_id}",
            get(groups::get_group)
                .put(groups::update_group)
                .delete(groups::delete_group),
        )
        .route(
            "/cloud-accounts-manager/v1/cloudAccounts/azureAccounts/{parent_id}/children",
            post(catalog::list_children),
        )
        .route(
            "/cloud/{account_id}/status/{enabled}",
            patch(accounts::set_enabled),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            persist_writes,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::gateway::gateway,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Inside the gateway, around every handler: a write that succeeded is saved to the
/// write-through snapshot (when one is set) before its answer leaves. A save that fails turns
/// the answer into a 500, so the client retries instead of trusting a change a restart would
/// lose.
async fn persist_writes(
    axum::extract::State(state): axum::extract::State<Arc<EmulatorState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    // POSTs that only compute (login, features, template, status checks, children) change
    // nothing worth saving.
    let is_write = match *req.method() {
        http::Method::PUT | http::Method::PATCH | http::Method::DELETE => true,
        http::Method::POST => matches!(
            path.as_str(),
            "/cas/v1/azure_account" | "/cloud/group" | "/cloud/{cloud_type}"
        ),
        _ => false,
    };
    let response = next.run(req).await;
    crate::snapshot::save_after_write(&state, is_write, response, || {
        crate::error::ApiFailure::new(http::StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
            .into_response()
    })
}
