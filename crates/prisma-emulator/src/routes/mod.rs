//! The routing table: every endpoint the emulator serves, behind the gateway.

mod accounts;
mod catalog;
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
        .route(
            "/cloud/group",
            get(catalog::list_groups).post(catalog::create_group),
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
            crate::gateway::gateway,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
