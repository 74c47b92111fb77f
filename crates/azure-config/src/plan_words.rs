//! A Terraform plan in words, for the review before apply: "Reader on subscription X" rather
//! than `terraform_data.azurerm_role_assignment__builtin["Reader"]`.
//!
//! One mapping for every configuration the engine may plan: our own ([`crate::builtin`]), its
//! `terraform_data` twin (whose addresses are translated back with
//! [`crate::twin::builtin_address`]) and Prisma Cloud's template (`prisma_cloud_app`,
//! `assign_builtin_roles[…]`, `assign_custom_prisma_role`, …). Words come from the resource
//! type, the instance key (a role or Graph permission name) and what the request says
//! ([`PlanContext`]); an address it does not know is listed as itself under "Other".

use crate::twin;

/// What the plan's words need from the request.
#[derive(Clone, Debug, Default)]
pub struct PlanContext {
    /// Where roles are assigned, in words: "subscription 8f2c…" or "tenant root management
    /// group 0a1b…".
    pub role_scope: String,
    /// The client secret's lifetime, when the request sets one (our configuration).
    pub secret_rotation_days: Option<u32>,
}

/// The groups of a plan review, in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PlanGroup {
    Identity,
    Roles,
    Graph,
    AuditExport,
    Other,
}

impl PlanGroup {
    pub fn title(self) -> &'static str {
        match self {
            PlanGroup::Identity => "Azure identity",
            PlanGroup::Roles => "Azure roles",
            PlanGroup::Graph => "Microsoft Graph and Entra ID permissions",
            PlanGroup::AuditExport => "Audit-log export",
            PlanGroup::Other => "Other",
        }
    }
}

/// One planned change in words, with the raw address it comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedWords {
    pub group: PlanGroup,
    /// "Reader on subscription 8f2c…".
    pub text: String,
    /// Terraform's action: `create`, `update`, `delete`, `replace`, …
    pub action: String,
    /// The address as Terraform printed it.
    pub address: String,
}

/// `(group, its changes)` in [`PlanGroup`] order; changes keep the plan's order.
pub fn describe(
    changes: &[(String, String)],
    ctx: &PlanContext,
) -> Vec<(PlanGroup, Vec<PlannedWords>)> {
    let mut words: Vec<PlannedWords> = changes
        .iter()
        .map(|(address, action)| {
            let (group, text) = words_for(address, ctx);
            PlannedWords {
                group,
                text,
                action: action.clone(),
                address: address.clone(),
            }
        })
        .collect();
    words.sort_by_key(|w| w.group);
    let mut groups: Vec<(PlanGroup, Vec<PlannedWords>)> = Vec::new();
    for w in words {
        match groups.last_mut() {
            Some((g, list)) if *g == w.group => list.push(w),
            _ => groups.push((w.group, vec![w])),
        }
    }
    groups
}

/// `TYPE`, `NAME` and the unquoted instance key of an address (twin addresses translated).
fn parts(address: &str) -> Option<(String, String, Option<String>)> {
    let address = twin::builtin_address(address).unwrap_or_else(|| address.to_owned());
    let (config, key) = match address.find('[') {
        Some(i) => (&address[..i], Some(&address[i..])),
        None => (address.as_str(), None),
    };
    // Modules: the resource is the last `TYPE.NAME` pair.
    let mut segments: Vec<&str> = config.split('.').collect();
    let name = segments.pop()?;
    let ty = segments.pop()?;
    let key = key.map(|k| {
        k.trim_start_matches('[')
            .trim_end_matches(']')
            .trim_matches('"')
            .to_owned()
    });
    Some((ty.to_owned(), name.to_owned(), key))
}

fn words_for(address: &str, ctx: &PlanContext) -> (PlanGroup, String) {
    use PlanGroup::*;
    let Some((ty, name, key)) = parts(address) else {
        return (Other, address.to_owned());
    };
    let scope = if ctx.role_scope.is_empty() {
        "the onboarding scope"
    } else {
        ctx.role_scope.as_str()
    };
    let key = key.unwrap_or_default();
    match ty.as_str() {
        "azuread_application" => (Identity, "App registration for Prisma Cloud".into()),
        "azuread_service_principal" => (
            Identity,
            "Service principal (Enterprise application) of the app registration".into(),
        ),
        "azuread_application_password" => (
            Identity,
            match ctx.secret_rotation_days {
                Some(days) => format!("Client secret, valid {days} days (stored encrypted)"),
                None => "Client secret (stored encrypted)".into(),
            },
        ),
        "time_rotating" => (
            Identity,
            match ctx.secret_rotation_days {
                Some(days) => format!("Secret rotation every {days} days"),
                None => "Secret rotation schedule".into(),
            },
        ),
        "random_string" | "random_password" | "random_id" => {
            (Identity, format!("Random value for the identity ({name})"))
        }
        "azurerm_role_definition" => (
            Roles,
            format!("Custom role with the permissions the chosen features need, at {scope}"),
        ),
        "azurerm_role_assignment" if !key.is_empty() => (Roles, format!("{key} on {scope}")),
        "azurerm_role_assignment" => (Roles, format!("The custom role on {scope}")),
        "time_sleep" => (
            Roles,
            "Wait for the custom role to replicate before assigning it".into(),
        ),
        "azuread_app_role_assignment" if !key.is_empty() => (
            Graph,
            format!("Microsoft Graph {key} (application permission, admin consent granted)"),
        ),
        "azuread_app_role_assignment" => (Graph, "A Microsoft Graph application permission".into()),
        "azuread_directory_role" => (
            Graph,
            "Entra ID directory role Directory Readers (activated)".into(),
        ),
        "azuread_directory_role_assignment" => {
            (Graph, "Directory Readers for the service principal".into())
        }
        "azurerm_resource_group" => (
            AuditExport,
            "Resource group for the audit-log Event Hub".into(),
        ),
        "azurerm_eventhub_namespace" => (AuditExport, "Event Hub namespace".into()),
        "azurerm_eventhub" => (AuditExport, "Event Hub for the audit logs".into()),
        "azurerm_eventhub_consumer_group" => {
            (AuditExport, "Consumer group Prisma Cloud reads with".into())
        }
        "azurerm_eventhub_namespace_authorization_rule" => (
            AuditExport,
            "Listen-only access rule for Prisma Cloud".into(),
        ),
        "azurerm_monitor_diagnostic_setting" => (
            AuditExport,
            "Export of the subscription's activity log to the Event Hub".into(),
        ),
        "azurerm_monitor_aad_diagnostic_setting" => (
            AuditExport,
            "Export of the Entra ID audit log to the Event Hub".into(),
        ),
        _ => (Other, address.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConfigInput, Scope, builtin, twin as twin_config};
    use prisma_types::{FeatureSet, TenantId};

    const SUB: &str = "8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f";
    const TENANT: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

    fn ctx() -> PlanContext {
        PlanContext {
            role_scope: format!("subscription {SUB}"),
            secret_rotation_days: Some(90),
        }
    }

    fn change(address: &str) -> (String, String) {
        (address.to_owned(), "create".to_owned())
    }

    fn texts(groups: &[(PlanGroup, Vec<PlannedWords>)], group: PlanGroup) -> Vec<String> {
        groups
            .iter()
            .find(|(g, _)| *g == group)
            .map(|(_, w)| w.iter().map(|w| w.text.clone()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn twin_and_real_addresses_read_the_same() {
        let real = [
            r#"azurerm_role_assignment.builtin["Reader"]"#,
            "azurerm_role_assignment.custom",
            "azuread_application.prisma_cloud",
        ];
        for address in real {
            let twin = twin_config::twin_address(address);
            assert!(twin.starts_with("terraform_data."), "{twin}");
            assert_eq!(
                words_for(address, &ctx()),
                words_for(&twin, &ctx()),
                "{address} vs {twin}"
            );
        }
        assert_eq!(
            words_for(
                r#"terraform_data.azurerm_role_assignment__builtin["Reader"]"#,
                &ctx()
            ),
            (PlanGroup::Roles, format!("Reader on subscription {SUB}"))
        );
        assert_eq!(
            words_for("terraform_data.azurerm_role_assignment__custom", &ctx()).1,
            format!("The custom role on subscription {SUB}")
        );
    }

    #[test]
    fn prisma_template_addresses_are_read_too() {
        let groups = describe(
            &[
                change("random_string.unique_id"),
                change("azuread_application.prisma_cloud_app"),
                change("azuread_service_principal.prisma_cloud_sp"),
                change("azuread_application_password.password"),
                change("azurerm_role_definition.custom_prisma_role"),
                change("time_sleep.wait_20_seconds"),
                change(r#"azurerm_role_assignment.assign_builtin_roles["Reader and Data Access"]"#),
                change("azurerm_role_assignment.assign_custom_prisma_role"),
            ],
            &PlanContext {
                role_scope: format!("tenant root management group {TENANT}"),
                secret_rotation_days: None,
            },
        );
        let roles = texts(&groups, PlanGroup::Roles);
        assert!(
            roles.contains(&format!(
                "Reader and Data Access on tenant root management group {TENANT}"
            )),
            "{roles:?}"
        );
        assert!(
            texts(&groups, PlanGroup::Identity)
                .contains(&"Client secret (stored encrypted)".into())
        );
        assert!(texts(&groups, PlanGroup::Other).is_empty(), "{groups:?}");
    }

    #[test]
    fn every_resource_of_our_configuration_has_words_and_groups_in_order() {
        let input = ConfigInput {
            scope: Scope::TenantWithGroups,
            tenant_id: TenantId::parse(TENANT).unwrap(),
            subscription_id: Some(prisma_types::SubscriptionId::parse(SUB).unwrap()),
            features: FeatureSet::parse(["Agentless Scanning", "Remediation"]).unwrap(),
            flow_logs: true,
            environment: prisma_types::Environment::Azure,
            name_suffix: "abcde".into(),
            secret_rotation_days: 90,
            directory_readers: true,
            audit_log_export: Some(crate::AuditLogExport {
                resource_group: "rg".into(),
                location: "westeurope".into(),
                namespace_name: "prisma-audit-abcde".into(),
            }),
        };
        let generated = builtin::generate(&input).unwrap();
        let changes: Vec<(String, String)> = generated
            .resources
            .iter()
            .map(|r| change(&twin_config::twin_address(&r.address)))
            .collect();
        assert!(changes.len() > 20, "{changes:?}");
        let groups = describe(&changes, &ctx());
        let order: Vec<PlanGroup> = groups.iter().map(|(g, _)| *g).collect();
        assert_eq!(
            order,
            [
                PlanGroup::Identity,
                PlanGroup::Roles,
                PlanGroup::Graph,
                PlanGroup::AuditExport
            ],
            "nothing left unexplained: {groups:?}"
        );
        let graph = texts(&groups, PlanGroup::Graph);
        assert!(
            graph.iter().any(|t| t.contains("User.Read.All")),
            "{graph:?}"
        );
        assert!(graph.iter().any(|t| t.contains("Directory Readers")));
        let identity = texts(&groups, PlanGroup::Identity);
        assert!(identity.contains(&"Client secret, valid 90 days (stored encrypted)".into()));
        let total: usize = groups.iter().map(|(_, w)| w.len()).sum();
        assert_eq!(total, changes.len(), "every change is listed once");
        // The raw address stays with its words (for the toggle).
        let reader = groups
            .iter()
            .flat_map(|(_, w)| w)
            .find(|w| w.text == format!("Reader on subscription {SUB}"))
            .expect("Reader is assigned");
        assert_eq!(
            reader.address,
            r#"terraform_data.azurerm_role_assignment__builtin["Reader"]"#
        );
    }

    #[test]
    fn unknown_addresses_are_listed_as_themselves() {
        let groups = describe(&[change("null_resource.whatever")], &ctx());
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].0, PlanGroup::Other);
        assert_eq!(groups[0].1[0].text, "null_resource.whatever");
        assert_eq!(
            words_for("garbage", &ctx()),
            (PlanGroup::Other, "garbage".into())
        );
    }
}
