//! What changes an onboarded account's health after onboarding, under test control: a
//! capability that fails or recovers (a per-account scenario switch), and an Azure client
//! secret that expires (an end date per account and an emulator clock that can be advanced).
//!
//! The real service re-checks an account's permissions on its own schedule; a check after the
//! secret's end date fails every capability with Azure's `AADSTS7000222`. Here the stored
//! checks are recomputed at once when a control changes, and a config status read applies the
//! secret's end date against the emulator clock, so a test never waits for time to pass.
//!
//! Routes (`/_emulator/*`, behind the admin token; wired in [`crate::admin`]):
//!
//! * `PUT /_emulator/accounts/{id}/scenario` `{"scenario": "flow_logs_role_missing"}`
//! * `PUT /_emulator/accounts/{id}/secret` `{"end_date": "2026-01-01T00:00:00Z"}` (or `null`)
//! * `GET /_emulator/clock`, `POST /_emulator/clock` `{"advance_secs": 86400}`
//! * `PUT /_emulator/accounts/{id}/updates` `{"refuse": true}`: the account's updates
//!   (`PUT /cas/v1/azure_account/{id}`) answer 400 `update_refused` until cleared, so a test
//!   can fail a secret rotation in the middle. An emulator control only: no real error.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use prisma_types::SecretString;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::capabilities::{CapabilityResult, Scenario, evaluate};
use crate::error::{ApiFailure, ErrorStyle, WireJson};
use crate::state::EmulatorState;
use crate::store::AccountRecord;

/// Azure's answer when a client secret is past its end date (the message Prisma Cloud shows).
pub const SECRET_EXPIRED_MESSAGE: &str = "Authentication failed. AADSTS7000222: The provided \
    client secret keys for the app are expired. Create new keys for the app, or use \
    certificate credentials.";
const SECRET_EXPIRED_REMEDIATION: &str = "Create a new client secret for the app registration \
    (Certificates & secrets), then update the cloud account in Prisma Cloud with it.";

/// The emulator clock's offset and the client secrets' end dates.
#[derive(Default)]
pub struct Aging {
    offset_secs: AtomicI64,
    /// Account ID → the end date of the secret the account held when it was set. A later
    /// update with another key (a rotation) leaves that end date behind.
    secrets: std::sync::Mutex<BTreeMap<String, SecretEnd>>,
    /// Accounts whose updates are refused.
    refused_updates: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

struct SecretEnd {
    end: OffsetDateTime,
    key: SecretString,
}

impl Aging {
    /// Now, on the emulator clock (the wall clock plus every advance).
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + time::Duration::seconds(self.offset_secs.load(Ordering::SeqCst))
    }

    /// Whether updates of `account_id` are refused (see the module docs).
    pub fn refuses_updates(&self, account_id: &str) -> bool {
        self.refused_updates
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(account_id)
    }

    fn secret_expired(&self, record: &AccountRecord) -> bool {
        let secrets = self.secrets.lock().unwrap_or_else(|p| p.into_inner());
        secrets
            .get(&record.account_id)
            .is_some_and(|s| s.key.expose() == record.request.key.expose() && s.end <= self.now())
    }
}

/// The account's checks as a status read sees them now: the stored ones, or every capability
/// failing with `AADSTS7000222` once its secret is past its end date.
pub fn checks_now(state: &EmulatorState, record: &AccountRecord) -> Vec<CapabilityResult> {
    if !state.aging.secret_expired(record) {
        return record.checks.clone();
    }
    record
        .checks
        .iter()
        .map(|c| CapabilityResult {
            capability: c.capability,
            status: "error",
            message: SECRET_EXPIRED_MESSAGE.to_owned(),
            remediation: SECRET_EXPIRED_REMEDIATION.to_owned(),
        })
        .collect()
}

/// Recomputes stored checks under the current scenarios and clock: of the account `only`,
/// or (after the clock moved) of every account with a secret end date.
fn refresh(state: &EmulatorState, only: Option<&str>) {
    let book = state.scenarios();
    let aged: Vec<String> = match only {
        Some(id) => vec![id.to_owned()],
        None => {
            let secrets = state
                .aging
                .secrets
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            secrets.keys().cloned().collect()
        }
    };
    let mut store = state.store();
    for id in aged {
        let Some(record) = store.accounts.get_mut(&id) else {
            continue;
        };
        record.checks = evaluate(&record.request, &book);
        record.checks = checks_now(state, record);
    }
}

fn account_id(raw: &str) -> Result<String, ApiFailure> {
    prisma_types::TenantId::parse(raw)
        .map(|t| t.to_string())
        .map_err(|_| admin_error(StatusCode::BAD_REQUEST, "account_id", "not an account ID"))
}

fn admin_error(status: StatusCode, subject: &str, message: impl Into<String>) -> ApiFailure {
    ApiFailure::new(status, "bad_request")
        .subject(subject)
        .message(message)
        .styled(ErrorStyle::ApiErrorBody)
}

fn require_account(state: &EmulatorState, id: &str) -> Result<(), ApiFailure> {
    let store = state.store();
    match store.accounts.get(id) {
        Some(a) if a.parent_account_id.is_none() => Ok(()),
        _ => Err(admin_error(
            StatusCode::NOT_FOUND,
            "account_id",
            format!("no onboarded account {id}"),
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioBody {
    scenario: String,
}

/// Puts the account's scenario into the book (so later updates keep it) and re-checks it now.
async fn put_scenario(
    State(state): State<Arc<EmulatorState>>,
    Path(id): Path<String>,
    WireJson(body): WireJson<ScenarioBody>,
) -> Result<Response, ApiFailure> {
    let id = account_id(&id)?;
    let scenario = Scenario::parse(&body.scenario).ok_or_else(|| {
        admin_error(
            StatusCode::BAD_REQUEST,
            "scenario",
            format!(
                "unknown scenario \"{}\"; valid: {}",
                body.scenario,
                Scenario::ALL.map(Scenario::as_str).join(", ")
            ),
        )
    })?;
    require_account(&state, &id)?;
    state
        .scenarios
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .by_id
        .insert(id.clone(), scenario);
    refresh(&state, Some(&id));
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretBody {
    end_date: Option<String>,
}

/// Sets (or, with `null`, clears) the end date of the secret the account holds now.
async fn put_secret(
    State(state): State<Arc<EmulatorState>>,
    Path(id): Path<String>,
    WireJson(body): WireJson<SecretBody>,
) -> Result<Response, ApiFailure> {
    let id = account_id(&id)?;
    let end = body
        .end_date
        .as_deref()
        .map(|text| {
            OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
                admin_error(
                    StatusCode::BAD_REQUEST,
                    "end_date",
                    "end_date must be an RFC 3339 date-time like 2026-01-31T00:00:00Z, or null",
                )
            })
        })
        .transpose()?;
    require_account(&state, &id)?;
    let key = state.store().accounts[&id].request.key.clone();
    {
        let mut secrets = state
            .aging
            .secrets
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match end {
            Some(end) => secrets.insert(id.clone(), SecretEnd { end, key }),
            None => secrets.remove(&id),
        };
    }
    refresh(&state, Some(&id));
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdatesBody {
    refuse: bool,
}

/// Refuses (or accepts again) the account's updates.
async fn put_updates(
    State(state): State<Arc<EmulatorState>>,
    Path(id): Path<String>,
    WireJson(body): WireJson<UpdatesBody>,
) -> Result<Response, ApiFailure> {
    let id = account_id(&id)?;
    require_account(&state, &id)?;
    let mut refused = state
        .aging
        .refused_updates
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if body.refuse {
        refused.insert(id);
    } else {
        refused.remove(&id);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// What `GET /_emulator/clock` reports.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct ClockReport {
    /// Now on the emulator clock, RFC 3339.
    pub now: String,
    /// How far the emulator clock is ahead of the wall clock.
    pub offset_secs: i64,
}

fn clock_report(state: &EmulatorState) -> ClockReport {
    ClockReport {
        now: state.aging.now().format(&Rfc3339).unwrap_or_default(),
        offset_secs: state.aging.offset_secs.load(Ordering::SeqCst),
    }
}

async fn get_clock(State(state): State<Arc<EmulatorState>>) -> Json<ClockReport> {
    Json(clock_report(&state))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceBody {
    advance_secs: i64,
}

/// Moves the emulator clock forward (never back: an expired secret stays expired).
async fn advance_clock(
    State(state): State<Arc<EmulatorState>>,
    WireJson(body): WireJson<AdvanceBody>,
) -> Result<Json<ClockReport>, ApiFailure> {
    const MAX: i64 = 100 * 365 * 24 * 3600;
    let current = state.aging.offset_secs.load(Ordering::SeqCst);
    if !(0..=MAX).contains(&body.advance_secs) || current + body.advance_secs > MAX {
        return Err(admin_error(
            StatusCode::BAD_REQUEST,
            "advance_secs",
            "advance_secs must be between 0 and 100 years in seconds (the clock only moves forward)",
        ));
    }
    state
        .aging
        .offset_secs
        .fetch_add(body.advance_secs, Ordering::SeqCst);
    refresh(&state, None);
    Ok(Json(clock_report(&state)))
}

/// The routes above, for [`crate::admin::admin_router`] to put behind its token.
pub fn routes() -> Router<Arc<EmulatorState>> {
    use axum::routing::{get, put};
    Router::new()
        .route("/_emulator/accounts/{id}/scenario", put(put_scenario))
        .route("/_emulator/accounts/{id}/secret", put(put_secret))
        .route("/_emulator/accounts/{id}/updates", put(put_updates))
        .route("/_emulator/clock", get(get_clock).post(advance_clock))
}
