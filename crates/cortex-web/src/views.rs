//! The API's request and response bodies (with their OpenAPI schemas).

use std::collections::BTreeMap;

use cortex_store::{AuditRecord, BatchSummary, JobRecord, StepRecord};
use onboarding_engine::BatchReport;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::auth::{Role, TokenInfo, User};

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// One onboarding request, as `POST /api/v1/jobs` and each batch row take it. Every field is
/// optional at this level so that all problems are reported at once (`invalid_request` lists
/// them). `client_secret` is only for `identity: "existing"`; it is stored encrypted and never
/// returned.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // documentation only: bodies are parsed into `RawRequest` + the secret
pub struct JobRequest {
    /// `subscription` (default) | `tenant` | `entra`.
    scope: Option<String>,
    subscription_id: Option<String>,
    tenant_id: Option<String>,
    include_management_groups: Option<Vec<String>>,
    exclude_management_groups: Option<Vec<String>>,
    include_subscriptions: Option<Vec<String>>,
    exclude_subscriptions: Option<Vec<String>>,
    /// The account name; `{subscription_id}` and `{tenant_id}` are filled in.
    name: Option<String>,
    /// Account group IDs or names.
    groups: Option<Vec<String>>,
    create_missing_groups: Option<bool>,
    features: Option<Vec<String>>,
    flow_logs: Option<bool>,
    /// `azure` (default) | `azure_gov` | `azure_china`.
    environment: Option<String>,
    enabled: Option<bool>,
    /// `builtin` (default) | `prisma-template` | `existing`.
    identity: Option<String>,
    client_id: Option<String>,
    service_principal_id: Option<String>,
    secret_rotation_days: Option<u32>,
    directory_readers: Option<bool>,
    audit_log_export: Option<bool>,
    require_approval: Option<bool>,
    /// Register the account even when the pre-flight status checks fail (default `false`:
    /// the job fails at `preflight` with `preflight_failed` and nothing is registered).
    register_anyway: Option<bool>,
    /// A saved Prisma Cloud connection (`GET /api/v1/connections`); absent or `default`: the
    /// server's configured one. An unknown name is refused (400, field `connection`).
    connection: Option<String>,
    /// The existing service principal's client secret (write-only).
    #[schema(write_only)]
    client_secret: Option<String>,
}

/// A batch: one label, many onboarding requests (all accepted or none).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct BatchRequest {
    pub label: String,
    pub rows: Vec<JobRequest>,
    /// How the builtin subscription rows get their Azure identity. `shared-tenant` (default):
    /// one app registration and client secret per tenant, granted each subscription's roles in
    /// one Terraform run per tenant, added to by later batches; one secret to rotate, but it
    /// opens every subscription of the tenant, and rows with `audit_log_export`,
    /// `directory_readers` or `require_approval` are refused (400, naming the row's field).
    /// `subscription`: one identity per subscription.
    #[schema(value_type = Option<String>, example = "shared-tenant")]
    pub identity_per: Option<IdentityPerName>,
}

/// `shared-tenant` | `subscription`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityPerName {
    SharedTenant,
    Subscription,
}

#[derive(Serialize, ToSchema)]
pub struct JobView {
    pub id: String,
    pub batch_id: Option<String>,
    pub kind: String,
    /// queued | running | awaiting_approval | succeeded | failed | cancelled
    pub state: String,
    /// The validated request (it never holds a secret).
    #[schema(value_type = Object)]
    pub request: Value,
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
    pub attempts: i32,
    pub worker_id: Option<String>,
    pub cancel_requested: bool,
    pub approved: bool,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<JobRecord> for JobView {
    fn from(j: JobRecord) -> Self {
        JobView {
            id: j.id.to_string(),
            batch_id: j.batch_id.map(|b| b.to_string()),
            kind: j.kind,
            state: j.state.to_string(),
            request: j.request,
            result: j.result,
            error: j.error,
            attempts: j.attempts,
            worker_id: j.worker_id,
            cancel_requested: j.cancel_requested,
            approved: j.approved,
            created_by: j.created_by,
            created_at: rfc3339(j.created_at),
            updated_at: rfc3339(j.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct StepView {
    pub name: String,
    /// running | succeeded | failed | skipped
    pub state: String,
    pub started_at: String,
    pub finished_at: Option<String>,
}

impl From<StepRecord> for StepView {
    fn from(s: StepRecord) -> Self {
        StepView {
            name: s.name,
            state: s.state,
            started_at: rfc3339(s.started_at),
            finished_at: s.finished_at.map(rfc3339),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct JobDetail {
    #[serde(flatten)]
    pub job: JobView,
    pub steps: Vec<StepView>,
}

#[derive(Serialize, ToSchema)]
pub struct JobList {
    pub jobs: Vec<JobView>,
}

/// A job accepted (202) or acted on.
#[derive(Serialize, ToSchema)]
pub struct JobRef {
    pub id: String,
    pub state: String,
    /// Where to follow it.
    pub events: String,
}

#[derive(Serialize, ToSchema)]
pub struct BatchAccepted {
    pub id: String,
    pub jobs: Vec<String>,
    pub events: String,
}

#[derive(Serialize, ToSchema)]
pub struct BatchRowView {
    /// The row of the batch's CSV file this job came from (the header is row 1); null for a
    /// batch submitted as JSON rows.
    #[schema(minimum = 1)]
    pub row: Option<u64>,
    pub job_id: String,
    pub account_id: String,
    pub name: String,
    pub state: String,
    /// created | adopted, once succeeded.
    pub outcome: Option<String>,
    pub code: Option<String>,
    pub message: Option<String>,
}

/// A row of the batch's CSV file that was left out for its problems (it is not a job).
#[derive(Serialize, ToSchema)]
pub struct SkippedRowView {
    /// The row's original number (the header is row 1).
    #[schema(minimum = 1)]
    pub row: u64,
    /// The subscription as written in the row.
    pub subscription_id: String,
    /// The name as written in the row (may be empty).
    pub name: String,
    /// Every problem of the row, each naming `row N` and the field.
    pub problems: Vec<FieldProblem>,
}

/// A problem with one field.
#[derive(Serialize, ToSchema)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

/// The jobs of a batch put back in the queue by a retry.
#[derive(Serialize, ToSchema)]
pub struct BatchRetried {
    pub batch_id: String,
    /// The failed or cancelled jobs now queued again.
    pub resumed: Vec<String>,
    /// Where to follow them.
    pub events: String,
}

/// A batch: its summary and the report of every job.
#[derive(Serialize, ToSchema)]
pub struct BatchView {
    pub id: String,
    pub label: String,
    pub created_by: String,
    pub created_at: String,
    pub total: u64,
    pub by_state: BTreeMap<String, u64>,
    pub onboarded: u64,
    pub adopted: u64,
    pub failed: u64,
    pub pending: u64,
    pub rows: Vec<BatchRowView>,
    /// The rows of the batch's file left out for their problems, by row number (empty for a
    /// batch submitted as JSON rows: those are all accepted or all refused).
    pub skipped: Vec<SkippedRowView>,
}

impl BatchView {
    pub fn new(summary: BatchSummary, report: BatchReport) -> Self {
        BatchView {
            id: summary.id.to_string(),
            label: summary.label,
            created_by: summary.created_by,
            created_at: rfc3339(summary.created_at),
            total: summary.total,
            by_state: summary
                .by_state
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            onboarded: report.onboarded,
            adopted: report.adopted,
            failed: report.failed,
            pending: report.pending,
            rows: report
                .rows
                .into_iter()
                .map(|r| BatchRowView {
                    row: r.row,
                    job_id: r.job_id,
                    account_id: r.account_id,
                    name: r.name,
                    state: r.state.to_string(),
                    outcome: r.outcome,
                    code: r.code,
                    message: r.message,
                })
                .collect(),
            skipped: report
                .skipped
                .into_iter()
                .map(|s| SkippedRowView {
                    row: s.row,
                    subscription_id: s.subscription_id,
                    name: s.name,
                    problems: s
                        .problems
                        .into_iter()
                        .map(|p| FieldProblem {
                            field: p.field,
                            message: p.message,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// Accounts as Prisma Cloud lists them (`GET /cloud`).
#[derive(Serialize, ToSchema)]
pub struct AccountList {
    #[schema(value_type = Vec<Object>)]
    pub accounts: Vec<Value>,
}

/// One Azure account (`GET /v1/cloudAccounts/azureAccounts/{id}`; the key is always masked).
#[derive(Serialize, ToSchema)]
pub struct AccountView {
    pub account_id: String,
    #[schema(value_type = Object)]
    pub account: Value,
}

#[derive(Serialize, ToSchema)]
pub struct AccountAction {
    pub account_id: String,
    /// enabled | disabled | offboarded
    pub result: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct GroupList {
    #[schema(value_type = Vec<Object>)]
    pub groups: Vec<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct GroupCreated {
    #[schema(value_type = Object)]
    pub group: Value,
    /// created | adopted (a group of that name existed).
    pub outcome: String,
}

#[derive(Serialize, ToSchema)]
pub struct AuditView {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    /// What the action was about; `null` when there is nothing more to say.
    #[schema(value_type = Option<Object>)]
    pub detail: Value,
    pub prisma_request_ids: Vec<String>,
}

impl From<AuditRecord> for AuditView {
    fn from(a: AuditRecord) -> Self {
        AuditView {
            id: a.id,
            at: rfc3339(a.at),
            actor: a.actor,
            action: a.action,
            target: a.target,
            detail: a.detail,
            prisma_request_ids: a.prisma_request_ids,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditList {
    pub entries: Vec<AuditView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    #[schema(value_type = String, write_only, min_length = 1, max_length = 4096)]
    pub password: prisma_types::SecretString,
}

/// The caller, and for a cookie session its CSRF token.
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    pub user: User,
    /// session | token
    pub auth: String,
    /// Send it as `X-CSRF-Token` with every state change made with the session cookie.
    pub csrf_token: Option<String>,
    /// Unix seconds.
    pub expires_at: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Days until it expires: the server's `token_days` (90) when absent, at most its
    /// `token_max_days` (365).
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<u32>,
    /// What it may do (default `full`: the user's role).
    pub scope: Option<crate::auth::TokenScope>,
}

/// A new API token: `token` is shown this once.
#[derive(Serialize, ToSchema)]
pub struct TokenCreated {
    #[serde(flatten)]
    pub info: TokenInfo,
    pub token: String,
    pub role: Role,
}

#[derive(Serialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenInfo>,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: String,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    pub status: String,
    /// sqlite | postgres
    pub store: String,
}

/// A platform connection to save (`POST /api/v1/connections`): replaces one of the same name.
/// `platform` picks the fields: `prisma` (the default) takes `api_url`, `access_key_id` and
/// `secret_key`; `cortex` takes `api_url`, `key_id`, `key` and `key_type`. A field of the
/// other platform is refused by name.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct ConnectionRequest {
    /// `prisma` (default) or `cortex`.
    #[schema(value_type = Option<String>, example = "cortex")]
    pub platform: Option<String>,
    /// Lowercase letters, digits and `-`, 1-40 characters; not `default` nor
    /// `cortex-sandbox`.
    pub name: String,
    /// Prisma Cloud: a stack name (`api2`, `eu`, …), an API or console host, or a URL. Cortex
    /// Cloud: the API URL (`https://api-<tenant>.xdr.<region>.paloaltonetworks.com`; a console
    /// URL is turned into it). https; http only to a loopback address.
    pub api_url: String,
    /// Prisma Cloud only.
    pub access_key_id: Option<String>,
    /// Prisma Cloud only. Stored encrypted; never returned (write-only).
    #[schema(write_only)]
    pub secret_key: Option<String>,
    /// Cortex Cloud only: the key's ID (the API Keys table's ID column), a positive integer
    /// given as a number or a string of digits.
    #[schema(value_type = Option<String>, example = "17")]
    pub key_id: Option<serde_json::Value>,
    /// Cortex Cloud only: the API key. Stored encrypted; never returned (write-only).
    #[schema(write_only)]
    pub key: Option<String>,
    /// Cortex Cloud only: `standard` or `advanced` (default, as the official SDK).
    pub key_type: Option<String>,
}

/// A connection as shown: never the secret.
#[derive(Serialize, ToSchema)]
pub struct ConnectionItem {
    pub name: String,
    /// `prisma` or `cortex`.
    pub platform: String,
    /// True for the server's built-in connections: `default` (the configured Prisma Cloud
    /// one) and, in the sandbox, `cortex-sandbox`.
    pub default: bool,
    pub api_url: String,
    /// Prisma Cloud: the first 4 characters and `…` (only `…` for ids under 8 characters);
    /// empty for Cortex Cloud.
    pub access_key_id: String,
    /// Cortex Cloud: the key's ID (not a secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Cortex Cloud: `standard` or `advanced`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_type: Option<String>,
    /// Always `••••`, whatever the secret's length.
    pub secret_key: String,
    /// `sandbox emulator` or `the server's configured connection` for built-in ones; who
    /// saved the others and when.
    pub description: String,
    /// Why the stored connection cannot be used, if it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl From<onboarding_engine::ConnectionView> for ConnectionItem {
    fn from(c: onboarding_engine::ConnectionView) -> Self {
        ConnectionItem {
            name: c.name,
            platform: c.platform.as_str().into(),
            default: c.default,
            api_url: c.api_url,
            access_key_id: c.access_key_id,
            key_id: c.key_id,
            key_type: c.key_type.map(|t| t.as_str().to_owned()),
            secret_key: c.secret_key,
            description: c.description,
            problem: c.problem,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ConnectionList {
    /// `default` first, then the saved ones by name.
    pub connections: Vec<ConnectionItem>,
}

#[derive(Serialize, ToSchema)]
pub struct ConnectionSaved {
    pub connection: ConnectionItem,
    /// created | replaced
    pub outcome: String,
}

#[derive(Serialize, ToSchema)]
pub struct ConnectionDeleted {
    pub name: String,
    /// deleted
    pub result: String,
}

/// The outcome of a connection test: a login with its key.
#[derive(Serialize, ToSchema)]
pub struct ConnectionTestResult {
    pub name: String,
    pub ok: bool,
    /// What happened; on failure the platform client's own message (never a secret).
    pub message: String,
}
