//! `azure-cortex onboard subscription | tenant | entra | batch` (Prisma Cloud) and
//! `onboard cortex` (Cortex Cloud: [`super::onboard_cortex`]).
//!
//! Flags become a [`RawRequest`]; the engine validates it (every bad field named, nothing
//! written), the job is submitted, and this process runs a worker for it while rendering its
//! events — then prints the result and exits 0 (succeeded or waiting for approval), 1
//! (failed), 3 (batch partly failed) or 4 (interrupted or cancelled). With `--no-wait` it only
//! submits and prints the job id.
//!
//! The Azure client secret of an `existing` identity comes from `AZURE_CLIENT_SECRET` or
//! `--client-secret-file`; there is no flag that takes the value itself.

use std::path::PathBuf;

use onboarding_engine::request::FieldError;
use onboarding_engine::{OnboardingRequest, RawRequest};
use prisma_types::SecretString;

use crate::GlobalArgs;
use crate::commands::actor;
use crate::exit::{CliError, Exit};
use crate::output::Out;
use crate::session::Session;

/// The group every Prisma Cloud tenant has; used when no `--groups` is given.
pub const DEFAULT_GROUP: &str = "Default Account Group";

/// The environment variable holding the client secret of `--identity existing`.
pub const SECRET_ENV: &str = "AZURE_CLIENT_SECRET";

pub const EXAMPLES: &str = "\
Examples:
  azure-cortex --sandbox onboard subscription 8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f \\
      --tenant 0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d --name prod --features agentless,remediation
  azure-cortex onboard tenant 0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d --name contoso \\
      --exclude-mg mg-sandbox --flow-logs
  azure-cortex onboard entra 0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d --name contoso-entra
  azure-cortex onboard batch subscriptions.csv --tenant 0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d
  AZURE_CLIENT_SECRET=… azure-cortex onboard subscription … --identity existing \\
      --client-id <APP_CLIENT_ID> --sp-object-id <ENTERPRISE_APP_OBJECT_ID>";

#[derive(clap::Subcommand, Debug)]
pub enum OnboardCommand {
    /// Onboard one Azure subscription.
    #[command(after_help = EXAMPLES)]
    Subscription(SubscriptionArgs),
    /// Onboard a tenant with its management groups and subscriptions (and Entra ID).
    #[command(after_help = EXAMPLES)]
    Tenant(TenantArgs),
    /// Onboard Microsoft Entra ID only.
    #[command(after_help = EXAMPLES)]
    Entra(EntraArgs),
    /// Onboard every subscription of a CSV file, as one batch.
    #[command(after_help = super::batch::EXAMPLES)]
    Batch(super::batch::BatchArgs),
    /// Onboard a tenant, a management group or a subscription into Cortex Cloud.
    #[command(after_help = super::onboard_cortex::EXAMPLES)]
    Cortex(Box<super::onboard_cortex::CortexArgs>),
}

#[derive(clap::Args, Debug)]
pub struct SubscriptionArgs {
    /// The subscription's ID (a GUID).
    #[arg(value_name = "SUBSCRIPTION_ID")]
    pub subscription_id: String,
    /// The Entra tenant (directory) ID the subscription belongs to. Required.
    #[arg(long, value_name = "TENANT_ID")]
    pub tenant: Option<String>,
    /// The account's name in Prisma Cloud. Required.
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(clap::Args, Debug)]
pub struct TenantArgs {
    /// The tenant (directory) ID.
    #[arg(value_name = "TENANT_ID")]
    pub tenant_id: String,
    /// The account's name in Prisma Cloud. Required.
    #[arg(long)]
    pub name: Option<String>,
    /// Onboard only these management groups (repeat or comma-separate; default: the whole tenant).
    #[arg(long = "include-mg", value_name = "MG", value_delimiter = ',')]
    pub include_mg: Vec<String>,
    /// Leave these management groups out.
    #[arg(long = "exclude-mg", value_name = "MG", value_delimiter = ',')]
    pub exclude_mg: Vec<String>,
    /// Onboard these subscriptions (with or instead of management groups).
    #[arg(
        long = "include-subscription",
        value_name = "ID",
        value_delimiter = ','
    )]
    pub include_subscription: Vec<String>,
    /// Leave these subscriptions out.
    #[arg(
        long = "exclude-subscription",
        value_name = "ID",
        value_delimiter = ','
    )]
    pub exclude_subscription: Vec<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(clap::Args, Debug)]
pub struct EntraArgs {
    /// The tenant (directory) ID.
    #[arg(value_name = "TENANT_ID")]
    pub tenant_id: String,
    /// The account's name in Prisma Cloud. Required.
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Options every onboarding takes (for a batch: every row).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CommonArgs {
    /// Account groups, by name or ID (comma-separated) [default: Default Account Group].
    #[arg(long, value_name = "GROUPS", value_delimiter = ',')]
    pub groups: Vec<String>,
    /// Create the named account groups that do not exist yet.
    #[arg(long)]
    pub create_missing_groups: bool,
    /// Optional capabilities (comma-separated): agentless, auto-protect, remediation, serverless.
    #[arg(long, value_name = "FEATURES", value_delimiter = ',')]
    pub features: Vec<String>,
    /// Ingest NSG flow logs.
    #[arg(long)]
    pub flow_logs: bool,
    /// The Azure cloud: azure (default), azure_gov, azure_china.
    #[arg(long, value_name = "ENV")]
    pub environment: Option<String>,
    /// Where the Azure identity comes from: our Terraform configuration (builtin), Prisma's
    /// Terraform template, or an existing service principal [default: builtin].
    #[arg(long, value_parser = ["builtin", "prisma-template", "existing"])]
    pub identity: Option<String>,
    /// The existing app registration's client (application) ID (--identity existing).
    #[arg(long, value_name = "GUID")]
    pub client_id: Option<String>,
    /// The existing Enterprise application's (service principal's) object ID.
    #[arg(long = "sp-object-id", value_name = "GUID")]
    pub sp_object_id: Option<String>,
    /// File holding the existing app's client secret (else AZURE_CLIENT_SECRET is read).
    #[arg(long, value_name = "PATH")]
    pub client_secret_file: Option<PathBuf>,
    /// Client-secret lifetime and rotation period in days, 1-730 (builtin identity).
    #[arg(long, value_name = "DAYS")]
    pub secret_rotation_days: Option<u32>,
    /// Also give the service principal Entra's Directory Readers role (builtin identity).
    #[arg(long)]
    pub directory_readers: bool,
    /// Stop after `terraform plan` until the job is approved (`jobs approve`).
    #[arg(long)]
    pub require_approval: bool,
    /// Register the account even when the pre-flight status checks fail (by default the job
    /// stops before registering an account whose checks fail).
    #[arg(long)]
    pub register_anyway: bool,
    /// Submit only: print the job (or batch) id and return; a worker runs it later.
    #[arg(long)]
    pub no_wait: bool,
    /// The saved Prisma Cloud connection to register in (see the web UI's Connections page)
    /// [default: the one from the environment].
    #[arg(long, value_name = "NAME")]
    pub connection: Option<String>,
}

impl CommonArgs {
    pub(crate) fn raw(&self) -> RawRequest {
        RawRequest {
            groups: if self.groups.is_empty() {
                vec![DEFAULT_GROUP.to_owned()]
            } else {
                self.groups.clone()
            },
            create_missing_groups: self.create_missing_groups,
            features: self.features.clone(),
            flow_logs: self.flow_logs,
            environment: self.environment.clone(),
            identity: self.identity.clone(),
            client_id: self.client_id.clone(),
            service_principal_id: self.sp_object_id.clone(),
            secret_rotation_days: self.secret_rotation_days,
            directory_readers: self.directory_readers,
            require_approval: self.require_approval,
            register_anyway: self.register_anyway,
            connection: self.connection.clone(),
            ..RawRequest::default()
        }
    }

    pub(crate) fn existing(&self) -> bool {
        self.identity.as_deref() == Some("existing")
    }

    /// The client secret for `--identity existing`: `--client-secret-file`, else
    /// `AZURE_CLIENT_SECRET` (read only for that identity: other tools use it too).
    pub(crate) fn client_secret(&self) -> Result<Option<SecretString>, CliError> {
        if let Some(path) = &self.client_secret_file {
            if !self.existing() {
                return Err(CliError::field(
                    "client_secret",
                    "--client-secret-file only applies to --identity existing",
                ));
            }
            let text = std::fs::read_to_string(path).map_err(|e| {
                CliError::field(
                    "client_secret_file",
                    format!("cannot read {}: {}", path.display(), e.kind()),
                )
            })?;
            let value = text.trim_end_matches(['\r', '\n']);
            if value.is_empty() {
                return Err(CliError::field(
                    "client_secret_file",
                    format!("{} is empty", path.display()),
                ));
            }
            return Ok(Some(SecretString::from(value)));
        }
        if !self.existing() {
            return Ok(None);
        }
        Ok(std::env::var(SECRET_ENV)
            .ok()
            .filter(|v| !v.is_empty())
            .map(SecretString::from))
    }
}

/// Which flag a request field comes from, for messages.
fn flag_of(field: &str) -> Option<&'static str> {
    Some(match field {
        "tenant_id" => "--tenant or the tenant argument",
        "name" => "--name",
        "groups" => "--groups",
        "features" => "--features",
        "flow_logs" => "--flow-logs",
        "environment" => "--environment",
        "identity" => "--identity",
        "client_id" => "--client-id",
        "service_principal_id" => "--sp-object-id",
        "secret_rotation_days" => "--secret-rotation-days",
        "include_management_groups" => "--include-mg",
        "exclude_management_groups" => "--exclude-mg",
        "include_subscriptions" => "--include-subscription",
        "exclude_subscriptions" => "--exclude-subscription",
        "client_secret" => "AZURE_CLIENT_SECRET or --client-secret-file",
        "connection" => "--connection; a Cortex Cloud connection onboards with `onboard cortex`",
        _ => return None,
    })
}

/// Each error's message with the flag its field comes from (`flag_of`), for messages.
pub(crate) fn with_flags(
    errors: Vec<FieldError>,
    flag_of: fn(&str) -> Option<&'static str>,
) -> Vec<FieldError> {
    errors
        .into_iter()
        .map(|mut e| {
            if let Some(flag) = flag_of(&e.field) {
                e.message = format!("{} ({flag})", e.message);
            }
            e
        })
        .collect()
}

pub(crate) fn missing_secret() -> FieldError {
    FieldError {
        field: "client_secret".into(),
        message: format!(
            "is required for --identity existing: set {SECRET_ENV} or pass --client-secret-file PATH"
        ),
    }
}

/// Validates one request; a missing secret is reported with the other fields.
fn validate(
    raw: &RawRequest,
    common: &CommonArgs,
    secret: &Option<SecretString>,
) -> Result<OnboardingRequest, CliError> {
    let mut errors = match raw.validate() {
        Ok(request) if !(common.existing() && secret.is_none()) => return Ok(request),
        Ok(_) => Vec::new(),
        Err(e) => e.errors,
    };
    if common.existing() && secret.is_none() {
        errors.push(missing_secret());
    }
    Err(CliError::invalid(with_flags(errors, flag_of)))
}

pub async fn run(
    global: &GlobalArgs,
    out: &Out,
    command: OnboardCommand,
) -> Result<Exit, CliError> {
    match command {
        OnboardCommand::Subscription(a) => {
            let raw = RawRequest {
                scope: Some("subscription".into()),
                subscription_id: Some(a.subscription_id),
                tenant_id: a.tenant,
                name: a.name,
                ..a.common.raw()
            };
            single(global, out, raw, &a.common).await
        }
        OnboardCommand::Tenant(a) => {
            let raw = RawRequest {
                scope: Some("tenant".into()),
                tenant_id: Some(a.tenant_id),
                name: a.name,
                include_management_groups: a.include_mg,
                exclude_management_groups: a.exclude_mg,
                include_subscriptions: a.include_subscription,
                exclude_subscriptions: a.exclude_subscription,
                ..a.common.raw()
            };
            single(global, out, raw, &a.common).await
        }
        OnboardCommand::Entra(a) => {
            let raw = RawRequest {
                scope: Some("entra".into()),
                tenant_id: Some(a.tenant_id),
                name: a.name,
                ..a.common.raw()
            };
            single(global, out, raw, &a.common).await
        }
        OnboardCommand::Batch(a) => super::batch::run(global, out, a).await,
        OnboardCommand::Cortex(a) => super::onboard_cortex::run(global, out, *a).await,
    }
}

async fn single(
    global: &GlobalArgs,
    out: &Out,
    raw: RawRequest,
    common: &CommonArgs,
) -> Result<Exit, CliError> {
    let secret = common.client_secret()?;
    let request = validate(&raw, common, &secret)?;
    let session = Session::open(global).await?;
    let result = submit_and_run(global, out, &session, &request, secret, common.no_wait).await;
    session.finish(result).await
}

async fn submit_and_run(
    global: &GlobalArgs,
    out: &Out,
    session: &Session,
    request: &OnboardingRequest,
    secret: Option<SecretString>,
    no_wait: bool,
) -> Result<Exit, CliError> {
    let job = session
        .engine
        .submit(request, secret, &actor())
        .await
        .map_err(|e| match CliError::from(e) {
            e if !e.fields.is_empty() => CliError::invalid(with_flags(e.fields, flag_of)),
            e => e,
        })?;
    if no_wait {
        print_submitted(out, job);
        return Ok(Exit::Success);
    }
    if !out.json() {
        out.note(&out.err_style.dim(&format!(
            "job {job}: onboarding {} {} ({})",
            request.scope.label(),
            request.name.as_str(),
            request.scope.account_id()
        )));
    }
    super::follow_job(global, out, session, job, 0).await
}

/// `--no-wait`: the job id, as a line or `{"type":"submitted"}`.
pub(crate) fn print_submitted(out: &Out, job: cortex_store::JobId) {
    if out.json() {
        out.json_line(&serde_json::json!({"type": "submitted", "job_id": job.to_string()}));
    } else {
        out.line(&job.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f";
    const TENANT: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

    #[test]
    fn existing_identity_without_a_secret_names_client_secret() {
        let common = CommonArgs {
            identity: Some("existing".into()),
            client_id: Some("11111111-2222-4333-8444-555555555555".into()),
            sp_object_id: Some("21111111-2222-4333-8444-555555555555".into()),
            ..CommonArgs::default()
        };
        let raw = RawRequest {
            scope: Some("subscription".into()),
            subscription_id: Some(SUB.into()),
            tenant_id: Some(TENANT.into()),
            name: Some("n".into()),
            ..common.raw()
        };
        let err = validate(&raw, &common, &None).unwrap_err();
        assert_eq!(err.fields[0].field, "client_secret");
        assert!(err.message.contains("AZURE_CLIENT_SECRET"));
        assert!(validate(&raw, &common, &Some(SecretString::from("s"))).is_ok());
    }

    #[test]
    fn default_group_when_none_given() {
        assert_eq!(CommonArgs::default().raw().groups, [DEFAULT_GROUP]);
    }
}
