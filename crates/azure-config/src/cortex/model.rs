//! The Cortex template before rendering: variables, locals, resource blocks and outputs, for
//! the real configuration or its twin ([`Flavor`]). Both are built by the same code, so they
//! cannot drift apart: the twin differs only in how a resource attribute is referenced
//! (`TYPE.NAME.attr` vs `terraform_data.TYPE__NAME.output.attr`) and in the bodies
//! [`super::twin`] gives its blocks.

use serde_json::{Map, Value, json};

use super::{
    CALLBACK_MAX_RETRY, CALLBACK_OK_CODES, CALLBACK_TIMEOUT_SECONDS, CortexScope, CortexTemplate,
    DEFAULT_LOCATION, UPLOAD_URL_VAR,
};
use crate::builtin::ACTIVITY_LOG_CATEGORIES;
use crate::builtin::{Block, guid_var, string_var, validated};
use crate::permissions;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    Real,
    Twin,
}

impl Flavor {
    /// A reference to `attr` of the managed resource `ty.name`.
    pub fn attr(self, ty: &str, name: &str, attr: &str) -> String {
        match self {
            Flavor::Real => format!("{ty}.{name}.{attr}"),
            Flavor::Twin => format!("terraform_data.{ty}__{name}.output.{attr}"),
        }
    }
}

pub(crate) struct Model {
    pub variables: Map<String, Value>,
    pub locals: Map<String, Value>,
    pub blocks: Vec<Block>,
    pub outputs: Map<String, Value>,
}

/// Actions of the managed identity's role (tenant and management-group scopes): what the
/// policy's per-subscription deployments need (§7.3).
pub const MANAGED_IDENTITY_ACTIONS: [&str; 27] = [
    "Microsoft.Resources/deployments/read",
    "Microsoft.Resources/deployments/write",
    "Microsoft.Resources/deployments/operationStatuses/read",
    "Microsoft.Resources/deployments/operations/read",
    "Microsoft.Resources/deployments/validate/action",
    "Microsoft.Resources/deployments/cancel/action",
    "Microsoft.Resources/subscriptions/resourceGroups/read",
    "Microsoft.Resources/subscriptions/resourceGroups/write",
    "Microsoft.Resources/subscriptions/resourceGroups/resources/read",
    "Microsoft.Resources/subscriptions/resourceGroups/validateMoveResources/action",
    "Microsoft.Resources/subscriptions/resourceGroups/moveResources/action",
    "Microsoft.Resources/subscriptions/read",
    "Microsoft.Authorization/roleDefinitions/read",
    "Microsoft.Authorization/roleDefinitions/write",
    "Microsoft.Authorization/roleDefinitions/delete",
    "Microsoft.Authorization/roleAssignments/read",
    "Microsoft.Authorization/roleAssignments/write",
    "Microsoft.Authorization/roleAssignments/delete",
    "Microsoft.Authorization/policyDefinitions/read",
    "Microsoft.Authorization/policyDefinitions/write",
    "Microsoft.Authorization/policyDefinitions/delete",
    "Microsoft.Authorization/policyAssignments/read",
    "Microsoft.Authorization/policyAssignments/write",
    "Microsoft.Authorization/policyAssignments/delete",
    "Microsoft.Compute/galleries/read",
    "Microsoft.Compute/galleries/write",
    "Microsoft.Compute/galleries/delete",
];

/// Actions of the remediation role given to Cortex's service principal (§7.3).
pub const POLICY_ROLE_ACTIONS: [&str; 2] = [
    "Microsoft.PolicyInsights/remediations/read",
    "Microsoft.PolicyInsights/remediations/write",
];

/// The Microsoft Graph application roles granted to Cortex's service principal. Every scope
/// needs `Application.Read.All` (§7.1); the tenant scope also reads the directory for identity
/// security, with the same read roles the Prisma configuration grants.
pub fn graph_app_roles(scope: CortexScope) -> Vec<&'static str> {
    match scope {
        CortexScope::Tenant => {
            let mut roles = permissions::graph_app_role_names().to_vec();
            roles.sort_unstable();
            roles
        }
        CortexScope::ManagementGroup | CortexScope::Subscription => vec!["Application.Read.All"],
    }
}

/// Actions of the `cortex-actions-*` role: beyond `*/read`, what discovery and each chosen
/// capability call. Cortex ships its list as `custom_actions_permissions.json`, which is not
/// public (§15); this one is ours, per capability, and written down in `docs/emulator.md`.
pub fn custom_actions(template: &CortexTemplate) -> Vec<&'static str> {
    let caps = template.capabilities;
    let mut actions = vec![
        "Microsoft.Network/networkInterfaces/effectiveNetworkSecurityGroups/action",
        "Microsoft.Network/networkInterfaces/effectiveRouteTable/action",
        "Microsoft.Network/networkWatchers/queryFlowLogStatus/action",
        "Microsoft.Web/sites/config/list/action",
    ];
    if caps.agentless_disk_scanning {
        actions.extend([
            "Microsoft.Compute/disks/beginGetAccess/action",
            "Microsoft.Compute/snapshots/write",
            "Microsoft.Compute/snapshots/delete",
            "Microsoft.Compute/snapshots/beginGetAccess/action",
            "Microsoft.Compute/snapshots/endGetAccess/action",
        ]);
    }
    if caps.data_security_posture_management {
        actions.extend([
            "Microsoft.Storage/storageAccounts/listKeys/action",
            "Microsoft.DocumentDB/databaseAccounts/listKeys/action",
        ]);
    }
    if caps.registry_scanning {
        actions.extend([
            "Microsoft.ContainerRegistry/registries/listCredentials/action",
            "Microsoft.ContainerRegistry/registries/generateCredentials/action",
        ]);
    }
    if caps.serverless_scanning {
        actions.extend([
            "Microsoft.Web/sites/host/listkeys/action",
            "Microsoft.Web/sites/functions/listkeys/action",
        ]);
    }
    actions.sort_unstable();
    actions.dedup();
    actions
}

/// The policy rule (a `deployIfNotExists` over subscriptions that creates Cortex's resource
/// group in each), with `{{cortex_name}}`, `{{role_definition_id}}` and `{{location}}`
/// placeholders the configuration fills in.
fn default_policy_template() -> String {
    json!({
        "if": { "field": "type", "equals": "Microsoft.Resources/subscriptions" },
        "then": {
            "effect": "deployIfNotExists",
            "details": {
                "type": "Microsoft.Resources/resourceGroups",
                "name": "{{cortex_name}}",
                "deploymentScope": "subscription",
                "existenceScope": "subscription",
                "roleDefinitionIds": ["{{role_definition_id}}"],
                "existenceCondition": {
                    "field": "tags['managed_by']",
                    "equals": "paloaltonetworks"
                },
                "deployment": {
                    "location": "{{location}}",
                    "properties": {
                        "mode": "incremental",
                        "template": {
                            "$schema": "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#",
                            "contentVersion": "1.0.0.0",
                            "resources": [{
                                "type": "Microsoft.Resources/resourceGroups",
                                "apiVersion": "2022-09-01",
                                "name": "{{cortex_name}}",
                                "location": "{{location}}",
                                "tags": { "managed_by": "paloaltonetworks" }
                            }]
                        }
                    }
                }
            }
        }
    })
    .to_string()
}

const HEX32_REGEX: &str = "^[0-9a-f]{32}$";

fn hex32_var(name: &str, description: &str) -> Value {
    validated(
        string_var(description),
        &format!("${{can(regex(\"{HEX32_REGEX}\", var.{name}))}}"),
        &format!("The {name} must be 32 lower-case hexadecimal digits."),
    )
}

fn variables(template: &CortexTemplate) -> Map<String, Value> {
    let scope = template.scope;
    let mut v = Map::new();
    v.insert(
        "template_version".into(),
        json!({ "type": "map(string)", "description": "Module versions of this template (sent back in the callback)." }),
    );
    v.insert(
        "connector_id".into(),
        hex32_var("connector_id", "The connector the callback creates."),
    );
    v.insert(
        "template_id".into(),
        hex32_var(
            "template_id",
            "The template (the pending instance's tracking GUID).",
        ),
    );
    v.insert(
        "tenant_id".into(),
        guid_var("tenant_id", "Microsoft Entra tenant (directory) ID."),
    );
    v.insert(
        "subscription_id".into(),
        guid_var(
            "subscription_id",
            match scope {
                CortexScope::Subscription => {
                    "The subscription to onboard; it hosts the Cortex resource group."
                }
                _ => "The subscription hosting the Cortex resource group and managed identity.",
            },
        ),
    );
    if scope == CortexScope::ManagementGroup {
        v.insert(
            "management_group_id".into(),
            validated(
                string_var("The management group to onboard (its ID, not its display name)."),
                "${can(regex(\"^[a-zA-Z0-9_().-]{0,89}[a-zA-Z0-9_()-]$\", var.management_group_id))}",
                "The management_group_id must be 1-90 letters, digits, '-', '_', '(', ')' or '.', not ending with '.'.",
            ),
        );
    }
    let mut location = validated(
        string_var("Azure location of the Cortex resource group, e.g. eastus."),
        "${can(regex(\"^[a-z0-9]{1,40}$\", var.resource_group_location))}",
        "The resource_group_location must be an Azure location name such as eastus.",
    );
    location["default"] = json!(DEFAULT_LOCATION);
    v.insert("resource_group_location".into(), location);
    let mut cloud = validated(
        string_var("Azure cloud: public or usgovernment."),
        "${contains([\"public\", \"usgovernment\"], var.cloud_environment)}",
        "The cloud_environment must be public or usgovernment.",
    );
    cloud["default"] = json!("public");
    v.insert("cloud_environment".into(), cloud);
    let mut upload = validated(
        string_var(
            "Signed URL the template calls back when done; pass it as TF_VAR_upload_output_url.",
        ),
        "${can(regex(\"^https?://[^\\\\s\\\"'\\\\\\\\]+$\", var.upload_output_url))}",
        "The upload_output_url must be an http(s) URL without spaces, quotes or backslashes.",
    );
    upload["sensitive"] = json!(true);
    v.insert(UPLOAD_URL_VAR.into(), upload);
    v.insert(
        "outpost_client_id".into(),
        guid_var(
            "outpost_client_id",
            "Client ID of Cortex's multi-tenant application.",
        ),
    );
    v.insert(
        "customer_object_id".into(),
        guid_var(
            "customer_object_id",
            "Object ID of Cortex's service principal in this tenant (created by approving the application).",
        ),
    );
    v.insert(
        "tags".into(),
        json!({ "type": "map(string)", "description": "Tags of every resource.", "default": { "managed_by": "paloaltonetworks" } }),
    );
    v.insert(
        "resource_suffix".into(),
        validated(
            string_var("Suffix of every name this template creates."),
            "${length(var.resource_suffix) >= 5 && length(var.resource_suffix) <= 40 && can(regex(\"^[a-z0-9]+(-[a-z0-9]+)+$\", var.resource_suffix))}",
            "The resource_suffix must be 5-40 characters: '-'-separated parts of lower-case letters and digits.",
        ),
    );
    v.insert(
        "graph_app_roles".into(),
        json!({
            "type": "list(string)",
            "description": "Microsoft Graph application roles granted to Cortex's service principal.",
            "default": graph_app_roles(scope),
        }),
    );
    v.insert(
        "custom_actions".into(),
        json!({
            "type": "list(string)",
            "description": "Actions of the cortex-actions role, beyond */read.",
            "default": custom_actions(template),
        }),
    );
    if scope.has_management_group() {
        v.insert(
            "policy_template".into(),
            json!({
                "type": "string",
                "description": "Rule of the Azure Policy that deploys Cortex's resources into every subscription.",
                "default": default_policy_template(),
            }),
        );
    }
    v
}

fn locals(template: &CortexTemplate, flavor: Flavor) -> Map<String, Value> {
    let scope = template.scope;
    let mut l = Map::new();
    l.insert(
        "suffix_split".into(),
        json!("${split(\"-\", var.resource_suffix)}"),
    );
    l.insert(
        "suffix_parts".into(),
        json!("${local.suffix_split[0]}-${local.suffix_split[1]}"),
    );
    l.insert(
        "short_suffix".into(),
        json!("${substr(var.resource_suffix, length(var.resource_suffix) - 5, 5)}"),
    );
    l.insert(
        "management_group_id".into(),
        json!(match scope {
            CortexScope::Tenant => "${var.tenant_id}",
            CortexScope::ManagementGroup => "${var.management_group_id}",
            CortexScope::Subscription => "",
        }),
    );
    l.insert(
        "uniq".into(),
        json!("${substr(md5(join(\"\", [var.subscription_id, local.management_group_id, var.tenant_id, var.resource_suffix])), 0, 10)}"),
    );
    l.insert(
        "ext_resource_suffix".into(),
        json!("${local.suffix_parts}-${local.short_suffix}-${local.uniq}"),
    );
    l.insert(
        "cortex_name".into(),
        json!("cortex-${local.ext_resource_suffix}"),
    );
    l.insert(
        "role_scope".into(),
        json!(if scope.has_management_group() {
            "/providers/Microsoft.Management/managementGroups/${local.management_group_id}"
        } else {
            "/subscriptions/${var.subscription_id}"
        }),
    );
    let mut resources_data = Map::new();
    resources_data.insert("client_id".into(), json!("${var.outpost_client_id}"));
    resources_data.insert(
        "policy_assignment_id".into(),
        json!(if scope.has_management_group() {
            format!(
                "${{{}}}",
                flavor.attr(
                    "azurerm_management_group_policy_assignment",
                    "cortex_policy",
                    "id"
                )
            )
        } else {
            String::new()
        }),
    );
    resources_data.insert("resource_group_name".into(), json!("${local.cortex_name}"));
    resources_data.insert(
        "resource_group_location".into(),
        json!("${var.resource_group_location}"),
    );
    resources_data.insert(
        "onboarding_resource_group_name".into(),
        json!(format!(
            "${{{}}}",
            flavor.attr("azurerm_resource_group", "cortex_onboarding", "name")
        )),
    );
    if template.audit_logs {
        resources_data.insert(
            "audit_logs_eventhub_namespace_id".into(),
            json!(format!(
                "${{{}}}",
                flavor.attr("azurerm_eventhub_namespace", "audit_logs", "id")
            )),
        );
        resources_data.insert(
            "audit_logs_eventhub_name".into(),
            json!(format!(
                "${{{}}}",
                flavor.attr("azurerm_eventhub", "audit_logs", "name")
            )),
        );
    }
    l.insert("resources_data".into(), Value::Object(resources_data));
    l.insert(
        "notification".into(),
        json!({
            "operation": "create_connector",
            "template_id": "${var.template_id}",
            "template_version": "${var.template_version}",
            "connector_id": "${var.connector_id}",
            "provisioning_method": "TF",
            "account_id": "${var.subscription_id}",
            "account_name": "",
            "account_group": "${local.management_group_id}",
            "organization_id": "${var.tenant_id}",
            "credentials": {
                "client_id": "${var.outpost_client_id}",
                "tenant_id": "${var.tenant_id}",
            },
            "resources_data": "${local.resources_data}",
        }),
    );
    l
}

const CORTEX_SP: &str = "${data.azuread_service_principal.cortex.object_id}";
const TAGS: &str = "${var.tags}";

fn block(ty: &str, name: &str, body: Value) -> Block {
    Block {
        ty: ty.into(),
        name: name.into(),
        body,
        instances: None,
    }
}

fn role_assignment(principal: &str, role_definition: &str) -> Value {
    json!({
        "scope": "${local.role_scope}",
        "principal_id": principal,
        "principal_type": "ServicePrincipal",
        "skip_service_principal_aad_check": true,
        "role_definition_id": role_definition,
    })
}

fn blocks(template: &CortexTemplate) -> Vec<Block> {
    let scope = template.scope;
    let mut b = Vec::new();
    let mut graph = block(
        "azuread_app_role_assignment",
        "graph",
        json!({
            "for_each": "${toset(var.graph_app_roles)}",
            "app_role_id": "${data.azuread_service_principal.msgraph.app_role_ids[each.key]}",
            "principal_object_id": CORTEX_SP,
            "resource_object_id": "${data.azuread_service_principal.msgraph.object_id}",
        }),
    );
    graph.instances = Some(
        graph_app_roles(scope)
            .into_iter()
            .map(str::to_owned)
            .collect(),
    );
    b.push(graph);
    b.push(block(
        "azurerm_resource_group",
        "cortex_onboarding",
        json!({
            "name": "cortex-onboarding-${var.resource_suffix}",
            "location": "${var.resource_group_location}",
            "tags": TAGS,
        }),
    ));
    if scope.has_management_group() {
        b.push(block(
            "azurerm_role_definition",
            "cortex_mi_role",
            json!({
                "name": "cortex-mi-role-${var.resource_suffix}",
                "scope": "/subscriptions/${var.subscription_id}",
                "description": "Cortex Cloud managed identity (${var.resource_suffix}): per-subscription deployments.",
                "permissions": { "actions": MANAGED_IDENTITY_ACTIONS, "not_actions": [] },
                "assignable_scopes": ["/subscriptions/${var.subscription_id}", "${local.role_scope}"],
            }),
        ));
        b.push(block(
            "azurerm_user_assigned_identity",
            "cortex_mi",
            json!({
                "name": "cortex-mi-${var.resource_suffix}",
                "resource_group_name": "${azurerm_resource_group.cortex_onboarding.name}",
                "location": "${var.resource_group_location}",
                "tags": TAGS,
            }),
        ));
        b.push(block(
            "azurerm_role_assignment",
            "cortex_mi",
            role_assignment(
                "${azurerm_user_assigned_identity.cortex_mi.principal_id}",
                "${azurerm_role_definition.cortex_mi_role.role_definition_resource_id}",
            ),
        ));
    }
    for (name, what, actions) in [
        ("cortex_reader", "reader", json!(["*/read"])),
        ("cortex_actions", "actions", json!("${var.custom_actions}")),
    ] {
        b.push(block(
            "azurerm_role_definition",
            name,
            json!({
                "name": format!("cortex-{what}-${{local.ext_resource_suffix}}"),
                "scope": "${local.role_scope}",
                "description": format!("Cortex Cloud {what} role ${{local.ext_resource_suffix}}"),
                "permissions": { "actions": actions, "not_actions": [] },
                "assignable_scopes": ["${local.role_scope}"],
            }),
        ));
    }
    for name in ["cortex_reader", "cortex_actions"] {
        b.push(block(
            "azurerm_role_assignment",
            name,
            role_assignment(
                CORTEX_SP,
                &format!("${{azurerm_role_definition.{name}.role_definition_resource_id}}"),
            ),
        ));
    }
    if scope.has_management_group() {
        policy(&mut b);
    }
    if template.audit_logs {
        audit_logs(scope, &mut b);
    }
    let depends_on: Vec<String> = b.iter().map(Block::address).collect();
    b.push(block(
        "terracurl_request",
        "create_connector_notification",
        json!({
            "name": "create_connector_notification",
            "method": "PUT",
            "url": format!("${{var.{UPLOAD_URL_VAR}}}"),
            "headers": { "Content-Type": "application/json" },
            "request_body": "${jsonencode(local.notification)}",
            "response_codes": CALLBACK_OK_CODES.map(|c| c.to_string()),
            "timeout": CALLBACK_TIMEOUT_SECONDS,
            "max_retry": CALLBACK_MAX_RETRY,
            "skip_destroy": true,
            "depends_on": depends_on,
        }),
    ));
    b
}

fn policy(b: &mut Vec<Block>) {
    b.push(block(
        "azurerm_policy_definition",
        "cortex_policy",
        json!({
            "name": "${local.cortex_name}",
            "policy_type": "Custom",
            "mode": "All",
            "display_name": "${local.cortex_name}",
            "management_group_id": "${local.role_scope}",
            "policy_rule": "${replace(replace(replace(var.policy_template, \"{{cortex_name}}\", local.cortex_name), \"{{role_definition_id}}\", azurerm_role_definition.cortex_mi_role.role_definition_resource_id), \"{{location}}\", var.resource_group_location)}",
        }),
    ));
    // Names of policy assignments at management-group scope are at most 24 characters.
    b.push(block(
        "azurerm_management_group_policy_assignment",
        "cortex_policy",
        json!({
            "name": "cortex-${local.uniq}",
            "management_group_id": "${local.role_scope}",
            "policy_definition_id": "${azurerm_policy_definition.cortex_policy.id}",
            "display_name": "Cortex Policy ${local.cortex_name}",
            "location": "${var.resource_group_location}",
            "identity": {
                "type": "UserAssigned",
                "identity_ids": ["${azurerm_user_assigned_identity.cortex_mi.id}"],
            },
            "resource_selectors": {
                "name": "Only Subscriptions",
                "selectors": { "kind": "resourceType", "in": ["Microsoft.Resources/subscriptions"] },
            },
        }),
    ));
    b.push(block(
        "azurerm_role_definition",
        "cortex_policy_role",
        json!({
            "name": "cortex-policy-${var.resource_suffix}",
            "scope": "${local.role_scope}",
            "description": "Cortex Cloud policy remediation (${var.resource_suffix})",
            "permissions": { "actions": POLICY_ROLE_ACTIONS, "not_actions": [] },
            "assignable_scopes": ["${local.role_scope}"],
        }),
    ));
    b.push(block(
        "azurerm_role_assignment",
        "cortex_policy",
        role_assignment(
            CORTEX_SP,
            "${azurerm_role_definition.cortex_policy_role.role_definition_resource_id}",
        ),
    ));
    b.push(block(
        "azurerm_management_group_policy_remediation",
        "cortex_policy",
        json!({
            "name": "cortex-remediation-${var.resource_suffix}",
            "management_group_id": "${local.role_scope}",
            "policy_assignment_id": "${azurerm_management_group_policy_assignment.cortex_policy.id}",
        }),
    ));
}

fn audit_logs(scope: CortexScope, b: &mut Vec<Block>) {
    b.push(block(
        "azurerm_eventhub_namespace",
        "audit_logs",
        json!({
            "name": "cortex-audit-${local.uniq}",
            "location": "${var.resource_group_location}",
            "resource_group_name": "${azurerm_resource_group.cortex_onboarding.name}",
            "sku": "Standard",
            "capacity": 1,
            "minimum_tls_version": "1.2",
            "tags": TAGS,
        }),
    ));
    b.push(block(
        "azurerm_eventhub",
        "audit_logs",
        json!({
            "name": "cortex-audit-logs",
            "namespace_id": "${azurerm_eventhub_namespace.audit_logs.id}",
            "partition_count": 4,
            "message_retention": 7,
        }),
    ));
    b.push(block(
        "azurerm_role_assignment",
        "audit_logs_receiver",
        json!({
            "scope": "${azurerm_eventhub.audit_logs.id}",
            "principal_id": CORTEX_SP,
            "principal_type": "ServicePrincipal",
            "skip_service_principal_aad_check": true,
            "role_definition_name": "Azure Event Hubs Data Receiver",
        }),
    ));
    let send_rule =
        "${azurerm_eventhub_namespace.audit_logs.id}/authorizationRules/RootManageSharedAccessKey";
    match scope {
        CortexScope::Tenant => b.push(block(
            "azurerm_monitor_aad_diagnostic_setting",
            "entra_id",
            json!({
                "name": "cortex-${local.uniq}",
                "eventhub_name": "${azurerm_eventhub.audit_logs.name}",
                "eventhub_authorization_rule_id": send_rule,
                "enabled_log": [{ "category": "AuditLogs" }, { "category": "SignInLogs" }],
            }),
        )),
        CortexScope::ManagementGroup => {}
        CortexScope::Subscription => b.push(block(
            "azurerm_monitor_diagnostic_setting",
            "activity_log",
            json!({
                "name": "cortex-${local.uniq}",
                "target_resource_id": "/subscriptions/${var.subscription_id}",
                "eventhub_name": "${azurerm_eventhub.audit_logs.name}",
                "eventhub_authorization_rule_id": send_rule,
                "enabled_log": ACTIVITY_LOG_CATEGORIES.map(|c| json!({ "category": c })),
            }),
        )),
    }
}

fn outputs(flavor: Flavor) -> Map<String, Value> {
    let subscription = match flavor {
        // Cortex's bundle outputs the subscription's display name under this name.
        Flavor::Real => "${data.azurerm_subscription.hosting.display_name}",
        Flavor::Twin => "Azure subscription ${var.subscription_id}",
    };
    let mut o = Map::new();
    for (name, value, description) in [
        ("tenant_id", "${var.tenant_id}", "Tenant (directory) ID."),
        (
            "subscription_id",
            subscription,
            "Display name of the hosting subscription.",
        ),
        (
            "management_group",
            "${local.management_group_id}",
            "The onboarded management group (the tenant ID at tenant scope; empty at subscription scope).",
        ),
        (
            "resources_data",
            "${local.resources_data}",
            "What the callback reported about the created resources.",
        ),
        (
            "client_id",
            "${var.outpost_client_id}",
            "Client ID of Cortex's application.",
        ),
        (
            "connector_id",
            "${var.connector_id}",
            "The connector the callback created.",
        ),
        (
            "ext_resource_suffix",
            "${local.ext_resource_suffix}",
            "The suffix of the names derived per scope.",
        ),
    ] {
        o.insert(
            name.into(),
            json!({ "value": value, "description": description }),
        );
    }
    o
}

pub(crate) fn model(template: &CortexTemplate, flavor: Flavor) -> Model {
    Model {
        variables: variables(template),
        locals: locals(template, flavor),
        blocks: blocks(template),
        outputs: outputs(flavor),
    }
}
