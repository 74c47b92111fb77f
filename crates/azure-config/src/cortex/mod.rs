//! The Cortex Cloud authentication template for Azure (fact sheet §7), in Terraform JSON syntax,
//! and its offline `terraform_data` twin.
//!
//! Cortex Cloud onboards Azure differently from Prisma Cloud: no app registration and no client
//! secret. The customer has approved Cortex's multi-tenant application (its service principal
//! is `customer_object_id` in the customer tenant); the template grants that service principal
//! Microsoft Graph application roles and Azure roles, creates a user-assigned managed identity
//! and an Azure Policy that deploys Cortex's per-subscription resources (tenant and
//! management-group scopes), optionally an audit-log Event Hub, and finally **calls Cortex
//! back**: `PUT <upload_output_url>` with the `create_connector` body of §7.4. Cortex then
//! creates the connected instance.
//!
//! * [`builtin`] — the real configuration (azuread 3.6, azurerm 4.52, terracurl 2.1, the
//!   versions Cortex's own bundle pins).
//! * [`twin`] — the same addresses (`TYPE.NAME` → `terraform_data.TYPE__NAME`, as
//!   [`crate::twin`]), dependencies, variables and outputs, made only of `terraform_data`; its
//!   callback is a `local-exec` `curl` that really performs the `PUT`, so a sandbox run ends
//!   with the emulator's instance turning connected.
//!
//! # Values
//!
//! `main.tf.json` depends only on the [`CortexTemplate`] (scope, capabilities, audit logs,
//! cloud). Every value goes into `terraform.tfvars.json` as data ([`BundleValues`], the values
//! Cortex embeds in the bundle it serves, and [`DeploymentValues`], what the person running it
//! chooses): no value is ever spliced into an expression. The upload URL is a signed,
//! capability-bearing URL, so its variable is `sensitive` and it is kept out of
//! [`tfvars_json`]: pass it as `TF_VAR_upload_output_url` (or write [`secret_tfvars_json`] where
//! the real bundle keeps it).

use std::collections::BTreeMap;

use prisma_types::{ManagementGroupId, ObjectId, SubscriptionId, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::{ConfigError, PlannedResource};

pub mod builtin;
mod model;
pub mod twin;

/// The variable holding the signed callback URL (sensitive; pass it with
/// `TF_VAR_upload_output_url`).
pub const UPLOAD_URL_VAR: &str = "upload_output_url";
/// The callback resource's address in the real configuration.
pub const CALLBACK_ADDRESS: &str = "terracurl_request.create_connector_notification";
/// HTTP codes of a successful callback (§7.4).
pub const CALLBACK_OK_CODES: [u16; 2] = [200, 202];
/// Seconds the callback may take (§7.4).
pub const CALLBACK_TIMEOUT_SECONDS: u32 = 30;
/// Retries of the callback (§7.4).
pub const CALLBACK_MAX_RETRY: u32 = 3;
/// Default hosting-resource-group location (the bundle's `onboard.sh` default, §7.3).
pub const DEFAULT_LOCATION: &str = "eastus";

/// The seven outputs of Cortex's Terraform bundle (§7.4), at every scope.
pub const OUTPUTS: [&str; 7] = [
    "tenant_id",
    "subscription_id",
    "management_group",
    "resources_data",
    "client_id",
    "connector_id",
    "ext_resource_suffix",
];

/// The instance's scope (`scope` of `create_instance_template`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CortexScope {
    /// `ORGANIZATION`: the tenant root management group (its name is the tenant ID).
    Tenant,
    /// `ACCOUNT_GROUP`: one management group.
    ManagementGroup,
    /// `ACCOUNT`: one subscription; no management-group policy machinery (§7.3).
    Subscription,
}

impl CortexScope {
    pub const ALL: [CortexScope; 3] = [
        CortexScope::Tenant,
        CortexScope::ManagementGroup,
        CortexScope::Subscription,
    ];

    /// The API's spelling.
    pub fn api_name(self) -> &'static str {
        match self {
            CortexScope::Tenant => "ORGANIZATION",
            CortexScope::ManagementGroup => "ACCOUNT_GROUP",
            CortexScope::Subscription => "ACCOUNT",
        }
    }

    /// From the API's spelling.
    pub fn from_api_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.api_name() == name)
    }

    /// Whether the template works on a management group (policy, managed identity, remediation).
    pub fn has_management_group(self) -> bool {
        !matches!(self, CortexScope::Subscription)
    }
}

/// The Azure cloud (`cloud_environment`; the bundle knows only these two).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloudEnvironment {
    #[default]
    Public,
    UsGovernment,
}

impl CloudEnvironment {
    pub fn as_str(self) -> &'static str {
        match self {
            CloudEnvironment::Public => "public",
            CloudEnvironment::UsGovernment => "usgovernment",
        }
    }
}

/// The optional security capabilities (`additional_capabilities`) that need Azure permissions
/// of their own. Discovery (posture) is always on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CortexCapabilities {
    pub agentless_disk_scanning: bool,
    pub data_security_posture_management: bool,
    pub registry_scanning: bool,
    pub serverless_scanning: bool,
}

impl CortexCapabilities {
    pub const ALL: CortexCapabilities = CortexCapabilities {
        agentless_disk_scanning: true,
        data_security_posture_management: true,
        registry_scanning: true,
        serverless_scanning: true,
    };
}

/// What `main.tf.json` is generated from: the instance's options, not its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CortexTemplate {
    pub scope: CortexScope,
    pub capabilities: CortexCapabilities,
    /// `collection_configuration.audit_logs.enabled`: an Event Hub for Azure activity and
    /// Entra ID audit logs, readable by Cortex's service principal.
    pub audit_logs: bool,
    pub cloud_environment: CloudEnvironment,
}

/// The values Cortex embeds in the bundle it serves for one pending instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleValues {
    /// The tracking GUID of the pending instance (32 hex).
    pub template_id: String,
    /// The connector the callback creates (32 hex).
    pub connector_id: String,
    pub tenant_id: TenantId,
    /// Client ID of Cortex's multi-tenant application (`credentials.client_id` of the callback).
    pub outpost_client_id: ObjectId,
    /// Object ID of that application's service principal in the customer tenant.
    pub customer_object_id: ObjectId,
    /// At least two `-`-separated parts of lower-case letters and digits, 5–40 characters.
    pub resource_suffix: String,
    /// Module name → version, e.g. `{"BASE-tf_org_base": "1.0.0"}` (sent back in the callback).
    pub template_version: BTreeMap<String, String>,
    /// Tags of every resource; `managed_by = paloaltonetworks` is always added.
    pub tags: BTreeMap<String, String>,
    /// The signed callback URL (`http` or `https`, no quotes, backslashes or spaces).
    pub upload_output_url: String,
}

/// What the person running the template chooses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentValues {
    /// The hosting subscription (the onboarded one at subscription scope).
    pub subscription_id: SubscriptionId,
    /// Required at management-group scope, ignored otherwise.
    pub management_group_id: Option<ManagementGroupId>,
    /// Azure location of the hosting resource group (lower-case letters and digits).
    pub resource_group_location: String,
}

/// A generated configuration (real or twin).
#[derive(Clone, Debug)]
pub struct CortexConfig {
    /// Written as [`crate::MAIN_FILE`].
    pub main_tf_json: Value,
    /// Managed resource instances in creation order, with their dependencies.
    pub resources: Vec<PlannedResource>,
}

impl CortexConfig {
    /// The planned resource with this instance address.
    pub fn resource(&self, address: &str) -> Option<&PlannedResource> {
        self.resources.iter().find(|r| r.address == address)
    }
}

/// The tag Cortex always applies (§4.1).
pub const MANAGED_BY_TAG: (&str, &str) = ("managed_by", "paloaltonetworks");

fn is_lower_hex32(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `^[a-z0-9]+(-[a-z0-9]+)+$`, 5–40 characters.
pub fn valid_resource_suffix(s: &str) -> bool {
    (5..=40).contains(&s.len())
        && s.split('-').count() >= 2
        && s.split('-').all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// An `http(s)` URL without characters that a `curl` config line or a shell would treat
/// specially.
pub fn valid_upload_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://"))
        && s.len() <= 4096
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\\' | '\''))
}

fn valid_location(s: &str) -> bool {
    (1..=40).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn valid_tag(k: &str, v: &str) -> bool {
    (1..=512).contains(&k.len())
        && v.len() <= 256
        && !k.chars().any(|c| c.is_control() || "<>%&\\?/".contains(c))
        && !v.chars().any(char::is_control)
}

impl BundleValues {
    /// Checks what the configuration's variable validations would refuse, naming the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !is_lower_hex32(&self.template_id) {
            return Err(ConfigError::new(
                "template_id",
                "must be 32 lower-case hexadecimal digits",
            ));
        }
        if !is_lower_hex32(&self.connector_id) {
            return Err(ConfigError::new(
                "connector_id",
                "must be 32 lower-case hexadecimal digits",
            ));
        }
        if !valid_resource_suffix(&self.resource_suffix) {
            return Err(ConfigError::new(
                "resource_suffix",
                "must be 5-40 characters: at least two '-'-separated parts of lower-case letters \
                 and digits",
            ));
        }
        if !valid_upload_url(&self.upload_output_url) {
            return Err(ConfigError::new(
                UPLOAD_URL_VAR,
                "must be an http(s) URL without spaces, quotes or backslashes",
            ));
        }
        if let Some((k, _)) = self.tags.iter().find(|(k, v)| !valid_tag(k, v)) {
            return Err(ConfigError::new(
                "tags",
                format!(
                    "tag {k:?}: keys are 1-512 characters without <>%&\\?/, values at most 256"
                ),
            ));
        }
        if let Some((k, _)) = self
            .template_version
            .iter()
            .find(|(k, v)| k.is_empty() || v.is_empty() || k.len() > 128 || v.len() > 64)
        {
            return Err(ConfigError::new(
                "template_version",
                format!("module {k:?}: names and versions must be non-empty and short"),
            ));
        }
        Ok(())
    }

    /// The tags with `managed_by = paloaltonetworks` added.
    pub fn effective_tags(&self) -> BTreeMap<String, String> {
        let mut tags = self.tags.clone();
        tags.insert(MANAGED_BY_TAG.0.into(), MANAGED_BY_TAG.1.into());
        tags
    }
}

impl DeploymentValues {
    pub fn validate(&self, scope: CortexScope) -> Result<(), ConfigError> {
        if scope == CortexScope::ManagementGroup && self.management_group_id.is_none() {
            return Err(ConfigError::new(
                "management_group_id",
                "is required for a management-group template",
            ));
        }
        if !valid_location(&self.resource_group_location) {
            return Err(ConfigError::new(
                "resource_group_location",
                "must be an Azure location name such as eastus (lower-case letters and digits)",
            ));
        }
        Ok(())
    }
}

/// The bundle's own values as `terraform.tfvars.json` entries (without the upload URL: see
/// [`secret_tfvars_json`]). Refuses invalid values, naming the field.
pub fn bundle_tfvars_json(
    template: &CortexTemplate,
    bundle: &BundleValues,
) -> Result<Map<String, Value>, ConfigError> {
    bundle.validate()?;
    let mut vars = Map::new();
    vars.insert("template_id".into(), json!(bundle.template_id));
    vars.insert("connector_id".into(), json!(bundle.connector_id));
    vars.insert("tenant_id".into(), json!(bundle.tenant_id.as_str()));
    vars.insert(
        "outpost_client_id".into(),
        json!(bundle.outpost_client_id.as_str()),
    );
    vars.insert(
        "customer_object_id".into(),
        json!(bundle.customer_object_id.as_str()),
    );
    vars.insert("resource_suffix".into(), json!(bundle.resource_suffix));
    vars.insert("template_version".into(), json!(bundle.template_version));
    vars.insert("tags".into(), json!(bundle.effective_tags()));
    vars.insert(
        "cloud_environment".into(),
        json!(template.cloud_environment.as_str()),
    );
    Ok(vars)
}

/// `terraform.tfvars.json` for a run: the bundle's values and the deployment's, without the
/// upload URL (see [`secret_tfvars_json`]). Refuses invalid values, naming the field.
pub fn tfvars_json(
    template: &CortexTemplate,
    bundle: &BundleValues,
    deployment: &DeploymentValues,
) -> Result<Value, ConfigError> {
    let mut vars = bundle_tfvars_json(template, bundle)?;
    deployment.validate(template.scope)?;
    vars.insert(
        "subscription_id".into(),
        json!(deployment.subscription_id.as_str()),
    );
    vars.insert(
        "resource_group_location".into(),
        json!(deployment.resource_group_location),
    );
    if let (CortexScope::ManagementGroup, Some(mg)) =
        (template.scope, &deployment.management_group_id)
    {
        vars.insert("management_group_id".into(), json!(mg.as_str()));
    }
    Ok(Value::Object(vars))
}

/// The secret part of the variables: `{"upload_output_url": ...}`.
pub fn secret_tfvars_json(bundle: &BundleValues) -> Result<Value, ConfigError> {
    if !valid_upload_url(&bundle.upload_output_url) {
        return Err(ConfigError::new(
            UPLOAD_URL_VAR,
            "must be an http(s) URL without spaces, quotes or backslashes",
        ));
    }
    Ok(json!({ UPLOAD_URL_VAR: bundle.upload_output_url }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_and_url_rules() {
        assert!(valid_resource_suffix("cc-ab12c"));
        assert!(valid_resource_suffix("cc-tenant-x7k2p"));
        assert!(!valid_resource_suffix("ccab12c"));
        assert!(!valid_resource_suffix("cc--ab"));
        assert!(!valid_resource_suffix("CC-ab12c"));
        assert!(!valid_resource_suffix("c-a"));
        assert!(valid_upload_url(
            "http://127.0.0.1:1/u/abc?Expires=1&Signature=ff"
        ));
        assert!(!valid_upload_url("ftp://x"));
        assert!(!valid_upload_url("http://x/\"; rm -rf /"));
        assert!(!valid_upload_url("http://x/a b"));
        assert!(!valid_upload_url("http://x/a'b"));
    }

    #[test]
    fn scope_api_names_round_trip() {
        for s in CortexScope::ALL {
            assert_eq!(CortexScope::from_api_name(s.api_name()), Some(s));
        }
        assert_eq!(CortexScope::from_api_name("TENANT"), None);
    }
}
