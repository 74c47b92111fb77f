//! Persistent storage for onboarding jobs: jobs and their leases, steps (resume checkpoints),
//! progress events, batches, the audit log, encrypted secrets, and the health watch's history
//! and notifications (`health.rs`).
//!
//! One interface, [`Store`], with two backends picked by the URL scheme:
//!
//! * `sqlite://PATH` — the embedded default. The file (and its directory) is created on first
//!   use, WAL journal, `busy_timeout` 5 s, foreign keys on. Writes go through one connection
//!   (multi-statement writes start with `BEGIN IMMEDIATE`), reads through a small pool.
//!   `sqlite::memory:` works too (one connection, for tests).
//! * `postgres://…` / `postgresql://…` — for several replicas sharing one database. Jobs are
//!   claimed with `FOR UPDATE SKIP LOCKED`; lease times come from the database clock.
//!
//! [`Store::open`] applies the backend's embedded migrations (`migrations/sqlite`,
//! `migrations/postgres`; the schema is documented in those files). It is safe to open the
//! same database again, also from several processes at once: PostgreSQL replicas serialise
//! their migrations on an advisory lock, and a SQLite process that loses the race to create
//! the tables retries and finds them applied.
//!
//! # Job life cycle
//!
//! * [`Store::insert_job`] / [`Store::insert_batch`] add `queued` jobs.
//! * [`Store::claim_job`] hands the oldest claimable job to a worker with a lease: a `queued`
//!   job, an `awaiting_approval` job that was [approved](Store::approve), or a `running` job
//!   whose lease expired (its worker crashed). Two workers never get the same job.
//! * The worker calls [`Store::renew_lease`] while it works, then [`Store::finish_job`]
//!   (terminal state) or [`Store::release_job`] (back to `queued`, or to `awaiting_approval` at
//!   an approval gate). Both fail with [`StoreError::LeaseLost`] when the worker no longer
//!   holds the job; a release of a job whose cancel was requested makes it `cancelled`.
//!   A worker *holds* a job while the job is `running` under its `worker_id`: an expired lease
//!   still counts until another worker claims the job.
//! * [`Store::request_cancel`] cancels a `queued` or `awaiting_approval` job at once and flags
//!   a `running` one for its worker. [`Store::requeue`] puts a `failed` or `cancelled` job back
//!   in the queue; its steps (checkpoints) are kept so the engine can resume.
//!
//! # Secrets
//!
//! [`Store::put_secret`] encrypts with the [`Keyring`]'s current key; see [`keyring`] for the
//! cipher, the stored format, the key file and rotation. Secrets never appear in `Debug`,
//! `Display`, errors or logs.

mod common;
mod error;
/// A throwaway PostgreSQL cluster started by tests themselves (feature `testing`); the same
/// harness the store's own tests use.
#[cfg(feature = "testing")]
#[path = "../tests/common/pg.rs"]
pub mod testing;

pub mod keyring;
pub mod notify;
pub mod postgres;
pub mod sqlite;
mod types;

use std::time::Duration;

use prisma_types::SecretString;
use serde_json::Value;

pub use error::StoreError;
pub use keyring::Keyring;
pub use notify::{JobChanges, JobWatch};
pub use types::{
    AuditEntry, AuditRecord, BatchId, BatchSourceRow, BatchSummary, JobEnd, JobId, JobRecord,
    JobState, NewBatch, NewJob, RowProblem, STEP_STATES, StepChange, StepRecord, StepWrite,
    StoredEvent, UnknownJobState,
};

use common::Backend;
use postgres::PgStore;
use sqlite::SqliteStore;

/// The job store. Cheap to clone (the clones share the connection pools).
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// Calls the backend's own method: its SQL differs from the other backend's.
macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            Store::Sqlite(s) => s.$method($($arg),*).await,
            Store::Postgres(s) => s.$method($($arg),*).await,
        }
    };
}

/// Calls the code both backends share ([`common::Backend`]) on the store's pools.
macro_rules! shared {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            Store::Sqlite(s) => <sqlx::Sqlite as Backend>::$method(s.pools(), $($arg),*).await,
            Store::Postgres(s) => <sqlx::Postgres as Backend>::$method(s.pools(), $($arg),*).await,
        }
    };
}

mod health;
pub use health::{DeliveryRecord, HealthCheck, HealthRecord, NewNotification};
mod drift;
pub use drift::{DesiredStateRecord, DriftFinding};

impl Store {
    /// Opens `sqlite://PATH` (created if missing, WAL, busy_timeout 5 s) or `postgres://…`, and
    /// runs the backend's embedded migrations.
    pub async fn open(url: &str, keyring: Keyring) -> Result<Store, StoreError> {
        if url.starts_with("sqlite:") {
            SqliteStore::open(url, keyring).await.map(Store::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            PgStore::open(url, keyring).await.map(Store::Postgres)
        } else {
            // The URL itself is not echoed: it may carry a password.
            Err(StoreError::config(
                "unsupported database URL: expected sqlite://PATH or postgres://…",
            ))
        }
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Inserts a `queued` job. A duplicate id is [`StoreError::Conflict`]; an unknown batch id
    /// is [`StoreError::NotFound`].
    pub async fn insert_job(&self, job: &NewJob) -> Result<(), StoreError> {
        dispatch!(self.insert_job(job))
    }

    /// Inserts the batch and its jobs in one transaction: all or nothing. Each job's `batch_id`
    /// must be `None` or the batch's id; it is stored as the batch's id.
    pub async fn insert_batch(&self, batch: &NewBatch, jobs: &[NewJob]) -> Result<(), StoreError> {
        self.insert_batch_with_rows(batch, jobs, &[]).await
    }

    /// [`Store::insert_batch`], keeping the rows of the batch's source with it (every row: the
    /// ones that became jobs and the skipped ones, with their original numbers), in the same
    /// transaction. A row's `job_id` must be one of `jobs`, each job at most one row, and row
    /// numbers at least 1 and unique (else [`StoreError::Invalid`]).
    pub async fn insert_batch_with_rows(
        &self,
        batch: &NewBatch,
        jobs: &[NewJob],
        rows: &[BatchSourceRow],
    ) -> Result<(), StoreError> {
        check_source_rows(jobs, rows)?;
        if let Some(job) = jobs
            .iter()
            .find(|job| job.batch_id.is_some_and(|id| id != batch.id))
        {
            return Err(StoreError::invalid(format!(
                "job {} names another batch than {}",
                job.id, batch.id
            )));
        }
        dispatch!(self.insert_batch(batch, jobs, rows))
    }

    /// Claims the oldest claimable job for `worker_id`, atomically: it becomes `running` with
    /// `lease_until = now + lease` and one more attempt. Claimable: `queued`; `awaiting_approval`
    /// and approved; `running` with an expired lease. `None` when there is nothing to do.
    pub async fn claim_job(
        &self,
        worker_id: &str,
        lease: Duration,
    ) -> Result<Option<JobRecord>, StoreError> {
        Ok(self.claim_jobs(worker_id, lease, 1).await?.pop())
    }

    /// Claims up to `limit` of the oldest claimable jobs as [`Self::claim_job`] claims one, in
    /// one statement, oldest first. A worker with many free slots fills them at once: one
    /// claim per job queued each behind the writer's other work, and a batch's start ramped
    /// up at about 100 jobs a second (docs/benchmarks.md).
    pub async fn claim_jobs(
        &self,
        worker_id: &str,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<JobRecord>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut jobs = dispatch!(self.claim_jobs(worker_id, lease, limit))?;
        // `RETURNING` keeps no order.
        jobs.sort_by_key(|j| (j.created_at, j.id));
        Ok(jobs)
    }

    /// Extends the lease to `now + lease` (leases are capped at about 100 years). `false` if
    /// the worker does not hold the job (another worker claimed it, or it is no longer running).
    pub async fn renew_lease(
        &self,
        job: JobId,
        worker_id: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        dispatch!(self.renew_lease(job, worker_id, lease))
    }

    /// Gives the job back without finishing it: to `queued` or to `awaiting_approval` (any other
    /// state is [`StoreError::Invalid`]), clearing the lease. A job whose cancel was requested
    /// becomes `cancelled` instead. [`StoreError::LeaseLost`] if the worker does not hold it.
    pub async fn release_job(
        &self,
        job: JobId,
        worker_id: &str,
        state: JobState,
    ) -> Result<(), StoreError> {
        if !matches!(state, JobState::Queued | JobState::AwaitingApproval) {
            return Err(StoreError::invalid(format!(
                "release_job to {state}: only queued or awaiting_approval (use finish_job)"
            )));
        }
        dispatch!(self.release_job(job, worker_id, state))
    }

    /// Finishes the job in a terminal `state` (else [`StoreError::Invalid`]) with its result or
    /// error, clearing the lease. [`StoreError::LeaseLost`] if the worker does not hold it.
    pub async fn finish_job(
        &self,
        job: JobId,
        worker_id: &str,
        state: JobState,
        result: Option<&Value>,
        error: Option<&Value>,
    ) -> Result<(), StoreError> {
        if !state.is_terminal() {
            return Err(StoreError::invalid(format!(
                "finish_job to {state}: only succeeded, failed or cancelled"
            )));
        }
        dispatch!(self.finish_job(job, worker_id, state, result, error))
    }

    /// Takes (or renews) the lease `name` for `holder` for `lease`: `true` when `holder` now
    /// holds it — it was free, expired, or already `holder`'s. For work that is not a job,
    /// which one process at a time may do (one tenant's shared identity's Terraform state).
    pub async fn try_named_lease(
        &self,
        name: &str,
        holder: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        dispatch!(self.try_named_lease(name, holder, lease))
    }

    /// Gives the lease `name` up, if `holder` holds it (`true` then).
    pub async fn release_named_lease(&self, name: &str, holder: &str) -> Result<bool, StoreError> {
        dispatch!(self.release_named_lease(name, holder))
    }

    /// Asks for the job to stop: sets `cancel_requested`; a `queued` or `awaiting_approval` job
    /// becomes `cancelled` at once. `false` if the job is unknown or already finished.
    pub async fn request_cancel(&self, job: JobId) -> Result<bool, StoreError> {
        dispatch!(self.request_cancel(job))
    }

    /// Passes the job's approval gate (an `awaiting_approval` job becomes claimable). `false` if
    /// the job is unknown or already finished.
    pub async fn approve(&self, job: JobId) -> Result<bool, StoreError> {
        dispatch!(self.approve(job))
    }

    /// Puts a `failed` or `cancelled` job back to `queued` (clearing the cancel flag, the lease,
    /// result and error; steps are kept for resume). `false` if the job is in another state.
    pub async fn requeue(&self, job: JobId) -> Result<bool, StoreError> {
        dispatch!(self.requeue(job))
    }

    pub async fn get_job(&self, job: JobId) -> Result<Option<JobRecord>, StoreError> {
        shared!(self.get_job(job))
    }

    /// The newest `limit` jobs, of one batch or of all, newest first.
    pub async fn list_jobs(
        &self,
        batch: Option<BatchId>,
        limit: u32,
    ) -> Result<Vec<JobRecord>, StoreError> {
        shared!(self.list_jobs(batch, limit))
    }

    /// How many jobs are in each state (states without jobs are absent), in one aggregate
    /// query.
    pub async fn count_jobs_by_state(
        &self,
    ) -> Result<std::collections::BTreeMap<JobState, u64>, StoreError> {
        shared!(self.count_jobs_by_state())
    }

    /// Whether any job is queued or running (awaiting approval does not count: it waits for a
    /// person). One indexed lookup, whatever the number of jobs.
    pub async fn any_job_to_run(&self) -> Result<bool, StoreError> {
        shared!(self.any_job_to_run())
    }

    /// The batch with its job counts, or `None` for an unknown batch.
    pub async fn batch_summary(&self, batch: BatchId) -> Result<Option<BatchSummary>, StoreError> {
        shared!(self.batch_summary(batch))
    }

    /// The rows of the batch's source, by row number (empty for a batch submitted without
    /// one, or an unknown batch).
    pub async fn batch_rows(&self, batch: BatchId) -> Result<Vec<BatchSourceRow>, StoreError> {
        shared!(self.batch_rows(batch))
    }

    /// Marks the step `running` (inserting it, or restarting it: `finished_at` is cleared, a
    /// previous `output` checkpoint is kept). [`StoreError::NotFound`] for an unknown job.
    pub async fn step_started(&self, job: JobId, name: &str) -> Result<(), StoreError> {
        let step = StepWrite {
            job,
            name,
            change: StepChange::Started,
        };
        self.record(&[step], &[]).await.map(drop)
    }

    /// Marks the step `succeeded`, `failed` or `skipped` (else [`StoreError::Invalid`]).
    /// `Some(output)` replaces the checkpoint; `None` keeps the previous one.
    pub async fn step_finished(
        &self,
        job: JobId,
        name: &str,
        state: &str,
        output: Option<&Value>,
    ) -> Result<(), StoreError> {
        let step = StepWrite {
            job,
            name,
            change: StepChange::Finished { state, output },
        };
        self.record(&[step], &[]).await.map(drop)
    }

    /// Writes `steps` (in order, as [`Self::step_started`] and [`Self::step_finished`] do)
    /// and appends `events` (as [`Self::append_events`]) in one transaction: all or nothing
    /// (an unknown job among them fails the whole call with [`StoreError::NotFound`]).
    /// Returns the events as stored. What a busy worker's journal uses
    /// (`onboarding_engine::appender`): one commit for every job's pending writes.
    pub async fn record(
        &self,
        steps: &[StepWrite<'_>],
        events: &[(JobId, &Value)],
    ) -> Result<Vec<StoredEvent>, StoreError> {
        for step in steps {
            if let StepChange::Finished { state, .. } = step.change
                && !matches!(state, "succeeded" | "failed" | "skipped")
            {
                return Err(StoreError::invalid(format!(
                    "step state {state:?}: expected succeeded, failed or skipped"
                )));
            }
        }
        if steps.is_empty() && events.is_empty() {
            return Ok(Vec::new());
        }
        dispatch!(self.record(steps, events))
    }

    /// The job's steps in the order they (last) started.
    pub async fn steps(&self, job: JobId) -> Result<Vec<StepRecord>, StoreError> {
        shared!(self.steps(job))
    }

    /// Appends an event with `seq` = the job's previous maximum + 1 (1-based, gapless, atomic
    /// under concurrent appends). [`StoreError::NotFound`] for an unknown job.
    pub async fn append_event(&self, job: JobId, event: &Value) -> Result<StoredEvent, StoreError> {
        let mut stored = self.append_events(&[(job, event)]).await?;
        stored
            .pop()
            .ok_or_else(|| StoreError::not_found(format!("job {job}")))
    }

    /// Appends `events` in order, atomically: all are stored, each with its job's next seq,
    /// or none is (an unknown job among them fails the whole call with
    /// [`StoreError::NotFound`]). One transaction for the lot.
    pub async fn append_events(
        &self,
        events: &[(JobId, &Value)],
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.record(&[], events).await
    }

    /// Up to `limit` events with `seq > after_seq`, in order.
    pub async fn events_after(
        &self,
        job: JobId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        shared!(self.events_after(job, after_seq, limit))
    }

    /// How every job of `batch` ended, or where it is: what a batch's result needs, read
    /// without the requests and results that [`Store::list_jobs`] decodes (for a 6,200-job
    /// batch, 0.25 s of the CLI's end).
    pub async fn batch_job_ends(&self, batch: BatchId) -> Result<Vec<JobEnd>, StoreError> {
        shared!(self.batch_job_ends(batch))
    }

    /// The last stored seq of every job of `batch` that has events (jobs without events are
    /// absent), in one query.
    pub async fn batch_last_seqs(&self, batch: BatchId) -> Result<Vec<(JobId, i64)>, StoreError> {
        shared!(self.batch_last_seqs(batch))
    }

    /// A watch of `job`'s changes (events appended, state changed) by any process on this
    /// database: PostgreSQL's `LISTEN/NOTIFY` (see [`notify`]). On SQLite the watch never fires
    /// and [`JobWatch::pushed`] says so: poll the store there.
    pub async fn watch_job(&self, job: JobId) -> JobWatch {
        match self {
            Store::Sqlite(_) => JobWatch::silent(),
            Store::Postgres(s) => s.watch_job(job).await,
        }
    }

    /// Stores (or replaces) the secret, encrypted under the keyring's current key and bound to
    /// `owner`/`name`.
    pub async fn put_secret(
        &self,
        owner: &str,
        name: &str,
        secret: &SecretString,
    ) -> Result<(), StoreError> {
        self.put_secrets(&[(owner, name, secret)]).await
    }

    /// [`Self::put_secret`] for many `(owner, name, secret)` at once, atomically (a batch's
    /// client secrets: one transaction for the lot).
    pub async fn put_secrets(
        &self,
        secrets: &[(&str, &str, &SecretString)],
    ) -> Result<(), StoreError> {
        dispatch!(self.put_secrets(secrets))
    }

    /// Decrypts the secret with the key named in the stored value. A value that does not
    /// authenticate, or whose key is not in the keyring, is [`StoreError::Crypto`].
    pub async fn get_secret(
        &self,
        owner: &str,
        name: &str,
    ) -> Result<Option<SecretString>, StoreError> {
        shared!(self.get_secret(owner, name))
    }

    /// The names of `owner`'s secrets, sorted by byte order; the values are neither read nor
    /// decrypted.
    pub async fn list_secret_names(&self, owner: &str) -> Result<Vec<String>, StoreError> {
        shared!(self.list_secret_names(owner))
    }

    /// Deletes one secret; `false` if there was none.
    pub async fn delete_secret(&self, owner: &str, name: &str) -> Result<bool, StoreError> {
        shared!(self.delete_secret(owner, name))
    }

    /// Deletes every secret of `owner`; returns how many.
    pub async fn delete_secrets(&self, owner: &str) -> Result<u64, StoreError> {
        shared!(self.delete_secrets(owner))
    }

    /// Re-encrypts every secret not sealed under the keyring's current key; returns how many.
    /// Safe to run while secrets are written: a value replaced meanwhile is left as written.
    pub async fn rotate_secrets(&self) -> Result<u64, StoreError> {
        shared!(self.rotate_secrets())
    }

    pub async fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        dispatch!(self.audit(entry))
    }

    /// The newest `limit` audit records, newest first.
    pub async fn list_audit(&self, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        shared!(self.list_audit(limit))
    }

    /// Closes the connection pools, waiting for connections in use to come back.
    pub async fn close(&self) {
        dispatch!(self.close())
    }
}

/// One embedded migration (`include_str!` of a file under `migrations/`), so that sqlx's
/// `macros` feature (and its `migrate!`) is not needed.
pub(crate) fn migration(
    version: i64,
    name: &'static str,
    sql: &'static str,
) -> sqlx::migrate::Migration {
    use sqlx::SqlSafeStr;
    sqlx::migrate::Migration::new(
        version,
        std::borrow::Cow::Borrowed(name),
        sqlx::migrate::MigrationType::Simple,
        sql.into_sql_str(),
        false,
    )
}

/// Leases are capped at this (about 100 years), which keeps every lease end representable.
pub(crate) const MAX_LEASE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `lease` as a `time::Duration`, capped at [`MAX_LEASE`].
pub(crate) fn lease_duration(lease: Duration) -> time::Duration {
    time::Duration::try_from(lease.min(MAX_LEASE)).unwrap_or(time::Duration::ZERO)
}

/// What [`Store::insert_batch_with_rows`] checks before writing anything.
fn check_source_rows(jobs: &[NewJob], rows: &[BatchSourceRow]) -> Result<(), StoreError> {
    let mut numbers = std::collections::HashSet::new();
    let mut used = std::collections::HashSet::new();
    for row in rows {
        if row.row == 0 || i64::try_from(row.row).is_err() {
            return Err(StoreError::invalid(format!(
                "batch row number {} is out of range",
                row.row
            )));
        }
        if !numbers.insert(row.row) {
            return Err(StoreError::invalid(format!(
                "batch row {} is listed twice",
                row.row
            )));
        }
        if let Some(job) = row.job_id {
            if !jobs.iter().any(|j| j.id == job) {
                return Err(StoreError::invalid(format!(
                    "batch row {} names job {job}, which is not in the batch",
                    row.row
                )));
            }
            if !used.insert(job) {
                return Err(StoreError::invalid(format!(
                    "job {job} is named by two batch rows"
                )));
            }
        }
    }
    Ok(())
}

pub(crate) fn limit(limit: u32) -> i64 {
    i64::from(limit)
}
