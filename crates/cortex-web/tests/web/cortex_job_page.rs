//! The job page of a Cortex Cloud onboarding, run for real: the web server with the
//! emulator's Cortex face, a saved Cortex connection, and a worker on the same store applying
//! the template's Terraform twin (whose callback reaches the emulator). The finished job's
//! page shows the instance with its status and link, the template (kind, MD5 checked, link
//! expiry), the callback wait, each capability with Cortex's text for a warning, the accounts
//! — and neither the signed template link nor the callback URL nor the key.

use std::time::Duration;

use cortex_cloud_types::{KeyId, KeyType, SecretString};
use onboarding_engine::{Engine, EngineConfig, TerraformMode};
use prisma_client::{BaseUrl, ClientConfig, Credentials};
use prisma_emulator::EmulatorConfig;
use prisma_emulator::cortex::CortexConfig;
use prisma_emulator::cortex::callback::ADS_WARNING;
use prisma_emulator::cortex::config::DEMO_TENANT;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::common::*;

use crate::workflows::page;

const KEY: &str = "CANARY-CORTEX-JOB-PAGE-KEY-0123456789abcdef0123456789";
/// Its marker makes Agentless Disk Scanning end in a warning (docs/emulator.md).
const WARNING_SUB: &str = "0000ad50-7777-4888-9999-aaaaaaaaaaaa";

fn cortex_face(config: &mut EmulatorConfig) {
    config.cortex = CortexConfig::new(
        KeyId::new(7).unwrap(),
        SecretString::from(KEY),
        KeyType::Standard,
    );
    config.cortex.capability_delay = Duration::from_millis(300);
    // Plain http links: the listener has no TLS.
    config.issuer = "http://127.0.0.1".into();
}

/// A worker on the server's store that runs Cortex jobs with the Terraform twin (the server's
/// own engine replays Terraform, which cannot make the template's callback).
async fn twin_worker(server: &Server) -> Engine {
    let dir = server.dir.path();
    let mut config = EngineConfig::new(dir.to_path_buf(), TerraformMode::sandbox());
    config.sandbox = true;
    config.verify_timeout = Duration::from_secs(20);
    config.poll_interval = Duration::from_millis(50);
    let client = ClientConfig::new(
        BaseUrl::parse(&server.emu.base_url(), false).unwrap(),
        Credentials::new(ACCESS_KEY, SECRET_KEY),
    );
    Engine::new(open_store(dir).await, client, config).unwrap()
}

fn section(html: &str) -> &str {
    let start = html
        .find(r#"id="cortex""#)
        .expect("the Cortex Cloud section");
    &html[start..start + html[start..].find("</section>").unwrap()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_cortex_job_shows_its_instance_template_callback_capabilities_and_accounts() {
    let server = Server::start_with(Options {
        worker: false,
        emulator: cortex_face,
        ..Options::default()
    })
    .await;
    let admin = server.login(ADMIN).await;
    server
        .save_connection(
            &admin,
            json!({
                "platform": "cortex", "name": "cortex-lab", "api_url": server.emu.base_url(),
                "key_id": 7, "key": KEY, "key_type": "standard",
            }),
        )
        .await;
    let (status, accepted) = server
        .call(
            "POST",
            "/api/v1/cortex/onboardings",
            &admin,
            Some(json!({
                "connection": "cortex-lab", "tenant_id": DEMO_TENANT,
                "scope": "subscription", "subscription_id": WARNING_SUB,
            })),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_owned();

    // Before it runs: the section says what is still to come.
    let (status, html) = page(&server, &format!("/jobs/{id}"), &admin).await;
    assert_eq!(status, 200);
    let before = section(&html);
    assert!(before.contains("not created yet"), "{before}");
    assert!(before.contains("not downloaded yet"), "{before}");
    assert!(
        before.contains(r#"data-callback="not_started""#),
        "{before}"
    );

    let worker = twin_worker(&server).await;
    worker
        .run_worker(CancellationToken::new(), true)
        .await
        .unwrap();
    let job = server
        .engine
        .store()
        .get_job(id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.state.as_str(), "succeeded", "{:?}", job.error);
    let instance = job.result.as_ref().unwrap()["instance_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, html) = page(&server, &format!("/jobs/{id}"), &admin).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("into Cortex Cloud"),
        "the heading names the platform"
    );
    assert!(html.contains(r#"data-approval-step="apply_template""#));
    assert!(html.contains("Cortex Cloud calls"));
    assert!(
        html.contains("<dt>Cortex Cloud connection</dt><dd>cortex-lab</dd>"),
        "{html}"
    );
    let s = section(&html);
    // The instance, its status and its page.
    assert!(
        s.contains(&format!(
            r#"<a href="/instances/{instance}?connection=cortex-lab"><code>{instance}</code></a>"#
        )),
        "{s}"
    );
    assert!(
        s.contains(r#"<span class="badge warn"><span class="icon i-warn" aria-hidden="true"></span> warning</span></dd>"#),
        "the instance's status: {s}"
    );
    assert!(
        s.contains(
            job.result.as_ref().unwrap()["pending_instance_id"]
                .as_str()
                .unwrap()
        )
    );
    // The template: kind, MD5 checked, link expiry.
    let md5 = job.result.as_ref().unwrap()["template_md5"]
        .as_str()
        .unwrap();
    assert!(
        s.contains(&format!("MD5 <code>{md5}</code> checked on download")),
        "{s}"
    );
    assert!(s.contains("terraform_data twin"), "{s}");
    assert!(s.contains("link valid until 20"), "{s}");
    // The callback: since when, received when.
    assert!(s.contains(r#"data-callback="received""#), "{s}");
    assert!(
        s.contains(" since 20") && s.contains(", received 20"),
        "{s}"
    );
    // The accounts found.
    assert!(s.contains(&format!("<code>{WARNING_SUB}</code>")), "{s}");
    assert!(s.contains("1 account(s)"), "{s}");
    // Each capability in the shared card; the warning keeps Cortex's text and our fix.
    let caps = &html[html.find(r#"id="capabilities""#).unwrap()..];
    let ads = &caps[caps.find(r#"data-capability="ADS""#).unwrap()..];
    let ads = &ads[..ads.find("</li>").unwrap()];
    assert!(
        ads.contains(r#"data-status="warning""#) && ads.contains("failure"),
        "{ads}"
    );
    let ads_text = ADS_WARNING.replace('\'', "&#39;");
    assert!(
        ads.contains(&format!("Why: {ads_text}")) || ads.contains(&format!("Why: {ADS_WARNING}")),
        "{ads}"
    );
    assert!(
        ads.contains("Fix: ") && ads.contains("Cortex Cloud docs for ADS"),
        "{ads}"
    );
    let dspm = &caps[caps.find(r#"data-capability="DSPM""#).unwrap()..];
    let dspm = &dspm[..dspm.find("</li>").unwrap()];
    assert!(
        dspm.contains(r#"data-status="connected""#) && !dspm.contains("failure"),
        "{dspm}"
    );

    // No credential on the page: neither signed URL the job holds, nor the key.
    let store = server.engine.store();
    for name in ["cortex_template_link", "cortex_upload_url"] {
        let url = store.get_secret(&id, name).await.unwrap().expect(name);
        let url = url.expose();
        assert!(url.starts_with("http"), "{name}");
        assert!(!html.contains(url), "{name} on the page");
        let path = url.split('?').next().unwrap();
        assert!(
            !html.contains(path.trim_start_matches(&server.emu.base_url())),
            "{name}"
        );
    }
    assert!(!html.contains("X-Goog-Signature") && !html.contains("/_cortex/upload/"));
    assert!(!html.contains(KEY));
}
