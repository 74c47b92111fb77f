//! One job, step by step, with checkpoints — the runner every platform's flow shares.
//!
//! * This module: [`JobRun`] (the claimed job, its finished steps and their checkpoints, the
//!   cancel token) and its step loop: record the start, run the step, store its checkpoint on
//!   success (never a secret) and emit `step_started` / `step_finished` / `step_failed`; stop
//!   at an approval gate; skip what an earlier run of the same job finished.
//! * A [`Flow`] says which steps a platform's job has and how each one runs. `prisma` is
//!   Prisma Cloud's (validate → prerequisites → resolve → azure_identity → preflight →
//!   register → verify). `lifecycle` has the client-secret rotation and the offboarding
//!   ([`crate::lifecycle`]).
//!
//! A job that is claimed again — after a crash, a lost lease, an approval or a resume — skips
//! the steps that already succeeded and continues with the first that did not. Nothing that
//! touches the platform or Azure duplicates anything when repeated: each flow's steps are
//! written to converge (Terraform on its state, registration adopting what exists).

pub(crate) mod cortex;
pub(crate) mod lifecycle;
pub(crate) mod prisma;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use cortex_store::{JobRecord, StepRecord};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::appender::StepNote;
use crate::bus::emit;
use crate::engine::EngineInner;
use crate::error::EngineError;
use crate::events::{EngineEvent, Step};

pub(crate) use lifecycle::LifecycleFlow;
pub use prisma::CapabilityState;
pub(crate) use prisma::{IdentityOut, PrismaFlow, ResolveOut, tenant_selection};

/// How a run of a job ended, short of success.
pub(crate) enum Stop {
    Failed(Option<Step>, EngineError),
    AwaitingApproval,
}

impl From<EngineError> for Stop {
    fn from(e: EngineError) -> Self {
        Stop::Failed(None, e)
    }
}

/// What a step returned.
pub(crate) enum StepDone {
    /// Succeeded: its checkpoint (what later steps and a resumed run read back), and a warning
    /// when it finished with problems the operator chose to go past.
    Finished {
        output: Option<serde_json::Value>,
        warning: Option<String>,
    },
    /// Planned and waiting for approval: the step stays open and runs again once approved.
    AwaitingApproval,
}

impl StepDone {
    pub fn output<T: Serialize>(value: T) -> Self {
        StepDone::Finished {
            output: to_value(value),
            warning: None,
        }
    }

    pub fn empty() -> Self {
        StepDone::Finished {
            output: None,
            warning: None,
        }
    }
}

/// What [`Flow::run_step`] returns.
pub(crate) type StepFuture<'r> =
    Pin<Box<dyn Future<Output = Result<StepDone, EngineError>> + Send + 'r>>;

/// A platform's job: its steps, in order, and how each runs.
pub(crate) trait Flow: Sized + Send + Sync {
    /// The request this flow's jobs store.
    type Request: Send + Sync + serde::de::DeserializeOwned;

    /// The steps, in order (a resumed run starts at the first without a checkpoint).
    const STEPS: &'static [Step];

    /// Runs `step`. Boxed: proving `Send` for an opaque trait-method future fails on the
    /// clients' higher-ranked async closures ("not general enough"), a boxed one is proven
    /// inside each flow.
    fn run_step<'r>(run: &'r JobRun<'r, Self>, step: Step) -> StepFuture<'r>;

    /// Whether the request stops at an approval gate (and the job is not approved yet).
    fn needs_approval(run: &JobRun<'_, Self>) -> bool;

    /// The job's result, once every step succeeded (and its `job_succeeded` event).
    fn result(run: &JobRun<'_, Self>) -> Result<serde_json::Value, Stop>;
}

pub(crate) struct JobRun<'a, F: Flow> {
    pub inner: &'a EngineInner,
    pub job: JobRecord,
    pub request: F::Request,
    pub cancel: CancellationToken,
    /// What the flow keeps for the length of one run (e.g. its platform client).
    pub flow: F,
    done: HashMap<String, Option<serde_json::Value>>,
    timings: Vec<(Step, u64)>,
}

impl<'a, F: Flow> JobRun<'a, F> {
    pub fn new(
        inner: &'a EngineInner,
        job: JobRecord,
        request: F::Request,
        flow: F,
        steps: Vec<StepRecord>,
        cancel: CancellationToken,
    ) -> Self {
        let done = steps
            .into_iter()
            .filter(|s| s.state == "succeeded")
            .map(|s| (s.name, s.output))
            .collect();
        Self {
            inner,
            job,
            request,
            cancel,
            flow,
            done,
            timings: Vec::new(),
        }
    }

    pub fn resumed_from(&self) -> Option<Step> {
        if self.done.is_empty() {
            None
        } else {
            F::STEPS
                .iter()
                .copied()
                .find(|s| !self.done.contains_key(s.name()))
        }
    }

    /// The checkpoint `step` stored, if it succeeded (in this run or an earlier one).
    pub fn checkpoint<T: for<'de> Deserialize<'de>>(&self, step: Step) -> Option<T> {
        self.done
            .get(step.name())
            .and_then(|v| v.clone())
            .and_then(|v| serde_json::from_value(v).ok())
    }

    /// [`Self::checkpoint`], or the error a step that needs it reports when it is missing.
    pub fn required<T: for<'de> Deserialize<'de>>(&self, step: Step) -> Result<T, EngineError> {
        self.checkpoint(step)
            .ok_or_else(|| EngineError::Workspace(format!("{} checkpoint missing", step.name())))
    }

    /// How long each finished step took in this run (for the result's `step_ms`).
    pub fn step_ms(&self) -> HashMap<&'static str, u64> {
        self.timings.iter().map(|(s, ms)| (s.name(), *ms)).collect()
    }

    /// Whether a Terraform step must stop after its plan (real, twin or replayed).
    pub(crate) fn awaiting_approval(&self) -> bool {
        F::needs_approval(self) && !self.job.approved
    }

    /// Runs every step not done yet; returns the job's result.
    pub async fn run(mut self) -> Result<serde_json::Value, Stop> {
        // Step records go through the journal: every running job's share its transactions.
        let journal = self.inner.bus.appender(self.inner.store.clone());
        for &step in F::STEPS {
            if self.done.contains_key(step.name()) {
                // Done earlier in this same job: before its approval gate, or in a run that
                // stopped later. Not "skipped" work: it succeeded, and its result is reused.
                let reason = if self.job.approved && F::needs_approval(&self) {
                    "completed before the approval"
                } else {
                    "completed in an earlier run of this job"
                };
                emit(EngineEvent::StepSkipped {
                    step,
                    reason: reason.into(),
                });
                continue;
            }
            if self.cancel.is_cancelled() {
                return Err(Stop::Failed(Some(step), EngineError::Cancelled));
            }
            journal
                .step(self.job.id, step.name(), StepNote::Started)
                .await
                .map_err(EngineError::from)?;
            emit(EngineEvent::StepStarted { step });
            let started = Instant::now();
            let outcome = F::run_step(&self, step).await;
            let elapsed_ms = started.elapsed().as_millis() as u64;
            match outcome {
                // The step stays open: after approval it runs again and applies the plan.
                Ok(StepDone::AwaitingApproval) => return Err(Stop::AwaitingApproval),
                Ok(StepDone::Finished { output, warning }) => {
                    let note = StepNote::Finished {
                        state: "succeeded",
                        output: output.clone(),
                    };
                    journal
                        .step(self.job.id, step.name(), note)
                        .await
                        .map_err(EngineError::from)?;
                    self.done.insert(step.name().to_owned(), output);
                    self.timings.push((step, elapsed_ms));
                    emit(EngineEvent::StepFinished {
                        step,
                        elapsed_ms,
                        warning,
                    });
                }
                Err(e) => {
                    // A step that fails because this run is being stopped (shutdown, a cancel
                    // request, a lost lease: e.g. Terraform interrupted) was stopped, not
                    // failed: the job is released for resume or cancelled, never failed.
                    let e = if self.cancel.is_cancelled() {
                        EngineError::Cancelled
                    } else {
                        e
                    };
                    let note = StepNote::Finished {
                        state: "failed",
                        output: None,
                    };
                    let _ = journal.step(self.job.id, step.name(), note).await;
                    emit(EngineEvent::StepFailed {
                        step,
                        code: e.code().into(),
                        message: e.to_string(),
                    });
                    return Err(Stop::Failed(Some(step), e));
                }
            }
        }
        F::result(&self)
    }
}

/// Runs a claimed job with its platform's flow (Cortex Cloud for
/// [`crate::cortex::CORTEX_JOB_KIND`], Prisma Cloud otherwise) from its first unfinished step.
pub(crate) async fn start(
    inner: &EngineInner,
    job: JobRecord,
    cancel: CancellationToken,
) -> Result<serde_json::Value, Stop> {
    match job.kind.as_str() {
        crate::cortex::CORTEX_JOB_KIND => {
            start_flow(inner, job, cortex::CortexFlow::default(), cancel).await
        }
        crate::lifecycle::ROTATE_KIND => {
            let flow = LifecycleFlow::<crate::lifecycle::RotateRequest>::default();
            start_flow(inner, job, flow, cancel).await
        }
        crate::lifecycle::OFFBOARD_KIND => {
            let flow = LifecycleFlow::<crate::lifecycle::OffboardRequest>::default();
            start_flow(inner, job, flow, cancel).await
        }
        crate::drift::RECONCILE_KIND => {
            let steps = inner.store.steps(job.id).await.map_err(EngineError::from)?;
            crate::drift::run_reconcile(inner, job, steps, cancel).await
        }
        _ => start_flow(inner, job, PrismaFlow::default(), cancel).await,
    }
}

async fn start_flow<F: Flow>(
    inner: &EngineInner,
    job: JobRecord,
    flow: F,
    cancel: CancellationToken,
) -> Result<serde_json::Value, Stop> {
    let request: F::Request = serde_json::from_value(job.request.clone()).map_err(|e| {
        Stop::Failed(
            None,
            EngineError::Workspace(format!("stored request unreadable: {e}")),
        )
    })?;
    let steps = inner.store.steps(job.id).await.map_err(EngineError::from)?;
    let attempt = job.attempts;
    let run = JobRun::new(inner, job, request, flow, steps, cancel);
    emit(EngineEvent::JobStarted {
        attempt,
        worker: inner.config.worker_id.clone(),
        resumed_from: run.resumed_from(),
    });
    run.run().await
}

pub(crate) fn to_value<T: Serialize>(v: T) -> Option<serde_json::Value> {
    serde_json::to_value(v).ok()
}
