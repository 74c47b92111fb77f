//! A job's live page — a header saying exactly what is onboarded, the plan review in words,
//! one card per failing capability, the approve / cancel / resume / *edit and retry* actions —
//! and a batch's live page (a row per subscription, a summary, the results as CSV).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use cortex_store::{BatchId, JobId, JobState};
use onboarding_engine::OnboardingRequest;
use onboarding_engine::cortex::{CORTEX_JOB_KIND, CortexRequest};

use super::job_cortex::{self, CortexSection};
use super::job_view::{self, CapabilityView, Fact, PlanGroupView};
use super::{
    Badge, FormCaller, FormPage, Nav, PageAction, PageError, PageUser, Refused, badge, job_name,
    no_store, when,
};
use crate::auth::{Operator, Principal};
use crate::error::ApiError;
use crate::extract::parse_id;
use crate::state::AppState;

pub struct StepRow {
    pub key: &'static str,
    pub label: &'static str,
    pub state: Badge,
}

/// `terraform plan`'s counts, shown for review before apply.
pub struct PlanSummary {
    pub add: u64,
    pub change: u64,
    pub destroy: u64,
}

/// Which buttons a job's state allows (each also checked by the engine).
pub struct Actions {
    pub approve: bool,
    pub cancel: bool,
    pub resume: bool,
    /// *Edit and retry*: the wizard filled from this job's request (any finished job).
    pub retry: bool,
}

impl Actions {
    fn of(state: JobState) -> Self {
        Actions {
            approve: state == JobState::AwaitingApproval,
            cancel: matches!(
                state,
                JobState::Queued | JobState::Running | JobState::AwaitingApproval
            ),
            resume: matches!(state, JobState::Failed | JobState::Cancelled),
            retry: state.is_terminal(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "job.html")]
pub struct JobPage {
    pub nav: Nav,
    pub id: String,
    pub name: String,
    pub kind: String,
    pub state: Badge,
    pub created_at: String,
    pub created_by: String,
    pub batch: Option<String>,
    pub steps: Vec<StepRow>,
    pub plan: Option<PlanSummary>,
    /// The plan review in words, grouped; each change keeps its raw address (behind a toggle).
    pub plan_words: Vec<PlanGroupView>,
    /// What is being onboarded, from the stored request.
    pub facts: Vec<Fact>,
    /// Each capability once, with its latest status; failing ones as cards.
    pub capabilities: Vec<CapabilityView>,
    pub actions: Actions,
    /// What the job produced: never the client secret, only its IDs.
    pub outputs: Option<Outputs>,
    /// "Prisma Cloud" or "Cortex Cloud": whose calls, docs and capabilities these are.
    pub platform: &'static str,
    /// The Terraform step that stops for the plan's review.
    pub approval_step: &'static str,
    /// A Cortex Cloud job's instance, template, callback wait and accounts.
    pub cortex: Option<CortexSection>,
}

/// A finished job's Azure identity and Prisma account (from the job's result).
pub struct Outputs {
    pub account_id: String,
    pub outcome: String,
    pub client_id: Option<String>,
    pub service_principal_id: Option<String>,
    pub secret_expiry: Option<String>,
}

impl Outputs {
    fn of(result: &serde_json::Value) -> Option<Self> {
        let text = |k: &str| result[k].as_str().map(str::to_owned);
        Some(Outputs {
            account_id: text("account_id")?,
            outcome: text("outcome").unwrap_or_default(),
            client_id: text("client_id"),
            service_principal_id: text("service_principal_id"),
            secret_expiry: text("secret_expiry"),
        })
    }
}

/// The newest plan the job stopped at for review, if any.
fn plan_of(events: &[cortex_store::StoredEvent]) -> Option<PlanSummary> {
    events
        .iter()
        .rev()
        .find(|e| e.event["type"] == "approval_required")
        .map(|e| {
            let n = |k: &str| e.event[k].as_u64().unwrap_or(0);
            PlanSummary {
                add: n("add"),
                change: n("change"),
                destroy: n("destroy"),
            }
        })
}

pub async fn job_page(
    State(state): State<AppState>,
    PageUser(p): PageUser,
    Path(raw): Path<String>,
) -> Result<Response, PageError> {
    let id: JobId = parse_id("id", &raw)?;
    let store = state.engine().store();
    let Some(job) = store.get_job(id).await? else {
        return Err(ApiError::not_found(format!("job {id} not found")).into());
    };
    let recorded = store.steps(id).await?;
    let events = store.events_after(id, 0, u32::MAX).await?;
    let request: Option<OnboardingRequest> = serde_json::from_value(job.request.clone()).ok();
    let cortex_request: Option<CortexRequest> = (job.kind == CORTEX_JOB_KIND)
        .then(|| serde_json::from_value(job.request.clone()).ok())
        .flatten();
    let approval_step = if cortex_request.is_some() {
        "apply_template"
    } else {
        "azure_identity"
    };
    let steps = onboarding_engine::Step::of_kind(&job.kind)
        .iter()
        .map(|step| {
            let (key, label) = (step.name(), step.label());
            let record = recorded.iter().rev().find(|s| s.name == key);
            let state = match record {
                // The plan waits at its Terraform step: say so rather than "running".
                _ if matches!(key, "azure_identity" | "plan_destroy" | "apply_template")
                    && job.state == JobState::AwaitingApproval =>
                {
                    "awaiting_approval"
                }
                // Pre-flight checks failed and the operator chose to register anyway.
                Some(s)
                    if key == "preflight"
                        && s.state == "succeeded"
                        && job_view::preflight_warned(s.output.as_ref()) =>
                {
                    "warning"
                }
                Some(s) => s.state.as_str(),
                None => "pending",
            };
            StepRow {
                key,
                label,
                state: badge(state),
            }
        })
        .collect();
    let cortex = cortex_request.as_ref().map(|r| {
        CortexSection::of(
            &job,
            r,
            &recorded,
            &events,
            state.engine().config().verify_timeout,
        )
    });
    let facts = match (&cortex_request, &request) {
        (Some(r), _) => job_cortex::facts_of(r),
        (None, Some(r)) => job_view::facts_of(r),
        (None, None) => Vec::new(),
    };
    Ok(no_store(
        JobPage {
            nav: Nav::of(&p),
            id: id.to_string(),
            name: match &cortex_request {
                Some(r) => format!("{} into Cortex Cloud", r.label()),
                None => job_name(&job.request),
            },
            kind: super::dashboard::job_kind_label(&job.kind),
            state: badge(job.state.as_str()),
            created_at: when(job.created_at),
            created_by: job.created_by.clone(),
            batch: job.batch_id.map(|b| b.to_string()),
            steps,
            plan: plan_of(&events),
            plan_words: job_view::plan_words_of(&events, request.as_ref()),
            facts,
            capabilities: job_view::capabilities_of(&events),
            actions: Actions::of(job.state),
            outputs: job.result.as_ref().and_then(Outputs::of),
            platform: if cortex.is_some() {
                "Cortex Cloud"
            } else {
                "Prisma Cloud"
            },
            approval_step,
            cortex,
        }
        .into_response(),
    ))
}

/// `POST /jobs/{id}/{approve|cancel|resume}` from the job page's buttons: the API's own
/// handlers do the work (same checks, same audit), then back to the job page.
pub async fn job_action(
    State(state): State<AppState>,
    caller: FormCaller,
    Path((raw, action)): Path<(String, String)>,
) -> Result<Response, PageError> {
    use crate::routes::jobs;
    let id: JobId = parse_id("id", &raw)?;
    let who = match permitted(caller, PageAction::ControlJobs, &format!("/jobs/{id}"))? {
        Ok(who) => who,
        Err(sign_in) => return Ok(sign_in),
    };
    let done = match action.as_str() {
        "approve" => jobs::approve(State(state), Operator(who), Path(raw.clone())).await,
        "cancel" => jobs::cancel(State(state), Operator(who), Path(raw.clone())).await,
        "resume" => jobs::resume(State(state), Operator(who), Path(raw.clone())).await,
        _ => return Err(ApiError::not_found(format!("no action {action:?}")).into()),
    }?;
    Ok(Redirect::to(&format!("/jobs/{}", done.0.id)).into_response())
}

/// A button's caller if allowed; the sign-in trip back to `page` without a session; else the
/// refusal as an error page (a button has nothing typed to keep).
fn permitted(
    caller: FormCaller,
    action: PageAction,
    page: &str,
) -> Result<Result<Principal, Response>, PageError> {
    let form = FormPage {
        path: page,
        secret: None,
    };
    match caller.permit(action, &form) {
        Ok(who) => Ok(Ok(who)),
        Err(Refused::SignIn(to)) => Ok(Err(to.into_response())),
        Err(Refused::Page { problem, .. }) => Err(ApiError::forbidden(problem.message).into()),
    }
}

// ---------------------------------------------------------------------------------------------
// A batch

/// `POST /batches/{id}/retry` from the batch page: the API's handler, then back to the page.
pub async fn batch_retry(
    State(state): State<AppState>,
    caller: FormCaller,
    Path(raw): Path<String>,
) -> Result<Response, PageError> {
    let id: BatchId = parse_id("id", &raw)?;
    let who = match permitted(caller, PageAction::RetryBatches, &format!("/batches/{id}"))? {
        Ok(who) => who,
        Err(sign_in) => return Ok(sign_in),
    };
    let done = crate::routes::jobs::retry_batch(State(state), Operator(who), Path(raw)).await?;
    Ok(Redirect::to(&format!("/batches/{}", done.0.batch_id)).into_response())
}

pub struct BatchRowView {
    /// The row of the batch's file (empty for a batch submitted as JSON rows).
    pub row: String,
    pub job_id: String,
    pub account_id: String,
    pub name: String,
    pub state: Badge,
    /// The state as the API names it (`awaiting_approval`), for the script.
    pub state_key: &'static str,
    pub outcome: String,
    pub detail: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "batch.html")]
pub struct BatchPage {
    pub nav: Nav,
    pub id: String,
    pub label: String,
    pub created_at: String,
    pub created_by: String,
    pub total: u64,
    pub onboarded: u64,
    pub adopted: u64,
    pub failed: u64,
    pub pending: u64,
    pub finished: bool,
    pub rows: Vec<BatchRowView>,
    /// The rows of the batch's file left out for their problems.
    pub skipped: Vec<super::bulk::SkippedRowView>,
}

/// A line of the batch page's table: a job, or a row of the file that was skipped.
pub enum BatchLine<'a> {
    Job(&'a BatchRowView),
    Skipped(&'a super::bulk::SkippedRowView),
}

impl BatchPage {
    /// Jobs and skipped rows in row order (jobs without a row number keep their order).
    fn merged(&self) -> Vec<BatchLine<'_>> {
        let mut lines: Vec<(Option<u64>, BatchLine<'_>)> = self
            .rows
            .iter()
            .map(|r| (r.row.parse().ok(), BatchLine::Job(r)))
            .chain(
                self.skipped
                    .iter()
                    .map(|s| (Some(s.row), BatchLine::Skipped(s))),
            )
            .collect();
        lines.sort_by_key(|(row, _)| *row);
        lines.into_iter().map(|(_, line)| line).collect()
    }
}

/// What a finished row says: the outcome and account, or the failure's code and message.
pub fn row_detail(outcome: Option<&str>, code: Option<&str>, message: Option<&str>) -> String {
    match (outcome, code, message) {
        (Some(o), _, _) => o.to_owned(),
        (None, Some(c), Some(m)) => format!("{m} ({c})"),
        (None, None, Some(m)) => m.to_owned(),
        (None, Some(c), None) => c.to_owned(),
        (None, None, None) => String::new(),
    }
}

pub async fn batch_page(
    State(state): State<AppState>,
    PageUser(p): PageUser,
    Path(raw): Path<String>,
) -> Result<Response, PageError> {
    let id: BatchId = parse_id("id", &raw)?;
    let Some(summary) = state.engine().batch_summary(id).await? else {
        return Err(ApiError::not_found(format!("batch {id} not found")).into());
    };
    let report = state.engine().batch_report(id).await?;
    let rows = report
        .rows
        .iter()
        .map(|r| BatchRowView {
            row: r.row.map(|n| n.to_string()).unwrap_or_default(),
            job_id: r.job_id.clone(),
            account_id: r.account_id.clone(),
            name: r.name.clone(),
            state: badge(r.state.as_str()),
            state_key: r.state.as_str(),
            outcome: r.outcome.clone().unwrap_or_default(),
            detail: row_detail(
                r.outcome.as_deref(),
                r.code.as_deref(),
                r.message.as_deref(),
            ),
        })
        .collect();
    Ok(no_store(
        BatchPage {
            nav: Nav::of(&p),
            id: id.to_string(),
            label: summary.label.clone(),
            created_at: when(summary.created_at),
            created_by: summary.created_by.clone(),
            total: report.total,
            onboarded: report.onboarded,
            adopted: report.adopted,
            failed: report.failed,
            pending: report.pending,
            finished: report.pending == 0,
            rows,
            skipped: super::bulk::skipped_views(&report),
        }
        .into_response(),
    ))
}
