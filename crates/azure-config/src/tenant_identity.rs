//! The bulk configuration: **one identity per tenant**, granted on many subscriptions.
//!
//! A bulk batch of subscriptions in one tenant does not need one app registration per
//! subscription. This configuration creates the identity once — the same four blocks as
//! [`crate::builtin`] (`azuread_application.prisma_cloud`, `azuread_service_principal.prisma_cloud`,
//! `time_rotating.secret`, `azuread_application_password.prisma_cloud`) — and gives it each
//! subscription's roles with `for_each` over the subscriptions:
//!
//! | address | purpose |
//! | --- | --- |
//! | `azurerm_role_definition.prisma_cloud["<subscription>"]` | the custom role `Prisma Cloud <suffix> <subscription>` (custom role names are unique in a tenant), with that subscription's [`permissions::custom_role_actions`] |
//! | `time_sleep.role_definition_propagation["<subscription>"]` | the replication wait ([`crate::builtin::ROLE_PROPAGATION_WAIT`]) |
//! | `azurerm_role_assignment.builtin["<subscription>/<role>"]` | one per built-in role of the subscription ([`permissions::builtin_roles`]) |
//! | `azurerm_role_assignment.custom["<subscription>"]` | the custom role, after the wait |
//!
//! The subscriptions are data: `var.subscriptions` (subscription → its custom role actions) and
//! `var.builtin_role_assignments` (`"<subscription>/<role>"` → both), in
//! `terraform.tfvars.json`. A later batch in the same tenant passes the union of the
//! subscriptions applied so far and its own, to the same state: the plan then adds only the new
//! subscriptions' role sets, and the identity stays as it is.
//!
//! The azurerm provider is configured with one of the subscriptions
//! (`var.provider_subscription_id`: azurerm 4 needs one); every role object names its own
//! subscription in `scope`, so the provider's subscription does not limit where roles go.
//!
//! The outputs are the subscription configuration's, less `b__subscription_id` (there are
//! many): [`output_names`]. [`generate_twin`] is its offline `terraform_data` twin with the
//! same addresses ([`crate::twin`]'s mapping).
//!
//! Not offered here: the audit-log export (an Event Hub per subscription) and the Entra
//! Directory Readers role; a subscription that needs them takes an identity of its own.

use std::collections::BTreeMap;

use prisma_types::{Environment, FeatureSet, SubscriptionId, TenantId};
use serde_json::{Map, Value, json};

use crate::builtin::{self, Block, Model};
use crate::outputs::{self, OutputNames};
use crate::{ConfigError, ConfigInput, GeneratedConfig, Scope, permissions, twin};

/// The shared identity's configuration input.
#[derive(Clone, Debug)]
pub struct TenantIdentityInput {
    pub tenant_id: TenantId,
    pub environment: Environment,
    /// `[a-z0-9]{5}`, fixed for the tenant's identity (names derive from it).
    pub name_suffix: String,
    /// Client-secret lifetime and rotation period in days.
    pub secret_rotation_days: u32,
    /// Every subscription the identity is granted on, with what it needs. At least one.
    pub subscriptions: BTreeMap<SubscriptionId, SubscriptionGrant>,
}

/// What one subscription asks of the shared identity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscriptionGrant {
    pub features: FeatureSet,
    pub flow_logs: bool,
}

/// The outputs of the shared identity's configuration.
pub fn output_names() -> OutputNames {
    OutputNames {
        subscription_id: None,
        ..outputs::names_for(Scope::Subscription)
    }
}

/// The configuration for the real providers.
pub fn generate(input: &TenantIdentityInput) -> Result<GeneratedConfig, ConfigError> {
    let model = model(input)?;
    Ok(builtin::render(model))
}

/// Its offline twin: the same addresses as `terraform_data`, each sleeping `step_seconds`.
pub fn generate_twin(
    input: &TenantIdentityInput,
    step_seconds: f64,
) -> Result<GeneratedConfig, ConfigError> {
    twin::from_model(model(input)?, step_seconds)
}

/// `"<subscription>/<role>"`: the instance key of a built-in role assignment.
pub fn builtin_assignment_key(subscription: &SubscriptionId, role: &str) -> String {
    format!("{subscription}/{role}")
}

fn model(input: &TenantIdentityInput) -> Result<Model, ConfigError> {
    let Some(first) = input.subscriptions.keys().next() else {
        return Err(ConfigError::new(
            "subscriptions",
            "the shared identity needs at least one subscription",
        ));
    };
    // The identity's own checks (suffix, rotation, features per environment) are the builtin
    // configuration's, for each subscription.
    for (subscription, grant) in &input.subscriptions {
        ConfigInput {
            scope: Scope::Subscription,
            tenant_id: input.tenant_id.clone(),
            subscription_id: Some(subscription.clone()),
            features: grant.features.clone(),
            flow_logs: grant.flow_logs,
            environment: input.environment,
            name_suffix: input.name_suffix.clone(),
            secret_rotation_days: input.secret_rotation_days,
            directory_readers: false,
            audit_log_export: None,
        }
        .validate()?;
    }
    let mut m = Model {
        scope: Scope::Subscription,
        variables: Map::new(),
        tfvars: Map::new(),
        providers: Map::new(),
        required_providers: Map::new(),
        data: Map::new(),
        blocks: Vec::new(),
        outputs: Map::new(),
        output_names: output_names(),
    };
    m.variables.insert(
        "tenant_id".into(),
        builtin::guid_var("tenant_id", "Microsoft Entra tenant (directory) ID."),
    );
    m.tfvars
        .insert("tenant_id".into(), json!(input.tenant_id.as_str()));
    builtin::identity_variables(
        &mut m.variables,
        &mut m.tfvars,
        input.environment,
        &input.name_suffix,
        input.secret_rotation_days,
    );
    m.variables.insert(
        "provider_subscription_id".into(),
        builtin::guid_var(
            "provider_subscription_id",
            "One of the subscriptions, for the azurerm provider (azurerm 4 requires one); \
             every role names its own subscription.",
        ),
    );
    m.tfvars
        .insert("provider_subscription_id".into(), json!(first.as_str()));
    m.variables.insert(
        "subscriptions".into(),
        json!({
            "type": "map(object({ custom_role_actions = list(string) }))",
            "description": "The subscriptions the identity is granted on, with the actions of each one's custom role.",
        }),
    );
    m.variables.insert(
        "builtin_role_assignments".into(),
        json!({
            "type": "map(object({ subscription_id = string, role = string }))",
            "description": "Built-in role assignments, keyed \"<subscription>/<role>\".",
        }),
    );
    let mut subscriptions = Map::new();
    let mut assignments = Map::new();
    let mut assignment_keys = Vec::new();
    for (subscription, grant) in &input.subscriptions {
        subscriptions.insert(
            subscription.to_string(),
            json!({
                "custom_role_actions": permissions::custom_role_actions(
                    Scope::Subscription, &grant.features, grant.flow_logs),
            }),
        );
        for role in permissions::builtin_roles(&grant.features, grant.flow_logs) {
            let key = builtin_assignment_key(subscription, role);
            assignments.insert(
                key.clone(),
                json!({ "subscription_id": subscription.as_str(), "role": role }),
            );
            assignment_keys.push(key);
        }
    }
    m.tfvars
        .insert("subscriptions".into(), Value::Object(subscriptions));
    m.tfvars.insert(
        "builtin_role_assignments".into(),
        Value::Object(assignments),
    );
    builtin::providers_for(&mut m, Some("provider_subscription_id"));
    builtin::identity(&mut m);
    let subscription_keys: Vec<String> =
        input.subscriptions.keys().map(|s| s.to_string()).collect();
    rbac(&mut m, subscription_keys, assignment_keys);
    builtin::builtin_outputs(&mut m);
    Ok(m)
}

fn push_instances(m: &mut Model, ty: &str, name: &str, body: Value, keys: Vec<String>) {
    m.blocks.push(Block {
        ty: ty.to_owned(),
        name: name.to_owned(),
        body,
        instances: Some(keys),
    });
}

fn rbac(m: &mut Model, subscriptions: Vec<String>, assignments: Vec<String>) {
    let sp = builtin::SP_OBJECT_ID;
    push_instances(
        m,
        "azurerm_role_definition",
        "prisma_cloud",
        json!({
            "for_each": "${var.subscriptions}",
            "name": "Prisma Cloud ${var.name_suffix} ${each.key}",
            "scope": "/subscriptions/${each.key}",
            "description": "Prisma Cloud onboarding: read configuration and selected features.",
            "permissions": {
                "actions": "${each.value.custom_role_actions}",
                "not_actions": [],
            },
            "assignable_scopes": ["/subscriptions/${each.key}"],
        }),
        subscriptions.clone(),
    );
    // The same replication wait as the single-subscription configuration, per definition.
    push_instances(
        m,
        "time_sleep",
        "role_definition_propagation",
        json!({
            "for_each": "${var.subscriptions}",
            "create_duration": builtin::ROLE_PROPAGATION_WAIT,
            "triggers": {
                "role_definition_id":
                    "${azurerm_role_definition.prisma_cloud[each.key].role_definition_resource_id}",
            },
        }),
        subscriptions.clone(),
    );
    push_instances(
        m,
        "azurerm_role_assignment",
        "builtin",
        json!({
            "for_each": "${var.builtin_role_assignments}",
            "scope": "/subscriptions/${each.value.subscription_id}",
            "role_definition_name": "${each.value.role}",
            "principal_id": sp,
            "principal_type": "ServicePrincipal",
            "skip_service_principal_aad_check": true,
        }),
        assignments,
    );
    push_instances(
        m,
        "azurerm_role_assignment",
        "custom",
        json!({
            "for_each": "${var.subscriptions}",
            "scope": "/subscriptions/${each.key}",
            "role_definition_id":
                "${time_sleep.role_definition_propagation[each.key].triggers[\"role_definition_id\"]}",
            "principal_id": sp,
            "principal_type": "ServicePrincipal",
            "skip_service_principal_aad_check": true,
        }),
        subscriptions,
    );
}

#[cfg(test)]
mod tests {
    use prisma_types::Feature;

    use super::*;

    fn sub(i: u32) -> SubscriptionId {
        SubscriptionId::parse(&format!("{i:08x}-7777-4888-9999-aaaaaaaaaaaa")).unwrap()
    }

    fn input(n: u32) -> TenantIdentityInput {
        TenantIdentityInput {
            tenant_id: TenantId::parse("11111111-2222-4333-8444-555555555555").unwrap(),
            environment: Environment::Azure,
            name_suffix: "t3n4t".into(),
            secret_rotation_days: 180,
            subscriptions: (1..=n)
                .map(|i| {
                    let grant = SubscriptionGrant {
                        features: if i % 2 == 0 {
                            FeatureSet::new([Feature::Remediation])
                        } else {
                            FeatureSet::default()
                        },
                        flow_logs: i % 3 == 0,
                    };
                    (sub(i), grant)
                })
                .collect(),
        }
    }

    fn count(config: &GeneratedConfig, config_address: &str) -> usize {
        config
            .resources
            .iter()
            .filter(|r| r.config_address() == config_address)
            .count()
    }

    #[test]
    fn one_identity_and_one_role_set_per_subscription() {
        let input = input(6);
        let config = generate(&input).unwrap();
        for identity in [
            "azuread_application.prisma_cloud",
            "azuread_service_principal.prisma_cloud",
            "time_rotating.secret",
            "azuread_application_password.prisma_cloud",
        ] {
            assert_eq!(count(&config, identity), 1, "{identity}");
        }
        for per_subscription in [
            "azurerm_role_definition.prisma_cloud",
            "time_sleep.role_definition_propagation",
            "azurerm_role_assignment.custom",
        ] {
            assert_eq!(count(&config, per_subscription), 6, "{per_subscription}");
        }
        let builtin: usize = input
            .subscriptions
            .values()
            .map(|g| permissions::builtin_roles(&g.features, g.flow_logs).len())
            .sum();
        assert!(builtin >= 6);
        assert_eq!(count(&config, "azurerm_role_assignment.builtin"), builtin);
        // Instance keys are the data's keys.
        let s3 = sub(3);
        assert!(
            config
                .resource(&format!("azurerm_role_assignment.custom[\"{s3}\"]"))
                .is_some()
        );
        let reader = format!("azurerm_role_assignment.builtin[\"{s3}/Reader\"]");
        assert!(config.resource(&reader).is_some(), "{reader}");
        let tfvars = &config.tfvars_json;
        assert_eq!(tfvars["subscriptions"].as_object().unwrap().len(), 6);
        assert_eq!(
            tfvars["builtin_role_assignments"][format!("{s3}/Reader")]["subscription_id"],
            s3.as_str()
        );
        // No user value inside an expression: the main file is the same for any tenant and
        // subscription set.
        let text = config.main_tf_json.to_string();
        assert!(!text.contains(s3.as_str()) && !text.contains("11111111-2222"));
        assert_eq!(config.output_names.subscription_id, None);
        assert!(config.main_tf_json["output"]["b__subscription_id"].is_null());
    }

    #[test]
    fn the_assignment_waits_for_its_own_definition() {
        let config = generate(&input(2)).unwrap();
        let custom = config
            .resource(&format!("azurerm_role_assignment.custom[\"{}\"]", sub(1)))
            .unwrap();
        assert_eq!(
            custom.depends_on,
            [
                "azuread_service_principal.prisma_cloud",
                "time_sleep.role_definition_propagation"
            ]
        );
        let sleep = config
            .resource(&format!(
                "time_sleep.role_definition_propagation[\"{}\"]",
                sub(2)
            ))
            .unwrap();
        assert_eq!(sleep.depends_on, ["azurerm_role_definition.prisma_cloud"]);
    }

    #[test]
    fn the_twin_has_the_same_addresses() {
        let input = input(4);
        let real = generate(&input).unwrap();
        let twin = generate_twin(&input, 0.0).unwrap();
        let real: Vec<String> = real.resources.iter().map(|r| r.address.clone()).collect();
        let mirrored: Vec<String> = twin
            .resources
            .iter()
            .map(|r| twin::builtin_address(&r.address).unwrap())
            .collect();
        assert_eq!(real, mirrored);
        assert_eq!(twin.output_names, output_names());
    }

    #[test]
    fn bad_input_names_the_field() {
        let mut empty = input(1);
        empty.subscriptions.clear();
        assert_eq!(generate(&empty).unwrap_err().field, "subscriptions");
        let mut bad = input(1);
        bad.name_suffix = "X".into();
        assert_eq!(generate(&bad).unwrap_err().field, "name_suffix");
        let mut china = input(1);
        china.environment = Environment::AzureChina;
        china.subscriptions.values_mut().for_each(|g| {
            g.features = FeatureSet::new([Feature::AgentlessScanning]);
        });
        assert_eq!(generate_twin(&china, 0.0).unwrap_err().field, "features");
    }
}
