//! Everything a job reports, as typed events.
//!
//! Each event is stored (with the job's next sequence number) before it is published, so a
//! subscriber can replay from any sequence number and then follow live with no gap and no
//! duplicate ([`crate::bus`]). Events carry names, numbers and messages — never a secret: the
//! client secret, tokens and keys have no field to go in, and Terraform output values are not
//! events.

use prisma_client::ClientEvent;
use serde::{Deserialize, Serialize};
use terraform_runner::stream::{MessageKind, UiMessage};

/// The steps of a job, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Validate,
    Prerequisites,
    Resolve,
    AzureIdentity,
    Preflight,
    Register,
    Verify,
    /// Rotation: a new client secret created beside the old one (Terraform).
    AddPassword,
    /// Rotation: the platform account switched to the new secret (tested first).
    UpdateAccount,
    /// Rotation: the old client secret removed (Terraform).
    RemoveOldPassword,
    /// Offboarding: the destroy plan of the Azure identity (the approval gate's review).
    PlanDestroy,
    /// Offboarding: the account disabled or deleted in the platform.
    OffboardAccount,
    /// Offboarding: `terraform destroy` of the Azure identity.
    DestroyIdentity,
    /// A reconcile's first step: what it will change (`drift`).
    Review,
    /// A reconcile's update of the platform account.
    Apply,
    /// Cortex Cloud: the pending instance (`create_instance_template`).
    CreateInstance,
    /// Cortex Cloud: the template bundle behind the signed link, checked.
    DownloadTemplate,
    /// Cortex Cloud: the template's Terraform run (plan, approval gate, apply).
    ApplyTemplate,
    /// Cortex Cloud: the instance the template's callback created.
    AwaitConnection,
    /// Cortex Cloud: the instance's accounts.
    ListAccounts,
}

impl Step {
    pub const ALL: [Step; 7] = [
        Step::Validate,
        Step::Prerequisites,
        Step::Resolve,
        Step::AzureIdentity,
        Step::Preflight,
        Step::Register,
        Step::Verify,
    ];

    /// A client-secret rotation's steps ([`crate::lifecycle`]).
    pub const ROTATE: [Step; 5] = [
        Step::Prerequisites,
        Step::AddPassword,
        Step::UpdateAccount,
        Step::Verify,
        Step::RemoveOldPassword,
    ];

    /// An offboarding's steps ([`crate::lifecycle`]).
    pub const OFFBOARD: [Step; 4] = [
        Step::Prerequisites,
        Step::PlanDestroy,
        Step::OffboardAccount,
        Step::DestroyIdentity,
    ];

    /// The steps of a job of `kind` (an onboarding's for any `onboard_*` kind).
    pub fn of_kind(kind: &str) -> &'static [Step] {
        match kind {
            crate::lifecycle::ROTATE_KIND => &Step::ROTATE,
            crate::lifecycle::OFFBOARD_KIND => &Step::OFFBOARD,
            crate::drift::RECONCILE_KIND => &Step::RECONCILE,
            crate::cortex::CORTEX_JOB_KIND => &Step::CORTEX,
            _ => &Step::ALL,
        }
    }

    /// What the step does, for pages.
    pub fn label(self) -> &'static str {
        match self {
            Step::Validate => "Validate the request",
            Step::Prerequisites => "Check prerequisites",
            Step::Resolve => "Resolve groups and features",
            Step::AzureIdentity => "Azure identity (Terraform)",
            Step::Preflight => "Preflight status check",
            Step::Register => "Register in Prisma Cloud",
            Step::Verify => "Verify capabilities",
            Step::AddPassword => "Add the new client secret (Terraform)",
            Step::UpdateAccount => "Switch the account to the new secret",
            Step::RemoveOldPassword => "Remove the old client secret (Terraform)",
            Step::PlanDestroy => "Plan the identity's destroy (review)",
            Step::OffboardAccount => "Disable or delete the account",
            Step::DestroyIdentity => "Destroy the Azure identity (Terraform)",
            Step::Review => "Review the changes",
            Step::Apply => "Apply the onboarded configuration",
            Step::CreateInstance => "Create the pending instance in Cortex Cloud",
            Step::DownloadTemplate => "Download the authentication template",
            Step::ApplyTemplate => "Run the template (Terraform)",
            Step::AwaitConnection => "Wait for the template's callback",
            Step::ListAccounts => "Read the instance's accounts",
        }
    }
    /// A reconcile's steps (`drift`).
    pub const RECONCILE: [Step; 3] = [Step::Review, Step::Apply, Step::Verify];

    /// Cortex Cloud's flow, in order.
    pub const CORTEX: [Step; 8] = [
        Step::Validate,
        Step::Prerequisites,
        Step::CreateInstance,
        Step::DownloadTemplate,
        Step::ApplyTemplate,
        Step::AwaitConnection,
        Step::Verify,
        Step::ListAccounts,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::Validate => "validate",
            Step::Prerequisites => "prerequisites",
            Step::Resolve => "resolve",
            Step::AzureIdentity => "azure_identity",
            Step::Preflight => "preflight",
            Step::Register => "register",
            Step::Verify => "verify",
            Step::AddPassword => "add_password",
            Step::UpdateAccount => "update_account",
            Step::RemoveOldPassword => "remove_old_password",
            Step::PlanDestroy => "plan_destroy",
            Step::OffboardAccount => "offboard_account",
            Step::DestroyIdentity => "destroy_identity",
            Step::Review => "review",
            Step::Apply => "apply",
            Step::CreateInstance => "create_instance",
            Step::DownloadTemplate => "download_template",
            Step::ApplyTemplate => "apply_template",
            Step::AwaitConnection => "await_connection",
            Step::ListAccounts => "list_accounts",
        }
    }

    pub fn from_name(name: &str) -> Option<Step> {
        Step::ALL
            .into_iter()
            .chain(Step::ROTATE)
            .chain(Step::OFFBOARD)
            .chain(Step::RECONCILE)
            .chain(Step::CORTEX)
            .find(|s| s.name() == name)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EngineEvent {
    JobStarted {
        attempt: i32,
        worker: String,
        resumed_from: Option<Step>,
    },
    JobSucceeded {
        account_id: String,
        outcome: String,
    },
    JobFailed {
        step: Option<Step>,
        code: String,
        message: String,
    },
    JobCancelled,
    StepStarted {
        step: Step,
    },
    StepFinished {
        step: Step,
        elapsed_ms: u64,
        /// Set when the step finished but with problems the operator chose to go past
        /// (pre-flight checks failing with `register_anyway`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        warning: Option<String>,
    },
    StepSkipped {
        step: Step,
        reason: String,
    },
    StepFailed {
        step: Step,
        code: String,
        message: String,
    },
    /// The plan is ready and the job waits for approval.
    ApprovalRequired {
        add: u64,
        change: u64,
        destroy: u64,
    },
    TerraformPlannedChange {
        address: String,
        action: String,
    },
    TerraformApplyStart {
        address: String,
        action: String,
    },
    TerraformApplyProgress {
        address: String,
        elapsed_s: f64,
    },
    TerraformApplyComplete {
        address: String,
        action: String,
        elapsed_s: f64,
    },
    TerraformApplyErrored {
        address: String,
        action: String,
    },
    TerraformDiagnostic {
        severity: String,
        summary: String,
        detail: String,
        address: Option<String>,
    },
    /// One Terraform run (`init`, `plan`, `apply`) finished, successfully, after `elapsed_ms`.
    TerraformPhase {
        phase: String,
        elapsed_ms: u64,
    },
    TerraformChangeSummary {
        operation: String,
        add: u64,
        change: u64,
        remove: u64,
    },
    /// Any other Terraform message (kept, shown by its `@message`).
    TerraformMessage {
        kind: String,
        message: String,
    },
    /// A line of Terraform's stderr, or of stdout that was not JSON.
    TerraformLog {
        line: String,
    },
    ApiCall {
        endpoint: String,
        status: Option<u16>,
        attempt: u32,
        elapsed_ms: u64,
        request_id: Option<String>,
    },
    ApiRetry {
        endpoint: String,
        attempt: u32,
        reason: String,
        delay_ms: u64,
    },
    RateLimited {
        endpoint: String,
        delay_ms: u64,
    },
    ApiSession {
        what: String,
    },
    /// A capability's status: from the pre-flight checks, then from verification. Not `ok`:
    /// `message` says why, `remediation` the fix (Prisma Cloud's, else [`crate::guidance`]).
    CapabilityStatus {
        capability: String,
        status: String,
        message: String,
        remediation: String,
        /// The documentation page for this capability's problems.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        docs_url: String,
    },
    Log {
        level: String,
        message: String,
    },
    /// Cortex Cloud: an instance of the job — its pending instance once created (`PENDING`),
    /// then the instance the template's callback created, with its status.
    CortexInstance {
        instance_id: String,
        status: String,
    },
}

impl EngineEvent {
    pub fn log(level: &str, message: impl Into<String>) -> Self {
        EngineEvent::Log {
            level: level.to_owned(),
            message: message.into(),
        }
    }

    /// The job event for a client event (all of them carry endpoint names and numbers only).
    pub fn from_client(event: &ClientEvent) -> Option<Self> {
        use cortex_cloud_client::HttpEvent;
        Some(match event {
            // The calls and retries every platform's client reports alike.
            ClientEvent::Call {
                endpoint,
                status,
                attempt,
                elapsed_ms,
                request_id,
            } => {
                return Self::from_http(&HttpEvent::Call {
                    endpoint: endpoint.clone(),
                    status: *status,
                    attempt: *attempt,
                    elapsed_ms: *elapsed_ms,
                    request_id: request_id.clone(),
                });
            }
            ClientEvent::Retry {
                endpoint,
                attempt,
                reason,
                delay_ms,
            } => {
                return Self::from_http(&HttpEvent::Retry {
                    endpoint: endpoint.clone(),
                    attempt: *attempt,
                    reason: reason.clone(),
                    delay_ms: *delay_ms,
                });
            }
            ClientEvent::Login { reason } => EngineEvent::ApiSession {
                what: format!("login ({reason})"),
            },
            ClientEvent::Extended => EngineEvent::ApiSession {
                what: "session extended".into(),
            },
            ClientEvent::Replayed { endpoint } => EngineEvent::ApiSession {
                what: format!("401 on {endpoint}: logged in again and replayed"),
            },
            ClientEvent::Reconciled {
                endpoint, outcome, ..
            } => EngineEvent::log(
                "info",
                format!("{endpoint}: the answer was lost; read back and settled as {outcome}"),
            ),
            ClientEvent::PacingUpdated { .. } => return None,
        })
    }

    /// The job event for a platform-neutral call event (the Cortex Cloud client's).
    pub fn from_http(event: &cortex_cloud_client::HttpEvent) -> Option<Self> {
        use cortex_cloud_client::HttpEvent;
        Some(match event {
            HttpEvent::Call {
                endpoint,
                status,
                attempt,
                elapsed_ms,
                request_id,
            } => EngineEvent::ApiCall {
                endpoint: endpoint.clone(),
                status: *status,
                attempt: *attempt,
                elapsed_ms: *elapsed_ms,
                request_id: request_id.clone(),
            },
            HttpEvent::Retry {
                endpoint,
                reason,
                delay_ms,
                ..
            } if reason.contains("429") => EngineEvent::RateLimited {
                endpoint: endpoint.clone(),
                delay_ms: *delay_ms,
            },
            HttpEvent::Retry {
                endpoint,
                attempt,
                reason,
                delay_ms,
            } => EngineEvent::ApiRetry {
                endpoint: endpoint.clone(),
                attempt: *attempt,
                reason: reason.clone(),
                delay_ms: *delay_ms,
            },
            HttpEvent::PacingUpdated { .. } => return None,
        })
    }

    /// The job event for a Terraform UI message. Output values are never carried.
    pub fn from_terraform(message: &UiMessage) -> Self {
        match &message.kind {
            MessageKind::PlannedChange {
                resource, action, ..
            } => EngineEvent::TerraformPlannedChange {
                address: resource.addr.clone(),
                action: action.clone(),
            },
            MessageKind::ApplyStart {
                resource, action, ..
            } => EngineEvent::TerraformApplyStart {
                address: resource.addr.clone(),
                action: action.clone(),
            },
            MessageKind::ApplyProgress {
                resource,
                elapsed_seconds,
                ..
            } => EngineEvent::TerraformApplyProgress {
                address: resource.addr.clone(),
                elapsed_s: *elapsed_seconds,
            },
            MessageKind::ApplyComplete {
                resource,
                action,
                elapsed_seconds,
                ..
            } => EngineEvent::TerraformApplyComplete {
                address: resource.addr.clone(),
                action: action.clone(),
                elapsed_s: *elapsed_seconds,
            },
            MessageKind::ApplyErrored {
                resource, action, ..
            } => EngineEvent::TerraformApplyErrored {
                address: resource.addr.clone(),
                action: action.clone(),
            },
            MessageKind::Diagnostic(d) => EngineEvent::TerraformDiagnostic {
                severity: d.severity.clone(),
                summary: d.summary.clone(),
                detail: d.detail.clone(),
                address: d.address.clone(),
            },
            MessageKind::ChangeSummary {
                add,
                change,
                remove,
                operation,
                ..
            } => EngineEvent::TerraformChangeSummary {
                operation: operation.clone(),
                add: *add,
                change: *change,
                remove: *remove,
            },
            other => EngineEvent::TerraformMessage {
                kind: kind_name(other).to_owned(),
                message: message.message.clone(),
            },
        }
    }
}

fn kind_name(kind: &MessageKind) -> &'static str {
    match kind {
        MessageKind::Version { .. } => "version",
        MessageKind::ResourceDrift { .. } => "resource_drift",
        MessageKind::RefreshStart { .. } => "refresh_start",
        MessageKind::RefreshComplete { .. } => "refresh_complete",
        MessageKind::ProvisionStart { .. } => "provision_start",
        MessageKind::ProvisionProgress { .. } => "provision_progress",
        MessageKind::ProvisionComplete { .. } => "provision_complete",
        MessageKind::ProvisionErrored { .. } => "provision_errored",
        MessageKind::Outputs { .. } => "outputs",
        MessageKind::InitOutput { .. } => "init_output",
        MessageKind::Log => "log",
        MessageKind::Unknown { .. } => "unknown",
        _ => "other",
    }
}
