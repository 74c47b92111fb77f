//! The commands, one module each, and what they share: running the in-process worker while
//! following jobs, with Ctrl-C releasing the jobs for resume.

pub mod accounts;
pub mod batch;
pub mod discover;
pub mod doctor;
pub mod drift;
pub mod groups;
pub mod health;
pub mod instances;
pub mod jobs;
pub mod lifecycle;
pub mod onboard;
pub mod onboard_cortex;
pub mod template;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use cortex_store::{JobId, JobState};
use tokio_util::sync::CancellationToken;

use crate::GlobalArgs;
use crate::exit::{CliError, Exit};
use crate::follow::{Source, follow_while};
use crate::output::{Followed, Out, human};
use crate::report::cortex::{AnyResult, any_result};
use crate::session::Session;

/// Who the audit log names for actions of this command.
pub fn actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

/// The first block of a job id, for labels.
pub fn short(job: JobId) -> String {
    job.to_string().chars().take(8).collect()
}

/// Runs this process's worker until no job is queued or running, rendering the events of
/// `jobs` (those after `after_seq`). Ctrl-C or SIGTERM stops the worker: running jobs are
/// released to `queued` (resumable); a second Ctrl-C exits at once. Returns whether it was
/// interrupted.
pub async fn run_jobs(
    session: &Session,
    out: &Out,
    jobs: &[Followed],
    after_seq: i64,
    batch: Option<(cortex_store::BatchId, usize)>,
) -> Result<bool, CliError> {
    let shutdown = CancellationToken::new();
    let interrupted = Arc::new(AtomicBool::new(false));
    let signals = tokio::spawn({
        let shutdown = shutdown.clone();
        let interrupted = interrupted.clone();
        let quiet = out.quiet;
        async move {
            crate::logging::shutdown_signal().await;
            interrupted.store(true, Ordering::SeqCst);
            if !quiet {
                eprintln!(
                    "\ninterrupted: stopping; running jobs go back to the queue \
                     (press Ctrl-C again to quit at once)"
                );
            }
            shutdown.cancel();
            crate::logging::shutdown_signal().await;
            std::process::exit(i32::from(Exit::Cancelled.code()));
        }
    });
    let mut sink = out.sink(batch.map(|(_, total)| total));
    let engine = session.engine.clone();
    let worked = follow_while(
        engine.store(),
        jobs,
        after_seq,
        Source::Subscribe(engine.clone()),
        batch.map(|(id, _)| id),
        sink.as_mut(),
        engine.run_worker(shutdown.clone(), true),
    )
    .await;
    signals.abort();
    worked?;
    Ok(interrupted.load(Ordering::SeqCst))
}

/// Runs the worker for `job` (from event `after_seq`), handles the approval prompt with
/// `--interactive`, prints the result; returns the exit code.
pub async fn follow_job(
    global: &GlobalArgs,
    out: &Out,
    session: &Session,
    job: cortex_store::JobId,
    after_seq: i64,
) -> Result<Exit, CliError> {
    let followed = [Followed {
        job,
        label: short(job),
    }];
    let mut after = after_seq;
    let mut interrupted = run_jobs(session, out, &followed, after, None).await?;
    while !interrupted && global.interactive && ask_approval(session, job).await? {
        after = last_seq(session, job).await?;
        interrupted = run_jobs(session, out, &followed, after, None).await?;
    }
    let result = any_result(session.store(), job).await?;
    print_result(out, &result);
    Ok(if interrupted && result.status() != "succeeded" {
        Exit::Cancelled
    } else {
        result.exit()
    })
}

/// Prints a job's result: one JSON line with `--output json`, else the summary.
pub fn print_result(out: &Out, result: &AnyResult) {
    if out.json() {
        out.json_line(&result.to_json());
    } else {
        human::print_any_result(out, result);
    }
}

/// The last stored sequence number of `job`.
pub async fn last_seq(session: &Session, job: JobId) -> Result<i64, CliError> {
    Ok(session
        .store()
        .events_after(job, 0, u32::MAX)
        .await?
        .last()
        .map(|e| e.seq)
        .unwrap_or(0))
}

/// With `--interactive`, asks whether to approve a job waiting at its approval gate.
pub async fn ask_approval(session: &Session, job: JobId) -> Result<bool, CliError> {
    let state = crate::report::load_job(session.store(), job).await?.state;
    if state != JobState::AwaitingApproval {
        return Ok(false);
    }
    let question = format!("Apply the plan of job {job}? [y/N] ");
    let answer = tokio::task::spawn_blocking(move || crate::prompt::confirm(&question))
        .await
        .unwrap_or(false);
    if answer {
        session.engine.approve(job, &actor()).await?;
    }
    Ok(answer)
}
