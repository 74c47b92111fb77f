//! `GET /api/v1/coverage`: the tenant's management-group tree and subscriptions joined with
//! the accounts of a platform connection (Prisma Cloud's accounts by default;
//! `?connection=NAME` for a saved Prisma Cloud connection or a Cortex Cloud one, whose
//! integration instances are the accounts) — the same code and JSON as `azure-cortex discover --output json`
//! (`onboarding_engine::coverage`, without the `type` field). Azure's refusals (no
//! credentials, no access, throttling) are answered as sentences with the fix and a stable
//! code, never a 500.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use azure_access::discovery::DiscoveryFailure;
use onboarding_engine::EngineError;
use onboarding_engine::coverage::{self, CoverageError, CoverageView};
use prisma_types::TenantId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Authed;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{lenient, parse_query};
use crate::state::AppState;

/// The answer (its parts in detail: `schemas/coverage.schema.json` of the CLI).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct CoverageDoc {
    pub tenant_id: String,
    /// The Azure principal discovery ran as (display name).
    pub principal: String,
    /// `prisma` or `cortex`.
    pub platform: String,
    /// The connection read (absent for the engine's own Prisma Cloud connection).
    pub connection: Option<String>,
    /// `{subscriptions, own_account, covered, not_working, not_onboarded}`.
    #[schema(value_type = Object)]
    pub totals: serde_json::Value,
    /// Management groups, parents first: `{id, display_name, parent, depth, counts}`.
    #[schema(value_type = Vec<Object>)]
    pub groups: serde_json::Value,
    /// `{id, display_name, state, management_group, coverage: {state, by?, scope?, why?},
    /// account_name}`; `coverage.state` is own_account | covered | not_working | not_onboarded.
    #[schema(value_type = Vec<Object>)]
    pub subscriptions: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CoverageQuery {
    tenant: Option<String>,
    connection: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    not_covered: Option<bool>,
}

/// Coverage of the tenant (the Azure credentials' own by default).
#[utoipa::path(get, path = "/api/v1/coverage", operation_id = "get_coverage", tag = "coverage",
    params(("tenant" = Option<String>, Query, description = "Tenant id; default: the Azure credentials' tenant"),
        ("connection" = Option<String>, Query, description = "The platform connection whose accounts are joined; default: the engine's own Prisma Cloud connection"),
        ("not_covered" = Option<bool>, Query, description = "List only the subscriptions not covered")),
    responses((status = 200, body = CoverageDoc), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 502, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Authed(_): Authed,
    RawQuery(query): RawQuery,
) -> Result<axum::Json<CoverageView>, ApiError> {
    let q: CoverageQuery = parse_query(query.as_deref())?;
    let view = read(&state, q.tenant.as_deref(), q.connection.as_deref()).await?;
    Ok(axum::Json(if q.not_covered.unwrap_or(false) {
        view.only_not_covered()
    } else {
        view
    }))
}

/// Coverage as the page and the API read it; `tenant` is validated here, `connection` by the
/// engine (an unknown name is refused naming the field).
pub async fn read(
    state: &AppState,
    tenant: Option<&str>,
    connection: Option<&str>,
) -> Result<CoverageView, ApiError> {
    let tenant = match tenant.map(str::trim).filter(|t| !t.is_empty()) {
        Some(raw) => Some(
            TenantId::parse_as("tenant", raw)
                .map_err(|e| ApiError::bad_parameter("tenant", e.message))?
                .to_string(),
        ),
        None => None,
    };
    let azure = state.azure();
    let endpoints = azure.endpoints.as_ref().map_err(|m| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "azure_endpoint",
            format!("{m}: set it to the endpoint's https URL, or unset it for the public cloud"),
        )
    })?;
    coverage::read_for(
        state.engine(),
        &azure.env,
        endpoints,
        connection,
        tenant.as_deref(),
    )
    .await
    .map_err(api_error)
}

fn api_error(e: CoverageError) -> ApiError {
    let unavailable =
        |code: &str, m: String| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, m);
    match e {
        CoverageError::Endpoints(m) => unavailable("azure_endpoint", m),
        CoverageError::Credentials { reason, fix } => unavailable(
            "azure_credentials",
            format!("The server's Azure credentials do not work: {reason}. Fix: {fix}."),
        ),
        CoverageError::Discovery(d) => match d.kind {
            DiscoveryFailure::WrongTenant => ApiError::bad_parameter(d.field, d.message),
            DiscoveryFailure::NoAccess => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "azure_no_access",
                sentence(&d.message),
            )
            .field(d.field),
            DiscoveryFailure::Throttled => {
                let mut e = unavailable("azure_throttled", sentence(&d.message));
                e.retry_after = Some(30);
                e
            }
            DiscoveryFailure::Unavailable => unavailable("azure_unavailable", sentence(&d.message)),
        },
        CoverageError::Platform(p) => p.into(),
        CoverageError::Cortex(c) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            c.code(),
            format!("Cortex Cloud: {c}"),
        ),
        CoverageError::Connection(e) => match *e {
            EngineError::UnknownConnection { name } => ApiError::bad_parameter(
                "connection",
                format!("no connection is named `{name}`; the Connections page lists them"),
            ),
            other => other.into(),
        },
    }
}

/// `the principal may not …` → `The principal may not ….`
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let first = chars.next().map(|c| c.to_uppercase().collect::<String>());
    let mut out = first.unwrap_or_default() + chars.as_str();
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}
