//! The reconcile job: review → apply → verify, on the shared job runner.
//!
//! * **review** reads the account and records what will change (each difference as a log
//!   event and in the step's checkpoint). Nothing to change ends the job there.
//! * **apply** is the approval gate when the request asks for one (the job waits as
//!   `awaiting_approval`, its review on the job page), then one update that puts the desired
//!   configuration back: every other field as read, the key masked (the platform keeps its
//!   stored secret), so no secret is handled at all.
//! * **verify** reads the account again and fails with `drift_remains` unless it now matches;
//!   the drift finding is cleared.

use cortex_store::DriftFinding;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{AccountConfig, Difference, fingerprint, read_current};
use crate::bus::emit;
use crate::connections::ConnectionName;
use crate::error::EngineError;
use crate::events::{EngineEvent, Step};
use crate::job::{Flow, JobRun, StepDone, StepFuture, Stop, to_value};

/// What a reconcile job stores: the account and the desired state at submission.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReconcileRequest {
    pub account_key: String,
    pub account_id: String,
    pub account_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<ConnectionName>,
    pub desired: AccountConfig,
    #[serde(default)]
    pub require_approval: bool,
}

/// The review's checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Review {
    differences: Vec<Difference>,
}

#[derive(Default)]
pub(crate) struct ReconcileFlow;

type ReconcileRun<'a> = JobRun<'a, ReconcileFlow>;

impl Flow for ReconcileFlow {
    type Request = ReconcileRequest;

    const STEPS: &'static [Step] = &Step::RECONCILE;

    fn run_step<'r>(run: &'r ReconcileRun<'r>, step: Step) -> StepFuture<'r> {
        Box::pin(async move {
            match step {
                Step::Review => Ok(StepDone::output(review(run).await?)),
                Step::Apply => apply(run).await,
                Step::Verify => Ok(StepDone::output(verify(run).await?)),
                other => Err(EngineError::Workspace(format!(
                    "{} is not a step of a reconcile",
                    other.name()
                ))),
            }
        })
    }

    fn needs_approval(run: &ReconcileRun<'_>) -> bool {
        run.request.require_approval
    }

    fn result(run: &ReconcileRun<'_>) -> Result<serde_json::Value, Stop> {
        let review: Review = run.required(Step::Review)?;
        emit(EngineEvent::JobSucceeded {
            account_id: run.request.account_id.clone(),
            outcome: "reconciled".into(),
        });
        Ok(json!({
            "account_id": run.request.account_id,
            "account_name": run.request.account_name,
            "outcome": "reconciled",
            "changed": review.differences,
            "desired": run.request.desired,
            "step_ms": run.step_ms(),
        }))
    }
}

async fn current(
    run: &ReconcileRun<'_>,
) -> Result<prisma_types::wire::AzureAccountView, EngineError> {
    read_current(
        run.inner,
        run.request.connection.as_ref(),
        &run.request.account_id,
    )
    .await?
    .ok_or_else(|| EngineError::PlatformAccountMissing {
        account_id: run.request.account_id.clone(),
    })
}

async fn review(run: &ReconcileRun<'_>) -> Result<Review, EngineError> {
    let view = current(run).await?;
    let differences = run
        .request
        .desired
        .differences(&AccountConfig::from_view(&view));
    if differences.is_empty() {
        emit(EngineEvent::log(
            "info",
            format!(
                "{} already has its desired configuration: nothing to change",
                run.request.account_name
            ),
        ));
    }
    for d in &differences {
        emit(EngineEvent::log(
            "info",
            format!("will change {}", d.words()),
        ));
    }
    Ok(Review { differences })
}

async fn apply(run: &ReconcileRun<'_>) -> Result<StepDone, EngineError> {
    let review: Review = run.required(Step::Review)?;
    if review.differences.is_empty() {
        return Ok(StepDone::output(json!({"applied": false})));
    }
    if run.awaiting_approval() {
        emit(EngineEvent::log(
            "info",
            format!(
                "review: {} change(s) to {}; approve to apply them",
                review.differences.len(),
                run.request.account_name
            ),
        ));
        // The same event as a Terraform plan's gate, so a job page following the events shows
        // the review and its Approve button: fields changed in place, nothing added or removed.
        emit(EngineEvent::ApprovalRequired {
            add: 0,
            change: review.differences.len() as u64,
            destroy: 0,
        });
        return Ok(StepDone::AwaitingApproval);
    }
    let view = current(run).await?;
    let body = run.request.desired.update_body(&view);
    let client = run
        .inner
        .client_for(run.request.connection.as_ref())
        .await?;
    client
        .update_azure_account_body(&run.request.account_id, &body, true)
        .await?;
    emit(EngineEvent::log(
        "info",
        format!(
            "{}: desired configuration applied",
            run.request.account_name
        ),
    ));
    Ok(StepDone::Finished {
        output: to_value(json!({"applied": true})),
        warning: None,
    })
}

async fn verify(run: &ReconcileRun<'_>) -> Result<serde_json::Value, EngineError> {
    let view = current(run).await?;
    let remaining = run
        .request
        .desired
        .differences(&AccountConfig::from_view(&view));
    let now = time::OffsetDateTime::now_utc();
    if !remaining.is_empty() {
        return Err(EngineError::DriftRemains {
            differences: remaining.iter().map(Difference::words).collect(),
        });
    }
    let finding = DriftFinding {
        account_key: run.request.account_key.clone(),
        account_id: run.request.account_id.clone(),
        account_name: run.request.account_name.clone(),
        checked_at_ms: i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0),
        fingerprint: fingerprint(&remaining),
        differences: json!([]),
        error: None,
    };
    run.inner.store.put_drift_finding(&finding).await?;
    emit(EngineEvent::log(
        "info",
        format!(
            "{} shows its desired configuration again",
            run.request.account_name
        ),
    ));
    Ok(json!({"differences": []}))
}

/// Runs a claimed reconcile job (the engine's `run_job` calls it for its kind).
pub(crate) async fn run(
    inner: &crate::engine::EngineInner,
    job: cortex_store::JobRecord,
    steps: Vec<cortex_store::StepRecord>,
    cancel: tokio_util::sync::CancellationToken,
) -> Result<serde_json::Value, Stop> {
    let request: ReconcileRequest = serde_json::from_value(job.request.clone()).map_err(|e| {
        Stop::Failed(
            None,
            EngineError::Workspace(format!("stored reconcile request unreadable: {e}")),
        )
    })?;
    let run = JobRun::new(inner, job.clone(), request, ReconcileFlow, steps, cancel);
    emit(EngineEvent::JobStarted {
        attempt: job.attempts,
        worker: inner.config.worker_id.clone(),
        resumed_from: run.resumed_from(),
    });
    run.run().await
}
