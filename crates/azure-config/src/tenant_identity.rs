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

/// The identity alone (a tenant whose role sets live in chunk states, see [`RoleSetInput`]).
#[derive(Clone, Debug)]
pub struct IdentityInput {
    pub tenant_id: TenantId,
    pub environment: Environment,
    pub name_suffix: String,
    pub secret_rotation_days: u32,
}

/// One chunk of role sets: at most [`ROLE_SET_CHUNK`] subscriptions' roles for the identity
/// whose service principal is `principal_id`, in a configuration and state of their own.
#[derive(Clone, Debug)]
pub struct RoleSetInput {
    pub tenant_id: TenantId,
    pub environment: Environment,
    /// The identity's suffix (the custom roles' names carry it).
    pub name_suffix: String,
    /// The service principal's object ID: the identity configuration's output.
    pub principal_id: String,
    /// The chunk's subscriptions. At least one.
    pub subscriptions: BTreeMap<SubscriptionId, SubscriptionGrant>,
}

/// The most subscriptions one role-set configuration (and so one state, one plan) holds.
///
/// Terraform's plan time grows with the square of the instances in one plan (measured on
/// Terraform 1.11 with the twin: 204 instances plan in 1.1 s of CPU, 404 in 3.2 s, 804 in
/// 11.2 s; modules in one state do not change it — docs/benchmarks.md). 50 subscriptions are
/// about 200 instances: a 500-subscription tenant plans in ten small runs instead of one of
/// 2,000 instances, and a later batch plans only the chunks it adds to.
pub const ROLE_SET_CHUNK: usize = 50;

/// Places the subscriptions of `new` that have no chunk yet: into the last chunk while it
/// has room (fewer than `chunk_size`), then into new chunks. A placed subscription keeps its
/// chunk for good (its resources are in that chunk's state). Returns the chunks that gained
/// subscriptions.
pub fn place_in_chunks(
    placed: &mut BTreeMap<SubscriptionId, u32>,
    new: impl IntoIterator<Item = SubscriptionId>,
    chunk_size: usize,
) -> std::collections::BTreeSet<u32> {
    let chunk_size = chunk_size.max(1);
    let mut sizes: BTreeMap<u32, usize> = BTreeMap::new();
    for chunk in placed.values() {
        *sizes.entry(*chunk).or_default() += 1;
    }
    let (mut last, mut filled) = sizes
        .iter()
        .next_back()
        .map_or((0, 0), |(chunk, n)| (*chunk, *n));
    let mut gained = std::collections::BTreeSet::new();
    for subscription in new {
        if placed.contains_key(&subscription) {
            continue;
        }
        if filled >= chunk_size {
            last += 1;
            filled = 0;
        }
        placed.insert(subscription, last);
        filled += 1;
        gained.insert(last);
    }
    gained
}

/// How a configuration is rendered: for the real providers, or as the offline twin (the same
/// addresses as `terraform_data`, each sleeping `step_seconds`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Render {
    Providers,
    Twin { step_seconds: f64 },
}

impl Render {
    /// `None`: the providers; `Some(step_seconds)`: the twin.
    pub fn twin_if(step_seconds: Option<f64>) -> Self {
        match step_seconds {
            Some(step_seconds) => Render::Twin { step_seconds },
            None => Render::Providers,
        }
    }

    fn render(self, model: Model) -> Result<GeneratedConfig, ConfigError> {
        match self {
            Render::Providers => Ok(builtin::render(model)),
            Render::Twin { step_seconds } => twin::from_model(model, step_seconds),
        }
    }
}

/// The identity and every subscription's role sets in one configuration (and state): for
/// tenants onboarded before the role sets were chunked, and the sandbox replay.
pub fn generate(input: &TenantIdentityInput, how: Render) -> Result<GeneratedConfig, ConfigError> {
    how.render(model(input)?)
}

/// The identity alone: app registration, service principal, rotation and secret.
pub fn generate_identity(
    input: &IdentityInput,
    how: Render,
) -> Result<GeneratedConfig, ConfigError> {
    how.render(identity_model(input)?)
}

/// One chunk's role sets, granted to `input.principal_id`. No outputs.
pub fn generate_role_sets(
    input: &RoleSetInput,
    how: Render,
) -> Result<GeneratedConfig, ConfigError> {
    how.render(role_set_model(input)?)
}

/// `"<subscription>/<role>"`: the instance key of a built-in role assignment.
pub fn builtin_assignment_key(subscription: &SubscriptionId, role: &str) -> String {
    format!("{subscription}/{role}")
}

impl IdentityInput {
    /// The identity with `subscriptions`' role sets in its own configuration.
    pub fn with_subscriptions(
        &self,
        subscriptions: BTreeMap<SubscriptionId, SubscriptionGrant>,
    ) -> TenantIdentityInput {
        TenantIdentityInput {
            tenant_id: self.tenant_id.clone(),
            environment: self.environment,
            name_suffix: self.name_suffix.clone(),
            secret_rotation_days: self.secret_rotation_days,
            subscriptions,
        }
    }
}

impl TenantIdentityInput {
    /// The identity's own part.
    pub fn identity(&self) -> IdentityInput {
        IdentityInput {
            tenant_id: self.tenant_id.clone(),
            environment: self.environment,
            name_suffix: self.name_suffix.clone(),
            secret_rotation_days: self.secret_rotation_days,
        }
    }
}

/// The identity's own checks (suffix, rotation, features per environment) are the builtin
/// configuration's, for each subscription (and once without one when there is none).
fn validate(
    identity: &IdentityInput,
    subscriptions: &BTreeMap<SubscriptionId, SubscriptionGrant>,
) -> Result<(), ConfigError> {
    let check = |subscription: Option<&SubscriptionId>, grant: &SubscriptionGrant| {
        ConfigInput {
            scope: Scope::Subscription,
            tenant_id: identity.tenant_id.clone(),
            subscription_id: Some(
                subscription
                    .cloned()
                    .unwrap_or_else(|| SubscriptionId::parse(NO_SUBSCRIPTION).expect("a GUID")),
            ),
            features: grant.features.clone(),
            flow_logs: grant.flow_logs,
            environment: identity.environment,
            name_suffix: identity.name_suffix.clone(),
            secret_rotation_days: identity.secret_rotation_days,
            directory_readers: false,
            audit_log_export: None,
        }
        .validate()
    };
    if subscriptions.is_empty() {
        return check(None, &SubscriptionGrant::default());
    }
    for (subscription, grant) in subscriptions {
        check(Some(subscription), grant)?;
    }
    Ok(())
}

/// Stands in for a subscription when the identity alone is checked.
const NO_SUBSCRIPTION: &str = "00000000-0000-4000-8000-000000000000";

fn empty_model() -> Model {
    Model {
        scope: Scope::Subscription,
        variables: Map::new(),
        tfvars: Map::new(),
        providers: Map::new(),
        required_providers: Map::new(),
        data: Map::new(),
        blocks: Vec::new(),
        outputs: Map::new(),
        output_names: output_names(),
    }
}

fn tenant_variable(m: &mut Model, tenant_id: &TenantId) {
    m.variables.insert(
        "tenant_id".into(),
        builtin::guid_var("tenant_id", "Microsoft Entra tenant (directory) ID."),
    );
    m.tfvars
        .insert("tenant_id".into(), json!(tenant_id.as_str()));
}

fn identity_model(input: &IdentityInput) -> Result<Model, ConfigError> {
    validate(input, &BTreeMap::new())?;
    let mut m = empty_model();
    tenant_variable(&mut m, &input.tenant_id);
    builtin::identity_variables(
        &mut m.variables,
        &mut m.tfvars,
        input.environment,
        &input.name_suffix,
        input.secret_rotation_days,
    );
    builtin::providers_for(&mut m, None);
    builtin::identity(&mut m);
    builtin::builtin_outputs(&mut m);
    Ok(m)
}

fn model(input: &TenantIdentityInput) -> Result<Model, ConfigError> {
    let identity = input.identity();
    if input.subscriptions.is_empty() {
        return Err(ConfigError::new(
            "subscriptions",
            "the shared identity needs at least one subscription",
        ));
    }
    validate(&identity, &input.subscriptions)?;
    let mut m = empty_model();
    tenant_variable(&mut m, &input.tenant_id);
    builtin::identity_variables(
        &mut m.variables,
        &mut m.tfvars,
        input.environment,
        &input.name_suffix,
        input.secret_rotation_days,
    );
    let (subscription_keys, assignment_keys) = role_set_variables(&mut m, &input.subscriptions);
    builtin::providers_for(&mut m, Some("provider_subscription_id"));
    builtin::identity(&mut m);
    rbac(
        &mut m,
        builtin::SP_OBJECT_ID,
        subscription_keys,
        assignment_keys,
    );
    builtin::builtin_outputs(&mut m);
    Ok(m)
}

fn role_set_model(input: &RoleSetInput) -> Result<Model, ConfigError> {
    if input.subscriptions.is_empty() {
        return Err(ConfigError::new(
            "subscriptions",
            "a role-set chunk needs at least one subscription",
        ));
    }
    if !is_guid(&input.principal_id) {
        return Err(ConfigError::new(
            "principal_id",
            "must be the service principal's object ID, a lower-case GUID",
        ));
    }
    let identity = IdentityInput {
        tenant_id: input.tenant_id.clone(),
        environment: input.environment,
        name_suffix: input.name_suffix.clone(),
        secret_rotation_days: 1,
    };
    validate(&identity, &input.subscriptions)?;
    let mut m = empty_model();
    tenant_variable(&mut m, &input.tenant_id);
    builtin::naming_variables(
        &mut m.variables,
        &mut m.tfvars,
        input.environment,
        &input.name_suffix,
    );
    m.variables.insert(
        "principal_id".into(),
        builtin::guid_var(
            "principal_id",
            "Object ID of the tenant identity's service principal (its configuration's output).",
        ),
    );
    m.tfvars
        .insert("principal_id".into(), json!(input.principal_id));
    let (subscription_keys, assignment_keys) = role_set_variables(&mut m, &input.subscriptions);
    builtin::time_provider(&mut m);
    builtin::azurerm_provider(&mut m, "provider_subscription_id");
    rbac(
        &mut m,
        "${var.principal_id}",
        subscription_keys,
        assignment_keys,
    );
    Ok(m)
}

fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| {
            g.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// `provider_subscription_id`, `subscriptions` and `builtin_role_assignments` with their
/// values; returns the instance keys of the per-subscription and the built-in role blocks.
fn role_set_variables(
    m: &mut Model,
    grants: &BTreeMap<SubscriptionId, SubscriptionGrant>,
) -> (Vec<String>, Vec<String>) {
    let first = grants.keys().next().expect("checked: at least one");
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
    for (subscription, grant) in grants {
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
    (
        grants.keys().map(|s| s.to_string()).collect(),
        assignment_keys,
    )
}

fn push_instances(m: &mut Model, ty: &str, name: &str, body: Value, keys: Vec<String>) {
    m.blocks.push(Block {
        ty: ty.to_owned(),
        name: name.to_owned(),
        body,
        instances: Some(keys),
    });
}

/// The role sets, granted to the principal `sp` (an expression).
fn rbac(m: &mut Model, sp: &str, subscriptions: Vec<String>, assignments: Vec<String>) {
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

    const TWIN: Render = Render::Twin { step_seconds: 0.0 };

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
        let config = generate(&input, Render::Providers).unwrap();
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
        let config = generate(&input(2), Render::Providers).unwrap();
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
        let real = generate(&input, Render::Providers).unwrap();
        let twin = generate(&input, TWIN).unwrap();
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
        assert_eq!(
            generate(&empty, Render::Providers).unwrap_err().field,
            "subscriptions"
        );
        let mut bad = input(1);
        bad.name_suffix = "X".into();
        assert_eq!(
            generate(&bad, Render::Providers).unwrap_err().field,
            "name_suffix"
        );
        let mut china = input(1);
        china.environment = Environment::AzureChina;
        china.subscriptions.values_mut().for_each(|g| {
            g.features = FeatureSet::new([Feature::AgentlessScanning]);
        });
        assert_eq!(generate(&china, TWIN).unwrap_err().field, "features");
    }

    #[test]
    fn chunks_fill_up_then_open_and_placements_never_move() {
        let mut placed = BTreeMap::new();
        let gained = place_in_chunks(&mut placed, (1..=7).map(sub), 3);
        assert_eq!(gained.into_iter().collect::<Vec<_>>(), [0, 1, 2]);
        let chunk_of = |placed: &BTreeMap<SubscriptionId, u32>, i| placed[&sub(i)];
        assert_eq!(
            (1..=7).map(|i| chunk_of(&placed, i)).collect::<Vec<_>>(),
            [0, 0, 0, 1, 1, 1, 2]
        );
        // A later batch: the last chunk's room first, then a new one; the placed stay put,
        // and naming a placed subscription again places nothing.
        let before = placed.clone();
        let gained = place_in_chunks(&mut placed, [sub(2), sub(8), sub(9), sub(10)], 3);
        assert_eq!(gained.into_iter().collect::<Vec<_>>(), [2, 3]);
        assert!(before.iter().all(|(s, c)| placed[s] == *c));
        assert_eq!([8, 9, 10].map(|i| chunk_of(&placed, i)), [2, 2, 3]);
        assert!(place_in_chunks(&mut placed, [sub(1)], 3).is_empty());
    }

    fn role_sets(n: u32) -> RoleSetInput {
        let input = input(n);
        RoleSetInput {
            tenant_id: input.tenant_id.clone(),
            environment: input.environment,
            name_suffix: input.name_suffix.clone(),
            principal_id: "5e5e5e5e-0000-4000-8000-000000000001".into(),
            subscriptions: input.subscriptions,
        }
    }

    #[test]
    fn the_identity_alone_has_no_role_and_no_azurerm() {
        let config = generate_identity(&input(3).identity(), Render::Providers).unwrap();
        let addresses: Vec<String> = config
            .resources
            .iter()
            .map(|r| r.config_address())
            .collect();
        assert_eq!(
            addresses,
            [
                "azuread_application.prisma_cloud",
                "azuread_service_principal.prisma_cloud",
                "time_rotating.secret",
                "azuread_application_password.prisma_cloud",
            ]
        );
        let main = &config.main_tf_json;
        assert!(main["provider"]["azurerm"].is_null());
        assert!(main["variable"]["subscriptions"].is_null());
        assert!(!main["output"]["c__application_client_id"].is_null());
        let twin = generate_identity(&input(3).identity(), TWIN).unwrap();
        assert_eq!(twin.resources.len(), 4);
        assert!(!twin.main_tf_json["variable"][twin::SECRET_SEED_VAR].is_null());
    }

    #[test]
    fn a_chunk_grants_its_subscriptions_to_the_principal_it_is_given() {
        let input = role_sets(4);
        let config = generate_role_sets(&input, Render::Providers).unwrap();
        assert_eq!(count(&config, "azuread_application.prisma_cloud"), 0);
        assert_eq!(count(&config, "azurerm_role_definition.prisma_cloud"), 4);
        assert_eq!(count(&config, "azurerm_role_assignment.custom"), 4);
        let custom = config
            .resource(&format!("azurerm_role_assignment.custom[\"{}\"]", sub(2)))
            .unwrap();
        assert_eq!(
            custom.depends_on,
            ["time_sleep.role_definition_propagation"]
        );
        let main = &config.main_tf_json;
        assert_eq!(
            main["resource"]["azurerm_role_assignment"]["custom"]["principal_id"],
            "${var.principal_id}"
        );
        assert_eq!(config.tfvars_json["principal_id"], input.principal_id);
        assert!(main["provider"]["azuread"].is_null());
        assert!(main["output"].is_null());
        // Its twin: the same role addresses, no outputs, no secret seed.
        let twin = generate_role_sets(&input, TWIN).unwrap();
        let real: Vec<String> = config.resources.iter().map(|r| r.address.clone()).collect();
        let mirrored: Vec<String> = twin
            .resources
            .iter()
            .map(|r| twin::builtin_address(&r.address).unwrap())
            .collect();
        assert_eq!(real, mirrored);
        assert!(twin.main_tf_json["output"].is_null());
        assert!(twin.main_tf_json["variable"][twin::SECRET_SEED_VAR].is_null());
    }

    #[test]
    fn a_bad_chunk_names_the_field() {
        let mut empty = role_sets(1);
        empty.subscriptions.clear();
        assert_eq!(
            generate_role_sets(&empty, Render::Providers)
                .unwrap_err()
                .field,
            "subscriptions"
        );
        for bad in ["", "not-a-guid", "5E5E5E5E-0000-4000-8000-000000000001"] {
            let mut input = role_sets(1);
            input.principal_id = bad.into();
            assert_eq!(
                generate_role_sets(&input, TWIN).unwrap_err().field,
                "principal_id",
                "{bad}"
            );
        }
        let mut suffix = role_sets(1);
        suffix.name_suffix = "X".into();
        assert_eq!(
            generate_role_sets(&suffix, Render::Providers)
                .unwrap_err()
                .field,
            "name_suffix"
        );
    }
}
