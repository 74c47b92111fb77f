//! A client-secret rotation on the real `terraform`, through the offline twin: onboarding's
//! password, then a keyed one added beside it (a new secret, the old password untouched), then
//! the old one removed (only it destroyed), read back from the state at every step.
//!
//! Without `terraform` on PATH the test prints `SKIPPED: terraform not on PATH` and passes.

use std::path::Path;

use azure_config::passwords::{PasswordKey, Passwords};
use azure_config::{Scope, builtin, twin};
use serde_json::Value;

mod common;
use common::{input, planned, terraform};

const SECRET: &str = "d__application_client_secret";
const END: &str = "f__application_client_secret_expiration";

fn state(d: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(d.join("terraform.tfstate")).unwrap()).unwrap()
}

fn outputs(d: &Path) -> Value {
    serde_json::from_str(&terraform(d, &["output", "-json"])).unwrap()
}

/// Writes the twin with `passwords`, checks that its plan does only `action` to exactly
/// `addresses` (nothing else changes), and applies it.
fn apply_set(
    d: &Path,
    i: &azure_config::ConfigInput,
    passwords: &Passwords,
    action: &str,
    addresses: &[&str],
) {
    twin::generate_with_passwords(i, 0.0, passwords)
        .unwrap()
        .write_to(d)
        .unwrap();
    let plan = planned(d);
    assert_eq!(
        plan.keys().filter(|a| *a != "no-op").collect::<Vec<_>>(),
        [action],
        "nothing else changes: {plan:#?}"
    );
    assert_eq!(plan[action], addresses);
    terraform(d, &["apply", "-input=false", "-no-color", "p"]);
}

#[test]
fn a_rotation_adds_a_password_then_removes_the_old_one() {
    if !common::terraform_found() {
        eprintln!("SKIPPED: terraform not on PATH");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let i = input(Scope::Subscription);
    twin::generate(&i, 0.0).unwrap().write_to(d).unwrap();
    terraform(d, &["init", "-input=false", "-no-color"]);
    planned(d);
    terraform(d, &["apply", "-input=false", "-no-color", "p"]);
    assert_eq!(Passwords::from_state(&state(d)), Passwords::initial());
    let first = outputs(d);

    let key = PasswordKey::parse("r20261202t0400").unwrap();
    let added = Passwords::initial().with_added(&key);
    apply_set(
        d,
        &i,
        &added,
        "create",
        &[
            "terraform_data.azuread_application_password__rotated[\"r20261202t0400\"]",
            "terraform_data.time_rotating__rotated[\"r20261202t0400\"]",
        ],
    );
    assert_eq!(Passwords::from_state(&state(d)), added);
    let second = outputs(d);
    assert_ne!(
        first[SECRET]["value"], second[SECRET]["value"],
        "the new password's secret"
    );
    assert_eq!(second[SECRET]["sensitive"], true);
    assert!(second[END]["value"].as_str().is_some_and(|e| e.len() >= 20));

    let only = Passwords::only(&key);
    apply_set(
        d,
        &i,
        &only,
        "delete",
        &[
            "terraform_data.azuread_application_password__prisma_cloud",
            "terraform_data.time_rotating__secret",
        ],
    );
    assert_eq!(Passwords::from_state(&state(d)), only);
    assert_eq!(
        outputs(d)[SECRET]["value"],
        second[SECRET]["value"],
        "the secret in use stays"
    );
}

#[test]
fn the_real_configuration_names_the_active_password() {
    let i = input(Scope::TenantWithGroups);
    let key = PasswordKey::parse("r1").unwrap();
    let names = azure_config::outputs::names_for(Scope::TenantWithGroups);
    let initial = builtin::generate(&i).unwrap();
    assert_eq!(
        builtin::generate_with_passwords(&i, &Passwords::initial())
            .unwrap()
            .main_tf_json,
        initial.main_tf_json,
        "onboarding's set is onboarding's configuration"
    );
    let added = builtin::generate_with_passwords(&i, &Passwords::initial().with_added(&key))
        .unwrap()
        .main_tf_json;
    let password = &added["resource"]["azuread_application_password"];
    assert!(password.get("prisma_cloud").is_some());
    assert_eq!(
        password["rotated"]["for_each"],
        "${toset(var.password_keys)}"
    );
    assert_eq!(
        password["rotated"]["end_date"],
        "${time_rotating.rotated[each.key].rotation_rfc3339}"
    );
    assert_eq!(
        added["output"][names.client_secret]["value"],
        "${azuread_application_password.rotated[\"r1\"].value}"
    );
    let only = builtin::generate_with_passwords(&i, &Passwords::only(&key)).unwrap();
    let resource = &only.main_tf_json["resource"];
    assert!(
        resource["azuread_application_password"]
            .get("prisma_cloud")
            .is_none()
    );
    assert!(resource["time_rotating"].get("secret").is_none());
    assert_eq!(only.tfvars_json["password_keys"], serde_json::json!(["r1"]));
    let empty = Passwords {
        initial: false,
        rotated: Vec::new(),
    };
    assert_eq!(
        builtin::generate_with_passwords(&i, &empty)
            .unwrap_err()
            .field,
        "passwords"
    );
}
