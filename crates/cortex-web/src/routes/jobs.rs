//! Jobs and batches: submit, list, get, cancel, resume, approve, follow.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cortex_store::{BatchId, JobId, JobState};
use onboarding_engine::batch_file::{REPORT_COLUMNS, report_records};
use onboarding_engine::request::FieldError;
use onboarding_engine::{IdentityPer, OnboardingRequest, RawRequest};
use prisma_types::SecretString;
use serde::Deserialize;
use serde_json::Value;

use crate::auth::{Authed, Operator};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, lenient, parse_id, parse_json, parse_query};
use crate::state::AppState;
use crate::views::BatchRetried;
use crate::views::{
    BatchAccepted, BatchRequest, BatchView, JobDetail, JobList, JobRef, JobRequest, JobView,
};

/// Splits a request object into the request proper and the client secret, then validates the
/// request; names bad fields with `prefix` (`rows[3].` in a batch).
pub(crate) fn parse_row(
    value: Value,
    prefix: &str,
) -> Result<(OnboardingRequest, Option<SecretString>), Vec<FieldError>> {
    let (raw, secret) = split_secret(value, prefix)?;
    let request = raw.validate().map_err(|e| {
        e.errors
            .into_iter()
            .map(|f| FieldError {
                field: format!("{prefix}{}", f.field),
                message: f.message,
            })
            .collect::<Vec<_>>()
    })?;
    Ok((request, secret))
}

/// A request object as a `RawRequest` (not yet validated) and the client secret beside it.
pub(crate) fn split_secret(
    value: Value,
    prefix: &str,
) -> Result<(RawRequest, Option<SecretString>), Vec<FieldError>> {
    let field = |f: &str| format!("{prefix}{f}");
    let Value::Object(mut map) = value else {
        return Err(vec![FieldError {
            field: if prefix.is_empty() {
                "body".into()
            } else {
                prefix.trim_end_matches('.').to_owned()
            },
            message: "must be a JSON object".into(),
        }]);
    };
    let secret = match map.remove("client_secret") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(SecretString::from(s)),
        Some(_) => {
            return Err(vec![FieldError {
                field: field("client_secret"),
                message: "must be a string".into(),
            }]);
        }
    };
    let raw: RawRequest = parse_json(&serde_json::to_vec(&Value::Object(map)).unwrap_or_default())
        .map_err(|e| {
            vec![FieldError {
                field: field(e.body.field.as_deref().unwrap_or("body")),
                message: e.body.message,
            }]
        })?;
    Ok((raw, secret))
}

pub(crate) fn job_ref(id: JobId, state: JobState) -> JobRef {
    JobRef {
        id: id.to_string(),
        state: state.to_string(),
        events: format!("/api/v1/jobs/{id}/events"),
    }
}

/// Submit one onboarding.
#[utoipa::path(post, path = "/api/v1/jobs", operation_id = "submit_job", tag = "jobs",
    request_body = JobRequest,
    responses(
        (status = 202, description = "Accepted as a queued job", body = JobRef),
        (status = 400, description = "Refused: every bad field listed", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ))]
pub async fn submit(
    State(state): State<AppState>,
    Operator(who): Operator,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let (request, secret) = parse_row(body, "").map_err(ApiError::invalid_request)?;
    let id = state
        .engine()
        .submit(&request, secret, &who.actor())
        .await?;
    let location = format!("/api/v1/jobs/{id}");
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        axum::Json(job_ref(id, JobState::Queued)),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    batch: Option<String>,
    state: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_u32")]
    limit: Option<u32>,
}

/// The newest jobs, newest first.
#[utoipa::path(get, path = "/api/v1/jobs", operation_id = "list_jobs", tag = "jobs",
    params(
        ("batch" = Option<String>, Query, description = "Only this batch's jobs"),
        ("state" = Option<String>, Query, description = "Only jobs in this state"),
        ("limit" = Option<u32>, Query, description = "1-1000, default 100"),
    ),
    responses((status = 200, body = JobList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Authed(_): Authed,
    RawQuery(query): RawQuery,
) -> Result<axum::Json<JobList>, ApiError> {
    let q: ListQuery = parse_query(query.as_deref())?;
    let batch = q
        .batch
        .as_deref()
        .map(|b| parse_id::<BatchId>("batch", b))
        .transpose()?;
    let wanted = q
        .state
        .as_deref()
        .map(|s| {
            s.parse::<JobState>().map_err(|_| {
                ApiError::bad_parameter(
                    "state",
                    "must be one of queued, running, awaiting_approval, succeeded, failed, cancelled",
                )
            })
        })
        .transpose()?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_parameter("limit", "must be 1-1000"));
    }
    let fetch = if wanted.is_some() { u32::MAX } else { limit };
    let jobs = state.engine().store().list_jobs(batch, fetch).await?;
    Ok(axum::Json(JobList {
        jobs: jobs
            .into_iter()
            .filter(|j| wanted.is_none_or(|w| j.state == w))
            .take(limit as usize)
            .map(JobView::from)
            .collect(),
    }))
}

async fn existing_job(
    state: &AppState,
    raw: &str,
) -> Result<(JobId, cortex_store::JobRecord), ApiError> {
    let id: JobId = parse_id("id", raw)?;
    let job = state
        .engine()
        .store()
        .get_job(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("job {id} not found")))?;
    Ok((id, job))
}

/// A job with its steps.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", operation_id = "get_job", tag = "jobs",
    params(("id" = String, Path, description = "Job id (UUID)")),
    responses((status = 200, body = JobDetail), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Authed(_): Authed,
    Path(id): Path<String>,
) -> Result<axum::Json<JobDetail>, ApiError> {
    let (id, job) = existing_job(&state, &id).await?;
    let steps = state.engine().store().steps(id).await?;
    Ok(axum::Json(JobDetail {
        job: job.into(),
        steps: steps.into_iter().map(Into::into).collect(),
    }))
}

/// One of the job actions, after checking the job exists.
async fn act(
    state: &AppState,
    raw: &str,
    action: &str,
    allowed: &str,
    run: impl AsyncFnOnce(JobId) -> Result<bool, onboarding_engine::EngineError>,
) -> Result<axum::Json<JobRef>, ApiError> {
    let (id, job) = existing_job(state, raw).await?;
    if !run(id).await? {
        return Err(ApiError::invalid_state(format!(
            "job {id} is {}: only a {allowed} job can be {action}",
            job.state
        )));
    }
    let now = state
        .engine()
        .store()
        .get_job(id)
        .await?
        .map_or(job.state, |j| j.state);
    Ok(axum::Json(job_ref(id, now)))
}

/// Cancel a job: at once when queued or awaiting approval; a running job stops at its next
/// checkpoint.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", operation_id = "cancel_job", tag = "jobs",
    params(("id" = String, Path, description = "Job id (UUID)")),
    responses((status = 200, body = JobRef), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path(id): Path<String>,
) -> Result<axum::Json<JobRef>, ApiError> {
    let actor = who.actor();
    act(
        &state,
        &id,
        "cancelled",
        "queued, running or awaiting_approval",
        async |id| state.engine().cancel(id, &actor).await,
    )
    .await
}

/// Resume a failed or cancelled job after its last completed step.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/resume", operation_id = "resume_job", tag = "jobs",
    params(("id" = String, Path, description = "Job id (UUID)")),
    responses((status = 200, body = JobRef), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn resume(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path(id): Path<String>,
) -> Result<axum::Json<JobRef>, ApiError> {
    let actor = who.actor();
    act(&state, &id, "resumed", "failed or cancelled", async |id| {
        state.engine().resume(id, &actor).await
    })
    .await
}

/// Approve a job waiting at its approval gate (after `terraform plan`).
#[utoipa::path(post, path = "/api/v1/jobs/{id}/approve", operation_id = "approve_job", tag = "jobs",
    params(("id" = String, Path, description = "Job id (UUID)")),
    responses((status = 200, body = JobRef), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn approve(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path(id): Path<String>,
) -> Result<axum::Json<JobRef>, ApiError> {
    let actor = who.actor();
    act(&state, &id, "approved", "unfinished", async |id| {
        state.engine().approve(id, &actor).await
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    #[serde(default, deserialize_with = "lenient::opt_u32")]
    after: Option<u32>,
}

/// The job's events as Server-Sent Events (see the `sse` module): replay after
/// `Last-Event-ID` (or `after`), then live, then `end`.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/events", operation_id = "job_events", tag = "jobs",
    params(("id" = String, Path, description = "Job id (UUID)"),
        ("after" = Option<u32>, Query, description = "Start after this seq (Last-Event-ID wins)"),
        ("Last-Event-ID" = Option<String>, Header, description = "The last seq received")),
    responses((status = 200, description = "text/event-stream", content_type = "text/event-stream", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    Authed(_): Authed,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let q: EventsQuery = parse_query(query.as_deref())?;
    let after = crate::sse::job_position(&headers, q.after)?;
    let (id, _) = existing_job(&state, &id).await?;
    Ok(crate::sse::job_stream(state, id, after))
}

/// Submit a batch: every row validated first; all rows become jobs, or none.
#[utoipa::path(post, path = "/api/v1/batches", operation_id = "submit_batch", tag = "batches",
    request_body = BatchRequest,
    responses((status = 202, body = BatchAccepted), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn submit_batch(
    State(state): State<AppState>,
    Operator(who): Operator,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let Value::Object(mut map) = body else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "the body must be a JSON object {label, rows}",
        ));
    };
    if let Some(extra) = map
        .keys()
        .find(|k| !matches!(k.as_str(), "label" | "rows" | "identity_per"))
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!(
                "unknown field `{}`, expected `label`, `rows` or `identity_per`",
                extra.chars().take(40).collect::<String>()
            ),
        )
        .field(extra.chars().take(40).collect::<String>()));
    }
    let label = match map.remove("label") {
        Some(Value::String(s)) if (1..=200).contains(&s.trim().chars().count()) => {
            s.trim().to_owned()
        }
        _ => {
            return Err(
                ApiError::bad_parameter("label", "must be a string of 1-200 characters")
                    .with_code("invalid_body"),
            );
        }
    };
    let identity_per = match map.remove("identity_per") {
        None | Some(Value::Null) => IdentityPer::default(),
        Some(Value::String(s)) => IdentityPer::parse(&s)
            .map_err(|m| ApiError::bad_parameter("identity_per", m).with_code("invalid_body"))?,
        Some(_) => {
            return Err(ApiError::bad_parameter(
                "identity_per",
                "must be \"shared-tenant\" or \"subscription\"",
            )
            .with_code("invalid_body"));
        }
    };
    let rows = match map.remove("rows") {
        Some(Value::Array(rows)) if !rows.is_empty() => rows,
        _ => {
            return Err(
                ApiError::bad_parameter("rows", "must be a non-empty array of requests")
                    .with_code("invalid_body"),
            );
        }
    };
    let max = state.config().max_batch_rows as usize;
    if rows.len() > max {
        return Err(
            ApiError::bad_parameter("rows", format!("at most {max} rows per batch"))
                .with_code("invalid_body"),
        );
    }
    let mut items = Vec::with_capacity(rows.len());
    let mut errors = Vec::new();
    for (i, row) in rows.into_iter().enumerate() {
        match parse_row(row, &format!("rows[{i}].")) {
            Ok((mut request, secret)) => match identity_per.apply(&mut request) {
                Ok(()) => items.push((request, secret)),
                Err(f) => errors.push(FieldError {
                    field: format!("rows[{i}].{}", f.field),
                    message: f.message,
                }),
            },
            Err(e) => errors.extend(e),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid_request(errors));
    }
    let (batch, jobs) = state
        .engine()
        .submit_batch(&label, items, &who.actor())
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, format!("/api/v1/batches/{batch}"))],
        axum::Json(BatchAccepted {
            id: batch.to_string(),
            jobs: jobs.iter().map(ToString::to_string).collect(),
            events: format!("/api/v1/batches/{batch}/events"),
        }),
    )
        .into_response())
}

async fn existing_batch(
    state: &AppState,
    raw: &str,
) -> Result<(BatchId, cortex_store::BatchSummary), ApiError> {
    let id: BatchId = parse_id("id", raw)?;
    let summary = state
        .engine()
        .batch_summary(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("batch {id} not found")))?;
    Ok((id, summary))
}

/// A batch: counts by state and the outcome of every job.
#[utoipa::path(get, path = "/api/v1/batches/{id}", operation_id = "get_batch", tag = "batches",
    params(("id" = String, Path, description = "Batch id (UUID)")),
    responses((status = 200, body = BatchView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_batch(
    State(state): State<AppState>,
    Authed(_): Authed,
    Path(id): Path<String>,
) -> Result<axum::Json<BatchView>, ApiError> {
    let (id, summary) = existing_batch(&state, &id).await?;
    let report = state.engine().batch_report(id).await?;
    Ok(axum::Json(BatchView::new(summary, report)))
}

/// Retry the batch's failed and cancelled jobs (each resumes after its last completed step).
#[utoipa::path(post, path = "/api/v1/batches/{id}/retry", operation_id = "retry_batch", tag = "batches",
    params(("id" = String, Path, description = "Batch id (UUID)")),
    responses((status = 200, body = BatchRetried), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn retry_batch(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path(id): Path<String>,
) -> Result<axum::Json<BatchRetried>, ApiError> {
    let (id, _) = existing_batch(&state, &id).await?;
    let resumed = state.engine().retry_failed(id, &who.actor()).await?;
    Ok(axum::Json(BatchRetried {
        batch_id: id.to_string(),
        resumed: resumed.iter().map(ToString::to_string).collect(),
        events: format!("/api/v1/batches/{id}/events"),
    }))
}

/// The batch's results as CSV: every row of the batch's file with its original row number, in
/// row order — the jobs, and the rows skipped for their problems (`skipped`, `invalid_row`) —
/// or, for a batch submitted as JSON rows, one row per job in submission order. A spreadsheet
/// opens it; cells that would start a formula are prefixed with `'`.
#[utoipa::path(get, path = "/api/v1/batches/{id}/report.csv", operation_id = "batch_report_csv", tag = "batches",
    params(("id" = String, Path, description = "Batch id (UUID)")),
    responses((status = 200, description = "text/csv: row,subscription_id,name,state,outcome,error_code,error_message,job_id",
            content_type = "text/csv", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn batch_report_csv(
    State(state): State<AppState>,
    Authed(_): Authed,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (id, _) = existing_batch(&state, &id).await?;
    let report = state.engine().batch_report(id).await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let mut rows = vec![REPORT_COLUMNS.map(str::to_owned)];
    rows.extend(report_records(&report));
    for row in rows {
        out.write_record(row.iter().map(|c| spreadsheet_safe(c).into_owned()))
            .map_err(|e| ApiError::internal("cannot write the CSV", &e))?;
    }
    let body = out
        .into_inner()
        .map_err(|e| ApiError::internal("cannot write the CSV", &e))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"batch-{id}.csv\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// A cell a spreadsheet would run as a formula gets a leading `'`.
fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// The batch's progress as Server-Sent Events: a snapshot, then every job's events, then `end`.
#[utoipa::path(get, path = "/api/v1/batches/{id}/events", operation_id = "batch_events", tag = "batches",
    params(("id" = String, Path, description = "Batch id (UUID)"),
        ("Last-Event-ID" = Option<String>, Header, description = "\"<job_id>:<seq>\" (checked, echoed; resume is by snapshot)")),
    responses((status = 200, description = "text/event-stream", content_type = "text/event-stream", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn batch_events(
    State(state): State<AppState>,
    Authed(_): Authed,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let resumed = crate::sse::batch_position(&headers)?;
    let (id, _) = existing_batch(&state, &id).await?;
    crate::sse::batch_stream(state, id, resumed).await
}
