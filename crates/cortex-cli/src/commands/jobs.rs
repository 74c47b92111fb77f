//! `azure-cortex jobs list | show | follow | cancel | resume | approve`.
//!
//! `list`, `show` and `follow` read the store only. `resume` and `approve` put the job back in
//! the queue and run it in this process (like `onboard`), unless `--no-wait`; `follow` watches
//! a job that another process runs (`azure-cortex worker`, or another `onboard`).

use std::str::FromStr;
use std::time::Duration;

use cortex_store::{BatchId, JobId, JobRecord, JobState, Store};

use crate::GlobalArgs;
use crate::commands::{actor, follow_job, last_seq, print_result, short};
use crate::exit::{CliError, Exit};
use crate::follow::{Source, follow_while};
use crate::output::json::rfc3339;
use crate::output::{Followed, Out, human};
use crate::report::cortex::any_result;
use crate::report::{load_job, request_summary};
use crate::session::{Session, open_store};

pub const EXAMPLES: &str = "\
Examples:
  azure-cortex jobs list
  azure-cortex jobs list --batch 0190f5c2-7b1e-7c3d-9a4f-5e6d7c8b9a01 --output json
  azure-cortex jobs show 0190f5c2-…
  azure-cortex jobs follow 0190f5c2-…      # a job another process runs
  azure-cortex jobs resume 0190f5c2-…      # after a failure or Ctrl-C: continue here
  azure-cortex jobs approve 0190f5c2-…     # apply a plan made with --require-approval";

#[derive(clap::Subcommand, Debug)]
pub enum JobsCommand {
    /// List jobs, newest first.
    List {
        /// Only the jobs of this batch.
        #[arg(long, value_name = "BATCH_ID")]
        batch: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show a job: state, steps, result or error.
    Show {
        #[arg(value_name = "JOB")]
        job: String,
    },
    /// Print a job's events until it ends (another process runs it).
    Follow {
        #[arg(value_name = "JOB")]
        job: String,
    },
    /// Cancel a job (a running one stops at its worker's next lease renewal).
    Cancel {
        #[arg(value_name = "JOB")]
        job: String,
    },
    /// Continue a failed, cancelled or interrupted job after its last completed step, here.
    Resume {
        #[arg(value_name = "JOB")]
        job: String,
        /// Only queue it again; a worker runs it later.
        #[arg(long)]
        no_wait: bool,
    },
    /// Approve the plan of a job waiting for approval, and apply it here.
    Approve {
        #[arg(value_name = "JOB")]
        job: String,
        /// Only approve; a worker applies it later.
        #[arg(long)]
        no_wait: bool,
    },
}

pub fn parse_job(raw: &str) -> Result<JobId, CliError> {
    JobId::from_str(raw.trim()).map_err(|_| {
        CliError::field(
            "job_id",
            format!(
                "'{}' is not a job ID (a UUID, as `jobs list` shows)",
                raw.chars().take(64).collect::<String>()
            ),
        )
    })
}

pub async fn run(global: &GlobalArgs, out: &Out, command: JobsCommand) -> Result<Exit, CliError> {
    match command {
        JobsCommand::List { batch, limit } => {
            let batch = batch
                .map(|b| {
                    BatchId::from_str(b.trim()).map_err(|_| {
                        CliError::field("batch_id", format!("'{b}' is not a batch ID (a UUID)"))
                    })
                })
                .transpose()?;
            let store = open_store(&global.data_dir, global.database_url.as_deref()).await?;
            let jobs = store.list_jobs(batch, limit).await;
            store.close().await;
            list(out, &jobs?);
            Ok(Exit::Success)
        }
        JobsCommand::Show { job } => {
            let job = parse_job(&job)?;
            let store = open_store(&global.data_dir, global.database_url.as_deref()).await?;
            let shown = show(out, &store, job).await;
            store.close().await;
            shown.map(|()| Exit::Success)
        }
        JobsCommand::Follow { job } => {
            let job = parse_job(&job)?;
            let store = open_store(&global.data_dir, global.database_url.as_deref()).await?;
            let followed = follow(out, &store, job).await;
            store.close().await;
            followed
        }
        JobsCommand::Cancel { job } => {
            let job = parse_job(&job)?;
            let session = Session::open(global).await?;
            let result = cancel(out, &session, job).await;
            session.finish(result).await
        }
        JobsCommand::Resume { job, no_wait } => {
            let job = parse_job(&job)?;
            let session = Session::open(global).await?;
            let result = resume(global, out, &session, job, no_wait).await;
            session.finish(result).await
        }
        JobsCommand::Approve { job, no_wait } => {
            let job = parse_job(&job)?;
            let session = Session::open(global).await?;
            let result = approve(global, out, &session, job, no_wait).await;
            session.finish(result).await
        }
    }
}

fn job_json(job: &JobRecord) -> serde_json::Value {
    let (scope, account_id, name) = request_summary(&job.request);
    serde_json::json!({
        "job_id": job.id.to_string(),
        "batch_id": job.batch_id.map(|b| b.to_string()),
        "state": job.state.as_str(),
        "kind": job.kind,
        "scope": scope,
        "account_id": account_id,
        "name": name,
        "attempts": job.attempts,
        "created_at": rfc3339(job.created_at),
        "updated_at": rfc3339(job.updated_at),
        "error_code": job.error.as_ref().and_then(|e| e["code"].as_str()),
    })
}

fn list(out: &Out, jobs: &[JobRecord]) {
    if out.json() {
        out.json_line(&serde_json::Value::Array(
            jobs.iter().map(job_json).collect(),
        ));
        return;
    }
    if jobs.is_empty() {
        out.line("No jobs.");
        return;
    }
    out.line(&format!(
        "{:<36}  {:<17}  {:<12}  {:<36}  NAME",
        "JOB", "STATE", "SCOPE", "ACCOUNT"
    ));
    for job in jobs {
        let (scope, account, name) = request_summary(&job.request);
        out.line(&format!(
            "{:<36}  {:<17}  {:<12}  {:<36}  {name}",
            job.id,
            job.state.as_str(),
            scope,
            account
        ));
    }
}

async fn show(out: &Out, store: &Store, job: JobId) -> Result<(), CliError> {
    let record = load_job(store, job).await?;
    let steps = store.steps(job).await?;
    if out.json() {
        let mut value = job_json(&record);
        value["type"] = "job".into();
        value["request"] = record.request.clone();
        value["cancel_requested"] = record.cancel_requested.into();
        value["approved"] = record.approved.into();
        value["result"] = record.result.clone().unwrap_or_default();
        value["error"] = record.error.clone().unwrap_or_default();
        value["steps"] = steps
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name,
                    "state": s.state,
                    "started_at": rfc3339(s.started_at),
                    "finished_at": s.finished_at.map(rfc3339),
                })
            })
            .collect();
        out.json_line(&value);
        return Ok(());
    }
    let (scope, account, name) = request_summary(&record.request);
    out.line(&format!("job        {}", record.id));
    if let Some(batch) = record.batch_id {
        out.line(&format!("batch      {batch}"));
    }
    out.line(&format!("state      {}", record.state));
    out.line(&format!("onboarding {scope} {name} ({account})"));
    out.line(&format!(
        "attempts   {} · created {} · updated {}",
        record.attempts,
        rfc3339(record.created_at),
        rfc3339(record.updated_at)
    ));
    if !steps.is_empty() {
        out.line("steps");
        for s in &steps {
            out.line(&format!("  {:<15} {}", s.name, s.state));
        }
    }
    if record.state.is_terminal() || record.state == JobState::AwaitingApproval {
        human::print_any_result(out, &any_result(store, job).await?);
    }
    Ok(())
}

/// Follows a job another process runs, until it ends or waits for approval.
async fn follow(out: &Out, store: &Store, job: JobId) -> Result<Exit, CliError> {
    let record = load_job(store, job).await?;
    if record.state == JobState::Queued && !out.json() {
        out.note("the job is queued: it starts when a worker takes it (`azure-cortex worker`, or `jobs resume` here)");
    }
    let followed = [Followed {
        job,
        label: short(job),
    }];
    let mut sink = out.sink(None);
    let watch = async {
        loop {
            tokio::select! {
                _ = crate::logging::shutdown_signal() => return Ok(true),
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
            let state = load_job(store, job).await?.state;
            if state.is_terminal() || state == JobState::AwaitingApproval {
                return Ok::<bool, CliError>(false);
            }
        }
    };
    let interrupted = follow_while(
        store,
        &followed,
        0,
        Source::Poll(Duration::from_millis(250)),
        None,
        sink.as_mut(),
        watch,
    )
    .await?;
    if interrupted {
        out.note("stopped following; the job goes on");
        return Ok(Exit::Cancelled);
    }
    let result = any_result(store, job).await?;
    print_result(out, &result);
    Ok(result.exit())
}

fn action_json(action: &str, job: JobId, state: JobState) -> serde_json::Value {
    serde_json::json!({
        "type": "job_action",
        "action": action,
        "job_id": job.to_string(),
        "state": state.as_str(),
    })
}

fn refused(job: JobId, state: JobState, what: &str) -> CliError {
    CliError::new(
        Exit::Usage,
        "job_state",
        format!("job {job} is {state}: {what}"),
    )
}

async fn cancel(out: &Out, session: &Session, job: JobId) -> Result<Exit, CliError> {
    let before = load_job(session.store(), job).await?.state;
    if before.is_terminal() {
        return Err(refused(job, before, "nothing to cancel"));
    }
    session.engine.cancel(job, &actor()).await?;
    let after = load_job(session.store(), job).await?.state;
    if out.json() {
        out.json_line(&action_json("cancel", job, after));
    } else if after == JobState::Cancelled {
        out.line(&format!("Cancelled job {job}."));
    } else {
        out.line(&format!(
            "Cancel requested for job {job} ({after}): its worker stops it at the next lease renewal."
        ));
    }
    Ok(Exit::Success)
}

async fn resume(
    global: &GlobalArgs,
    out: &Out,
    session: &Session,
    job: JobId,
    no_wait: bool,
) -> Result<Exit, CliError> {
    let record = load_job(session.store(), job).await?;
    match record.state {
        JobState::Failed | JobState::Cancelled => {
            if !session.engine.resume(job, &actor()).await? {
                return Err(refused(job, record.state, "it could not be queued again"));
            }
        }
        JobState::Queued => {}
        JobState::Running => {
            let lease_alive = record
                .lease_until
                .is_some_and(|t| t > time::OffsetDateTime::now_utc());
            if lease_alive {
                return Err(refused(
                    job,
                    record.state,
                    "another worker runs it; watch it with `azure-cortex jobs follow`",
                ));
            }
        }
        JobState::AwaitingApproval => {
            return Err(refused(
                job,
                record.state,
                "approve it with `azure-cortex jobs approve`",
            ));
        }
        JobState::Succeeded => {
            print_result(out, &any_result(session.store(), job).await?);
            return Ok(Exit::Success);
        }
    }
    if no_wait {
        if out.json() {
            out.json_line(&action_json("resume", job, JobState::Queued));
        } else {
            out.line(&format!("Job {job} is queued again."));
        }
        return Ok(Exit::Success);
    }
    let after = last_seq(session, job).await?;
    follow_job(global, out, session, job, after).await
}

async fn approve(
    global: &GlobalArgs,
    out: &Out,
    session: &Session,
    job: JobId,
    no_wait: bool,
) -> Result<Exit, CliError> {
    let record = load_job(session.store(), job).await?;
    if record.state != JobState::AwaitingApproval {
        return Err(refused(
            job,
            record.state,
            "only a job waiting for approval can be approved",
        ));
    }
    session.engine.approve(job, &actor()).await?;
    if no_wait {
        if out.json() {
            out.json_line(&action_json("approve", job, JobState::AwaitingApproval));
        } else {
            out.line(&format!("Approved job {job}; a worker applies the plan."));
        }
        return Ok(Exit::Success);
    }
    let after = last_seq(session, job).await?;
    follow_job(global, out, session, job, after).await
}
