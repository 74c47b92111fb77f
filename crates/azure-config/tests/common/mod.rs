//! Inputs shared by the integration tests.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use azure_config::{AuditLogExport, ConfigInput, DEFAULT_SECRET_ROTATION_DAYS, Scope};
use prisma_types::{Environment, Feature, FeatureSet, SubscriptionId, TenantId};
use serde_json::Value;

pub const TENANT: &str = "11111111-2222-4333-8444-555555555555";
pub const SUBSCRIPTION: &str = "66666666-7777-4888-9999-aaaaaaaaaaaa";
/// Unlikely to occur by chance in a configuration.
pub const SUFFIX: &str = "q7z2k";
pub const AUDIT_RG: &str = "rg-prisma-audit-q7";
pub const AUDIT_LOCATION: &str = "westeurope";
pub const AUDIT_NAMESPACE: &str = "evhns-prisma-audit-q7";

pub fn audit() -> AuditLogExport {
    AuditLogExport {
        resource_group: AUDIT_RG.into(),
        location: AUDIT_LOCATION.into(),
        namespace_name: AUDIT_NAMESPACE.into(),
    }
}

/// A valid input: the subscription is set for the subscription and tenant scopes.
pub fn input(scope: Scope) -> ConfigInput {
    ConfigInput {
        scope,
        tenant_id: TenantId::parse(TENANT).unwrap(),
        subscription_id: (scope != Scope::EntraOnly)
            .then(|| SubscriptionId::parse(SUBSCRIPTION).unwrap()),
        features: FeatureSet::default(),
        flow_logs: false,
        environment: Environment::Azure,
        name_suffix: SUFFIX.into(),
        secret_rotation_days: DEFAULT_SECRET_ROTATION_DAYS,
        directory_readers: false,
        audit_log_export: None,
    }
}

pub fn all_features() -> FeatureSet {
    FeatureSet::new(Feature::ALL)
}

/// The golden cases: (file stem, input).
pub fn golden_cases() -> Vec<(&'static str, ConfigInput)> {
    let with = |scope: Scope, f: &dyn Fn(&mut ConfigInput)| {
        let mut i = input(scope);
        f(&mut i);
        i
    };
    let all_flow = |i: &mut ConfigInput| {
        i.features = all_features();
        i.flow_logs = true;
    };
    let readers_audit = |i: &mut ConfigInput| {
        i.directory_readers = true;
        i.audit_log_export = Some(audit());
    };
    vec![
        ("subscription_none", input(Scope::Subscription)),
        (
            "subscription_all_flow_logs",
            with(Scope::Subscription, &all_flow),
        ),
        (
            "subscription_audit_export",
            with(Scope::Subscription, &|i| i.audit_log_export = Some(audit())),
        ),
        ("tenant_none", input(Scope::TenantWithGroups)),
        (
            "tenant_all_flow_logs",
            with(Scope::TenantWithGroups, &all_flow),
        ),
        (
            "tenant_directory_readers_audit_export",
            with(Scope::TenantWithGroups, &readers_audit),
        ),
        ("entra_none", input(Scope::EntraOnly)),
        (
            "entra_directory_readers",
            with(Scope::EntraOnly, &|i| i.directory_readers = true),
        ),
    ]
}

/// Every combination of options, valid or not.
pub fn all_inputs() -> Vec<ConfigInput> {
    let mut out = Vec::new();
    for scope in Scope::ALL {
        for mask in 0..16u8 {
            let features = FeatureSet::new(
                Feature::ALL
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, f)| f),
            );
            for flow_logs in [false, true] {
                for directory_readers in [false, true] {
                    for export in [false, true] {
                        for environment in [
                            Environment::Azure,
                            Environment::AzureGov,
                            Environment::AzureChina,
                        ] {
                            for with_subscription in [false, true] {
                                let mut i = input(scope);
                                i.features = features.clone();
                                i.flow_logs = flow_logs;
                                i.directory_readers = directory_readers;
                                i.audit_log_export = export.then(audit);
                                i.environment = environment;
                                if !with_subscription {
                                    i.subscription_id = None;
                                }
                                out.push(i);
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

pub fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// Whether `terraform` runs here (the tests that need it say SKIPPED and pass without it).
pub fn terraform_found() -> bool {
    Command::new("terraform")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `terraform ARGS` in `dir` (the twin's secret seed set), asserting success; its stdout.
pub fn terraform(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("terraform")
        .args(args)
        .current_dir(dir)
        .env("TF_IN_AUTOMATION", "1")
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_VAR_twin_secret_seed", "seed-twin-tests")
        .output()
        .expect("run terraform");
    assert!(
        out.status.success(),
        "terraform {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// `terraform show -json` of a saved plan: the resource addresses per action.
pub fn planned(dir: &Path) -> BTreeMap<String, Vec<String>> {
    terraform(dir, &["plan", "-input=false", "-no-color", "-out=p"]);
    let plan: Value = serde_json::from_str(&terraform(dir, &["show", "-json", "p"])).unwrap();
    let mut by_action: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for change in plan["resource_changes"].as_array().unwrap() {
        let actions = change["change"]["actions"].as_array().unwrap();
        let action = actions
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect::<Vec<_>>()
            .join("+");
        by_action
            .entry(action)
            .or_default()
            .push(change["address"].as_str().unwrap().to_owned());
    }
    by_action
}
