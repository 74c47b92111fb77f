//! Desired state and drift (migration 6): what the product keeps a managed account at when it
//! is not simply its onboarding job's request (an adopted account; an onboarded one whose
//! current configuration became the desired one), and each managed account's latest drift
//! finding.
//!
//! The store does not interpret the desired configuration (JSON, the engine's
//! `drift::AccountConfig`); it keeps it, and the finding's fingerprint, which tells a new
//! finding from one already seen (and notified).

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use crate::{Store, StoreError};

/// `onboarded` or `adopted`.
pub(crate) const ORIGINS: [&str; 2] = ["onboarded", "adopted"];

/// A managed account's desired configuration as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DesiredStateRecord {
    /// `prisma:<connection>:<account id>`.
    pub account_key: String,
    pub platform: String,
    /// The platform connection's name (`None`: the default one).
    pub connection: Option<String>,
    pub account_id: String,
    pub account_name: String,
    /// `onboarded` (the product onboarded it) or `adopted` (onboarded elsewhere).
    pub origin: String,
    /// The onboarding job this desired state overrides (origin `onboarded`).
    pub job_id: Option<String>,
    /// `adoption` or `adopt_current`.
    pub source: String,
    pub desired: Value,
    pub updated_at_ms: i64,
    pub updated_by: String,
}

/// A managed account's latest drift comparison.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DriftFinding {
    pub account_key: String,
    pub account_id: String,
    pub account_name: String,
    pub checked_at_ms: i64,
    /// Empty when there is no drift.
    pub fingerprint: String,
    /// `[{"field", "desired", "current"}]`.
    pub differences: Value,
    /// The comparison could not be made (the platform did not answer): why.
    pub error: Option<String>,
}

fn json_column(column: &str, text: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::decode(column, e))
}

macro_rules! drift_queries {
    ($module:ident, $db:ty) => {
        pub(crate) mod $module {
            use super::*;
            use crate::common::Pools;

            type P<'a> = Pools<'a, $db>;

            fn desired_from_row(
                row: &<$db as sqlx::Database>::Row,
            ) -> Result<DesiredStateRecord, StoreError> {
                Ok(DesiredStateRecord {
                    account_key: row.try_get("account_key")?,
                    platform: row.try_get("platform")?,
                    connection: row.try_get("connection")?,
                    account_id: row.try_get("account_id")?,
                    account_name: row.try_get("account_name")?,
                    origin: row.try_get("origin")?,
                    job_id: row.try_get("job_id")?,
                    source: row.try_get("source")?,
                    desired: json_column("desired", &row.try_get::<String, _>("desired")?)?,
                    updated_at_ms: row.try_get("updated_at_ms")?,
                    updated_by: row.try_get("updated_by")?,
                })
            }

            fn finding_from_row(
                row: &<$db as sqlx::Database>::Row,
            ) -> Result<DriftFinding, StoreError> {
                Ok(DriftFinding {
                    account_key: row.try_get("account_key")?,
                    account_id: row.try_get("account_id")?,
                    account_name: row.try_get("account_name")?,
                    checked_at_ms: row.try_get("checked_at_ms")?,
                    fingerprint: row.try_get("fingerprint")?,
                    differences: json_column(
                        "differences",
                        &row.try_get::<String, _>("differences")?,
                    )?,
                    error: row.try_get("error")?,
                })
            }

            pub(crate) async fn put_desired_state(
                pools: P<'_>,
                d: &DesiredStateRecord,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO desired_states (account_key, platform, connection, account_id, \
                       account_name, origin, job_id, source, desired, updated_at_ms, updated_by) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                     ON CONFLICT (account_key) DO UPDATE SET platform = excluded.platform, \
                       connection = excluded.connection, account_id = excluded.account_id, \
                       account_name = excluded.account_name, origin = excluded.origin, \
                       job_id = excluded.job_id, source = excluded.source, \
                       desired = excluded.desired, updated_at_ms = excluded.updated_at_ms, \
                       updated_by = excluded.updated_by",
                )
                .bind(&d.account_key)
                .bind(&d.platform)
                .bind(d.connection.as_deref())
                .bind(&d.account_id)
                .bind(&d.account_name)
                .bind(&d.origin)
                .bind(d.job_id.as_deref())
                .bind(&d.source)
                .bind(d.desired.to_string())
                .bind(d.updated_at_ms)
                .bind(&d.updated_by)
                .execute(pools.writer)
                .await?;
                Ok(())
            }

            pub(crate) async fn desired_states(
                pools: P<'_>,
            ) -> Result<Vec<DesiredStateRecord>, StoreError> {
                sqlx::query(
                    "SELECT account_key, platform, connection, account_id, account_name, origin, \
                       job_id, source, desired, updated_at_ms, updated_by \
                     FROM desired_states ORDER BY account_name, account_key",
                )
                .fetch_all(pools.reader)
                .await?
                .iter()
                .map(desired_from_row)
                .collect()
            }

            pub(crate) async fn put_drift_finding(
                pools: P<'_>,
                f: &DriftFinding,
            ) -> Result<Option<String>, StoreError> {
                let mut tx = pools.writer.begin().await?;
                let previous = sqlx::query(
                    "SELECT fingerprint FROM drift_findings WHERE account_key = $1",
                )
                .bind(&f.account_key)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get::<String, _>("fingerprint"))
                .transpose()?;
                sqlx::query(
                    "INSERT INTO drift_findings (account_key, account_id, account_name, \
                       checked_at_ms, fingerprint, differences, error) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (account_key) DO UPDATE SET account_id = excluded.account_id, \
                       account_name = excluded.account_name, \
                       checked_at_ms = excluded.checked_at_ms, \
                       fingerprint = excluded.fingerprint, differences = excluded.differences, \
                       error = excluded.error",
                )
                .bind(&f.account_key)
                .bind(&f.account_id)
                .bind(&f.account_name)
                .bind(f.checked_at_ms)
                .bind(&f.fingerprint)
                .bind(f.differences.to_string())
                .bind(f.error.as_deref())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(previous)
            }

            pub(crate) async fn drift_findings(
                pools: P<'_>,
            ) -> Result<Vec<DriftFinding>, StoreError> {
                sqlx::query(
                    "SELECT account_key, account_id, account_name, checked_at_ms, fingerprint, \
                       differences, error FROM drift_findings ORDER BY account_name, account_key",
                )
                .fetch_all(pools.reader)
                .await?
                .iter()
                .map(finding_from_row)
                .collect()
            }
        }
    };
}

drift_queries!(on_sqlite, sqlx::Sqlite);
drift_queries!(on_postgres, sqlx::Postgres);

macro_rules! drift {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            Store::Sqlite(s) => on_sqlite::$method(s.pools(), $($arg),*).await,
            Store::Postgres(s) => on_postgres::$method(s.pools(), $($arg),*).await,
        }
    };
}

impl Store {
    /// Stores (or replaces) a managed account's desired state. An origin other than
    /// `onboarded`/`adopted` is [`StoreError::Invalid`].
    pub async fn put_desired_state(&self, desired: &DesiredStateRecord) -> Result<(), StoreError> {
        if !ORIGINS.contains(&desired.origin.as_str()) {
            return Err(StoreError::invalid(format!(
                "desired state origin {:?}: expected onboarded or adopted",
                desired.origin
            )));
        }
        drift!(self.put_desired_state(desired))
    }

    /// Every stored desired state, by account name.
    pub async fn desired_states(&self) -> Result<Vec<DesiredStateRecord>, StoreError> {
        drift!(self.desired_states())
    }

    /// Records the account's latest drift finding; returns the previous one's fingerprint
    /// (`None` if the account had none), read in the same transaction.
    pub async fn put_drift_finding(
        &self,
        finding: &DriftFinding,
    ) -> Result<Option<String>, StoreError> {
        drift!(self.put_drift_finding(finding))
    }

    /// Every account's latest drift finding, by account name.
    pub async fn drift_findings(&self) -> Result<Vec<DriftFinding>, StoreError> {
        drift!(self.drift_findings())
    }
}
