//! The tenant's shared identity on the real `terraform`, through its offline twin: one apply
//! for a set of subscriptions, then a larger set on the same state adds only the new
//! subscriptions' role sets (the identity is neither changed nor replaced).
//!
//! Without `terraform` on PATH the test prints `SKIPPED: terraform not on PATH` and passes.

use std::collections::BTreeMap;
use std::path::Path;

use azure_config::tenant_identity::{self, Render, SubscriptionGrant, TenantIdentityInput};

fn twin() -> Render {
    Render::Twin { step_seconds: 0.0 }
}
use prisma_types::{Environment, Feature, FeatureSet, SubscriptionId, TenantId};
use serde_json::Value;

mod common;
use common::{planned, terraform};

fn input(subscriptions: u32) -> TenantIdentityInput {
    let subscriptions: BTreeMap<SubscriptionId, SubscriptionGrant> = (1..=subscriptions)
        .map(|i| {
            let id = SubscriptionId::parse(&format!("{i:08x}-1111-4222-8333-444444444444"));
            let grant = SubscriptionGrant {
                features: if i % 2 == 0 {
                    FeatureSet::new([Feature::Remediation])
                } else {
                    FeatureSet::default()
                },
                flow_logs: false,
            };
            (id.unwrap(), grant)
        })
        .collect();
    TenantIdentityInput {
        tenant_id: TenantId::parse("11111111-2222-4333-8444-555555555555").unwrap(),
        environment: Environment::Azure,
        name_suffix: "sh4rd".into(),
        secret_rotation_days: 90,
        subscriptions,
    }
}

fn creates_of(plan: &BTreeMap<String, Vec<String>>, twin_config: &str) -> usize {
    plan.get("create").map_or(0, |c| {
        c.iter()
            .filter(|a| {
                a.starts_with(&format!("terraform_data.{twin_config}["))
                    || *a == &format!("terraform_data.{twin_config}")
            })
            .count()
    })
}

#[test]
fn a_second_batch_adds_only_its_role_sets() {
    if !common::terraform_found() {
        eprintln!("SKIPPED: terraform not on PATH");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let first = tenant_identity::generate(&input(3), twin()).unwrap();
    first.write_to(d).unwrap();
    terraform(d, &["init", "-input=false", "-no-color"]);
    let plan = planned(d);
    assert_eq!(creates_of(&plan, "azuread_application__prisma_cloud"), 1);
    assert_eq!(creates_of(&plan, "azurerm_role_assignment__custom"), 3);
    assert_eq!(plan.get("create").unwrap().len(), first.resources.len());
    terraform(d, &["apply", "-input=false", "-no-color", "p"]);
    let outputs =
        |d: &Path| -> Value { serde_json::from_str(&terraform(d, &["output", "-json"])).unwrap() };
    let before = outputs(d);

    // Five subscriptions now: the three applied and two new ones.
    let second = tenant_identity::generate(&input(5), twin()).unwrap();
    second.write_to(d).unwrap();
    let plan = planned(d);
    let new_roles = second.resources.len() - first.resources.len();
    assert_eq!(
        plan.keys().filter(|a| *a != "no-op").collect::<Vec<_>>(),
        ["create"],
        "{plan:#?}"
    );
    let created = &plan["create"];
    assert_eq!(created.len(), new_roles, "{created:#?}");
    assert_eq!(creates_of(&plan, "azuread_application__prisma_cloud"), 0);
    assert_eq!(creates_of(&plan, "azurerm_role_assignment__custom"), 2);
    assert!(
        created
            .iter()
            .all(|a| a.contains("00000004-") || a.contains("00000005-")),
        "{created:#?}"
    );
    terraform(d, &["apply", "-input=false", "-no-color", "p"]);
    let after = outputs(d);
    for name in ["c__application_client_id", "d__application_client_secret"] {
        assert_eq!(before[name]["value"], after[name]["value"], "{name}");
    }
}
