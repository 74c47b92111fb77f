//! The Cortex face's state in the write-through snapshot: an emulator restarted from the file
//! resumes with its pending and connected instances, their accounts (an account disabled
//! before stays disabled), the capabilities' course (retrieving ones still settle), and the
//! template links and upload URL it issued; the file never holds the API key.

use std::time::Duration;

mod cortex_support;

use cortex_cloud_types::KeyType;
use prisma_emulator::RunningEmulator;
use prisma_emulator::cortex::config::DEMO_TENANT;
use prisma_emulator::cortex::template_routes::OUTPOST_CLIENT_ID;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// The API key, a canary: it must appear nowhere in the snapshot.
const KEY: &str = "CORTEX-SNAPSHOT-CANARY-KEY-5d1e0c3b9a7f";
const HOSTING: &str = "5ab50000-0000-4000-8000-0000000000f1";
const DELAY: Duration = Duration::from_millis(2500);

async fn start(path: &std::path::Path) -> (RunningEmulator, CancellationToken) {
    let stop = CancellationToken::new();
    let emu = prisma_emulator::spawn(
        "127.0.0.1:0".parse().unwrap(),
        cortex_support::config(7, KEY, KeyType::Standard, DELAY, true),
        None,
        stop.clone().cancelled_owned(),
    )
    .await
    .unwrap();
    prisma_emulator::snapshot::load(&emu.state, path).unwrap();
    emu.state.persist_to(path.to_owned());
    (emu, stop)
}

async fn api(base: &str, endpoint: &str, body: Value) -> Value {
    cortex_support::api(&reqwest::Client::new(), base, (7, KEY), endpoint, body).await
}

fn create_body(name: &str) -> Value {
    json!({
        "cloud_provider": "AZURE", "scope": "ACCOUNT_GROUP", "scan_mode": "MANAGED",
        "instance_name": name, "account_details": {"organization_id": DEMO_TENANT},
        "custom_resources_tags": [], "scope_modifications": {},
        "collection_configuration": {"audit_logs": {"enabled": false}},
        "additional_capabilities": {"registry_scanning": true, "agentless_disk_scanning": true},
    })
}

/// Every instance, pending ones included, sorted by creation time.
async fn instances(base: &str) -> Vec<Value> {
    let list = api(
        base,
        "get_instances",
        json!({"filter_data": {
            "filter": {"OR": [{"SEARCH_FIELD": "STATUS", "SEARCH_TYPE": "IN",
                               "SEARCH_VALUE": ["PENDING", "CONNECTED", "WARNING", "ERROR"]}]},
            "sort": [{"FIELD": "CREATION_TIME", "ORDER": "ASC"}],
            "paging": {"from": 0, "to": 100}}}),
    )
    .await;
    list["DATA"].as_array().unwrap().clone()
}

fn statuses(details: &Value) -> Vec<(String, i64)> {
    details["security_capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["status"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_emulator_resumes_its_cortex_instances_and_links() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let (emu, stop) = start(&path).await;
    let base = emu.base_url();

    // A pending instance, its bundle, and the callback that connects a second one.
    let links = api(&base, "create_instance_template", create_body("kept")).await;
    assert!(path.exists(), "a create is saved before it answers");
    let tf = links["manual"]["TF"].as_str().unwrap().to_owned();
    let bundle = reqwest::get(&tf).await.unwrap();
    assert_eq!(bundle.status(), 200);
    let vars = cortex_support::bundle_tfvars(&bundle.bytes().await.unwrap());
    let upload = vars["upload_output_url"].as_str().unwrap().to_owned();
    let callback = json!({
        "operation": "create_connector", "template_id": vars["template_id"],
        "template_version": vars["template_version"], "connector_id": vars["connector_id"],
        "provisioning_method": "TF", "account_id": HOSTING, "account_name": "hosting",
        "account_group": "mg-production", "organization_id": DEMO_TENANT,
        "credentials": {"client_id": OUTPOST_CLIENT_ID, "tenant_id": DEMO_TENANT},
        "resources_data": {},
    });
    let http = reqwest::Client::new();
    let r = http.put(&upload).json(&callback).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let before = instances(&base).await;
    assert_eq!(before.len(), 2, "{before:?}");
    let pending = before[0]["instance_id"].as_str().unwrap().to_owned();
    let connected = before[1]["instance_id"].as_str().unwrap().to_owned();
    assert_eq!(before[0]["status"], "PENDING");
    let accounts = |base: String, id: String| async move {
        api(
            &base,
            "get_accounts",
            json!({"instance_id": id, "filter_data": {"paging": {"from": 0, "to": 100}}}),
        )
        .await["DATA"]
            .as_array()
            .unwrap()
            .clone()
    };
    let rows = accounts(base.clone(), connected.clone()).await;
    assert!(rows.len() > 1, "{rows:?}");
    let disabled = rows[1]["account_id"].as_str().unwrap().to_owned();
    api(
        &base,
        "enable_disable_account",
        json!({"instance_id": connected, "ids": [disabled], "enable": false}),
    )
    .await;
    let details = api(&base, "get_instance_details", json!({"id": connected})).await;
    assert!(
        statuses(&details).iter().any(|(_, s)| *s == 4),
        "some capability is still retrieving when the emulator stops: {details}"
    );

    // The file: both instances, never the key or a signed link.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(&connected) && text.contains(&pending));
    assert!(!text.contains(KEY), "the Cortex API key was written");
    assert!(!text.contains("Signature="), "a signed link was written");
    stop.cancel();
    emu.task.await.unwrap();

    // A new process on another port, the same key, the same file.
    let (emu, stop) = start(&path).await;
    let base = emu.base_url();
    let after = instances(&base).await;
    let ids = |rows: &[Value]| -> Vec<String> {
        rows.iter()
            .map(|r| r["instance_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&after), ids(&before));
    assert_eq!(after[0]["status"], "PENDING");
    let rows = accounts(base.clone(), connected.clone()).await;
    let status_of = |id: &str| {
        rows.iter()
            .find(|r| r["account_id"] == id)
            .map(|r| r["status"].clone())
    };
    assert_eq!(status_of(&disabled), Some(json!("DISABLED")));
    assert_eq!(status_of(HOSTING), Some(json!("ACTIVE")));

    // The capabilities finish their course after the restart.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let details = api(&base, "get_instance_details", json!({"id": connected})).await;
        let now = statuses(&details);
        if now.iter().all(|(_, s)| *s != 4) {
            assert!(now.contains(&("REGISTRY".into(), 0)), "{details}");
            assert_eq!(details["status"], "CONNECTED");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{details}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The links issued before the restart still work (the restarted emulator's port is
    // another one: the path and signature are what count), and the callback finds its
    // instance instead of creating a second.
    let moved = |url: &str| {
        let rest = url.split_once("/_cortex/").unwrap().1;
        format!("{base}/_cortex/{rest}")
    };
    assert_eq!(reqwest::get(moved(&tf)).await.unwrap().status(), 200);
    let r = http
        .put(moved(&upload))
        .json(&callback)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(instances(&base).await.len(), 2, "no second instance");

    // A new instance gets a new id, created after every restored one.
    api(&base, "create_instance_template", create_body("new")).await;
    let last = instances(&base).await;
    assert_eq!(last.len(), 3);
    let new_id = last[2]["instance_id"].as_str().unwrap();
    assert!(!ids(&before).iter().any(|id| id == new_id));
    assert_eq!(last[2]["instance_name"], "new");
    assert!(last[2]["creation_time"].as_i64() >= last[1]["creation_time"].as_i64());
    stop.cancel();
}

/// A restart with another key (the sandbox generates one per start) keeps the state, but
/// links signed under the old key are refused, as links from another tenant would be.
#[tokio::test]
async fn links_are_bound_to_the_key_and_old_snapshots_still_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let (emu, stop) = start(&path).await;
    let links = api(
        &emu.base_url(),
        "create_instance_template",
        create_body("k"),
    )
    .await;
    stop.cancel();
    emu.task.await.unwrap();

    let stop = CancellationToken::new();
    let emu = prisma_emulator::spawn(
        "127.0.0.1:0".parse().unwrap(),
        cortex_support::config(8, "another-key-0123456789", KeyType::Standard, DELAY, true),
        None,
        stop.clone().cancelled_owned(),
    )
    .await
    .unwrap();
    assert!(prisma_emulator::snapshot::load(&emu.state, &path).unwrap());
    assert_eq!(emu.state.cortex.lock().all().count(), 1);
    let tf = links["manual"]["TF"].as_str().unwrap();
    let rest = tf.split_once("/_cortex/").unwrap().1;
    let r = reqwest::get(format!("{}/_cortex/{rest}", emu.base_url()))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    stop.cancel();

    // A version 1 file (Prisma accounts and groups only) loads with no Cortex instance.
    let v1 = dir.path().join("v1.json");
    std::fs::write(&v1, r#"{"version": 1, "accounts": [], "groups": []}"#).unwrap();
    let fresh = prisma_emulator::EmulatorState::new(cortex_support::config(
        7,
        KEY,
        KeyType::Standard,
        DELAY,
        true,
    ));
    assert!(prisma_emulator::snapshot::load(&fresh, &v1).unwrap());
    assert_eq!(fresh.cortex.lock().all().count(), 0);
    assert!(fresh.cortex.lock().is_approved(DEMO_TENANT));
}

/// A withdrawn approval (`/_emulator/cortex/approved-tenants`) is state: saved, and still
/// withdrawn after a restart, although the configuration approves the tenant.
#[tokio::test]
async fn a_withdrawn_approval_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let http = reqwest::Client::new();
    let (emu, stop) = start(&path).await;
    let switch = |base: String, tenant: &str, body: Value| {
        let (http, url) = (
            http.clone(),
            format!("{base}/_emulator/cortex/approved-tenants/{tenant}"),
        );
        async move {
            let r = http.put(url).json(&body).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let base = emu.base_url();
    let (status, text) = switch(base.clone(), "not-a-guid", json!({"approved": false})).await;
    assert_eq!(status, 400);
    assert!(text.contains("tenant_id"), "{text}");
    let (status, _) = switch(base.clone(), DEMO_TENANT, json!({"approved": "no"})).await;
    assert_eq!(status, 400, "the body is checked");
    assert_eq!(
        switch(base.clone(), DEMO_TENANT, json!({"approved": false}))
            .await
            .0,
        204
    );
    stop.cancel();
    emu.task.await.unwrap();

    let (emu, stop) = start(&path).await;
    let base = emu.base_url();
    let create = |base: String| {
        let http = http.clone();
        async move {
            http.post(format!(
                "{base}/public_api/v1/cloud_onboarding/create_instance_template"
            ))
            .header("Authorization", KEY)
            .header("x-xdr-auth-id", "7")
            .json(&json!({"request_data": create_body("refused")}))
            .send()
            .await
            .unwrap()
        }
    };
    let refused = create(base.clone()).await;
    assert_eq!(refused.status(), 422);
    let reply: Value = refused.json().await.unwrap();
    assert_eq!(
        reply["reply"]["err_extra"][0]["loc"],
        json!(["body", "request_data", "account_details", "organization_id"])
    );
    let tenants = api(&base, "get_azure_approved_tenants", json!({})).await;
    assert_eq!(
        tenants["tenants"][0]["is_still_approved"], false,
        "{tenants}"
    );
    let listed: Value = http
        .get(format!("{base}/_emulator/cortex/approved-tenants"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["tenants"][0]["tenant_id"], DEMO_TENANT);
    assert_eq!(
        switch(base.clone(), DEMO_TENANT, json!({"approved": true}))
            .await
            .0,
        204
    );
    assert_eq!(create(base).await.status(), 200);
    stop.cancel();
}
