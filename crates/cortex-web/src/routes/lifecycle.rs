//! After onboarding, as jobs: rotating an account's Azure client secret and offboarding the
//! account (platform side, plus `terraform destroy` of an identity we created, behind the plan
//! review when asked). Both take a JSON body (`{}` for the defaults) and answer 202 with the
//! job to follow, like an onboarding.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use onboarding_engine::lifecycle::{OffboardOptions, RotateOptions};
use prisma_types::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::Operator;
use crate::error::{ApiError, ErrorBody};
use crate::extract::JsonBody;
use crate::state::AppState;
use crate::views::JobRef;

/// `POST /api/v1/accounts/{id}/rotate-secret`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// The connection the account was onboarded through (needed only when several were used).
    #[serde(default)]
    pub connection: Option<String>,
    /// The new secret, only for identities not created here (`existing`); write-only, stored
    /// encrypted, never shown again.
    #[serde(default)]
    #[schema(write_only)]
    pub client_secret: Option<String>,
    /// That secret's end date (RFC 3339), so the health watch warns ahead of it.
    #[serde(default)]
    pub secret_expiry: Option<String>,
}

/// `POST /api/v1/accounts/{id}/offboard`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OffboardBody {
    #[serde(default)]
    pub connection: Option<String>,
    /// Delete the account in Prisma Cloud (default: disable it, keeping its history).
    #[serde(default)]
    pub delete: bool,
    /// `true`: destroy the Azure identity (refused where impossible: a shared identity still
    /// in use, an identity not created here); `false`: keep it; absent: destroy identities
    /// created here, keep the others.
    #[serde(default)]
    pub destroy_identity: Option<bool>,
    /// Stop at the destroy plan for review (approve the job to continue).
    #[serde(default)]
    pub require_approval: bool,
}

fn accepted(id: cortex_store::JobId) -> Response {
    (
        StatusCode::ACCEPTED,
        [(header::LOCATION, format!("/api/v1/jobs/{id}"))],
        axum::Json(super::jobs::job_ref(id, cortex_store::JobState::Queued)),
    )
        .into_response()
}

fn account_id(raw: &str) -> Result<String, ApiError> {
    prisma_types::TenantId::parse_as("id", raw)
        .map(|id| id.to_string())
        .map_err(|e| ApiError::bad_parameter("id", e.message))
}

/// Rotate the account's Azure client secret without downtime (a `rotate_secret` job).
#[utoipa::path(post, path = "/api/v1/accounts/{id}/rotate-secret", operation_id = "rotate_secret",
    tag = "accounts", request_body = RotateBody,
    params(("id" = String, Path, description = "Subscription or tenant ID")),
    responses(
        (status = 202, description = "Accepted as a queued job", body = JobRef),
        (status = 400, description = "A field is wrong (named)", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "Not onboarded here", body = ErrorBody),
        (status = 409, description = "Not possible for this account (why)", body = ErrorBody)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody<RotateBody>,
) -> Result<Response, ApiError> {
    let id = account_id(&raw)?;
    let options = RotateOptions {
        connection: body.connection,
        client_secret: body.client_secret.map(SecretString::from),
        secret_expiry: body.secret_expiry,
    };
    let job = state
        .engine()
        .submit_rotation(&id, options, &who.actor())
        .await?;
    Ok(accepted(job))
}

/// Offboard the account: disable (or delete) it in Prisma Cloud and destroy the Azure identity
/// created for it (an `offboard` job; with `require_approval` it stops at the destroy plan).
#[utoipa::path(post, path = "/api/v1/accounts/{id}/offboard", operation_id = "offboard_job",
    tag = "accounts", request_body = OffboardBody,
    params(("id" = String, Path, description = "Subscription or tenant ID")),
    responses(
        (status = 202, description = "Accepted as a queued job", body = JobRef),
        (status = 400, description = "A field is wrong (named)", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "Not onboarded here", body = ErrorBody),
        (status = 409, description = "The destroy is refused (why, e.g. a shared identity in use)", body = ErrorBody)))]
pub async fn offboard(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody<OffboardBody>,
) -> Result<Response, ApiError> {
    let id = account_id(&raw)?;
    let options = OffboardOptions {
        connection: body.connection,
        delete: body.delete,
        destroy_identity: body.destroy_identity,
        require_approval: body.require_approval,
    };
    let job = state
        .engine()
        .submit_offboard(&id, options, &who.actor())
        .await?;
    Ok(accepted(job))
}
