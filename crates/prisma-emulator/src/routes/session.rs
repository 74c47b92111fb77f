//! `POST /login` and `GET /auth_token/extend`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use prisma_types::wire::{CustomerName, LoginRequest, LoginResponse};

use crate::auth::Claims;
use crate::error::{ApiFailure, WireJson};
use crate::state::EmulatorState;

pub async fn login(
    State(state): State<Arc<EmulatorState>>,
    WireJson(body): WireJson<LoginRequest>,
) -> Result<Response, ApiFailure> {
    let key = state
        .config
        .access_keys
        .iter()
        .find(|k| k.id == body.username && k.secret.expose() == body.password.expose());
    let Some(key) = key else {
        state.stats.failed_logins.fetch_add(1, Ordering::Relaxed);
        return Err(ApiFailure::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        ));
    };
    let customers = &state.config.customer_names;
    let chosen = match (&body.customer_name, &body.prisma_id) {
        (Some(name), _) => customers.iter().find(|c| *c == name),
        (None, Some(id)) => customers.iter().find(|c| format!("emulator-{c}") == *id),
        (None, None) if customers.len() == 1 => customers.first(),
        (None, None) => {
            // A multi-tenant login that names no tenant: no token, the list to choose from.
            let response = LoginResponse {
                token: None,
                message: Some("login_needs_customer_name".to_owned()),
                customer_names: customers
                    .iter()
                    .map(|c| CustomerName {
                        customer_name: c.clone(),
                        prisma_id: format!("emulator-{c}"),
                        tos_accepted: true,
                    })
                    .collect(),
                roles: Vec::new(),
            };
            return Ok(Json(response).into_response());
        }
    };
    let Some(customer) = chosen else {
        state.stats.failed_logins.fetch_add(1, Ordering::Relaxed);
        return Err(
            ApiFailure::new(StatusCode::UNAUTHORIZED, "invalid_credentials")
                .subject("customerName"),
        );
    };
    state.stats.logins.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(access_key_id = %key.id, "emulator: login");
    let response = LoginResponse {
        token: Some(state.tokens.mint(&key.id, customer)),
        message: Some("login_successful".to_owned()),
        customer_names: vec![CustomerName {
            customer_name: customer.clone(),
            prisma_id: format!("emulator-{customer}"),
            tos_accepted: true,
        }],
        roles: Vec::new(),
    };
    Ok(Json(response).into_response())
}

/// The gateway has already refused a missing, invalid or expired token with 401.
pub async fn extend(
    State(state): State<Arc<EmulatorState>>,
    Extension(claims): Extension<Claims>,
) -> Response {
    state.stats.extends.fetch_add(1, Ordering::Relaxed);
    let response = LoginResponse {
        token: Some(
            state
                .tokens
                .mint(&claims.access_key_id, &claims.selected_customer_name),
        ),
        message: Some("login_successful".to_owned()),
        customer_names: Vec::new(),
        roles: vec![claims.user_role_type_name.clone()],
    };
    Json(response).into_response()
}
