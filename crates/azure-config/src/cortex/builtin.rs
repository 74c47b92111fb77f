//! The real Cortex Cloud template for Azure (§7): azuread, azurerm and terracurl resources.
//!
//! | address | scopes | purpose |
//! | --- | --- | --- |
//! | `azuread_app_role_assignment.graph[<role>]` | all | Microsoft Graph application roles for Cortex's service principal (admin consent by Terraform): `Application.Read.All`, plus the directory reads at tenant scope |
//! | `azurerm_resource_group.cortex_onboarding` | all | `cortex-onboarding-<suffix>` in the hosting subscription |
//! | `azurerm_role_definition.cortex_mi_role`, `azurerm_user_assigned_identity.cortex_mi`, `azurerm_role_assignment.cortex_mi` | tenant, MG | the managed identity the policy deploys with, and its role at the management group |
//! | `azurerm_role_definition.cortex_reader` / `cortex_actions`, `azurerm_role_assignment.cortex_reader` / `cortex_actions` | all | `*/read` and the capability actions for Cortex's service principal at the scope |
//! | `azurerm_policy_definition.cortex_policy`, `azurerm_management_group_policy_assignment.cortex_policy`, `azurerm_role_definition.cortex_policy_role`, `azurerm_role_assignment.cortex_policy`, `azurerm_management_group_policy_remediation.cortex_policy` | tenant, MG | the policy that deploys Cortex's per-subscription resources, existing subscriptions remediated |
//! | `azurerm_eventhub_namespace.audit_logs`, `azurerm_eventhub.audit_logs`, `azurerm_role_assignment.audit_logs_receiver`, + `azurerm_monitor_aad_diagnostic_setting.entra_id` (tenant) / `azurerm_monitor_diagnostic_setting.activity_log` (subscription) | with audit logs | the audit-log Event Hub Cortex reads |
//! | `terracurl_request.create_connector_notification` | all | the callback: `PUT upload_output_url` with the `create_connector` body, 200/202, 30 s, 3 retries; after everything else |
//!
//! # Choices
//!
//! * Provider versions are pinned exactly as Cortex's own bundle pins them (azuread 3.6.0,
//!   azurerm 4.52.0, terracurl 2.1.0); its azapi provider is not needed here.
//! * Microsoft Graph's service principal is read with a data source, never adopted as a
//!   resource (`use_existing`): `terraform destroy` would delete it (see [`crate::builtin`]).
//!   Cortex's own service principal is read by object ID too, so a tenant that has not
//!   approved Cortex's application fails at `plan`, before anything is created.
//! * Graph roles are granted by name (`app_role_ids[...]`), so no GUID list is needed.

use serde_json::{Map, Value, json};

use super::model::{self, Flavor};
use super::{CortexConfig, CortexTemplate};
use crate::builtin::{REQUIRED_TERRAFORM, planned_resources, render_blocks};

pub const AZUREAD_VERSION: &str = "3.6.0";
pub const AZURERM_VERSION: &str = "4.52.0";
pub const TERRACURL_VERSION: &str = "2.1.0";

/// Generates the real configuration for `template`.
pub fn generate(template: &CortexTemplate) -> CortexConfig {
    let m = model::model(template, Flavor::Real);
    let mut data = Map::new();
    data.insert(
        "azuread_application_published_app_ids".into(),
        json!({ "well_known": {} }),
    );
    data.insert(
        "azuread_service_principal".into(),
        json!({
            "msgraph": {
                "client_id": "${data.azuread_application_published_app_ids.well_known.result[\"MicrosoftGraph\"]}",
            },
            "cortex": { "object_id": "${var.customer_object_id}" },
        }),
    );
    data.insert(
        "azurerm_subscription".into(),
        json!({ "hosting": { "subscription_id": "${var.subscription_id}" } }),
    );
    let main = json!({
        "terraform": {
            "required_version": REQUIRED_TERRAFORM,
            "required_providers": {
                "azuread": { "source": "hashicorp/azuread", "version": AZUREAD_VERSION },
                "azurerm": { "source": "hashicorp/azurerm", "version": AZURERM_VERSION },
                "terracurl": { "source": "devops-rob/terracurl", "version": TERRACURL_VERSION },
            },
        },
        "provider": {
            "azuread": { "tenant_id": "${var.tenant_id}", "environment": "${var.cloud_environment}" },
            "azurerm": {
                "tenant_id": "${var.tenant_id}",
                "subscription_id": "${var.subscription_id}",
                "environment": "${var.cloud_environment}",
                "features": { "resource_group": { "prevent_deletion_if_contains_resources": false } },
            },
            "terracurl": {},
        },
        "variable": Value::Object(m.variables),
        "locals": Value::Object(m.locals),
        "data": Value::Object(data),
        "resource": render_blocks(&m.blocks),
        "output": Value::Object(m.outputs),
    });
    CortexConfig {
        main_tf_json: main,
        resources: planned_resources(&m.blocks),
    }
}
