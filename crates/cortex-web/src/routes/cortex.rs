//! Cortex Cloud onboardings: `POST /api/v1/cortex/onboardings` queues one (a job of kind
//! `cortex_onboarding`, followed like any job under `/api/v1/jobs/{id}`; its result is
//! [`onboarding_engine::cortex::CortexJobResult`]).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use cortex_store::JobState;
use onboarding_engine::cortex::RawCortexRequest;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::Operator;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, parse_json};
use crate::state::AppState;
use crate::views::JobRef;

/// A Cortex Cloud onboarding (every field is checked; all bad ones are named at once). The
/// API key is never part of it: it stays in the connection.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // documentation only: bodies are parsed into `RawCortexRequest`
pub struct CortexOnboardingRequest {
    /// A Cortex Cloud connection (`GET /api/v1/connections`); `cortex-sandbox` in the sandbox.
    connection: String,
    /// The instance's name; Cortex Cloud names it when absent.
    instance_name: Option<String>,
    /// The Entra tenant ID (it must have approved Cortex Cloud's application).
    tenant_id: String,
    /// `tenant` (ORGANIZATION) | `management_group` (ACCOUNT_GROUP) | `subscription` (ACCOUNT).
    scope: String,
    /// The onboarded subscription (subscription scope), else the one hosting Cortex's
    /// resource group.
    subscription_id: String,
    /// At `management_group` scope only.
    management_group_id: Option<String>,
    /// The hosting resource group's Azure location (default `eastus`).
    location: Option<String>,
    /// Tenant and management-group scopes only; not with `exclude_subscriptions`; non-empty.
    include_subscriptions: Option<Vec<String>>,
    exclude_subscriptions: Option<Vec<String>>,
    /// Azure location names; not both; non-empty.
    include_regions: Option<Vec<String>>,
    exclude_regions: Option<Vec<String>>,
    /// `agentless_disk_scanning` (ADS), `data_security_posture_management` (DSPM),
    /// `registry_scanning` (REGISTRY), `serverless_scanning` (SERVERLESS), `xsiam_analytics`;
    /// default: all five. Discovery is always on.
    capabilities: Option<Vec<String>>,
    /// `ALL` (default) | `LATEST_TAG` | `TAGS_MODIFIED_DAYS`, with registry scanning only.
    registry_scanning_type: Option<String>,
    /// 0-90, with `TAGS_MODIFIED_DAYS` only.
    registry_last_days: Option<i64>,
    /// Collect audit logs (default `true`).
    audit_logs: Option<bool>,
    /// `AUTOMATED` (default) | `CUSTOM`.
    audit_logs_method: Option<String>,
    audit_logs_data_events: Option<bool>,
    /// `MANAGED` (default) | `OUTPOST`.
    scan_mode: Option<String>,
    /// 32 hex digits, with `OUTPOST` only.
    outpost_id: Option<String>,
    /// `public` (default) | `usgovernment`.
    cloud_environment: Option<String>,
    tags: Option<std::collections::BTreeMap<String, String>>,
    /// Stop after the Terraform plan until the job is approved.
    require_approval: Option<bool>,
}

/// Queue one Cortex Cloud onboarding.
#[utoipa::path(post, path = "/api/v1/cortex/onboardings", operation_id = "submit_cortex_onboarding",
    tag = "jobs",
    request_body = CortexOnboardingRequest,
    responses(
        (status = 202, description = "Accepted as a queued job of kind cortex_onboarding", body = JobRef),
        (status = 400, description = "Refused: every bad field listed (`invalid_request`), or the connection is a Prisma Cloud one (`wrong_platform`)", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "The connection cannot be decrypted with this server's keys", body = ErrorBody),
    ))]
pub async fn submit(
    State(state): State<AppState>,
    Operator(who): Operator,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_parameter("body", "must be a JSON object"));
    }
    let raw: RawCortexRequest = parse_json(&serde_json::to_vec(&body).unwrap_or_default())?;
    let request = raw
        .validate()
        .map_err(|e| ApiError::invalid_request(e.errors))?;
    let id = state.engine().submit_cortex(&request, &who.actor()).await?;
    let location = format!("/api/v1/jobs/{id}");
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        axum::Json(JobRef {
            id: id.to_string(),
            state: JobState::Queued.to_string(),
            events: format!("/api/v1/jobs/{id}/events"),
        }),
    )
        .into_response())
}
