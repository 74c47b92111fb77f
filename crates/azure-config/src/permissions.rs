//! The Azure permission catalog: what Prisma Cloud's identity may do, per scope and feature.
//!
//! One catalog serves two generators: the emulator's copy of Prisma's template
//! (`prisma-emulator::template`, which re-exports these items) and our own configuration
//! ([`crate::builtin`]). Moving a permission here changes both.
//!
//! # Choices where the reference is UNCONFIRMED
//!
//! 1. **Permissions per feature.** The pan.dev samples look abridged, so the real per-feature
//!    lists are unknown. The base read list is the sample list: 26 actions for a subscription
//!    and 57 for a tenant. [`FLOW_LOG_STATUS_ACTION`] is always added to it, because Prisma's
//!    docs say flow-log ingestion needs it and the template request carries no flow-log flag.
//!    Each feature then adds its own actions, in the order of `Feature::ALL`:
//!    * *Agentless Scanning*: [`AGENTLESS_SCANNING_ACTIONS`]. These are the resource-group,
//!      disk, snapshot and VM writes from the older published templates, plus the network
//!      joins a scanner VM needs.
//!    * *Remediation*: [`REMEDIATION_ACTIONS`]. These are storage, NSG-rule, App Service and
//!      SQL/MySQL setting writes, following the older templates' remediation entries.
//!    * *Serverless Function Scanning*: [`SERVERLESS_FUNCTION_SCANNING_ACTIONS`] (App Service
//!      reads, `config/list` and `publishxml`).
//!    * *Auto Protect* adds no actions, only a built-in role.
//!
//!    The final list has no duplicates (compared case-insensitively, as Azure does) and
//!    keeps the first occurrence's position.
//! 2. **Built-in roles.** Always `Reader`, which matches the sample's `["Reader"]`.
//!    *Remediation* adds `Storage Account Contributor` and `Network Contributor`. *Auto Protect*
//!    adds `Key Vault Crypto Service Encryption User`. `flow_logs = true` adds
//!    `Reader and Data Access` (it lists storage keys, so Prisma can read flow logs from
//!    storage). It also adds the Network Watcher reads in [`FLOW_LOG_EXTRA_ACTIONS`] to the
//!    custom role.
//! 3. **Entra-ID-only** has no Azure RBAC at all: [`custom_role_actions`] returns an empty
//!    list for [`Scope::EntraOnly`]. Its permissions are the Microsoft Graph application roles
//!    in [`GRAPH_APP_ROLES`].

use prisma_types::feature::{Feature, FeatureSet};

use crate::Scope;

/// The Microsoft Graph application-role GUIDs in `active_directory_graph_api_roles`, in the
/// order of Prisma's template, with their permission names.
pub const GRAPH_APP_ROLES: [(&str, &str); 8] = [
    ("df021288-bdef-4463-88db-98f22de89214", "User.Read.All"),
    ("246dd0d5-5bd0-4def-940b-0421030a5b68", "Policy.Read.All"),
    ("5b567255-7703-4780-807c-7be8301ae99b", "Group.Read.All"),
    (
        "98830695-27a2-44f7-8c18-0c3ebc9698f6",
        "GroupMember.Read.All",
    ),
    ("230c1aed-a721-4c5d-9cb4-a90514e508ef", "Reports.Read.All"),
    ("dbb9058a-0e50-45d7-ae91-66909b5d4664", "Domain.Read.All"),
    (
        "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
        "Application.Read.All",
    ),
    ("7ab1d382-f21e-4acd-a863-ba3e13f7da61", "Directory.Read.All"),
];

/// The application ID of Microsoft Graph (`required_resource_access.resource_app_id`).
pub const MICROSOFT_GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// The permission NSG flow-log ingestion needs. It is always in the subscription and tenant
/// base lists.
pub const FLOW_LOG_STATUS_ACTION: &str =
    "Microsoft.Network/networkWatchers/queryFlowLogStatus/action";

/// The read actions of Prisma's subscription sample, in the sample's order (26).
pub const SUBSCRIPTION_READ_ACTIONS: &[&str] = &[
    "Microsoft.Management/managementGroups/descendants/read",
    "Microsoft.Security/autoProvisioningSettings/read",
    "Microsoft.Security/pricings/read",
    "Microsoft.Security/securityContacts/read",
    "Microsoft.Security/settings/read",
    "Microsoft.Compute/hostGroups/read",
    "Microsoft.Storage/storageAccounts/tableServices/read",
    "Microsoft.Storage/storageAccounts/queueServices/read",
    "Microsoft.Storage/storageAccounts/providers/Microsoft.Insights/diagnosticSettings/read",
    "Microsoft.KeyVault/vaults/read",
    "Microsoft.Network/locations/usages/read",
    "Microsoft.Network/connections/read",
    "Microsoft.Network/applicationGateways/read",
    "Microsoft.Network/loadBalancers/read",
    "Microsoft.Network/networkSecurityGroups/securityRules/read",
    "Microsoft.Network/networkSecurityGroups/defaultSecurityRules/read",
    "Microsoft.Network/applicationSecurityGroups/read",
    "Microsoft.Network/virtualNetworks/read",
    "Microsoft.Network/virtualNetworks/subnets/read",
    "Microsoft.Network/virtualNetworks/virtualNetworkPeerings/read",
    "Microsoft.Network/virtualNetworkGateways/read",
    "Microsoft.Network/routeTables/read",
    "Microsoft.Network/routeTables/routes/read",
    "Microsoft.Network/azurefirewalls/read",
    "Microsoft.Network/firewallPolicies/read",
    "Microsoft.Network/publicIPAddresses/read",
];

/// The actions the tenant sample adds after the subscription list (31; 57 in total).
pub const TENANT_EXTRA_READ_ACTIONS: &[&str] = &[
    "Microsoft.Network/ddosProtectionPlans/read",
    "Microsoft.Network/frontDoorWebApplicationFirewallPolicies/read",
    "Microsoft.Resources/subscriptions/resourceGroups/read",
    "Microsoft.Resources/Resources/read",
    "Microsoft.Authorization/locks/read",
    "Microsoft.Authorization/policyAssignments/read",
    "Microsoft.Authorization/classicAdministrators/read",
    "Microsoft.Authorization/permissions/read",
    "Microsoft.Authorization/policyDefinitions/read",
    "Microsoft.Authorization/roleDefinitions/read",
    "Microsoft.Authorization/roleAssignments/read",
    "Microsoft.ContainerInstance/containerGroups/read",
    "Microsoft.ContainerRegistry/registries/read",
    "Microsoft.ContainerRegistry/registries/metadata/read",
    "Microsoft.ContainerRegistry/registries/webhooks/getCallbackConfig/action",
    "Microsoft.ContainerService/managedClusters/read",
    "Microsoft.Compute/disks/read",
    "Microsoft.Compute/availabilitySets/read",
    "Microsoft.Compute/virtualMachines/read",
    "Microsoft.Compute/virtualMachines/instanceView/read",
    "Microsoft.Compute/virtualMachines/extensions/read",
    "Microsoft.Compute/virtualMachineScaleSets/read",
    "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read",
    "Microsoft.Compute/virtualMachineScaleSets/virtualmachines/instanceView/read",
    "Microsoft.Sql/managedInstances/read",
    "Microsoft.Sql/servers/read",
    "Microsoft.Sql/servers/securityAlertPolicies/read",
    "Microsoft.Sql/servers/auditingSettings/read",
    "Microsoft.Sql/servers/databases/read",
    "Microsoft.Sql/servers/databases/securityAlertPolicies/read",
    "Microsoft.Sql/servers/databases/transparentDataEncryption/read",
];

/// Extra custom-role actions when flow logs are monitored (our choice): finding the regional
/// Network Watchers and their flow-log resources.
pub const FLOW_LOG_EXTRA_ACTIONS: &[&str] = &[
    "Microsoft.Network/networkWatchers/read",
    "Microsoft.Network/networkWatchers/flowLogs/read",
];

/// Agentless Scanning (our choice, after the older templates): snapshot the disks into a
/// Prisma resource group and run a scanner VM on them.
pub const AGENTLESS_SCANNING_ACTIONS: &[&str] = &[
    "Microsoft.Resources/subscriptions/resourceGroups/read",
    "Microsoft.Resources/subscriptions/resourceGroups/write",
    "Microsoft.Compute/disks/read",
    "Microsoft.Compute/disks/write",
    "Microsoft.Compute/disks/delete",
    "Microsoft.Compute/disks/beginGetAccess/action",
    "Microsoft.Compute/disks/endGetAccess/action",
    "Microsoft.Compute/snapshots/read",
    "Microsoft.Compute/snapshots/write",
    "Microsoft.Compute/snapshots/delete",
    "Microsoft.Compute/virtualMachines/read",
    "Microsoft.Compute/virtualMachines/write",
    "Microsoft.Compute/virtualMachines/delete",
    "Microsoft.Network/networkInterfaces/read",
    "Microsoft.Network/networkInterfaces/write",
    "Microsoft.Network/networkInterfaces/delete",
    "Microsoft.Network/networkInterfaces/join/action",
    "Microsoft.Network/virtualNetworks/write",
    "Microsoft.Network/virtualNetworks/subnets/join/action",
    "Microsoft.Network/networkSecurityGroups/write",
    "Microsoft.Network/networkSecurityGroups/join/action",
];

/// Remediation (our choice, after the older templates' read-write list): the settings
/// Prisma's auto-remediation changes.
pub const REMEDIATION_ACTIONS: &[&str] = &[
    "Microsoft.Storage/storageAccounts/write",
    "Microsoft.Storage/storageAccounts/blobServices/write",
    "Microsoft.Network/networkSecurityGroups/securityRules/write",
    "Microsoft.Network/networkSecurityGroups/securityRules/delete",
    "Microsoft.Web/sites/write",
    "Microsoft.Web/sites/config/write",
    "Microsoft.Sql/servers/auditingSettings/write",
    "Microsoft.Sql/servers/securityAlertPolicies/write",
    "Microsoft.DBforMySQL/flexibleServers/configurations/write",
];

/// Serverless Function Scanning (our choice, after the older templates): read App Service /
/// Functions apps and download their publishing profile and settings.
pub const SERVERLESS_FUNCTION_SCANNING_ACTIONS: &[&str] = &[
    "Microsoft.Web/sites/read",
    "Microsoft.Web/sites/config/read",
    "Microsoft.Web/sites/config/list/action",
    "Microsoft.Web/sites/publishxml/action",
    "Microsoft.Web/sites/functions/read",
];

pub const READER: &str = "Reader";
pub const READER_AND_DATA_ACCESS: &str = "Reader and Data Access";
pub const STORAGE_ACCOUNT_CONTRIBUTOR: &str = "Storage Account Contributor";
pub const NETWORK_CONTRIBUTOR: &str = "Network Contributor";
pub const KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER: &str =
    "Key Vault Crypto Service Encryption User";

fn feature_actions(feature: Feature) -> &'static [&'static str] {
    match feature {
        Feature::AgentlessScanning => AGENTLESS_SCANNING_ACTIONS,
        Feature::AutoProtect => &[],
        Feature::Remediation => REMEDIATION_ACTIONS,
        Feature::ServerlessFunctionScanning => SERVERLESS_FUNCTION_SCANNING_ACTIONS,
    }
}

fn feature_builtin_roles(feature: Feature) -> &'static [&'static str] {
    match feature {
        Feature::AgentlessScanning | Feature::ServerlessFunctionScanning => &[],
        Feature::AutoProtect => &[KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER],
        Feature::Remediation => &[STORAGE_ACCOUNT_CONTRIBUTOR, NETWORK_CONTRIBUTOR],
    }
}

/// What one choice does and what it adds in Azure on top of the base read access, as our
/// configuration grants it — for interfaces that explain a feature where it is chosen: the
/// sentence first, the raw roles and actions on demand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Needs {
    /// One sentence for an operator: what the choice lets Prisma Cloud do, and the access
    /// that takes.
    pub purpose: &'static str,
    pub builtin_roles: &'static [&'static str],
    pub actions: &'static [&'static str],
}

impl Needs {
    /// The raw grants, one per line: each built-in role (`role: …`), then each custom-role
    /// action.
    pub fn details(&self) -> Vec<String> {
        self.builtin_roles
            .iter()
            .map(|r| format!("role: {r}"))
            .chain(self.actions.iter().map(|a| (*a).to_owned()))
            .collect()
    }

    /// The grants in one sentence, for a fix text ("Assigns …; adds …, … to the custom role
    /// and N more."): the roles by name, the first three actions.
    pub fn grants_sentence(&self) -> String {
        let mut parts = Vec::new();
        if !self.builtin_roles.is_empty() {
            parts.push(format!("assigns {}", self.builtin_roles.join(", ")));
        }
        if !self.actions.is_empty() {
            let shown: Vec<&str> = self.actions.iter().take(3).copied().collect();
            let more = self.actions.len().saturating_sub(shown.len());
            let tail = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            parts.push(format!(
                "adds {} to the custom role{tail}",
                shown.join(", ")
            ));
        }
        if parts.is_empty() {
            return "Needs nothing beyond read access.".to_owned();
        }
        let mut text = parts.join("; ");
        text[..1].make_ascii_uppercase();
        text.push('.');
        text
    }
}

/// One sentence per feature (what it does and what access that takes in Azure).
fn feature_purpose(feature: Feature) -> &'static str {
    match feature {
        Feature::AgentlessScanning => {
            "Scans virtual machine disks for vulnerabilities without an agent: Prisma Cloud \
             snapshots the disks into its own resource group and runs a scanner VM there."
        }
        Feature::AutoProtect => {
            "Puts Prisma Cloud's workload protection on new virtual machines by itself; it \
             needs to use the Key Vault keys of encrypted disks."
        }
        Feature::Remediation => {
            "Lets Prisma Cloud fix the misconfigurations it finds (storage, network rules, \
             App Service and SQL settings), so it gets write access to those."
        }
        Feature::ServerlessFunctionScanning => {
            "Scans the code and packages of Azure Functions for vulnerabilities; it reads the \
             apps' settings and publishing profiles."
        }
    }
}

/// What a feature does and needs beyond read access.
pub fn feature_needs(feature: Feature) -> Needs {
    Needs {
        purpose: feature_purpose(feature),
        builtin_roles: feature_builtin_roles(feature),
        actions: feature_actions(feature),
    }
}

/// What flow-log ingestion does and needs beyond read access.
pub fn flow_log_needs() -> Needs {
    Needs {
        purpose: "Shows network traffic from the NSG flow logs written to your storage \
                  accounts; it reads the storage accounts' keys to fetch them.",
        builtin_roles: &[READER_AND_DATA_ACCESS],
        actions: FLOW_LOG_EXTRA_ACTIONS,
    }
}

/// Appends the entries of `items` that are not already in `out` (ASCII case-insensitive, as
/// Azure compares actions and role names).
fn push_unique(out: &mut Vec<&'static str>, items: &[&'static str]) {
    for &item in items {
        if !out.iter().any(|have| have.eq_ignore_ascii_case(item)) {
            out.push(item);
        }
    }
}

/// The custom-role actions for a scope and feature set: the base read list (with
/// [`FLOW_LOG_STATUS_ACTION`]), then [`FLOW_LOG_EXTRA_ACTIONS`] if `flow_logs`, then each
/// selected feature's extras in `Feature::ALL` order. There are no duplicates, and the order
/// is stable. Entra-ID-only has no custom role, so the list is empty.
pub fn custom_role_actions(
    scope: Scope,
    features: &FeatureSet,
    flow_logs: bool,
) -> Vec<&'static str> {
    let mut out = Vec::new();
    match scope {
        Scope::EntraOnly => return out,
        Scope::Subscription => push_unique(&mut out, SUBSCRIPTION_READ_ACTIONS),
        Scope::TenantWithGroups => {
            push_unique(&mut out, SUBSCRIPTION_READ_ACTIONS);
            push_unique(&mut out, TENANT_EXTRA_READ_ACTIONS);
        }
    }
    push_unique(&mut out, &[FLOW_LOG_STATUS_ACTION]);
    if flow_logs {
        push_unique(&mut out, FLOW_LOG_EXTRA_ACTIONS);
    }
    for feature in Feature::ALL {
        if features.contains(feature) {
            push_unique(&mut out, feature_actions(feature));
        }
    }
    out
}

/// The built-in roles assigned for a feature set, in a stable order: `Reader`, then
/// `Reader and Data Access` if `flow_logs`, then each selected feature's roles in
/// `Feature::ALL` order. There are no duplicates.
pub fn builtin_roles(features: &FeatureSet, flow_logs: bool) -> Vec<&'static str> {
    let mut out = vec![READER];
    if flow_logs {
        push_unique(&mut out, &[READER_AND_DATA_ACCESS]);
    }
    for feature in Feature::ALL {
        if features.contains(feature) {
            push_unique(&mut out, feature_builtin_roles(feature));
        }
    }
    out
}

/// The Microsoft Graph permission names of [`GRAPH_APP_ROLES`], in the same order.
pub fn graph_app_role_names() -> [&'static str; 8] {
    GRAPH_APP_ROLES.map(|(_, name)| name)
}

#[cfg(test)]
mod tests {

    #[test]
    fn needs_are_read_from_the_catalog() {
        let remediation = feature_needs(Feature::Remediation).details();
        assert!(remediation.contains(&format!("role: {STORAGE_ACCOUNT_CONTRIBUTOR}")));
        assert_eq!(
            remediation.len(),
            2 + REMEDIATION_ACTIONS.len(),
            "{remediation:?}"
        );
        assert_eq!(
            feature_needs(Feature::AutoProtect).details(),
            [format!("role: {KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER}")]
        );
        let agentless = feature_needs(Feature::AgentlessScanning).details();
        assert_eq!(agentless, AGENTLESS_SCANNING_ACTIONS);
        assert!(
            flow_log_needs()
                .details()
                .contains(&format!("role: {READER_AND_DATA_ACCESS}"))
        );
    }

    #[test]
    fn every_choice_has_one_plain_sentence() {
        let purposes = Feature::ALL
            .into_iter()
            .map(|f| feature_needs(f).purpose)
            .chain([flow_log_needs().purpose]);
        for p in purposes {
            assert!(p.ends_with('.') && p.matches(". ").count() == 0, "{p}");
            assert!(
                !p.contains("Microsoft."),
                "no raw action in the sentence: {p}"
            );
        }
    }

    use std::collections::BTreeSet;

    use super::*;

    fn assert_unique(list: &[&str]) {
        let lower: BTreeSet<String> = list.iter().map(|a| a.to_ascii_lowercase()).collect();
        assert_eq!(lower.len(), list.len(), "duplicates in {list:?}");
    }

    #[test]
    fn base_lists_have_the_sample_sizes() {
        let none = FeatureSet::default();
        assert_eq!(
            custom_role_actions(Scope::Subscription, &none, false).len(),
            27
        );
        assert_eq!(
            custom_role_actions(Scope::TenantWithGroups, &none, false).len(),
            58
        );
        assert!(
            custom_role_actions(Scope::EntraOnly, &FeatureSet::new(Feature::ALL), true).is_empty()
        );
    }

    #[test]
    fn every_combination_is_unique_and_keeps_the_base_prefix() {
        for scope in [Scope::Subscription, Scope::TenantWithGroups] {
            let base = custom_role_actions(scope, &FeatureSet::default(), false);
            for mask in 0..16u8 {
                let features = FeatureSet::new(
                    Feature::ALL
                        .into_iter()
                        .enumerate()
                        .filter(|(i, _)| mask & (1 << i) != 0)
                        .map(|(_, f)| f),
                );
                for flow_logs in [false, true] {
                    let actions = custom_role_actions(scope, &features, flow_logs);
                    assert_unique(&actions);
                    assert_eq!(&actions[..base.len()], &base[..]);
                    let roles = builtin_roles(&features, flow_logs);
                    assert_unique(&roles);
                    assert_eq!(roles[0], READER);
                    assert_eq!(roles.contains(&READER_AND_DATA_ACCESS), flow_logs);
                }
            }
        }
    }

    #[test]
    fn graph_names_follow_the_guid_table() {
        assert_eq!(graph_app_role_names()[0], "User.Read.All");
        assert_eq!(graph_app_role_names()[7], "Directory.Read.All");
    }
}
