//! Runs the real `terraform` binary on the generated configurations.
//!
//! * The **twin** goes through the whole cycle offline: `init`, `validate -json`,
//!   `plan -out`, `apply -json` (every planned resource must complete), `output -json`, and a
//!   second `plan -detailed-exitcode` that must find no changes.
//! * The **builtin** configuration cannot be validated here: `terraform init` has to download
//!   azuread/azurerm/time from the registry, which is unreachable, and `validate` (even
//!   `terraform test` with mock providers) needs the provider schemas
//!   (`terraform-azure.md` §2.2). `terraform fmt` only reads HCL. So for the builtin
//!   configuration we check that the written file is valid JSON with the right top-level
//!   keys; the golden files and property tests cover its content.
//!
//! Without `terraform` on PATH each test prints `SKIPPED: terraform not on PATH` to stderr and
//! passes.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use azure_config::{ConfigInput, MAIN_FILE, Scope, TFVARS_FILE, builtin, twin};
use common::keys;
use serde_json::Value;

const SEED: &str = "test-seed-5b1f0c";

fn terraform_available() -> bool {
    let found = Command::new("terraform")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("SKIPPED: terraform not on PATH");
    }
    found
}

fn terraform(dir: &Path, args: &[&str]) -> Output {
    Command::new("terraform")
        .args(args)
        .current_dir(dir)
        .env("TF_IN_AUTOMATION", "1")
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_VAR_twin_secret_seed", SEED)
        .output()
        .expect("run terraform")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = terraform(dir, args);
    assert!(
        out.status.success(),
        "terraform {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

fn run_twin(input: &ConfigInput) {
    if !terraform_available() {
        return;
    }
    let config = twin::generate(input, 0.1).expect("twin");
    let dir = tempfile::tempdir().expect("tempdir");
    config.write_to(dir.path()).expect("write config");
    let d = dir.path();

    ok(d, &["init", "-input=false", "-no-color"]);

    let validate: Value =
        serde_json::from_str(&ok(d, &["validate", "-json", "-no-color"])).expect("validate -json");
    assert_eq!(validate["valid"], true, "{validate:#}");

    ok(d, &["plan", "-input=false", "-no-color", "-out=p"]);

    let stream = ok(d, &["apply", "-input=false", "-json", "p"]);
    let mut completed = BTreeSet::new();
    let mut started = BTreeSet::new();
    for line in stream.lines() {
        let msg: Value = serde_json::from_str(line).expect("JSON UI line");
        let addr = msg["hook"]["resource"]["addr"].as_str().map(str::to_owned);
        match (msg["type"].as_str(), addr) {
            (Some("apply_start"), Some(a)) => {
                started.insert(a);
            }
            (Some("apply_complete"), Some(a)) => {
                completed.insert(a);
            }
            _ => {}
        }
        assert!(!line.contains(SEED), "the seed leaked into the UI stream");
    }
    let planned: BTreeSet<String> = config.resources.iter().map(|r| r.address.clone()).collect();
    assert_eq!(started, planned, "{:?}: apply_start addresses", input.scope);
    assert_eq!(
        completed, planned,
        "{:?}: apply_complete addresses",
        input.scope
    );

    let outputs: Value = serde_json::from_str(&ok(d, &["output", "-json"])).expect("output -json");
    let names = config.output_names;
    let want: BTreeSet<&str> = names.all().into_iter().collect();
    assert_eq!(keys(&outputs), want);
    for name in &want {
        assert_eq!(
            outputs[*name]["sensitive"],
            names.is_sensitive(name),
            "{name}"
        );
    }
    let value = |name: &str| outputs[name]["value"].as_str().expect("string").to_owned();
    assert_eq!(value(names.tenant_id), common::TENANT);
    assert!(is_guid(&value(names.client_id)));
    assert!(is_guid(&value(names.service_principal_object_id)));
    assert_ne!(
        value(names.client_id),
        value(names.service_principal_object_id)
    );
    let secret = value(names.client_secret);
    assert_eq!(secret.len(), 40);
    assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()));
    if let Some(sub) = names.subscription_id {
        assert_eq!(value(sub), common::SUBSCRIPTION);
    }
    if let Some(expiry) = names.secret_expiry {
        let e = value(expiry);
        assert!(e.len() >= 20 && e.contains('T') && e.ends_with('Z'), "{e}");
    }

    // Deterministic: re-planning the same input finds nothing to do.
    let again = terraform(
        d,
        &["plan", "-input=false", "-no-color", "-detailed-exitcode"],
    );
    assert_eq!(
        again.status.code(),
        Some(0),
        "second plan is not empty:\n{}",
        String::from_utf8_lossy(&again.stdout)
    );

    // Same input, fresh directory: same IDs and the same secret.
    let dir2 = tempfile::tempdir().expect("tempdir");
    config.write_to(dir2.path()).expect("write config");
    ok(dir2.path(), &["init", "-input=false", "-no-color"]);
    ok(
        dir2.path(),
        &["apply", "-input=false", "-no-color", "-auto-approve"],
    );
    let outputs2: Value =
        serde_json::from_str(&ok(dir2.path(), &["output", "-json"])).expect("output -json");
    for name in [
        names.client_id,
        names.service_principal_object_id,
        names.client_secret,
    ] {
        assert_eq!(outputs[name]["value"], outputs2[name]["value"], "{name}");
    }
}

#[test]
fn twin_subscription_applies_offline() {
    let mut input = common::input(Scope::Subscription);
    input.features = common::all_features();
    input.flow_logs = true;
    input.directory_readers = true;
    input.audit_log_export = Some(common::audit());
    run_twin(&input);
}

#[test]
fn twin_tenant_applies_offline() {
    let mut input = common::input(Scope::TenantWithGroups);
    input.features = common::all_features();
    input.flow_logs = true;
    input.directory_readers = true;
    input.audit_log_export = Some(common::audit());
    run_twin(&input);
}

#[test]
fn twin_entra_only_applies_offline() {
    let mut input = common::input(Scope::EntraOnly);
    input.directory_readers = true;
    run_twin(&input);
}

#[test]
fn twin_minimal_tenant_without_provider_subscription_applies_offline() {
    let mut input = common::input(Scope::TenantWithGroups);
    input.subscription_id = None;
    run_twin(&input);
}

/// See the module docs: the builtin configuration is checked for shape only.
#[test]
fn builtin_files_are_json_with_the_expected_top_level_keys() {
    for (stem, input) in common::golden_cases() {
        let config = builtin::generate(&input).expect("builtin");
        let dir = tempfile::tempdir().expect("tempdir");
        config.write_to(dir.path()).expect("write");
        let main: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(MAIN_FILE)).unwrap())
                .expect("main.tf.json is JSON");
        let tfvars: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(TFVARS_FILE)).unwrap())
                .expect("terraform.tfvars.json is JSON");
        let mut want: BTreeSet<&str> =
            ["output", "provider", "resource", "terraform", "variable"].into();
        if input.scope != Scope::Subscription {
            want.insert("data");
        }
        assert_eq!(keys(&main), want, "{stem}");
        assert!(tfvars.is_object());
        assert_eq!(main, config.main_tf_json);
    }
}
