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
//!
//! What is the same on PostgreSQL (row mapping, reads, listing, deleting and rotating secrets) is shared
//! through `common.rs`; this file keeps the column types and every statement whose SQL differs
//! (timestamps bound from this host's clock, booleans as 0/1, claims, event `seq`).

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use prisma_types::SecretString;
use serde_json::Value;
use sqlx::query::Query;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::types::Json;
use sqlx::{Row, Sqlite};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};
use uuid::Uuid;

use crate::common::{Backend, INSERT_BATCH_ROW, JOB_COLUMNS, Pools, UPSERT_STEP, insert_job_error};
use crate::keyring::Keyring;
use crate::{
    AuditEntry, BatchId, BatchSourceRow, JobId, JobRecord, JobState, NewBatch, NewJob, StepChange,
    StepWrite, StoreError, StoredEvent, lease_duration, migration,
};

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const READ_CONNECTIONS: u32 = 4;
/// Tries of a first open (and of a migration inside it) that another process's first open
/// of the same new file got in the way of.
const OPEN_RETRIES: u32 = 5;

const TIMESTAMP: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate::Migrator::with_migrations(vec![
        migration(
            1,
            "init",
            include_str!("../migrations/sqlite/0001_init.sql"),
        ),
        migration(
            2,
            "key_fingerprints",
            include_str!("../migrations/sqlite/0002_key_fingerprints.sql"),
        ),
        migration(
            3,
            "batch_rows",
            include_str!("../migrations/sqlite/0003_batch_rows.sql"),
        ),
        migration(
            4,
            "health",
            include_str!("../migrations/sqlite/0004_health.sql"),
        ),
        migration(
            5,
            "named_leases",
            include_str!("../migrations/sqlite/0005_named_leases.sql"),
        ),
        migration(
            6,
            "desired_state",
            include_str!("../migrations/sqlite/0006_desired_state.sql"),
        ),
    ])
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

fn id_text(id: Uuid) -> String {
    id.hyphenated().to_string()
}

fn parse_uuid(column: &str, text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|e| StoreError::decode(column, e))
}

/// SQLite stores ids, timestamps and the request-id list as TEXT.
impl Backend for Sqlite {
    type Id = String;

    const RESULT_OUTCOME: &str = "json_extract(result, '$.outcome')";

    fn id(id: Uuid) -> String {
        id_text(id)
    }

    fn get_uuid(row: &SqliteRow, column: &str) -> Result<Uuid, StoreError> {
        parse_uuid(column, &row.try_get::<String, _>(column)?)
    }

    fn get_opt_uuid(row: &SqliteRow, column: &str) -> Result<Option<Uuid>, StoreError> {
        row.try_get::<Option<String>, _>(column)?
            .map(|text| parse_uuid(column, &text))
            .transpose()
    }

    fn get_ts(row: &SqliteRow, column: &str) -> Result<OffsetDateTime, StoreError> {
        parse_ts(column, &row.try_get::<String, _>(column)?)
    }

    fn get_opt_ts(row: &SqliteRow, column: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        row.try_get::<Option<String>, _>(column)?
            .map(|text| parse_ts(column, &text))
            .transpose()
    }

    fn get_request_ids(row: &SqliteRow) -> Result<Vec<String>, StoreError> {
        Ok(row.try_get::<Json<Vec<String>>, _>("prisma_request_ids")?.0)
    }

    fn reseal_query(
        owner: &str,
        name: &str,
        old: &str,
        new: String,
        key_id: &str,
    ) -> Result<Query<'static, Sqlite, SqliteArguments>, StoreError> {
        Ok(sqlx::query(
            "UPDATE secrets SET value = $3, key_id = $4, updated_at = $5 \
             WHERE owner = $1 AND name = $2 AND value = $6",
        )
        .bind(owner)
        .bind(name)
        .bind(new)
        .bind(key_id)
        .bind(ts(now())?)
        .bind(old))
    }
}

/// Bound parameters per statement: SQLite's limit is 32,766 since 3.32; batches stay well
/// under it.
const MAX_BIND: usize = 4_000;

/// `n` copies of `row` (a row of a multi-row `VALUES`, or one item of an `IN` list), joined by
/// commas. Its placeholders must be anonymous `?`: sqlx binds a numbered or named one (`$7`,
/// `?7`) by asking SQLite its name, which SQLite finds by walking the statement's parameter
/// list, so binding a statement of n such parameters took O(n²) — about 30 µs a row of a
/// 666-row insert, more than SQLite's own work. Anonymous ones bind in order; a value used
/// twice in a row is bound twice.
fn value_rows(n: usize, row: &str) -> String {
    let mut sql = String::with_capacity(n * (row.len() + 2));
    for i in 0..n {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(row);
    }
    sql
}

/// The `$4` oldest jobs a worker may claim (`$3`: now). The `state IN (…)` repeats what the ORs say
/// so that SQLite can use the partial index `jobs_claimable`: without it the planner walked
/// `jobs_by_created` from the oldest job, past every finished one, on every claim — a claim
/// cost grew with the jobs already done (0.3 ms at 4,000 finished jobs against 31 µs).
const NEXT_CLAIMABLE: &str = "SELECT id FROM jobs \
     WHERE state IN ('queued', 'awaiting_approval', 'running') \
       AND ((state = 'queued' AND cancel_requested = 0) \
         OR (state = 'awaiting_approval' AND approved = 1 AND cancel_requested = 0) \
         OR (state = 'running' AND lease_until < $3)) \
     ORDER BY created_at, id LIMIT $4";

/// Whether `e` is SQLite's "database is locked" (`SQLITE_BUSY` and its extended codes), which
/// SQLite returns at once, without the busy timeout, in two places a first open can meet: the
/// switch to WAL while another process creates the file, and a read that must become a write
/// after another connection wrote (`SQLITE_BUSY_SNAPSHOT`).
fn is_busy(e: &StoreError) -> bool {
    match e {
        StoreError::Database(sqlx::Error::Database(db)) => db
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|c| c & 0xff == 5),
        _ => false,
    }
}

impl SqliteStore {
    /// Opens (creating and migrating) the database at `url`. Processes that open a new file
    /// together can find it locked in the middle of another's first open; the whole open is
    /// then tried again (it is idempotent), a few times, before the error is reported.
    pub(crate) async fn open(url: &str, keyring: Keyring) -> Result<SqliteStore, StoreError> {
        let mut attempt = 0;
        loop {
            match Self::open_once(url, keyring.clone()).await {
                Err(e) if is_busy(&e) && attempt < OPEN_RETRIES => {
                    attempt += 1;
                    tracing::debug!(
                        attempt,
                        "the new database was locked by another opener; again"
                    );
                    tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                }
                other => return other,
            }
        }
    }

    async fn open_once(url: &str, keyring: Keyring) -> Result<SqliteStore, StoreError> {
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
        let pools = Pools {
            reader: &reader,
            writer: &writer,
            keyring: &keyring,
        };
        <Sqlite as Backend>::check_master_key(pools).await?;
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

    /// The pools the shared code (`common.rs`) runs on.
    pub(crate) fn pools(&self) -> Pools<'_, Sqlite> {
        Pools {
            reader: &self.reader,
            writer: &self.writer,
            keyring: &self.keyring,
        }
    }

    pub(crate) async fn insert_job(&self, job: &NewJob) -> Result<(), StoreError> {
        let mut conn = self.writer.acquire().await?;
        insert_job_on(&mut conn, job, job.batch_id, &ts(now())?).await
    }

    /// A batch, its jobs and its source rows in one transaction, a few multi-row statements
    /// for the lot (one statement per row cost a thread hand-off each: 0.4 s of a 1,550-row
    /// CLI batch's start). If one fails, the batch is inserted again row by row, in a new
    /// transaction, so that the error names the job or row at fault.
    pub(crate) async fn insert_batch(
        &self,
        batch: &NewBatch,
        jobs: &[NewJob],
        rows: &[BatchSourceRow],
    ) -> Result<(), StoreError> {
        match self.insert_batch_in_bulk(batch, jobs, rows).await {
            Ok(()) => Ok(()),
            Err(_) => self.insert_batch_row_by_row(batch, jobs, rows).await,
        }
    }

    async fn insert_batch_in_bulk(
        &self,
        batch: &NewBatch,
        jobs: &[NewJob],
        rows: &[BatchSourceRow],
    ) -> Result<(), StoreError> {
        let at = ts(now())?;
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        insert_batch_on(&mut tx, batch, &at).await?;
        let batch_id = id_text(batch.id.0);
        for chunk in jobs.chunks(MAX_BIND / 7) {
            let sql = format!(
                "INSERT INTO jobs (id, batch_id, kind, state, request, created_by, created_at, \
                 updated_at) VALUES {}",
                value_rows(chunk.len(), "(?, ?, ?, 'queued', ?, ?, ?, ?)")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for job in chunk {
                query = query
                    .bind(id_text(job.id.0))
                    .bind(&batch_id)
                    .bind(&job.kind)
                    .bind(Json(&job.request))
                    .bind(&job.created_by)
                    .bind(&at)
                    .bind(&at);
            }
            query.execute(&mut *tx).await?;
        }
        for chunk in rows.chunks(MAX_BIND / 6) {
            let sql = format!(
                "INSERT INTO batch_rows (batch_id, row_number, job_id, account_id, name, \
                 problems) VALUES {}",
                value_rows(chunk.len(), "(?, ?, ?, ?, ?, ?)")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for row in chunk {
                query = query
                    .bind(&batch_id)
                    .bind(i64::try_from(row.row).unwrap_or(i64::MAX))
                    .bind(row.job_id.map(|id| id_text(id.0)))
                    .bind(&row.account_id)
                    .bind(&row.name)
                    .bind(Json(&row.problems));
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// [`Self::insert_batch`] a statement per row: slower, and its error names the row.
    async fn insert_batch_row_by_row(
        &self,
        batch: &NewBatch,
        jobs: &[NewJob],
        rows: &[BatchSourceRow],
    ) -> Result<(), StoreError> {
        let at = ts(now())?;
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        insert_batch_on(&mut tx, batch, &at).await?;
        for job in jobs {
            insert_job_on(&mut tx, job, Some(batch.id), &at).await?;
        }
        for row in rows {
            sqlx::query(INSERT_BATCH_ROW)
                .bind(id_text(batch.id.0))
                .bind(i64::try_from(row.row).unwrap_or(i64::MAX))
                .bind(row.job_id.map(|id| id_text(id.0)))
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
        // Not shared with PostgreSQL: SQLite has no SKIP LOCKED, and needs none, since the one
        // UPDATE holds the database's write lock from the SELECT to the RETURNING.
        let now = now();
        let sql = format!(
            "UPDATE jobs SET state = 'running', worker_id = $1, lease_until = $2, \
                 attempts = attempts + 1, updated_at = $3 \
             WHERE id IN ({NEXT_CLAIMABLE}) \
             RETURNING {JOB_COLUMNS}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(worker_id)
            .bind(ts(now + lease_duration(lease))?)
            .bind(ts(now)?)
            .bind(i64::from(limit))
            .fetch_all(&self.writer)
            .await?;
        rows.iter().map(Sqlite::job_from_row).collect()
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
        Sqlite::lease_outcome(self.pools(), job, done.rows_affected()).await
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
        Sqlite::lease_outcome(self.pools(), job, done.rows_affected()).await
    }

    pub(crate) async fn try_named_lease(
        &self,
        name: &str,
        holder: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let at = now();
        let done = sqlx::query(
            "INSERT INTO named_leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                 expires_at = excluded.expires_at \
             WHERE named_leases.holder = excluded.holder OR named_leases.expires_at < $4",
        )
        .bind(name)
        .bind(holder)
        .bind(ts(at + lease_duration(lease))?)
        .bind(ts(at)?)
        .execute(&self.writer)
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
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
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

    /// `steps` and `events` in one immediate transaction: a statement for the steps and two
    /// for the events whatever their number (read the jobs' last seqs, insert the rows), then
    /// the commit. The one writer connection hands each statement to its thread
    /// and back, so a statement (and a commit) per event or step made the writer the
    /// bottleneck of a busy worker. The write lock is held from the first statement, so the
    /// seqs read stay the last ones until the commit, even against other processes.
    pub(crate) async fn record(
        &self,
        steps: &[StepWrite<'_>],
        events: &[(JobId, &Value)],
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let at = now();
        let at_text = ts(at)?;
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        write_steps(&mut tx, steps, &at_text).await?;
        let stored = append_events_on(&mut tx, events, at, &at_text).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// Every secret of `secrets` (`(owner, name, secret)`), in one statement per few hundred:
    /// a batch's client secrets went one autocommit each, a second of a 6,200-row submit.
    pub(crate) async fn put_secrets(
        &self,
        secrets: &[(&str, &str, &SecretString)],
    ) -> Result<(), StoreError> {
        let at = ts(now())?;
        let key_id = self.keyring.current_key_id();
        let mut sealed = Vec::with_capacity(secrets.len());
        for (owner, name, secret) in secrets {
            sealed.push((
                *owner,
                *name,
                self.keyring.seal(owner, name, secret.expose())?,
            ));
        }
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        for chunk in sealed.chunks(MAX_BIND / 6) {
            let sql = format!(
                "INSERT INTO secrets (owner, name, value, key_id, created_at, updated_at) \
                 VALUES {} \
                 ON CONFLICT (owner, name) DO UPDATE SET \
                     value = excluded.value, key_id = excluded.key_id, \
                     updated_at = excluded.updated_at",
                value_rows(chunk.len(), "(?, ?, ?, ?, ?, ?)")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (owner, name, value) in chunk {
                query = query
                    .bind(*owner)
                    .bind(*name)
                    .bind(value.as_str())
                    .bind(key_id)
                    .bind(&at)
                    .bind(&at);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
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
            Err(sqlx::migrate::MigrateError::ExecuteMigration(..)) if attempt < OPEN_RETRIES => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The batch's own row (a batch id used twice is a conflict naming it).
async fn insert_batch_on(
    conn: &mut sqlx::SqliteConnection,
    batch: &NewBatch,
    at: &str,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO batches (id, label, created_by, created_at) VALUES ($1, $2, $3, $4)")
        .bind(id_text(batch.id.0))
        .bind(&batch.label)
        .bind(&batch.created_by)
        .bind(at)
        .execute(&mut *conn)
        .await
        .map_err(|e| StoreError::from_write(e, &format!("batch {}", batch.id), "batch"))?;
    Ok(())
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
    .map_err(|e| insert_job_error(e, job, batch_id))?;
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

/// `steps` upserted in order ([`UPSERT_STEP`]), a few hundred per statement: a statement per
/// step cost about 150 µs, and 200 running jobs write 200 steps at once. SQLite applies a
/// statement's rows in order, so a step written twice ends as its last write says.
async fn write_steps(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    steps: &[StepWrite<'_>],
    at: &str,
) -> Result<(), StoreError> {
    for chunk in steps.chunks(MAX_BIND / 6) {
        let rows = value_rows(chunk.len(), "(?, ?, ?, ?, ?, ?)");
        let sql = UPSERT_STEP.replace("{rows}", &rows);
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for step in chunk {
            let (state, finished, output) = match step.change {
                StepChange::Started => ("running", None, None),
                StepChange::Finished { state, output } => (state, Some(at), output),
            };
            query = query
                .bind(id_text(step.job.0))
                .bind(step.name)
                .bind(state)
                .bind(at)
                .bind(finished)
                .bind(output.map(Json));
        }
        query.execute(&mut **tx).await.map_err(|e| {
            let jobs = if chunk.len() == 1 {
                format!("job {}", chunk[0].job)
            } else {
                "one of the jobs".to_owned()
            };
            StoreError::from_write(e, "step", &jobs)
        })?;
    }
    Ok(())
}

/// `events` appended on `tx` with their jobs' next seqs (see [`SqliteStore::record`]).
async fn append_events_on(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    events: &[(JobId, &Value)],
    at: OffsetDateTime,
    at_text: &str,
) -> Result<Vec<StoredEvent>, StoreError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let mut jobs: Vec<JobId> = events.iter().map(|(job, _)| *job).collect();
    jobs.sort_unstable();
    jobs.dedup();
    let mut last = std::collections::HashMap::with_capacity(jobs.len());
    for chunk in jobs.chunks(MAX_BIND / 2) {
        let sql = format!(
            "SELECT j.id, COALESCE((SELECT MAX(e.seq) FROM job_events e WHERE e.job_id = j.id), 0) \
             FROM jobs j WHERE j.id IN ({})",
            value_rows(chunk.len(), "?")
        );
        let mut query = sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(sql));
        for job in chunk {
            query = query.bind(id_text(job.0));
        }
        for (id, seq) in query.fetch_all(&mut **tx).await? {
            last.insert(id, seq);
        }
    }
    let mut stored = Vec::with_capacity(events.len());
    for (job, event) in events {
        let seq = last
            .get_mut(&id_text(job.0))
            .ok_or_else(|| StoreError::not_found(format!("job {job}")))?;
        *seq += 1;
        stored.push(StoredEvent {
            job_id: *job,
            seq: *seq,
            at,
            event: (*event).clone(),
        });
    }
    for chunk in stored.chunks(MAX_BIND / 4) {
        let sql = format!(
            "INSERT INTO job_events (job_id, seq, at, event) VALUES {}",
            value_rows(chunk.len(), "(?, ?, ?, ?)")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for e in chunk {
            query = query
                .bind(id_text(e.job_id.0))
                .bind(e.seq)
                .bind(at_text)
                .bind(Json(&e.event));
        }
        query.execute(&mut **tx).await?;
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_claim_reads_only_claimable_jobs_through_their_index() {
        let store = SqliteStore::open("sqlite::memory:", Keyring::from_key("test", [7; 32]))
            .await
            .unwrap();
        let sql = NEXT_CLAIMABLE
            .replace("$3", "'2026-12-02T00:00:00.000000Z'")
            .replace("$4", "16");
        let plan: Vec<String> =
            sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                .fetch_all(&store.writer)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<String, _>("detail"))
                .collect();
        assert!(
            plan.iter().any(|d| d.contains("jobs_claimable")),
            "the claim does not use the partial index: {plan:?}"
        );
    }

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
