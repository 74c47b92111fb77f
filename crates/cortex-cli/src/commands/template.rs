//! `azure-cortex template <subscription|tenant|entra> --tenant T [--subscription S] --out DIR`:
//! writes the Terraform configuration of the Azure side to a folder for review or GitOps,
//! without applying it.
//!
//! `--source builtin` (default) writes our configuration (`main.tf.json` and the user's values
//! as data in `terraform.tfvars.json`); `--source prisma` writes Prisma Cloud's own template as
//! `main.tf.json` (fetched from the API, or the sandbox emulator). Existing files are kept
//! unless `--force`. The resource names derive from a 5-character suffix that is stable for
//! the same tenant and subscription, so the output is reproducible.

use std::path::{Path, PathBuf};

use azure_config::{ConfigInput, Scope as ConfigScope};
use onboarding_engine::request::FieldError;
use prisma_client::TemplateScope;
use prisma_types::{Environment, FeatureSet, SubscriptionId, TenantId};

use crate::GlobalArgs;
use crate::exit::{CliError, Exit};
use crate::output::Out;
use crate::session::Prisma;

pub const EXAMPLES: &str = "\
Examples:
  azure-cortex template subscription --tenant 0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d \\
      --subscription 8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f --features agentless --out ./tf-prod
  azure-cortex template tenant --tenant 0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d --out ./tf-tenant
  azure-cortex --sandbox template entra --tenant 0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d \\
      --source prisma --out ./tf-entra

Then review and apply it yourself:
  terraform -chdir=./tf-prod init && terraform -chdir=./tf-prod apply";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TemplateScopeArg {
    Subscription,
    Tenant,
    Entra,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TemplateSource {
    /// Our configuration (azuread 3.x, azurerm 4.x).
    #[default]
    Builtin,
    /// Prisma Cloud's template, from its API.
    Prisma,
}

#[derive(clap::Args, Debug)]
pub struct TemplateArgs {
    /// Which onboarding the configuration is for.
    #[arg(value_enum)]
    pub scope: TemplateScopeArg,
    /// The tenant (directory) ID. Required.
    #[arg(long, value_name = "TENANT_ID")]
    pub tenant: Option<String>,
    /// The subscription (required for `subscription`; optional for `tenant`).
    #[arg(long, value_name = "SUBSCRIPTION_ID")]
    pub subscription: Option<String>,
    /// Optional capabilities (comma-separated): agentless, auto-protect, remediation, serverless.
    #[arg(long, value_delimiter = ',')]
    pub features: Vec<String>,
    /// Flow-log ingestion.
    #[arg(long)]
    pub flow_logs: bool,
    /// The Azure cloud: azure (default), azure_gov, azure_china.
    #[arg(long, value_name = "ENV")]
    pub environment: Option<String>,
    /// Client-secret lifetime in days, 1-730 (builtin) [default: 180].
    #[arg(long, value_name = "DAYS")]
    pub secret_rotation_days: Option<u32>,
    /// Give the service principal Entra's Directory Readers role (builtin).
    #[arg(long)]
    pub directory_readers: bool,
    /// Our configuration or Prisma's template.
    #[arg(long, value_enum, default_value_t = TemplateSource::Builtin)]
    pub source: TemplateSource,
    /// Suffix of the resource names, [a-z0-9]{5} [default: derived from the IDs].
    #[arg(long, value_name = "SUFFIX")]
    pub name_suffix: Option<String>,
    /// The folder to write into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

/// A stable `[a-z0-9]{5}` from the IDs (FNV-1a), so the same input gives the same names.
fn stable_suffix(tenant: &str, subscription: &str) -> String {
    let digest = format!("{tenant}/{subscription}")
        .bytes()
        .fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
        });
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..5)
        .map(|i| char::from(alphabet[((digest >> (i * 8)) % 36) as usize]))
        .collect()
}

fn take<T>(errors: &mut Vec<FieldError>, r: Result<T, prisma_types::ValidationError>) -> Option<T> {
    r.map_err(|e| errors.push(FieldError::from(e))).ok()
}

fn input(args: &TemplateArgs) -> Result<ConfigInput, CliError> {
    let mut errors: Vec<FieldError> = Vec::new();
    let tenant = match &args.tenant {
        Some(t) => take(&mut errors, TenantId::parse_as("tenant_id", t)),
        None => take(
            &mut errors,
            Err(prisma_types::ValidationError::new(
                "tenant_id",
                "is required (--tenant)",
            )),
        ),
    };
    let subscription = match &args.subscription {
        Some(s) => take(&mut errors, SubscriptionId::parse_as("subscription_id", s)),
        None => None,
    };
    let features = take(
        &mut errors,
        FeatureSet::parse(args.features.iter().map(String::as_str)),
    );
    let environment = match &args.environment {
        Some(e) => take(&mut errors, Environment::parse(e)),
        None => Some(Environment::Azure),
    };
    let scope = match args.scope {
        TemplateScopeArg::Subscription => ConfigScope::Subscription,
        TemplateScopeArg::Tenant => ConfigScope::TenantWithGroups,
        TemplateScopeArg::Entra => ConfigScope::EntraOnly,
    };
    if scope == ConfigScope::Subscription && args.subscription.is_none() {
        errors.push(FieldError {
            field: "subscription_id".into(),
            message: "is required for a subscription (--subscription)".into(),
        });
    }
    if !errors.is_empty() {
        return Err(CliError::invalid(errors));
    }
    let (Some(tenant_id), Some(features), Some(environment)) = (tenant, features, environment)
    else {
        return Err(CliError::usage("invalid input"));
    };
    let name_suffix = args.name_suffix.clone().unwrap_or_else(|| {
        stable_suffix(
            tenant_id.as_str(),
            subscription.as_ref().map(|s| s.as_str()).unwrap_or(""),
        )
    });
    let input = ConfigInput {
        scope,
        tenant_id,
        subscription_id: subscription,
        features,
        flow_logs: args.flow_logs,
        environment,
        name_suffix,
        secret_rotation_days: args
            .secret_rotation_days
            .unwrap_or(azure_config::DEFAULT_SECRET_ROTATION_DAYS),
        directory_readers: args.directory_readers,
        audit_log_export: None,
    };
    input
        .validate()
        .map_err(|e| CliError::field(e.field, e.message))?;
    Ok(input)
}

fn write_file(
    dir: &Path,
    name: &str,
    value: &serde_json::Value,
    force: bool,
) -> Result<PathBuf, CliError> {
    let path = dir.join(name);
    if path.exists() && !force {
        return Err(CliError::field(
            "out",
            format!("{} exists; pass --force to overwrite it", path.display()),
        ));
    }
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    std::fs::write(&path, text)
        .map_err(|e| CliError::failed("write", format!("cannot write {}: {e}", path.display())))?;
    Ok(path)
}

pub async fn run(global: &GlobalArgs, out: &Out, args: TemplateArgs) -> Result<Exit, CliError> {
    let input = input(&args)?;
    std::fs::create_dir_all(&args.out).map_err(|e| {
        CliError::field("out", format!("cannot create {}: {e}", args.out.display()))
    })?;
    let files = match args.source {
        TemplateSource::Builtin => {
            let generated = azure_config::builtin::generate(&input)
                .map_err(|e| CliError::field(e.field, e.message))?;
            let main = write_file(
                &args.out,
                azure_config::MAIN_FILE,
                &generated.main_tf_json,
                args.force,
            )?;
            let vars = write_file(
                &args.out,
                azure_config::TFVARS_FILE,
                &generated.tfvars_json,
                args.force,
            )?;
            vec![main, vars]
        }
        TemplateSource::Prisma => {
            let scope = match (input.scope, &input.subscription_id) {
                (ConfigScope::Subscription, Some(s)) => TemplateScope::Subscription {
                    tenant_id: input.tenant_id.clone(),
                    subscription_id: s.clone(),
                },
                (ConfigScope::EntraOnly, _) => TemplateScope::EntraOnly {
                    tenant_id: input.tenant_id.clone(),
                },
                _ => TemplateScope::TenantWithGroups {
                    tenant_id: input.tenant_id.clone(),
                },
            };
            let prisma = Prisma::connect(global).await?;
            let fetched = match prisma.client() {
                Ok(client) => client
                    .azure_template(&scope, &input.features, input.environment)
                    .await
                    .map_err(CliError::from),
                Err(e) => Err(e),
            };
            let closed = prisma.close().await;
            let template = fetched?;
            closed?;
            vec![write_file(
                &args.out,
                azure_config::MAIN_FILE,
                &template,
                args.force,
            )?]
        }
    };
    let names = azure_config::outputs::names_for(input.scope);
    let source = match args.source {
        TemplateSource::Builtin => "builtin",
        TemplateSource::Prisma => "prisma",
    };
    if out.json() {
        out.json_line(&serde_json::json!({
            "type": "template",
            "source": source,
            "dir": args.out.display().to_string(),
            "files": files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
            "outputs": names,
        }));
    } else {
        for f in &files {
            out.line(&format!("wrote {}", f.display()));
        }
        out.line(&format!(
            "Review it, then apply it yourself: terraform -chdir={} init && terraform -chdir={} apply",
            args.out.display(),
            args.out.display()
        ));
        out.line(&format!(
            "Onboard with its outputs: client ID `{}`, client secret `{}` (sensitive), \
             service principal object ID `{}` — e.g. `azure-cortex onboard … --identity existing`.",
            names.client_id, names.client_secret, names.service_principal_object_id
        ));
    }
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_suffix_is_stable_and_valid() {
        let a = stable_suffix("t", "s");
        assert_eq!(a, stable_suffix("t", "s"));
        assert_ne!(a, stable_suffix("t", "x"));
        assert_eq!(a.len(), 5);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
    }
}
