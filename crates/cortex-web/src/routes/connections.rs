//! Platform connections (Prisma Cloud or Cortex Cloud): list (viewer), save and delete
//! (admin), test (operator).
//!
//! `default` is the server's configured Prisma Cloud connection (in sandbox mode the
//! emulator), and in the sandbox `cortex-sandbox` is the emulator's Cortex Cloud face: listed
//! and testable, never saved or deleted. The others are stored encrypted by the engine (see
//! `onboarding_engine::connections`); answers show a Prisma access key id masked, a Cortex key
//! id (an integer) as is and the secret as `••••`, and no error echoes a submitted value.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use onboarding_engine::connections::{CORTEX_SANDBOX_CONNECTION, DEFAULT_CONNECTION};
use onboarding_engine::{ConnectionName, RawConnection};

use crate::auth::{Admin, Authed, Operator};
use crate::error::{ApiError, ErrorBody};
use crate::extract::JsonBody;
use crate::state::AppState;
use crate::views::{
    ConnectionDeleted, ConnectionItem, ConnectionList, ConnectionRequest, ConnectionSaved,
    ConnectionTestResult,
};

/// A connection named in a path: a built-in one, or a saved one's name.
pub(crate) enum Target {
    Default,
    CortexSandbox,
    Saved(ConnectionName),
}

pub(crate) fn target(raw: &str) -> Result<Target, ApiError> {
    match raw.trim() {
        DEFAULT_CONNECTION => return Ok(Target::Default),
        CORTEX_SANDBOX_CONNECTION => return Ok(Target::CortexSandbox),
        _ => {}
    }
    ConnectionName::parse(raw)
        .map(Target::Saved)
        .map_err(|e| ApiError::bad_parameter("name", e.message))
}

/// A saved connection named in a path; a built-in one is refused (it cannot be deleted).
pub(crate) fn saved_target(raw: &str) -> Result<ConnectionName, ApiError> {
    match target(raw)? {
        Target::Saved(name) => Ok(name),
        Target::Default | Target::CortexSandbox => Err(ApiError::bad_parameter(
            "name",
            format!(
                "{} is a built-in connection of the server; it cannot be deleted",
                raw.trim()
            ),
        )),
    }
}

/// Saves a connection from outside input; the item as now stored and whether it replaced one.
pub(crate) async fn save_connection(
    state: &AppState,
    raw: &RawConnection,
    actor: &str,
) -> Result<(ConnectionItem, bool), ApiError> {
    let connection = raw
        .validate()
        .map_err(|e| ApiError::invalid_request(e.errors))?;
    let engine = state.engine();
    let replaced = engine.save_connection(&connection, actor).await?;
    let view = engine
        .connection(connection.name.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("connection {} not found", connection.name)))?;
    Ok((view.into(), replaced))
}

/// Tests `raw` (`default` or a saved connection's name).
pub(crate) async fn test_connection(
    state: &AppState,
    raw: &str,
    actor: &str,
) -> Result<ConnectionTestResult, ApiError> {
    let (name, result) = match target(raw)? {
        Target::Default => (
            DEFAULT_CONNECTION.to_owned(),
            state.engine().test_connection(None, actor).await?,
        ),
        Target::CortexSandbox => (
            CORTEX_SANDBOX_CONNECTION.to_owned(),
            state.engine().test_cortex_sandbox(actor).await?,
        ),
        Target::Saved(name) => (
            name.to_string(),
            state.engine().test_connection(Some(&name), actor).await?,
        ),
    };
    Ok(ConnectionTestResult {
        name,
        ok: result.ok,
        message: result.message,
    })
}

/// Every connection, of both platforms: `default` (the server's configured one) first, then
/// `cortex-sandbox` in the sandbox, then the saved ones by name.
#[utoipa::path(get, path = "/api/v1/connections", operation_id = "list_connections", tag = "connections",
    responses((status = 200, body = ConnectionList), (status = 401, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Authed(_): Authed,
) -> Result<axum::Json<ConnectionList>, ApiError> {
    let connections = state.engine().list_connections().await?;
    Ok(axum::Json(ConnectionList {
        connections: connections.into_iter().map(Into::into).collect(),
    }))
}

/// Save a Prisma Cloud or Cortex Cloud connection, stored encrypted (201); one of the same
/// name is replaced (200).
#[utoipa::path(post, path = "/api/v1/connections", operation_id = "save_connection", tag = "connections",
    request_body = ConnectionRequest,
    responses((status = 201, body = ConnectionSaved),
        (status = 200, description = "Replaced", body = ConnectionSaved),
        (status = 400, description = "Refused: every bad field listed", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn save(
    State(state): State<AppState>,
    Admin(who): Admin,
    JsonBody(raw): JsonBody<RawConnection>,
) -> Result<Response, ApiError> {
    let (connection, replaced) = save_connection(&state, &raw, &who.actor()).await?;
    let (status, outcome) = if replaced {
        (StatusCode::OK, "replaced")
    } else {
        (StatusCode::CREATED, "created")
    };
    Ok((
        status,
        axum::Json(ConnectionSaved {
            connection,
            outcome: outcome.into(),
        }),
    )
        .into_response())
}

/// Delete a saved connection. Jobs that name it and have not started fail with
/// `unknown_connection`.
#[utoipa::path(delete, path = "/api/v1/connections/{name}", operation_id = "delete_connection", tag = "connections",
    params(("name" = String, Path, description = "The connection's name (not default)")),
    responses((status = 200, body = ConnectionDeleted), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Admin(who): Admin,
    Path(raw): Path<String>,
) -> Result<axum::Json<ConnectionDeleted>, ApiError> {
    let name = saved_target(&raw)?;
    if !state
        .engine()
        .delete_connection(&name, &who.actor())
        .await?
    {
        return Err(ApiError::not_found(format!("connection {name} not found")));
    }
    Ok(axum::Json(ConnectionDeleted {
        name: name.to_string(),
        result: "deleted".into(),
    }))
}

/// Try the connection's key (a Prisma Cloud login): `ok` and what happened (a refused key is a 200 with
/// `ok: false` and the reason).
#[utoipa::path(post, path = "/api/v1/connections/{name}/test", operation_id = "test_connection", tag = "connections",
    params(("name" = String, Path, description = "default, or a saved connection's name")),
    responses((status = 200, body = ConnectionTestResult), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn test(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path(raw): Path<String>,
) -> Result<axum::Json<ConnectionTestResult>, ApiError> {
    test_connection(&state, &raw, &who.actor())
        .await
        .map(axum::Json)
}
