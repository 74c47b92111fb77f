//! Cortex Cloud from the web server, against the emulator's Cortex face: *Test connection*
//! tries the key for real (ok with what works, or why not with the fix), and the instances
//! pages list a connection's integration instances and show one with its capabilities and
//! accounts, or the platform's sentence and fix — never a 500. A canary key comes back in no
//! page, API answer or log line (trace level).

use std::sync::{Arc, Mutex};

use cortex_cloud_client::CortexClient;
use cortex_cloud_types::{KeyId, KeyType, SecretString};
use onboarding_engine::connections::cortex::client_config;
use onboarding_engine::cortex::RawCortexRequest;
use prisma_emulator::EmulatorConfig;
use prisma_emulator::cortex::CortexConfig;
use prisma_emulator::cortex::config::DEMO_TENANT;
use serde_json::{Value, json};

use crate::common::*;

const KEY: &str = "CANARY-CORTEX-TEST-KEY-ab12cd34ef56gh78ij90kl12mn34op56";
const KEY_ID: u64 = 31;
const HOSTING: &str = "5e4d3c2b-1a09-4876-9543-210fedcba987";

fn with_cortex_key(config: &mut EmulatorConfig) {
    config.cortex = CortexConfig::new(
        KeyId::new(KEY_ID).unwrap(),
        SecretString::from(KEY),
        KeyType::Advanced,
    );
}

fn connection(name: &str, server: &Server, key: &str) -> Value {
    json!({
        "platform": "cortex",
        "name": name,
        "api_url": server.emu.base_url(),
        "key_id": KEY_ID,
        "key": key,
        "key_type": "advanced",
    })
}

const WRONG_KEY: &str = "CANARY-CORTEX-WRONG-KEY-0000000000000000000000000000";

/// Saves `cortex-good` (the emulator's key) and `cortex-wrong` (a key it does not know); the
/// answers, as text.
async fn good_and_wrong(server: &Server, admin: &Auth) -> String {
    let mut answers = String::new();
    for (name, key) in [("cortex-good", KEY), ("cortex-wrong", WRONG_KEY)] {
        let saved = server
            .save_connection(admin, connection(name, server, key))
            .await;
        answers.push_str(&saved.to_string());
    }
    answers
}

/// Everything logged on this thread (the server runs on the test's one thread), at trace level.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

async fn page(server: &Server, auth: &Auth, path: &str) -> (u16, String) {
    let r = server.request("GET", path, auth, None).await;
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn test_connection_tries_the_key_and_says_what_works_or_the_fix() {
    let (logs, _guard) = Logs::capture();
    let server = Server::start_with(Options {
        emulator: with_cortex_key,
        ..Options::default()
    })
    .await;
    let admin = server.login(ADMIN).await;
    let operator = server.login(OPERATOR).await;
    let mut seen = good_and_wrong(&server, &admin).await;

    let (status, ok) = server
        .call(
            "POST",
            "/api/v1/connections/cortex-good/test",
            &operator,
            None,
        )
        .await;
    assert_eq!(status, 200, "{ok}");
    assert_eq!(ok["ok"], true, "{ok}");
    let message = ok["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("key {KEY_ID} (advanced)")),
        "{message}"
    );
    assert!(message.contains("key accepted"), "{message}");
    assert!(
        message.contains(DEMO_TENANT),
        "the approved tenant: {message}"
    );
    assert!(
        message.contains("Expiration"),
        "where the expiry is: {message}"
    );
    seen.push_str(&ok.to_string());

    let (status, bad) = server
        .call(
            "POST",
            "/api/v1/connections/cortex-wrong/test",
            &operator,
            None,
        )
        .await;
    assert_eq!(status, 200, "{bad}");
    assert_eq!(bad["ok"], false, "{bad}");
    let message = bad["message"].as_str().unwrap();
    assert!(message.contains("not accepted"), "{message}");
    assert!(message.contains("401"), "{message}");
    assert!(message.contains("fix:"), "{message}");
    seen.push_str(&bad.to_string());

    // The page's button says the same, with an icon and a word.
    let r = post_form(
        &server,
        "/connections/cortex-good/test",
        &operator,
        true,
        &[],
    )
    .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("Connection OK"), "{html}");
    assert!(html.contains("key accepted"), "{html}");
    seen.push_str(&html);
    let r = post_form(
        &server,
        "/connections/cortex-wrong/test",
        &operator,
        true,
        &[],
    )
    .await;
    let html = r.text().await.unwrap();
    assert!(html.contains("Connection failed"), "{html}");
    assert!(html.contains("fix:"), "{html}");
    seen.push_str(&html);

    let (_, audit) = server.call("GET", "/api/v1/audit", &admin, None).await;
    seen.push_str(&audit.to_string());
    let logged = logs.text();
    assert!(
        logged.contains("api_keys/validate"),
        "the calls are logged: {logged}"
    );
    for (what, text) in [("answers", &seen), ("logs", &logged)] {
        assert!(
            !text.contains("CANARY-CORTEX"),
            "a key in the {what}: {text}"
        );
    }
}

/// A pending instance of the emulator's demo tenant, created through the client as the engine
/// would; its id.
async fn pending_instance(server: &Server, name: &str) -> String {
    let connection = server
        .engine
        .cortex_connection("cortex-good")
        .await
        .unwrap();
    let client = CortexClient::new(client_config(&connection, None)).unwrap();
    let request = RawCortexRequest {
        connection: Some("cortex-good".into()),
        instance_name: Some(name.into()),
        tenant_id: Some(DEMO_TENANT.into()),
        scope: Some("tenant".into()),
        subscription_id: Some(HOSTING.into()),
        capabilities: Some(vec!["registry_scanning".into(), "ads".into()]),
        ..RawCortexRequest::default()
    }
    .validate()
    .unwrap();
    client
        .create_instance_template(&request.instance_template())
        .await
        .unwrap()
        .tracking_guid()
        .unwrap()
}

#[tokio::test]
async fn the_instances_pages_read_the_tenant_live_and_show_its_errors_as_sentences() {
    let (logs, _guard) = Logs::capture();
    let server = Server::start_with(Options {
        emulator: with_cortex_key,
        ..Options::default()
    })
    .await;
    let admin = server.login(ADMIN).await;
    let viewer = server.login(VIEWER).await;
    let mut seen = String::new();

    // No Cortex connection yet: the page says where to add one.
    let (status, html) = page(&server, &viewer, "/instances").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("id=\"no-connection\""), "{html}");
    assert!(
        html.contains("href=\"/instances\""),
        "linked from the navigation"
    );

    good_and_wrong(&server, &admin).await;
    let (status, html) = page(&server, &viewer, "/instances?connection=cortex-good").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("id=\"no-instances\""), "{html}");

    let id = pending_instance(&server, "Azure prod").await;
    pending_instance(&server, "Azure dev").await;
    // Cortex lists pending instances only when asked for them.
    let (status, html) = page(&server, &viewer, "/instances?connection=cortex-good").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("id=\"no-instances\""), "{html}");
    let (status, html) = page(
        &server,
        &viewer,
        "/instances?connection=cortex-good&show=pending",
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("Azure prod") && html.contains("Azure dev"),
        "{html}"
    );
    assert!(
        html.contains(&format!("/instances/{id}?connection=cortex-good")),
        "{html}"
    );
    assert!(html.contains("pending"), "{html}");
    assert!(html.contains("tenant"), "the scope in words: {html}");
    assert!(
        html.contains("Registry Scanning") && html.contains("Agentless Disk Scanning"),
        "the capabilities chosen: {html}"
    );
    assert!(!html.contains("Serverless Scanning"), "not chosen: {html}");
    assert!(html.contains("1 to 2 of 2 instances"), "{html}");
    seen.push_str(&html);

    // One instance: its facts, capabilities (none reported while pending) and accounts.
    let (status, html) = page(
        &server,
        &viewer,
        &format!("/instances/{id}?connection=cortex-good"),
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<h1>Azure prod</h1>"), "{html}");
    assert!(html.contains("id=\"no-accounts\""), "{html}");
    seen.push_str(&html);

    // The platform refuses the key: its sentence and fix, as a 502 page.
    let (status, html) = page(&server, &viewer, "/instances?connection=cortex-wrong").await;
    assert_eq!(status, 502, "{html}");
    assert!(html.contains("id=\"instances-error\""), "{html}");
    assert!(html.contains("401") && html.contains("fix:"), "{html}");
    seen.push_str(&html);
    let (status, html) = page(
        &server,
        &viewer,
        &format!("/instances/{id}?connection=cortex-wrong"),
    )
    .await;
    assert_eq!(status, 502, "{html}");
    assert!(html.contains("fix:"), "{html}");
    seen.push_str(&html);

    // Bad input is named, never a 500.
    let (status, html) = page(
        &server,
        &viewer,
        "/instances/not-an-id?connection=cortex-good",
    )
    .await;
    assert_eq!(status, 400, "{html}");
    assert!(html.contains("32 hexadecimal digits"), "{html}");
    let (status, html) = page(&server, &viewer, "/instances?connection=nope").await;
    assert_eq!(status, 404, "{html}");
    assert!(html.contains("no Cortex Cloud connection named"), "{html}");
    let (status, html) = page(&server, &viewer, "/instances?connection=default").await;
    assert_eq!(
        status, 404,
        "a Prisma Cloud connection is not offered: {html}"
    );
    let missing = "0123456789abcdef0123456789abcdef";
    let (status, html) = page(
        &server,
        &viewer,
        &format!("/instances/{missing}?connection=cortex-good"),
    )
    .await;
    assert_ne!(status, 500, "{html}");
    assert!(html.contains("id=\"instance-error\""), "{html}");
    seen.push_str(&html);

    let logged = logs.text();
    for (what, text) in [("pages", &seen), ("logs", &logged)] {
        assert!(!text.contains("CANARY-CORTEX"), "a key in the {what}");
    }
}
