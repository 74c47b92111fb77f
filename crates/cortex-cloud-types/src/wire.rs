//! Request and reply bodies of every Cloud Onboarding endpoint (fact sheet §4), with the exact
//! field names. Requests serialize what the official SDK sends and deserialize what any source
//! sends (`instance_id` beside `id`); replies deserialize every documented variant
//! (stringified or object configuration, seconds or ms) and the emulator serializes the form
//! real tenants send (JSON strings, ms, integer `err_code`).

use serde::{Deserialize, Serialize};

use crate::enums::{
    AuditCollectionMethod, CapabilityName, CapabilityStatus, CloudPartition, CloudProvider,
    InstanceStatus, ModificationType, RegistryScanType, ScanMode, Scope,
};
use crate::filter::FilterData;
use crate::lenient::{Millis, json_or_string, string_or_number, to_json_string};
use crate::{ValidationError, is_instance_id};

/// Paths under the API origin.
pub mod paths {
    pub const PREFIX: &str = "/public_api/v1/cloud_onboarding";
    pub const CREATE_INSTANCE_TEMPLATE: &str =
        "/public_api/v1/cloud_onboarding/create_instance_template";
    pub const GET_INSTANCES: &str = "/public_api/v1/cloud_onboarding/get_instances";
    pub const GET_INSTANCE_DETAILS: &str = "/public_api/v1/cloud_onboarding/get_instance_details";
    pub const EDIT_INSTANCE: &str = "/public_api/v1/cloud_onboarding/edit_instance";
    pub const ENABLE_DISABLE_INSTANCE: &str =
        "/public_api/v1/cloud_onboarding/enable_disable_instance";
    pub const DELETE_INSTANCE: &str = "/public_api/v1/cloud_onboarding/delete_instance";
    pub const GET_ACCOUNTS: &str = "/public_api/v1/cloud_onboarding/get_accounts";
    pub const ENABLE_DISABLE_ACCOUNT: &str =
        "/public_api/v1/cloud_onboarding/enable_disable_account";
    pub const GET_AZURE_APPROVED_TENANTS: &str =
        "/public_api/v1/cloud_onboarding/get_azure_approved_tenants";
    pub const LIST_REGIONS: &str = "/public_api/v1/cloud_onboarding/list_regions";
    pub const GET_IDENTIFIERS: &str = "/public_api/v1/cloud_onboarding/get_identifiers";
    /// Key validation: no `/public_api/v1` prefix, GET.
    pub const VALIDATE_KEY: &str = "/api_keys/validate";
}

/// A tag Cortex applies to the resources it creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// The tag Cortex always applies.
pub fn managed_by_tag() -> Tag {
    Tag {
        key: "managed_by".into(),
        value: "paloaltonetworks".into(),
    }
}

/// `account_details`: in requests only `organization_id` (the Entra tenant); replies add the
/// subscription (`account_id`), management group (`account_group`) and names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AccountDetails {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub organization_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub account_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub csp_org_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub account_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub account_group: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CollectionConfiguration {
    #[serde(default)]
    pub audit_logs: AuditLogs,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AuditLogs {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection_method: Option<AuditCollectionMethod>,
    #[serde(default)]
    pub data_events: bool,
}

/// `scope_modifications`: Azure uses `subscriptions` and `regions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ScopeModifications {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriptions: Option<SubscriptionModification>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regions: Option<RegionModification>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounts: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projects: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SubscriptionModification {
    pub enabled: bool,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<ModificationType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_ids: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RegionModification {
    pub enabled: bool,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<ModificationType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regions: Option<Vec<String>>,
}

/// `additional_capabilities`. `None` is sent as JSON `null`, as the SDK does for unset flags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AdditionalCapabilities {
    #[serde(default)]
    pub xsiam_analytics: Option<bool>,
    #[serde(default)]
    pub data_security_posture_management: Option<bool>,
    #[serde(default)]
    pub registry_scanning: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_scanning_options: Option<RegistryScanningOptions>,
    #[serde(default)]
    pub serverless_scanning: Option<bool>,
    #[serde(default)]
    pub agentless_disk_scanning: Option<bool>,
}

impl AdditionalCapabilities {
    /// Every capability on (registry: all images), the Terraform provider's Azure default.
    pub fn all() -> Self {
        Self {
            xsiam_analytics: Some(true),
            data_security_posture_management: Some(true),
            registry_scanning: Some(true),
            registry_scanning_options: Some(RegistryScanningOptions {
                kind: RegistryScanType::All,
                last_days: None,
            }),
            serverless_scanning: Some(true),
            agentless_disk_scanning: Some(true),
        }
    }

    /// The capabilities an instance created with these flags reports, each with whether it was
    /// requested (Permissions and Discovery always are; Identity Security has no flag).
    pub fn requested(&self, audit_logs: bool) -> Vec<(CapabilityName, bool)> {
        let on = |b: Option<bool>| b.unwrap_or(false);
        vec![
            (CapabilityName::Permissions, true),
            (CapabilityName::Discovery, true),
            (CapabilityName::Ads, on(self.agentless_disk_scanning)),
            (
                CapabilityName::Dspm,
                on(self.data_security_posture_management),
            ),
            (CapabilityName::AuditLogs, audit_logs),
            (CapabilityName::Registry, on(self.registry_scanning)),
            (CapabilityName::Serverless, on(self.serverless_scanning)),
            (CapabilityName::IdentitySecurity, true),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryScanningOptions {
    #[serde(rename = "type")]
    pub kind: RegistryScanType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_days: Option<u32>,
}

/// `create_instance_template`'s `request_data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateInstanceTemplate {
    pub cloud_provider: CloudProvider,
    pub scope: Scope,
    pub scan_mode: ScanMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_details: Option<AccountDetails>,
    #[serde(default)]
    pub instance_name: Option<String>,
    #[serde(default)]
    pub custom_resources_tags: Vec<Tag>,
    #[serde(default)]
    pub collection_configuration: CollectionConfiguration,
    #[serde(default)]
    pub scope_modifications: ScopeModifications,
    #[serde(default)]
    pub additional_capabilities: AdditionalCapabilities,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_env_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_partition: Option<CloudPartition>,
}

/// Checks a GUID in the canonical 8-4-4-4-12 form.
fn check_guid(field: &str, value: &str) -> Result<(), ValidationError> {
    match uuid::Uuid::try_parse(value) {
        Ok(_) if value.len() == 36 => Ok(()),
        _ => Err(ValidationError::new(
            field,
            "must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
        )),
    }
}

fn check_tags(tags: &[Tag]) -> Result<(), ValidationError> {
    for (i, t) in tags.iter().enumerate() {
        if t.key.trim().is_empty() || t.key.len() > 512 {
            return Err(ValidationError::new(
                format!("custom_resources_tags.{i}.key"),
                "must be 1 to 512 characters",
            ));
        }
        if t.value.len() > 256 {
            return Err(ValidationError::new(
                format!("custom_resources_tags.{i}.value"),
                "must be at most 256 characters",
            ));
        }
    }
    Ok(())
}

fn check_instance_name(name: Option<&str>) -> Result<(), ValidationError> {
    if let Some(n) = name
        && (n.chars().count() > 256 || n.chars().any(char::is_control))
    {
        return Err(ValidationError::new(
            "instance_name",
            "must be at most 256 printable characters",
        ));
    }
    Ok(())
}

fn check_scope_modifications(
    scope: Option<Scope>,
    m: &ScopeModifications,
) -> Result<(), ValidationError> {
    if let Some(s) = &m.subscriptions
        && s.enabled
    {
        if scope == Some(Scope::Account) {
            return Err(ValidationError::new(
                "scope_modifications.subscriptions",
                "is not allowed with scope ACCOUNT (a subscription instance covers exactly one subscription)",
            ));
        }
        if s.kind.is_none() {
            return Err(ValidationError::new(
                "scope_modifications.subscriptions.type",
                "is required when enabled (INCLUDE or EXCLUDE)",
            ));
        }
        let ids = s.subscription_ids.as_deref().unwrap_or_default();
        if ids.is_empty() {
            return Err(ValidationError::new(
                "scope_modifications.subscriptions.subscription_ids",
                "must list at least one subscription when enabled",
            ));
        }
        for (i, id) in ids.iter().enumerate() {
            check_guid(
                &format!("scope_modifications.subscriptions.subscription_ids.{i}"),
                id,
            )?;
        }
    }
    if let Some(r) = &m.regions
        && r.enabled
    {
        if r.kind.is_none() {
            return Err(ValidationError::new(
                "scope_modifications.regions.type",
                "is required when enabled (INCLUDE or EXCLUDE)",
            ));
        }
        let regions = r.regions.as_deref().unwrap_or_default();
        if regions.is_empty() {
            return Err(ValidationError::new(
                "scope_modifications.regions.regions",
                "must list at least one region when enabled",
            ));
        }
        for (i, region) in regions.iter().enumerate() {
            if region.is_empty()
                || !region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            {
                return Err(ValidationError::new(
                    format!("scope_modifications.regions.regions.{i}"),
                    "must be an Azure location name such as eastus",
                ));
            }
        }
    }
    Ok(())
}

fn check_capabilities(c: &AdditionalCapabilities) -> Result<(), ValidationError> {
    if let Some(o) = &c.registry_scanning_options {
        match (o.kind, o.last_days) {
            (RegistryScanType::TagsModifiedDays, None) => {
                return Err(ValidationError::new(
                    "additional_capabilities.registry_scanning_options.last_days",
                    "is required with TAGS_MODIFIED_DAYS",
                ));
            }
            (RegistryScanType::TagsModifiedDays, Some(d)) if d > 90 => {
                return Err(ValidationError::new(
                    "additional_capabilities.registry_scanning_options.last_days",
                    "must be 0 to 90",
                ));
            }
            (RegistryScanType::All | RegistryScanType::LatestTag, Some(_)) => {
                return Err(ValidationError::new(
                    "additional_capabilities.registry_scanning_options.last_days",
                    "is allowed only with TAGS_MODIFIED_DAYS",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

impl CreateInstanceTemplate {
    /// The rules the official provider enforces before sending, plus the Azure ones: a tenant
    /// GUID, an outpost id with `OUTPOST`, coherent scope modifications and registry options.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.cloud_provider == CloudProvider::Azure {
            let tenant = self
                .account_details
                .as_ref()
                .map(|d| d.organization_id.as_str())
                .unwrap_or_default();
            if tenant.is_empty() {
                return Err(ValidationError::new(
                    "account_details.organization_id",
                    "is required for Azure (the Entra tenant ID)",
                ));
            }
            check_guid("account_details.organization_id", tenant)?;
        }
        if self.scan_mode == ScanMode::Outpost
            && self.scan_env_id.as_deref().unwrap_or_default().is_empty()
        {
            return Err(ValidationError::new(
                "scan_env_id",
                "is required with scan_mode OUTPOST (the outpost ID)",
            ));
        }
        if let Some(id) = self.scan_env_id.as_deref().filter(|s| !s.is_empty())
            && !is_instance_id(id)
        {
            return Err(ValidationError::new(
                "scan_env_id",
                "must be an outpost ID (32 hexadecimal digits)",
            ));
        }
        check_instance_name(self.instance_name.as_deref())?;
        check_tags(&self.custom_resources_tags)?;
        check_scope_modifications(Some(self.scope), &self.scope_modifications)?;
        check_capabilities(&self.additional_capabilities)
    }
}

/// The reply of `create_instance_template` and `edit_instance`: where to download the
/// authentication template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TemplateLinks {
    #[serde(default, deserialize_with = "null_default")]
    pub automated: Automated,
    #[serde(default, deserialize_with = "null_default")]
    pub manual: Manual,
}

fn null_default<'de, D: serde::Deserializer<'de>, T: Deserialize<'de> + Default>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Automated {
    #[serde(default)]
    pub link: Option<String>,
    #[serde(default)]
    pub tracking_guid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Manual {
    #[serde(rename = "TF", default, skip_serializing_if = "Option::is_none")]
    pub tf: Option<String>,
    #[serde(rename = "ARM", default, skip_serializing_if = "Option::is_none")]
    pub arm: Option<String>,
    #[serde(rename = "CF", default, skip_serializing_if = "Option::is_none")]
    pub cf: Option<String>,
}

impl TemplateLinks {
    /// The tracking GUID (= the pending instance's id): `automated.tracking_guid` (AWS), else
    /// the 32 hex digits after `arm-` or `tf-` in the file name of the manual links, as the
    /// official SDK reads it.
    pub fn tracking_guid(&self) -> Option<String> {
        if let Some(g) = self
            .automated
            .tracking_guid
            .as_deref()
            .filter(|g| is_instance_id(g))
        {
            return Some(g.to_ascii_lowercase());
        }
        [(&self.manual.arm, "arm-"), (&self.manual.tf, "tf-")]
            .into_iter()
            .find_map(|(url, prefix)| guid_in_file_name(url.as_deref()?, prefix))
    }
}

fn guid_in_file_name(url: &str, prefix: &str) -> Option<String> {
    let path = url.split(['?', '#']).next()?;
    let file = path.rsplit('/').next()?;
    let rest = file.strip_prefix(prefix)?;
    let (guid, tail) = rest.split_at_checked(32)?;
    (tail.starts_with('-')
        && guid
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then(|| guid.to_owned())
}

/// `get_instances`' `request_data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct GetInstances {
    #[serde(default)]
    pub filter_data: FilterData,
}

/// A page of a list endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    #[serde(rename = "DATA", default)]
    pub data: Vec<T>,
    #[serde(rename = "FILTER_COUNT", default)]
    pub filter_count: u64,
    #[serde(rename = "TOTAL_COUNT", default)]
    pub total_count: u64,
}

/// One row of `get_instances`. Configuration fields are sent as JSON strings (as real tenants
/// do) and read from strings or objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceRow {
    #[serde(alias = "id")]
    pub instance_id: String,
    #[serde(default)]
    pub instance_name: String,
    #[serde(default)]
    pub cloud_provider: String,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub scan_mode: String,
    pub status: InstanceStatus,
    #[serde(
        default,
        deserialize_with = "json_or_string",
        serialize_with = "to_json_string"
    )]
    pub custom_resources_tags: Vec<Tag>,
    #[serde(
        default,
        deserialize_with = "json_or_string",
        serialize_with = "to_json_string"
    )]
    pub collection_configuration: CollectionConfiguration,
    #[serde(
        default,
        deserialize_with = "json_or_string",
        serialize_with = "to_json_string"
    )]
    pub additional_capabilities: AdditionalCapabilities,
    #[serde(default, deserialize_with = "json_or_string")]
    pub scope_modifications: ScopeModifications,
    #[serde(default, deserialize_with = "string_or_number")]
    pub provisioning_method: String,
    #[serde(default, deserialize_with = "null_default")]
    pub account_details: AccountDetails,
    #[serde(default, deserialize_with = "string_or_number")]
    pub cloud_partition: String,
    #[serde(default)]
    pub creation_time: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<Millis>,
    #[serde(default, deserialize_with = "string_or_number")]
    pub outpost_id: String,
    #[serde(default)]
    pub accounts: u64,
    #[serde(default, deserialize_with = "string_or_number")]
    pub account_name: String,
    #[serde(default, deserialize_with = "string_or_number")]
    pub update_status: String,
    #[serde(default)]
    pub is_pending_changes: u8,
}

impl InstanceRow {
    /// When the instance was created, whichever field and unit the server used.
    pub fn created(&self) -> Option<Millis> {
        self.creation_time.or(self.created_at)
    }
}

/// `get_instance_details`' `request_data`: `id` is sent; `instance_id` (Cortex Cloud 1.2 docs)
/// is accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRef {
    #[serde(alias = "instance_id")]
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceDetails {
    pub id: String,
    #[serde(default)]
    pub collector: String,
    #[serde(default)]
    pub instance_name: String,
    #[serde(default)]
    pub scope: String,
    #[serde(default, deserialize_with = "json_or_string")]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub scan: Scan,
    pub status: InstanceStatus,
    #[serde(default)]
    pub cloud_provider: String,
    #[serde(default)]
    pub security_capabilities: Vec<SecurityCapability>,
    #[serde(
        default,
        deserialize_with = "json_or_string",
        serialize_with = "to_json_string"
    )]
    pub collection_configuration: CollectionConfiguration,
    #[serde(
        default,
        deserialize_with = "json_or_string",
        serialize_with = "to_json_string"
    )]
    pub additional_capabilities: AdditionalCapabilities,
    #[serde(default)]
    pub upgrade_available: bool,
}

impl InstanceDetails {
    /// Capabilities still being determined (status 4).
    pub fn retrieving(&self) -> impl Iterator<Item = &SecurityCapability> {
        self.security_capabilities
            .iter()
            .filter(|c| !c.status.is_settled())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Scan {
    #[serde(default)]
    pub scan_method: String,
    #[serde(default)]
    pub status_ui: i64,
    #[serde(default, deserialize_with = "string_or_number")]
    pub outpost_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityCapability {
    /// Kept as text: a newer server may report a capability this product does not know.
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub status: CapabilityStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scan_coverage: Option<LastScanCoverage>,
    /// The warning or error text, when the server gives one. UNCONFIRMED field (see
    /// docs/emulator.md); absent on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LastScanCoverage {
    #[serde(default)]
    pub excluded: u64,
    #[serde(default)]
    pub issues: u64,
    #[serde(default)]
    pub pending: u64,
    #[serde(default)]
    pub success: u64,
    #[serde(default)]
    pub unsupported: u64,
}

/// `edit_instance`'s `request_data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EditInstance {
    #[serde(alias = "instance_id")]
    pub id: String,
    #[serde(default)]
    pub scan_env_id: String,
    #[serde(default)]
    pub instance_name: String,
    pub cloud_provider: CloudProvider,
    #[serde(default)]
    pub custom_resources_tags: Vec<Tag>,
    #[serde(default)]
    pub scope_modifications: ScopeModifications,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_capabilities: Option<AdditionalCapabilities>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection_configuration: Option<CollectionConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_partition: Option<CloudPartition>,
}

impl EditInstance {
    pub fn validate(&self) -> Result<(), ValidationError> {
        if !is_instance_id(&self.id) {
            return Err(ValidationError::new(
                "id",
                "must be an instance ID (32 hexadecimal digits)",
            ));
        }
        check_instance_name(Some(&self.instance_name))?;
        check_tags(&self.custom_resources_tags)?;
        check_scope_modifications(None, &self.scope_modifications)?;
        if let Some(c) = &self.additional_capabilities {
            check_capabilities(c)?;
        }
        Ok(())
    }
}

/// `enable_disable_instance`'s `request_data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnableDisableInstances {
    pub ids: Vec<String>,
    pub enable: bool,
}

/// `delete_instance`'s `request_data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteInstances {
    pub ids: Vec<String>,
}

/// Checks a list of instance ids (non-empty, each 32 hex digits); `field` names the list.
pub fn check_instance_ids(field: &str, ids: &[String]) -> Result<(), ValidationError> {
    if ids.is_empty() {
        return Err(ValidationError::new(
            field,
            "must list at least one instance ID",
        ));
    }
    for (i, id) in ids.iter().enumerate() {
        if !is_instance_id(id) {
            return Err(ValidationError::new(
                format!("{field}.{i}"),
                "must be an instance ID (32 hexadecimal digits)",
            ));
        }
    }
    Ok(())
}

/// `get_accounts`' `request_data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetAccounts {
    pub instance_id: String,
    #[serde(default)]
    pub filter_data: FilterData,
}

/// One row of `get_accounts`. Sources disagree on `account_id` vs `cloud_account_id`: the
/// emulator sends both; [`AccountRow::subscription`] reads either.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRow {
    #[serde(default, deserialize_with = "string_or_number")]
    pub status: String,
    #[serde(default, deserialize_with = "string_or_number")]
    pub account_name: String,
    #[serde(default, deserialize_with = "string_or_number")]
    pub account_id: String,
    #[serde(default, deserialize_with = "string_or_number")]
    pub cloud_account_id: String,
    #[serde(default, deserialize_with = "string_or_number")]
    pub environment: String,
    #[serde(default, rename = "type", deserialize_with = "string_or_number")]
    pub kind: String,
    #[serde(default, deserialize_with = "string_or_number")]
    pub created_at: String,
}

impl AccountRow {
    /// The CSP account id (an Azure subscription id).
    pub fn subscription(&self) -> &str {
        if self.cloud_account_id.is_empty() {
            &self.account_id
        } else {
            &self.cloud_account_id
        }
    }
}

/// `enable_disable_account`'s `request_data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnableDisableAccounts {
    pub ids: Vec<String>,
    pub instance_id: String,
    pub enable: bool,
}

/// `get_azure_approved_tenants`' `request_data` (may be empty or bare).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct GetApprovedTenants {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_partition: Option<CloudPartition>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ApprovedTenants {
    #[serde(default)]
    pub tenants: Vec<ApprovedTenant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovedTenant {
    pub tenant_id: String,
    #[serde(default)]
    pub is_still_approved: bool,
}

/// `list_regions`' `request_data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRegions {
    pub cloud_provider: CloudProvider,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_partition: Option<CloudPartition>,
}

/// One region; the reply is a list of these (documented as one object: read both).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    pub name: String,
    pub value: String,
}

/// Reads `list_regions`' reply: a list, or the single object the docs show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Regions {
    List(Vec<Region>),
    One(Region),
}

impl Regions {
    pub fn into_vec(self) -> Vec<Region> {
        match self {
            Regions::List(v) => v,
            Regions::One(r) => vec![r],
        }
    }
}

/// `get_identifiers`' body (documented un-wrapped; the emulator accepts both).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetIdentifiers {
    pub instance_id: String,
    pub cloud_provider: CloudProvider,
}

/// `get_identifiers`' reply. The schema is UNCONFIRMED (docs/emulator.md): a list of the
/// identities Cortex acts as, with their roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Identifiers {
    #[serde(default, alias = "DATA")]
    pub identifiers: Vec<Identifier>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identifier {
    /// `SERVICE_PRINCIPAL` or `MANAGED_IDENTITY`.
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    /// The Entra application (client) id.
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub roles: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Request;

    fn azure(scope: Scope) -> CreateInstanceTemplate {
        CreateInstanceTemplate {
            cloud_provider: CloudProvider::Azure,
            scope,
            scan_mode: ScanMode::Managed,
            account_details: Some(AccountDetails {
                organization_id: "0091a7ea-5021-42d3-a276-18004980b42b".into(),
                ..Default::default()
            }),
            instance_name: Some("Azure Prod".into()),
            custom_resources_tags: vec![managed_by_tag()],
            collection_configuration: CollectionConfiguration {
                audit_logs: AuditLogs {
                    enabled: true,
                    collection_method: Some(AuditCollectionMethod::Automated),
                    data_events: false,
                },
            },
            scope_modifications: ScopeModifications {
                regions: Some(RegionModification::default()),
                ..Default::default()
            },
            additional_capabilities: AdditionalCapabilities::all(),
            scan_env_id: None,
            cloud_partition: None,
        }
    }

    #[test]
    fn the_minimal_azure_example_has_the_sdk_shape() {
        let body = serde_json::to_value(Request::new(azure(Scope::Organization))).unwrap();
        let r = &body["request_data"];
        assert_eq!(r["scope"], "ORGANIZATION");
        assert_eq!(
            r["account_details"]["organization_id"],
            "0091a7ea-5021-42d3-a276-18004980b42b"
        );
        assert_eq!(r["scope_modifications"]["regions"]["enabled"], false);
        assert_eq!(
            r["additional_capabilities"]["registry_scanning_options"]["type"],
            "ALL"
        );
        assert!(r.get("scan_env_id").is_none());
        assert!(azure(Scope::Organization).validate().is_ok());
    }

    #[test]
    fn create_rules_name_the_field() {
        let mut c = azure(Scope::Account);
        c.scope_modifications.subscriptions = Some(SubscriptionModification {
            enabled: true,
            kind: Some(ModificationType::Include),
            subscription_ids: Some(vec!["0091a7ea-5021-42d3-a276-18004980b42b".into()]),
        });
        assert_eq!(
            c.validate().unwrap_err().field,
            "scope_modifications.subscriptions"
        );
        c.scope = Scope::AccountGroup;
        assert!(c.validate().is_ok());
        c.scope_modifications
            .subscriptions
            .as_mut()
            .unwrap()
            .subscription_ids = Some(vec![]);
        assert_eq!(
            c.validate().unwrap_err().field,
            "scope_modifications.subscriptions.subscription_ids"
        );
        let mut c = azure(Scope::Organization);
        c.account_details = None;
        assert_eq!(
            c.validate().unwrap_err().field,
            "account_details.organization_id"
        );
        let mut c = azure(Scope::Organization);
        c.scan_mode = ScanMode::Outpost;
        assert_eq!(c.validate().unwrap_err().field, "scan_env_id");
        let mut c = azure(Scope::Organization);
        c.additional_capabilities.registry_scanning_options = Some(RegistryScanningOptions {
            kind: RegistryScanType::TagsModifiedDays,
            last_days: Some(91),
        });
        assert_eq!(
            c.validate().unwrap_err().field,
            "additional_capabilities.registry_scanning_options.last_days"
        );
        let mut c = azure(Scope::Organization);
        c.scope_modifications.regions = Some(RegionModification {
            enabled: true,
            kind: Some(ModificationType::Exclude),
            regions: Some(vec!["East US".into()]),
        });
        assert_eq!(
            c.validate().unwrap_err().field,
            "scope_modifications.regions.regions.0"
        );
        // An unknown capability or scope is refused by the wire model itself.
        let bad = r#"{"cloud_provider":"AZURE","scope":"TENANT","scan_mode":"MANAGED"}"#;
        assert!(serde_json::from_str::<CreateInstanceTemplate>(bad).is_err());
    }

    #[test]
    fn tracking_guids_come_from_the_file_names() {
        let links: TemplateLinks = serde_json::from_str(
            r#"{"automated": null, "manual": {"ARM": "https://b.storage.googleapis.com/t/azure/arm-e22b3a29260c404183d1a0ea6cbd4418-1741268418.zip?Expires=1", "TF": "https://b/t/tf-e22b3a29260c404183d1a0ea6cbd4418-1741268418.tar.gz"}}"#,
        )
        .unwrap();
        assert_eq!(
            links.tracking_guid().as_deref(),
            Some("e22b3a29260c404183d1a0ea6cbd4418")
        );
        let tf_only = TemplateLinks {
            manual: Manual {
                tf: links.manual.tf.clone(),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(tf_only.tracking_guid(), links.tracking_guid());
        let none = TemplateLinks {
            manual: Manual {
                arm: Some("https://b/arm-XYZ-1.zip".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(none.tracking_guid(), None);
    }

    #[test]
    fn instance_rows_read_both_encodings_and_units() {
        let sdk = r#"{"instance_id":"e22b3a29260c404183d1a0ea6cbd4418","status":"CONNECTED","collection_configuration":"{\"audit_logs\": {\"enabled\": true}}","additional_capabilities":"{\"xsiam_analytics\": true}","custom_resources_tags":"[{\"key\":\"managed_by\",\"value\":\"paloaltonetworks\"}]","creation_time":1709903622007,"accounts":3}"#;
        let doc = r#"{"instance_id":"e22b3a29260c404183d1a0ea6cbd4418","status":"CONNECTED","collection_configuration":{"audit_logs":{"enabled":true}},"additional_capabilities":{"xsiam_analytics":true},"custom_resources_tags":[{"key":"managed_by","value":"paloaltonetworks"}],"created_at":1709903622,"account_details":null}"#;
        let a: InstanceRow = serde_json::from_str(sdk).unwrap();
        let b: InstanceRow = serde_json::from_str(doc).unwrap();
        assert_eq!(a.collection_configuration, b.collection_configuration);
        assert_eq!(a.additional_capabilities, b.additional_capabilities);
        assert_eq!(a.custom_resources_tags, b.custom_resources_tags);
        assert_eq!(a.created().unwrap().0 / 1000, b.created().unwrap().0 / 1000);
        // What the emulator sends is what the SDK decodes: strings.
        let out = serde_json::to_value(&a).unwrap();
        assert!(out["collection_configuration"].is_string());
        assert!(out["additional_capabilities"].is_string());
    }

    #[test]
    fn both_id_spellings_are_read_and_id_is_sent() {
        let r: InstanceRef = serde_json::from_str(r#"{"instance_id":"x"}"#).unwrap();
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"id":"x"}"#);
        let regions: Regions =
            serde_json::from_str(r#"{"name":"East US","value":"eastus"}"#).unwrap();
        assert_eq!(regions.into_vec().len(), 1);
        assert!(check_instance_ids("ids", &[]).is_err());
        assert_eq!(
            check_instance_ids("ids", &["nope".into()])
                .unwrap_err()
                .field,
            "ids.0"
        );
    }
}
