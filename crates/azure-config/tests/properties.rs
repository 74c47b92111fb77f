//! Properties of every generated configuration, over every combination of options.

mod common;

use std::collections::BTreeSet;

use azure_config::expr::{self, BUILTIN_ROOTS};
use azure_config::{ConfigInput, GeneratedConfig, Scope, builtin, outputs, permissions, twin};
use common::keys;
use serde_json::Value;

/// Every valid input with its builtin and twin configurations.
fn generated() -> Vec<(ConfigInput, GeneratedConfig, GeneratedConfig)> {
    let mut out = Vec::new();
    for input in common::all_inputs() {
        match input.validate() {
            Ok(()) => {
                let b = builtin::generate(&input).expect("valid input generates");
                let t = twin::generate(&input, 0.1).expect("valid input generates a twin");
                out.push((input, b, t));
            }
            Err(e) => {
                assert!(builtin::generate(&input).is_err());
                assert_eq!(twin::generate(&input, 0.1).unwrap_err(), e);
            }
        }
    }
    assert!(out.len() > 500, "only {} valid combinations", out.len());
    for scope in Scope::ALL {
        assert!(out.iter().any(|(i, ..)| i.scope == scope));
    }
    out
}

/// Checks that every reference in `main` resolves, `each` is used only in `for_each` blocks,
/// `depends_on` entries exist, and the variables without a default are all in `tfvars`.
fn assert_references_resolve(what: &str, main: &Value, tfvars: &Value, iterators: &[&str]) {
    let resources = &main["resource"];
    let mut checked = 0;
    for (ty, by_name) in main["resource"].as_object().expect("resources") {
        for (name, body) in by_name.as_object().expect("blocks") {
            let has_for_each = body.get("for_each").is_some();
            for s in expr::all_strings(body) {
                for parts in expr::references(s) {
                    if parts[0] == "each" {
                        assert!(
                            has_for_each,
                            "{what}: {ty}.{name} uses each without for_each"
                        );
                    }
                }
            }
            for dep in body
                .get("depends_on")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let dep = dep.as_str().expect("string");
                let (dty, dname) = dep.split_once('.').expect("type.name");
                assert!(
                    !resources[dty][dname].is_null(),
                    "{what}: {ty}.{name} -> {dep}"
                );
            }
        }
    }
    for s in expr::all_strings(main) {
        for parts in expr::references(s) {
            checked += 1;
            let root = parts[0].as_str();
            match root {
                "var" => assert!(
                    main["variable"].get(&parts[1]).is_some(),
                    "{what}: undeclared var.{} in {s:?}",
                    parts[1]
                ),
                "data" => assert!(
                    parts.len() >= 3 && !main["data"][&parts[1]][&parts[2]].is_null(),
                    "{what}: undeclared data source in {s:?}"
                ),
                r if BUILTIN_ROOTS.contains(&r) || iterators.contains(&r) => {}
                ty => assert!(
                    !resources[ty][&parts[1]].is_null(),
                    "{what}: undeclared {ty}.{} in {s:?}",
                    parts[1]
                ),
            }
        }
    }
    assert!(checked > 10, "{what}: only {checked} references");
    let vars = main["variable"].as_object().expect("variables");
    for (name, var) in vars {
        if var.get("default").is_none() && name != twin::SECRET_SEED_VAR {
            assert!(
                tfvars.get(name).is_some(),
                "{what}: no value for var.{name}"
            );
        }
    }
    for name in keys(tfvars) {
        assert!(
            vars.contains_key(name),
            "{what}: tfvars sets undeclared {name}"
        );
    }
}

#[test]
fn every_reference_points_at_a_declaration() {
    for (input, b, t) in generated() {
        let what = format!("{:?} builtin", input.scope);
        assert_references_resolve(&what, &b.main_tf_json, &b.tfvars_json, &["resource_access"]);
        let what = format!("{:?} twin", input.scope);
        assert_references_resolve(&what, &t.main_tf_json, &t.tfvars_json, &[]);
    }
}

#[test]
fn user_values_live_only_in_tfvars() {
    for (input, b, t) in generated() {
        let mut user_values = vec![
            input.tenant_id.as_str().to_owned(),
            input.name_suffix.clone(),
        ];
        user_values.extend(input.subscription_id.iter().map(|s| s.as_str().to_owned()));
        if let Some(e) = &input.audit_log_export {
            user_values.extend([
                e.resource_group.clone(),
                e.location.clone(),
                e.namespace_name.clone(),
            ]);
        }
        for config in [&b, &t] {
            let main = serde_json::to_string(&config.main_tf_json).unwrap();
            for v in &user_values {
                assert!(
                    !main.contains(v.as_str()),
                    "{:?}: {v} in main.tf.json",
                    input.scope
                );
            }
            let tfvars = serde_json::to_string(&config.tfvars_json).unwrap();
            for v in &user_values {
                assert!(
                    tfvars.contains(v.as_str()),
                    "{:?}: {v} not in tfvars",
                    input.scope
                );
            }
            assert_eq!(
                config.tfvars_json["secret_rotation_days"],
                input.secret_rotation_days
            );
            assert_eq!(
                config.tfvars_json["environment"],
                azure_config::provider_environment(input.environment)
            );
            // Every expression string refers to user input through var.* only.
            for s in expr::all_strings(&config.main_tf_json) {
                if s.contains("${") {
                    for v in &user_values {
                        assert!(!s.contains(v.as_str()), "{s}");
                    }
                }
            }
        }
        // tfvars is identical for the builtin configuration and its twin.
        assert_eq!(b.tfvars_json, t.tfvars_json);
    }
}

#[test]
fn output_names_are_exactly_the_scope_names() {
    for (input, b, t) in generated() {
        let names = outputs::names_for(input.scope);
        let want: BTreeSet<&str> = names.all().into_iter().collect();
        for (kind, config) in [("builtin", &b), ("twin", &t)] {
            assert_eq!(config.output_names, names);
            let out = &config.main_tf_json["output"];
            assert_eq!(keys(out), want, "{:?} {kind}", input.scope);
            for name in &want {
                let sensitive = out[*name].get("sensitive").and_then(Value::as_bool);
                if names.is_sensitive(name) {
                    assert_eq!(sensitive, Some(true), "{name}");
                } else {
                    assert_eq!(sensitive, None, "{name}");
                }
            }
            let text = serde_json::to_string(&config.main_tf_json).unwrap();
            assert!(!text.contains("nonsensitive("), "{kind}");
        }
        assert!(!keys(&b.main_tf_json["output"]).contains(outputs::CONSENT_LINK));
    }
}

#[test]
fn twin_mirrors_the_builtin_graph() {
    for (input, b, t) in generated() {
        assert_eq!(b.resources.len(), t.resources.len(), "{:?}", input.scope);
        for (br, tr) in b.resources.iter().zip(&t.resources) {
            assert_eq!(tr.address, twin::twin_address(&br.address));
            assert_eq!(
                twin::builtin_address(&tr.address).as_deref(),
                Some(&*br.address)
            );
            assert_eq!(tr.resource_type, "terraform_data");
            let deps: Vec<String> = br
                .depends_on
                .iter()
                .map(|d| twin::twin_address(d))
                .collect();
            assert_eq!(tr.depends_on, deps, "{}", br.address);
        }
        let main = &t.main_tf_json;
        assert_eq!(
            keys(main),
            ["output", "resource", "terraform", "variable"].into()
        );
        assert_eq!(keys(&main["resource"]), ["terraform_data"].into());
        assert!(main["terraform"].get("required_providers").is_none());
        for (name, body) in main["resource"]["terraform_data"].as_object().unwrap() {
            let command = &body["provisioner"][0]["local-exec"]["command"];
            assert_eq!(command, "sleep 0.1", "{name}");
        }
        assert_eq!(main["variable"][twin::SECRET_SEED_VAR]["sensitive"], true);
        assert!(
            main["variable"][twin::SECRET_SEED_VAR]
                .get("default")
                .is_none()
        );
    }
}

#[test]
fn planned_resources_are_in_creation_order() {
    for (input, b, _) in generated() {
        let mut seen: Vec<String> = Vec::new();
        let mut addresses = BTreeSet::new();
        for r in &b.resources {
            assert!(
                addresses.insert(r.address.clone()),
                "duplicate {}",
                r.address
            );
            for d in &r.depends_on {
                assert!(
                    seen.contains(d),
                    "{:?}: {} before {d}",
                    input.scope,
                    r.address
                );
            }
            if !seen.contains(&r.config_address()) {
                seen.push(r.config_address());
            }
            let block = &b.main_tf_json["resource"][&r.resource_type][&r.resource_name];
            assert!(!block.is_null(), "{}", r.address);
        }
        let ty_count = |ty: &str| b.resources.iter().filter(|r| r.resource_type == ty).count();
        if input.scope.has_azure_rbac() {
            assert_eq!(
                ty_count("azurerm_role_assignment"),
                permissions::builtin_roles(&input.features, input.flow_logs).len() + 1
            );
        }
        if input.scope.has_graph_permissions() {
            assert_eq!(ty_count("azuread_app_role_assignment"), 8);
            assert!(
                b.resource("azuread_app_role_assignment.msgraph[\"Directory.Read.All\"]")
                    .is_some()
            );
        } else {
            assert_eq!(ty_count("azuread_app_role_assignment"), 0);
        }
        assert_eq!(
            ty_count("azuread_directory_role_assignment"),
            usize::from(input.directory_readers)
        );
        assert_eq!(
            ty_count("azurerm_monitor_aad_diagnostic_setting"),
            usize::from(input.audit_log_export.is_some())
        );
    }
}

#[test]
fn entra_only_has_no_azurerm() {
    for (input, b, t) in generated() {
        if input.scope != Scope::EntraOnly {
            assert!(b.main_tf_json["provider"].get("azurerm").is_some());
            continue;
        }
        for config in [&b, &t] {
            let text = serde_json::to_string(&config.main_tf_json).unwrap();
            assert!(!text.contains("azurerm"), "{text}");
        }
    }
}

#[test]
fn providers_and_azuread_v3_naming() {
    for (input, b, _) in generated() {
        let main = &b.main_tf_json;
        let required = &main["terraform"]["required_providers"];
        assert_eq!(required["azuread"]["version"], builtin::AZUREAD_VERSION);
        assert_eq!(required["time"]["version"], builtin::TIME_VERSION);
        assert_eq!(main["provider"]["azuread"]["tenant_id"], "${var.tenant_id}");
        assert_eq!(
            main["provider"]["azuread"]["environment"],
            "${var.environment}"
        );
        if input.scope.has_azure_rbac() {
            assert_eq!(required["azurerm"]["version"], builtin::AZURERM_VERSION);
            let azurerm = &main["provider"]["azurerm"];
            assert_eq!(azurerm["features"], serde_json::json!({}));
            let sub = match input.scope {
                Scope::Subscription => "${var.subscription_id}",
                _ => "${var.provider_subscription_id}",
            };
            assert_eq!(azurerm["subscription_id"], sub);
            assert_eq!(azurerm["environment"], "${var.environment}");
        }
        // azuread 2.x names must not appear.
        let text = serde_json::to_string(main).unwrap();
        for old in [
            "\"application_object_id\"",
            "end_date_relative",
            ".application_id}",
            "use_existing",
        ] {
            assert!(!text.contains(old), "{old}");
        }
        let r = &main["resource"];
        assert_eq!(
            r["azuread_service_principal"]["prisma_cloud"]["client_id"],
            "${azuread_application.prisma_cloud.client_id}"
        );
        let password = &r["azuread_application_password"]["prisma_cloud"];
        assert_eq!(
            password["application_id"],
            "${azuread_application.prisma_cloud.id}"
        );
        assert_eq!(
            password["end_date"],
            "${time_rotating.secret.rotation_rfc3339}"
        );
        assert_eq!(
            r["time_rotating"]["secret"]["rotation_days"],
            "${var.secret_rotation_days}"
        );
        if input.scope.has_graph_permissions() {
            let grant = &r["azuread_app_role_assignment"]["msgraph"];
            assert_eq!(
                grant["principal_object_id"],
                "${azuread_service_principal.prisma_cloud.object_id}"
            );
            assert_eq!(
                grant["resource_object_id"],
                "${data.azuread_service_principal.msgraph.object_id}"
            );
            let names: Vec<&str> = main["variable"]["graph_app_roles"]["default"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(names, permissions::graph_app_role_names());
        }
        if let Some(rbac) = r.get("azurerm_role_definition") {
            let scope = rbac["prisma_cloud"]["scope"].as_str().unwrap();
            let want = match input.scope {
                Scope::Subscription => "/subscriptions/${var.subscription_id}",
                _ => "/providers/Microsoft.Management/managementGroups/${var.tenant_id}",
            };
            assert_eq!(scope, want);
            for (name, a) in r["azurerm_role_assignment"].as_object().unwrap() {
                assert_eq!(a["scope"], want, "{name}");
                assert_eq!(a["skip_service_principal_aad_check"], true);
                assert_eq!(
                    a["principal_id"],
                    "${azuread_service_principal.prisma_cloud.object_id}"
                );
            }
            let actions: Vec<&str> = main["variable"]["custom_role_actions"]["default"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(
                actions,
                permissions::custom_role_actions(input.scope, &input.features, input.flow_logs)
            );
        }
    }
}
