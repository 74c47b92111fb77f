//! `discover` on the sandbox tenant: the counts match the seeded tenant and the platform's
//! accounts; a tenant that is not the credentials' is named.

use azure_emulator::tenant_seed::{self, TENANT_ID};
use predicates::prelude::*;
use serde_json::Value;

use crate::common::*;

/// `discover --tenant TENANT_ID --output json` with `extra` arguments: its one JSON object,
/// checked against the published schema.
fn discover_json(sb: &Sandbox, extra: &[&str]) -> Value {
    let out = sb
        .cmd()
        .args(["discover", "--tenant", TENANT_ID, "--output", "json"])
        .args(extra)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let report: Value = serde_json::from_slice(&out).unwrap();
    assert_valid(&validator(cortex_cli::schemas::COVERAGE), &report);
    report
}

#[test]
fn discover_counts_the_seeded_tenant_and_the_onboarded_subscription() {
    let sb = Sandbox::new();
    let seed = tenant_seed::contoso();
    let onboarded = &seed.subscriptions[6];
    sb.cmd()
        .args([
            "onboard",
            "subscription",
            &onboarded.id,
            "--tenant",
            TENANT_ID,
            "--name",
            "corp-app-01",
        ])
        .assert()
        .success();
    let report = discover_json(&sb, &[]);
    assert_eq!(report["type"], "discover");
    assert_eq!(report["platform"], "prisma");
    assert_eq!(report["totals"]["subscriptions"], seed.subscriptions.len());
    assert_eq!(report["totals"]["own_account"], 1);
    assert_eq!(
        report["totals"]["not_onboarded"],
        seed.subscriptions.len() - 1
    );
    let groups = report["groups"].as_array().unwrap();
    assert_eq!(groups.len(), seed.management_groups.len());
    let corp = groups.iter().find(|g| g["id"] == "contoso-corp").unwrap();
    assert_eq!(
        (
            corp["counts"]["subscriptions"].as_u64(),
            corp["counts"]["own_account"].as_u64()
        ),
        (Some(12), Some(1))
    );
    assert_eq!(corp["depth"], 3);
    let subs = report["subscriptions"].as_array().unwrap();
    let mine = subs
        .iter()
        .find(|s| s["id"] == onboarded.id.as_str())
        .unwrap();
    assert_eq!(mine["coverage"]["state"], "own_account");
    assert_eq!(mine["account_name"], "corp-app-01");
    let disabled = subs.iter().filter(|s| s["state"] == "Disabled").count();
    assert_eq!(disabled, 4);

    sb.cmd()
        .args(["discover", "--tenant", TENANT_ID, "--not-covered"])
        .assert()
        .success()
        .stdout(predicate::str::contains("tenant 3f6e2a10-7c4d-4b8e-9a21-5d0c8e7b6a41: 36 subscriptions: 1 own account, 0 covered, 0 onboarded but not working, 35 not onboarded"))
        .stdout(predicate::str::contains("      Corp (contoso-corp)  12 subs: 1 own, 0 covered, 0 not working, 11 not onboarded"))
        .stdout(predicate::str::contains("corp-app-02").and(predicate::str::contains(&onboarded.id).not()));
}

#[test]
fn another_tenant_is_named_with_the_one_the_credentials_sign_in_to() {
    let sb = Sandbox::new();
    sb.cmd()
        .args(["discover", "--tenant", "11111111-2222-4333-8444-555555555555"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("tenant: `11111111-2222-4333-8444-555555555555` is not the tenant of the Azure credentials in use; they sign in to 3f6e2a10-7c4d-4b8e-9a21-5d0c8e7b6a41"));
    sb.cmd()
        .args(["discover", "--tenant", "contoso"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("tenant"));
}

#[test]
fn discover_through_the_sandbox_cortex_connection_joins_its_instances_and_an_unknown_one_is_named()
{
    let sb = Sandbox::new();
    let seed = tenant_seed::contoso();
    let report = discover_json(&sb, &["--connection", "cortex-sandbox"]);
    assert_eq!(report["platform"], "cortex");
    assert_eq!(report["connection"], "cortex-sandbox");
    // The sandbox's Cortex Cloud starts with no instance: nothing is covered there, whatever
    // the Prisma Cloud side holds.
    assert_eq!(report["totals"]["subscriptions"], seed.subscriptions.len());
    assert_eq!(report["totals"]["not_onboarded"], seed.subscriptions.len());
    sb.cmd()
        .args(["discover", "--tenant", TENANT_ID, "--connection", "nope"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--connection").and(predicate::str::contains("nope")));
}
