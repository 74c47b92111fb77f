//! `doctor`'s Azure checks as a user sees them: the credential method and who it names, and
//! with `--scope` the privileges in words; the sandbox checks its emulated Azure.

use azure_emulator::tenant_seed::{TENANT_ID, ids};
use predicates::prelude::*;

use crate::common::*;

#[test]
fn the_sandbox_signs_in_to_its_emulated_tenant_and_has_the_privileges_for_contoso_root() {
    let sb = Sandbox::new();
    sb.cmd()
        .args(["doctor", "--scope", "management-group:contoso-root"])
        .env_remove("ARM_CLIENT_SECRET")
        .assert()
        .code(0)
        .stdout(predicate::str::contains(format!(
            "ok    azure_credentials  client secret (ARM_CLIENT_ID + ARM_CLIENT_SECRET): service principal ci-onboarding (object id {}) in tenant {TENANT_ID}",
            ids::CI_ONBOARDING
        )))
        .stdout(predicate::str::contains("ok    azure_privileges   nothing missing (Azure roles at the scope: Owner; directory roles: Privileged Role Administrator, Application Administrator)"))
        .stdout(predicate::str::contains(ids::SANDBOX_SECRET).not());
}

#[test]
fn the_tenant_root_needs_more_than_owner_of_contoso_root_and_says_so() {
    let sb = Sandbox::new();
    sb.cmd()
        .args(["doctor", "--scope", &format!("tenant:{TENANT_ID}")])
        .env_remove("ARM_CLIENT_SECRET")
        .assert()
        .code(1)
        .stdout(predicate::str::contains(format!(
            "fail  azure_privileges   service principal ci-onboarding lacks privileges Terraform needs: creating the custom role and assigning roles at the tenant root group `{TENANT_ID}`"
        )))
        .stdout(predicate::str::contains("needs Owner or User Access Administrator there; you have none"))
        .stdout(predicate::str::contains("fix: have an administrator grant the roles above (docs/azure-privileges.md)"));
}

#[test]
fn a_reader_configured_by_the_environment_is_told_what_is_missing() {
    let sb = Sandbox::new();
    sb.cmd()
        .args(["doctor", "--scope", "management-group:contoso-root", "--output", "json"])
        .env("ARM_TENANT_ID", TENANT_ID)
        .env("ARM_CLIENT_ID", ids::CI_READER_APP)
        .env("ARM_CLIENT_SECRET", ids::SANDBOX_SECRET)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("management group `contoso-root` needs Owner or User Access Administrator there; you have Reader"))
        .stdout(predicate::str::contains("granting admin consent for Microsoft Graph application permissions needs Privileged Role Administrator or Global Administrator in Entra ID; you have none"));
}

#[test]
fn a_management_group_that_does_not_exist_is_named() {
    let sb = Sandbox::new();
    sb.cmd()
        .args(["doctor", "--scope", "management-group:contoso-nope"])
        .env_remove("ARM_CLIENT_SECRET")
        .assert()
        .code(1)
        .stdout(predicate::str::contains("management_group_id: management group `contoso-nope` does not exist in the tenant; the groups you can see: contoso-root"));
    sb.cmd()
        .args(["doctor", "--scope", "subscription:not-a-guid"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("scope"));
}

#[test]
fn an_az_that_only_says_please_run_az_login_fails_doctor() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let az = bin.join("az");
    std::fs::write(
        &az,
        "#!/bin/sh\necho \"Please run 'az login' to setup account.\" >&2\nexit 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_azure-cortex"));
    for key in [
        "ARM_CLIENT_SECRET",
        "ARM_CLIENT_ID",
        "ARM_USE_MSI",
        "ARM_USE_OIDC",
        "ARM_CLIENT_CERTIFICATE_PATH",
        "PRISMA_API_URL",
    ] {
        cmd.env_remove(key);
    }
    cmd.arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("doctor")
        .env("PATH", &bin)
        .env("NO_COLOR", "1")
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "fail  azure_credentials  the Azure CLI has no usable login: `az account get-access-token` failed: Please run 'az login' to setup account.",
        ))
        .stdout(predicate::str::contains("fix: run `az login`"));
}

/// A real (non-sandbox) job whose Azure caller is a Reader: it fails in prerequisites with the
/// missing roles in words, before any Terraform workspace exists.
#[tokio::test(flavor = "multi_thread")]
async fn a_job_with_insufficient_privileges_fails_in_prerequisites_not_apply() {
    let prisma = prisma_emulator::spawn(
        "127.0.0.1:0".parse().unwrap(),
        prisma_emulator::EmulatorConfig::new("prereq-key", "prereq-secret-0123456789"),
        None,
        std::future::pending(),
    )
    .await
    .unwrap();
    let cloud = azure_emulator::spawn_cloud(
        "127.0.0.1:0".parse().unwrap(),
        azure_emulator::tenant_seed::contoso(),
        std::future::pending(),
    )
    .await
    .unwrap();
    let sub = azure_emulator::tenant_seed::contoso().subscriptions[8]
        .id
        .clone();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_owned();
    let (prisma_url, azure_url) = (prisma.base_url(), cloud.base_url());
    let output = tokio::task::spawn_blocking(move || {
        let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_azure-cortex"));
        for key in [
            "ARM_USE_MSI",
            "ARM_USE_OIDC",
            "ARM_CLIENT_CERTIFICATE_PATH",
            "RUST_LOG",
        ] {
            cmd.env_remove(key);
        }
        let output = cmd
            .arg("--data-dir")
            .arg(&data)
            .args([
                "onboard",
                "subscription",
                &sub,
                "--tenant",
                TENANT_ID,
                "--name",
                "prereq",
            ])
            .args(["--output", "json"])
            .env("NO_COLOR", "1")
            .env("PRISMA_API_URL", prisma_url)
            .env("PRISMA_ACCESS_KEY_ID", "prereq-key")
            .env("PRISMA_SECRET_KEY", "prereq-secret-0123456789")
            .env("AZURE_CORTEX_AZURE_ENDPOINT", azure_url)
            .env("ARM_TENANT_ID", TENANT_ID)
            .env("ARM_CLIENT_ID", ids::CI_READER_APP)
            .env("ARM_CLIENT_SECRET", ids::SANDBOX_SECRET)
            .timeout(std::time::Duration::from_secs(120))
            .output()
            .unwrap();
        (output, data)
    })
    .await
    .unwrap();
    let (output, data) = output;
    let stdout = text(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    let lines = json_lines(&output.stdout);
    let failed = lines
        .iter()
        .find(|l| l.to_string().contains("lacks privileges Terraform needs"))
        .unwrap_or_else(|| panic!("no privilege failure: {stdout}"));
    let text_of = failed.to_string();
    assert!(text_of.contains("prerequisites"), "{text_of}");
    assert!(
        text_of.contains("needs Owner or User Access Administrator there; you have Reader"),
        "{text_of}"
    );
    assert!(
        !stdout.contains("apply_start") && !stdout.contains("\"step\":\"azure_identity\""),
        "{stdout}"
    );
    assert!(!stdout.contains(ids::SANDBOX_SECRET));
    let _ = data;
}
