//! The PostgreSQL backend, for several replicas sharing one database.
//!
//! * Claims use `FOR UPDATE SKIP LOCKED`, so replicas never block on, nor double-claim, a job.
//! * Lease times and timestamps come from the database clock (`now()`), never a replica's.
//! * Event appends bump `jobs.last_event_seq` and insert the event in one statement: the row
//!   lock serialises appends to one job and keeps `seq` gapless.
//! * Migrations take sqlx's advisory lock, so replicas starting together apply them once.
//!
//! What is the same on SQLite (row mapping, reads, listing, deleting and rotating secrets) is shared
//! through `common.rs`; this file keeps the column types and every statement whose SQL differs
//! (`now()` for timestamps, native booleans, claims, event `seq`).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use prisma_types::SecretString;
use serde_json::Value;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::query::Query;
use sqlx::types::Json;
use sqlx::{Postgres, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::common::{Backend, INSERT_BATCH_ROW, JOB_COLUMNS, Pools, UPSERT_STEP, insert_job_error};
use crate::keyring::Keyring;
use crate::notify::{CHANNEL, Feed, JobWatch, state_payload};
use crate::{
    AuditEntry, BatchId, BatchSourceRow, JobId, JobRecord, JobState, MAX_LEASE, NewBatch, NewJob,
    StepChange, StepWrite, StoreError, StoredEvent, migration,
};

const MAX_CONNECTIONS: u32 = 10;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate::Migrator::with_migrations(vec![
        migration(
            1,
            "init",
            include_str!("../migrations/postgres/0001_init.sql"),
        ),
        migration(
            2,
            "key_fingerprints",
            include_str!("../migrations/postgres/0002_key_fingerprints.sql"),
        ),
        migration(
            3,
            "batch_rows",
            include_str!("../migrations/postgres/0003_batch_rows.sql"),
        ),
        migration(
            4,
            "health",
            include_str!("../migrations/postgres/0004_health.sql"),
        ),
        migration(
            5,
            "named_leases",
            include_str!("../migrations/postgres/0005_named_leases.sql"),
        ),
        migration(
            6,
            "desired_state",
            include_str!("../migrations/postgres/0006_desired_state.sql"),
        ),
    ])
}

/// A store on a PostgreSQL database. Use it through [`crate::Store`].
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    keyring: Arc<Keyring>,
    /// This process's listener for job change notices (`notify.rs`), started on first watch.
    feed: Arc<Feed>,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("keyring", &self.keyring)
            .finish_non_exhaustive()
    }
}

/// The lease in seconds, for `make_interval(secs => …)`.
fn lease_secs(lease: Duration) -> f64 {
    lease.min(MAX_LEASE).as_secs_f64()
}

/// PostgreSQL has native UUID, TIMESTAMPTZ and `TEXT[]` columns.
impl Backend for Postgres {
    type Id = Uuid;

    const RESULT_OUTCOME: &str = "result ->> 'outcome'";

    fn id(id: Uuid) -> Uuid {
        id
    }

    fn get_uuid(row: &PgRow, column: &str) -> Result<Uuid, StoreError> {
        Ok(row.try_get(column)?)
    }

    fn get_opt_uuid(row: &PgRow, column: &str) -> Result<Option<Uuid>, StoreError> {
        Ok(row.try_get(column)?)
    }

    fn get_ts(row: &PgRow, column: &str) -> Result<OffsetDateTime, StoreError> {
        Ok(row.try_get(column)?)
    }

    fn get_opt_ts(row: &PgRow, column: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        Ok(row.try_get(column)?)
    }

    fn get_request_ids(row: &PgRow) -> Result<Vec<String>, StoreError> {
        Ok(row.try_get("prisma_request_ids")?)
    }

    fn reseal_query(
        owner: &str,
        name: &str,
        old: &str,
        new: String,
        key_id: &str,
    ) -> Result<Query<'static, Postgres, PgArguments>, StoreError> {
        Ok(sqlx::query(
            "UPDATE secrets SET value = $3, key_id = $4, updated_at = now() \
             WHERE owner = $1 AND name = $2 AND value = $5",
        )
        .bind(owner)
        .bind(name)
        .bind(new)
        .bind(key_id)
        .bind(old))
    }
}

impl PgStore {
    pub(crate) async fn open(url: &str, keyring: Keyring) -> Result<PgStore, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::config(format!("invalid postgres URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        migrator().run(&pool).await?;
        let pools = Pools {
            reader: &pool,
            writer: &pool,
            keyring: &keyring,
        };
        <Postgres as Backend>::check_master_key(pools).await?;
        tracing::debug!("postgres store opened");
        Ok(PgStore {
            pool,
            keyring: Arc::new(keyring),
            feed: Arc::default(),
        })
    }

    /// The pools the shared code (`common.rs`) runs on: the one pool serves reads and writes.
    pub(crate) fn pools(&self) -> Pools<'_, Postgres> {
        Pools {
            reader: &self.pool,
            writer: &self.pool,
            keyring: &self.keyring,
        }
    }

    pub(crate) async fn insert_job(&self, job: &NewJob) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        insert_job_on(&mut conn, job, job.batch_id).await
    }

    pub(crate) async fn insert_batch(
        &self,
        batch: &NewBatch,
        jobs: &[NewJob],
        rows: &[BatchSourceRow],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO batches (id, label, created_by, created_at) VALUES ($1, $2, $3, now())",
        )
        .bind(batch.id.0)
        .bind(&batch.label)
        .bind(&batch.created_by)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_write(e, &format!("batch {}", batch.id), "batch"))?;
        for job in jobs {
            insert_job_on(&mut tx, job, Some(batch.id)).await?;
        }
        for row in rows {
            sqlx::query(INSERT_BATCH_ROW)
                .bind(batch.id.0)
                .bind(i64::try_from(row.row).unwrap_or(i64::MAX))
                .bind(row.job_id.map(|id| id.0))
                .bind(&row.account_id)
                .bind(&row.name)
                .bind(Json(&row.problems))
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    StoreError::from_write(e, &format!("batch row {}", row.row), "batch")
                })?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn claim_jobs(
        &self,
        worker_id: &str,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<JobRecord>, StoreError> {
        // Not shared with SQLite: replicas claim concurrently, so the SELECT skips rows another
        // claim has locked, and the lease is computed from the database clock.
        let sql = format!(
            "UPDATE jobs SET state = 'running', worker_id = $1, \
                 lease_until = now() + make_interval(secs => $2), \
                 attempts = attempts + 1, updated_at = now() \
             WHERE id IN (SELECT id FROM jobs \
                 WHERE state IN ('queued', 'awaiting_approval', 'running') \
                   AND ((state = 'queued' AND NOT cancel_requested) \
                     OR (state = 'awaiting_approval' AND approved AND NOT cancel_requested) \
                     OR (state = 'running' AND lease_until < now())) \
                 ORDER BY created_at, id LIMIT $3 \
                 FOR UPDATE SKIP LOCKED) \
             RETURNING {JOB_COLUMNS}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(worker_id)
            .bind(lease_secs(lease))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Postgres::job_from_row).collect()
    }

    pub(crate) async fn renew_lease(
        &self,
        job: JobId,
        worker_id: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET lease_until = now() + make_interval(secs => $3), updated_at = now() \
             WHERE id = $1 AND worker_id = $2 AND state = 'running'",
        )
        .bind(job.0)
        .bind(worker_id)
        .bind(lease_secs(lease))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn release_job(
        &self,
        job: JobId,
        worker_id: &str,
        state: JobState,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = CASE WHEN cancel_requested THEN 'cancelled' ELSE $3 END, \
                 worker_id = NULL, lease_until = NULL, updated_at = now() \
             WHERE id = $1 AND worker_id = $2 AND state = 'running'",
        )
        .bind(job.0)
        .bind(worker_id)
        .bind(state.as_str())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            self.notify_state(job).await;
        }
        Postgres::lease_outcome(self.pools(), job, done.rows_affected()).await
    }

    pub(crate) async fn finish_job(
        &self,
        job: JobId,
        worker_id: &str,
        state: JobState,
        result: Option<&Value>,
        error: Option<&Value>,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = $3, result = $4, error = $5, lease_until = NULL, \
                 updated_at = now() \
             WHERE id = $1 AND worker_id = $2 AND state = 'running'",
        )
        .bind(job.0)
        .bind(worker_id)
        .bind(state.as_str())
        .bind(result.map(Json))
        .bind(error.map(Json))
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            self.notify_state(job).await;
        }
        Postgres::lease_outcome(self.pools(), job, done.rows_affected()).await
    }

    pub(crate) async fn try_named_lease(
        &self,
        name: &str,
        holder: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO named_leases (name, holder, expires_at) \
             VALUES ($1, $2, now() + make_interval(secs => $3)) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                 expires_at = excluded.expires_at \
             WHERE named_leases.holder = excluded.holder OR named_leases.expires_at < now()",
        )
        .bind(name)
        .bind(holder)
        .bind(lease_secs(lease))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn release_named_lease(
        &self,
        name: &str,
        holder: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM named_leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn request_cancel(&self, job: JobId) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET cancel_requested = true, \
                 state = CASE WHEN state IN ('queued', 'awaiting_approval') THEN 'cancelled' \
                              ELSE state END, \
                 updated_at = now() \
             WHERE id = $1 AND state IN ('queued', 'running', 'awaiting_approval')",
        )
        .bind(job.0)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            self.notify_state(job).await;
        }
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn approve(&self, job: JobId) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET approved = true, updated_at = now() \
             WHERE id = $1 AND state IN ('queued', 'running', 'awaiting_approval')",
        )
        .bind(job.0)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn requeue(&self, job: JobId) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', cancel_requested = false, worker_id = NULL, \
                 lease_until = NULL, result = NULL, error = NULL, updated_at = now() \
             WHERE id = $1 AND state IN ('failed', 'cancelled')",
        )
        .bind(job.0)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            self.notify_state(job).await;
        }
        Ok(done.rows_affected() == 1)
    }

    /// `steps`, then `events`, in one transaction (in order; a job's appends queue on its
    /// row, as for one event); the events' notices are delivered at the commit.
    pub(crate) async fn record(
        &self,
        steps: &[StepWrite<'_>],
        events: &[(JobId, &Value)],
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut tx = self.pool.begin().await?;
        for step in steps {
            write_step(&mut tx, step).await?;
        }
        let mut stored = Vec::with_capacity(events.len());
        for (job, event) in events {
            stored.push(append_event_on(&mut tx, *job, event).await?);
        }
        tx.commit().await?;
        Ok(stored)
    }

    /// Every secret of `secrets` (`(owner, name, secret)`) in one transaction.
    pub(crate) async fn put_secrets(
        &self,
        secrets: &[(&str, &str, &SecretString)],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for (owner, name, secret) in secrets {
            let value = self.keyring.seal(owner, name, secret.expose())?;
            sqlx::query(
                "INSERT INTO secrets (owner, name, value, key_id, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, now(), now()) \
                 ON CONFLICT (owner, name) DO UPDATE SET \
                     value = excluded.value, key_id = excluded.key_id, \
                     updated_at = excluded.updated_at",
            )
            .bind(*owner)
            .bind(*name)
            .bind(value)
            .bind(self.keyring.current_key_id())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, target, detail, prisma_request_ids) \
             VALUES (now(), $1, $2, $3, $4, $5)",
        )
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.target)
        .bind(Json(&entry.detail))
        .bind(&entry.prisma_request_ids)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Tells other replicas that `job`'s state changed (after the change committed). A notice
    /// that cannot be sent is logged, not an error: the change itself is stored, and readers
    /// still look at the store now and then.
    async fn notify_state(&self, job: JobId) {
        if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)::text")
            .bind(CHANNEL)
            .bind(state_payload(job))
            .execute(&self.pool)
            .await
        {
            tracing::warn!(%job, error = %e, "job change notice not sent");
        }
    }

    /// A watch of `job`'s changes made by any process on this database (`notify.rs`).
    pub(crate) async fn watch_job(&self, job: JobId) -> JobWatch {
        self.feed.watch(&self.pool, job).await
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

async fn insert_job_on(
    conn: &mut sqlx::PgConnection,
    job: &NewJob,
    batch_id: Option<BatchId>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO jobs (id, batch_id, kind, state, request, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, 'queued', $4, $5, now(), now())",
    )
    .bind(job.id.0)
    .bind(batch_id.map(|id| id.0))
    .bind(&job.kind)
    .bind(Json(&job.request))
    .bind(&job.created_by)
    .execute(&mut *conn)
    .await
    .map_err(|e| insert_job_error(e, job, batch_id))?;
    Ok(())
}

/// One step's upsert ([`UPSERT_STEP`]). One statement per step: PostgreSQL refuses an upsert
/// that meets the same row twice, as a batch of a job's started and finished step would.
async fn write_step(conn: &mut sqlx::PgConnection, step: &StepWrite<'_>) -> Result<(), StoreError> {
    let job = step.job;
    let (state, finished, output) = match step.change {
        StepChange::Started => ("running", false, None),
        StepChange::Finished { state, output } => (state, true, output),
    };
    let sql = UPSERT_STEP.replace(
        "{rows}",
        "($1, $2, $3, now(), CASE WHEN $4 THEN now() END, $5)",
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(job.0)
        .bind(step.name)
        .bind(state)
        .bind(finished)
        .bind(output.map(Json))
        .execute(&mut *conn)
        .await
        .map_err(|e| StoreError::from_write(e, "step", &format!("job {job}")))?;
    Ok(())
}

/// One event appended on `conn`. The UPDATE locks the job row until the statement's
/// transaction commits: concurrent appends to the same job queue on it and each sees the
/// previous one's seq. The notice (`<job>:<seq>`, for other replicas' streams) is delivered at
/// the commit.
async fn append_event_on(
    conn: &mut sqlx::PgConnection,
    job: JobId,
    event: &Value,
) -> Result<StoredEvent, StoreError> {
    let row = sqlx::query(
        "WITH bumped AS ( \
             UPDATE jobs SET last_event_seq = last_event_seq + 1 WHERE id = $1 \
             RETURNING id, last_event_seq), \
         inserted AS ( \
             INSERT INTO job_events (job_id, seq, at, event) \
             SELECT id, last_event_seq, now(), $2 FROM bumped \
             RETURNING seq, at) \
         SELECT seq, at, pg_notify($3, $4 || ':' || seq)::text AS notified FROM inserted",
    )
    .bind(job.0)
    .bind(Json(event))
    .bind(CHANNEL)
    .bind(job.to_string())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::not_found(format!("job {job}")))?;
    Ok(StoredEvent {
        job_id: job,
        seq: row.try_get("seq")?,
        at: row.try_get::<OffsetDateTime, _>("at")?,
        event: event.clone(),
    })
}
