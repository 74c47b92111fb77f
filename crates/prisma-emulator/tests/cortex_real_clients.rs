//! PyPI `cortex-xdr-client` 2.0.0 (third-party, pinned with its full lock, unchanged) against
//! the emulator's Cortex Cloud face over https: it lists approved tenants, instances (with a
//! filter, sort and paging), one instance's details and its accounts, and disables and
//! re-enables an account — with an **advanced** key, so its own SHA-256 of key + nonce +
//! timestamp is what the emulator checks.
//!
//! `scripts/python-clients` installs it into `target/python-clients/cortex` (idempotent, so this
//! test never skips). The client accepts only a tenant host name (it prepends `api-` and speaks
//! https on 443), so it reaches the emulator the way the Prisma clients do: the emulator's
//! certificate names `api-sandbox.xdr.us.paloaltonetworks.com`, its CONNECT proxy routes that
//! host to it (`HTTPS_PROXY`), and the emulator's CA is the trusted bundle.

mod cortex_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use cortex_cloud_types::KeyType;
use prisma_emulator::connect_proxy::ProxyRoutes;
use prisma_emulator::cortex::config::DEMO_TENANT;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const FQDN: &str = "sandbox.xdr.us.paloaltonetworks.com";
const HOST: &str = "api-sandbox.xdr.us.paloaltonetworks.com";
/// The advanced key: it must appear in nothing the client prints.
const KEY: &str = "CANARY-cortex-advanced-key-5c1e9a7b0d";
const KEY_ID: u64 = 42;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn clients() -> PathBuf {
    let out = Command::new(workspace_root().join("scripts/python-clients"))
        .output()
        .expect("scripts/python-clients runs");
    assert!(
        out.status.success(),
        "installing the Python clients failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .trim(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cortex_xdr_client_lists_and_toggles_against_the_emulator() {
    let root = tokio::task::spawn_blocking(clients).await.unwrap();
    let config = cortex_support::config(
        KEY_ID,
        KEY,
        KeyType::Advanced,
        std::time::Duration::ZERO,
        false,
    );
    let tls = prisma_emulator::tls::generate(&[HOST.to_owned()]).unwrap();
    let stop = CancellationToken::new();
    let emu = prisma_emulator::spawn(
        "127.0.0.1:0".parse().unwrap(),
        config,
        Some(tls.acceptor),
        stop.clone().cancelled_owned(),
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(prisma_emulator::connect_proxy::serve(
        listener,
        ProxyRoutes {
            hosts: vec![HOST.to_owned()],
            upstream: emu.addr,
        },
        stop.clone().cancelled_owned(),
    ));
    let home = tempfile::tempdir().unwrap();
    let ca = home.path().join("emulator-ca.pem");
    std::fs::write(&ca, &tls.ca_cert_pem).unwrap();

    // A connected instance to look at: created through the API, connected by its callback
    // (the PUT the template's last resource sends).
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(tls.ca_cert_pem.as_bytes()).unwrap())
        .resolve(HOST, emu.addr)
        .build()
        .unwrap();
    let base = format!("https://{HOST}:{}", emu.addr.port());
    let advanced = |body: Value| {
        let nonce: String = (0..64).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        let nonce = format!("{}{}", &nonce[..50], rand_suffix());
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            .to_string();
        use sha2::Digest as _;
        let hash = sha2::Sha256::digest(format!("{KEY}{nonce}{ts}"));
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        http.post(format!(
            "{base}/public_api/v1/cloud_onboarding/create_instance_template"
        ))
        .header("Authorization", hex)
        .header("x-xdr-auth-id", KEY_ID.to_string())
        .header("x-xdr-nonce", nonce)
        .header("x-xdr-timestamp", ts)
        .json(&json!({ "request_data": body }))
    };
    let reply: Value = advanced(json!({
        "cloud_provider": "AZURE", "scope": "ORGANIZATION", "scan_mode": "MANAGED",
        "account_details": {"organization_id": DEMO_TENANT},
        "custom_resources_tags": [], "collection_configuration": {"audit_logs": {"enabled": false}},
        "scope_modifications": {}, "additional_capabilities": {},
    }))
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let tf = reply["reply"]["manual"]["TF"]
        .as_str()
        .unwrap_or_else(|| panic!("{reply}"));
    let tf = tf.to_owned();
    let bytes = http.get(&tf).send().await.unwrap().bytes().await.unwrap();
    let tfvars = cortex_support::bundle_tfvars(&bytes);
    let hosting = "5d000000-0000-4000-8000-0000000000a1";
    let upload = http
        .put(
            tfvars["upload_output_url"]
                .as_str()
                .unwrap()
                .replacen("http://", "https://", 1),
        )
        .json(&json!({
            "operation": "create_connector", "template_id": tfvars["template_id"],
            "template_version": tfvars["template_version"], "connector_id": tfvars["connector_id"],
            "provisioning_method": "TF", "account_id": hosting, "account_name": "",
            "account_group": DEMO_TENANT, "organization_id": DEMO_TENANT,
            "credentials": {"client_id": tfvars["outpost_client_id"], "tenant_id": DEMO_TENANT},
            "resources_data": {},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 200, "{}", upload.text().await.unwrap());
    let instance = {
        let s = emu.state.cortex.lock();
        s.all().find(|i| !i.is_pending()).unwrap().id.clone()
    };

    let bin = root.join("cortex/bin");
    let mut cmd = Command::new(bin.join("python"));
    cmd.arg(workspace_root().join("crates/prisma-emulator/tests/clients/cortex_calls.py"))
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("HOME", home.path())
        .env("HTTPS_PROXY", &proxy)
        .env("REQUESTS_CA_BUNDLE", &ca)
        .env("CORTEX_FQDN", FQDN)
        .env("CORTEX_KEY_ID", KEY_ID.to_string())
        .env("CORTEX_KEY", KEY)
        .env("CORTEX_KEY_TYPE", "advanced")
        .env("CORTEX_INSTANCE_ID", &instance);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "cortex-xdr-client failed:\n{stdout}\n{stderr}"
    );
    assert!(
        !stdout.contains(KEY) && !stderr.contains(KEY),
        "the key leaked"
    );
    let steps: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let step = |name: &str| {
        steps
            .iter()
            .find(|s| s["step"] == name)
            .unwrap_or_else(|| panic!("no step {name}: {stdout}"))["reply"]["reply"]
            .clone()
    };
    let tenants = step("approved_tenants");
    assert!(
        tenants["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["tenant_id"] == DEMO_TENANT)
    );
    let instances = step("instances");
    let ids: Vec<&str> = instances["DATA"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["instance_id"].as_str())
        .collect();
    assert!(ids.contains(&instance.as_str()), "{instances}");
    assert_eq!(step("details")["id"], instance.as_str());
    let accounts = step("accounts");
    assert!(accounts["TOTAL_COUNT"].as_u64().unwrap() >= 6, "{accounts}");
    assert_eq!(step("disable_account"), json!({}));
    let after = step("accounts_after_disable");
    assert_eq!(after["FILTER_COUNT"], 1, "{after}");
    assert_eq!(after["DATA"][0]["status"], "DISABLED");
    assert_eq!(step("enable_account"), json!({}));
    let s = emu.state.cortex.lock();
    assert!(
        s.get(&instance).unwrap().accounts.iter().all(|a| a.enabled),
        "re-enabled"
    );
    drop(s);
    stop.cancel();
}

/// 14 characters that differ per call, so two nonces never repeat.
fn rand_suffix() -> String {
    let n: u128 = rand::random();
    format!("{:014}", n % 100_000_000_000_000)
}
