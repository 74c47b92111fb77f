//! Failure paths: every one leaves a clear record and touches nothing it should not.

use std::time::Duration;

use cortex_store::JobState;
use onboarding_engine::{RawRequest, TerraformMode};

use crate::common::*;

/// A stand-in `terraform` that plays the recorded streams of a failing apply.
fn failing_terraform(dir: &std::path::Path) -> std::path::PathBuf {
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../terraform-runner/tests/fixtures");
    let fixtures = fixtures.canonicalize().expect("terraform-runner fixtures");
    let script = dir.join("terraform");
    std::fs::write(
        &script,
        format!(
            r#"#!/bin/sh
F="{f}"
for a in "$@"; do case "$a" in -out=*) : > "${{a#-out=}}";; esac; done
case "$1" in
  version) echo '{{"terraform_version":"1.11.4","platform":"linux_amd64"}}' ;;
  init) cat "$F/init-ok.jsonl" ;;
  plan) cat "$F/plan-create.jsonl" ;;
  apply) echo '{{"version":4,"note":"STATE-CANARY"}}' > terraform.tfstate; cat "$F/apply-errored.jsonl"; exit 1 ;;
  *) exit 0 ;;
esac
"#,
            f = fixtures.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terraform_apply_error_fails_the_job_keeps_the_diagnostic_and_calls_no_prisma_write() {
    let bin = tempfile::tempdir().unwrap();
    let mode = TerraformMode::Twin {
        binary: failing_terraform(bin.path()),
        step_seconds: 0.0,
    };
    let sb = Sandbox::start(mode).await;
    let job = sb
        .engine
        .submit(
            &subscription(&guid(0x5ab5, 10), "doomed")
                .validate()
                .unwrap(),
            None,
            "t",
        )
        .await
        .unwrap();
    sb.run().await;
    let record = sb.job(job).await;
    assert_eq!(record.state, JobState::Failed);
    let error = record.error.unwrap();
    assert_eq!(error["step"], "azure_identity");
    assert_eq!(error["code"], "terraform_failed");
    let events = sb.events(job).await;
    let diag = events
        .iter()
        .find(|e| e.event["type"] == "terraform_diagnostic" && e.event["severity"] == "error")
        .expect("the diagnostic is kept");
    assert!(
        diag.event["address"]
            .as_str()
            .is_some_and(|a| !a.is_empty()),
        "{diag:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.event["type"] == "terraform_apply_errored")
    );
    // The state the failed apply wrote is not left in plaintext; it is kept encrypted for the
    // resume (which restores it before `init`).
    let ws = sb.dir.path().join("workspaces").join(job.to_string());
    assert!(
        !ws.join("terraform.tfstate").exists(),
        "plaintext state left behind"
    );
    let kept = sb
        .engine
        .store()
        .get_secret(&job.to_string(), "terraform_state")
        .await
        .unwrap();
    assert!(
        kept.expect("state kept encrypted")
            .expose()
            .contains("STATE-CANARY")
    );
    let stats = sb.stats();
    assert!(
        !stats.endpoints.contains_key("POST /cas/v1/azure_account"),
        "no registration attempted"
    );
    assert!(
        !stats
            .endpoints
            .contains_key("POST /cas/v1/cloud_account/status/azure")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_capabilities_keep_their_message_and_remediation() {
    let sb = Sandbox::start(sandbox_mode()).await;
    // A subscription ID starting 0000dead does not exist in the emulator's Azure. Registered
    // anyway (the default stops at pre-flight: tests/engine/preflight.rs), so verification runs.
    let sub = format!("0000dead{}", &guid(0, 11)[8..]);
    let mut raw = existing(&sub, "missing", 11);
    raw.register_anyway = true;
    let job = sb
        .engine
        .submit(&raw.validate().unwrap(), Some(secret(11)), "t")
        .await
        .unwrap();
    sb.run().await;
    let record = sb.job(job).await;
    assert_eq!(record.state, JobState::Failed);
    let error = record.error.unwrap();
    assert_eq!(
        (error["step"].as_str(), error["code"].as_str()),
        (Some("verify"), Some("capabilities_failing"))
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("Azure Subscription not found"),
        "{error}"
    );
    let events = sb.events(job).await;
    let failing = events
        .iter()
        .rfind(|e| e.event["type"] == "capability_status" && e.event["status"] == "error")
        .expect("a failing capability");
    assert!(
        !failing.event["remediation"].as_str().unwrap().is_empty(),
        "{failing:?}"
    );
    // Registration happened (Prisma has the account); verification reports what to fix.
    assert_eq!(sb.stats().accounts_created, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_graph_consent_on_a_tenant_names_the_permissions() {
    let sb = Sandbox::start(sandbox_mode()).await;
    let raw = RawRequest {
        scope: Some("entra".into()),
        tenant_id: Some(format!("00000c0c{}", &guid(0, 12)[8..])),
        name: Some("no consent".into()),
        groups: vec!["Default Account Group".into()],
        identity: Some("existing".into()),
        client_id: Some(guid(0xc1d0, 12)),
        service_principal_id: Some(guid(0x5e00, 12)),
        ..RawRequest::default()
    };
    let job = sb
        .engine
        .submit(&raw.validate().unwrap(), Some(secret(12)), "t")
        .await
        .unwrap();
    sb.run().await;
    let error = sb.job(job).await.error.unwrap();
    assert_eq!(error["code"], "preflight_failed", "{error}");
    let message = error["message"].as_str().unwrap();
    for p in [
        "User.Read.All",
        "Directory.Read.All",
        "GroupMember.Read.All",
    ] {
        assert!(message.contains(p), "{p}: {message}");
    }
    // The fix travels with the capability's event, once.
    let events = sb.events(job).await;
    let entra = events
        .iter()
        .rfind(|e| {
            e.event["type"] == "capability_status" && e.event["capability"] == "Microsoft Entra ID"
        })
        .expect("the Entra ID check is reported");
    let fix = entra.event["remediation"].as_str().unwrap();
    assert!(fix.to_lowercase().contains("consent"), "{fix}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_account_group_lists_the_existing_ones_or_is_created_on_request() {
    let sb = Sandbox::start(sandbox_mode()).await;
    let mut raw = existing(&guid(0x5ab5, 13), "grouped", 13);
    raw.groups = vec!["Payments".into()];
    let job = sb
        .engine
        .submit(&raw.validate().unwrap(), Some(secret(13)), "t")
        .await
        .unwrap();
    sb.run().await;
    let error = sb.job(job).await.error.unwrap();
    assert_eq!(
        (error["step"].as_str(), error["code"].as_str()),
        (Some("resolve"), Some("unknown_account_group"))
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("Default Account Group"),
        "{error}"
    );

    raw.create_missing_groups = true;
    raw.subscription_id = Some(guid(0x5ab5, 14));
    raw.name = Some("grouped 2".into());
    let job = sb
        .engine
        .submit(&raw.validate().unwrap(), Some(secret(14)), "t")
        .await
        .unwrap();
    sb.run().await;
    sb.succeeded(job).await;
    let groups = sb.engine.client().list_account_groups().await.unwrap();
    let payments = groups
        .iter()
        .find(|g| g.name == "Payments")
        .expect("created");
    assert_eq!(payments.account_ids, [guid(0x5ab5, 14)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_that_already_exists_is_adopted_and_updated() {
    let sb = Sandbox::start(sandbox_mode()).await;
    let sub = guid(0x5ab5, 15);
    let first = sb
        .engine
        .submit(
            &existing(&sub, "first", 15).validate().unwrap(),
            Some(secret(15)),
            "t",
        )
        .await
        .unwrap();
    sb.run().await;
    assert_eq!(sb.job(first).await.result.unwrap()["outcome"], "created");
    let again = sb
        .engine
        .submit(
            &existing(&sub, "first", 15).validate().unwrap(),
            Some(secret(15)),
            "t",
        )
        .await
        .unwrap();
    sb.run().await;
    let record = sb.job(again).await;
    assert_eq!(record.state, JobState::Succeeded);
    assert_eq!(record.result.unwrap()["outcome"], "adopted");
    assert_eq!(sb.stats().accounts_created, 1);
    assert_eq!(
        sb.stats().endpoints["PUT /cas/v1/azure_account/{account_id}"].admitted,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_expiry_in_the_middle_of_a_job_is_invisible() {
    let sb = Sandbox::start_with(
        TerraformMode::Replay {
            pace: Duration::from_millis(300),
        },
        |c| c.token_ttl = Duration::from_secs(3),
        |_| {},
    )
    .await;
    let job = sb
        .engine
        .submit(
            &subscription(&guid(0x5ab5, 16), "slow").validate().unwrap(),
            None,
            "t",
        )
        .await
        .unwrap();
    sb.run().await;
    sb.succeeded(job).await;
    let stats = sb.stats();
    assert!(
        stats.logins + stats.extends >= 2,
        "the session was renewed during the job: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_naming_each_field_and_nothing_is_written() {
    let sb = Sandbox::start(sandbox_mode()).await;
    let cases: Vec<(RawRequest, &str)> = vec![
        (
            RawRequest {
                subscription_id: Some("{not-a-guid}".into()),
                ..subscription("", "x")
            },
            "subscription_id",
        ),
        (
            RawRequest {
                tenant_id: Some("urn:uuid:1".into()),
                ..subscription(&guid(1, 1), "x")
            },
            "tenant_id",
        ),
        (
            RawRequest {
                name: Some("".into()),
                ..subscription(&guid(1, 1), "x")
            },
            "name",
        ),
        (
            RawRequest {
                groups: vec![],
                ..subscription(&guid(1, 1), "x")
            },
            "groups",
        ),
        (
            RawRequest {
                features: vec!["Mind Reading".into()],
                ..subscription(&guid(1, 1), "x")
            },
            "features",
        ),
        (
            RawRequest {
                environment: Some("mars".into()),
                ..subscription(&guid(1, 1), "x")
            },
            "environment",
        ),
        (
            RawRequest {
                identity: Some("magic".into()),
                ..subscription(&guid(1, 1), "x")
            },
            "identity",
        ),
        (
            RawRequest {
                scope: Some("galaxy".into()),
                ..subscription(&guid(1, 1), "x")
            },
            "scope",
        ),
        (
            RawRequest {
                client_id: Some("x".into()),
                ..existing(&guid(1, 1), "x", 1)
            },
            "client_id",
        ),
        (
            RawRequest {
                exclude_management_groups: vec!["bad name!".into()],
                scope: Some("tenant".into()),
                subscription_id: None,
                ..subscription("", "x")
            },
            "exclude_management_groups",
        ),
    ];
    for (raw, field) in cases {
        let errors = raw.validate().unwrap_err();
        assert!(
            errors.errors.iter().any(|e| e.field == field),
            "{field}: {errors}"
        );
    }
    // Valid request, bad secret: refused by the engine, naming client_secret; nothing stored.
    let request = existing(&guid(1, 2), "x", 2).validate().unwrap();
    for secret in [None, Some(prisma_types::SecretString::from("short"))] {
        let err = sb.engine.submit(&request, secret, "t").await.unwrap_err();
        assert!(err.to_string().contains("client_secret"), "{err}");
    }
    let builtin = subscription(&guid(1, 3), "y").validate().unwrap();
    let err = sb
        .engine
        .submit(&builtin, Some(secret(3)), "t")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("client_secret"), "{err}");
    assert!(
        sb.engine
            .store()
            .list_jobs(None, 100)
            .await
            .unwrap()
            .is_empty(),
        "no job written"
    );
}
