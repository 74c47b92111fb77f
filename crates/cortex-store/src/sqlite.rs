//! The SQLite backend (embedded default).
//!
//! One writer connection serialises this process's writes (multi-statement writes use
//! `BEGIN IMMEDIATE`); a small pool serves reads, which WAL lets run beside the writer. Other
//! processes on the same file wait up to the 5 s `busy_timeout`. Every write is a single
//! atomic statement or an immediate transaction, so claims and event appends stay atomic even
//! across processes: SQLite has no `SKIP LOCKED`, so a claim is one
//! `UPDATE … WHERE id = (SELECT … LIMIT 1) RETURNING …`.
//!
//! Ids are stored as hyphenated TEXT, timestamps as fixed-width UTC TEXT (see the migration).
//! `synchronous = NORMAL`, the usual choice with WAL: a power cut may lose the last commits but
//! never corrupts the file. Timestamps come from this host's clock.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use prisma_types::SecretString;
use serde_json::Value;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::types::Json;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};
use uuid::Uuid;

use crate::keyring::Keyring;
use crate::{
    AuditEntry, AuditRecord, BatchId, BatchSummary, JobId, JobRecord, JobState, NewBatch, NewJob,
    StepRecord, StoreError, StoredEvent, lease_duration, limit, migration,
};

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const READ_CONNECTIONS: u32 = 4;
const MIGRATE_RETRIES: u32 = 5;

const JOB_COLUMNS: &str = "id, batch_id, kind, state, request, result, error, attempts, \
     worker_id, lease_until, cancel_requested, approved, created_by, created_at, updated_at";

const TIMESTAMP: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate::Migrator::with_migrations(vec![migration(
        1,
        "init",
        include_str!("../migrations/sqlite/0001_init.sql"),
    )])
}

/// A store on a SQLite file. Use it through [`crate::Store`].
#[derive(Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    keyring: Arc<Keyring>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("keyring", &self.keyring)
            .finish_non_exhaustive()
    }
}

/// Now, in UTC, truncated to the microseconds that are stored.
fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap_or(now)
}

fn ts(at: OffsetDateTime) -> Result<String, StoreError> {
    at.to_offset(time::UtcOffset::UTC)
        .format(TIMESTAMP)
        .map_err(|e| StoreError::invalid(format!("timestamp out of range: {e}")))
}

fn parse_ts(column: &str, text: &str) -> Result<OffsetDateTime, StoreError> {
    PrimitiveDateTime::parse(text, TIMESTAMP)
        .map(PrimitiveDateTime::assume_utc)
        .map_err(|e| StoreError::decode(column, e))
}

fn get_ts(row: &SqliteRow, column: &str) -> Result<OffsetDateTime, StoreError> {
    parse_ts(column, &row.try_get::<String, _>(column)?)
}

fn get_opt_ts(row: &SqliteRow, column: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    row.try_get::<Option<String>, _>(column)?
        .map(|text| parse_ts(column, &text))
        .transpose()
}

fn get_uuid(row: &SqliteRow, column: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(&row.try_get::<String, _>(column)?).map_err(|e| StoreError::decode(column, e))
}

fn get_opt_uuid(row: &SqliteRow, column: &str) -> Result<Option<Uuid>, StoreError> {
    row.try_get::<Option<String>, _>(column)?
        .map(|text| Uuid::parse_str(&text).map_err(|e| StoreError::decode(column, e)))
        .transpose()
}

fn get_json(row: &SqliteRow, column: &str) -> Result<Value, StoreError> {
    Ok(row.try_get::<Json<Value>, _>(column)?.0)
}

fn get_opt_json(row: &SqliteRow, column: &str) -> Result<Option<Value>, StoreError> {
    Ok(row.try_get::<Option<Json<Value>>, _>(column)?.map(|j| j.0))
}

fn get_state(row: &SqliteRow) -> Result<JobState, StoreError> {
    row.try_get::<String, _>("state")?
        .parse()
        .map_err(|e| StoreError::decode("state", e))
}

fn job_from_row(row: &SqliteRow) -> Result<JobRecord, StoreError> {
    Ok(JobRecord {
        id: JobId(get_uuid(row, "id")?),
        batch_id: get_opt_uuid(row, "batch_id")?.map(BatchId),
        kind: row.try_get("kind")?,
        state: get_state(row)?,
        request: get_json(row, "request")?,
        result: get_opt_json(row, "result")?,
        error: get_opt_json(row, "error")?,
        attempts: row.try_get("attempts")?,
        worker_id: row.try_get("worker_id")?,
        lease_until: get_opt_ts(row, "lease_until")?,
        cancel_requested: row.try_get("cancel_requested")?,
        approved: row.try_get("approved")?,
        created_by: row.try_get("created_by")?,
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

fn id_text(id: uuid::Uuid) -> String {
    id.hyphenated().to_string()
}

impl SqliteStore {
    pub(crate) async fn open(url: &str, keyring: Keyring) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::config(format!("invalid sqlite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if !in_memory {
            let path = options.get_filename();
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                create_dir(dir)?;
            }
        }
        let writer_options = SqlitePoolOptions::new().max_connections(1);
        let (writer, reader) = if in_memory {
            // The database lives as long as its one connection.
            let pool = writer_options
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await?;
            (pool.clone(), pool)
        } else {
            let writer = writer_options.connect_with(options.clone()).await?;
            let reader = SqlitePoolOptions::new()
                .max_connections(READ_CONNECTIONS)
                .connect_with(options)
                .await?;
            (writer, reader)
        };
        migrate(&writer).await?;
        tracing::debug!(
            path = %Path::new(url.trim_start_matches("sqlite:")).display(),
            "sqlite store opened"
        );
        Ok(SqliteStore {
            writer,
            reader,
            keyring: Arc::new(keyring),
        })
    }

    pub(crate) async fn insert_job(&self, job: &NewJob) -> Result<(), StoreError> {
        let mut conn = self.writer.acquire().await?;
        insert_job_on(&mut conn, job, job.batch_id, &ts(now())?).await
    }

    pub(crate) async fn insert_batch(
        &self,
        batch: &NewBatch,
        jobs: &[NewJob],
    ) -> Result<(), StoreError> {
        let at = ts(now())?;
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT INTO batches (id, label, created_by, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id_text(batch.id.0))
        .bind(&batch.label)
        .bind(&batch.created_by)
        .bind(&at)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_write(e, &format!("batch {}", batch.id), "batch"))?;
        for job in jobs {
            insert_job_on(&mut tx, job, Some(batch.id), &at).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn claim_job(
        &self,
        worker_id: &str,
        lease: Duration,
    ) -> Result<Option<JobRecord>, StoreError> {
        let now = now();
        let sql = format!(
            "UPDATE jobs SET state = 'running', worker_id = $1, lease_until = $2, \
                 attempts = attempts + 1, updated_at = $3 \
             WHERE id = (SELECT id FROM jobs \
                 WHERE (state = 'queued' AND cancel_requested = 0) \
                    OR (state = 'awaiting_approval' AND approved = 1 AND cancel_requested = 0) \
                    OR (state = 'running' AND lease_until < $3) \
                 ORDER BY created_at, id LIMIT 1) \
             RETURNING {JOB_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(worker_id)
            .bind(ts(now + lease_duration(lease))?)
            .bind(ts(now)?)
            .fetch_optional(&self.writer)
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    pub(crate) async fn renew_lease(
        &self,
        job: JobId,
        worker_id: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let now = now();
        let done = sqlx::query(
            "UPDATE jobs SET lease_until = $3, updated_at = $4 \
             WHERE id = $1 AND worker_id = $2 AND state = 'running'",
        )
        .bind(id_text(job.0))
        .bind(worker_id)
        .bind(ts(now + lease_duration(lease))?)
        .bind(ts(now)?)
        .execute(&self.writer)
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
            "UPDATE jobs SET state = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE $3 END, \
                 worker_id = NULL, lease_until = NULL, updated_at = $4 \
             WHERE id = $1 AND worker_id = $2 AND state = 'running'",
        )
        .bind(id_text(job.0))
        .bind(worker_id)
        .bind(state.as_str())
        .bind(ts(now())?)
        .execute(&self.writer)
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
                 updated_at = $6 \
             WHERE id = $1 AND worker_id = $2 AND state = 'running'",
        )
        .bind(id_text(job.0))
        .bind(worker_id)
        .bind(state.as_str())
        .bind(result.map(Json))
        .bind(error.map(Json))
        .bind(ts(now())?)
        .execute(&self.writer)
        .await?;
        self.lease_outcome(job, done.rows_affected()).await
    }

    /// After a lease-guarded update: `LeaseLost` if the job exists, else `NotFound`.
    async fn lease_outcome(&self, job: JobId, rows: u64) -> Result<(), StoreError> {
        if rows == 1 {
            return Ok(());
        }
        let exists = sqlx::query("SELECT 1 FROM jobs WHERE id = $1")
            .bind(id_text(job.0))
            .fetch_optional(&self.writer)
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
            "UPDATE jobs SET cancel_requested = 1, \
                 state = CASE WHEN state IN ('queued', 'awaiting_approval') THEN 'cancelled' \
                              ELSE state END, \
                 updated_at = $2 \
             WHERE id = $1 AND state IN ('queued', 'running', 'awaiting_approval')",
        )
        .bind(id_text(job.0))
        .bind(ts(now())?)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn approve(&self, job: JobId) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET approved = 1, updated_at = $2 \
             WHERE id = $1 AND state IN ('queued', 'running', 'awaiting_approval')",
        )
        .bind(id_text(job.0))
        .bind(ts(now())?)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn requeue(&self, job: JobId) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', cancel_requested = 0, worker_id = NULL, \
                 lease_until = NULL, result = NULL, error = NULL, updated_at = $2 \
             WHERE id = $1 AND state IN ('failed', 'cancelled')",
        )
        .bind(id_text(job.0))
        .bind(ts(now())?)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn get_job(&self, job: JobId) -> Result<Option<JobRecord>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id_text(job.0))
            .fetch_optional(&self.reader)
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
                    .bind(id_text(batch.0))
                    .bind(limit(max))
                    .fetch_all(&self.reader)
                    .await?
            }
            None => {
                let sql = format!(
                    "SELECT {JOB_COLUMNS} FROM jobs ORDER BY created_at DESC, id DESC LIMIT $1"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(limit(max))
                    .fetch_all(&self.reader)
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
        .bind(id_text(batch.0))
        .fetch_all(&self.reader)
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let mut summary = BatchSummary {
            id: BatchId(get_uuid(first, "id")?),
            label: first.try_get("label")?,
            created_by: first.try_get("created_by")?,
            total: 0,
            by_state: Default::default(),
            created_at: get_ts(first, "created_at")?,
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
            "INSERT INTO job_steps (job_id, name, state, started_at) VALUES ($1, $2, 'running', $3) \
             ON CONFLICT (job_id, name) DO UPDATE SET \
                 state = 'running', started_at = excluded.started_at, finished_at = NULL",
        )
        .bind(id_text(job.0))
        .bind(name)
        .bind(ts(now())?)
        .execute(&self.writer)
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
             VALUES ($1, $2, $3, $4, $4, $5) \
             ON CONFLICT (job_id, name) DO UPDATE SET \
                 state = excluded.state, finished_at = excluded.finished_at, \
                 output = COALESCE(excluded.output, job_steps.output)",
        )
        .bind(id_text(job.0))
        .bind(name)
        .bind(state)
        .bind(ts(now())?)
        .bind(output.map(Json))
        .execute(&self.writer)
        .await
        .map_err(|e| StoreError::from_write(e, "step", &format!("job {job}")))?;
        Ok(())
    }

    pub(crate) async fn steps(&self, job: JobId) -> Result<Vec<StepRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, state, started_at, finished_at, output FROM job_steps \
             WHERE job_id = $1 ORDER BY started_at, name",
        )
        .bind(id_text(job.0))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StepRecord {
                    job_id: job,
                    name: row.try_get("name")?,
                    state: row.try_get("state")?,
                    started_at: get_ts(row, "started_at")?,
                    finished_at: get_opt_ts(row, "finished_at")?,
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
        let at = now();
        // A write statement takes SQLite's write lock before it reads, so MAX + 1 is atomic
        // even against other processes.
        let seq: Option<i64> = sqlx::query_scalar(
            "INSERT INTO job_events (job_id, seq, at, event) \
             SELECT j.id, \
                    COALESCE((SELECT MAX(e.seq) FROM job_events e WHERE e.job_id = j.id), 0) + 1, \
                    $2, $3 \
             FROM jobs j WHERE j.id = $1 \
             RETURNING seq",
        )
        .bind(id_text(job.0))
        .bind(ts(at)?)
        .bind(Json(event))
        .fetch_optional(&self.writer)
        .await?;
        let seq = seq.ok_or_else(|| StoreError::not_found(format!("job {job}")))?;
        Ok(StoredEvent {
            job_id: job,
            seq,
            at,
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
        .bind(id_text(job.0))
        .bind(after_seq)
        .bind(limit(max))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredEvent {
                    job_id: job,
                    seq: row.try_get("seq")?,
                    at: get_ts(row, "at")?,
                    event: get_json(row, "event")?,
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
             VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (owner, name) DO UPDATE SET \
                 value = excluded.value, key_id = excluded.key_id, updated_at = excluded.updated_at",
        )
        .bind(owner)
        .bind(name)
        .bind(value)
        .bind(self.keyring.current_key_id())
        .bind(ts(now())?)
        .execute(&self.writer)
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
                .fetch_optional(&self.reader)
                .await?;
        value
            .map(|value| self.keyring.open(owner, name, &value))
            .transpose()
    }

    pub(crate) async fn delete_secrets(&self, owner: &str) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM secrets WHERE owner = $1")
            .bind(owner)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn rotate_secrets(&self) -> Result<u64, StoreError> {
        let current = self.keyring.current_key_id();
        let rows = sqlx::query("SELECT owner, name, value FROM secrets WHERE key_id <> $1")
            .bind(current)
            .fetch_all(&self.reader)
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
                "UPDATE secrets SET value = $3, key_id = $4, updated_at = $5 \
                 WHERE owner = $1 AND name = $2 AND value = $6",
            )
            .bind(&owner)
            .bind(&name)
            .bind(new)
            .bind(current)
            .bind(ts(now())?)
            .bind(&old)
            .execute(&self.writer)
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
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(ts(now())?)
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.target)
        .bind(Json(&entry.detail))
        .bind(Json(&entry.prisma_request_ids))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    pub(crate) async fn list_audit(&self, max: u32) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, target, detail, prisma_request_ids FROM audit_log \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(limit(max))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditRecord {
                    id: row.try_get("id")?,
                    at: get_ts(row, "at")?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    target: row.try_get("target")?,
                    detail: get_json(row, "detail")?,
                    prisma_request_ids: row
                        .try_get::<Json<Vec<String>>, _>("prisma_request_ids")?
                        .0,
                })
            })
            .collect()
    }

    pub(crate) async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

/// Runs the migrations. SQLite has no advisory lock: when several processes create the same
/// new file at once, the losers fail on "table already exists" (their transaction rolls back)
/// and, on retry, find the migrations applied.
async fn migrate(writer: &SqlitePool) -> Result<(), StoreError> {
    let mut attempt = 0;
    loop {
        match migrator().run(writer).await {
            Ok(()) => return Ok(()),
            Err(sqlx::migrate::MigrateError::ExecuteMigration(..)) if attempt < MIGRATE_RETRIES => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

async fn insert_job_on(
    conn: &mut sqlx::SqliteConnection,
    job: &NewJob,
    batch_id: Option<BatchId>,
    at: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO jobs (id, batch_id, kind, state, request, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, 'queued', $4, $5, $6, $6)",
    )
    .bind(id_text(job.id.0))
    .bind(batch_id.map(|id| id_text(id.0)))
    .bind(&job.kind)
    .bind(Json(&job.request))
    .bind(&job.created_by)
    .bind(at)
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        let batch = batch_id.map_or_else(|| "batch".to_owned(), |id| format!("batch {id}"));
        StoreError::from_write(e, &format!("job {}", job.id), &batch)
    })?;
    Ok(())
}

fn create_dir(dir: &Path) -> Result<(), StoreError> {
    if dir.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        StoreError::config(format!(
            "cannot create the database directory {}: {e}",
            dir.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_fixed_width_and_round_trip() {
        let t = now();
        let text = ts(t).unwrap();
        assert_eq!(text.len(), "2026-11-22T10:15:00.000000Z".len(), "{text}");
        assert_eq!(parse_ts("at", &text).unwrap(), t);
        let whole = time::macros::datetime!(2026-11-22 10:15:00 UTC);
        assert_eq!(ts(whole).unwrap(), "2026-11-22T10:15:00.000000Z");
        // Text order is time order.
        let later = whole + time::Duration::microseconds(1);
        assert!(ts(later).unwrap() > ts(whole).unwrap());
        let offset = whole.to_offset(time::macros::offset!(+2));
        assert_eq!(ts(offset).unwrap(), "2026-11-22T10:15:00.000000Z");
    }
}
