//! `/_emulator/*`: runtime control for tests and users — counters, faults, rate limits and
//! status scenarios. Not part of the Prisma API; bypasses the gateway (no faults, no limits).
//! With [`crate::EmulatorConfig::admin_token`] set, every admin request must carry
//! `Authorization: Bearer <token>`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::capabilities::ScenarioBook;
use crate::config::{Faults, RateLimits};
use crate::error::{ApiFailure, ErrorStyle, WireJson};
use crate::state::{EmulatorState, EndpointStats, Stats};

/// What `GET /_emulator/stats` reports.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StatsReport {
    pub logins: u64,
    pub failed_logins: u64,
    pub extends: u64,
    pub accounts_created: u64,
    pub duplicates_refused: u64,
    /// Accounts stored (tenant children included), readable or not yet.
    pub accounts: usize,
    pub endpoints: std::collections::BTreeMap<String, EndpointStatsReport>,
}

pub type EndpointStatsReport = EndpointStats;

pub fn stats_report(state: &EmulatorState) -> StatsReport {
    StatsReport {
        logins: Stats::count(&state.stats.logins),
        failed_logins: Stats::count(&state.stats.failed_logins),
        extends: Stats::count(&state.stats.extends),
        accounts_created: Stats::count(&state.stats.accounts_created),
        duplicates_refused: Stats::count(&state.stats.duplicates_refused),
        accounts: state.store().accounts.len(),
        endpoints: state
            .stats
            .endpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
    }
}

async fn stats(State(state): State<Arc<EmulatorState>>) -> Json<StatsReport> {
    Json(stats_report(&state))
}

#[derive(Serialize, Deserialize)]
struct FaultsBody {
    #[serde(flatten)]
    faults: Faults,
    #[serde(default)]
    seed: Option<u64>,
}

async fn get_faults(State(state): State<Arc<EmulatorState>>) -> Json<Faults> {
    Json(
        state
            .faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .faults
            .clone(),
    )
}

async fn put_faults(
    State(state): State<Arc<EmulatorState>>,
    WireJson(body): WireJson<FaultsBody>,
) -> Result<Response, ApiFailure> {
    body.faults
        .validate()
        .map_err(|m| ApiFailure::bad_request("faults", m).styled(ErrorStyle::ApiErrorBody))?;
    let mut dice = state.faults.lock().unwrap_or_else(|p| p.into_inner());
    let seed = body.seed.unwrap_or(state.config.seed);
    dice.reseed(body.faults, seed);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn get_limits(State(state): State<Arc<EmulatorState>>) -> Json<RateLimits> {
    Json(state.limiter.limits())
}

async fn put_limits(
    State(state): State<Arc<EmulatorState>>,
    WireJson(limits): WireJson<RateLimits>,
) -> Result<Response, ApiFailure> {
    let bad = std::iter::once(&limits.default)
        .chain(limits.per_endpoint.values())
        .any(|l| !(l.rps > 0.0 && l.rps.is_finite()) || l.burst == 0);
    if bad {
        return Err(
            ApiFailure::bad_request("rate_limits", "rps must be > 0 and burst >= 1")
                .styled(ErrorStyle::ApiErrorBody),
        );
    }
    state.limiter.set_limits(limits);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn get_scenarios(State(state): State<Arc<EmulatorState>>) -> Json<ScenarioBook> {
    Json(state.scenarios())
}

async fn put_scenarios(
    State(state): State<Arc<EmulatorState>>,
    body: String,
) -> Result<Response, ApiFailure> {
    let book = ScenarioBook::from_json(&body)
        .map_err(|m| ApiFailure::bad_request("by_id", m).styled(ErrorStyle::ApiErrorBody))?;
    *state.scenarios.write().unwrap_or_else(|p| p.into_inner()) = book;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn revoke_tokens(State(state): State<Arc<EmulatorState>>) -> StatusCode {
    let secret: [u8; 32] = rand::random();
    state.tokens.rotate(&secret);
    StatusCode::NO_CONTENT
}

/// Refuses admin requests without the configured bearer token (compared in constant time).
async fn require_admin_token(
    State(state): State<Arc<EmulatorState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(expected) = &state.config.admin_token {
        let presented = req
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !constant_time_eq(presented.as_bytes(), expected.expose().as_bytes()) {
            return ApiFailure::new(StatusCode::UNAUTHORIZED, "admin_token_required")
                .subject("authorization")
                .message("the emulator's admin endpoints need Authorization: Bearer <admin token>")
                .styled(ErrorStyle::ApiErrorBody)
                .into_response();
        }
    }
    next.run(req).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn admin_router(state: Arc<EmulatorState>) -> Router {
    Router::new()
        .route(
            "/_emulator/revoke-tokens",
            axum::routing::post(revoke_tokens),
        )
        .route("/_emulator/stats", get(stats))
        .route("/_emulator/faults", get(get_faults).put(put_faults))
        .route("/_emulator/rate-limits", get(get_limits).put(put_limits))
        .route(
            "/_emulator/scenarios",
            get(get_scenarios).put(put_scenarios),
        )
        .merge(crate::aging::routes())
        .merge(crate::cortex::admin::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_admin_token,
        ))
        .with_state(state)
}

/// Counts logins without going through HTTP (for in-process tests).
pub fn login_count(state: &EmulatorState) -> u64 {
    state.stats.logins.load(Ordering::Relaxed)
}
