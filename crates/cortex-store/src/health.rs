//! The health watch's tables (migration 4): per-round leases on accounts, the health history,
//! and notifications with one delivery row per sink (the dead-letter list is the `dead` ones).
//!
//! Times are epoch milliseconds passed by the caller (the watch's clock, so tests can move it)
//! and JSON is stored as TEXT, so every statement here is the same on SQLite and PostgreSQL;
//! [`backend_queries!`] writes the functions once per backend with its concrete pool type.
//!
//! Exactly once across replicas, by construction:
//! * [`Store::claim_watch`] is one upsert that succeeds for one caller per account and round
//!   (or again after that caller's lease expired without [`Store::finish_watch`]);
//! * [`Store::record_health`] is unique on (account, round);
//! * [`Store::insert_notification`] is unique on its dedupe key: only the replica whose insert
//!   won delivers it.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use crate::{Store, StoreError};

/// One account's health as one round saw it, to be recorded.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HealthCheck {
    /// `prisma:<connection>:<account id>`: the account as its platform names it.
    pub account_key: String,
    /// `prisma` (a Cortex check records `cortex`).
    pub platform: String,
    pub account_id: String,
    pub account_name: String,
    /// The onboarding job the account came from.
    pub job_id: String,
    pub round: i64,
    pub checked_at_ms: i64,
    /// `ok`, `warning`, `error`, or `unknown` when the check itself failed (`error` says why).
    pub status: String,
    /// `[{"capability", "status", "message", "remediation"}]`.
    pub capabilities: Value,
    /// `[{"capability", "from", "to"}]` against the account's previous check.
    pub changes: Value,
    pub error: Option<String>,
}

/// A recorded check.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HealthRecord {
    pub id: i64,
    #[serde(flatten)]
    pub check: HealthCheck,
}

/// A notification to deliver once.
#[derive(Clone, Debug, PartialEq)]
pub struct NewNotification {
    pub dedupe_key: String,
    /// `capability_degraded`, `capability_recovered`, `secret_expiring`, `watch_failed`.
    pub kind: String,
    pub account_key: Option<String>,
    /// What the sinks receive (never a secret).
    pub payload: Value,
    pub created_at_ms: i64,
}

/// A notification's delivery to one sink.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeliveryRecord {
    pub notification_id: i64,
    pub sink: String,
    /// `pending`, `delivered` or `dead`.
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub updated_at_ms: i64,
    pub kind: String,
    pub dedupe_key: String,
    pub payload: Value,
    pub created_at_ms: i64,
}

pub(crate) const DELIVERY_STATES: [&str; 3] = ["pending", "delivered", "dead"];

/// The columns `health_from_row` reads (a macro, so queries stay `&'static str`).
macro_rules! health_columns {
    () => {
        "id, account_key, platform, account_id, account_name, job_id, round, checked_at_ms, \
         status, capabilities, changes, error"
    };
}

fn json_column(column: &str, text: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::decode(column, e))
}

fn json_text(value: &Value) -> String {
    value.to_string()
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.min(crate::MAX_LEASE).as_millis()).unwrap_or(i64::MAX)
}

/// The queries, once per backend (`$db`: the sqlx database, `$pools`: its [`crate::common::Pools`]).
macro_rules! backend_queries {
    ($module:ident, $db:ty) => {
        pub(crate) mod $module {
            use super::*;
            use crate::common::Pools;

            type P<'a> = Pools<'a, $db>;

            fn health_from_row(
                row: &<$db as sqlx::Database>::Row,
            ) -> Result<HealthRecord, StoreError> {
                Ok(HealthRecord {
                    id: row.try_get("id")?,
                    check: HealthCheck {
                        account_key: row.try_get("account_key")?,
                        platform: row.try_get("platform")?,
                        account_id: row.try_get("account_id")?,
                        account_name: row.try_get("account_name")?,
                        job_id: row.try_get("job_id")?,
                        round: row.try_get("round")?,
                        checked_at_ms: row.try_get("checked_at_ms")?,
                        status: row.try_get("status")?,
                        capabilities: json_column(
                            "capabilities",
                            &row.try_get::<String, _>("capabilities")?,
                        )?,
                        changes: json_column("changes", &row.try_get::<String, _>("changes")?)?,
                        error: row.try_get("error")?,
                    },
                })
            }

            pub(crate) async fn claim_watch(
                pools: P<'_>,
                account_key: &str,
                round: i64,
                holder: &str,
                lease: Duration,
                now_ms: i64,
            ) -> Result<bool, StoreError> {
                let won = sqlx::query(
                    "INSERT INTO watch_leases (account_key, round, holder, lease_until_ms, done) \
                     VALUES ($1, $2, $3, $4, 0) \
                     ON CONFLICT (account_key) DO UPDATE SET round = excluded.round, \
                       holder = excluded.holder, lease_until_ms = excluded.lease_until_ms, \
                       done = 0 \
                     WHERE watch_leases.round < excluded.round \
                        OR (watch_leases.round = excluded.round AND watch_leases.done = 0 \
                            AND watch_leases.lease_until_ms < $5) \
                     RETURNING account_key",
                )
                .bind(account_key)
                .bind(round)
                .bind(holder)
                .bind(now_ms.saturating_add(millis(lease)))
                .bind(now_ms)
                .fetch_optional(pools.writer)
                .await?;
                Ok(won.is_some())
            }

            pub(crate) async fn finish_watch(
                pools: P<'_>,
                account_key: &str,
                round: i64,
                holder: &str,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE watch_leases SET done = 1 \
                     WHERE account_key = $1 AND round = $2 AND holder = $3",
                )
                .bind(account_key)
                .bind(round)
                .bind(holder)
                .execute(pools.writer)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            pub(crate) async fn record_health(
                pools: P<'_>,
                c: &HealthCheck,
            ) -> Result<Option<i64>, StoreError> {
                let row = sqlx::query(
                    "INSERT INTO health_checks (account_key, platform, account_id, \
                       account_name, job_id, round, checked_at_ms, status, capabilities, \
                       changes, error) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                     ON CONFLICT (account_key, round) DO NOTHING RETURNING id",
                )
                .bind(&c.account_key)
                .bind(&c.platform)
                .bind(&c.account_id)
                .bind(&c.account_name)
                .bind(&c.job_id)
                .bind(c.round)
                .bind(c.checked_at_ms)
                .bind(&c.status)
                .bind(json_text(&c.capabilities))
                .bind(json_text(&c.changes))
                .bind(c.error.as_deref())
                .fetch_optional(pools.writer)
                .await?;
                Ok(row.map(|r| r.try_get("id")).transpose()?)
            }

            pub(crate) async fn latest_health(
                pools: P<'_>,
            ) -> Result<Vec<HealthRecord>, StoreError> {
                sqlx::query(concat!(
                    "SELECT ",
                    health_columns!(),
                    " FROM health_checks WHERE id IN \
                     (SELECT MAX(id) FROM health_checks GROUP BY account_key) \
                     ORDER BY account_name, account_key"
                ))
                .fetch_all(pools.reader)
                .await?
                .iter()
                .map(health_from_row)
                .collect()
            }

            pub(crate) async fn latest_changes(
                pools: P<'_>,
            ) -> Result<Vec<HealthRecord>, StoreError> {
                sqlx::query(concat!(
                    "SELECT ",
                    health_columns!(),
                    " FROM health_checks WHERE id IN \
                     (SELECT MAX(id) FROM health_checks WHERE changes <> '[]' \
                      GROUP BY account_key) \
                     ORDER BY account_name, account_key"
                ))
                .fetch_all(pools.reader)
                .await?
                .iter()
                .map(health_from_row)
                .collect()
            }

            pub(crate) async fn health_history(
                pools: P<'_>,
                account_key: &str,
                limit: u32,
            ) -> Result<Vec<HealthRecord>, StoreError> {
                sqlx::query(concat!(
                    "SELECT ",
                    health_columns!(),
                    " FROM health_checks WHERE account_key = $1 ORDER BY id DESC LIMIT $2"
                ))
                .bind(account_key)
                .bind(crate::limit(limit))
                .fetch_all(pools.reader)
                .await?
                .iter()
                .map(health_from_row)
                .collect()
            }

            pub(crate) async fn insert_notification(
                pools: P<'_>,
                n: &NewNotification,
                sinks: &[String],
            ) -> Result<Option<i64>, StoreError> {
                let mut tx = pools.writer.begin().await?;
                let row = sqlx::query(
                    "INSERT INTO notifications (dedupe_key, kind, account_key, payload, \
                       created_at_ms) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
                )
                .bind(&n.dedupe_key)
                .bind(&n.kind)
                .bind(n.account_key.as_deref())
                .bind(json_text(&n.payload))
                .bind(n.created_at_ms)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Ok(None);
                };
                let id: i64 = row.try_get("id")?;
                for sink in sinks {
                    sqlx::query(
                        "INSERT INTO deliveries (notification_id, sink, state, attempts, \
                           updated_at_ms) VALUES ($1, $2, 'pending', 0, $3)",
                    )
                    .bind(id)
                    .bind(sink.as_str())
                    .bind(n.created_at_ms)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(Some(id))
            }

            pub(crate) async fn set_delivery(
                pools: P<'_>,
                notification_id: i64,
                sink: &str,
                state: &str,
                attempts: i64,
                last_error: Option<&str>,
                now_ms: i64,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE deliveries SET state = $3, attempts = $4, last_error = $5, \
                       updated_at_ms = $6 WHERE notification_id = $1 AND sink = $2",
                )
                .bind(notification_id)
                .bind(sink)
                .bind(state)
                .bind(attempts)
                .bind(last_error)
                .bind(now_ms)
                .execute(pools.writer)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            pub(crate) async fn requeue_delivery(
                pools: P<'_>,
                notification_id: i64,
                sink: &str,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE deliveries SET state = 'pending', updated_at_ms = 0 \
                     WHERE notification_id = $1 AND sink = $2 AND state = 'dead'",
                )
                .bind(notification_id)
                .bind(sink)
                .execute(pools.writer)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            pub(crate) async fn discard_delivery(
                pools: P<'_>,
                notification_id: i64,
                sink: &str,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "DELETE FROM deliveries \
                     WHERE notification_id = $1 AND sink = $2 AND state = 'dead'",
                )
                .bind(notification_id)
                .bind(sink)
                .execute(pools.writer)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            pub(crate) async fn stale_pending(
                pools: P<'_>,
                stale_before_ms: i64,
                limit: u32,
            ) -> Result<Vec<(i64, String, i64)>, StoreError> {
                sqlx::query(
                    "SELECT notification_id, sink, updated_at_ms FROM deliveries \
                     WHERE state = 'pending' AND updated_at_ms < $1 \
                     ORDER BY updated_at_ms, notification_id LIMIT $2",
                )
                .bind(stale_before_ms)
                .bind(crate::limit(limit))
                .fetch_all(pools.reader)
                .await?
                .iter()
                .map(|row| {
                    Ok((
                        row.try_get("notification_id")?,
                        row.try_get("sink")?,
                        row.try_get("updated_at_ms")?,
                    ))
                })
                .collect()
            }

            pub(crate) async fn claim_pending(
                pools: P<'_>,
                notification_id: i64,
                sink: &str,
                seen_at_ms: i64,
                now_ms: i64,
            ) -> Result<bool, StoreError> {
                let won = sqlx::query(
                    "UPDATE deliveries SET updated_at_ms = $4 \
                     WHERE notification_id = $1 AND sink = $2 AND state = 'pending' \
                       AND updated_at_ms = $3",
                )
                .bind(notification_id)
                .bind(sink)
                .bind(seen_at_ms)
                .bind(now_ms)
                .execute(pools.writer)
                .await?;
                Ok(won.rows_affected() == 1)
            }

            pub(crate) async fn deliveries(
                pools: P<'_>,
                state: Option<&str>,
                one: Option<(i64, &str)>,
                limit: u32,
            ) -> Result<Vec<DeliveryRecord>, StoreError> {
                sqlx::query(
                    "SELECT d.notification_id, d.sink, d.state, d.attempts, d.last_error, \
                       d.updated_at_ms, n.kind, n.dedupe_key, n.payload, n.created_at_ms \
                     FROM deliveries d JOIN notifications n ON n.id = d.notification_id \
                     WHERE ($1 = '' OR d.state = $1) \
                       AND ($3 = 0 OR (d.notification_id = $3 AND d.sink = $4)) \
                     ORDER BY d.notification_id DESC, d.sink LIMIT $2",
                )
                .bind(state.unwrap_or(""))
                .bind(crate::limit(limit))
                .bind(one.map_or(0, |(id, _)| id))
                .bind(one.map_or("", |(_, sink)| sink))
                .fetch_all(pools.reader)
                .await?
                .iter()
                .map(|row| {
                    Ok(DeliveryRecord {
                        notification_id: row.try_get("notification_id")?,
                        sink: row.try_get("sink")?,
                        state: row.try_get("state")?,
                        attempts: row.try_get("attempts")?,
                        last_error: row.try_get("last_error")?,
                        updated_at_ms: row.try_get("updated_at_ms")?,
                        kind: row.try_get("kind")?,
                        dedupe_key: row.try_get("dedupe_key")?,
                        payload: json_column("payload", &row.try_get::<String, _>("payload")?)?,
                        created_at_ms: row.try_get("created_at_ms")?,
                    })
                })
                .collect()
            }
        }
    };
}

backend_queries!(on_sqlite, sqlx::Sqlite);
backend_queries!(on_postgres, sqlx::Postgres);

/// Calls the backend's copy of a query in this module with the store's pools.
macro_rules! health {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            Store::Sqlite(s) => on_sqlite::$method(s.pools(), $($arg),*).await,
            Store::Postgres(s) => on_postgres::$method(s.pools(), $($arg),*).await,
        }
    };
}

impl Store {
    /// Wins the right to check `account_key` in `round` for `holder`, with a lease of `lease`
    /// from `now_ms`. `false` if another holder won it (and its lease has not expired
    /// unfinished), or the round is already done, or a later round was claimed.
    pub async fn claim_watch(
        &self,
        account_key: &str,
        round: i64,
        holder: &str,
        lease: Duration,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        health!(self.claim_watch(account_key, round, holder, lease, now_ms))
    }

    /// Marks the round done for the account (no one claims it again in this round). `false` if
    /// `holder` does not hold it.
    pub async fn finish_watch(
        &self,
        account_key: &str,
        round: i64,
        holder: &str,
    ) -> Result<bool, StoreError> {
        health!(self.finish_watch(account_key, round, holder))
    }

    /// Records a check; `None` if the account already has one for that round.
    pub async fn record_health(&self, check: &HealthCheck) -> Result<Option<i64>, StoreError> {
        health!(self.record_health(check))
    }

    /// Every watched account's newest check, by account name.
    pub async fn latest_health(&self) -> Result<Vec<HealthRecord>, StoreError> {
        health!(self.latest_health())
    }

    /// The account's newest `limit` checks, newest first.
    pub async fn health_history(
        &self,
        account_key: &str,
        limit: u32,
    ) -> Result<Vec<HealthRecord>, StoreError> {
        health!(self.health_history(account_key, limit))
    }

    /// Every watched account's newest check that changed something (what changed last, and
    /// when), by account name.
    pub async fn latest_changes(&self) -> Result<Vec<HealthRecord>, StoreError> {
        health!(self.latest_changes())
    }

    /// Inserts the notification with a `pending` delivery per sink, in one transaction; `None`
    /// if one with the same dedupe key exists (another replica, or an earlier round, has it).
    pub async fn insert_notification(
        &self,
        notification: &NewNotification,
        sinks: &[String],
    ) -> Result<Option<i64>, StoreError> {
        health!(self.insert_notification(notification, sinks))
    }

    /// Records a delivery's outcome (`pending`, `delivered` or `dead`). `false` if there is no
    /// such delivery.
    pub async fn set_delivery(
        &self,
        notification_id: i64,
        sink: &str,
        state: &str,
        attempts: i64,
        last_error: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        if !DELIVERY_STATES.contains(&state) {
            return Err(StoreError::invalid(format!(
                "delivery state {state:?}: expected pending, delivered or dead"
            )));
        }
        health!(self.set_delivery(notification_id, sink, state, attempts, last_error, now_ms))
    }

    /// The newest `limit` deliveries, of one state (`Some("dead")`: the dead-letter list) or all.
    pub async fn deliveries(
        &self,
        state: Option<&str>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        health!(self.deliveries(state, None, limit))
    }

    /// One delivery (any state), if it exists.
    pub async fn delivery(
        &self,
        notification_id: i64,
        sink: &str,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        let one = Some((notification_id, sink));
        Ok(health!(self.deliveries(None, one, 1))?.into_iter().next())
    }

    /// Puts a dead delivery back in the queue: `pending` and due at once (its `updated_at_ms`
    /// is 0, so the stuck-delivery sweep claims it); its attempts keep counting. `false` if it
    /// is not dead.
    pub async fn requeue_delivery(
        &self,
        notification_id: i64,
        sink: &str,
    ) -> Result<bool, StoreError> {
        health!(self.requeue_delivery(notification_id, sink))
    }

    /// Removes a dead delivery from the dead-letter list. `false` if it is not dead.
    pub async fn discard_delivery(
        &self,
        notification_id: i64,
        sink: &str,
    ) -> Result<bool, StoreError> {
        health!(self.discard_delivery(notification_id, sink))
    }

    /// Claims up to `limit` `pending` deliveries untouched since before `stale_before_ms`
    /// (their worker died, or they were re-queued), stamping them `now_ms`: a compare-and-swap
    /// on the stamp, so of several replicas sweeping at once exactly one wins each. The won
    /// `(notification_id, sink)`, oldest first.
    pub async fn claim_stale_deliveries(
        &self,
        stale_before_ms: i64,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let mut won = Vec::new();
        for (id, sink, seen) in health!(self.stale_pending(stale_before_ms, limit))? {
            if health!(self.claim_pending(id, &sink, seen, now_ms))? {
                won.push((id, sink));
            }
        }
        Ok(won)
    }
}
