//! Our own configuration of the Azure side of onboarding (azuread 3.x, azurerm 4.x), in
//! Terraform JSON syntax.
//!
//! # What it creates
//!
//! | address | scopes | purpose |
//! | --- | --- | --- |
//! | `azuread_application.prisma_cloud` | all | the app registration, `Prisma Cloud <suffix>`; tenant scopes list the Graph roles in `required_resource_access` for visibility in the portal |
//! | `azuread_service_principal.prisma_cloud` | all | the enterprise application (`client_id` = the app's `client_id`, v3 naming) |
//! | `time_rotating.secret` | all | rotation clock, `rotation_days = var.secret_rotation_days` |
//! | `azuread_application_password.prisma_cloud` | all | the client secret: `application_id` = the app's resource ID (v3), `end_date` = the rotation time, `rotate_when_changed` on the clock, `create_before_destroy` |
//! | `azuread_app_role_assignment.msgraph[<permission>]` | tenant, Entra | one per Microsoft Graph application role in [`GRAPH_APP_ROLES`]: **admin consent granted by Terraform**, so there is no consent link |
//! | `azuread_directory_role.directory_readers`, `azuread_directory_role_assignment.directory_readers` | with `directory_readers` | the Entra "Directory Readers" role for the service principal |
//! | `azurerm_role_definition.prisma_cloud` | subscription, tenant | custom role `Prisma Cloud <suffix>` with [`permissions::custom_role_actions`] |
//! | `azurerm_role_assignment.builtin[<role>]` | subscription, tenant | one per [`permissions::builtin_roles`] |
//! | `time_sleep.role_definition_propagation` | subscription, tenant | waits [`ROLE_PROPAGATION_WAIT`] for the custom role to replicate |
//! | `azurerm_role_assignment.custom` | subscription, tenant | the custom role, after the wait |
//! | `azurerm_resource_group.audit` … `azurerm_monitor_aad_diagnostic_setting.entra_id` | with `audit_log_export` | Event Hub export of the activity log and the Entra ID audit log |
//!
//! The role scope is `/subscriptions/${var.subscription_id}` for a subscription and the tenant
//! root management group `/providers/Microsoft.Management/managementGroups/${var.tenant_id}`
//! (its name is the tenant ID) for a tenant. Every assignment targets the service principal's
//! `object_id` with `principal_type = "ServicePrincipal"` and
//! `skip_service_principal_aad_check = true` (a new principal may not have replicated yet).
//!
//! # Choices
//!
//! * **Provider versions**: `azuread ~> 3.0`, `azurerm ~> 4.12`, `time ~> 0.12`, Terraform
//!   `>= 1.5.0`. `~>` on the major line takes fixes and new minors without the next breaking
//!   major (azuread 3 renamed `application_id` to `client_id`). The `.terraform.lock.hcl` written by
//!   `terraform init` pins the exact builds per workspace.
//! * **Tenant scope and azurerm 4**: azurerm 4 refuses to start without a subscription ID even
//!   when every resource lives on a management group. The tenant configuration therefore has
//!   a variable `provider_subscription_id` (default `null`). The caller sets it from
//!   [`ConfigInput::subscription_id`] when given; when `null`, azurerm falls back to the
//!   `ARM_SUBSCRIPTION_ID` environment variable, which the runner must then set. With
//!   `audit_log_export` it is required, because the Event Hub lives in that subscription.
//! * **Microsoft Graph service principal**: looked up with `data "azuread_service_principal"`
//!   (by the `MicrosoftGraph` entry of `data.azuread_application_published_app_ids`), **not**
//!   adopted as a resource with `use_existing = true`. A managed resource would be deleted by
//!   `terraform destroy` (offboarding), and deleting Microsoft's first-party Graph service
//!   principal breaks the whole tenant (hashicorp/terraform-provider-azuread#1141,
//!   pulumi/pulumi-azuread#2045).
//! * **Environments**: Azure, Azure Government and Azure China all work. One variable
//!   `environment` (`public` / `usgovernment` / `china`) feeds both providers. Features the
//!   environment does not offer are refused ([`ConfigInput::validate`]).
//! * **Role propagation**: `time_sleep.role_definition_propagation` waits
//!   [`ROLE_PROPAGATION_WAIT`] between the custom role definition and its assignment (which
//!   reads the definition's id through the sleep's `triggers`): azurerm does not wait for the
//!   definition to replicate, and an immediate assignment fails now and then
//!   (hashicorp/terraform-provider-azurerm#19916). Prisma's template waits 20 s.
//! * **Audit-log export**: a Standard namespace (diagnostic settings need it), one Event Hub
//!   `prisma-cloud-audit-logs` (4 partitions, 7-day retention), consumer group `prisma-cloud`,
//!   a listen-only authorization rule `prisma-cloud-listen` for the reader. The diagnostic
//!   settings send through the namespace's `RootManageSharedAccessKey` (Azure Monitor needs
//!   Manage, Send and Listen). Exported: the activity log categories in
//!   [`ACTIVITY_LOG_CATEGORIES`] of the subscription (for a tenant: `provider_subscription_id`)
//!   and Entra ID `AuditLogs` (sign-in logs need an Entra ID P1/P2 licence, so they are left
//!   out). The Entra ID setting needs a Global or Security Administrator. The listen rule's
//!   connection string stays in state (it is not an output: the output set is exactly
//!   Prisma's). The Event Hub takes `namespace_id` (azurerm 4.12 deprecated its
//!   `namespace_name` + `resource_group_name`, hence `~> 4.12`); its consumer group and the
//!   namespace's authorization rule have no `namespace_id` yet and keep `namespace_name`.
//! * **Secret output** is `sensitive = true`, never `nonsensitive(...)`.
//!
//! [`GRAPH_APP_ROLES`]: crate::permissions::GRAPH_APP_ROLES

use serde_json::{Map, Value, json};

use crate::expr;
use crate::outputs::{self, OutputNames};
use crate::permissions;
use crate::{
    ConfigError, ConfigInput, GeneratedConfig, PlannedResource, Scope, provider_environment,
};

/// Terraform version constraint of both configurations.
pub const REQUIRED_TERRAFORM: &str = ">= 1.5.0";
/// `azuread` provider constraint (3.x naming: `client_id`, `application_id` = resource ID).
pub const AZUREAD_VERSION: &str = "~> 3.0";
/// `azurerm` provider constraint (4.x: `subscription_id` required, `enabled_log` blocks).
pub const AZURERM_VERSION: &str = "~> 4.12";
/// `time` provider constraint (`time_rotating`, `time_sleep`).
pub const TIME_VERSION: &str = "~> 0.12";
/// How long the custom role definition is given to replicate before it is assigned (Prisma's
/// own template waits 20 s; replication has been seen to take longer).
pub const ROLE_PROPAGATION_WAIT: &str = "30s";

/// Activity-log categories exported to the Event Hub.
pub const ACTIVITY_LOG_CATEGORIES: [&str; 4] = ["Administrative", "Security", "Policy", "Alert"];
/// Entra ID log categories exported to the Event Hub.
pub const ENTRA_LOG_CATEGORIES: [&str; 1] = ["AuditLogs"];
/// Name of the Event Hub inside the caller's namespace.
pub const AUDIT_EVENTHUB_NAME: &str = "prisma-cloud-audit-logs";

const APP: &str = "azuread_application.prisma_cloud";
pub(crate) const SP_OBJECT_ID: &str = "${azuread_service_principal.prisma_cloud.object_id}";
pub(crate) const GUID_REGEX: &str =
    "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";

/// One managed resource block, in creation order.
#[derive(Clone, Debug)]
pub(crate) struct Block {
    pub ty: String,
    pub name: String,
    pub body: Value,
    /// The `for_each` keys, when the block has `for_each`.
    pub instances: Option<Vec<String>>,
}

impl Block {
    pub fn address(&self) -> String {
        format!("{}.{}", self.ty, self.name)
    }
}

/// The configuration before it is rendered; the twin is derived from it.
#[derive(Clone, Debug)]
pub(crate) struct Model {
    pub scope: Scope,
    pub variables: Map<String, Value>,
    pub tfvars: Map<String, Value>,
    pub providers: Map<String, Value>,
    pub required_providers: Map<String, Value>,
    pub data: Map<String, Value>,
    pub blocks: Vec<Block>,
    pub outputs: Map<String, Value>,
    pub output_names: OutputNames,
}

/// Generates our configuration for `input`.
pub fn generate(input: &ConfigInput) -> Result<GeneratedConfig, ConfigError> {
    Ok(render(model(input)?))
}

/// Our configuration for `input` with the client secrets `passwords` (a rotation's steps:
/// [`crate::passwords`]).
pub fn generate_with_passwords(
    input: &ConfigInput,
    passwords: &crate::passwords::Passwords,
) -> Result<GeneratedConfig, ConfigError> {
    let mut m = model(input)?;
    crate::passwords::apply(&mut m, passwords)?;
    Ok(render(m))
}

/// The files of a configuration model.
pub(crate) fn render(model: Model) -> GeneratedConfig {
    let mut root = Map::new();
    root.insert(
        "terraform".into(),
        json!({
            "required_version": REQUIRED_TERRAFORM,
            "required_providers": model.required_providers,
        }),
    );
    root.insert("provider".into(), Value::Object(model.providers.clone()));
    root.insert("variable".into(), Value::Object(model.variables.clone()));
    if !model.data.is_empty() {
        root.insert("data".into(), Value::Object(model.data.clone()));
    }
    root.insert("resource".into(), render_blocks(&model.blocks));
    // An empty `output` object is a block without its label to Terraform: leave it out.
    if !model.outputs.is_empty() {
        root.insert("output".into(), Value::Object(model.outputs.clone()));
    }
    GeneratedConfig {
        main_tf_json: Value::Object(root),
        tfvars_json: Value::Object(model.tfvars),
        resources: planned_resources(&model.blocks),
        output_names: model.output_names,
    }
}

/// `{ type: { name: body } }` for the blocks.
pub(crate) fn render_blocks(blocks: &[Block]) -> Value {
    let mut by_type = Map::new();
    for b in blocks {
        let entry = by_type
            .entry(b.ty.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        entry
            .as_object_mut()
            .expect("object")
            .insert(b.name.clone(), b.body.clone());
    }
    Value::Object(by_type)
}

/// The managed resource instances of `blocks`, with their dependencies: the explicit
/// `depends_on` plus every managed resource a string in the body refers to.
pub(crate) fn planned_resources(blocks: &[Block]) -> Vec<PlannedResource> {
    let order: Vec<String> = blocks.iter().map(Block::address).collect();
    let mut out = Vec::new();
    for b in blocks {
        let mut deps: Vec<String> = b
            .body
            .get("depends_on")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str().map(str::to_owned))
            .collect();
        for s in expr::all_strings(&b.body) {
            deps.extend(expr::resource_references(s));
        }
        let own = b.address();
        let mut depends_on: Vec<String> = order
            .iter()
            .filter(|a| **a != own && deps.contains(a))
            .cloned()
            .collect();
        depends_on.dedup();
        let instances: Vec<String> = match &b.instances {
            None => vec![own.clone()],
            Some(keys) => keys.iter().map(|k| format!("{own}[\"{k}\"]")).collect(),
        };
        for address in instances {
            out.push(PlannedResource {
                address,
                resource_type: b.ty.clone(),
                resource_name: b.name.clone(),
                depends_on: depends_on.clone(),
            });
        }
    }
    out
}

pub(crate) fn string_var(description: &str) -> Value {
    json!({ "type": "string", "description": description })
}

pub(crate) fn validated(mut var: Value, condition: &str, error_message: &str) -> Value {
    var["validation"] = json!([{ "condition": condition, "error_message": error_message }]);
    var
}

pub(crate) fn guid_var(name: &str, description: &str) -> Value {
    validated(
        string_var(description),
        &format!("${{can(regex(\"{GUID_REGEX}\", var.{name}))}}"),
        &format!("The {name} must be a lower-case GUID (8-4-4-4-12 hexadecimal digits)."),
    )
}

fn list_var(description: &str, default: &[&str]) -> Value {
    json!({ "type": "list(string)", "description": description, "default": default })
}

/// The variable holding the subscription ID the azurerm provider (and the activity-log
/// export) uses, for scopes with Azure RBAC.
fn subscription_var(scope: Scope) -> Option<&'static str> {
    match scope {
        Scope::Subscription => Some("subscription_id"),
        Scope::TenantWithGroups => Some("provider_subscription_id"),
        Scope::EntraOnly => None,
    }
}

fn role_scope(scope: Scope) -> Option<&'static str> {
    match scope {
        Scope::Subscription => Some("/subscriptions/${var.subscription_id}"),
        Scope::TenantWithGroups => {
            Some("/providers/Microsoft.Management/managementGroups/${var.tenant_id}")
        }
        Scope::EntraOnly => None,
    }
}

pub(crate) fn model(input: &ConfigInput) -> Result<Model, ConfigError> {
    input.validate()?;
    let scope = input.scope;
    let mut m = Model {
        scope,
        variables: Map::new(),
        tfvars: Map::new(),
        providers: Map::new(),
        required_providers: Map::new(),
        data: Map::new(),
        blocks: Vec::new(),
        outputs: Map::new(),
        output_names: outputs::names_for(scope),
    };
    variables(input, &mut m);
    providers(input, &mut m);
    identity(&mut m);
    if scope.has_graph_permissions() {
        graph_permissions(&mut m);
    }
    if input.directory_readers {
        directory_readers(&mut m);
    }
    if let Some(role_scope) = role_scope(scope) {
        azure_rbac(role_scope, &mut m);
    }
    if input.audit_log_export.is_some() {
        audit_log_export(scope, &mut m);
    }
    builtin_outputs(&mut m);
    Ok(m)
}

fn variables(input: &ConfigInput, m: &mut Model) {
    let scope = input.scope;
    let vars = &mut m.variables;
    let tfvars = &mut m.tfvars;
    vars.insert(
        "tenant_id".into(),
        guid_var("tenant_id", "Microsoft Entra tenant (directory) ID."),
    );
    tfvars.insert("tenant_id".into(), json!(input.tenant_id.as_str()));
    match scope {
        Scope::Subscription => {
            vars.insert(
                "subscription_id".into(),
                guid_var("subscription_id", "The subscription to onboard."),
            );
        }
        Scope::TenantWithGroups => {
            let mut var = guid_var(
                "provider_subscription_id",
                "Any subscription of the tenant, for the azurerm provider (azurerm 4 requires \
                 one even at management-group scope). When null, azurerm reads \
                 ARM_SUBSCRIPTION_ID.",
            );
            var["default"] = Value::Null;
            var["nullable"] = json!(true);
            var["validation"][0]["condition"] = json!(format!(
                "${{var.provider_subscription_id == null || \
                 can(regex(\"{GUID_REGEX}\", var.provider_subscription_id))}}"
            ));
            vars.insert("provider_subscription_id".into(), var);
        }
        Scope::EntraOnly => {}
    }
    if let (Some(name), Some(sub)) = (subscription_var(scope), &input.subscription_id) {
        tfvars.insert(name.into(), json!(sub.as_str()));
    }
    identity_variables(
        vars,
        tfvars,
        input.environment,
        &input.name_suffix,
        input.secret_rotation_days,
    );
    if scope.has_azure_rbac() {
        vars.insert(
            "builtin_roles".into(),
            list_var(
                "Built-in Azure roles assigned to the service principal.",
                &permissions::builtin_roles(&input.features, input.flow_logs),
            ),
        );
        vars.insert(
            "custom_role_actions".into(),
            list_var(
                "Actions of the Prisma Cloud custom role.",
                &permissions::custom_role_actions(scope, &input.features, input.flow_logs),
            ),
        );
    }
    if scope.has_graph_permissions() {
        vars.insert(
            "graph_app_roles".into(),
            list_var(
                "Microsoft Graph application permissions granted (with admin consent).",
                &permissions::graph_app_role_names(),
            ),
        );
    }
    if let Some(export) = &input.audit_log_export {
        for (name, description, value) in [
            (
                "audit_resource_group",
                "Resource group created for the audit-log Event Hub.",
                &export.resource_group,
            ),
            (
                "audit_location",
                "Azure region of the audit-log Event Hub.",
                &export.location,
            ),
            (
                "audit_eventhub_namespace",
                "Event Hubs namespace (globally unique) for the audit logs.",
                &export.namespace_name,
            ),
        ] {
            vars.insert(name.into(), string_var(description));
            tfvars.insert(name.into(), json!(value));
        }
    }
}

/// `environment` (the providers' cloud) and `name_suffix` (of every name created): the
/// identity's, and the shared identity's role sets' (their role names carry the suffix).
pub(crate) fn naming_variables(
    vars: &mut Map<String, Value>,
    tfvars: &mut Map<String, Value>,
    environment: prisma_types::Environment,
    name_suffix: &str,
) {
    vars.insert(
        "environment".into(),
        validated(
            string_var("Azure cloud of the providers: public, usgovernment or china."),
            "${contains([\"public\", \"usgovernment\", \"china\"], var.environment)}",
            "The environment must be public, usgovernment or china.",
        ),
    );
    tfvars.insert(
        "environment".into(),
        json!(provider_environment(environment)),
    );
    vars.insert(
        "name_suffix".into(),
        validated(
            string_var("Suffix of every name this configuration creates; fixed per job."),
            "${can(regex(\"^[a-z0-9]{5}$\", var.name_suffix))}",
            "The name_suffix must be 5 lower-case letters or digits.",
        ),
    );
    tfvars.insert("name_suffix".into(), json!(name_suffix));
}

/// The variables of the identity itself (every scope, and the tenant's shared identity):
/// `environment`, `name_suffix`, `secret_rotation_days`.
pub(crate) fn identity_variables(
    vars: &mut Map<String, Value>,
    tfvars: &mut Map<String, Value>,
    environment: prisma_types::Environment,
    name_suffix: &str,
    secret_rotation_days: u32,
) {
    naming_variables(vars, tfvars, environment, name_suffix);
    vars.insert(
        "secret_rotation_days".into(),
        validated(
            json!({
                "type": "number",
                "description": "Client-secret lifetime and rotation period, in days.",
            }),
            &format!(
                "${{var.secret_rotation_days >= 1 && var.secret_rotation_days <= {}}}",
                crate::MAX_SECRET_ROTATION_DAYS
            ),
            &format!(
                "The secret_rotation_days must be between 1 and {}.",
                crate::MAX_SECRET_ROTATION_DAYS
            ),
        ),
    );
    tfvars.insert("secret_rotation_days".into(), json!(secret_rotation_days));
}

fn providers(input: &ConfigInput, m: &mut Model) {
    providers_for(m, subscription_var(input.scope));
}

/// azuread and time always; azurerm configured with the subscription in `sub_var`, if any.
pub(crate) fn providers_for(m: &mut Model, sub_var: Option<&str>) {
    m.required_providers.insert(
        "azuread".into(),
        json!({ "source": "hashicorp/azuread", "version": AZUREAD_VERSION }),
    );
    m.providers.insert(
        "azuread".into(),
        json!({ "tenant_id": "${var.tenant_id}", "environment": "${var.environment}" }),
    );
    time_provider(m);
    if let Some(sub_var) = sub_var {
        azurerm_provider(m, sub_var);
    }
}

/// `hashicorp/time` (the secret's rotation, the role replication wait).
pub(crate) fn time_provider(m: &mut Model) {
    m.required_providers.insert(
        "time".into(),
        json!({ "source": "hashicorp/time", "version": TIME_VERSION }),
    );
}

/// `hashicorp/azurerm`, configured with the subscription in the variable `sub_var`.
pub(crate) fn azurerm_provider(m: &mut Model, sub_var: &str) {
    m.required_providers.insert(
        "azurerm".into(),
        json!({ "source": "hashicorp/azurerm", "version": AZURERM_VERSION }),
    );
    m.providers.insert(
        "azurerm".into(),
        json!({
            "features": {},
            "tenant_id": "${var.tenant_id}",
            "subscription_id": format!("${{var.{sub_var}}}"),
            "environment": "${var.environment}",
        }),
    );
}

pub(crate) fn push(m: &mut Model, ty: &str, name: &str, body: Value) {
    m.blocks.push(Block {
        ty: ty.to_owned(),
        name: name.to_owned(),
        body,
        instances: None,
    });
}

fn push_for_each(m: &mut Model, ty: &str, name: &str, body: Value, var: &str) {
    let keys = m.variables[var]["default"]
        .as_array()
        .expect("list default")
        .iter()
        .map(|k| k.as_str().expect("string").to_owned())
        .collect();
    m.blocks.push(Block {
        ty: ty.to_owned(),
        name: name.to_owned(),
        body,
        instances: Some(keys),
    });
}

pub(crate) fn identity(m: &mut Model) {
    let mut app = json!({
        "display_name": "Prisma Cloud ${var.name_suffix}",
        "web": { "homepage_url": "https://www.paloaltonetworks.com/prisma/cloud" },
    });
    if m.scope.has_graph_permissions() {
        app["required_resource_access"] = json!([{
            "resource_app_id":
                "${data.azuread_application_published_app_ids.well_known.result[\"MicrosoftGraph\"]}",
            "dynamic": {
                "resource_access": {
                    "for_each": "${var.graph_app_roles}",
                    "content": {
                        "id": "${data.azuread_service_principal.msgraph.app_role_ids[resource_access.value]}",
                        "type": "Role",
                    },
                },
            },
        }]);
    }
    push(m, "azuread_application", "prisma_cloud", app);
    push(
        m,
        "azuread_service_principal",
        "prisma_cloud",
        json!({ "client_id": format!("${{{APP}.client_id}}") }),
    );
    push(
        m,
        "time_rotating",
        "secret",
        json!({ "rotation_days": "${var.secret_rotation_days}" }),
    );
    push(
        m,
        "azuread_application_password",
        "prisma_cloud",
        json!({
            "application_id": format!("${{{APP}.id}}"),
            "display_name": "Prisma Cloud ${var.name_suffix}",
            "end_date": "${time_rotating.secret.rotation_rfc3339}",
            "rotate_when_changed": { "rotation": "${time_rotating.secret.id}" },
            "lifecycle": { "create_before_destroy": true },
        }),
    );
}

fn graph_permissions(m: &mut Model) {
    m.data.insert(
        "azuread_application_published_app_ids".into(),
        json!({ "well_known": {} }),
    );
    m.data.insert(
        "azuread_service_principal".into(),
        json!({
            "msgraph": {
                "client_id":
                    "${data.azuread_application_published_app_ids.well_known.result[\"MicrosoftGraph\"]}",
            }
        }),
    );
    push_for_each(
        m,
        "azuread_app_role_assignment",
        "msgraph",
        json!({
            "for_each": "${toset(var.graph_app_roles)}",
            "app_role_id": "${data.azuread_service_principal.msgraph.app_role_ids[each.key]}",
            "principal_object_id": SP_OBJECT_ID,
            "resource_object_id": "${data.azuread_service_principal.msgraph.object_id}",
        }),
        "graph_app_roles",
    );
}

fn directory_readers(m: &mut Model) {
    push(
        m,
        "azuread_directory_role",
        "directory_readers",
        json!({ "display_name": "Directory Readers" }),
    );
    push(
        m,
        "azuread_directory_role_assignment",
        "directory_readers",
        json!({
            "role_id": "${azuread_directory_role.directory_readers.template_id}",
            "principal_object_id": SP_OBJECT_ID,
        }),
    );
}

fn azure_rbac(role_scope: &'static str, m: &mut Model) {
    push(
        m,
        "azurerm_role_definition",
        "prisma_cloud",
        json!({
            "name": "Prisma Cloud ${var.name_suffix}",
            "scope": role_scope,
            "description": "Prisma Cloud onboarding: read configuration and selected features.",
            "permissions": {
                "actions": "${var.custom_role_actions}",
                "not_actions": [],
            },
            "assignable_scopes": [role_scope],
        }),
    );
    // azurerm returns before a new role definition has replicated, and an assignment made at
    // once fails now and then with "role definition does not exist"
    // (hashicorp/terraform-provider-azurerm#19916): wait first. `triggers` makes a replaced
    // definition wait again.
    push(
        m,
        "time_sleep",
        "role_definition_propagation",
        json!({
            "create_duration": ROLE_PROPAGATION_WAIT,
            "triggers": {
                "role_definition_id":
                    "${azurerm_role_definition.prisma_cloud.role_definition_resource_id}",
            },
        }),
    );
    let assignment = |role: Value| {
        let mut body = json!({
            "scope": role_scope,
            "principal_id": SP_OBJECT_ID,
            "principal_type": "ServicePrincipal",
            "skip_service_principal_aad_check": true,
        });
        body.as_object_mut()
            .expect("object")
            .extend(role.as_object().expect("object").clone());
        body
    };
    push_for_each(
        m,
        "azurerm_role_assignment",
        "builtin",
        assignment(json!({
            "for_each": "${toset(var.builtin_roles)}",
            "role_definition_name": "${each.key}",
        })),
        "builtin_roles",
    );
    push(
        m,
        "azurerm_role_assignment",
        "custom",
        assignment(json!({
            "role_definition_id":
                "${time_sleep.role_definition_propagation.triggers[\"role_definition_id\"]}",
        })),
    );
}

fn audit_log_export(scope: Scope, m: &mut Model) {
    let sub_var = subscription_var(scope).expect("validated: export needs a subscription");
    let rg_name = "${azurerm_resource_group.audit.name}";
    let ns_name = "${azurerm_eventhub_namespace.audit.name}";
    let send_rule =
        "${azurerm_eventhub_namespace.audit.id}/authorizationRules/RootManageSharedAccessKey";
    push(
        m,
        "azurerm_resource_group",
        "audit",
        json!({ "name": "${var.audit_resource_group}", "location": "${var.audit_location}" }),
    );
    push(
        m,
        "azurerm_eventhub_namespace",
        "audit",
        json!({
            "name": "${var.audit_eventhub_namespace}",
            "location": "${azurerm_resource_group.audit.location}",
            "resource_group_name": rg_name,
            "sku": "Standard",
            "capacity": 1,
            "minimum_tls_version": "1.2",
            "local_authentication_enabled": true,
        }),
    );
    push(
        m,
        "azurerm_eventhub",
        "audit",
        json!({
            "name": AUDIT_EVENTHUB_NAME,
            "namespace_id": "${azurerm_eventhub_namespace.audit.id}",
            "partition_count": 4,
            "message_retention": 7,
        }),
    );
    push(
        m,
        "azurerm_eventhub_consumer_group",
        "prisma_cloud",
        json!({
            "name": "prisma-cloud",
            "namespace_name": ns_name,
            "eventhub_name": "${azurerm_eventhub.audit.name}",
            "resource_group_name": rg_name,
        }),
    );
    push(
        m,
        "azurerm_eventhub_namespace_authorization_rule",
        "prisma_cloud_listen",
        json!({
            "name": "prisma-cloud-listen",
            "namespace_name": ns_name,
            "resource_group_name": rg_name,
            "listen": true,
            "send": false,
            "manage": false,
        }),
    );
    let logs = |categories: &[&str]| -> Value {
        categories
            .iter()
            .map(|c| json!({ "category": c }))
            .collect()
    };
    push(
        m,
        "azurerm_monitor_diagnostic_setting",
        "activity_log",
        json!({
            "name": "prisma-cloud-${var.name_suffix}",
            "target_resource_id": format!("/subscriptions/${{var.{sub_var}}}"),
            "eventhub_name": "${azurerm_eventhub.audit.name}",
            "eventhub_authorization_rule_id": send_rule,
            "enabled_log": logs(&ACTIVITY_LOG_CATEGORIES),
        }),
    );
    push(
        m,
        "azurerm_monitor_aad_diagnostic_setting",
        "entra_id",
        json!({
            "name": "prisma-cloud-${var.name_suffix}",
            "eventhub_name": "${azurerm_eventhub.audit.name}",
            "eventhub_authorization_rule_id": send_rule,
            "enabled_log": logs(&ENTRA_LOG_CATEGORIES),
        }),
    );
}

fn output(value: &str, description: &str) -> Value {
    json!({ "value": value, "description": description })
}

pub(crate) fn builtin_outputs(m: &mut Model) {
    let names = m.output_names;
    let o = &mut m.outputs;
    o.insert(
        names.tenant_id.into(),
        output("${var.tenant_id}", "Tenant (directory) ID: tenantId."),
    );
    o.insert(
        names.client_id.into(),
        output(
            &format!("${{{APP}.client_id}}"),
            "Application (client) ID: clientId.",
        ),
    );
    let mut secret = output(
        "${azuread_application_password.prisma_cloud.value}",
        "Client secret: key.",
    );
    secret["sensitive"] = json!(true);
    o.insert(names.client_secret.into(), secret);
    o.insert(
        names.service_principal_object_id.into(),
        output(
            SP_OBJECT_ID,
            "Service principal (enterprise application) object ID: servicePrincipalId.",
        ),
    );
    if let Some(name) = names.subscription_id {
        o.insert(
            name.into(),
            output("${var.subscription_id}", "Subscription ID: accountId."),
        );
    }
    if let Some(name) = names.secret_expiry {
        o.insert(
            name.into(),
            output(
                "${azuread_application_password.prisma_cloud.end_date}",
                "Client secret end date (RFC 3339).",
            ),
        );
    }
}
