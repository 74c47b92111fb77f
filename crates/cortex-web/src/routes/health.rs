//! The health watch over the API: every account's current health, one account's history,
//! notification sinks (viewer lists them masked, admin saves and deletes) and the dead letters.
//! The watch itself runs in `serve` and `worker` (`onboarding_engine::watch`).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cortex_store::{AuditEntry, DeliveryRecord, HealthRecord};
use onboarding_engine::watch::notify::{self, RawSink, SinkView};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::{Admin, Authed, Operator, Principal};
use crate::error::{ApiError, ErrorBody};
use crate::extract::JsonBody;
use crate::state::AppState;

/// One account's health as a check saw it.
#[derive(Serialize, ToSchema, Clone, Debug)]
pub struct HealthItem {
    /// `prisma:<connection>:<account id>`.
    pub account_key: String,
    pub platform: String,
    pub account_id: String,
    pub account_name: String,
    /// The onboarding job the account came from.
    pub job_id: String,
    /// ok | warning | error | unknown (the check failed: see `error`)
    pub status: String,
    /// RFC 3339.
    pub checked_at: String,
    pub round: i64,
    /// `[{name, status, message, remediation}]`.
    #[schema(value_type = Vec<Object>)]
    pub capabilities: Value,
    /// What changed since the check before: `[{capability, from, to}]`.
    #[schema(value_type = Vec<Object>)]
    pub changes: Value,
    pub error: Option<String>,
}

impl From<HealthRecord> for HealthItem {
    fn from(r: HealthRecord) -> Self {
        let c = r.check;
        HealthItem {
            checked_at: rfc3339_ms(c.checked_at_ms),
            account_key: c.account_key,
            platform: c.platform,
            account_id: c.account_id,
            account_name: c.account_name,
            job_id: c.job_id,
            status: c.status,
            round: c.round,
            capabilities: c.capabilities,
            changes: c.changes,
            error: c.error,
        }
    }
}

pub(crate) fn rfc3339_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[derive(Serialize, ToSchema)]
pub struct HealthList {
    /// Each watched account's newest check, by name.
    pub accounts: Vec<HealthItem>,
}

#[derive(Serialize, ToSchema)]
pub struct HealthHistory {
    pub account_id: String,
    /// Newest first.
    pub history: Vec<HealthItem>,
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    pub limit: Option<u32>,
}

/// Every watched account's current health.
#[utoipa::path(get, path = "/api/v1/health", operation_id = "list_health", tag = "health",
    responses((status = 200, body = HealthList), (status = 401, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Authed(_): Authed,
) -> Result<axum::Json<HealthList>, ApiError> {
    let latest = state.engine().store().latest_health().await?;
    Ok(axum::Json(HealthList {
        accounts: latest.into_iter().map(Into::into).collect(),
    }))
}

/// The checks of one account (its platform account ID), newest first.
pub(crate) async fn history_of(
    state: &AppState,
    account_id: &str,
    limit: u32,
) -> Result<Vec<HealthItem>, ApiError> {
    let id = prisma_types::TenantId::parse(account_id)
        .map_err(|_| ApiError::bad_parameter("id", "an account ID is a GUID"))?
        .to_string();
    let history =
        onboarding_engine::watch::account_history(state.engine().store(), &id, limit).await?;
    Ok(history.into_iter().map(Into::into).collect())
}

/// One account's health history, newest first (`limit`, default 100, at most 1000).
#[utoipa::path(get, path = "/api/v1/accounts/{id}/health", operation_id = "account_health", tag = "health",
    params(("id" = String, Path, description = "The account ID (subscription or tenant GUID)"),
        ("limit" = Option<u32>, Query, description = "At most this many checks (default 100, max 1000)")),
    responses((status = 200, body = HealthHistory), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    Authed(_): Authed,
    Path(id): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<axum::Json<HealthHistory>, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let history = history_of(&state, &id, limit).await?;
    if history.is_empty() {
        return Err(ApiError::not_found(format!(
            "no health checks recorded for account {id}"
        )));
    }
    Ok(axum::Json(HealthHistory {
        account_id: id,
        history,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct SinkItem {
    pub name: String,
    /// webhook | slack | teams
    pub kind: String,
    /// Scheme and host only: the path of a Slack or Teams URL is its credential.
    pub url: String,
    /// Whether deliveries carry the HMAC signature header.
    pub signed: bool,
}

impl From<SinkView> for SinkItem {
    fn from(v: SinkView) -> Self {
        SinkItem {
            name: v.name,
            kind: v.kind.as_str().to_owned(),
            url: v.url,
            signed: v.signed,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SinkList {
    pub sinks: Vec<SinkItem>,
}

/// A sink to save. `url` and `signing_key` are stored encrypted and never shown again.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct SinkRequest {
    /// 1 to 40 lower-case letters, digits and dashes.
    pub name: String,
    /// webhook | slack | teams
    pub kind: String,
    /// https (http only to a loopback address).
    pub url: String,
    /// Required for a webhook (at least 16 characters): the HMAC-SHA256 key.
    pub signing_key: Option<String>,
}

/// Notification sinks, masked.
#[utoipa::path(get, path = "/api/v1/notifications/sinks", operation_id = "list_sinks", tag = "health",
    responses((status = 200, body = SinkList), (status = 401, body = ErrorBody)))]
pub async fn list_sinks(
    State(state): State<AppState>,
    Authed(_): Authed,
) -> Result<axum::Json<SinkList>, ApiError> {
    let sinks = notify::load_sinks(state.engine().store()).await?;
    Ok(axum::Json(SinkList {
        sinks: sinks.iter().map(|s| s.view().into()).collect(),
    }))
}

async fn audit(state: &AppState, actor: &str, action: &str, target: &str) {
    let entry = AuditEntry {
        actor: actor.to_owned(),
        action: action.to_owned(),
        target: target.to_owned(),
        detail: serde_json::json!({}),
        prisma_request_ids: Vec::new(),
    };
    if let Err(e) = state.engine().store().audit(&entry).await {
        tracing::warn!(error = %e, action, "audit entry not written");
    }
}

/// Validates and saves (or replaces) a sink, encrypted; audited as `notification_sink.saved`.
/// What may be shown of it.
pub(crate) async fn save_sink_as(
    state: &AppState,
    who: &Principal,
    raw: &RawSink,
) -> Result<SinkView, ApiError> {
    let sink = raw
        .validate()
        .map_err(|e| ApiError::invalid_request(e.errors))?;
    notify::save_sink(state.engine().store(), &sink).await?;
    audit(state, &who.actor(), "notification_sink.saved", &sink.name).await;
    Ok(sink.view())
}

/// Deletes a sink; audited as `notification_sink.deleted`.
pub(crate) async fn delete_sink_as(
    state: &AppState,
    who: &Principal,
    name: &str,
) -> Result<(), ApiError> {
    if !notify::delete_sink(state.engine().store(), name).await? {
        return Err(ApiError::not_found(format!(
            "notification sink {name} not found"
        )));
    }
    audit(state, &who.actor(), "notification_sink.deleted", name).await;
    Ok(())
}

/// What a test delivery did.
#[derive(Serialize, ToSchema)]
pub struct SinkTest {
    pub name: String,
    pub delivered: bool,
    pub attempts: u32,
    /// Why it failed (a status or a transport kind; never the URL).
    pub last_error: Option<String>,
}

/// Sends one test notification (`kind` `test`, one attempt) to a saved sink; audited as
/// `notification_sink.tested`. Nothing is stored.
pub(crate) async fn test_sink_as(
    state: &AppState,
    who: &Principal,
    name: &str,
) -> Result<SinkTest, ApiError> {
    let sinks = notify::load_sinks(state.engine().store()).await?;
    let sink = sinks
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| ApiError::not_found(format!("notification sink {name} not found")))?;
    let payload = serde_json::json!({
        "kind": "test",
        "summary": format!("azure-cortex: a test notification to sink {name}, sent by {}", who.user.name),
        "at": rfc3339_ms(crate::pages::now_ms()),
    });
    let policy = prisma_client::RetryPolicy {
        max_attempts: 1,
        ..notify::default_policy()
    };
    let http = notify::sink_client()?;
    let outcome = notify::deliver(&http, &policy, sink, 0, "test", &payload).await;
    audit(state, &who.actor(), "notification_sink.tested", name).await;
    Ok(SinkTest {
        name: name.to_owned(),
        delivered: outcome.delivered,
        attempts: outcome.attempts,
        last_error: outcome.last_error,
    })
}

/// Send a test notification to a saved sink (one attempt; nothing stored).
#[utoipa::path(post, path = "/api/v1/notifications/sinks/{name}/test", operation_id = "test_sink", tag = "health",
    params(("name" = String, Path, description = "The sink's name")),
    responses((status = 200, body = SinkTest), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn test_sink(
    State(state): State<AppState>,
    Admin(who): Admin,
    Path(name): Path<String>,
) -> Result<axum::Json<SinkTest>, ApiError> {
    Ok(axum::Json(test_sink_as(&state, &who, &name).await?))
}

/// Save (or replace) a notification sink, encrypted (201).
#[utoipa::path(post, path = "/api/v1/notifications/sinks", operation_id = "save_sink", tag = "health",
    request_body = SinkRequest,
    responses((status = 201, body = SinkItem),
        (status = 400, description = "Refused: every bad field listed (values not echoed)", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn save_sink(
    State(state): State<AppState>,
    Admin(who): Admin,
    JsonBody(raw): JsonBody<RawSink>,
) -> Result<Response, ApiError> {
    let view = save_sink_as(&state, &who, &raw).await?;
    Ok((StatusCode::CREATED, axum::Json(SinkItem::from(view))).into_response())
}

/// Delete a notification sink.
#[utoipa::path(delete, path = "/api/v1/notifications/sinks/{name}", operation_id = "delete_sink", tag = "health",
    params(("name" = String, Path, description = "The sink's name")),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_sink(
    State(state): State<AppState>,
    Admin(who): Admin,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    delete_sink_as(&state, &who, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema, Clone, Debug)]
pub struct DeadLetter {
    pub notification_id: i64,
    pub sink: String,
    /// capability_degraded | capability_recovered | secret_expiring | watch_failed
    pub kind: String,
    pub attempts: i64,
    /// Why the last attempt failed (a status or a transport kind; never the URL).
    pub last_error: Option<String>,
    /// RFC 3339: when the notification was made, and when delivery gave up.
    pub created_at: String,
    pub failed_at: String,
    /// The notification's summary line.
    pub summary: String,
    /// What the sink would have received (never a secret).
    #[schema(value_type = Object)]
    pub payload: Value,
}

impl From<DeliveryRecord> for DeadLetter {
    fn from(d: DeliveryRecord) -> Self {
        DeadLetter {
            notification_id: d.notification_id,
            sink: d.sink,
            kind: d.kind,
            attempts: d.attempts,
            last_error: d.last_error,
            created_at: rfc3339_ms(d.created_at_ms),
            failed_at: rfc3339_ms(d.updated_at_ms),
            summary: d.payload["summary"].as_str().unwrap_or("").to_owned(),
            payload: d.payload,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DeadLetterList {
    /// Newest first.
    pub dead_letters: Vec<DeadLetter>,
}

/// Notifications no sink took after every retry, newest first.
#[utoipa::path(get, path = "/api/v1/notifications/dead-letters", operation_id = "list_dead_letters", tag = "health",
    responses((status = 200, body = DeadLetterList), (status = 401, body = ErrorBody)))]
pub async fn dead_letters(
    State(state): State<AppState>,
    Authed(_): Authed,
) -> Result<axum::Json<DeadLetterList>, ApiError> {
    let dead = state.engine().store().deliveries(Some("dead"), 500).await?;
    Ok(axum::Json(DeadLetterList {
        dead_letters: dead.into_iter().map(Into::into).collect(),
    }))
}

/// A dead letter's address: its notification's number and its sink's name.
fn dead_letter_target(id: &str, sink: &str) -> Result<(i64, String), ApiError> {
    let id = id.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::bad_parameter("notification_id", "a notification id is a positive number")
    })?;
    let sink_ok = !sink.is_empty()
        && sink.len() <= 40
        && sink
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !sink_ok {
        return Err(ApiError::bad_parameter(
            "sink",
            "a sink name is 1 to 40 lower-case letters, digits and dashes",
        ));
    }
    Ok((id, sink.to_owned()))
}

fn no_dead_letter(id: i64, sink: &str) -> ApiError {
    ApiError::not_found(format!(
        "no dead letter for notification {id} to sink {sink} (delivered, re-queued or discarded already)"
    ))
}

/// Puts a dead letter back in the queue and starts delivering it (in the background: a
/// delivery may retry for up to a minute); audited as `notification.retried`.
pub(crate) async fn retry_dead_letter(
    state: &AppState,
    who: &Principal,
    id: &str,
    sink: &str,
) -> Result<(i64, String), ApiError> {
    let (id, sink) = dead_letter_target(id, sink)?;
    let store = state.engine().store().clone();
    if !store.requeue_delivery(id, &sink).await? {
        return Err(no_dead_letter(id, &sink));
    }
    audit(
        state,
        &who.actor(),
        "notification.retried",
        &format!("{id}/{sink}"),
    )
    .await;
    let http = notify::sink_client().map_err(ApiError::from)?;
    tokio::spawn(async move {
        let policy = notify::default_policy();
        let now = crate::pages::now_ms();
        match notify::sweep(
            &store,
            &http,
            &policy,
            notify::stale_after(&policy),
            now,
            100,
        )
        .await
        {
            Ok(report) => tracing::info!(?report, "re-queued notification swept"),
            Err(e) => {
                tracing::warn!(error = %e, "re-queued notification not swept; the watch will")
            }
        }
    });
    Ok((id, sink))
}

/// Removes a dead letter; audited as `notification.discarded`.
pub(crate) async fn discard_dead_letter(
    state: &AppState,
    who: &Principal,
    id: &str,
    sink: &str,
) -> Result<(i64, String), ApiError> {
    let (id, sink) = dead_letter_target(id, sink)?;
    if !state.engine().store().discard_delivery(id, &sink).await? {
        return Err(no_dead_letter(id, &sink));
    }
    audit(
        state,
        &who.actor(),
        "notification.discarded",
        &format!("{id}/{sink}"),
    )
    .await;
    Ok((id, sink))
}

/// Re-queue a dead letter: it is delivered again at once (202), and by the watch's sweep if
/// this process stops first.
#[utoipa::path(post, path = "/api/v1/notifications/dead-letters/{notification}/{sink}/retry",
    operation_id = "retry_dead_letter", tag = "health",
    params(("notification" = i64, Path, description = "The notification's id"),
        ("sink" = String, Path, description = "The sink's name")),
    responses((status = 202, description = "Re-queued"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn retry(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path((id, sink)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    retry_dead_letter(&state, &who, &id, &sink).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Discard a dead letter.
#[utoipa::path(delete, path = "/api/v1/notifications/dead-letters/{notification}/{sink}",
    operation_id = "discard_dead_letter", tag = "health",
    params(("notification" = i64, Path, description = "The notification's id"),
        ("sink" = String, Path, description = "The sink's name")),
    responses((status = 204, description = "Discarded"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn discard(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path((id, sink)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    discard_dead_letter(&state, &who, &id, &sink).await?;
    Ok(StatusCode::NO_CONTENT)
}
