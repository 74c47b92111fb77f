//! The whole Cortex onboarding round trip on the real emulator (port 0): the API creates a
//! pending instance, its `manual.TF` link downloads the bundle, the bundle's twin is applied
//! with the real `terraform` binary and calls the emulator back, and the API then shows the
//! new connected instance, its accounts, and its capabilities moving from 4 (retrieving) to
//! their final codes — a warning scenario keeping its text.
//!
//! Without `terraform` or `curl` on PATH the test prints `SKIPPED: ...` and passes.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

mod cortex_support;

use cortex_cloud_types::KeyType;
use prisma_emulator::cortex::config::DEMO_TENANT;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const KEY: &str = "cortex-flow-key-0123456789abcdef";
/// The audit-log warning marker (docs/emulator.md).
const HOSTING: &str = "0000a0d1-0000-4000-8000-0000000000f1";

fn tools_available() -> bool {
    for tool in ["terraform", "curl"] {
        if !Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            eprintln!("SKIPPED: {tool} not on PATH");
            return false;
        }
    }
    true
}

async fn api(http: &reqwest::Client, base: &str, endpoint: &str, body: Value) -> Value {
    cortex_support::api(http, base, (7, KEY), endpoint, body).await
}

fn terraform(dir: &Path, args: &[&str]) {
    let out = Command::new("terraform")
        .args(args)
        .current_dir(dir)
        .env("TF_IN_AUTOMATION", "1")
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "terraform {args:?}:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_management_group_template_run_in_the_twin_connects_the_instance() {
    if !tools_available() {
        return;
    }
    let config =
        cortex_support::config(7, KEY, KeyType::Standard, Duration::from_millis(1500), true);
    let stop = CancellationToken::new();
    let emu = prisma_emulator::spawn(
        "127.0.0.1:0".parse().unwrap(),
        config,
        None,
        stop.clone().cancelled_owned(),
    )
    .await
    .unwrap();
    let base = emu.base_url();
    let http = reqwest::Client::new();

    let links = api(&http, &base, "create_instance_template", json!({
        "cloud_provider": "AZURE", "scope": "ACCOUNT_GROUP", "scan_mode": "MANAGED",
        "instance_name": "flow test",
        "account_details": {"organization_id": DEMO_TENANT},
        "custom_resources_tags": [{"key": "team", "value": "cloud"}],
        "collection_configuration": {"audit_logs": {"enabled": true, "collection_method": "AUTOMATED", "data_events": false}},
        "scope_modifications": {"regions": {"enabled": false}},
        "additional_capabilities": {"xsiam_analytics": false, "data_security_posture_management": false,
            "registry_scanning": false, "serverless_scanning": false, "agentless_disk_scanning": true},
    })).await;
    let tf = links["manual"]["TF"].as_str().unwrap().to_owned();
    let arm = links["manual"]["ARM"].as_str().unwrap();
    let guid = arm.split("/arm-").nth(1).unwrap()[..32].to_owned();
    assert!(
        tf.contains(&format!("/tf-{guid}-")) && tf.contains("&Signature="),
        "{tf}"
    );

    let download = http.get(&tf).send().await.unwrap();
    assert_eq!(download.status(), 200);
    assert!(
        download.headers()["x-goog-hash"]
            .to_str()
            .unwrap()
            .starts_with("md5=")
    );
    let bytes = download.bytes().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in cortex_support::bundle_files(&bytes) {
        let file = dir.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
    let twin = dir.path().join("twin");
    std::fs::copy(
        dir.path().join("terraform.tfvars.json"),
        twin.join("terraform.tfvars.json"),
    )
    .unwrap();
    std::fs::write(
        twin.join("deployment.auto.tfvars.json"),
        json!({ "subscription_id": HOSTING, "management_group_id": "mg-production",
                "resource_group_location": "westeurope" })
        .to_string(),
    )
    .unwrap();
    let applied = Instant::now();
    tokio::task::spawn_blocking(move || {
        terraform(&twin, &["init", "-input=false", "-no-color"]);
        terraform(
            &twin,
            &["apply", "-input=false", "-auto-approve", "-no-color"],
        );
    })
    .await
    .unwrap();

    // §8.2: the new instance, not the pending one.
    let list = api(
        &http,
        &base,
        "get_instances",
        json!({ "filter_data": {
        "filter": {"AND": [
            {"SEARCH_FIELD": "CLOUD_PROVIDER", "SEARCH_TYPE": "EQ", "SEARCH_VALUE": "AZURE"},
            {"SEARCH_FIELD": "STATUS", "SEARCH_TYPE": "NEQ", "SEARCH_VALUE": "PENDING"}]},
        "paging": {"from": 0, "to": 100}}}),
    )
    .await;
    assert_eq!(list["FILTER_COUNT"], 1, "{list}");
    let row = &list["DATA"][0];
    let id = row["instance_id"].as_str().unwrap().to_owned();
    assert_ne!(id, guid, "the callback creates a new instance");
    assert_eq!(row["provisioning_method"], "TF");
    assert_eq!(row["account_details"]["account_group"], "mg-production");

    let capability = |details: &Value, name: &str| {
        details["security_capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap()
    };
    let first = api(&http, &base, "get_instance_details", json!({ "id": id })).await;
    if applied.elapsed() < Duration::from_millis(1000) {
        assert_eq!(capability(&first, "AUDIT_LOGS")["status"], 4, "{first}");
    }
    assert_eq!(capability(&first, "DSPM")["status"], 2);
    let deadline = Instant::now() + Duration::from_secs(30);
    let details = loop {
        let d = api(&http, &base, "get_instance_details", json!({ "id": id })).await;
        let retrieving = d["security_capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["status"] == 4);
        if !retrieving {
            break d;
        }
        assert!(
            Instant::now() < deadline,
            "capabilities still retrieving: {d}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let audit = capability(&details, "AUDIT_LOGS");
    assert_eq!(audit["status"], 1);
    assert!(
        audit["message"]
            .as_str()
            .unwrap()
            .starts_with("Audit logs:"),
        "{audit}"
    );
    assert_eq!(capability(&details, "ADS")["status"], 0);
    assert_eq!(details["status"], "WARNING");

    let accounts = api(
        &http,
        &base,
        "get_accounts",
        json!({ "instance_id": id, "filter_data": {"paging": {"from": 0, "to": 100}} }),
    )
    .await;
    assert_eq!(
        accounts["TOTAL_COUNT"], 4,
        "the hosting subscription and mg-production's three: {accounts}"
    );
    stop.cancel();
}
