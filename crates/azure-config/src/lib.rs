//! Terraform configurations for the Azure side of Prisma Cloud onboarding.
//!
//! * [`permissions`] — the Azure permission catalog (custom-role actions per scope and feature,
//!   built-in roles, Microsoft Graph application roles). The emulator's copy of Prisma's
//!   template imports it from here, so both generators share one list.
//! * [`builtin`] — our own configuration (azuread 3.x, azurerm 4.x), in Terraform JSON syntax.
//! * [`twin`] — a stand-in configuration made only of Terraform's built-in `terraform_data`
//!   resources. It has the same resource graph and the same outputs as [`builtin`], runs fully
//!   offline, and so drives the real `terraform` UI stream in tests and demos.
//! * [`outputs`] — output names (Prisma's §4.5 names) and which onboarding field each holds.
//! * [`plan_words`] — a plan's changes in words, grouped (identity, roles at which scope, Graph
//!   permissions, audit-log export), for real, twin and Prisma-template addresses alike.
//! * [`tenant_identity`] — the bulk configuration: one identity per tenant, granted on many
//!   subscriptions with `for_each` (and its twin), so a batch makes one app registration.
//! * [`passwords`] — the client secrets as a set a rotation changes: a keyed password added
//!   beside the old one, then the old one removed (outputs on the active one).
//! * [`expr`] — a small scanner of Terraform template strings (`"${...}"`): references, used to
//!   derive the dependency graph and to check generated configurations.
//!
//! # Data, not code
//!
//! Every value the caller provides (tenant ID, subscription ID, name suffix, rotation period,
//! environment, audit-log export names) goes into `terraform.tfvars.json` as data.
//! `main.tf.json` only ever refers to it as `var.<name>`, so no user value can change the
//! meaning of an expression. The generated `main.tf.json` is therefore the same for every
//! tenant with the same scope and options; the golden files pin it.

use std::fmt;
use std::io;
use std::path::Path;

use prisma_types::{Environment, FeatureSet, SubscriptionId, TenantId};
use serde::{Deserialize, Serialize};

pub mod builtin;
pub mod cortex;
pub mod expr;
pub mod outputs;
pub mod passwords;
pub mod permissions;
pub mod plan_words;
pub mod tenant_identity;
pub mod twin;

pub use outputs::OutputNames;

/// The file name [`GeneratedConfig::main_tf_json`] is written to.
pub const MAIN_FILE: &str = "main.tf.json";
/// The file name [`GeneratedConfig::tfvars_json`] is written to (Terraform loads it
/// automatically).
pub const TFVARS_FILE: &str = "terraform.tfvars.json";
/// The default client-secret lifetime and rotation period, in days.
pub const DEFAULT_SECRET_ROTATION_DAYS: u32 = 180;
/// The longest client-secret lifetime we generate. Entra's portal offers at most 24 months;
/// tenant app-management policies may cap it lower.
pub const MAX_SECRET_ROTATION_DAYS: u32 = 730;

/// Which of the three Azure onboarding shapes to configure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// `accountType: account`: one subscription.
    Subscription,
    /// `accountType: tenant` with `rootSyncEnabled: true`: the tenant root management group.
    TenantWithGroups,
    /// `accountType: tenant` without root sync: Microsoft Entra ID only.
    EntraOnly,
}

impl Scope {
    pub const ALL: [Scope; 3] = [
        Scope::Subscription,
        Scope::TenantWithGroups,
        Scope::EntraOnly,
    ];

    /// Whether the configuration manages Azure RBAC (and so needs the azurerm provider).
    pub fn has_azure_rbac(self) -> bool {
        !matches!(self, Scope::EntraOnly)
    }

    /// Whether the configuration grants Microsoft Graph application permissions.
    pub fn has_graph_permissions(self) -> bool {
        !matches!(self, Scope::Subscription)
    }
}

/// Everything a configuration is generated from.
#[derive(Clone, Debug)]
pub struct ConfigInput {
    pub scope: Scope,
    pub tenant_id: TenantId,
    /// Required for [`Scope::Subscription`]. For [`Scope::TenantWithGroups`] it is optional and
    /// names the subscription the azurerm provider is configured with (azurerm 4 needs one even
    /// though every role object lives on the tenant root management group); it is required
    /// there only with [`ConfigInput::audit_log_export`], whose Event Hub lives in it. Must be
    /// `None` for [`Scope::EntraOnly`].
    pub subscription_id: Option<SubscriptionId>,
    /// Optional capabilities; must be empty for [`Scope::EntraOnly`] and supported by
    /// `environment` ([`Environment::supports`]).
    pub features: FeatureSet,
    /// NSG flow-log ingestion; not available for [`Scope::EntraOnly`].
    pub flow_logs: bool,
    /// The cloud. All three work for [`builtin`]: the azuread and azurerm providers both take
    /// `public`, `usgovernment` and `china`. (Prisma's own template endpoint refuses China; our
    /// configuration does not depend on it.)
    pub environment: Environment,
    /// `[a-z0-9]{5}`, chosen by the caller once per job. Names derive from it, so applying the
    /// same input again converges instead of creating a second app.
    pub name_suffix: String,
    /// Client-secret lifetime and rotation period in days, 1..=[`MAX_SECRET_ROTATION_DAYS`]
    /// (default [`DEFAULT_SECRET_ROTATION_DAYS`]).
    pub secret_rotation_days: u32,
    /// Also give the service principal the Entra "Directory Readers" role.
    pub directory_readers: bool,
    /// Optionally export the subscription activity log and Entra ID audit logs to an Event Hub.
    pub audit_log_export: Option<AuditLogExport>,
}

/// Where the optional audit-log export lives. The resource group is created by the
/// configuration (so `terraform destroy` removes it again) and must not exist yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditLogExport {
    /// Resource group name: 1–90 letters, digits, `-`, `_`, `.`, `(`, `)`; not ending in `.`.
    pub resource_group: String,
    /// Azure region short name, e.g. `westeurope` (lower-case letters and digits).
    pub location: String,
    /// Event Hubs namespace name (globally unique): 6–50 letters, digits and hyphens, starting
    /// with a letter and ending with a letter or digit.
    pub namespace_name: String,
}

/// A generated configuration: the files to write into the Terraform working directory.
#[derive(Clone, Debug)]
pub struct GeneratedConfig {
    /// Written as [`MAIN_FILE`].
    pub main_tf_json: serde_json::Value,
    /// Written as [`TFVARS_FILE`]: every user-provided value, as data.
    pub tfvars_json: serde_json::Value,
    /// Managed resource instances in creation order (for the twin, the UI and stream
    /// synthesis). Data sources are not listed: they are read during `plan` and never show up
    /// as `apply_start`.
    pub resources: Vec<PlannedResource>,
    /// Which output holds which onboarding field.
    pub output_names: OutputNames,
}

impl GeneratedConfig {
    /// Writes [`MAIN_FILE`] and [`TFVARS_FILE`] (pretty JSON) into `dir`, which must exist.
    pub fn write_to(&self, dir: &Path) -> io::Result<()> {
        let pretty = |v: &serde_json::Value| {
            let mut s = serde_json::to_string_pretty(v).map_err(io::Error::other)?;
            s.push('\n');
            Ok::<_, io::Error>(s)
        };
        std::fs::write(dir.join(MAIN_FILE), pretty(&self.main_tf_json)?)?;
        std::fs::write(dir.join(TFVARS_FILE), pretty(&self.tfvars_json)?)
    }

    /// The planned resource with this instance address.
    pub fn resource(&self, address: &str) -> Option<&PlannedResource> {
        self.resources.iter().find(|r| r.address == address)
    }
}

/// One managed resource instance the configuration creates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlannedResource {
    /// The instance address as Terraform prints it in the `-json` UI stream
    /// (`hook.resource.addr`), e.g. `azuread_application.prisma_cloud` or
    /// `azurerm_role_assignment.builtin["Reader"]` for a `for_each` instance.
    pub address: String,
    /// e.g. `azurerm_role_assignment`.
    pub resource_type: String,
    /// The block name, e.g. `builtin` (without the instance key).
    pub resource_name: String,
    /// Configuration addresses (`type.name`, no instance key) of the managed resources this one
    /// depends on, explicitly or through a reference, in creation order.
    pub depends_on: Vec<String>,
}

impl PlannedResource {
    /// `type.name`, without an instance key.
    pub fn config_address(&self) -> String {
        format!("{}.{}", self.resource_type, self.resource_name)
    }
}

/// A [`ConfigInput`] that cannot be turned into a configuration. `field` names the input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    pub field: &'static str,
    pub message: String,
}

impl ConfigError {
    pub fn new(field: &'static str, message: impl fmt::Display) -> Self {
        Self {
            field,
            message: message.to_string(),
        }
    }
}

impl ConfigInput {
    /// Checks everything [`builtin::generate`] and [`twin::generate`] rely on.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match (self.scope, &self.subscription_id) {
            (Scope::Subscription, None) => {
                return Err(ConfigError::new(
                    "subscription_id",
                    "is required for a subscription onboarding",
                ));
            }
            (Scope::EntraOnly, Some(_)) => {
                return Err(ConfigError::new(
                    "subscription_id",
                    "must be empty for an Entra-ID-only onboarding (it manages no Azure \
                     resources)",
                ));
            }
            (Scope::TenantWithGroups, None) if self.audit_log_export.is_some() => {
                return Err(ConfigError::new(
                    "subscription_id",
                    "is required with audit_log_export at tenant scope: the Event Hub and the \
                     exported activity log belong to that subscription",
                ));
            }
            _ => {}
        }
        if self.scope == Scope::EntraOnly {
            if !self.features.is_empty() {
                return Err(ConfigError::new(
                    "features",
                    "an Entra-ID-only onboarding has no Azure resources for features to act \
                     on; choose a subscription or tenant (management group) scope",
                ));
            }
            if self.flow_logs {
                return Err(ConfigError::new(
                    "flow_logs",
                    "flow-log ingestion needs Azure resources; it is not available for an \
                     Entra-ID-only onboarding",
                ));
            }
            if self.audit_log_export.is_some() {
                return Err(ConfigError::new(
                    "audit_log_export",
                    "the Event Hub export needs an Azure subscription; it is not available for \
                     an Entra-ID-only onboarding",
                ));
            }
        }
        if let Some(feature) = self
            .features
            .iter()
            .find(|f| !self.environment.supports(*f))
        {
            return Err(ConfigError::new(
                "features",
                format!(
                    "'{feature}' is not offered in the {} environment",
                    self.environment
                ),
            ));
        }
        let suffix_ok = self.name_suffix.len() == 5
            && self
                .name_suffix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !suffix_ok {
            return Err(ConfigError::new(
                "name_suffix",
                "must be exactly 5 lower-case letters or digits ([a-z0-9]{5})",
            ));
        }
        if !(1..=MAX_SECRET_ROTATION_DAYS).contains(&self.secret_rotation_days) {
            return Err(ConfigError::new(
                "secret_rotation_days",
                format!(
                    "must be between 1 and {MAX_SECRET_ROTATION_DAYS} days, not {}",
                    self.secret_rotation_days
                ),
            ));
        }
        if let Some(export) = &self.audit_log_export {
            export.validate()?;
        }
        Ok(())
    }
}

impl AuditLogExport {
    fn validate(&self) -> Result<(), ConfigError> {
        let rg = self.resource_group.as_str();
        let rg_ok = (1..=90).contains(&rg.len())
            && rg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.()".contains(c))
            && !rg.ends_with('.');
        if !rg_ok {
            return Err(ConfigError::new(
                "audit_log_export.resource_group",
                "resource group names are 1-90 letters, digits, '-', '_', '.', '(' and ')', \
                 and do not end with '.'",
            ));
        }
        let loc = self.location.as_str();
        if !(1..=64).contains(&loc.len())
            || !loc
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(ConfigError::new(
                "audit_log_export.location",
                "expected an Azure region short name such as 'westeurope' (lower-case letters \
                 and digits)",
            ));
        }
        let ns = self.namespace_name.as_bytes();
        let ns_ok = (6..=50).contains(&ns.len())
            && ns[0].is_ascii_alphabetic()
            && ns[ns.len() - 1].is_ascii_alphanumeric()
            && ns.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-');
        if !ns_ok {
            return Err(ConfigError::new(
                "audit_log_export.namespace_name",
                "Event Hubs namespace names are 6-50 letters, digits and hyphens, start with a \
                 letter and end with a letter or digit",
            ));
        }
        Ok(())
    }
}

/// The `environment` value both the azuread and the azurerm provider accept for a cloud.
pub fn provider_environment(environment: Environment) -> &'static str {
    match environment {
        Environment::Azure => "public",
        Environment::AzureGov => "usgovernment",
        Environment::AzureChina => "china",
    }
}

#[cfg(test)]
mod tests {
    use prisma_types::Feature;

    use super::*;

    fn input(scope: Scope) -> ConfigInput {
        ConfigInput {
            scope,
            tenant_id: TenantId::parse("11111111-2222-4333-8444-555555555555").unwrap(),
            subscription_id: (scope == Scope::Subscription)
                .then(|| SubscriptionId::parse("66666666-7777-4888-9999-aaaaaaaaaaaa").unwrap()),
            features: FeatureSet::default(),
            flow_logs: false,
            environment: Environment::Azure,
            name_suffix: "ab1c2".into(),
            secret_rotation_days: DEFAULT_SECRET_ROTATION_DAYS,
            directory_readers: false,
            audit_log_export: None,
        }
    }

    fn field(i: &ConfigInput) -> &'static str {
        i.validate().unwrap_err().field
    }

    #[test]
    fn valid_inputs_pass() {
        for scope in Scope::ALL {
            input(scope).validate().unwrap();
        }
    }

    #[test]
    fn errors_name_the_field() {
        let mut i = input(Scope::Subscription);
        i.subscription_id = None;
        assert_eq!(field(&i), "subscription_id");

        let mut i = input(Scope::EntraOnly);
        i.flow_logs = true;
        assert_eq!(field(&i), "flow_logs");
        let mut i = input(Scope::EntraOnly);
        i.features = FeatureSet::new([Feature::Remediation]);
        assert_eq!(field(&i), "features");

        let mut i = input(Scope::TenantWithGroups);
        i.audit_log_export = Some(AuditLogExport {
            resource_group: "rg-audit".into(),
            location: "westeurope".into(),
            namespace_name: "prisma-audit-ns".into(),
        });
        assert_eq!(field(&i), "subscription_id");

        for bad in ["", "abcd", "abcdef", "ABCDE", "ab-12", "ab${}"] {
            let mut i = input(Scope::Subscription);
            i.name_suffix = bad.into();
            assert_eq!(field(&i), "name_suffix", "{bad}");
        }
        for bad in [0, MAX_SECRET_ROTATION_DAYS + 1] {
            let mut i = input(Scope::Subscription);
            i.secret_rotation_days = bad;
            assert_eq!(field(&i), "secret_rotation_days");
        }

        let mut i = input(Scope::Subscription);
        i.environment = Environment::AzureChina;
        i.features = FeatureSet::new([Feature::AgentlessScanning]);
        assert_eq!(field(&i), "features");
        i.features = FeatureSet::new([Feature::Remediation]);
        i.validate().unwrap();
    }

    #[test]
    fn audit_export_names_are_checked() {
        let ok = AuditLogExport {
            resource_group: "rg-prisma_audit(1)".into(),
            location: "chinanorth3".into(),
            namespace_name: "prisma-audit-1".into(),
        };
        ok.validate().unwrap();
        let cases = [
            ("audit_log_export.resource_group", {
                let mut e = ok.clone();
                e.resource_group = "rg.".into();
                e
            }),
            ("audit_log_export.resource_group", {
                let mut e = ok.clone();
                e.resource_group = "rg\"}${x}".into();
                e
            }),
            ("audit_log_export.location", {
                let mut e = ok.clone();
                e.location = "West Europe".into();
                e
            }),
            ("audit_log_export.namespace_name", {
                let mut e = ok.clone();
                e.namespace_name = "1abcdef".into();
                e
            }),
            ("audit_log_export.namespace_name", {
                let mut e = ok;
                e.namespace_name = "short".into();
                e
            }),
        ];
        for (want, e) in cases {
            assert_eq!(e.validate().unwrap_err().field, want, "{e:?}");
        }
    }

    #[test]
    fn scope_serde_is_snake_case() {
        assert_eq!(
            serde_json::to_value(Scope::TenantWithGroups).unwrap(),
            "tenant_with_groups"
        );
        let s: Scope = serde_json::from_value("entra_only".into()).unwrap();
        assert_eq!(s, Scope::EntraOnly);
    }
}
