//! The PostgreSQL backend, for several replicas sharing one database.
//!
//! * Claims use `FOR UPDATE SKIP LOCKED`, so replicas never block on, nor double-claim, a job.
//! * Lease times and timestamps come from the database clock (`now()`), never a replica's.
//! * Event appends bump `jobs.last_event_seq` and insert the event in one statement: the row
//!   lock serialises appends to one job and keeps `seq` gapless.
//! * Migrations take sqlx's advisory lock, so replicas starting together apply them once.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use prisma_types::SecretString;
use serde_json::Value;
use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::keyring::Keyring;
use crate::{
    AuditEntry, AuditRecord, BatchId, BatchSummary, JobId, JobRecord, JobState, MAX_LEASE,
    NewBatch, NewJob, StepRecord, StoreError, StoredEvent, limit, migration,
};

const MAX_CONNECTIONS: u32 = 10;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

const JOB_COLUMNS: &str = "id, batch_id, kind, state, request, result, error, attempts, \
     worker_id, lease_until, cancel_requested, approved, created_by, created_at, updated_at";

fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate::Migrator::with_migrations(vec![migration(
        1,
        "init",
        include_str!("../migrations/postgres/0001_init.sql"),
    )])
}

/// A store on a PostgreSQL database. Use it through [`crate::Store`].
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    keyring: Arc<Keyring>,
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

fn get_state(row: &PgRow) -> Result<JobState, StoreError> {
    row.try_get::<String, _>("state")?
        .parse()
        .map_err(|e| StoreError::decode("state", e))
}

fn get_opt_json(row: &PgRow, column: &str) -> Result<Option<Value>, StoreError> {
    Ok(row.try_get::<Option<Json<Value>>, _>(column)?.map(|j| j.0))
}

fn job_from_row(row: &PgRow) -> Result<JobRecord, StoreError> {
    Ok(JobRecord {
        id: JobId(row.try_get("id")?),
        batch_id: row.try_get::<Option<Uuid>, _>("batch_id")?.map(BatchId),
        kind: row.try_get("kind")?,
        state: get_state(row)?,
        request: row.try_get::<Json<Value>, _>("request")?.0,
        result: get_opt_json(row, "result")?,
        error: get_opt_json(row, "error")?,
        attempts: row.try_get("attempts")?,
        worker_id: row.try_get("worker_id")?,
        lease_until: row.try_get("lease_until")?,
        cancel_requested: row.try_get("cancel_requested")?,
        approved: row.try_get("approved")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
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
        tracing::debug!("postgres store opened");
        Ok(PgStore {
            pool,
            keyring: Arc::new(keyring),
        })
    }

    pub(crate) async fn insert_job(&self, job: &NewJob) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        insert_job_on(&mut conn, job, job.batch_id).await
    }

    pub(crate) async fn insert_batch(
        &self,
        batch: &NewBatch,
        jobs: &[NewJob],
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
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn claim_job(
        &self,
        worker_id: &str,
        lease: Duration,
    ) -> Result<Option<JobRecord>, StoreError> {
        let sql = format!(
            "UPDATE jobs SET state = 'running', worker_id = $1, \
                 lease_until = now() + make_interval(secs => $2), \
                 attempts = attempts + 1, updated_at = now() \
             WHERE id = (SELECT id FROM jobs \
                 WHERE state IN ('queued', 'awaiting_approval', 'running') \
                   AND ((state = 'queued' AND NOT cancel_requested) \
                     OR (state = 'awaiting_approval' AND approved AND NOT cancel_requested) \
                     OR (state = 'running' AND lease_until < now())) \
                 ORDER BY created_at, id LIMIT 1 \
                 FOR UPDATE SKIP LOCKED) \
             RETURNING {JOB_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(worker_id)
            .bind(lease_secs(lease))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(job_from_row).transpose()
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
        self.lease_outcome(job, done.rows_affected()).await
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
        self.lease_outcome(job, done.rows_affected()).await
    }

    /// After a lease-guarded update: `LeaseLost` if the job exists, else `NotFound`.
    async fn lease_outcome(&self, job: JobId, rows: u64) -> Result<(), StoreError> {
        if rows == 1 {
            return Ok(());
        }
        let exists = sqlx::query("SELECT 1 FROM jobs WHERE id = $1")
            .bind(job.0)
            .fetch_optional(&self.pool)
            .await?
            .is_some();
        Err(if exists {
            StoreError::LeaseLost { job }
        } else {
            StoreError::not_found(format!("job {job}"))
        })
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
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn get_job(&self, job: JobId) -> Result<Option<JobRecord>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(job.0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    pub(crate) async fn list_jobs(
        &self,
        batch: Option<BatchId>,
        max: u32,
    ) -> Result<Vec<JobRecord>, StoreError> {
        let rows = match batch {
            Some(batch) => {
                let sql = format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE batch_id = $1 \
                     ORDER BY created_at DESC, id DESC LIMIT $2"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(batch.0)
                    .bind(limit(max))
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                let sql = format!(
                    "SELECT {JOB_COLUMNS} FROM jobs ORDER BY created_at DESC, id DESC LIMIT $1"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(limit(max))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(job_from_row).collect()
    }

    pub(crate) async fn batch_summary(
        &self,
        batch: BatchId,
    ) -> Result<Option<BatchSummary>, StoreError> {
        // One statement, so the batch and its counts come from one snapshot.
        let rows = sqlx::query(
            "SELECT b.id, b.label, b.created_by, b.created_at, j.state, COUNT(j.id) AS n \
             FROM batches b LEFT JOIN jobs j ON j.batch_id = b.id \
             WHERE b.id = $1 \
             GROUP BY b.id, b.label, b.created_by, b.created_at, j.state",
        )
        .bind(batch.0)
        .fetch_all(&self.pool)
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let mut summary = BatchSummary {
            id: BatchId(first.try_get("id")?),
            label: first.try_get("label")?,
            created_by: first.try_get("created_by")?,
            total: 0,
            by_state: Default::default(),
            created_at: first.try_get("created_at")?,
        };
        for row in &rows {
            let Some(state) = row.try_get::<Option<String>, _>("state")? else {
                continue;
            };
            let state: JobState = state.parse().map_err(|e| StoreError::decode("state", e))?;
            let n = u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0);
            summary.total += n;
            summary.by_state.insert(state, n);
        }
        Ok(Some(summary))
    }

    pub(crate) async fn step_started(&self, job: JobId, name: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO job_steps (job_id, name, state, started_at) \
             VALUES ($1, $2, 'running', now()) \
             ON CONFLICT (job_id, name) DO UPDATE SET \
                 state = 'running', started_at = excluded.started_at, finished_at = NULL",
        )
        .bind(job.0)
        .bind(name)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::from_write(e, "step", &format!("job {job}")))?;
        Ok(())
    }

    pub(crate) async fn step_finished(
        &self,
        job: JobId,
        name: &str,
        state: &str,
        output: Option<&Value>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO job_steps (job_id, name, state, started_at, finished_at, output) \
             VALUES ($1, $2, $3, now(), now(), $4) \
             ON CONFLICT (job_id, name) DO UPDATE SET \
                 state = excluded.state, finished_at = excluded.finished_at, \
                 output = COALESCE(excluded.output, job_steps.output)",
        )
        .bind(job.0)
        .bind(name)
        .bind(state)
        .bind(output.map(Json))
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::from_write(e, "step", &format!("job {job}")))?;
        Ok(())
    }

    pub(crate) async fn steps(&self, job: JobId) -> Result<Vec<StepRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, state, started_at, finished_at, output FROM job_steps \
             WHERE job_id = $1 ORDER BY started_at, name",
        )
        .bind(job.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StepRecord {
                    job_id: job,
                    name: row.try_get("name")?,
                    state: row.try_get("state")?,
                    started_at: row.try_get("started_at")?,
                    finished_at: row.try_get("finished_at")?,
                    output: get_opt_json(row, "output")?,
                })
            })
            .collect()
    }

    pub(crate) async fn append_event(
        &self,
        job: JobId,
        event: &Value,
    ) -> Result<StoredEvent, StoreError> {
        // The UPDATE locks the job row until the statement commits: concurrent appends to the
        // same job queue on it and each sees the previous one's seq.
        let row = sqlx::query(
            "WITH bumped AS ( \
                 UPDATE jobs SET last_event_seq = last_event_seq + 1 WHERE id = $1 \
                 RETURNING id, last_event_seq) \
             INSERT INTO job_events (job_id, seq, at, event) \
             SELECT id, last_event_seq, now(), $2 FROM bumped \
             RETURNING seq, at",
        )
        .bind(job.0)
        .bind(Json(event))
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::not_found(format!("job {job}")))?;
        Ok(StoredEvent {
            job_id: job,
            seq: row.try_get("seq")?,
            at: row.try_get::<OffsetDateTime, _>("at")?,
            event: event.clone(),
        })
    }

    pub(crate) async fn events_after(
        &self,
        job: JobId,
        after_seq: i64,
        max: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, event FROM job_events WHERE job_id = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3",
        )
        .bind(job.0)
        .bind(after_seq)
        .bind(limit(max))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredEvent {
                    job_id: job,
                    seq: row.try_get("seq")?,
                    at: row.try_get("at")?,
                    event: row.try_get::<Json<Value>, _>("event")?.0,
                })
            })
            .collect()
    }

    pub(crate) async fn put_secret(
        &self,
        owner: &str,
        name: &str,
        secret: &SecretString,
    ) -> Result<(), StoreError> {
        let value = self.keyring.seal(owner, name, secret.expose())?;
        sqlx::query(
            "INSERT INTO secrets (owner, name, value, key_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, now(), now()) \
             ON CONFLICT (owner, name) DO UPDATE SET \
                 value = excluded.value, key_id = excluded.key_id, updated_at = excluded.updated_at",
        )
        .bind(owner)
        .bind(name)
        .bind(value)
        .bind(self.keyring.current_key_id())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn get_secret(
        &self,
        owner: &str,
        name: &str,
    ) -> Result<Option<SecretString>, StoreError> {
        let value: Option<String> =
            sqlx::query_scalar("SELECT value FROM secrets WHERE owner = $1 AND name = $2")
                .bind(owner)
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        value
            .map(|value| self.keyring.open(owner, name, &value))
            .transpose()
    }

    pub(crate) async fn delete_secrets(&self, owner: &str) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM secrets WHERE owner = $1")
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn rotate_secrets(&self) -> Result<u64, StoreError> {
        let current = self.keyring.current_key_id();
        let rows = sqlx::query("SELECT owner, name, value FROM secrets WHERE key_id <> $1")
            .bind(current)
            .fetch_all(&self.pool)
            .await?;
        let mut rotated = 0;
        for row in &rows {
            let owner: String = row.try_get("owner")?;
            let name: String = row.try_get("name")?;
            let old: String = row.try_get("value")?;
            if Keyring::key_id_of(&old) == Some(current) {
                continue;
            }
            let secret = self.keyring.open(&owner, &name, &old)?;
            let new = self.keyring.seal(&owner, &name, secret.expose())?;
            // Compare-and-swap: a value written meanwhile is already under the current key.
            let done = sqlx::query(
                "UPDATE secrets SET value = $3, key_id = $4, updated_at = now() \
                 WHERE owner = $1 AND name = $2 AND value = $5",
            )
            .bind(&owner)
            .bind(&name)
            .bind(new)
            .bind(current)
            .bind(&old)
            .execute(&self.pool)
            .await?;
            rotated += done.rows_affected();
        }
        if rotated > 0 {
            tracing::info!(rotated, key_id = %current, "secrets re-encrypted under the current key");
        }
        Ok(rotated)
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

    pub(crate) async fn list_audit(&self, max: u32) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, target, detail, prisma_request_ids FROM audit_log \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(limit(max))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditRecord {
                    id: row.try_get("id")?,
                    at: row.try_get("at")?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    target: row.try_get("target")?,
                    detail: row.try_get::<Json<Value>, _>("detail")?.0,
                    prisma_request_ids: row.try_get("prisma_request_ids")?,
                })
            })
            .collect()
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
    .map_err(|e| {
        let batch = batch_id.map_or_else(|| "batch".to_owned(), |id| format!("batch {id}"));
        StoreError::from_write(e, &format!("job {}", job.id), &batch)
    })?;
    Ok(())
}
