//! A Cortex Cloud onboarding, as it arrives ([`RawCortexRequest`]) and validated
//! ([`CortexRequest`]), in Cortex Cloud's own terms (fact sheet §4.1, §6).
//!
//! * **Scope**: `tenant` (`ORGANIZATION`: the tenant root management group),
//!   `management_group` (`ACCOUNT_GROUP`) or `subscription` (`ACCOUNT`); the API's spellings
//!   are accepted too. The template runs with a hosting subscription (`subscription_id`: the
//!   onboarded one at subscription scope) and, at management-group scope, the group.
//! * **Subscriptions** (tenant and management-group scopes only): include *or* exclude a
//!   non-empty list (`scope_modifications.subscriptions`). **Regions**: include or exclude a
//!   non-empty list of Azure location names (`scope_modifications.regions`).
//! * **Capabilities** (`additional_capabilities`): `agentless_disk_scanning`,
//!   `data_security_posture_management`, `registry_scanning` (with `registry_scanning_type`
//!   `ALL` | `LATEST_TAG` | `TAGS_MODIFIED_DAYS` and `registry_last_days` 0–90 for the last),
//!   `serverless_scanning`, `xsiam_analytics`; the console's short names (`ADS`, `DSPM`,
//!   `REGISTRY`, `SERVERLESS`) are accepted. Discovery is always on and has no flag.
//! * **Audit logs** (`collection_configuration.audit_logs`): `audit_logs` on/off,
//!   `audit_logs_method` `AUTOMATED` (default) | `CUSTOM`, `audit_logs_data_events`.
//! * **Scan mode**: `MANAGED` (default) or `OUTPOST` with `outpost_id` (32 hex).
//! * The tenant must have approved Cortex's application: that is checked against the tenant
//!   (`get_azure_approved_tenants`) before anything is created, not here.
//!
//! Every bad field is named, all at once; nothing is created for a refused request.

use std::collections::BTreeMap;

use azure_config::cortex::{CloudEnvironment, CortexCapabilities, CortexScope, CortexTemplate};
use cortex_cloud_types::enums::{
    AuditCollectionMethod, CloudPartition, CloudProvider, ModificationType, RegistryScanType,
    ScanMode, Scope as WireScope,
};
use cortex_cloud_types::wire::{
    AccountDetails, AdditionalCapabilities, AuditLogs, CollectionConfiguration,
    CreateInstanceTemplate, RegionModification, RegistryScanningOptions, ScopeModifications,
    SubscriptionModification, Tag,
};
use prisma_types::{ManagementGroupId, SubscriptionId, TenantId, ValidationError};
use serde::{Deserialize, Serialize};

use crate::connections::{CORTEX_SANDBOX_CONNECTION, ConnectionName};
use crate::request::{FieldError, RequestErrors};

/// Which Cortex Cloud connection a job uses: the sandbox's built-in one or a saved one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum CortexConnectionRef {
    Sandbox,
    Saved(ConnectionName),
}

impl CortexConnectionRef {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if raw.trim() == CORTEX_SANDBOX_CONNECTION {
            return Ok(Self::Sandbox);
        }
        ConnectionName::parse_as("connection", raw).map(Self::Saved)
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Sandbox => CORTEX_SANDBOX_CONNECTION,
            Self::Saved(name) => name.as_str(),
        }
    }
}

impl TryFrom<String> for CortexConnectionRef {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value).map_err(|e| format!("connection {}", e.message))
    }
}

impl From<CortexConnectionRef> for String {
    fn from(c: CortexConnectionRef) -> String {
        c.as_str().to_owned()
    }
}

/// A non-empty include or exclude list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeFilter<T> {
    pub mode: ModificationType,
    pub ids: Vec<T>,
}

/// A validated Cortex Cloud onboarding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CortexRequest {
    pub connection: CortexConnectionRef,
    /// `instance_name`; Cortex names it when absent.
    pub instance_name: Option<String>,
    pub tenant_id: TenantId,
    pub scope: CortexScope,
    /// The hosting subscription (the onboarded one at subscription scope).
    pub subscription_id: SubscriptionId,
    /// At management-group scope only.
    pub management_group_id: Option<ManagementGroupId>,
    /// Where the hosting resource group goes (an Azure location name).
    pub location: String,
    pub subscriptions: Option<ScopeFilter<SubscriptionId>>,
    pub regions: Option<ScopeFilter<String>>,
    pub capabilities: CortexCapabilities,
    pub xsiam_analytics: bool,
    /// Set exactly when `capabilities.registry_scanning` is.
    pub registry_scanning: Option<RegistryScanningOptions>,
    pub audit_logs: AuditLogs,
    pub scan_mode: ScanMode,
    /// The outpost (`scan_env_id`), exactly when `scan_mode` is `OUTPOST`.
    pub outpost_id: Option<String>,
    pub cloud_environment: CloudEnvironment,
    pub tags: BTreeMap<String, String>,
    pub require_approval: bool,
}

impl CortexRequest {
    /// `create_instance_template`'s `request_data` for this onboarding: the tenant in
    /// `account_details`, the filters as `scope_modifications`, the capabilities with unset
    /// flags sent as `false` (Cortex's meaning of "not chosen"), the tags plus
    /// `managed_by=paloaltonetworks`.
    pub fn instance_template(&self) -> CreateInstanceTemplate {
        let caps = &self.capabilities;
        let mut tags: Vec<Tag> = self
            .tags
            .iter()
            .map(|(key, value)| Tag {
                key: key.clone(),
                value: value.clone(),
            })
            .collect();
        if !tags.iter().any(|t| t.key == "managed_by") {
            tags.push(cortex_cloud_types::wire::managed_by_tag());
        }
        CreateInstanceTemplate {
            cloud_provider: CloudProvider::Azure,
            scope: match self.scope {
                CortexScope::Tenant => WireScope::Organization,
                CortexScope::ManagementGroup => WireScope::AccountGroup,
                CortexScope::Subscription => WireScope::Account,
            },
            scan_mode: self.scan_mode,
            account_details: Some(AccountDetails {
                organization_id: self.tenant_id.to_string(),
                ..AccountDetails::default()
            }),
            instance_name: self.instance_name.clone(),
            custom_resources_tags: tags,
            collection_configuration: CollectionConfiguration {
                audit_logs: self.audit_logs.clone(),
            },
            scope_modifications: ScopeModifications {
                subscriptions: self
                    .subscriptions
                    .as_ref()
                    .map(|f| SubscriptionModification {
                        enabled: true,
                        kind: Some(f.mode),
                        subscription_ids: Some(f.ids.iter().map(|id| id.to_string()).collect()),
                    }),
                regions: Some(match &self.regions {
                    Some(f) => RegionModification {
                        enabled: true,
                        kind: Some(f.mode),
                        regions: Some(f.ids.clone()),
                    },
                    None => RegionModification::default(),
                }),
                ..ScopeModifications::default()
            },
            additional_capabilities: AdditionalCapabilities {
                xsiam_analytics: Some(self.xsiam_analytics),
                data_security_posture_management: Some(caps.data_security_posture_management),
                registry_scanning: Some(caps.registry_scanning),
                registry_scanning_options: self.registry_scanning.clone(),
                serverless_scanning: Some(caps.serverless_scanning),
                agentless_disk_scanning: Some(caps.agentless_disk_scanning),
            },
            scan_env_id: self.outpost_id.clone(),
            cloud_partition: Some(match self.cloud_environment {
                CloudEnvironment::Public => CloudPartition::Commercial,
                CloudEnvironment::UsGovernment => CloudPartition::Government,
            }),
        }
    }

    /// What the authentication template's `main.tf.json` is generated from.
    pub fn template(&self) -> CortexTemplate {
        CortexTemplate {
            scope: self.scope,
            capabilities: self.capabilities,
            audit_logs: self.audit_logs.enabled,
            cloud_environment: self.cloud_environment,
        }
    }

    /// What the job onboards, in words ("tenant 0091a7ea-…", "management group prod").
    pub fn label(&self) -> String {
        match (self.scope, &self.management_group_id) {
            (CortexScope::Tenant, _) => format!("tenant {}", self.tenant_id),
            (CortexScope::ManagementGroup, Some(mg)) => format!("management group {mg}"),
            (CortexScope::ManagementGroup, None) => "management group".into(),
            (CortexScope::Subscription, _) => format!("subscription {}", self.subscription_id),
        }
    }
}

/// A Cortex Cloud onboarding as it arrives: every field optional, so a missing or bad one is
/// named instead of failing deserialization.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawCortexRequest {
    pub connection: Option<String>,
    pub instance_name: Option<String>,
    pub tenant_id: Option<String>,
    pub scope: Option<String>,
    pub subscription_id: Option<String>,
    pub management_group_id: Option<String>,
    pub location: Option<String>,
    pub include_subscriptions: Option<Vec<String>>,
    pub exclude_subscriptions: Option<Vec<String>>,
    pub include_regions: Option<Vec<String>>,
    pub exclude_regions: Option<Vec<String>>,
    pub capabilities: Option<Vec<String>>,
    pub registry_scanning_type: Option<String>,
    pub registry_last_days: Option<i64>,
    pub audit_logs: Option<bool>,
    pub audit_logs_method: Option<String>,
    pub audit_logs_data_events: Option<bool>,
    pub scan_mode: Option<String>,
    pub outpost_id: Option<String>,
    pub cloud_environment: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    pub require_approval: Option<bool>,
}

/// Every capability name accepted, with the flag it sets.
const CAPABILITY_NAMES: [(&str, &str); 9] = [
    ("agentless_disk_scanning", "agentless_disk_scanning"),
    ("ads", "agentless_disk_scanning"),
    (
        "data_security_posture_management",
        "data_security_posture_management",
    ),
    ("dspm", "data_security_posture_management"),
    ("registry_scanning", "registry_scanning"),
    ("registry", "registry_scanning"),
    ("serverless_scanning", "serverless_scanning"),
    ("serverless", "serverless_scanning"),
    ("xsiam_analytics", "xsiam_analytics"),
];

/// The capabilities a tenant-wide Terraform resource turns on when nothing is said (§4.1).
pub const DEFAULT_CAPABILITIES: [&str; 5] = [
    "agentless_disk_scanning",
    "data_security_posture_management",
    "registry_scanning",
    "serverless_scanning",
    "xsiam_analytics",
];

#[derive(Default)]
struct Problems(Vec<FieldError>);

impl Problems {
    fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    fn take<T>(&mut self, r: Result<T, ValidationError>) -> Option<T> {
        r.map_err(|e| self.0.push(e.into())).ok()
    }
}

fn parse_scope(raw: &str) -> Option<CortexScope> {
    let s = raw.trim();
    CortexScope::from_api_name(&s.to_ascii_uppercase()).or(
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "tenant" => Some(CortexScope::Tenant),
            "management_group" | "mg" => Some(CortexScope::ManagementGroup),
            "subscription" => Some(CortexScope::Subscription),
            _ => None,
        },
    )
}

fn valid_location(s: &str) -> bool {
    (1..=40).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn is_hex32(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl RawCortexRequest {
    /// Checks every field; returns all problems at once, each naming its field.
    pub fn validate(&self) -> Result<CortexRequest, RequestErrors> {
        let mut p = Problems::default();
        let connection = match self.connection.as_deref().map(str::trim) {
            None | Some("") => {
                p.fail(
                    "connection",
                    "is required: a Cortex Cloud connection (cortex-sandbox in the sandbox)",
                );
                None
            }
            Some(raw) => p.take(CortexConnectionRef::parse(raw)),
        };
        let instance_name = match self.instance_name.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(n) if n.chars().count() > 100 || n.chars().any(char::is_control) => {
                p.fail(
                    "instance_name",
                    "must be at most 100 characters, without control characters",
                );
                None
            }
            Some(n) => Some(n.to_owned()),
        };
        let tenant_id = match self.tenant_id.as_deref() {
            None => {
                p.fail("tenant_id", "is required: the Entra tenant ID");
                None
            }
            Some(raw) => p.take(TenantId::parse_as("tenant_id", raw)),
        };
        let scope = match self.scope.as_deref() {
            None => {
                p.fail(
                    "scope",
                    "is required: tenant, management_group or subscription",
                );
                None
            }
            Some(raw) => {
                let s = parse_scope(raw);
                if s.is_none() {
                    p.fail(
                        "scope",
                        "must be tenant (ORGANIZATION), management_group (ACCOUNT_GROUP) or \
                         subscription (ACCOUNT)",
                    );
                }
                s
            }
        };
        let subscription_id = match self.subscription_id.as_deref() {
            None => {
                p.fail(
                    "subscription_id",
                    "is required: the subscription to onboard (subscription scope) or the one \
                     that hosts Cortex's resource group (tenant and management-group scopes)",
                );
                None
            }
            Some(raw) => p.take(SubscriptionId::parse_as("subscription_id", raw)),
        };
        let management_group_id = match (scope, self.management_group_id.as_deref()) {
            (Some(CortexScope::ManagementGroup), None) => {
                p.fail(
                    "management_group_id",
                    "is required at management_group scope",
                );
                None
            }
            (Some(CortexScope::ManagementGroup), Some(raw)) => {
                p.take(ManagementGroupId::parse_as("management_group_id", raw))
            }
            (_, Some(_)) => {
                p.fail(
                    "management_group_id",
                    "applies only to management_group scope (a tenant is onboarded from its \
                     root group)",
                );
                None
            }
            (_, None) => None,
        };
        let location = match self.location.as_deref().map(str::trim) {
            None | Some("") => azure_config::cortex::DEFAULT_LOCATION.to_owned(),
            Some(l) if valid_location(l) => l.to_owned(),
            Some(_) => {
                p.fail(
                    "location",
                    "must be an Azure location name such as eastus (lower-case letters and \
                     digits)",
                );
                String::new()
            }
        };
        let subscriptions = self.subscription_filter(&mut p, scope);
        let regions = self.region_filter(&mut p);
        let (capabilities, xsiam_analytics) = self.capabilities(&mut p);
        let registry_scanning = self.registry(&mut p, capabilities.registry_scanning);
        let audit_logs = self.audit_logs(&mut p);
        let scan_mode = match self.scan_mode.as_deref().map(str::parse::<ScanMode>) {
            None => Some(ScanMode::Managed),
            Some(Ok(m)) => Some(m),
            Some(Err(_)) => {
                p.fail("scan_mode", "must be MANAGED or OUTPOST");
                None
            }
        };
        let outpost_id = match (scan_mode, self.outpost_id.as_deref().map(str::trim)) {
            (Some(ScanMode::Outpost), Some(id)) if is_hex32(id) => Some(id.to_ascii_lowercase()),
            (Some(ScanMode::Outpost), Some(_)) => {
                p.fail(
                    "outpost_id",
                    "must be the outpost's ID: 32 hexadecimal digits",
                );
                None
            }
            (Some(ScanMode::Outpost), None) => {
                p.fail("outpost_id", "is required with scan_mode OUTPOST");
                None
            }
            (_, Some(_)) => {
                p.fail("outpost_id", "applies only to scan_mode OUTPOST");
                None
            }
            (_, None) => None,
        };
        let cloud_environment = match self
            .cloud_environment
            .as_deref()
            .map(|s| s.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("") | Some("public") | Some("commercial") => CloudEnvironment::Public,
            Some("usgovernment") | Some("government") => CloudEnvironment::UsGovernment,
            Some(_) => {
                p.fail(
                    "cloud_environment",
                    "must be public (COMMERCIAL) or usgovernment",
                );
                CloudEnvironment::Public
            }
        };
        let tags = self.tags.clone().unwrap_or_default();
        if tags.len() > 50 {
            p.fail("tags", "at most 50 tags");
        }
        for (k, v) in &tags {
            if k.is_empty()
                || k.len() > 512
                || v.len() > 256
                || k.chars().any(|c| c.is_control() || "<>%&\\?/".contains(c))
                || v.chars().any(char::is_control)
            {
                p.fail(
                    "tags",
                    "keys are 1-512 characters without <>%&\\?/ or control characters, values \
                     at most 256",
                );
                break;
            }
        }
        match (
            connection,
            tenant_id,
            scope,
            subscription_id,
            audit_logs,
            scan_mode,
        ) {
            (
                Some(connection),
                Some(tenant_id),
                Some(scope),
                Some(subscription_id),
                Some(audit_logs),
                Some(scan_mode),
            ) if p.0.is_empty() => Ok(CortexRequest {
                connection,
                instance_name,
                tenant_id,
                scope,
                subscription_id,
                management_group_id,
                location,
                subscriptions,
                regions,
                capabilities,
                xsiam_analytics,
                registry_scanning,
                audit_logs,
                scan_mode,
                outpost_id,
                cloud_environment,
                tags,
                require_approval: self.require_approval.unwrap_or(false),
            }),
            _ => Err(RequestErrors { errors: p.0 }),
        }
    }

    fn subscription_filter(
        &self,
        p: &mut Problems,
        scope: Option<CortexScope>,
    ) -> Option<ScopeFilter<SubscriptionId>> {
        let (mode, field, list) = match (&self.include_subscriptions, &self.exclude_subscriptions) {
            (None, None) => return None,
            (Some(_), Some(_)) => {
                p.fail(
                    "exclude_subscriptions",
                    "give include_subscriptions or exclude_subscriptions, not both",
                );
                return None;
            }
            (Some(l), None) => (ModificationType::Include, "include_subscriptions", l),
            (None, Some(l)) => (ModificationType::Exclude, "exclude_subscriptions", l),
        };
        if scope == Some(CortexScope::Subscription) {
            p.fail(
                field,
                "applies only to tenant and management_group scopes: a subscription scope \
                 onboards exactly subscription_id",
            );
            return None;
        }
        if list.is_empty() {
            p.fail(
                field,
                "is empty: list at least one subscription ID, or leave it out",
            );
            return None;
        }
        let mut ids = Vec::new();
        for raw in list {
            let id = p.take(SubscriptionId::parse_as(field, raw))?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Some(ScopeFilter { mode, ids })
    }

    fn region_filter(&self, p: &mut Problems) -> Option<ScopeFilter<String>> {
        let (mode, field, list) = match (&self.include_regions, &self.exclude_regions) {
            (None, None) => return None,
            (Some(_), Some(_)) => {
                p.fail(
                    "exclude_regions",
                    "give include_regions or exclude_regions, not both",
                );
                return None;
            }
            (Some(l), None) => (ModificationType::Include, "include_regions", l),
            (None, Some(l)) => (ModificationType::Exclude, "exclude_regions", l),
        };
        if list.is_empty() {
            p.fail(field, "is empty: list at least one region, or leave it out");
            return None;
        }
        let mut ids: Vec<String> = Vec::new();
        for raw in list {
            let r = raw.trim().to_ascii_lowercase();
            if !valid_location(&r) {
                p.fail(
                    field,
                    "holds a region that is not an Azure location name (eastus, westeurope, …)",
                );
                return None;
            }
            if !ids.contains(&r) {
                ids.push(r);
            }
        }
        Some(ScopeFilter { mode, ids })
    }

    fn capabilities(&self, p: &mut Problems) -> (CortexCapabilities, bool) {
        let names: Vec<String> = match &self.capabilities {
            None => DEFAULT_CAPABILITIES.iter().map(|s| s.to_string()).collect(),
            Some(list) => list.clone(),
        };
        let mut caps = CortexCapabilities::default();
        let mut xsiam = false;
        for raw in &names {
            let key = raw.trim().to_ascii_lowercase().replace('-', "_");
            match CAPABILITY_NAMES.iter().find(|(n, _)| *n == key) {
                Some((_, "agentless_disk_scanning")) => caps.agentless_disk_scanning = true,
                Some((_, "data_security_posture_management")) => {
                    caps.data_security_posture_management = true
                }
                Some((_, "registry_scanning")) => caps.registry_scanning = true,
                Some((_, "serverless_scanning")) => caps.serverless_scanning = true,
                Some(_) => xsiam = true,
                None => {
                    let known: Vec<_> = DEFAULT_CAPABILITIES.to_vec();
                    p.fail(
                        "capabilities",
                        format!(
                            "unknown capability '{}'; Cortex Cloud's are: {} (discovery is \
                             always on)",
                            raw.trim().chars().take(40).collect::<String>(),
                            known.join(", ")
                        ),
                    );
                }
            }
        }
        (caps, xsiam)
    }

    fn registry(&self, p: &mut Problems, on: bool) -> Option<RegistryScanningOptions> {
        let kind = self
            .registry_scanning_type
            .as_deref()
            .map(str::parse::<RegistryScanType>);
        if !on {
            if kind.is_some() || self.registry_last_days.is_some() {
                p.fail(
                    if kind.is_some() {
                        "registry_scanning_type"
                    } else {
                        "registry_last_days"
                    },
                    "applies only when registry_scanning is among the capabilities",
                );
            }
            return None;
        }
        let kind = match kind {
            None => RegistryScanType::All,
            Some(Ok(k)) => k,
            Some(Err(_)) => {
                p.fail(
                    "registry_scanning_type",
                    "must be ALL, LATEST_TAG or TAGS_MODIFIED_DAYS",
                );
                return None;
            }
        };
        let last_days = match (kind, self.registry_last_days) {
            (RegistryScanType::TagsModifiedDays, Some(d)) if (0..=90).contains(&d) => {
                Some(d as u32)
            }
            (RegistryScanType::TagsModifiedDays, Some(_)) => {
                p.fail("registry_last_days", "must be 0-90");
                return None;
            }
            (RegistryScanType::TagsModifiedDays, None) => {
                p.fail(
                    "registry_last_days",
                    "is required with registry_scanning_type TAGS_MODIFIED_DAYS",
                );
                return None;
            }
            (_, Some(_)) => {
                p.fail(
                    "registry_last_days",
                    "applies only to registry_scanning_type TAGS_MODIFIED_DAYS",
                );
                return None;
            }
            (_, None) => None,
        };
        Some(RegistryScanningOptions { kind, last_days })
    }

    fn audit_logs(&self, p: &mut Problems) -> Option<AuditLogs> {
        let enabled = self.audit_logs.unwrap_or(true);
        let method = match self
            .audit_logs_method
            .as_deref()
            .map(str::parse::<AuditCollectionMethod>)
        {
            None => AuditCollectionMethod::Automated,
            Some(Ok(m)) => m,
            Some(Err(_)) => {
                p.fail("audit_logs_method", "must be AUTOMATED or CUSTOM");
                return None;
            }
        };
        if !enabled && (self.audit_logs_method.is_some() || self.audit_logs_data_events.is_some()) {
            p.fail(
                if self.audit_logs_method.is_some() {
                    "audit_logs_method"
                } else {
                    "audit_logs_data_events"
                },
                "applies only when audit_logs is on",
            );
            return None;
        }
        Some(AuditLogs {
            enabled,
            collection_method: enabled.then_some(method),
            data_events: enabled && self.audit_logs_data_events.unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "0091a7ea-5021-42d3-a276-18004980b42b";
    const SUB: &str = "5f1c0000-0000-4000-8000-000000000001";

    fn raw(scope: &str) -> RawCortexRequest {
        RawCortexRequest {
            connection: Some("cortex-sandbox".into()),
            tenant_id: Some(TENANT.into()),
            scope: Some(scope.into()),
            subscription_id: Some(SUB.into()),
            ..RawCortexRequest::default()
        }
    }

    fn fields(e: &RequestErrors) -> Vec<&str> {
        e.errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn each_scope_in_our_words_or_the_apis() {
        for (word, scope) in [
            ("tenant", CortexScope::Tenant),
            ("ORGANIZATION", CortexScope::Tenant),
            ("subscription", CortexScope::Subscription),
            ("ACCOUNT", CortexScope::Subscription),
        ] {
            let r = raw(word).validate().unwrap();
            assert_eq!(r.scope, scope, "{word}");
            assert_eq!(r.connection, CortexConnectionRef::Sandbox);
        }
        let r = RawCortexRequest {
            management_group_id: Some("prod-mg".into()),
            ..raw("ACCOUNT_GROUP")
        }
        .validate()
        .unwrap();
        assert_eq!(r.scope, CortexScope::ManagementGroup);
        assert_eq!(r.label(), "management group prod-mg");
        // Defaults: every capability (as the official provider), audit logs automated,
        // managed scanning, eastus.
        assert_eq!(r.capabilities, CortexCapabilities::ALL);
        assert!(r.xsiam_analytics);
        assert_eq!(
            r.registry_scanning,
            Some(RegistryScanningOptions {
                kind: RegistryScanType::All,
                last_days: None
            })
        );
        assert_eq!(
            r.audit_logs,
            AuditLogs {
                enabled: true,
                collection_method: Some(AuditCollectionMethod::Automated),
                data_events: false
            }
        );
        assert_eq!(r.scan_mode, ScanMode::Managed);
        // What is sent is what the client's own checks accept.
        let body = r.instance_template();
        body.validate().unwrap();
        assert_eq!(body.scope, WireScope::AccountGroup);
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["account_details"]["organization_id"], TENANT);
        assert_eq!(json["scope_modifications"]["regions"]["enabled"], false);
        assert!(json["scope_modifications"].get("subscriptions").is_none());
        assert_eq!(
            json["additional_capabilities"]["registry_scanning_options"]["type"],
            "ALL"
        );
        assert!(
            json["custom_resources_tags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["key"] == "managed_by" && t["value"] == "paloaltonetworks")
        );
        assert_eq!(r.template().scope, CortexScope::ManagementGroup);
        assert_eq!(r.location, "eastus");
        let back: CortexRequest =
            serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn every_option_of_the_api() {
        let r = RawCortexRequest {
            connection: Some("cortex-eu".into()),
            instance_name: Some("Azure prod".into()),
            exclude_subscriptions: Some(vec![SUB.into(), SUB.into()]),
            include_regions: Some(vec!["EastUS".into(), "westeurope".into()]),
            capabilities: Some(vec!["ADS".into(), "registry".into()]),
            registry_scanning_type: Some("TAGS_MODIFIED_DAYS".into()),
            registry_last_days: Some(30),
            audit_logs_method: Some("custom".into()),
            audit_logs_data_events: Some(true),
            scan_mode: Some("OUTPOST".into()),
            outpost_id: Some("E22B3A29260C404183D1A0EA6CBD4418".into()),
            cloud_environment: Some("usgovernment".into()),
            tags: Some([("team".to_owned(), "sec".to_owned())].into()),
            require_approval: Some(true),
            ..raw("tenant")
        }
        .validate()
        .unwrap();
        assert_eq!(
            r.subscriptions.as_ref().map(|f| (f.mode, f.ids.len())),
            Some((ModificationType::Exclude, 1))
        );
        assert_eq!(r.regions.as_ref().unwrap().ids, ["eastus", "westeurope"]);
        let body = r.instance_template();
        body.validate().unwrap();
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(
            json["scope_modifications"]["subscriptions"],
            serde_json::json!({"enabled": true, "type": "EXCLUDE", "subscription_ids": [SUB]})
        );
        assert_eq!(json["scan_env_id"], "e22b3a29260c404183d1a0ea6cbd4418");
        assert_eq!(json["scan_mode"], "OUTPOST");
        assert_eq!(json["cloud_partition"], "GOVERNMENT");
        assert_eq!(
            json["collection_configuration"]["audit_logs"]["collection_method"],
            "CUSTOM"
        );
        assert!(r.capabilities.agentless_disk_scanning && r.capabilities.registry_scanning);
        assert!(!r.capabilities.serverless_scanning && !r.xsiam_analytics);
        assert_eq!(
            r.registry_scanning,
            Some(RegistryScanningOptions {
                kind: RegistryScanType::TagsModifiedDays,
                last_days: Some(30)
            })
        );
        assert_eq!(
            r.audit_logs.collection_method,
            Some(AuditCollectionMethod::Custom)
        );
        assert_eq!(r.scan_mode, ScanMode::Outpost);
        assert_eq!(r.cloud_environment, CloudEnvironment::UsGovernment);
        assert!(r.require_approval);
    }

    #[test]
    fn bad_input_is_refused_naming_each_field() {
        let e = RawCortexRequest::default().validate().unwrap_err();
        assert_eq!(
            fields(&e),
            ["connection", "tenant_id", "scope", "subscription_id"]
        );
        // A subscription scope with a subscription filter; an unknown capability.
        let e = RawCortexRequest {
            include_subscriptions: Some(vec![SUB.into()]),
            capabilities: Some(vec!["AI_SECURITY".into()]),
            ..raw("subscription")
        }
        .validate()
        .unwrap_err();
        assert_eq!(fields(&e), ["include_subscriptions", "capabilities"]);
        assert!(e.errors[1].message.contains("AI_SECURITY"));
        // Empty include lists.
        let e = RawCortexRequest {
            include_subscriptions: Some(vec![]),
            include_regions: Some(vec![]),
            ..raw("tenant")
        }
        .validate()
        .unwrap_err();
        assert_eq!(fields(&e), ["include_subscriptions", "include_regions"]);
        let e = RawCortexRequest {
            include_subscriptions: Some(vec![SUB.into()]),
            exclude_subscriptions: Some(vec![SUB.into()]),
            management_group_id: Some("mg".into()),
            ..raw("tenant")
        }
        .validate()
        .unwrap_err();
        assert_eq!(fields(&e), ["management_group_id", "exclude_subscriptions"]);
        let e = raw("management_group").validate().unwrap_err();
        assert_eq!(fields(&e), ["management_group_id"]);
        let e = RawCortexRequest {
            capabilities: Some(vec!["serverless".into()]),
            registry_scanning_type: Some("ALL".into()),
            audit_logs: Some(false),
            audit_logs_data_events: Some(true),
            scan_mode: Some("OUTPOST".into()),
            location: Some("East US".into()),
            ..raw("tenant")
        }
        .validate()
        .unwrap_err();
        assert_eq!(
            fields(&e),
            [
                "location",
                "registry_scanning_type",
                "audit_logs_data_events",
                "outpost_id"
            ]
        );
        let e = RawCortexRequest {
            registry_scanning_type: Some("TAGS_MODIFIED_DAYS".into()),
            registry_last_days: Some(91),
            connection: Some("default".into()),
            scope: Some("region".into()),
            ..raw("tenant")
        }
        .validate()
        .unwrap_err();
        assert_eq!(fields(&e), ["connection", "scope", "registry_last_days"]);
        let e: Result<RawCortexRequest, _> = serde_json::from_str(r#"{"features": ["x"]}"#);
        assert!(e.is_err(), "unknown fields are refused");
    }
}
