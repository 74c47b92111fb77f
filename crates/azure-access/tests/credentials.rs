//! Every credential method against the emulated Azure: a token obtained as the providers
//! would, the principal and subscription it names, and each way it fails with reason and fix.

mod common;

use azure_access::credentials::{CredentialError, Method, check, detect};
use azure_emulator::tenant_seed::{self, ids};
use common::*;

fn first_subscription() -> String {
    tenant_seed::contoso().subscriptions[0].id.clone()
}

async fn refused(env: &azure_access::Env, cloud: &azure_emulator::RunningCloud) -> CredentialError {
    check(env, &endpoints(cloud))
        .await
        .expect_err("the check must fail")
}

#[tokio::test]
async fn client_secret_names_the_principal_and_the_subscription() {
    let cloud = cloud().await;
    let bin = tempfile::tempdir().unwrap();
    let mut env = secret_env(bin.path(), ids::CI_ONBOARDING_APP);
    env.set("ARM_SUBSCRIPTION_ID", first_subscription());
    let session = check(&env, &endpoints(&cloud)).await.unwrap();
    let id = &session.identity;
    assert_eq!(id.method, Method::ClientSecret);
    assert_eq!(id.tenant_id, tenant_seed::TENANT_ID);
    assert_eq!(id.principal_name, "ci-onboarding");
    assert_eq!(id.principal_object_id, ids::CI_ONBOARDING);
    assert_eq!(id.principal_kind, "service principal");
    let sub = id.subscription.as_ref().unwrap();
    assert_eq!(
        (sub.name.as_str(), sub.state.as_str()),
        ("platform-shared-01", "Enabled")
    );
    let summary = id.summary();
    assert!(
        summary.contains("ci-onboarding") && summary.contains(ids::CI_ONBOARDING),
        "{summary}"
    );
    assert!(!format!("{session:?}{summary}").contains(ids::SANDBOX_SECRET));
}

#[tokio::test]
async fn a_wrong_client_secret_fails_with_entra_s_reason_and_never_shows_the_secret() {
    let cloud = cloud().await;
    let bin = tempfile::tempdir().unwrap();
    let mut env = secret_env(bin.path(), ids::CI_ONBOARDING_APP);
    env.set("ARM_CLIENT_SECRET", "canary-wrong-secret-5521");
    let e = refused(&env, &cloud).await;
    assert_eq!(e.method, Some(Method::ClientSecret));
    assert!(e.reason.contains("AADSTS7000215"), "{e:?}");
    assert!(e.fix.contains("Value"), "{e:?}");
    assert!(!format!("{e:?}").contains("canary-wrong-secret-5521"));
}

#[tokio::test]
async fn an_unknown_tenant_names_arm_tenant_id() {
    let cloud = cloud().await;
    let bin = tempfile::tempdir().unwrap();
    let mut env = secret_env(bin.path(), ids::CI_ONBOARDING_APP);
    env.set("ARM_TENANT_ID", "00000000-0000-4000-8000-000000000bad");
    let e = refused(&env, &cloud).await;
    assert!(e.reason.contains("AADSTS90002"), "{e:?}");
    assert!(e.fix.starts_with("ARM_TENANT_ID"), "{e:?}");
}

#[tokio::test]
async fn client_certificate_signs_an_assertion_the_tenant_accepts_and_a_wrong_one_fails() {
    let cloud = cloud().await;
    let dir = tempfile::tempdir().unwrap();
    let good = certificate(&cloud, dir.path(), Some(ids::CI_CERT_APP)).await;
    let base = [
        ("ARM_TENANT_ID", tenant_seed::TENANT_ID),
        ("ARM_CLIENT_ID", ids::CI_CERT_APP),
        ("ARM_CLIENT_CERTIFICATE_PASSWORD", "pw"),
    ];
    let mut env = common::env(dir.path(), &base);
    env.set("ARM_CLIENT_CERTIFICATE_PATH", good.display().to_string());
    let session = check(&env, &endpoints(&cloud)).await.unwrap();
    assert_eq!(session.identity.method, Method::ClientCertificate);
    assert_eq!(session.identity.principal_name, "ci-cert");

    let wrong = certificate(&cloud, dir.path(), None).await;
    env.set("ARM_CLIENT_CERTIFICATE_PATH", wrong.display().to_string());
    let e = refused(&env, &cloud).await;
    assert_eq!(e.method, Some(Method::ClientCertificate));
    assert!(
        e.reason.contains("AADSTS700027") && e.reason.contains("not registered"),
        "{e:?}"
    );
    assert!(e.fix.contains("upload this certificate"), "{e:?}");

    env.set("ARM_CLIENT_CERTIFICATE_PASSWORD", "not-the-password");
    env.set("ARM_CLIENT_CERTIFICATE_PATH", good.display().to_string());
    let e = refused(&env, &cloud).await;
    assert!(
        e.reason
            .contains("ARM_CLIENT_CERTIFICATE_PASSWORD does not open it"),
        "{e:?}"
    );
}

#[tokio::test]
async fn github_actions_oidc_exchanges_the_runner_token_and_a_mismatched_subject_is_refused() {
    let cloud = cloud().await;
    let bin = tempfile::tempdir().unwrap();
    let url = format!("{}/_github/token", cloud.base_url());
    let mut env = common::env(
        bin.path(),
        &[
            ("ARM_USE_OIDC", "true"),
            ("ARM_TENANT_ID", tenant_seed::TENANT_ID),
            ("ARM_CLIENT_ID", ids::GH_DEPLOY_APP),
            ("ACTIONS_ID_TOKEN_REQUEST_URL", &url),
            (
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                &cloud.state.github_request_token,
            ),
        ],
    );
    let session = check(&env, &endpoints(&cloud)).await.unwrap();
    assert_eq!(session.identity.method, Method::Oidc);
    assert_eq!(session.identity.principal_name, "gh-deploy");

    // The app registration trusts the AKS subject only.
    env.set("ARM_CLIENT_ID", ids::AKS_ONBOARDER_APP);
    let e = refused(&env, &cloud).await;
    assert_eq!(e.method, Some(Method::Oidc));
    assert!(
        e.reason.contains("AADSTS70021") && e.reason.contains(ids::GH_SUBJECT),
        "{e:?}"
    );
    assert!(e.fix.contains("federated credential"), "{e:?}");

    env.set("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "not-the-runner-token");
    env.set("ARM_CLIENT_ID", ids::GH_DEPLOY_APP);
    let e = refused(&env, &cloud).await;
    assert!(e.fix.contains("id-token: write"), "{e:?}");
}

#[tokio::test]
async fn oidc_token_file_and_aks_workload_identity() {
    let cloud = cloud().await;
    let dir = tempfile::tempdir().unwrap();
    let gh = dir.path().join("gh.jwt");
    std::fs::write(
        &gh,
        cloud
            .state
            .federated_token(ids::GH_SUBJECT, ids::FEDERATED_AUDIENCE),
    )
    .unwrap();
    let env = common::env(
        dir.path(),
        &[
            ("ARM_USE_OIDC", "true"),
            ("ARM_TENANT_ID", tenant_seed::TENANT_ID),
            ("ARM_CLIENT_ID", ids::GH_DEPLOY_APP),
            ("ARM_OIDC_TOKEN_FILE_PATH", gh.to_str().unwrap()),
        ],
    );
    assert_eq!(
        check(&env, &endpoints(&cloud))
            .await
            .unwrap()
            .identity
            .principal_name,
        "gh-deploy"
    );

    let aks = dir.path().join("aks.jwt");
    std::fs::write(
        &aks,
        cloud
            .state
            .federated_token(ids::AKS_SUBJECT, ids::FEDERATED_AUDIENCE),
    )
    .unwrap();
    let mut env = common::env(
        dir.path(),
        &[
            ("ARM_USE_AKS_WORKLOAD_IDENTITY", "true"),
            ("AZURE_TENANT_ID", tenant_seed::TENANT_ID),
            ("AZURE_CLIENT_ID", ids::AKS_ONBOARDER_APP),
            ("AZURE_FEDERATED_TOKEN_FILE", aks.to_str().unwrap()),
        ],
    );
    let session = check(&env, &endpoints(&cloud)).await.unwrap();
    assert_eq!(session.identity.method, Method::AksWorkloadIdentity);
    assert_eq!(session.identity.principal_name, "aks-onboarder");

    set_scenario(&cloud, serde_json::json!({"refuse_tokens": true})).await;
    let e = refused(&env, &cloud).await;
    assert!(e.reason.contains("Entra ID refused"), "{e:?}");
    set_scenario(&cloud, serde_json::json!({})).await;

    env.set(
        "AZURE_FEDERATED_TOKEN_FILE",
        dir.path().join("missing").display().to_string(),
    );
    let e = refused(&env, &cloud).await;
    assert!(
        e.reason.contains("cannot read the federated token file"),
        "{e:?}"
    );
}

#[tokio::test]
async fn managed_identity_without_a_client_id_uses_the_system_assigned_one() {
    let cloud = cloud().await;
    let bin = tempfile::tempdir().unwrap();
    let imds = format!("{}/metadata/identity/oauth2/token", cloud.base_url());
    let env = common::env(
        bin.path(),
        &[("ARM_USE_MSI", "true"), ("ARM_MSI_ENDPOINT", &imds)],
    );
    let session = check(&env, &endpoints(&cloud)).await.unwrap();
    assert_eq!(session.identity.method, Method::ManagedIdentity);
    assert_eq!(session.identity.principal_kind, "managed identity");
    assert_eq!(session.identity.principal_name, "vm-onboarder");
    assert_eq!(session.identity.tenant_id, tenant_seed::TENANT_ID);

    let app_service = format!("{}/msi/token", cloud.base_url());
    let env = common::env(
        bin.path(),
        &[
            ("ARM_USE_MSI", "true"),
            ("IDENTITY_ENDPOINT", &app_service),
            ("IDENTITY_HEADER", "h"),
        ],
    );
    assert_eq!(
        check(&env, &endpoints(&cloud))
            .await
            .unwrap()
            .identity
            .principal_name,
        "vm-onboarder"
    );

    let mut env = common::env(
        bin.path(),
        &[
            ("ARM_USE_MSI", "true"),
            ("ARM_MSI_ENDPOINT", &imds),
            ("ARM_CLIENT_ID", ids::CI_READER_APP),
        ],
    );
    let e = refused(&env, &cloud).await;
    assert!(e.fix.starts_with("ARM_CLIENT_ID"), "{e:?}");

    set_scenario(&cloud, serde_json::json!({"no_managed_identity": true})).await;
    env.set("ARM_CLIENT_ID", "");
    let e = refused(&env, &cloud).await;
    assert!(e.reason.contains("no managed identity endpoint"), "{e:?}");
}

#[tokio::test]
async fn no_managed_identity_endpoint_on_this_host() {
    let cloud = cloud().await;
    let bin = tempfile::tempdir().unwrap();
    // A port nothing listens on stands for 169.254.169.254 off Azure.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let endpoint = format!("http://127.0.0.1:{port}/metadata/identity/oauth2/token");
    let env = common::env(
        bin.path(),
        &[("ARM_USE_MSI", "true"), ("ARM_MSI_ENDPOINT", &endpoint)],
    );
    let e = refused(&env, &cloud).await;
    assert_eq!(e.method, Some(Method::ManagedIdentity));
    assert!(
        e.reason.contains("no managed identity endpoint answers"),
        "{e:?}"
    );
}

#[tokio::test]
async fn the_azure_cli_login_is_used_and_its_subscription_reported() {
    let cloud = cloud().await;
    let bin = tempfile::tempdir().unwrap();
    let sub = tenant_seed::contoso().subscriptions[7].clone();
    logged_in_az(&cloud, bin.path(), &sub.id).await;
    let env = common::env(bin.path(), &[]);
    assert_eq!(detect(&env), Some(Method::AzureCli));
    let session = check(&env, &endpoints(&cloud)).await.unwrap();
    let id = &session.identity;
    assert_eq!(
        (id.principal_kind, id.principal_name.as_str()),
        ("user", "alice@contoso.example")
    );
    assert_eq!(id.subscription.as_ref().unwrap().name, sub.display_name);
}

#[tokio::test]
async fn an_az_that_only_says_please_run_az_login_fails() {
    let cloud = cloud().await;
    let bin = tempfile::tempdir().unwrap();
    for script in [
        // What `az` prints without a login: on stderr, exit 1.
        "echo \"Please run 'az login' to setup account.\" >&2; exit 1",
        // The same text on stdout with exit 0 must not pass either.
        "echo \"Please run 'az login' to setup account.\"",
        // An expired refresh token.
        "echo \"ERROR: AADSTS700082: The refresh token has expired due to inactivity. Please run 'az login' to setup account.\" >&2; exit 1",
    ] {
        fake_az(bin.path(), script);
        let env = common::env(bin.path(), &[]);
        let e = refused(&env, &cloud).await;
        assert_eq!(e.method, Some(Method::AzureCli), "{script}");
        assert!(
            e.fix.contains("az login") || e.fix.contains("upgrade"),
            "{script}: {e:?}"
        );
    }
}

#[tokio::test]
async fn nothing_configured_says_what_to_set() {
    let cloud = cloud().await;
    let bin = tempfile::tempdir().unwrap();
    let e = refused(&common::env(bin.path(), &[]), &cloud).await;
    assert_eq!(e.method, None);
    assert!(
        e.fix.contains("az login") && e.fix.contains("ARM_USE_MSI=true"),
        "{e:?}"
    );
    // The CLI is off: still nothing.
    let mut env = common::env(bin.path(), &[("ARM_USE_CLI", "false")]);
    fake_az(bin.path(), "exit 0");
    assert_eq!(detect(&env), None);
    env.set("ARM_USE_CLI", "true");
    assert_eq!(detect(&env), Some(Method::AzureCli));
}

#[tokio::test]
async fn a_subscription_the_principal_cannot_see_names_the_field_and_what_it_sees() {
    let cloud = cloud().await;
    let dir = tempfile::tempdir().unwrap();
    let mut env = cert_env(&cloud, dir.path()).await;
    // ci-cert is Owner at the landing zones only; the first subscription is a platform one.
    env.set("ARM_SUBSCRIPTION_ID", first_subscription());
    let e = refused(&env, &cloud).await;
    assert!(e.reason.starts_with("ARM_SUBSCRIPTION_ID"), "{e:?}");
    assert!(e.reason.contains("and 17 more"), "{e:?}");
}
