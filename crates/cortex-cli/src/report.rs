//! The result objects printed after a run: one job's ([`JobResult`], `"type":"result"`) and a
//! batch's ([`BatchResult`], `"type":"batch_result"`), built from what the store recorded —
//! so `onboard`, `jobs follow` and `jobs resume` report the same thing. Their JSON Schemas are
//! `schemas/result.schema.json` and `schemas/batch_result.schema.json`.

use std::collections::{BTreeMap, HashMap};

use cortex_store::{BatchId, JobId, JobRecord, JobState, Store};
use onboarding_engine::CapabilityState;
use serde::Serialize;
use time::OffsetDateTime;

use crate::exit::{CliError, Exit};

pub mod cortex;

/// How long things took, in milliseconds.
#[derive(Serialize, Debug, Clone, Default)]
pub struct Durations {
    /// From submission to the job's last change.
    pub total_ms: u64,
    /// Each finished step of the latest attempt that ran it.
    pub steps: BTreeMap<String, u64>,
}

#[derive(Serialize, Debug, Clone)]
pub struct ErrorInfo {
    pub code: String,
    pub message: String,
    pub step: Option<String>,
}

/// One job's end.
#[derive(Serialize, Debug, Clone)]
pub struct JobResult {
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `succeeded`, `failed`, `cancelled` (also: interrupted and queued again) or
    /// `awaiting_approval`.
    pub status: &'static str,
    /// The job's state in the store.
    pub state: String,
    pub job_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
    /// `subscription`, `tenant` or `entra`.
    pub scope: String,
    pub account_id: String,
    pub name: String,
    /// `created` or `adopted` once succeeded.
    pub outcome: Option<String>,
    pub capabilities: Vec<CapabilityState>,
    pub durations: Durations,
    pub attempts: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
}

impl JobResult {
    pub fn exit(&self) -> Exit {
        match self.status {
            "succeeded" | "awaiting_approval" => Exit::Success,
            "cancelled" => Exit::Cancelled,
            _ => Exit::Failed,
        }
    }

    pub fn interrupted(&self) -> bool {
        matches!(self.state.as_str(), "queued" | "running")
    }
}

fn millis(from: OffsetDateTime, to: OffsetDateTime) -> u64 {
    u64::try_from((to - from).whole_milliseconds()).unwrap_or(0)
}

/// The account a request is about, and its scope and name.
pub fn request_summary(request: &serde_json::Value) -> (String, String, String) {
    let scope = &request["scope"];
    // A Cortex Cloud onboarding: its scope is a word, the tenant (or group, or subscription)
    // is what it onboards, its name is the instance's.
    if let Some(kind) = scope.as_str() {
        let account = match kind {
            "management_group" => &request["management_group_id"],
            "subscription" => &request["subscription_id"],
            _ => &request["tenant_id"],
        };
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
        return (
            kind.to_owned(),
            text(account),
            text(&request["instance_name"]),
        );
    }
    let account = scope["subscription_id"]
        .as_str()
        .or_else(|| scope["tenant_id"].as_str())
        // A rotation's or an offboarding's request names its account directly.
        .or_else(|| request["account_id"].as_str())
        .unwrap_or_default()
        .to_owned();
    let kind = scope["kind"].as_str().unwrap_or_default().to_owned();
    let name = request["name"]
        .as_str()
        .or_else(|| request["account_name"].as_str())
        .unwrap_or_default()
        .to_owned();
    (kind, account, name)
}

pub async fn load_job(store: &Store, job: JobId) -> Result<JobRecord, CliError> {
    store
        .get_job(job)
        .await?
        .ok_or_else(|| CliError::new(Exit::Usage, "not_found", format!("job {job} not found")))
}

/// What every job's result says the same way, whatever its platform: the status, how long
/// it took, the error.
pub(crate) struct Outcome {
    pub status: &'static str,
    pub durations: Durations,
    pub error: Option<ErrorInfo>,
}

impl Outcome {
    pub(crate) fn of(record: &JobRecord, steps: &[cortex_store::StepRecord]) -> Self {
        let mut durations = Durations {
            total_ms: millis(record.created_at, record.updated_at),
            ..Durations::default()
        };
        for step in steps {
            if let (Some(end), "succeeded" | "failed") = (step.finished_at, step.state.as_str()) {
                durations
                    .steps
                    .insert(step.name.clone(), millis(step.started_at, end));
            }
        }
        let status = match record.state {
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::AwaitingApproval => "awaiting_approval",
            JobState::Cancelled | JobState::Queued | JobState::Running => "cancelled",
        };
        let job = record.id;
        let error = match record.state {
            JobState::Queued | JobState::Running => Some(ErrorInfo {
                code: "interrupted".into(),
                message: format!(
                    "interrupted before the job finished; it is queued again — continue with \
                     `azure-cortex jobs resume {job}`"
                ),
                step: steps
                    .iter()
                    .find(|s| s.state == "running")
                    .map(|s| s.name.clone()),
            }),
            _ => record.error.as_ref().map(|e| ErrorInfo {
                code: e["code"].as_str().unwrap_or("unknown").to_owned(),
                message: e["message"].as_str().unwrap_or_default().to_owned(),
                step: e["step"].as_str().map(str::to_owned),
            }),
        };
        Self {
            status,
            durations,
            error,
        }
    }
}

/// The result of `job` as the store has it now.
pub async fn job_result(store: &Store, job: JobId) -> Result<JobResult, CliError> {
    let record = load_job(store, job).await?;
    let steps = store.steps(job).await?;
    let (scope, request_account, name) = request_summary(&record.request);
    let result = record.result.clone().unwrap_or(serde_json::Value::Null);
    let capabilities =
        match serde_json::from_value::<Vec<CapabilityState>>(result["capabilities"].clone()) {
            Ok(c) if record.state == JobState::Succeeded => c,
            _ => last_capabilities(store, job).await?,
        };
    let Outcome {
        status,
        durations,
        error,
    } = Outcome::of(&record, &steps);
    Ok(JobResult {
        kind: "result",
        status,
        state: record.state.to_string(),
        job_id: job.to_string(),
        batch_id: record.batch_id.map(|b| b.to_string()),
        scope,
        account_id: result["account_id"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or(request_account),
        name,
        outcome: result["outcome"].as_str().map(str::to_owned),
        capabilities,
        durations,
        attempts: record.attempts,
        error,
    })
}

/// The latest status of each capability the job reported, in first-seen order.
pub(crate) async fn last_capabilities(
    store: &Store,
    job: JobId,
) -> Result<Vec<CapabilityState>, CliError> {
    let events = store.events_after(job, 0, u32::MAX).await?;
    let mut order: Vec<String> = Vec::new();
    let mut latest: HashMap<String, CapabilityState> = HashMap::new();
    for e in events
        .iter()
        .filter(|e| e.event["type"] == "capability_status")
    {
        let text = |k: &str| e.event[k].as_str().unwrap_or_default().to_owned();
        let name = text("capability");
        if !latest.contains_key(&name) {
            order.push(name.clone());
        }
        latest.insert(
            name.clone(),
            CapabilityState {
                name,
                status: text("status"),
                message: text("message"),
                remediation: text("remediation"),
            },
        );
    }
    Ok(order
        .into_iter()
        .filter_map(|n| latest.remove(&n))
        .collect())
}

/// A batch row that did not onboard.
#[derive(Serialize, Debug, Clone)]
pub struct FailedRow {
    /// The CSV row (the header is row 1), when the batch came from a file.
    pub row: Option<u64>,
    pub job_id: String,
    pub account_id: String,
    pub name: String,
    pub state: String,
    pub code: String,
    pub message: String,
    pub step: Option<String>,
}

/// A batch's end.
#[derive(Serialize, Debug, Clone)]
pub struct BatchResult {
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `succeeded` (every row), `partial`, `failed` (no row) or `cancelled` (interrupted).
    pub status: &'static str,
    pub batch_id: String,
    pub label: String,
    pub total: u64,
    /// Rows onboarded (created or adopted).
    pub succeeded: u64,
    /// Of those, accounts that already existed in Prisma Cloud.
    pub adopted: u64,
    pub failed: Vec<FailedRow>,
    /// Rows cancelled, or interrupted and queued again.
    pub cancelled: u64,
    pub awaiting_approval: u64,
    pub durations: Durations,
}

impl BatchResult {
    pub fn exit(&self) -> Exit {
        match self.status {
            "succeeded" => Exit::Success,
            "partial" => Exit::Partial,
            "cancelled" => Exit::Cancelled,
            _ => Exit::Failed,
        }
    }
}

/// The result of `batch`; `rows` maps jobs to their CSV rows.
pub async fn batch_result(
    store: &Store,
    batch: BatchId,
    rows: &HashMap<JobId, u64>,
) -> Result<BatchResult, CliError> {
    let summary = store.batch_summary(batch).await?.ok_or_else(|| {
        CliError::new(Exit::Usage, "not_found", format!("batch {batch} not found"))
    })?;
    let mut jobs = store.batch_job_ends(batch).await?;
    jobs.sort_by_key(|j| (rows.get(&j.id).copied(), j.id));
    let mut result = BatchResult {
        kind: "batch_result",
        status: "succeeded",
        batch_id: batch.to_string(),
        label: summary.label.clone(),
        total: jobs.len() as u64,
        succeeded: 0,
        adopted: 0,
        failed: Vec::new(),
        cancelled: 0,
        awaiting_approval: 0,
        durations: Durations::default(),
    };
    let mut interrupted = false;
    let mut last_change = summary.created_at;
    for job in &jobs {
        last_change = last_change.max(job.updated_at);
        match job.state {
            JobState::Succeeded => {
                result.succeeded += 1;
                if job.outcome.as_deref() == Some("adopted") {
                    result.adopted += 1;
                }
            }
            JobState::AwaitingApproval => result.awaiting_approval += 1,
            JobState::Queued | JobState::Running => {
                interrupted = true;
                result.cancelled += 1;
            }
            JobState::Cancelled => result.cancelled += 1,
            JobState::Failed => {
                let request = job
                    .failed_request
                    .as_ref()
                    .unwrap_or(&serde_json::Value::Null);
                let (_, account_id, name) = request_summary(request);
                let error = job.error.clone().unwrap_or_default();
                result.failed.push(FailedRow {
                    row: rows.get(&job.id).copied(),
                    job_id: job.id.to_string(),
                    account_id,
                    name,
                    state: job.state.to_string(),
                    code: error["code"].as_str().unwrap_or("unknown").to_owned(),
                    message: error["message"].as_str().unwrap_or_default().to_owned(),
                    step: error["step"].as_str().map(str::to_owned),
                });
            }
        }
    }
    result.durations.total_ms = millis(summary.created_at, last_change);
    let not_done = result.failed.len() as u64 + result.cancelled;
    result.status = if interrupted {
        "cancelled"
    } else if not_done == 0 {
        "succeeded"
    } else if result.succeeded + result.awaiting_approval == 0 {
        "failed"
    } else {
        "partial"
    };
    Ok(result)
}
