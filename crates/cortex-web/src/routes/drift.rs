//! Drift and adoption over the API (`onboarding_engine::drift`): the managed accounts with
//! their desired state, last finding and lifecycle (why rotation and destroy are unavailable
//! for an adopted account: `lifecycle.unavailable.code`); a live comparison of one account;
//! reconcile (a job with an optional review) or *adopt current*; the platform's unmanaged
//! accounts, and adopting them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use onboarding_engine::drift;
use onboarding_engine::watch::{HealthWatch, WatchConfig};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::{Authed, Operator};
use crate::error::{ApiError, ErrorBody};
use crate::extract::JsonBody;
use crate::state::AppState;
use crate::views::JobRef;

pub(crate) fn watch(state: &AppState) -> Result<HealthWatch, ApiError> {
    Ok(HealthWatch::new(
        state.engine().clone(),
        WatchConfig::default(),
    )?)
}

fn account_id(raw: &str) -> Result<String, ApiError> {
    prisma_types::TenantId::parse(raw)
        .map(|t| t.to_string())
        .map_err(|_| ApiError::bad_parameter("id", "an account ID is a GUID"))
}

/// A managed account with its last drift finding.
#[derive(Serialize, ToSchema)]
pub struct ManagedList {
    /// `[{key, platform, connection, account_id, account_name, origin, job_id, desired,
    /// desired_source, lifecycle: {rotate_secret, destroy_identity, unavailable: {code,
    /// message}?}, finding: {checked_at_ms, fingerprint, differences, error}?}]`, by name.
    #[schema(value_type = Vec<Object>)]
    pub accounts: Vec<Value>,
}

/// Every managed account (onboarded or adopted), its desired state and its last finding.
#[utoipa::path(get, path = "/api/v1/drift", operation_id = "list_drift", tag = "drift",
    responses((status = 200, body = ManagedList), (status = 401, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Authed(_): Authed,
) -> Result<axum::Json<ManagedList>, ApiError> {
    Ok(axum::Json(ManagedList {
        accounts: managed_with_findings(&state).await?,
    }))
}

/// The managed accounts as [`ManagedList`] lists them (the pages read the same).
pub(crate) async fn managed_with_findings(state: &AppState) -> Result<Vec<Value>, ApiError> {
    let findings = drift::recorded(state.engine()).await?;
    Ok(drift::managed_accounts(state.engine())
        .await?
        .into_iter()
        .map(|a| {
            let finding = findings.iter().find(|f| f.account_key == a.key);
            let mut v = serde_json::to_value(&a).unwrap_or_default();
            v["finding"] = serde_json::to_value(finding).unwrap_or_default();
            v
        })
        .collect())
}

/// One account compared with the platform now.
#[derive(Serialize, ToSchema)]
pub struct DriftView {
    /// `{account_key, account_id, account_name, origin, checked_at, desired, current,
    /// differences: [{field, desired, current}], drifted, error}`.
    #[schema(value_type = Object)]
    pub report: Value,
}

/// Compares the managed account with the platform now (and records the finding).
#[utoipa::path(get, path = "/api/v1/accounts/{id}/drift", operation_id = "account_drift", tag = "drift",
    params(("id" = String, Path, description = "The account ID (subscription or tenant GUID)")),
    responses((status = 200, body = DriftView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, description = "Not managed here", body = ErrorBody)))]
pub async fn check(
    State(state): State<AppState>,
    Authed(_): Authed,
    Path(id): Path<String>,
) -> Result<axum::Json<DriftView>, ApiError> {
    let id = account_id(&id)?;
    let account = drift::managed_account(state.engine(), &id, None).await?;
    let report = drift::check(&watch(&state)?, &account).await?;
    Ok(axum::Json(DriftView {
        report: serde_json::to_value(report).unwrap_or_default(),
    }))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ReconcileBody {
    /// Make the current configuration the desired state instead of applying the desired one.
    #[serde(default)]
    pub adopt_current: bool,
    /// Stop at the review of what will change until someone approves the job.
    #[serde(default)]
    pub require_approval: bool,
}

/// Reconcile: a job (202, follow it; with `require_approval` it waits at its review), or with
/// `adopt_current` the current configuration becomes the desired state (200).
#[utoipa::path(post, path = "/api/v1/accounts/{id}/reconcile", operation_id = "reconcile_account", tag = "drift",
    params(("id" = String, Path, description = "The account ID (subscription or tenant GUID)")),
    request_body = ReconcileBody,
    responses((status = 202, description = "A reconcile job", body = JobRef),
        (status = 200, description = "Current configuration adopted", body = DriftView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn reconcile(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ReconcileBody>,
) -> Result<Response, ApiError> {
    let id = account_id(&id)?;
    if body.adopt_current && body.require_approval {
        return Err(ApiError::bad_parameter(
            "require_approval",
            "adopt_current changes nothing on the platform: there is nothing to approve",
        ));
    }
    let actor = who.actor();
    if body.adopt_current {
        let report = drift::adopt_current(&watch(&state)?, &id, None, &actor).await?;
        return Ok(axum::Json(DriftView {
            report: serde_json::to_value(report).unwrap_or_default(),
        })
        .into_response());
    }
    let job =
        drift::submit_reconcile(state.engine(), &id, None, body.require_approval, &actor).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(JobRef {
            id: job.to_string(),
            state: "queued".to_owned(),
            events: format!("/api/v1/jobs/{job}/events"),
        }),
    )
        .into_response())
}

#[derive(Serialize, ToSchema)]
pub struct AdoptableList {
    /// `[{account_id, name, account_type, enabled, connection}]`: the platform's Azure
    /// accounts not managed here.
    #[schema(value_type = Vec<Object>)]
    pub accounts: Vec<Value>,
}

/// The platform's Azure accounts no one manages here (onboarded elsewhere).
#[utoipa::path(get, path = "/api/v1/adoption", operation_id = "list_adoptable", tag = "drift",
    responses((status = 200, body = AdoptableList), (status = 401, body = ErrorBody),
        (status = 502, body = ErrorBody)))]
pub async fn adoptable(
    State(state): State<AppState>,
    Authed(_): Authed,
) -> Result<axum::Json<AdoptableList>, ApiError> {
    let accounts = drift::adoptable(state.engine(), None).await?;
    Ok(axum::Json(AdoptableList {
        accounts: accounts
            .iter()
            .map(|a| serde_json::to_value(a).unwrap_or_default())
            .collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdoptBody {
    /// The accounts to adopt (subscription or tenant GUIDs); all or none.
    pub account_ids: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AdoptedList {
    /// The adopted accounts as [`ManagedList`] lists them.
    #[schema(value_type = Vec<Object>)]
    pub accounts: Vec<Value>,
}

/// Adopts accounts onboarded elsewhere: watched and compared for drift from now on; rotation
/// and destroy unavailable (`lifecycle.unavailable.code` = `adopted_without_terraform_state`).
#[utoipa::path(post, path = "/api/v1/adoption", operation_id = "adopt_accounts", tag = "drift",
    request_body = AdoptBody,
    responses((status = 200, body = AdoptedList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "Not in Prisma Cloud", body = ErrorBody),
        (status = 409, description = "Already managed", body = ErrorBody)))]
pub async fn adopt(
    State(state): State<AppState>,
    Operator(who): Operator,
    JsonBody(body): JsonBody<AdoptBody>,
) -> Result<axum::Json<AdoptedList>, ApiError> {
    if body.account_ids.is_empty() {
        return Err(ApiError::bad_parameter(
            "account_ids",
            "name at least one account to adopt",
        ));
    }
    let adopted = drift::adopt(&watch(&state)?, &body.account_ids, None, &who.actor()).await?;
    Ok(axum::Json(AdoptedList {
        accounts: adopted
            .iter()
            .map(|a| serde_json::to_value(a).unwrap_or_default())
            .collect(),
    }))
}
