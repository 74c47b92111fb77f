//! `/_emulator/cortex/*`: the Cortex face's runtime switch that is state, behind the admin token
//! like every `/_emulator/*` route ([`crate::admin`]), and saved to the write-through snapshot
//! before it answers (as API writes are):
//!
//! * `GET /_emulator/cortex/approved-tenants` — `{"tenants": [{"tenant_id", "is_still_approved"}]}`
//! * `PUT /_emulator/cortex/approved-tenants/{tenant_id}` `{"approved": false}` — withdraws (or
//!   grants) a tenant's approval of the Cortex application: `create_instance_template` for it
//!   is then refused with 422 naming `account_details.organization_id`, and
//!   `get_azure_approved_tenants` reports `is_still_approved: false`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use cortex_cloud_types::wire::ApprovedTenants;
use prisma_types::TenantId;
use serde::Deserialize;

use crate::error::{ApiFailure, ErrorStyle, WireJson};
use crate::state::EmulatorState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApprovalBody {
    approved: bool,
}

fn refused(status: StatusCode, subject: &str, message: &str) -> ApiFailure {
    ApiFailure::new(status, "bad_request")
        .subject(subject)
        .message(message)
        .styled(ErrorStyle::ApiErrorBody)
}

async fn list(State(state): State<Arc<EmulatorState>>) -> Json<ApprovedTenants> {
    Json(ApprovedTenants {
        tenants: state.cortex.lock().approved_tenants().to_vec(),
    })
}

async fn set(
    State(state): State<Arc<EmulatorState>>,
    Path(tenant): Path<String>,
    WireJson(body): WireJson<ApprovalBody>,
) -> Result<Response, ApiFailure> {
    let tenant = TenantId::parse(&tenant).map_err(|_| {
        refused(
            StatusCode::BAD_REQUEST,
            "tenant_id",
            "tenant_id must be an Entra tenant ID (a GUID)",
        )
    })?;
    state
        .cortex
        .lock()
        .set_approved(tenant.as_str(), body.approved);
    crate::snapshot::persist(&state).map_err(|e| {
        tracing::error!(error = %e, "emulator: cannot save the write-through snapshot");
        ApiFailure::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
    })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The routes (the admin router adds the token check and the state).
pub fn routes() -> Router<Arc<EmulatorState>> {
    Router::new()
        .route("/_emulator/cortex/approved-tenants", get(list))
        .route("/_emulator/cortex/approved-tenants/{tenant_id}", put(set))
}
