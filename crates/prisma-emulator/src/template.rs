//! The Terraform configuration served by `POST /cas/v1/azure_template`.
//!
//! Prisma answers this endpoint with the Terraform configuration itself, in JSON syntax
//! (`.tf.json`). Clients save the body verbatim and run `terraform apply` on it. The shape
//! follows the pan.dev samples (`shared/reference/prisma-api.md` §3.2 and §4,
//! `terraform-azure.md` §3.2–3.4):
//!
//! * top-level keys `terraform`, `provider`, `variable`, `resource` and `output`, plus `data`
//!   for a tenant with management groups;
//! * every `variable` has a default, so `terraform apply` needs no input;
//! * the resource addresses, output names and pinned provider versions are exactly the
//!   documented ones (`random =3.1.0`, `azuread =2.28.1`, `time =0.7.0`, `azurerm =3.24.0`).
//!
//! # Choices where the reference is UNCONFIRMED
//!
//! These are our choices. The emulator docs list them. The permission catalog of items 1–2
//! is defined once in `azure_config::permissions` and shared with our own configuration.
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
//!    custom role. [`azure_template`] passes `flow_logs = false`, because the request has no
//!    such flag.
//! 3. **Azure Government.** `cloud_environment` defaults to `usgovernment` (valid for azuread
//!    2.x and azurerm 3.x). For a Gov template only, the azurerm provider also gets
//!    `environment = var.cloud_environment`. Prisma's public sample has no such argument, and
//!    without it azurerm would call the public cloud. `azure_portal_link` defaults to
//!    `https://portal.azure.us/` so that the consent link opens the Gov portal.
//!    `Environment::AzureChina` is mapped to `china` / `https://portal.azure.cn/` only so the
//!    match is complete. The endpoint refuses China before it gets here.
//! 4. **Secret outputs** (`d__application_client_secret`, `c_application_key`) are
//!    `sensitive = true` with the plain `password.value`, not Prisma's `nonsensitive(...)`.
//!    See [`secret_output`] for why.
//! 5. **Entra-ID-only** templates have no azurerm provider block, no `builtin_roles` or
//!    `custom_role_actions` variables, and no role resources. Their `required_providers`
//!    still pins `azurerm =3.24.0`, as Prisma's published sample does although nothing uses
//!    it (so `terraform init` fetches it, as it does for Prisma's real template).
//!    [`custom_role_actions`] returns an empty list for this scope.
//! 6. **Variable types** are `"list"` and `"string"`, as in the sample. In JSON syntax a bare
//!    `list` is Terraform's legacy keyword for `list(any)`, which Terraform still accepts.
//! 7. A `Subscription` input without `subscription_id` yields an empty default. The caller
//!    validates the request first, so this does not happen in practice.
//! 8. `random_password.application_password` is declared but never used, as in Prisma's
//!    template.
//!
//! Key order: `serde_json`'s map sorts keys, so the body's key order differs from Prisma's.
//! Terraform does not care about key order.

#[cfg(test)]
use prisma_types::feature::Feature;
use prisma_types::feature::{Environment, FeatureSet};
use serde_json::{Map, Value, json};

/// Which of the three Azure template shapes to generate: the shared [`azure_config::Scope`]
/// (`Subscription`, `TenantWithGroups` = root management group, `EntraOnly`).
pub use azure_config::Scope as TemplateScope;

/// A validated template request.
#[derive(Clone, Copy, Debug)]
pub struct TemplateInput<'a> {
    pub scope: TemplateScope,
    /// Already validated lower-case GUID.
    pub tenant_id: &'a str,
    /// `Some` for [`TemplateScope::Subscription`]; ignored otherwise.
    pub subscription_id: Option<&'a str>,
    pub features: &'a FeatureSet,
    /// `Azure` or `AzureGov`; the caller refuses `AzureChina`.
    pub environment: Environment,
}

// The permission catalog lives in `azure-config` so that this template and our own
// configuration share one list; it is re-exported here under its old paths.
pub use azure_config::permissions::{
    AGENTLESS_SCANNING_ACTIONS, FLOW_LOG_EXTRA_ACTIONS, FLOW_LOG_STATUS_ACTION, GRAPH_APP_ROLES,
    KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER, MICROSOFT_GRAPH_APP_ID, NETWORK_CONTRIBUTOR, READER,
    READER_AND_DATA_ACCESS, REMEDIATION_ACTIONS, SERVERLESS_FUNCTION_SCANNING_ACTIONS,
    STORAGE_ACCOUNT_CONTRIBUTOR, SUBSCRIPTION_READ_ACTIONS, TENANT_EXTRA_READ_ACTIONS,
    builtin_roles, custom_role_actions,
};

/// The exact output names of the template for `scope` (§4.5), in alphabetical order.
pub fn output_names(scope: TemplateScope) -> &'static [&'static str] {
    azure_config::outputs::prisma_template_names(scope)
}

/// The azuread/azurerm `environment` value for a cloud.
fn cloud_environment(environment: Environment) -> &'static str {
    match environment {
        Environment::Azure => "public",
        Environment::AzureGov => "usgovernment",
        Environment::AzureChina => "china",
    }
}

/// The portal behind `f_consent_link`.
fn portal_link(environment: Environment) -> &'static str {
    match environment {
        Environment::Azure => "https://portal.azure.com/",
        Environment::AzureGov => "https://portal.azure.us/",
        Environment::AzureChina => "https://portal.azure.cn/",
    }
}

const APP_CLIENT_ID: &str = "${azuread_application.prisma_cloud_app.application_id}";
const SP_OBJECT_ID: &str = "${azuread_service_principal.prisma_cloud_sp.id}";
const PASSWORD_VALUE: &str = "${azuread_application_password.password.value}";
const SUBSCRIPTION_SCOPE: &str = "/subscriptions/${var.subscription_id}";
const TENANT_ROOT_SCOPE: &str = "${data.azurerm_management_group.tenant_root_group.id}";

/// The Terraform JSON configuration Prisma would return for `input`.
pub fn azure_template(input: &TemplateInput<'_>) -> Value {
    let mut root = Map::new();
    root.insert("terraform".into(), terraform_block());
    root.insert("provider".into(), providers(input));
    root.insert("variable".into(), variables(input));
    root.insert("resource".into(), resources(input.scope));
    if input.scope == TemplateScope::TenantWithGroups {
        root.insert(
            "data".into(),
            json!({
                "azurerm_management_group": {
                    "tenant_root_group": { "name": "${var.tenant_id}" }
                }
            }),
        );
    }
    root.insert("output".into(), outputs(input.scope));
    Value::Object(root)
}

/// The same four pins for every scope, as in Prisma's samples (the Entra-ID-only one pins
/// azurerm without using it).
fn terraform_block() -> Value {
    json!({ "required_providers": {
        "random": "=3.1.0",
        "azuread": "=2.28.1",
        "time": "=0.7.0",
        "azurerm": "=3.24.0",
    }})
}

fn providers(input: &TemplateInput<'_>) -> Value {
    let mut provider = json!({
        "random": {},
        "azuread": {
            "tenant_id": "${var.tenant_id}",
            "environment": "${var.cloud_environment}",
        },
        "time": {},
    });
    let mut azurerm = match input.scope {
        TemplateScope::EntraOnly => return provider,
        TemplateScope::Subscription => json!({
            "tenant_id": "${var.tenant_id}",
            "subscription_id": "${var.subscription_id}",
            "features": {},
        }),
        TemplateScope::TenantWithGroups => json!({
            "tenant_id": "${var.tenant_id}",
            "features": {},
        }),
    };
    if input.environment != Environment::Azure {
        azurerm["environment"] = json!("${var.cloud_environment}");
    }
    provider["azurerm"] = azurerm;
    provider
}

fn string_var(default: &str) -> Value {
    json!({ "default": default, "type": "string" })
}

fn list_var<'s>(default: impl IntoIterator<Item = &'s str>) -> Value {
    json!({ "default": default.into_iter().collect::<Vec<_>>(), "type": "list" })
}

fn variables(input: &TemplateInput<'_>) -> Value {
    let scope = input.scope;
    let mut vars = Map::new();
    vars.insert("tenant_id".into(), string_var(input.tenant_id));
    if scope == TemplateScope::Subscription {
        vars.insert(
            "subscription_id".into(),
            string_var(input.subscription_id.unwrap_or("")),
        );
    }
    if scope != TemplateScope::EntraOnly {
        vars.insert(
            "builtin_roles".into(),
            list_var(builtin_roles(input.features, false)),
        );
        vars.insert(
            "custom_role_actions".into(),
            list_var(custom_role_actions(scope, input.features, false)),
        );
    }
    if scope != TemplateScope::Subscription {
        vars.insert(
            "active_directory_graph_api_roles".into(),
            list_var(GRAPH_APP_ROLES.iter().map(|&(guid, _)| guid)),
        );
        vars.insert(
            "azure_portal_link".into(),
            string_var(portal_link(input.environment)),
        );
    }
    vars.insert(
        "cloud_environment".into(),
        string_var(cloud_environment(input.environment)),
    );
    vars.insert(
        "application_password_expiration".into(),
        string_var("8760h"),
    );
    Value::Object(vars)
}

fn resources(scope: TemplateScope) -> Value {
    let mut app = json!({
        "display_name": "Prisma Cloud App ${random_string.unique_id.result}",
        "web": { "homepage_url": "https://www.paloaltonetworks.com/prisma/cloud" },
    });
    if scope != TemplateScope::Subscription {
        app["required_resource_access"] = json!({
            "resource_app_id": MICROSOFT_GRAPH_APP_ID,
            "dynamic": {
                "resource_access": {
                    "for_each": "${toset(var.active_directory_graph_api_roles)}",
                    "content": { "id": "${resource_access.value}", "type": "Role" },
                }
            },
        });
    }
    let mut resource = json!({
        "random_string": {
            "unique_id": { "length": 5, "min_lower": 5, "special": false }
        },
        "azuread_application": { "prisma_cloud_app": app },
        "azuread_service_principal": {
            "prisma_cloud_sp": { "application_id": APP_CLIENT_ID }
        },
        "azuread_application_password": {
            "password": {
                "application_object_id": "${azuread_application.prisma_cloud_app.object_id}",
                "end_date_relative": "${var.application_password_expiration}",
            }
        },
        "random_password": {
            "application_password": { "length": 32, "special": true }
        },
    });
    let (role_scope, role_name) = match scope {
        TemplateScope::EntraOnly => return resource,
        TemplateScope::Subscription => (
            SUBSCRIPTION_SCOPE,
            "Prisma Cloud ${random_string.unique_id.result}",
        ),
        TemplateScope::TenantWithGroups => (
            TENANT_ROOT_SCOPE,
            "prisma-cloud-policy-${random_string.unique_id.result}",
        ),
    };
    resource["azurerm_role_definition"] = json!({
        "custom_prisma_role": {
            "name": role_name,
            "scope": role_scope,
            "assignable_scopes": [role_scope],
            "description": "Prisma Cloud custom role created via Terraform",
            "permissions": {
                "actions": "${var.custom_role_actions}",
                "not_actions": [],
            },
            "timeouts": { "create": "5m", "read": "5m" },
        }
    });
    resource["time_sleep"] = json!({
        "wait_20_seconds": {
            "depends_on": ["azurerm_role_definition.custom_prisma_role"],
            "create_duration": "20s",
        }
    });
    resource["azurerm_role_assignment"] = json!({
        "assign_builtin_roles": {
            "for_each": "${toset(var.builtin_roles)}",
            "role_definition_name": "${each.key}",
            "principal_id": SP_OBJECT_ID,
            "scope": role_scope,
            "skip_service_principal_aad_check": true,
        },
        "assign_custom_prisma_role": {
            "role_definition_id":
                "${azurerm_role_definition.custom_prisma_role.role_definition_resource_id}",
            "depends_on": ["time_sleep.wait_20_seconds"],
            "principal_id": SP_OBJECT_ID,
            "scope": role_scope,
            "skip_service_principal_aad_check": true,
        },
    });
    resource
}

/// The client-secret output.
///
/// Prisma's template wraps the value in `nonsensitive(...)`. Terraform refuses an output that
/// reads a sensitive attribute unless it is marked, and that is how Prisma gets past the
/// check. The cost is that `terraform apply` then prints the secret in clear text in the
/// console, in CI logs and in any captured `-json` UI stream. `sensitive = true` hides it
/// from those places. `terraform output -json` still returns the value, and that is the one
/// deliberate way for a client to read it back.
fn secret_output() -> Value {
    json!({ "value": PASSWORD_VALUE, "sensitive": true })
}

fn value_output(value: &str) -> Value {
    json!({ "value": value })
}

fn outputs(scope: TemplateScope) -> Value {
    match scope {
        TemplateScope::Subscription => json!({
            "a__directory_tenant_id": value_output("${var.tenant_id}"),
            "b__subscription_id": value_output("${var.subscription_id}"),
            "c__application_client_id": value_output(APP_CLIENT_ID),
            "d__application_client_secret": secret_output(),
            "e__enterprise_application_object_id": value_output(SP_OBJECT_ID),
        }),
        TemplateScope::TenantWithGroups | TemplateScope::EntraOnly => json!({
            "a_active_directory_id": value_output("${var.tenant_id}"),
            "b_application_id": value_output(APP_CLIENT_ID),
            "c_application_key": secret_output(),
            "d_application_key_expiration":
                value_output("${azuread_application_password.password.end_date}"),
            "e_service_principal_object_id": value_output(SP_OBJECT_ID),
            "f_consent_link": value_output(
                "${var.azure_portal_link}?quickstart=true#blade/Microsoft_AAD_RegisteredApps/\
                 ApplicationMenuBlade/CallAnAPI/appId/\
                 ${azuread_application.prisma_cloud_app.application_id}/isMSAApp/"
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    const TENANT: &str = "11111111-2222-4333-8444-555555555555";
    const SUBSCRIPTION: &str = "66666666-7777-4888-9999-aaaaaaaaaaaa";
    const ALL_SCOPES: [TemplateScope; 3] = [
        TemplateScope::Subscription,
        TemplateScope::TenantWithGroups,
        TemplateScope::EntraOnly,
    ];

    fn template(scope: TemplateScope, features: &FeatureSet, environment: Environment) -> Value {
        let subscription_id = (scope == TemplateScope::Subscription).then_some(SUBSCRIPTION);
        azure_template(&TemplateInput {
            scope,
            tenant_id: TENANT,
            subscription_id,
            features,
            environment,
        })
    }

    fn plain(scope: TemplateScope) -> Value {
        template(scope, &FeatureSet::default(), Environment::Azure)
    }

    fn keys(v: &Value) -> BTreeSet<&str> {
        v.as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect()
    }

    fn str_list(v: &Value) -> Vec<&str> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|s| s.as_str().expect("string"))
            .collect()
    }

    fn all_strings<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
        match v {
            Value::String(s) => out.push(s),
            Value::Array(items) => items.iter().for_each(|i| all_strings(i, out)),
            Value::Object(map) => map.values().for_each(|i| all_strings(i, out)),
            _ => {}
        }
    }

    fn assert_unique(list: &[&str]) {
        let lower: BTreeSet<String> = list.iter().map(|a| a.to_ascii_lowercase()).collect();
        assert_eq!(lower.len(), list.len(), "duplicates in {list:?}");
    }

    #[test]
    fn outputs_are_exactly_the_documented_names() {
        for scope in ALL_SCOPES {
            let t = plain(scope);
            let want: BTreeSet<&str> = output_names(scope).iter().copied().collect();
            assert_eq!(keys(&t["output"]), want, "{scope:?}");
        }
        assert!(
            output_names(TemplateScope::Subscription)
                .iter()
                .all(|n| n.contains("__"))
        );
        assert!(
            output_names(TemplateScope::EntraOnly)
                .iter()
                .all(|n| !n.contains("__"))
        );
        assert_eq!(
            output_names(TemplateScope::TenantWithGroups),
            output_names(TemplateScope::EntraOnly)
        );
    }

    #[test]
    fn top_level_keys_per_scope() {
        let base = ["output", "provider", "resource", "terraform", "variable"];
        let with_data: BTreeSet<&str> = base.into_iter().chain(["data"]).collect();
        assert_eq!(
            keys(&plain(TemplateScope::Subscription)),
            base.into_iter().collect()
        );
        assert_eq!(keys(&plain(TemplateScope::TenantWithGroups)), with_data);
        assert_eq!(
            keys(&plain(TemplateScope::EntraOnly)),
            base.into_iter().collect()
        );
    }

    #[test]
    fn subscription_template_shape() {
        let t = plain(TemplateScope::Subscription);
        assert!(t.get("data").is_none());
        assert_eq!(t["variable"]["subscription_id"]["default"], SUBSCRIPTION);
        assert_eq!(t["variable"]["tenant_id"]["default"], TENANT);
        assert!(
            t["variable"]
                .get("active_directory_graph_api_roles")
                .is_none()
        );
        assert!(t["variable"].get("azure_portal_link").is_none());
        assert_eq!(
            t["provider"]["azurerm"]["subscription_id"],
            "${var.subscription_id}"
        );
        assert!(t["provider"]["azurerm"].get("environment").is_none());
        let app = &t["resource"]["azuread_application"]["prisma_cloud_app"];
        assert!(app.get("required_resource_access").is_none());
        let role = &t["resource"]["azurerm_role_definition"]["custom_prisma_role"];
        assert_eq!(role["scope"], "/subscriptions/${var.subscription_id}");
        assert_eq!(
            str_list(&role["assignable_scopes"]),
            ["/subscriptions/${var.subscription_id}"]
        );
        assert_eq!(
            role["name"],
            "Prisma Cloud ${random_string.unique_id.result}"
        );
        assert_eq!(role["permissions"]["actions"], "${var.custom_role_actions}");
        for a in ["assign_builtin_roles", "assign_custom_prisma_role"] {
            let ra = &t["resource"]["azurerm_role_assignment"][a];
            assert_eq!(ra["scope"], "/subscriptions/${var.subscription_id}");
            assert_eq!(ra["skip_service_principal_aad_check"], true);
            assert_eq!(
                ra["principal_id"],
                "${azuread_service_principal.prisma_cloud_sp.id}"
            );
        }
        assert_eq!(
            t["resource"]["azurerm_role_assignment"]["assign_builtin_roles"]["for_each"],
            "${toset(var.builtin_roles)}"
        );
        assert_eq!(
            str_list(&t["variable"]["builtin_roles"]["default"]),
            ["Reader"]
        );
    }

    #[test]
    fn tenant_template_shape() {
        let t = plain(TemplateScope::TenantWithGroups);
        assert_eq!(
            t["data"]["azurerm_management_group"]["tenant_root_group"]["name"],
            "${var.tenant_id}"
        );
        assert!(t["variable"].get("subscription_id").is_none());
        assert!(t["provider"]["azurerm"].get("subscription_id").is_none());
        let guids = str_list(&t["variable"]["active_directory_graph_api_roles"]["default"]);
        assert_eq!(guids.len(), 8);
        assert_eq!(guids, GRAPH_APP_ROLES.map(|(g, _)| g));
        assert_eq!(
            t["variable"]["azure_portal_link"]["default"],
            "https://portal.azure.com/"
        );
        let rra =
            &t["resource"]["azuread_application"]["prisma_cloud_app"]["required_resource_access"];
        assert_eq!(rra["resource_app_id"], MICROSOFT_GRAPH_APP_ID);
        let dynamic = &rra["dynamic"]["resource_access"];
        assert_eq!(
            dynamic["for_each"],
            "${toset(var.active_directory_graph_api_roles)}"
        );
        assert_eq!(dynamic["content"]["type"], "Role");
        let role = &t["resource"]["azurerm_role_definition"]["custom_prisma_role"];
        assert_eq!(role["scope"], TENANT_ROOT_SCOPE);
        assert_eq!(
            role["name"],
            "prisma-cloud-policy-${random_string.unique_id.result}"
        );
        for a in ["assign_builtin_roles", "assign_custom_prisma_role"] {
            assert_eq!(
                t["resource"]["azurerm_role_assignment"][a]["scope"],
                TENANT_ROOT_SCOPE
            );
        }
        let actions = str_list(&t["variable"]["custom_role_actions"]["default"]);
        assert_eq!(actions.len(), 58);
        assert!(actions.contains(&FLOW_LOG_STATUS_ACTION));
    }

    #[test]
    fn entra_only_has_no_azurerm() {
        let t = plain(TemplateScope::EntraOnly);
        assert!(t["provider"].get("azurerm").is_none());
        assert_eq!(
            t["terraform"]["required_providers"]["azurerm"], "=3.24.0",
            "pinned though unused, as in Prisma's sample"
        );
        assert!(t.get("data").is_none());
        let resource_types = keys(&t["resource"]);
        assert!(
            resource_types.iter().all(|r| !r.starts_with("azurerm_")),
            "{resource_types:?}"
        );
        assert!(!resource_types.contains("time_sleep"));
        for v in ["builtin_roles", "custom_role_actions", "subscription_id"] {
            assert!(t["variable"].get(v).is_none(), "{v}");
        }
        assert_eq!(
            t["variable"]["active_directory_graph_api_roles"]["default"]
                .as_array()
                .map(Vec::len),
            Some(8)
        );
        assert!(
            t["resource"]["azuread_application"]["prisma_cloud_app"]
                .get("required_resource_access")
                .is_some()
        );
        let all = FeatureSet::new(Feature::ALL);
        assert!(custom_role_actions(TemplateScope::EntraOnly, &all, true).is_empty());
    }

    #[test]
    fn providers_are_pinned_exactly() {
        for scope in ALL_SCOPES {
            assert_eq!(
                plain(scope)["terraform"]["required_providers"],
                json!({
                    "random": "=3.1.0",
                    "azuread": "=2.28.1",
                    "time": "=0.7.0",
                    "azurerm": "=3.24.0",
                })
            );
        }
        for scope in ALL_SCOPES {
            let t = plain(scope);
            assert_eq!(t["provider"]["azuread"]["tenant_id"], "${var.tenant_id}");
            assert_eq!(
                t["provider"]["azuread"]["environment"],
                "${var.cloud_environment}"
            );
            assert_eq!(t["provider"]["random"], json!({}));
            assert_eq!(t["provider"]["time"], json!({}));
        }
    }

    #[test]
    fn every_variable_has_a_default() {
        for scope in ALL_SCOPES {
            let t = plain(scope);
            let vars = t["variable"].as_object().unwrap();
            for (name, v) in vars {
                assert!(v.get("default").is_some(), "{scope:?} {name}");
            }
            assert_eq!(t["variable"]["cloud_environment"]["default"], "public");
            assert_eq!(
                t["variable"]["application_password_expiration"]["default"],
                "8760h"
            );
        }
    }

    /// Every `${...}` reference points at something the configuration declares.
    #[test]
    fn references_resolve() {
        let all = FeatureSet::new(Feature::ALL);
        for scope in ALL_SCOPES {
            let t = template(scope, &all, Environment::Azure);
            let mut strings = Vec::new();
            all_strings(&t, &mut strings);
            let mut checked = 0;
            for s in strings {
                let mut rest = s;
                while let Some(start) = rest.find("${") {
                    let after = &rest[start + 2..];
                    let end = after.find('}').expect("closed interpolation");
                    let expr = &after[..end];
                    rest = &after[end + 1..];
                    let tokens = expr
                        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                        .filter(|tok| tok.contains('.'));
                    for tok in tokens {
                        let parts: Vec<&str> = tok.split('.').collect();
                        checked += 1;
                        match parts[0] {
                            "var" => assert!(t["variable"].get(parts[1]).is_some(), "{tok}"),
                            "data" => assert!(!t["data"][parts[1]][parts[2]].is_null(), "{tok}"),
                            "each" | "resource_access" => {}
                            ty => assert!(!t["resource"][ty][parts[1]].is_null(), "{tok}"),
                        }
                    }
                }
            }
            assert!(checked > 10, "{scope:?}");
            if let Some(by_type) = t["resource"].as_object() {
                for (ty, by_name) in by_type {
                    for (name, body) in by_name.as_object().unwrap() {
                        for dep in body.get("depends_on").map(str_list).unwrap_or_default() {
                            let (dty, dname) = dep.split_once('.').unwrap();
                            assert!(!t["resource"][dty][dname].is_null(), "{ty}.{name}: {dep}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn base_lists_match_the_samples() {
        let none = FeatureSet::default();
        let sub = custom_role_actions(TemplateScope::Subscription, &none, false);
        assert_eq!(SUBSCRIPTION_READ_ACTIONS.len(), 26);
        assert_eq!(TENANT_EXTRA_READ_ACTIONS.len(), 31);
        assert_eq!(&sub[..26], SUBSCRIPTION_READ_ACTIONS);
        assert_eq!(sub[26..], [FLOW_LOG_STATUS_ACTION]);
        let tenant = custom_role_actions(TemplateScope::TenantWithGroups, &none, false);
        assert_eq!(tenant.len(), 58);
        assert_eq!(&tenant[..26], SUBSCRIPTION_READ_ACTIONS);
        assert_eq!(&tenant[26..57], TENANT_EXTRA_READ_ACTIONS);
        assert_eq!(tenant[57], FLOW_LOG_STATUS_ACTION);
        assert_unique(&sub);
        assert_unique(&tenant);
        let t = plain(TemplateScope::Subscription);
        assert_eq!(
            str_list(&t["variable"]["custom_role_actions"]["default"]),
            sub
        );
    }

    #[test]
    fn agentless_adds_snapshot_writes_without_duplicates() {
        let none = FeatureSet::default();
        let agentless = FeatureSet::new([Feature::AgentlessScanning]);
        for scope in [TemplateScope::Subscription, TemplateScope::TenantWithGroups] {
            let before = custom_role_actions(scope, &none, false);
            let after = custom_role_actions(scope, &agentless, false);
            assert!(!before.contains(&"Microsoft.Compute/snapshots/write"));
            assert!(after.contains(&"Microsoft.Compute/snapshots/write"));
            assert!(after.contains(&"Microsoft.Compute/disks/beginGetAccess/action"));
            assert!(after.contains(&"Microsoft.Resources/subscriptions/resourceGroups/write"));
            assert_eq!(
                &after[..before.len()],
                &before[..],
                "base list keeps its order"
            );
            assert_unique(&after);
            let t = template(scope, &agentless, Environment::Azure);
            let default = str_list(&t["variable"]["custom_role_actions"]["default"]);
            assert!(default.contains(&"Microsoft.Compute/snapshots/write"));
            assert_unique(&default);
        }
        // The tenant base already reads disks; agentless must not repeat it.
        let tenant = custom_role_actions(TemplateScope::TenantWithGroups, &agentless, false);
        assert_eq!(
            tenant
                .iter()
                .filter(|a| **a == "Microsoft.Compute/disks/read")
                .count(),
            1
        );
    }

    #[test]
    fn remediation_adds_storage_write_and_roles() {
        let remediation = FeatureSet::new([Feature::Remediation]);
        let actions = custom_role_actions(TemplateScope::Subscription, &remediation, false);
        assert!(actions.contains(&"Microsoft.Storage/storageAccounts/write"));
        assert!(actions.contains(&"Microsoft.Network/networkSecurityGroups/securityRules/write"));
        let roles = builtin_roles(&remediation, false);
        assert_eq!(
            roles,
            [READER, STORAGE_ACCOUNT_CONTRIBUTOR, NETWORK_CONTRIBUTOR]
        );
        let t = template(
            TemplateScope::TenantWithGroups,
            &remediation,
            Environment::Azure,
        );
        assert!(
            str_list(&t["variable"]["builtin_roles"]["default"])
                .contains(&"Storage Account Contributor")
        );
    }

    #[test]
    fn serverless_and_auto_protect() {
        let serverless = FeatureSet::new([Feature::ServerlessFunctionScanning]);
        let actions = custom_role_actions(TemplateScope::Subscription, &serverless, false);
        assert!(actions.contains(&"Microsoft.Web/sites/config/list/action"));
        assert!(actions.contains(&"Microsoft.Web/sites/publishxml/action"));
        assert_eq!(builtin_roles(&serverless, false), [READER]);

        let auto = FeatureSet::new([Feature::AutoProtect]);
        assert_eq!(
            builtin_roles(&auto, false),
            [READER, KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER]
        );
        assert_eq!(
            custom_role_actions(TemplateScope::Subscription, &auto, false),
            custom_role_actions(TemplateScope::Subscription, &FeatureSet::default(), false)
        );
    }

    #[test]
    fn builtin_roles_order_and_flow_logs() {
        let none = FeatureSet::default();
        assert_eq!(builtin_roles(&none, false), [READER]);
        assert_eq!(builtin_roles(&none, true), [READER, READER_AND_DATA_ACCESS]);
        let all = FeatureSet::new(Feature::ALL);
        let roles = builtin_roles(&all, true);
        assert_eq!(
            roles,
            [
                READER,
                READER_AND_DATA_ACCESS,
                KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER,
                STORAGE_ACCOUNT_CONTRIBUTOR,
                NETWORK_CONTRIBUTOR,
            ]
        );
        assert_unique(&roles);
        let with_flow = custom_role_actions(TemplateScope::Subscription, &all, true);
        let without = custom_role_actions(TemplateScope::Subscription, &all, false);
        assert!(without.contains(&FLOW_LOG_STATUS_ACTION));
        assert!(with_flow.contains(&"Microsoft.Network/networkWatchers/read"));
        assert!(!without.contains(&"Microsoft.Network/networkWatchers/read"));
        assert_unique(&with_flow);
        assert_unique(&without);
        // Stable: the same input gives the same list.
        assert_eq!(
            with_flow,
            custom_role_actions(TemplateScope::Subscription, &all, true)
        );
    }

    #[test]
    fn secret_outputs_are_sensitive_and_never_nonsensitive() {
        let all = FeatureSet::new(Feature::ALL);
        for scope in ALL_SCOPES {
            for env in [Environment::Azure, Environment::AzureGov] {
                let t = template(scope, &all, env);
                let secret = match scope {
                    TemplateScope::Subscription => "d__application_client_secret",
                    _ => "c_application_key",
                };
                assert_eq!(t["output"][secret]["sensitive"], true);
                assert_eq!(
                    t["output"][secret]["value"],
                    "${azuread_application_password.password.value}"
                );
                let others = output_names(scope).iter().filter(|n| **n != secret);
                for name in others {
                    assert!(t["output"][*name].get("sensitive").is_none(), "{name}");
                }
                let text = serde_json::to_string(&t).unwrap();
                assert!(!text.contains("nonsensitive("), "{scope:?}");
            }
        }
    }

    #[test]
    fn consent_link_points_at_the_app() {
        let t = plain(TemplateScope::EntraOnly);
        assert_eq!(
            t["output"]["f_consent_link"]["value"],
            "${var.azure_portal_link}?quickstart=true#blade/Microsoft_AAD_RegisteredApps/\
             ApplicationMenuBlade/CallAnAPI/appId/\
             ${azuread_application.prisma_cloud_app.application_id}/isMSAApp/"
        );
    }

    #[test]
    fn azure_gov_uses_usgovernment() {
        for scope in ALL_SCOPES {
            let t = template(scope, &FeatureSet::default(), Environment::AzureGov);
            assert_eq!(
                t["variable"]["cloud_environment"]["default"],
                "usgovernment"
            );
            if scope != TemplateScope::EntraOnly {
                assert_eq!(
                    t["provider"]["azurerm"]["environment"],
                    "${var.cloud_environment}"
                );
            }
            if scope != TemplateScope::Subscription {
                assert_eq!(
                    t["variable"]["azure_portal_link"]["default"],
                    "https://portal.azure.us/"
                );
            }
        }
    }

    #[test]
    fn graph_roles_are_the_documented_eight() {
        let guids: BTreeSet<&str> = GRAPH_APP_ROLES.iter().map(|(g, _)| *g).collect();
        assert_eq!(guids.len(), 8);
        assert!(
            guids
                .iter()
                .all(|g| g.len() == 36 && g.bytes().filter(|b| *b == b'-').count() == 4)
        );
        assert_eq!(
            GRAPH_APP_ROLES[0],
            ("df021288-bdef-4463-88db-98f22de89214", "User.Read.All")
        );
        assert_eq!(
            GRAPH_APP_ROLES[7],
            ("7ab1d382-f21e-4acd-a863-ba3e13f7da61", "Directory.Read.All")
        );
    }
}
