//! The records the store reads and writes.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new UUIDv7: time-ordered, so ids sort in creation order.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    };
}

id_type!(
    /// An onboarding job's id (UUIDv7).
    JobId
);
id_type!(
    /// A batch's id (UUIDv7).
    BatchId
);

/// Where a job is in its life.
///
/// ```text
/// queued ──claim──▶ running ──finish──▶ succeeded | failed | cancelled
///   ▲  ▲              │  ▲
///   │  └──release─────┤  └── claim (only once approved)
///   │                 └──release──▶ awaiting_approval
///   └──requeue── failed | cancelled
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    AwaitingApproval,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobState {
    pub const ALL: [JobState; 6] = [
        JobState::Queued,
        JobState::Running,
        JobState::AwaitingApproval,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
    ];

    /// Succeeded, failed and cancelled jobs never change again (unless requeued).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }

    /// The value stored in the `state` column (the same as the serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::AwaitingApproval => "awaiting_approval",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown job state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown job state {0:?}")]
pub struct UnknownJobState(pub String);

impl FromStr for JobState {
    type Err = UnknownJobState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownJobState(s.to_owned()))
    }
}

/// The states a step can be in (`step_finished` accepts the last three).
pub const STEP_STATES: [&str; 4] = ["running", "succeeded", "failed", "skipped"];

/// A job to insert: it starts `queued`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewJob {
    pub id: JobId,
    pub batch_id: Option<BatchId>,
    pub kind: String,
    /// The job's input. Never put secrets here: use [`crate::Store::put_secret`].
    pub request: Value,
    pub created_by: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: JobId,
    pub batch_id: Option<BatchId>,
    pub kind: String,
    pub state: JobState,
    pub request: Value,
    pub result: Option<Value>,
    pub error: Option<Value>,
    /// How many times the job was claimed.
    pub attempts: i32,
    /// The worker that holds (running) or last held (finished) the job.
    pub worker_id: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub lease_until: Option<OffsetDateTime>,
    pub cancel_requested: bool,
    pub approved: bool,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A batch job's state and end, without its request and result ([`crate::Store::batch_job_ends`]).
#[derive(Clone, Debug, PartialEq)]
pub struct JobEnd {
    pub id: JobId,
    pub state: JobState,
    /// The result's `outcome` (`"created"`, `"adopted"`, …), when it has one.
    pub outcome: Option<String>,
    pub error: Option<Value>,
    /// The request of a failed job (a report names its account); `None` for the others.
    pub failed_request: Option<Value>,
    pub updated_at: OffsetDateTime,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub job_id: JobId,
    pub name: String,
    /// `running`, `succeeded`, `failed` or `skipped`.
    pub state: String,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// Checkpoint data for resume. Never secrets.
    pub output: Option<Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub job_id: JobId,
    /// 1-based, gapless per job.
    pub seq: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub event: Value,
}

/// A change to one step of a job, written with [`crate::Store::record`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepWrite<'a> {
    pub job: JobId,
    pub name: &'a str,
    pub change: StepChange<'a>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StepChange<'a> {
    /// See [`crate::Store::step_started`].
    Started,
    /// See [`crate::Store::step_finished`].
    Finished {
        state: &'a str,
        output: Option<&'a Value>,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewBatch {
    pub id: BatchId,
    pub label: String,
    pub created_by: String,
}

/// One data row of the source a batch was made from (a CSV file), kept with the batch: the
/// job it became, or why it was skipped. Rows keep their ORIGINAL numbers (in a CSV file the
/// header is row 1), so a report can say "rows 20 and 21 were skipped" long afterwards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchSourceRow {
    /// The row's number in its source (at least 1).
    pub row: u64,
    /// The job the row became; `None` for a skipped row.
    pub job_id: Option<JobId>,
    /// The subscription (or tenant) as written in the row.
    pub account_id: String,
    /// The account name the row asked for (may be empty for a skipped row).
    pub name: String,
    /// Why the row was skipped (empty for a row that became a job).
    pub problems: Vec<RowProblem>,
}

/// One problem of a skipped row: the field and a sentence about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowProblem {
    pub field: String,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchSummary {
    pub id: BatchId,
    pub label: String,
    pub created_by: String,
    /// Number of jobs in the batch.
    pub total: u64,
    /// Jobs per state; states with no job are absent.
    pub by_state: BTreeMap<JobState, u64>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: Value,
    pub prisma_request_ids: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: Value,
    pub prisma_request_ids: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_display_and_serde() {
        let id = JobId::new();
        assert_eq!(id.to_string().parse::<JobId>().unwrap(), id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<JobId>(&json).unwrap(), id);
        assert_eq!(id.0.get_version_num(), 7);
        assert!("not-a-uuid".parse::<BatchId>().is_err());
    }

    #[test]
    fn states_round_trip_and_terminality() {
        for state in JobState::ALL {
            assert_eq!(state.as_str().parse::<JobState>().unwrap(), state);
            assert_eq!(
                serde_json::to_value(state).unwrap(),
                Value::String(state.as_str().into())
            );
        }
        assert!("paused".parse::<JobState>().is_err());
        let terminal: Vec<_> = JobState::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(
            terminal,
            [JobState::Succeeded, JobState::Failed, JobState::Cancelled]
        );
    }
}
