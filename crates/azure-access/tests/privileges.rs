//! Privileges read from the emulated tenant, reported in words per missing role; discovery of
//! the seeded tree; bad scopes named with what exists.

mod common;

use azure_access::credentials::check;
use azure_access::discovery::discover;
use azure_access::privileges::{self, Target, TargetScope};
use azure_emulator::tenant_seed::{self, ids};
use common::*;

fn target(scope: TargetScope) -> Target {
    Target {
        scope,
        creates_identity: true,
        directory_readers: false,
        audit_log_export: false,
    }
}

#[tokio::test]
async fn a_reader_is_told_what_each_step_needs() {
    let cloud = cloud().await;
    let bin = tempfile::tempdir().unwrap();
    let session = check(
        &secret_env(bin.path(), ids::CI_READER_APP),
        &endpoints(&cloud),
    )
    .await
    .unwrap();
    let report = privileges::check(
        &session,
        &target(TargetScope::ManagementGroup("contoso-root".into())),
    )
    .await
    .unwrap();
    let words: Vec<String> = report.missing.iter().map(|m| m.words()).collect();
    assert_eq!(
        words[0],
        "creating the custom role and assigning roles at management group `contoso-root` needs Owner or User Access Administrator there; you have Reader"
    );
    assert_eq!(
        words[1],
        "creating the app registration and its service principal needs Application Administrator, Cloud Application Administrator or Global Administrator in Entra ID; you have none"
    );
    assert_eq!(
        words[2],
        "granting admin consent for Microsoft Graph application permissions needs Privileged Role Administrator or Global Administrator in Entra ID; you have none"
    );
    assert_eq!(words.len(), 3);
}

#[tokio::test]
async fn an_owner_with_the_directory_roles_lacks_nothing_until_the_scenario_removes_them() {
    let cloud = cloud().await;
    let bin = tempfile::tempdir().unwrap();
    let env = secret_env(bin.path(), ids::CI_ONBOARDING_APP);
    let session = check(&env, &endpoints(&cloud)).await.unwrap();
    let sub = tenant_seed::contoso().subscriptions[20].id.clone();
    let t = target(TargetScope::Subscription(sub.clone()));
    let report = privileges::check(&session, &t).await.unwrap();
    assert_eq!(report.azure_roles, ["Owner"]);
    assert!(report.missing.is_empty(), "{report:?}");
    // Above contoso-root the Owner role does not reach.
    let root = privileges::check(
        &session,
        &target(TargetScope::Tenant(tenant_seed::TENANT_ID.into())),
    )
    .await
    .unwrap();
    assert!(
        root.missing[0].words().contains("elevate access"),
        "{root:?}"
    );
    assert!(
        root.missing[0].words().ends_with("you have none"),
        "{root:?}"
    );

    set_scenario(
        &cloud,
        serde_json::json!({"without_directory_roles": [ids::CI_ONBOARDING]}),
    )
    .await;
    let report = privileges::check(
        &session,
        &Target {
            directory_readers: true,
            audit_log_export: true,
            ..t
        },
    )
    .await
    .unwrap();
    let words: Vec<String> = report.missing.iter().map(|m| m.words()).collect();
    assert_eq!(words.len(), 4, "{words:?}");
    assert!(
        words[2].starts_with("assigning the Directory Readers role"),
        "{words:?}"
    );
    assert!(
        words[3].starts_with("exporting Entra ID audit logs")
            && words[3].contains("Security Administrator"),
        "{words:?}"
    );
}

#[tokio::test]
async fn an_existing_identity_needs_nothing_and_a_certificate_principal_is_limited_to_its_group() {
    let cloud = cloud().await;
    let dir = tempfile::tempdir().unwrap();
    let env = cert_env(&cloud, dir.path()).await;
    let session = check(&env, &endpoints(&cloud)).await.unwrap();
    let existing = Target {
        creates_identity: false,
        ..target(TargetScope::ManagementGroup("contoso-corp".into()))
    };
    assert!(
        privileges::check(&session, &existing)
            .await
            .unwrap()
            .missing
            .is_empty()
    );
    let corp = privileges::check(
        &session,
        &target(TargetScope::ManagementGroup("contoso-corp".into())),
    )
    .await
    .unwrap();
    assert_eq!(corp.azure_roles, ["Owner"]);
    assert_eq!(corp.missing.len(), 1, "{corp:?}");
    assert!(
        corp.missing[0]
            .words()
            .starts_with("granting admin consent"),
        "{corp:?}"
    );
}

#[tokio::test]
async fn a_management_group_that_does_not_exist_is_named_with_the_groups_that_do() {
    let cloud = cloud().await;
    let bin = tempfile::tempdir().unwrap();
    let session = check(
        &secret_env(bin.path(), ids::CI_ONBOARDING_APP),
        &endpoints(&cloud),
    )
    .await
    .unwrap();
    let e = privileges::check(
        &session,
        &target(TargetScope::ManagementGroup("contoso-nope".into())),
    )
    .await
    .unwrap_err();
    assert_eq!(e.field, "management_group_id");
    assert!(
        e.message.contains("`contoso-nope` does not exist") && e.message.contains("contoso-corp"),
        "{e:?}"
    );
    let e = privileges::check(
        &session,
        &target(TargetScope::Subscription(
            "00000000-0000-4000-8000-0000000000aa".into(),
        )),
    )
    .await
    .unwrap_err();
    assert_eq!(e.field, "subscription_id");
}

#[tokio::test]
async fn discovery_reads_the_seeded_tree_and_refuses_another_tenant() {
    let cloud = cloud().await;
    let bin = tempfile::tempdir().unwrap();
    logged_in_az(
        &cloud,
        bin.path(),
        &tenant_seed::contoso().subscriptions[0].id,
    )
    .await;
    let session = check(&common::env(bin.path(), &[]), &endpoints(&cloud))
        .await
        .unwrap();
    let tree = discover(&session, tenant_seed::TENANT_ID).await.unwrap();
    let seed = tenant_seed::contoso();
    assert_eq!(tree.groups.len(), seed.management_groups.len());
    assert_eq!(tree.subscriptions.len(), seed.subscriptions.len());
    for s in &seed.subscriptions {
        let found = tree.subscriptions.iter().find(|d| d.id == s.id).unwrap();
        assert_eq!(
            (found.state.as_str(), found.management_group.as_str()),
            (s.state, s.management_group.as_str())
        );
    }
    assert_eq!(tree.subscriptions_under("contoso-landing-zones").len(), 22);
    let e = discover(&session, "11111111-2222-4333-8444-555555555555")
        .await
        .unwrap_err();
    assert_eq!(e.field, "tenant");
    assert!(e.message.contains(tenant_seed::TENANT_ID), "{e:?}");
}
