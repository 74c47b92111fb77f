//! `azure-cortex onboard cortex SCOPE`: onboard a tenant, a management group or a subscription
//! into Cortex Cloud through a Cortex Cloud connection.
//!
//! The flags fill the same [`RawCortexRequest`] the web's `POST /api/v1/cortex/onboardings`
//! and the wizard parse, and [`RawCortexRequest::validate`] checks it: every bad field is
//! named (with the flag it came from), nothing is created, exit 2. Then the engine creates the
//! pending instance, downloads and runs the authentication template (the Terraform twin with
//! `--sandbox`), waits for its callback, verifies each capability and lists the accounts;
//! this process runs the worker and renders the events, and prints a `cortex_result`
//! (`schemas/cortex_result.schema.json`). `--require-approval` stops after the template's
//! plan (`jobs approve`, or answer the question with `--interactive`).
//!
//! `--connection` names the Cortex Cloud connection (saved under Connections in the web UI,
//! in the same data directory); with `--sandbox` it defaults to the built-in
//! `cortex-sandbox`. A Prisma Cloud connection is refused naming `connection`. No API key
//! is ever a flag: it stays in the connection.

use std::collections::BTreeMap;

use onboarding_engine::EngineError;
use onboarding_engine::connections::CORTEX_SANDBOX_CONNECTION;
use onboarding_engine::cortex::{CortexRequest, RawCortexRequest};
use onboarding_engine::request::FieldError;

use crate::GlobalArgs;
use crate::commands::actor;
use crate::exit::{CliError, Exit};
use crate::output::Out;
use crate::session::Session;

pub const EXAMPLES: &str = "\
Examples:
  azure-cortex --sandbox onboard cortex tenant --tenant 0091a7ea-5021-42d3-a276-18004980b42b \\
      --subscription 8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f
  azure-cortex onboard cortex management-group --connection cortex-prod \\
      --tenant 0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d --subscription 8f2c1a3e-… \\
      --management-group mg-prod --capabilities ads,dspm --exclude-region westus
  azure-cortex onboard cortex subscription --connection cortex-prod --tenant … \\
      --subscription 8f2c1a3e-… --no-audit-logs --require-approval --interactive";

#[derive(clap::Args, Debug, Default)]
pub struct CortexArgs {
    /// tenant (ORGANIZATION), management-group (ACCOUNT_GROUP) or subscription (ACCOUNT).
    #[arg(value_name = "SCOPE")]
    pub scope: String,
    /// The Cortex Cloud connection [default with --sandbox: cortex-sandbox].
    #[arg(long, value_name = "NAME")]
    pub connection: Option<String>,
    /// The Entra tenant ID; it must have approved Cortex Cloud's application. Required.
    #[arg(long, value_name = "TENANT_ID")]
    pub tenant: Option<String>,
    /// The subscription onboarded (subscription scope), else the one hosting Cortex's
    /// resource group. Required.
    #[arg(long, value_name = "SUBSCRIPTION_ID")]
    pub subscription: Option<String>,
    /// The management group (management-group scope only).
    #[arg(long, value_name = "MG")]
    pub management_group: Option<String>,
    /// The instance's name in Cortex Cloud [default: Cortex names it].
    #[arg(long, value_name = "NAME")]
    pub instance_name: Option<String>,
    /// The Azure location of the hosting resource group [default: eastus].
    #[arg(long, value_name = "LOCATION")]
    pub location: Option<String>,
    /// Onboard only these subscriptions (tenant and management-group scopes; comma-separated).
    #[arg(
        long = "include-subscription",
        value_name = "ID",
        value_delimiter = ',',
        conflicts_with = "exclude_subscriptions"
    )]
    pub include_subscriptions: Option<Vec<String>>,
    /// Leave these subscriptions out.
    #[arg(
        long = "exclude-subscription",
        value_name = "ID",
        value_delimiter = ','
    )]
    pub exclude_subscriptions: Option<Vec<String>>,
    /// Scan only these Azure regions (comma-separated location names).
    #[arg(
        long = "include-region",
        value_name = "REGION",
        value_delimiter = ',',
        conflicts_with = "exclude_regions"
    )]
    pub include_regions: Option<Vec<String>>,
    /// Leave these regions out.
    #[arg(long = "exclude-region", value_name = "REGION", value_delimiter = ',')]
    pub exclude_regions: Option<Vec<String>>,
    /// Security capabilities (comma-separated): agentless_disk_scanning (ads),
    /// data_security_posture_management (dspm), registry_scanning (registry),
    /// serverless_scanning (serverless), xsiam_analytics [default: all five]. Discovery is
    /// always on.
    #[arg(long, value_name = "CAPABILITIES", value_delimiter = ',')]
    pub capabilities: Option<Vec<String>>,
    /// With registry scanning: ALL (default), LATEST_TAG or TAGS_MODIFIED_DAYS.
    #[arg(long, value_name = "TYPE")]
    pub registry_scan_type: Option<String>,
    /// With TAGS_MODIFIED_DAYS: 0-90.
    #[arg(long, value_name = "DAYS", allow_negative_numbers = true)]
    pub registry_last_days: Option<i64>,
    /// Do not collect audit logs (collected by default).
    #[arg(long)]
    pub no_audit_logs: bool,
    /// How audit logs are collected: AUTOMATED (default) or CUSTOM.
    #[arg(long, value_name = "METHOD")]
    pub audit_logs_method: Option<String>,
    /// Also collect data events with the audit logs.
    #[arg(long)]
    pub audit_logs_data_events: bool,
    /// MANAGED (default: Cortex Cloud scans) or OUTPOST (with --outpost-id).
    #[arg(long, value_name = "MODE")]
    pub scan_mode: Option<String>,
    /// The outpost's ID (32 hexadecimal digits), with --scan-mode OUTPOST.
    #[arg(long, value_name = "ID")]
    pub outpost_id: Option<String>,
    /// public (default) or usgovernment.
    #[arg(long, value_name = "CLOUD")]
    pub cloud_environment: Option<String>,
    /// A tag on the resources Cortex creates, KEY=VALUE (repeat for more).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
    /// Stop after the template's `terraform plan` until the job is approved (`jobs approve`).
    #[arg(long)]
    pub require_approval: bool,
    /// Submit only: print the job id and return; a worker runs it later.
    #[arg(long)]
    pub no_wait: bool,
}

impl CortexArgs {
    /// The request these flags make (`--sandbox` defaults the connection), or the tags that
    /// are not KEY=VALUE.
    pub fn raw(&self, sandbox: bool) -> Result<RawCortexRequest, CliError> {
        let mut tags = BTreeMap::new();
        for tag in &self.tags {
            let Some((key, value)) = tag.split_once('=') else {
                return Err(CliError::field(
                    "tags",
                    "each --tag is KEY=VALUE (the key may not be empty)",
                ));
            };
            tags.insert(key.trim().to_owned(), value.to_owned());
        }
        Ok(RawCortexRequest {
            connection: self
                .connection
                .clone()
                .or_else(|| sandbox.then(|| CORTEX_SANDBOX_CONNECTION.to_owned())),
            instance_name: self.instance_name.clone(),
            tenant_id: self.tenant.clone(),
            scope: Some(self.scope.clone()),
            subscription_id: self.subscription.clone(),
            management_group_id: self.management_group.clone(),
            location: self.location.clone(),
            include_subscriptions: self.include_subscriptions.clone(),
            exclude_subscriptions: self.exclude_subscriptions.clone(),
            include_regions: self.include_regions.clone(),
            exclude_regions: self.exclude_regions.clone(),
            capabilities: self.capabilities.clone(),
            registry_scanning_type: self.registry_scan_type.clone(),
            registry_last_days: self.registry_last_days,
            audit_logs: self.no_audit_logs.then_some(false),
            audit_logs_method: self.audit_logs_method.clone(),
            audit_logs_data_events: self.audit_logs_data_events.then_some(true),
            scan_mode: self.scan_mode.clone(),
            outpost_id: self.outpost_id.clone(),
            cloud_environment: self.cloud_environment.clone(),
            tags: (!tags.is_empty()).then_some(tags),
            require_approval: Some(self.require_approval),
        })
    }
}

/// Which flag a request field comes from, for messages.
fn flag_of(field: &str) -> Option<&'static str> {
    Some(match field {
        "connection" => "--connection",
        "instance_name" => "--instance-name",
        "tenant_id" => "--tenant",
        "scope" => "the SCOPE argument",
        "subscription_id" => "--subscription",
        "management_group_id" => "--management-group",
        "location" => "--location",
        "include_subscriptions" => "--include-subscription",
        "exclude_subscriptions" => "--exclude-subscription",
        "include_regions" => "--include-region",
        "exclude_regions" => "--exclude-region",
        "capabilities" => "--capabilities",
        "registry_scanning_type" => "--registry-scan-type",
        "registry_last_days" => "--registry-last-days",
        "audit_logs_method" => "--audit-logs-method",
        "audit_logs_data_events" => "--audit-logs-data-events",
        "scan_mode" => "--scan-mode",
        "outpost_id" => "--outpost-id",
        "cloud_environment" => "--cloud-environment",
        "tags" => "--tag",
        _ => return None,
    })
}

fn invalid(errors: Vec<FieldError>) -> CliError {
    CliError::invalid(super::onboard::with_flags(errors, flag_of))
}

/// Validates the flags into the request the engine takes.
pub fn validate(args: &CortexArgs, sandbox: bool) -> Result<CortexRequest, CliError> {
    args.raw(sandbox)?.validate().map_err(|e| invalid(e.errors))
}

/// A refusal of the connection (unknown, or another platform's) is bad input: exit 2 naming
/// `connection`.
pub fn connection_error(e: EngineError) -> CliError {
    match e {
        EngineError::WrongPlatform { .. } | EngineError::UnknownConnection { .. } => {
            invalid(vec![FieldError {
                field: "connection".into(),
                message: e.to_string(),
            }])
        }
        other => match CliError::from(other) {
            e if !e.fields.is_empty() => invalid(e.fields),
            e => e,
        },
    }
}

pub async fn run(global: &GlobalArgs, out: &Out, args: CortexArgs) -> Result<Exit, CliError> {
    let request = validate(&args, global.sandbox)?;
    let session = Session::open(global).await?;
    let result = submit_and_run(global, out, &session, &request, args.no_wait).await;
    session.finish(result).await
}

async fn submit_and_run(
    global: &GlobalArgs,
    out: &Out,
    session: &Session,
    request: &CortexRequest,
    no_wait: bool,
) -> Result<Exit, CliError> {
    let job = session
        .engine
        .submit_cortex(request, &actor())
        .await
        .map_err(connection_error)?;
    if no_wait {
        super::onboard::print_submitted(out, job);
        return Ok(Exit::Success);
    }
    if !out.json() {
        out.note(&out.err_style.dim(&format!(
            "job {job}: onboarding {} into Cortex Cloud ({})",
            request.label(),
            request.connection.as_str()
        )));
    }
    super::follow_job(global, out, session, job, 0).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "0091a7ea-5021-42d3-a276-18004980b42b";
    const SUB: &str = "8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f";

    fn args(scope: &str) -> CortexArgs {
        CortexArgs {
            scope: scope.into(),
            tenant: Some(TENANT.into()),
            subscription: Some(SUB.into()),
            ..CortexArgs::default()
        }
    }

    #[test]
    fn the_flags_become_the_apis_request() {
        let r = validate(
            &CortexArgs {
                capabilities: Some(vec!["ads".into(), "registry".into()]),
                registry_scan_type: Some("LATEST_TAG".into()),
                exclude_regions: Some(vec!["westus".into()]),
                no_audit_logs: true,
                tags: vec!["team=sec".into()],
                require_approval: true,
                management_group: Some("mg-prod".into()),
                ..args("management-group")
            },
            true,
        )
        .unwrap();
        assert_eq!(r.connection.as_str(), CORTEX_SANDBOX_CONNECTION);
        assert_eq!(r.label(), "management group mg-prod");
        assert!(r.capabilities.agentless_disk_scanning && r.capabilities.registry_scanning);
        assert!(!r.capabilities.serverless_scanning && !r.xsiam_analytics);
        assert!(!r.audit_logs.enabled);
        assert!(r.require_approval);
        assert_eq!(r.tags["team"], "sec");
        assert_eq!(r.regions.unwrap().ids, ["westus"]);
    }

    #[test]
    fn bad_flags_are_named_with_their_flag_and_nothing_is_defaulted_outside_the_sandbox() {
        let e = validate(&args("planet"), true).unwrap_err();
        assert_eq!(e.exit, Exit::Usage);
        assert_eq!(e.fields[0].field, "scope");
        assert!(e.message.contains("the SCOPE argument"), "{}", e.message);

        let e = validate(&args("tenant"), false).unwrap_err();
        assert_eq!(e.fields[0].field, "connection");

        let e = validate(
            &CortexArgs {
                include_subscriptions: Some(vec![SUB.into()]),
                capabilities: Some(vec!["telepathy".into()]),
                ..args("subscription")
            },
            true,
        )
        .unwrap_err();
        let fields: Vec<_> = e.fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["include_subscriptions", "capabilities"], "{e}");
        assert!(e.message.contains("--include-subscription"), "{e}");

        let e = validate(
            &CortexArgs {
                tags: vec!["no-equals".into()],
                ..args("tenant")
            },
            true,
        )
        .unwrap_err();
        assert_eq!(e.fields[0].field, "tags");
    }
}
