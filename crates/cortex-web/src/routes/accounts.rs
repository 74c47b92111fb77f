//! Accounts and account groups (through the engine's Prisma Cloud client), and the audit log.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cortex_store::AuditEntry;
use prisma_types::TenantId;
use serde::Deserialize;

use crate::auth::{Authed, Operator, Principal};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, lenient, parse_query};
use crate::state::AppState;
use crate::views::{
    AccountAction, AccountList, AccountView, AuditList, CreateGroup, GroupCreated, GroupList,
};

fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(value).map_err(|e| ApiError::internal("serialize", &e))
}

/// An account id: a subscription or tenant GUID.
fn account_id(raw: &str) -> Result<String, ApiError> {
    TenantId::parse_as("id", raw)
        .map(|id| id.to_string())
        .map_err(|e| ApiError::bad_parameter("id", e.message))
}

async fn audit(
    state: &AppState,
    who: &Principal,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) {
    let entry = AuditEntry {
        actor: who.actor(),
        action: action.to_owned(),
        target: target.to_owned(),
        detail,
        prisma_request_ids: Vec::new(),
    };
    if let Err(e) = state.engine().store().audit(&entry).await {
        tracing::warn!(error = %e, action, "audit entry not written");
    }
}

/// Every cloud account Prisma Cloud has (`GET /cloud`).
#[utoipa::path(get, path = "/api/v1/accounts", operation_id = "list_accounts", tag = "accounts",
    responses((status = 200, body = AccountList), (status = 401, body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Authed(_): Authed,
) -> Result<axum::Json<AccountList>, ApiError> {
    let accounts = state.engine().client().list_accounts().await?;
    Ok(axum::Json(AccountList {
        accounts: accounts.iter().map(to_json).collect::<Result<_, _>>()?,
    }))
}

async fn existing(state: &AppState, raw: &str) -> Result<(String, serde_json::Value), ApiError> {
    let id = account_id(raw)?;
    match state.engine().client().get_azure_account(&id).await? {
        Some(view) => Ok((id, to_json(&view)?)),
        None => Err(ApiError::not_found(format!("account {id} not found"))),
    }
}

/// One Azure account.
#[utoipa::path(get, path = "/api/v1/accounts/{id}", operation_id = "get_account", tag = "accounts",
    params(("id" = String, Path, description = "Subscription or tenant id")),
    responses((status = 200, body = AccountView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Authed(_): Authed,
    Path(id): Path<String>,
) -> Result<axum::Json<AccountView>, ApiError> {
    let (account_id, account) = existing(&state, &id).await?;
    Ok(axum::Json(AccountView {
        account_id,
        account,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnableQuery {
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    update_children: Option<bool>,
}

async fn set_enabled(
    state: AppState,
    who: Principal,
    raw: String,
    query: Option<String>,
    enabled: bool,
) -> Result<axum::Json<AccountAction>, ApiError> {
    let q: EnableQuery = parse_query(query.as_deref())?;
    let (id, _) = existing(&state, &raw).await?;
    let children = q.update_children.unwrap_or(false);
    state
        .engine()
        .client()
        .set_account_enabled(&id, enabled, children)
        .await?;
    let result = if enabled { "enabled" } else { "disabled" };
    audit(
        &state,
        &who,
        &format!("account.{result}"),
        &id,
        serde_json::json!({"update_children": children}),
    )
    .await;
    Ok(axum::Json(AccountAction {
        account_id: id,
        result: result.into(),
    }))
}

/// Enable an account (scanning resumes).
#[utoipa::path(post, path = "/api/v1/accounts/{id}/enable", operation_id = "enable_account", tag = "accounts",
    params(("id" = String, Path, description = "Subscription or tenant id"),
        ("update_children" = Option<bool>, Query, description = "A tenant's children too")),
    responses((status = 200, body = AccountAction), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn enable(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<axum::Json<AccountAction>, ApiError> {
    set_enabled(state, who, id, q, true).await
}

/// Disable an account (scanning stops; the account stays).
#[utoipa::path(post, path = "/api/v1/accounts/{id}/disable", operation_id = "disable_account", tag = "accounts",
    params(("id" = String, Path, description = "Subscription or tenant id"),
        ("update_children" = Option<bool>, Query, description = "A tenant's children too")),
    responses((status = 200, body = AccountAction), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn disable(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<axum::Json<AccountAction>, ApiError> {
    set_enabled(state, who, id, q, false).await
}

/// Offboard an account from Prisma Cloud (the Azure identity is left as it is).
#[utoipa::path(delete, path = "/api/v1/accounts/{id}", operation_id = "offboard_account", tag = "accounts",
    params(("id" = String, Path, description = "Subscription or tenant id")),
    responses((status = 200, body = AccountAction), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn offboard(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path(id): Path<String>,
) -> Result<axum::Json<AccountAction>, ApiError> {
    let (id, _) = existing(&state, &id).await?;
    state.engine().client().offboard(&id).await?;
    audit(
        &state,
        &who,
        "account.offboarded",
        &id,
        serde_json::Value::Null,
    )
    .await;
    Ok(axum::Json(AccountAction {
        account_id: id,
        result: "offboarded".into(),
    }))
}

/// Account groups (`GET /cloud/group`).
#[utoipa::path(get, path = "/api/v1/groups", operation_id = "list_groups", tag = "groups",
    responses((status = 200, body = GroupList), (status = 401, body = ErrorBody)))]
pub async fn list_groups(
    State(state): State<AppState>,
    Authed(_): Authed,
) -> Result<axum::Json<GroupList>, ApiError> {
    let groups = state.engine().client().list_account_groups().await?;
    Ok(axum::Json(GroupList {
        groups: groups.iter().map(to_json).collect::<Result<_, _>>()?,
    }))
}

/// Create an account group (201); an existing group of that name is adopted (200).
#[utoipa::path(post, path = "/api/v1/groups", operation_id = "create_group", tag = "groups",
    request_body = CreateGroup,
    responses((status = 201, body = GroupCreated), (status = 200, description = "Adopted", body = GroupCreated),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_group(
    State(state): State<AppState>,
    Operator(who): Operator,
    JsonBody(body): JsonBody<CreateGroup>,
) -> Result<Response, ApiError> {
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(
            ApiError::bad_parameter("name", "must be 1-100 characters").with_code("invalid_body")
        );
    }
    let description = body.description.unwrap_or_default();
    if description.chars().count() > 1000 {
        return Err(
            ApiError::bad_parameter("description", "must be at most 1000 characters")
                .with_code("invalid_body"),
        );
    }
    let (group, outcome) = state
        .engine()
        .client()
        .create_account_group(name, &description)
        .await?;
    let outcome = match outcome {
        prisma_client::Outcome::Created => "created",
        prisma_client::Outcome::Adopted => "adopted",
    };
    audit(
        &state,
        &who,
        "group.created",
        &group.id,
        serde_json::json!({"name": group.name, "outcome": outcome}),
    )
    .await;
    let status = if outcome == "created" {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        axum::Json(GroupCreated {
            group: to_json(&group)?,
            outcome: outcome.into(),
        }),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    #[serde(default, deserialize_with = "lenient::opt_u32")]
    limit: Option<u32>,
}

/// The newest audit entries, newest first.
#[utoipa::path(get, path = "/api/v1/audit", operation_id = "list_audit", tag = "audit",
    params(("limit" = Option<u32>, Query, description = "1-1000, default 100")),
    responses((status = 200, body = AuditList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_audit(
    State(state): State<AppState>,
    Authed(_): Authed,
    RawQuery(q): RawQuery,
) -> Result<axum::Json<AuditList>, ApiError> {
    let q: AuditQuery = parse_query(q.as_deref())?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_parameter("limit", "must be 1-1000"));
    }
    let entries = state.engine().store().list_audit(limit).await?;
    Ok(axum::Json(AuditList {
        entries: entries.into_iter().map(Into::into).collect(),
    }))
}
