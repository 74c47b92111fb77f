//! The code both backends share: row mapping, and every query whose SQL and logic are the same
//! on SQLite and PostgreSQL (both take `$1`-style placeholders).
//!
//! [`Backend`] is implemented for [`sqlx::Sqlite`] and [`sqlx::Postgres`]. Its required items
//! are what really differs between the two schemas; its provided methods are the shared code.
//! [`crate::Store`] calls them (its `shared!` macro) with the store's [`Pools`], e.g.
//! `<Sqlite as Backend>::get_job(store.pools(), job)`; the backends call `lease_outcome` and
//! `job_from_row` the same way.
//!
//! What differs, and so stays in `sqlite.rs` / `postgres.rs`:
//! * Column types: ids are hyphenated TEXT vs UUID, timestamps fixed-width UTC TEXT vs
//!   TIMESTAMPTZ, `audit_log.prisma_request_ids` a JSON array vs `TEXT[]` (the required
//!   methods below), booleans 0/1 vs `true`/`false` in SQL.
//! * Every statement that writes a timestamp: SQLite binds this host's clock as a parameter,
//!   PostgreSQL writes `now()`, the database clock all replicas share, so the SQL differs
//!   (inserts, leases, state changes, steps, `put_secret`, `audit`). Rotation's compare-and-swap
//!   is one such statement; each backend builds it ([`Backend::reseal_query`]) and the rest of
//!   [`Backend::rotate_secrets`] is shared.
//! * Claiming: SQLite has no `SKIP LOCKED`, so a claim is one `UPDATE … WHERE id = (SELECT …
//!   LIMIT 1)` under its database-wide write lock; PostgreSQL adds `FOR UPDATE SKIP LOCKED` so
//!   replicas never block on, nor double-claim, a job.
//! * Event `seq`: SQLite takes `MAX(seq) + 1` (the write lock makes it atomic); PostgreSQL
//!   bumps `jobs.last_event_seq`, whose row lock serialises appends to one job.
//! * Transactions: SQLite starts them with `BEGIN IMMEDIATE` (take the write lock first).

use prisma_types::SecretString;
use serde_json::Value;
use sqlx::query::Query;
use sqlx::types::Json;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::keyring::Keyring;
use crate::{
    AuditRecord, BatchId, BatchSourceRow, BatchSummary, JobEnd, JobId, JobRecord, JobState, NewJob,
    StepRecord, StoreError, StoredEvent, limit,
};

/// The columns [`Backend::job_from_row`] reads, in `SELECT` and `RETURNING` lists.
pub(crate) const JOB_COLUMNS: &str = "id, batch_id, kind, state, request, result, error, \
     attempts, worker_id, lease_until, cancel_requested, approved, created_by, created_at, \
     updated_at";

/// How a step's row meets the one already there, on both backends (rows are `(job_id, name,
/// state, started_at, finished_at, output)`). A started step is the row `(running, started
/// now, not finished, no output)`: on conflict only a started step moves `started_at`, a
/// finished one sets `finished_at`, and a `NULL` output keeps the checkpoint (see
/// [`crate::Store::step_started`] and [`crate::Store::step_finished`]).
pub(crate) const UPSERT_STEP: &str = "INSERT INTO job_steps \
     (job_id, name, state, started_at, finished_at, output) VALUES {rows} \
     ON CONFLICT (job_id, name) DO UPDATE SET \
         state = excluded.state, \
         started_at = CASE WHEN excluded.state = 'running' \
             THEN excluded.started_at ELSE job_steps.started_at END, \
         finished_at = excluded.finished_at, \
         output = COALESCE(excluded.output, job_steps.output)";

/// Inserts one [`BatchSourceRow`]: batch id, row number, job id, account id, name, problems.
pub(crate) const INSERT_BATCH_ROW: &str = "INSERT INTO batch_rows \
     (batch_id, row_number, job_id, account_id, name, problems) VALUES ($1, $2, $3, $4, $5, $6)";

/// What the shared code runs on. SQLite writes through its one writer connection and reads
/// through a small pool; PostgreSQL passes its one pool as both.
pub(crate) struct Pools<'a, DB: Database> {
    pub(crate) reader: &'a Pool<DB>,
    pub(crate) writer: &'a Pool<DB>,
    pub(crate) keyring: &'a Keyring,
}

// Not derived: that would ask `DB: Copy`.
impl<DB: Database> Clone for Pools<'_, DB> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<DB: Database> Copy for Pools<'_, DB> {}

/// `rows_affected`, which sqlx has on each backend's query result but in no trait (the impls
/// call the inherent method).
pub(crate) trait RowsAffected {
    fn rows_affected(&self) -> u64;
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

/// A store backend: the column types that differ (required), and the queries and row mapping
/// that are the same on both (provided). The `where` clause lists what the shared code binds
/// and decodes; both backends support all of it.
pub(crate) trait Backend:
    Database<Arguments: IntoArguments<Self>, QueryResult: RowsAffected>
where
    for<'c> &'c mut Self::Connection: Executor<'c, Database = Self>,
    for<'a> &'a str: Encode<'a, Self> + Type<Self> + ColumnIndex<Self::Row>,
    i64: for<'q> Encode<'q, Self> + for<'r> Decode<'r, Self> + Type<Self>,
    i32: for<'r> Decode<'r, Self> + Type<Self>,
    bool: for<'r> Decode<'r, Self> + Type<Self>,
    String: for<'r> Decode<'r, Self> + Type<Self>,
    Json<Value>: for<'r> Decode<'r, Self> + Type<Self>,
{
    /// An id as a statement parameter: hyphenated TEXT on SQLite, UUID on PostgreSQL.
    type Id: for<'q> Encode<'q, Self> + Type<Self>;

    /// `jobs.result`'s `outcome` as text (`NULL` when absent), as an SQL expression.
    const RESULT_OUTCOME: &str;

    fn id(id: Uuid) -> Self::Id;

    fn get_uuid(row: &Self::Row, column: &str) -> Result<Uuid, StoreError>;

    fn get_opt_uuid(row: &Self::Row, column: &str) -> Result<Option<Uuid>, StoreError>;

    fn get_ts(row: &Self::Row, column: &str) -> Result<OffsetDateTime, StoreError>;

    fn get_opt_ts(row: &Self::Row, column: &str) -> Result<Option<OffsetDateTime>, StoreError>;

    /// `audit_log.prisma_request_ids`: a JSON array on SQLite, `TEXT[]` on PostgreSQL.
    fn get_request_ids(row: &Self::Row) -> Result<Vec<String>, StoreError>;

    /// Rotation's compare-and-swap: stores `new` (sealed under `key_id`) where the secret still
    /// holds `old`, and sets `updated_at` (from the backend's clock, hence not shared).
    fn reseal_query(
        owner: &str,
        name: &str,
        old: &str,
        new: String,
        key_id: &str,
    ) -> Result<Query<'static, Self, Self::Arguments>, StoreError>;

    // The shared code.

    fn get_json(row: &Self::Row, column: &str) -> Result<Value, StoreError> {
        Ok(row.try_get::<Json<Value>, _>(column)?.0)
    }

    fn get_opt_json(row: &Self::Row, column: &str) -> Result<Option<Value>, StoreError> {
        Ok(row.try_get::<Option<Json<Value>>, _>(column)?.map(|j| j.0))
    }

    /// A row of [`JOB_COLUMNS`].
    fn job_from_row(row: &Self::Row) -> Result<JobRecord, StoreError> {
        Ok(JobRecord {
            id: JobId(Self::get_uuid(row, "id")?),
            batch_id: Self::get_opt_uuid(row, "batch_id")?.map(BatchId),
            kind: row.try_get("kind")?,
            state: parse_state(&row.try_get::<String, _>("state")?)?,
            request: Self::get_json(row, "request")?,
            result: Self::get_opt_json(row, "result")?,
            error: Self::get_opt_json(row, "error")?,
            attempts: row.try_get("attempts")?,
            worker_id: row.try_get("worker_id")?,
            lease_until: Self::get_opt_ts(row, "lease_until")?,
            cancel_requested: row.try_get("cancel_requested")?,
            approved: row.try_get("approved")?,
            created_by: row.try_get("created_by")?,
            created_at: Self::get_ts(row, "created_at")?,
            updated_at: Self::get_ts(row, "updated_at")?,
        })
    }

    /// After a lease-guarded update that changed `rows` rows: `LeaseLost` if the job exists,
    /// else `NotFound`.
    async fn lease_outcome(
        pools: Pools<'_, Self>,
        job: JobId,
        rows: u64,
    ) -> Result<(), StoreError> {
        if rows == 1 {
            return Ok(());
        }
        let exists = sqlx::query("SELECT 1 FROM jobs WHERE id = $1")
            .bind(Self::id(job.0))
            .fetch_optional(pools.writer)
            .await?
            .is_some();
        Err(if exists {
            StoreError::LeaseLost { job }
        } else {
            StoreError::not_found(format!("job {job}"))
        })
    }

    async fn get_job(pools: Pools<'_, Self>, job: JobId) -> Result<Option<JobRecord>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(Self::id(job.0))
            .fetch_optional(pools.reader)
            .await?;
        row.as_ref().map(Self::job_from_row).transpose()
    }

    async fn list_jobs(
        pools: Pools<'_, Self>,
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
                    .bind(Self::id(batch.0))
                    .bind(limit(max))
                    .fetch_all(pools.reader)
                    .await?
            }
            None => {
                let sql = format!(
                    "SELECT {JOB_COLUMNS} FROM jobs ORDER BY created_at DESC, id DESC LIMIT $1"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(limit(max))
                    .fetch_all(pools.reader)
                    .await?
            }
        };
        rows.iter().map(Self::job_from_row).collect()
    }

    /// How each job of `batch` ended (or where it is), without the rest of its record: the
    /// request is read for failed jobs only, and of the result only its `outcome`.
    async fn batch_job_ends(
        pools: Pools<'_, Self>,
        batch: BatchId,
    ) -> Result<Vec<JobEnd>, StoreError> {
        let sql = format!(
            "SELECT id, state, {} AS outcome, error, updated_at, \
             CASE WHEN state = 'failed' THEN request END AS failed_request \
             FROM jobs WHERE batch_id = $1",
            Self::RESULT_OUTCOME
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(Self::id(batch.0))
            .fetch_all(pools.reader)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(JobEnd {
                    id: JobId(Self::get_uuid(row, "id")?),
                    state: parse_state(&row.try_get::<String, _>("state")?)?,
                    outcome: row.try_get("outcome")?,
                    error: Self::get_opt_json(row, "error")?,
                    failed_request: Self::get_opt_json(row, "failed_request")?,
                    updated_at: Self::get_ts(row, "updated_at")?,
                })
            })
            .collect()
    }

    async fn count_jobs_by_state(
        pools: Pools<'_, Self>,
    ) -> Result<std::collections::BTreeMap<JobState, u64>, StoreError> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
            .fetch_all(pools.reader)
            .await?;
        let mut counts = std::collections::BTreeMap::new();
        for row in &rows {
            let state = parse_state(&row.try_get::<String, _>("state")?)?;
            let n = u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0);
            counts.insert(state, n);
        }
        Ok(counts)
    }

    async fn any_job_to_run(pools: Pools<'_, Self>) -> Result<bool, StoreError> {
        // The claimable index's own condition, so both backends answer from that index
        // (SQLite uses a partial index only for a condition that contains the index's).
        let row = sqlx::query(
            "SELECT EXISTS (SELECT 1 FROM jobs \
             WHERE state IN ('queued', 'awaiting_approval', 'running') \
             AND state <> 'awaiting_approval') AS found",
        )
        .fetch_one(pools.reader)
        .await?;
        Ok(row.try_get::<bool, _>("found")?)
    }

    async fn batch_summary(
        pools: Pools<'_, Self>,
        batch: BatchId,
    ) -> Result<Option<BatchSummary>, StoreError> {
        // One statement, so the batch and its counts come from one snapshot.
        let rows = sqlx::query(
            "SELECT b.id, b.label, b.created_by, b.created_at, j.state, COUNT(j.id) AS n \
             FROM batches b LEFT JOIN jobs j ON j.batch_id = b.id \
             WHERE b.id = $1 \
             GROUP BY b.id, b.label, b.created_by, b.created_at, j.state",
        )
        .bind(Self::id(batch.0))
        .fetch_all(pools.reader)
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let mut summary = BatchSummary {
            id: BatchId(Self::get_uuid(first, "id")?),
            label: first.try_get("label")?,
            created_by: first.try_get("created_by")?,
            total: 0,
            by_state: Default::default(),
            created_at: Self::get_ts(first, "created_at")?,
        };
        for row in &rows {
            let Some(state) = row.try_get::<Option<String>, _>("state")? else {
                continue;
            };
            let state = parse_state(&state)?;
            let n = u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0);
            summary.total += n;
            summary.by_state.insert(state, n);
        }
        Ok(Some(summary))
    }

    async fn batch_rows(
        pools: Pools<'_, Self>,
        batch: BatchId,
    ) -> Result<Vec<BatchSourceRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT row_number, job_id, account_id, name, problems FROM batch_rows \
             WHERE batch_id = $1 ORDER BY row_number",
        )
        .bind(Self::id(batch.0))
        .fetch_all(pools.reader)
        .await?;
        rows.iter()
            .map(|row| {
                let number: i64 = row.try_get("row_number")?;
                Ok(BatchSourceRow {
                    row: u64::try_from(number).map_err(|e| StoreError::decode("row_number", e))?,
                    job_id: Self::get_opt_uuid(row, "job_id")?.map(JobId),
                    account_id: row.try_get("account_id")?,
                    name: row.try_get("name")?,
                    problems: serde_json::from_value(Self::get_json(row, "problems")?)
                        .map_err(|e| StoreError::decode("problems", e))?,
                })
            })
            .collect()
    }

    async fn steps(pools: Pools<'_, Self>, job: JobId) -> Result<Vec<StepRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, state, started_at, finished_at, output FROM job_steps \
             WHERE job_id = $1 ORDER BY started_at, name",
        )
        .bind(Self::id(job.0))
        .fetch_all(pools.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StepRecord {
                    job_id: job,
                    name: row.try_get("name")?,
                    state: row.try_get("state")?,
                    started_at: Self::get_ts(row, "started_at")?,
                    finished_at: Self::get_opt_ts(row, "finished_at")?,
                    output: Self::get_opt_json(row, "output")?,
                })
            })
            .collect()
    }

    async fn events_after(
        pools: Pools<'_, Self>,
        job: JobId,
        after_seq: i64,
        max: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, event FROM job_events WHERE job_id = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3",
        )
        .bind(Self::id(job.0))
        .bind(after_seq)
        .bind(limit(max))
        .fetch_all(pools.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredEvent {
                    job_id: job,
                    seq: row.try_get("seq")?,
                    at: Self::get_ts(row, "at")?,
                    event: Self::get_json(row, "event")?,
                })
            })
            .collect()
    }

    /// The last stored seq of every job of `batch` that has events, in one query. A
    /// subquery per job, because it is one seek down `(job_id, seq)`: a join grouped by job
    /// walks every event of the batch (0.12 s against 0.03 for a 6,200-job batch's 157,000).
    async fn batch_last_seqs(
        pools: Pools<'_, Self>,
        batch: BatchId,
    ) -> Result<Vec<(JobId, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT job_id, last_seq FROM (SELECT j.id AS job_id, \
             (SELECT MAX(e.seq) FROM job_events e WHERE e.job_id = j.id) AS last_seq \
             FROM jobs j WHERE j.batch_id = $1) AS last WHERE last_seq IS NOT NULL",
        )
        .bind(Self::id(batch.0))
        .fetch_all(pools.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    JobId(Self::get_uuid(row, "job_id")?),
                    row.try_get::<i64, _>("last_seq")?,
                ))
            })
            .collect()
    }

    async fn get_secret(
        pools: Pools<'_, Self>,
        owner: &str,
        name: &str,
    ) -> Result<Option<SecretString>, StoreError> {
        let row = sqlx::query("SELECT value FROM secrets WHERE owner = $1 AND name = $2")
            .bind(owner)
            .bind(name)
            .fetch_optional(pools.reader)
            .await?;
        let value: Option<String> = row.map(|row| row.try_get("value")).transpose()?;
        value
            .map(|value| pools.keyring.open(owner, name, &value))
            .transpose()
    }

    /// Refuses a keyring that contradicts the master keys this database was written with
    /// ([`Keyring::check_recorded`]), then records the current key's fingerprint. The check runs
    /// again after the insert, so of two processes that start together with different keys of
    /// one id, the second refuses.
    async fn check_master_key(pools: Pools<'_, Self>) -> Result<(), StoreError> {
        let keyring = pools.keyring;
        keyring.check_recorded(&Self::key_fingerprints(pools).await?)?;
        let current = keyring.current_key_id();
        let fingerprint = keyring
            .fingerprint(current)
            .ok_or_else(|| StoreError::crypto("the current key is missing from the keyring"))?;
        sqlx::query(
            "INSERT INTO key_fingerprints (key_id, fingerprint) VALUES ($1, $2) \
             ON CONFLICT (key_id) DO NOTHING",
        )
        .bind(current)
        .bind(fingerprint.as_str())
        .execute(pools.writer)
        .await?;
        keyring.check_recorded(&Self::key_fingerprints(pools).await?)
    }

    /// `key id → fingerprint` of every master key this database recorded.
    async fn key_fingerprints(
        pools: Pools<'_, Self>,
    ) -> Result<std::collections::BTreeMap<String, String>, StoreError> {
        let rows = sqlx::query("SELECT key_id, fingerprint FROM key_fingerprints")
            .fetch_all(pools.writer)
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("key_id")?, row.try_get("fingerprint")?)))
            .collect()
    }

    /// The names of `owner`'s secrets, sorted (byte order, the same on both backends). The
    /// values are not read.
    async fn list_secret_names(
        pools: Pools<'_, Self>,
        owner: &str,
    ) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT name FROM secrets WHERE owner = $1")
            .bind(owner)
            .fetch_all(pools.reader)
            .await?;
        let mut names = rows
            .iter()
            .map(|row| row.try_get::<String, _>("name"))
            .collect::<Result<Vec<_>, _>>()?;
        // Sorted here rather than by `ORDER BY`: collations differ between the backends.
        names.sort_unstable();
        Ok(names)
    }

    async fn delete_secret(
        pools: Pools<'_, Self>,
        owner: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM secrets WHERE owner = $1 AND name = $2")
            .bind(owner)
            .bind(name)
            .execute(pools.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_secrets(pools: Pools<'_, Self>, owner: &str) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM secrets WHERE owner = $1")
            .bind(owner)
            .execute(pools.writer)
            .await?;
        Ok(done.rows_affected())
    }

    async fn rotate_secrets(pools: Pools<'_, Self>) -> Result<u64, StoreError> {
        let current = pools.keyring.current_key_id();
        let rows = sqlx::query("SELECT owner, name, value FROM secrets WHERE key_id <> $1")
            .bind(current)
            .fetch_all(pools.reader)
            .await?;
        let mut rotated = 0;
        for row in &rows {
            let owner: String = row.try_get("owner")?;
            let name: String = row.try_get("name")?;
            let old: String = row.try_get("value")?;
            if Keyring::key_id_of(&old) == Some(current) {
                continue;
            }
            let secret = pools.keyring.open(&owner, &name, &old)?;
            let new = pools.keyring.seal(&owner, &name, secret.expose())?;
            // Compare-and-swap: a value written meanwhile is already under the current key.
            let done = Self::reseal_query(&owner, &name, &old, new, current)?
                .execute(pools.writer)
                .await?;
            rotated += done.rows_affected();
        }
        if rotated > 0 {
            tracing::info!(rotated, key_id = %current, "secrets re-encrypted under the current key");
        }
        Ok(rotated)
    }

    async fn list_audit(pools: Pools<'_, Self>, max: u32) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, target, detail, prisma_request_ids FROM audit_log \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(limit(max))
        .fetch_all(pools.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditRecord {
                    id: row.try_get("id")?,
                    at: Self::get_ts(row, "at")?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    target: row.try_get("target")?,
                    detail: Self::get_json(row, "detail")?,
                    prisma_request_ids: Self::get_request_ids(row)?,
                })
            })
            .collect()
    }
}

fn parse_state(text: &str) -> Result<JobState, StoreError> {
    text.parse().map_err(|e| StoreError::decode("state", e))
}

/// The error of inserting `job` (into `batch_id`): a duplicate id is a conflict, an unknown
/// batch not found.
pub(crate) fn insert_job_error(
    err: sqlx::Error,
    job: &NewJob,
    batch_id: Option<BatchId>,
) -> StoreError {
    let batch = batch_id.map_or_else(|| "batch".to_owned(), |id| format!("batch {id}"));
    StoreError::from_write(err, &format!("job {}", job.id), &batch)
}
