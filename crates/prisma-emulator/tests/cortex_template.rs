//! The Cortex face's template links, bundles and callback, served on port 0 on a test state
//! behind `TemplateHost`: downloads with their checksum, expired and forged links refused, the
//! bundle's twin applied with the real `terraform` binary calling the emulator back (once), and
//! the callback's refusals.
//!
//! Without `terraform` or `curl` on PATH the apply test prints `SKIPPED: ...` and passes.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_config::cortex::{CloudEnvironment, CortexCapabilities, CortexScope, CortexTemplate};
use base64::Engine as _;
use md5::Digest as _;
use prisma_emulator::cortex::callback::{
    CapabilityPlan, ChosenCapabilities, CreateConnector, DiscoveredAccount, SubscriptionFilter,
    UPLOAD_VALIDITY, status,
};
use prisma_emulator::cortex::template::{LINK_VALIDITY, LinkSigner, TemplateKind, template_link};
use prisma_emulator::cortex::template_routes::{
    self, Connected, PendingRecord, TemplateHost, bundle_values,
};
use prisma_types::TenantId;
use serde_json::{Value, json};

const TENANT: &str = "7e000000-0000-4000-8000-0000000000c7";
const HOSTING: &str = "5d000000-0000-4000-8000-0000000000c7";
const WARN_HOSTING: &str = "0000a0d1-0000-4000-8000-0000000000c7";

struct Instance {
    body: CreateConnector,
    accounts: Vec<DiscoveredAccount>,
    capabilities: Vec<CapabilityPlan>,
}

struct Host {
    signer: LinkSigner,
    pending: Mutex<HashMap<String, PendingRecord>>,
    connected: Mutex<Vec<Instance>>,
}

impl TemplateHost for Host {
    fn signer(&self) -> &LinkSigner {
        &self.signer
    }
    fn now_secs(&self) -> i64 {
        now()
    }
    fn capability_delay(&self) -> Duration {
        Duration::from_secs(3)
    }
    fn pending(&self, guid: &str) -> Option<PendingRecord> {
        self.pending.lock().unwrap().get(guid).cloned()
    }
    fn connect(
        &self,
        _pending: &PendingRecord,
        body: &CreateConnector,
        accounts: Vec<DiscoveredAccount>,
        capabilities: Vec<CapabilityPlan>,
    ) -> Connected {
        let mut connected = self.connected.lock().unwrap();
        if let Some(i) = connected
            .iter()
            .position(|i| i.body.connector_id == body.connector_id)
        {
            return Connected::AlreadyExisted(i.to_string());
        }
        connected.push(Instance {
            body: body.clone(),
            accounts,
            capabilities,
        });
        Connected::Created((connected.len() - 1).to_string())
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn record(guid: &str, scope: CortexScope, created_at: i64) -> PendingRecord {
    PendingRecord {
        guid: guid.into(),
        tenant_id: TenantId::parse(TENANT).unwrap(),
        template: CortexTemplate {
            scope,
            capabilities: CortexCapabilities::ALL,
            audit_logs: scope != CortexScope::ManagementGroup,
            cloud_environment: CloudEnvironment::Public,
        },
        chosen: ChosenCapabilities {
            agentless_disk_scanning: true,
            audit_logs: scope != CortexScope::ManagementGroup,
            ..Default::default()
        },
        tags: BTreeMap::from([("team".into(), "cloud".into())]),
        subscriptions: None,
        created_at,
    }
}

struct Server {
    host: Arc<Host>,
    base: String,
    http: reqwest::Client,
}

async fn start(records: Vec<PendingRecord>) -> Server {
    let host = Arc::new(Host {
        signer: LinkSigner::random(),
        pending: Mutex::new(records.into_iter().map(|r| (r.guid.clone(), r)).collect()),
        connected: Mutex::new(Vec::new()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = template_routes::routes(host.clone(), false);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server {
        host,
        base,
        http: reqwest::Client::new(),
    }
}

impl Server {
    fn link(&self, kind: TemplateKind, guid: &str, issued_at: i64) -> String {
        template_link(&self.base, kind, guid, issued_at, &self.host.signer)
    }

    async fn get(&self, url: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let r = self.http.get(url).send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, headers, r.bytes().await.unwrap().to_vec())
    }

    fn upload_url(&self, guid: &str) -> String {
        let rec = self.host.pending(guid).unwrap();
        bundle_values(&rec, &self.host.signer, &self.base).upload_output_url
    }
}

fn unpack(bytes: &[u8], dir: &Path) -> Vec<String> {
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut tar)
        .unwrap();
    let mut names = Vec::new();
    for entry in tar::Archive::new(tar.as_slice()).entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        entry.unpack_in(dir).unwrap();
        names.push(name);
    }
    names
}

const GUID_A: &str = "aaaa3a29260c404183d1a0ea6cbd4418";

#[tokio::test]
async fn downloads_carry_their_checksum_and_links_expire_after_seven_days() {
    let issued = now();
    let s = start(vec![record(GUID_A, CortexScope::Tenant, issued)]).await;
    let link = s.link(TemplateKind::Terraform, GUID_A, issued);
    let (status, headers, bytes) = s.get(&link).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(headers["content-type"], "application/gzip");
    let md5 = md5::Md5::digest(&bytes);
    assert_eq!(
        headers["x-goog-hash"].to_str().unwrap(),
        format!(
            "md5={}",
            base64::engine::general_purpose::STANDARD.encode(md5)
        )
    );
    assert_eq!(
        headers["content-disposition"].to_str().unwrap(),
        format!("attachment; filename=tf-{GUID_A}-{issued}.tar.gz")
    );
    let (_, again_headers, again) = s.get(&link).await;
    assert_eq!(again, bytes, "a re-download yields the same bytes");
    assert_eq!(again_headers["etag"], headers["etag"]);
    let dir = tempfile::tempdir().unwrap();
    let names = unpack(&bytes, dir.path());
    assert_eq!(
        names,
        [
            "main.tf.json",
            "terraform.tfvars.json",
            "twin/main.tf.json",
            "README.md"
        ]
    );
    let main: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("main.tf.json")).unwrap())
            .unwrap();
    assert!(main["resource"]["terracurl_request"]["create_connector_notification"].is_object());

    // The SDK's regex finds the GUID in the ARM link, which downloads too.
    let arm = s.link(TemplateKind::Arm, GUID_A, issued);
    let file = arm.split('?').next().unwrap().rsplit('/').next().unwrap();
    assert!(file.starts_with(&format!("arm-{GUID_A}-")));
    assert_eq!(s.get(&arm).await.0, 200);

    // Expired: issued 7 days and a second ago.
    let old = s.link(
        TemplateKind::Terraform,
        GUID_A,
        issued - LINK_VALIDITY.as_secs() as i64 - 1,
    );
    let (status, _, body) = s.get(&old).await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("<Code>ExpiredToken</Code>"));
    // Forged: a longer life with the old signature.
    let forged = link.replace(
        &format!("Expires={}", issued + LINK_VALIDITY.as_secs() as i64),
        &format!("Expires={}", issued + 30 * 86400),
    );
    let (status, _, body) = s.get(&forged).await;
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("SignatureDoesNotMatch"));
    let (status, _, _) = s.get(link.split('?').next().unwrap()).await;
    assert_eq!(status, 400, "an unsigned link");
    // Signed, but no such pending instance.
    let gone = s.link(
        TemplateKind::Terraform,
        "bbbb3a29260c404183d1a0ea6cbd4418",
        issued,
    );
    let (status, _, body) = s.get(&gone).await;
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("NoSuchKey"));
}

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

fn terraform(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("terraform")
        .args(args)
        .current_dir(dir)
        .env("TF_IN_AUTOMATION", "1")
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .unwrap()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = terraform(dir, args);
    assert!(
        out.status.success(),
        "terraform {args:?}:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bundles_twin_calls_the_emulator_back_and_connects_each_scope() {
    if !tools_available() {
        return;
    }
    let issued = now();
    let guids = [
        (
            "c1c13a29260c404183d1a0ea6cbd4418",
            CortexScope::Tenant,
            WARN_HOSTING,
        ),
        (
            "c2c23a29260c404183d1a0ea6cbd4418",
            CortexScope::ManagementGroup,
            HOSTING,
        ),
        (
            "c3c33a29260c404183d1a0ea6cbd4418",
            CortexScope::Subscription,
            HOSTING,
        ),
    ];
    let mut records: Vec<PendingRecord> = guids
        .iter()
        .map(|(g, scope, _)| record(g, *scope, issued))
        .collect();
    // The management group excludes one of its subscriptions.
    let mg_subs: Vec<String> = prisma_emulator::store::tenant_hierarchy(TENANT)
        .into_iter()
        .filter(|n| n.parent.as_deref() == Some("mg-production"))
        .map(|n| n.id)
        .collect();
    records[1].subscriptions = Some(SubscriptionFilter {
        include: false,
        subscription_ids: vec![mg_subs[0].clone()],
    });
    let s = start(records).await;
    for (n, (guid, scope, hosting)) in guids.iter().enumerate() {
        let (status, _, bytes) = s.get(&s.link(TemplateKind::Terraform, guid, issued)).await;
        assert_eq!(status, 200);
        let dir = tempfile::tempdir().unwrap();
        unpack(&bytes, dir.path());
        let twin = dir.path().join("twin");
        std::fs::copy(
            dir.path().join("terraform.tfvars.json"),
            twin.join("terraform.tfvars.json"),
        )
        .unwrap();
        let mut deployment =
            json!({ "subscription_id": hosting, "resource_group_location": "westeurope" });
        if *scope == CortexScope::ManagementGroup {
            deployment["management_group_id"] = json!("mg-production");
        }
        std::fs::write(
            twin.join("deployment.auto.tfvars.json"),
            deployment.to_string(),
        )
        .unwrap();
        let twin_dir = twin.clone();
        tokio::task::spawn_blocking(move || {
            ok(&twin_dir, &["init", "-input=false", "-no-color"]);
            ok(
                &twin_dir,
                &["apply", "-input=false", "-auto-approve", "-no-color"],
            );
            // Converged: nothing changes and nothing calls back again.
            let again = terraform(
                &twin_dir,
                &["plan", "-input=false", "-no-color", "-detailed-exitcode"],
            );
            assert_eq!(again.status.code(), Some(0));
        })
        .await
        .unwrap();

        let connected = s.host.connected.lock().unwrap();
        assert_eq!(
            connected.len(),
            n + 1,
            "{scope:?}: one instance per callback"
        );
        let i = &connected[n];
        assert_eq!(i.body.template_id, *guid);
        assert_eq!(i.body.account_id.as_str(), *hosting);
        let accounts: Vec<&str> = i
            .accounts
            .iter()
            .map(|a| a.subscription_id.as_str())
            .collect();
        match scope {
            CortexScope::Tenant => assert_eq!(accounts.len(), 7),
            CortexScope::ManagementGroup => {
                assert_eq!(accounts.len(), 3, "hosting + two of three, one excluded");
                assert!(!accounts.contains(&mg_subs[0].as_str()));
            }
            CortexScope::Subscription => assert_eq!(accounts, [HOSTING]),
        }
        let audit = i
            .capabilities
            .iter()
            .find(|c| c.name == "AUDIT_LOGS")
            .unwrap();
        assert_eq!(
            audit.status_at(0),
            if *scope == CortexScope::ManagementGroup {
                status::DISABLED
            } else {
                status::RETRIEVING
            }
        );
        if *hosting == WARN_HOSTING {
            assert_eq!(audit.status_at(3000), status::WARNING);
            assert!(audit.message_at(3000).unwrap().starts_with("Audit logs:"));
        }
    }

    // A repeated callback (a resumed apply) answers 200 and creates nothing.
    let body = {
        let c = s.host.connected.lock().unwrap();
        let b = &c[2].body;
        json!({
            "operation": "create_connector", "template_id": b.template_id,
            "template_version": b.template_version, "connector_id": b.connector_id,
            "provisioning_method": "TF", "account_id": b.account_id.as_str(), "account_name": "",
            "account_group": "", "organization_id": TENANT,
            "credentials": {"client_id": b.client_id.as_str(), "tenant_id": TENANT},
            "resources_data": b.resources_data,
        })
    };
    let url = s.upload_url(guids[2].0);
    let r = s.http.put(&url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"reply": {}}));
    assert_eq!(s.host.connected.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn callbacks_are_refused_naming_the_problem() {
    let issued = now();
    let guid = "d4d43a29260c404183d1a0ea6cbd4418";
    let expired_guid = "e5e53a29260c404183d1a0ea6cbd4418";
    let s = start(vec![
        record(guid, CortexScope::Subscription, issued),
        record(
            expired_guid,
            CortexScope::Subscription,
            issued - UPLOAD_VALIDITY.as_secs() as i64 - 1,
        ),
    ])
    .await;
    let url = s.upload_url(guid);
    let connector = url
        .split("/upload/")
        .nth(1)
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let good = json!({
        "operation": "create_connector", "template_id": guid,
        "template_version": {"BASE-tf_account_base": "1.0.0"}, "connector_id": connector,
        "provisioning_method": "TF", "account_id": HOSTING, "account_name": "",
        "account_group": "", "organization_id": TENANT,
        "credentials": {"client_id": template_routes::OUTPOST_CLIENT_ID, "tenant_id": TENANT},
        "resources_data": {},
    });
    let put = |url: String, body: Value| {
        let http = s.http.clone();
        async move {
            let r = http.put(url).json(&body).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let (status, reply) = put(url.replace("Signature=", "Signature=00"), good.clone()).await;
    assert_eq!(
        (status, reply["reply"]["err_code"].clone()),
        (403, json!(403))
    );
    let (status, _) = put(s.upload_url(expired_guid), good.clone()).await;
    assert_eq!(status, 410);
    let mut bad = good.clone();
    bad["provisioning_method"] = json!("CLI");
    let (status, reply) = put(url.clone(), bad).await;
    assert_eq!(status, 400);
    assert_eq!(
        reply["reply"]["err_extra"][0]["loc"],
        json!(["body", "provisioning_method"])
    );
    let mut other = good.clone();
    other["organization_id"] = json!(HOSTING);
    other["credentials"]["tenant_id"] = json!(HOSTING);
    let (status, reply) = put(url.clone(), other).await;
    assert_eq!(status, 422);
    assert_eq!(reply["reply"]["err_extra"][0]["loc"][1], "organization_id");
    let mut group = good.clone();
    group["account_group"] = json!("mg-production");
    assert_eq!(put(url.clone(), group).await.0, 422);
    assert!(
        s.host.connected.lock().unwrap().is_empty(),
        "nothing was created"
    );
    assert_eq!(put(url, good).await.0, 200);
    assert_eq!(s.host.connected.lock().unwrap().len(), 1);
}
