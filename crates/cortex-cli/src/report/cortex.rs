//! The result of a Cortex Cloud job (`"type":"cortex_result"`, schema
//! `schemas/cortex_result.schema.json`): the instance the template's callback created, each
//! security capability with Cortex's text, the accounts found — from the job's `result` once
//! it succeeded ([`CortexJobResult::of`]), else from its checkpoints and events so far (a job
//! waiting for approval already has its pending instance).

use cortex_store::{JobId, JobRecord, Store};
use onboarding_engine::cortex::{CortexAccount, CortexJobResult, CortexRequest};
use serde::Serialize;

use super::{Durations, ErrorInfo, Outcome, load_job};
use crate::exit::{CliError, Exit};

/// A capability as the job last saw it.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct CortexCapability {
    /// Cortex's name (`ADS`, `DSPM`, `AUDIT_LOGS`, …).
    pub name: String,
    /// `connected` | `warning` | `disabled` | `error` | `retrieving`.
    pub status: String,
    /// Cortex's code (0-4) when the job read it from the instance, else `null`.
    pub code: Option<i64>,
    /// Cortex's text for a warning or an error, as given.
    pub message: String,
    pub remediation: String,
}

/// One Cortex Cloud job's end.
#[derive(Serialize, Debug, Clone)]
pub struct CortexResult {
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `succeeded`, `failed`, `cancelled` (also: interrupted and queued again) or
    /// `awaiting_approval`.
    pub status: &'static str,
    pub state: String,
    pub job_id: String,
    /// The Cortex Cloud connection the job used.
    pub connection: String,
    /// `tenant`, `management_group` or `subscription`.
    pub scope: String,
    pub tenant_id: String,
    /// What was onboarded, in words ("tenant 0091…", "management group prod").
    pub target: String,
    /// The pending instance the job created (its tracking GUID), once created.
    pub pending_instance_id: Option<String>,
    /// The instance the template's callback created, once it connected.
    pub instance_id: Option<String>,
    pub instance_name: Option<String>,
    /// `CONNECTED`, `WARNING`, `ERROR`, … once verified.
    pub instance_status: Option<String>,
    pub capabilities: Vec<CortexCapability>,
    pub accounts: Vec<CortexAccount>,
    pub accounts_total: u64,
    /// The template bundle's MD5 as checked on download.
    pub template_md5: Option<String>,
    pub durations: Durations,
    pub attempts: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
}

impl CortexResult {
    /// A job refused before anything was created, because of what it was asked (an
    /// unapproved tenant, found at prerequisites), is bad input: exit 2, as for a field the
    /// request's own validation refuses.
    pub fn exit(&self) -> Exit {
        let refused = self.error.as_ref().is_some_and(|e| {
            e.code == "invalid_request"
                && matches!(e.step.as_deref(), Some("validate" | "prerequisites"))
        });
        match self.status {
            "succeeded" | "awaiting_approval" => Exit::Success,
            "cancelled" => Exit::Cancelled,
            "failed" if refused => Exit::Usage,
            _ => Exit::Failed,
        }
    }

    pub fn interrupted(&self) -> bool {
        matches!(self.state.as_str(), "queued" | "running")
    }
}

fn scope_name(scope: azure_config::cortex::CortexScope) -> &'static str {
    use azure_config::cortex::CortexScope;
    match scope {
        CortexScope::Tenant => "tenant",
        CortexScope::ManagementGroup => "management_group",
        CortexScope::Subscription => "subscription",
    }
}

/// The result of the Cortex Cloud job `record` as the store has it now.
pub async fn cortex_result(store: &Store, record: &JobRecord) -> Result<CortexResult, CliError> {
    let job = record.id;
    let steps = store.steps(job).await?;
    let request: CortexRequest = serde_json::from_value(record.request.clone()).map_err(|e| {
        CliError::failed(
            "job_request",
            format!("job {job}'s stored request is not a Cortex Cloud onboarding ({e})"),
        )
    })?;
    let Outcome {
        status,
        durations,
        error,
    } = Outcome::of(record, &steps);
    let output = |step: &str, field: &str| {
        steps
            .iter()
            .find(|s| s.name == step)
            .and_then(|s| s.output.as_ref())
            .and_then(|o| o[field].as_str())
            .map(str::to_owned)
    };
    let mut result = CortexResult {
        kind: "cortex_result",
        status,
        state: record.state.to_string(),
        job_id: job.to_string(),
        connection: request.connection.as_str().to_owned(),
        scope: scope_name(request.scope).into(),
        tenant_id: request.tenant_id.to_string(),
        target: request.label(),
        pending_instance_id: output("create_instance", "pending_instance_id"),
        instance_id: output("await_connection", "instance_id"),
        instance_name: output("await_connection", "instance_name"),
        instance_status: output("verify", "status"),
        capabilities: Vec::new(),
        accounts: Vec::new(),
        accounts_total: 0,
        template_md5: output("download_template", "md5"),
        durations,
        attempts: record.attempts,
        error,
    };
    match CortexJobResult::of(record.result.as_ref()) {
        Some(done) => {
            result.capabilities = done
                .capabilities
                .into_iter()
                .map(|c| CortexCapability {
                    name: c.name,
                    status: c.status,
                    code: Some(c.code),
                    message: c.message,
                    remediation: c.remediation,
                })
                .collect();
            result.accounts = done.accounts;
            result.accounts_total = done.accounts_total;
            result.instance_name = Some(done.instance_name);
            result.instance_status = Some(done.status);
        }
        None => {
            result.capabilities = super::last_capabilities(store, job)
                .await?
                .into_iter()
                .map(|c| CortexCapability {
                    name: c.name,
                    status: c.status,
                    code: None,
                    message: c.message,
                    remediation: c.remediation,
                })
                .collect();
        }
    }
    Ok(result)
}

/// Any job's result: a Prisma Cloud one (`"type":"result"`) or a Cortex Cloud one
/// (`"type":"cortex_result"`), by the job's kind.
#[derive(Debug, Clone)]
pub enum AnyResult {
    Prisma(super::JobResult),
    Cortex(CortexResult),
}

impl AnyResult {
    pub fn exit(&self) -> Exit {
        match self {
            Self::Prisma(r) => r.exit(),
            Self::Cortex(r) => r.exit(),
        }
    }

    pub fn status(&self) -> &'static str {
        match self {
            Self::Prisma(r) => r.status,
            Self::Cortex(r) => r.status,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Prisma(r) => serde_json::to_value(r),
            Self::Cortex(r) => serde_json::to_value(r),
        }
        .unwrap_or_default()
    }
}

/// The result of `job`, whichever platform it onboards into.
pub async fn any_result(store: &Store, job: JobId) -> Result<AnyResult, CliError> {
    let record = load_job(store, job).await?;
    if record.kind == onboarding_engine::cortex::CORTEX_JOB_KIND {
        Ok(AnyResult::Cortex(cortex_result(store, &record).await?))
    } else {
        super::job_result(store, job).await.map(AnyResult::Prisma)
    }
}
