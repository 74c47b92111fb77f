//! Each scope and each identity source, end to end.

use cortex_store::JobState;
use onboarding_engine::RawRequest;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_with_an_existing_service_principal() {
    let sb = Sandbox::start(sandbox_mode()).await;
    let request = existing(&guid(0x5ab5, 1), "prod", 1).validate().unwrap();
    let job = sb
        .engine
        .submit(&request, Some(secret(1)), "tester")
        .await
        .unwrap();
    sb.run().await;
    let record = sb.succeeded(job).await;
    let result = record.result.unwrap();
    assert_eq!(result["outcome"], "created");
    assert_eq!(result["account_id"], guid(0x5ab5, 1));
    assert!(
        result["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "ok")
    );
    let types = sb.event_types(job).await;
    for step in [
        "validate",
        "prerequisites",
        "resolve",
        "azure_identity",
        "preflight",
        "register",
        "verify",
    ] {
        assert!(
            sb.events(job)
                .await
                .iter()
                .any(|e| e.event["type"] == "step_finished" && e.event["step"] == step),
            "{step}"
        );
    }
    assert!(types.contains(&"api_call".to_owned()));
    assert!(
        !types.iter().any(|t| t.starts_with("terraform_")),
        "no Terraform for an existing identity"
    );
    assert_eq!(sb.stats().accounts_created, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_with_the_builtin_identity_runs_terraform_resource_by_resource() {
    let sb = Sandbox::start(sandbox_mode()).await;
    let mut raw = subscription(&guid(0x5ab5, 2), "builtin");
    raw.features = vec!["Agentless Scanning".into(), "Remediation".into()];
    raw.flow_logs = true;
    let job = sb
        .engine
        .submit(&raw.validate().unwrap(), None, "tester")
        .await
        .unwrap();
    sb.run().await;
    let record = sb.succeeded(job).await;
    let events = sb.events(job).await;
    let started: Vec<_> = events
        .iter()
        .filter(|e| e.event["type"] == "terraform_apply_start")
        .map(|e| e.event["address"].as_str().unwrap().to_owned())
        .collect();
    let completed = events
        .iter()
        .filter(|e| e.event["type"] == "terraform_apply_complete")
        .count();
    assert!(started.len() >= 5, "one event per resource: {started:?}");
    assert_eq!(started.len(), completed);
    assert!(
        events
            .iter()
            .any(|e| e.event["type"] == "terraform_change_summary"
                && e.event["operation"] == "apply")
    );
    // Each Terraform phase reports its duration, in order.
    let phases: Vec<_> = events
        .iter()
        .filter(|e| e.event["type"] == "terraform_phase")
        .map(|e| {
            assert!(e.event["elapsed_ms"].is_u64(), "{}", e.event);
            e.event["phase"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(phases, ["init", "plan", "apply"]);
    // The client ID and service principal came from Terraform's outputs.
    let result = record.result.unwrap();
    assert!(prisma_types::ObjectId::parse(result["client_id"].as_str().unwrap()).is_ok());
    // The workspace keeps no plaintext state or plan.
    let ws = sb.dir.path().join("workspaces").join(job.to_string());
    for f in ["terraform.tfstate", "terraform.tfstate.backup", "tfplan"] {
        assert!(!ws.join(f).exists(), "{f} left in the workspace");
    }
    assert!(ws.join("main.tf.json").exists());
    if terraform_available() {
        // Providers live in the data directory's shared cache, never in a finished workspace.
        assert!(
            !ws.join(".terraform").exists(),
            ".terraform left in the workspace"
        );
        assert!(
            sb.dir
                .path()
                .join("terraform-plugins")
                .join(terraform_runner::plugin_cache::INIT_LOCK_FILE)
                .exists(),
            "init ran under the shared cache's lock"
        );
        let state = sb
            .engine
            .store()
            .get_secret(&job.to_string(), "terraform_state")
            .await
            .unwrap();
        assert!(state.is_some(), "state kept encrypted in the store");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_with_management_groups_and_exclusions() {
    let sb = Sandbox::start(sandbox_mode()).await;
    let raw = RawRequest {
        scope: Some("tenant".into()),
        tenant_id: Some(guid(0x7e77, 1)),
        name: Some("corp tenant".into()),
        groups: vec!["Default Account Group".into()],
        exclude_management_groups: vec!["mg-development".into()],
        features: vec!["Serverless Function Scanning".into()],
        ..RawRequest::default()
    };
    let job = sb
        .engine
        .submit(&raw.validate().unwrap(), None, "tester")
        .await
        .unwrap();
    sb.run().await;
    sb.succeeded(job).await;
    let accounts = sb.engine.client().list_accounts().await.unwrap();
    assert_eq!(
        accounts.len(),
        1 + 3,
        "the tenant and mg-production's subscriptions"
    );
    let view = sb
        .engine
        .client()
        .get_azure_account(&guid(0x7e77, 1))
        .await
        .unwrap()
        .unwrap();
    assert!(view.root_sync_enabled);
    assert!(
        view.hierarchy_selection
            .iter()
            .any(|h| h.selection_type == "EXCLUDE" && h.resource_id == "mg-development")
    );
    assert!(
        sb.events(job)
            .await
            .iter()
            .any(|e| e.event["type"] == "capability_status"
                && e.event["capability"] == "Microsoft Entra ID")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_only_tenant_with_prisma_template() {
    let sb = Sandbox::start(sandbox_mode()).await;
    let raw = RawRequest {
        scope: Some("entra".into()),
        tenant_id: Some(guid(0x7e77, 2)),
        name: Some("directory".into()),
        groups: vec!["Default Account Group".into()],
        identity: Some("prisma-template".into()),
        ..RawRequest::default()
    };
    let job = sb
        .engine
        .submit(&raw.validate().unwrap(), None, "tester")
        .await
        .unwrap();
    sb.run().await;
    sb.succeeded(job).await;
    let view = sb
        .engine
        .client()
        .get_azure_account(&guid(0x7e77, 2))
        .await
        .unwrap()
        .unwrap();
    assert!(!view.root_sync_enabled && !view.monitor_flow_logs);
    assert_eq!(
        sb.stats().endpoints["POST /cas/v1/azure_template"].admitted,
        1,
        "the template was fetched"
    );
    if terraform_available() {
        assert!(
            sb.dir
                .path()
                .join("workspaces")
                .join(job.to_string())
                .join("prisma-template.review.json")
                .exists()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_terraform_the_sandbox_replays_the_same_resources() {
    let sb = Sandbox::start(onboarding_engine::TerraformMode::Replay {
        pace: std::time::Duration::from_millis(5),
    })
    .await;
    let job = sb
        .engine
        .submit(
            &subscription(&guid(0x5ab5, 3), "replayed")
                .validate()
                .unwrap(),
            None,
            "tester",
        )
        .await
        .unwrap();
    sb.run().await;
    sb.succeeded(job).await;
    let events = sb.events(job).await;
    assert!(
        events
            .iter()
            .any(|e| e.event["type"] == "terraform_apply_complete")
    );
    assert!(
        events.iter().any(|e| e.event["type"] == "log"
            && e.event["message"].as_str().unwrap().contains("replays"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relative_data_directory_works() {
    // Relative to the test's working directory (the crate), as `--data-dir ./data` would be.
    let relative = std::path::PathBuf::from(format!("target/relative-data-{}", std::process::id()));
    let rel = relative.clone();
    let sb = Sandbox::start_with(sandbox_mode(), |_| {}, move |c| c.data_dir = rel).await;
    assert!(sb.engine.config().data_dir.is_absolute());
    let job = sb
        .engine
        .submit(
            &subscription(&guid(0x5ab5, 50), "relative")
                .validate()
                .unwrap(),
            None,
            "t",
        )
        .await
        .unwrap();
    sb.run().await;
    let record = sb.job(job).await;
    std::fs::remove_dir_all(&relative).ok();
    assert_eq!(record.state, JobState::Succeeded, "{:?}", record.error);
}
