//! Why a job failed, with a stable code for APIs and a message that says what to do.

use crate::request::RequestErrors;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Invalid(#[from] RequestErrors),
    #[error("storage: {0}")]
    Store(#[from] cortex_store::StoreError),
    #[error("Prisma Cloud: {0}")]
    Prisma(#[from] prisma_client::Error),
    #[error("Terraform: {0}")]
    Terraform(#[from] terraform_runner::runner::RunError),
    #[error("Terraform configuration: {0}")]
    Config(#[from] azure_config::ConfigError),
    #[error("{what} — fix: {fix}")]
    Prerequisite { what: String, fix: String },
    #[error("account group '{name}' does not exist; existing groups: {}", existing.join(", "))]
    GroupNotFound { name: String, existing: Vec<String> },
    #[error("feature '{feature}' is not offered for this account type; supported: {}", supported.join(", "))]
    FeatureNotSupported {
        feature: String,
        supported: Vec<String>,
    },
    #[error("Terraform output '{name}' is missing or not what onboarding needs")]
    MissingOutput { name: String },
    /// Each entry is `capability: why`; the fixes are in the capabilities' events and the
    /// result, so they are not repeated here.
    #[error("capabilities still failing after {waited_s} s: {}", failing.join("; "))]
    CapabilitiesFailing { failing: Vec<String>, waited_s: u64 },
    #[error(
        "pre-flight checks failed, so nothing was registered in Prisma Cloud: {}. Fix them and \
         retry, or submit again with register anyway",
        failing.join("; ")
    )]
    PreflightFailed { failing: Vec<String> },
    #[error("the job was cancelled")]
    Cancelled,
    #[error("the job's lease was lost to another worker")]
    LeaseLost,
    #[error("workspace: {0}")]
    Workspace(String),
    #[error("the Azure client secret for this job is missing from the store")]
    SecretMissing,
    #[error(
        "Prisma Cloud connection '{name}' does not exist (it may have been deleted after the job \
         was submitted); save it again under Connections, or resubmit with another connection"
    )]
    UnknownConnection { name: String },
    #[error(
        "account {account_id} is not managed by azure-cortex (neither onboarded nor adopted); \
         adopt it first (`accounts adopt {account_id}`)"
    )]
    NotManaged { account_id: String },
    #[error("account {account_id} is already managed by azure-cortex")]
    AlreadyManaged { account_id: String },
    #[error("account {account_id} does not exist in Prisma Cloud (deleted there?)")]
    PlatformAccountMissing { account_id: String },
    #[error("the account still differs from its desired state after the update: {}", differences.join("; "))]
    DriftRemains { differences: Vec<String> },
    #[error("Prisma Cloud connection '{name}': {message}")]
    ConnectionUnreadable { name: String, message: String },
    #[error(
        "connection '{name}' is a {} connection; this job needs a {} one",
        found.title(),
        wanted.title()
    )]
    WrongPlatform {
        name: String,
        found: crate::connections::Platform,
        wanted: crate::connections::Platform,
    },
    #[error("Cortex Cloud: {0}")]
    Cortex(#[from] cortex_cloud_client::Error),
    #[error("{what} — fix: {fix}")]
    CortexTemplate { what: String, fix: String },
    #[error(
        "the template ran but no instance connected within {waited_s} s: the template's \
         create_connector callback did not reach Cortex Cloud. Fix: check the apply's \
         create_connector output and that the machine running Terraform reaches Cortex Cloud, \
         then resume the job (it waits again and creates nothing twice); or connect pending \
         instance {pending_instance_id} by hand in the Cortex console (Manually connect)"
    )]
    CortexCallbackTimeout {
        waited_s: u64,
        pending_instance_id: String,
    },
    #[error(
        "the tenant's shared identity could not be applied (by job {job} of this batch): \
         {message}"
    )]
    SharedIdentityFailed { job: String, message: String },
    #[error(
        "account {account_id} is not onboarded here (no succeeded onboarding job registered it)"
    )]
    AccountNotFound { account_id: String },
    #[error("{what} is not possible: {why}")]
    NotPossible { what: String, why: String },
    /// A rotation or offboarding step failed with nothing lost: `next` says what stands and
    /// what to do (the code is the cause's).
    #[error("{source} — {next}")]
    StepFailedSafely {
        #[source]
        source: Box<EngineError>,
        next: String,
    },
}

impl EngineError {
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::Invalid(_) => "invalid_request",
            EngineError::Store(_) => "storage",
            EngineError::Prisma(e) => match e {
                prisma_client::Error::Auth(_) => "prisma_authentication",
                prisma_client::Error::Api(_) => "prisma_api_error",
                _ => "prisma_unreachable",
            },
            EngineError::Terraform(_) => "terraform_failed",
            EngineError::Config(_) => "terraform_config",
            EngineError::Prerequisite { .. } => "prerequisite_missing",
            EngineError::GroupNotFound { .. } => "unknown_account_group",
            EngineError::FeatureNotSupported { .. } => "feature_not_supported",
            EngineError::MissingOutput { .. } => "terraform_output_missing",
            EngineError::CapabilitiesFailing { .. } => "capabilities_failing",
            EngineError::PreflightFailed { .. } => "preflight_failed",
            EngineError::Cancelled => "cancelled",
            EngineError::LeaseLost => "lease_lost",
            EngineError::Workspace(_) => "workspace",
            EngineError::SecretMissing => "secret_missing",
            EngineError::UnknownConnection { .. } => "unknown_connection",
            EngineError::ConnectionUnreadable { .. } => "connection_unreadable",
            EngineError::WrongPlatform { .. } => "wrong_platform",
            EngineError::SharedIdentityFailed { .. } => "shared_identity_failed",
            EngineError::AccountNotFound { .. } => "account_not_found",
            EngineError::NotPossible { .. } => "not_possible",
            EngineError::StepFailedSafely { source, .. } => source.code(),
            EngineError::NotManaged { .. } => "not_managed",
            EngineError::AlreadyManaged { .. } => "already_managed",
            EngineError::PlatformAccountMissing { .. } => "account_not_found",
            EngineError::DriftRemains { .. } => "drift_remains",
            EngineError::Cortex(e) => match e.code() {
                "authentication" => "cortex_authentication",
                "invalid_request" | "api_error" | "invalid_input" => "cortex_api_error",
                _ => "cortex_unreachable",
            },
            EngineError::CortexTemplate { .. } => "cortex_template",
            EngineError::CortexCallbackTimeout { .. } => "cortex_callback_timeout",
        }
    }
}
