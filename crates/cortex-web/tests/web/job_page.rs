//! The job page of a failing job and what leads on from it: one card per failing capability
//! (the fix shown once), the pre-flight step shown failed, a header saying what is onboarded,
//! the plan review in words, and *edit and retry* (the wizard filled from the job, the secret
//! kept on the server).

use serde_json::json;

use crate::common::*;
use crate::workflows::{location, page, post_form};

/// The emulator's marker `0000f10e`: the flow-logs check fails.
fn flow_logs_broken(n: u32) -> String {
    format!("0000f10e-{n:04x}-4222-8333-444444444444")
}

fn occurrences(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// The `<li>` of a step on the job page.
fn step_row<'a>(html: &'a str, step: &str) -> &'a str {
    let start = html
        .find(&format!(r#"data-step="{step}""#))
        .unwrap_or_else(|| panic!("{step} missing"));
    &html[start..start + html[start..].find("</li>").unwrap()]
}

async fn submit(server: &Server, auth: &Auth, request: serde_json::Value) -> String {
    let (status, body) = server
        .call("POST", "/api/v1/jobs", auth, Some(request))
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    server.wait_for(&id, |s| s.is_terminal()).await;
    id
}

#[tokio::test]
async fn a_failing_job_shows_one_card_per_failing_capability_and_the_fix_once() {
    let server = Server::start().await;
    let auth = server.login(OPERATOR).await;
    let mut request = subscription(1);
    request["subscription_id"] = json!(flow_logs_broken(1));
    request["flow_logs"] = json!(true);
    let id = submit(&server, &auth, request).await;

    let (_, job) = server
        .call("GET", &format!("/api/v1/jobs/{id}"), &auth, None)
        .await;
    assert_eq!(job["error"]["code"], "preflight_failed", "{job}");
    let events = server
        .engine
        .store()
        .events_after(id.parse().unwrap(), 0, u32::MAX)
        .await
        .unwrap();
    let fix = events
        .iter()
        .rev()
        .find(|e| e.event["type"] == "capability_status" && e.event["status"] != "ok")
        .and_then(|e| e.event["remediation"].as_str().map(str::to_owned))
        .expect("a failing capability with its fix");

    let (status, html) = page(&server, &format!("/jobs/{id}"), &auth).await;
    assert_eq!(status, 200);
    // One card for the one failing capability, with why, the fix and the docs, and the fix
    // nowhere else on the page (askama escapes quotes: compare the escaped text).
    let escaped_fix = fix
        .replace('&', "&#38;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
        .replace('<', "&#60;")
        .replace('>', "&#62;");
    assert_eq!(occurrences(&html, &escaped_fix), 1, "{html}");
    assert_eq!(
        occurrences(&html, r#"class="cap bad failure""#),
        1,
        "{html}"
    );
    assert!(html.contains(r#"<li data-capability="Flow Logs" data-status="error""#));
    assert!(html.contains("Why: "));
    assert!(html.contains(r#"<a class="docs" href="https://docs.prismacloud.io/"#));
    // The healthy capability is listed without a card.
    assert!(html.contains(r#"data-capability="Cloud Visibility Compliance and Governance" data-status="ok" class="cap ok""#), "{html}");
    // Pre-flight shows failed; nothing after it ran.
    assert!(step_row(&html, "preflight").contains("failed"), "{html}");
    assert!(step_row(&html, "register").contains("pending"));
    // The header says what was onboarded.
    for fact in [
        "<dt>Subscription id</dt><dd>0000f10e-0001-4222-8333-444444444444</dd>",
        &format!("<dt>Tenant id</dt><dd>{TENANT}</dd>"),
        "<dt>Flow logs</dt><dd>on</dd>",
        "<dt>Account groups</dt><dd>Default Account Group</dd>",
        "<dt>If pre-flight checks fail</dt><dd>stop before registering</dd>",
        "<dt>Prisma Cloud connection</dt><dd>default</dd>",
    ] {
        assert!(html.contains(fact), "{fact}: {html}");
    }
    // Edit and retry (and resume) are offered to an operator, not to a viewer.
    assert!(html.contains(&format!(
        r#"<a id="retry-link" class="button secondary" href="/onboard?from={id}">Edit and retry</a>"#
    )));
    let viewer = server.login(VIEWER).await;
    let (_, html) = page(&server, &format!("/jobs/{id}"), &viewer).await;
    assert!(!html.contains("retry-link"));
}

#[tokio::test]
async fn register_anyway_shows_the_preflight_as_a_warning() {
    let server = Server::start().await;
    let auth = server.login(OPERATOR).await;
    let mut request = subscription(2);
    request["subscription_id"] = json!(flow_logs_broken(2));
    request["flow_logs"] = json!(true);
    request["register_anyway"] = json!(true);
    let id = submit(&server, &auth, request).await;
    let (_, html) = page(&server, &format!("/jobs/{id}"), &auth).await;
    let preflight = step_row(&html, "preflight");
    assert!(preflight.contains("warning"), "{preflight}");
    assert!(step_row(&html, "register").contains("succeeded"));
    assert!(step_row(&html, "verify").contains("failed"));
    assert!(html.contains("<dt>If pre-flight checks fail</dt><dd>register anyway</dd>"));
    // Verification's fix (Prisma Cloud's) replaced the pre-flight one: still one card.
    assert_eq!(
        occurrences(&html, r#"class="cap bad failure""#),
        1,
        "{html}"
    );
    assert_eq!(occurrences(&html, "Fix: "), 1);
}

#[tokio::test]
async fn the_plan_review_says_in_words_what_will_be_created() {
    let server = Server::start().await;
    let auth = server.login(OPERATOR).await;
    let sub = guid(0x7a00, 7);
    let fields = format!(
        "scope=subscription&tenant_id={TENANT}&subscription_id={sub}&name=worded\
         &groups=Default+Account+Group&identity=builtin&review=on&flow_logs=on"
    );
    let r = post_form(&server, "/onboard", &auth, &fields).await;
    assert_eq!(r.status(), 303);
    let job = location(&r).strip_prefix("/jobs/").unwrap().to_owned();
    let state = server
        .wait_for(&job, |s| {
            s.as_str() == "awaiting_approval" || s.is_terminal()
        })
        .await;
    assert_eq!(state.as_str(), "awaiting_approval");
    let (_, html) = page(&server, &format!("/jobs/{job}"), &auth).await;
    for words in [
        "<h3>Azure identity</h3>",
        "App registration for Prisma Cloud",
        "Client secret, valid 180 days (stored encrypted)",
        "<h3>Azure roles</h3>",
        &format!("Reader on subscription {sub}"),
        &format!("Reader and Data Access on subscription {sub}"),
        &format!("The custom role on subscription {sub}"),
    ] {
        assert!(html.contains(words), "{words}: {html}");
    }
    // The raw addresses are behind the toggle.
    let toggle = html
        .find(r#"<details id="plan-addresses">"#)
        .expect("a toggle");
    let address = html
        .find("azurerm_role_assignment.custom")
        .expect("the raw address");
    assert!(address > toggle, "the address is inside the toggle");
    assert!(!html.contains("<h3>Other</h3>"), "every change has words");
}

#[tokio::test]
async fn edit_and_retry_fills_the_wizard_and_keeps_the_secret_on_the_server() {
    let server = Server::start().await;
    let auth = server.login(OPERATOR).await;
    const CANARY: &str = "EDIT-RETRY-CANARY-secret-0123456789";
    let client_id = guid(0xc1d0, 3);
    let mut request = subscription(3);
    request["subscription_id"] = json!(flow_logs_broken(3));
    request["flow_logs"] = json!(true);
    request["features"] = json!(["Remediation"]);
    request["identity"] = json!("existing");
    request["client_id"] = json!(client_id);
    request["service_principal_id"] = json!(guid(0x5e00, 3));
    request["client_secret"] = json!(CANARY);
    request["environment"] = json!("azure_gov");
    let old = submit(&server, &auth, request).await;

    let (status, html) = page(&server, &format!("/onboard?from={old}"), &auth).await;
    assert_eq!(status, 200);
    assert!(!html.contains(CANARY), "the secret is never sent back");
    for filled in [
        &format!(r#"name="from_job" value="{old}""#),
        &format!(
            r#"id="subscription_id" name="subscription_id" value="{}""#,
            flow_logs_broken(3)
        ),
        &format!(r#"id="client_id" name="client_id" value="{client_id}""#),
        r#"name="environment" value="azure_gov""#,
        "the cloud azure_gov",
        "Leave it empty to keep the secret",
    ] {
        assert!(html.contains(filled), "{filled}: {html}");
    }
    assert!(html.contains(
        r#"id="flow_logs" name="flow_logs" value="on" aria-describedby="flow_logs-help" checked"#
    ));
    assert!(
        html.contains(r#"value="remediation" aria-describedby="feature-remediation-help" checked"#),
        "{html}"
    );
    assert!(html.contains(r#"value="existing" checked"#));

    // Submitted with the healthy subscription and no secret: a new job, with the old secret.
    let healthy = guid(0x7b00, 3);
    let fields = format!(
        "from_job={old}&scope=subscription&tenant_id={TENANT}&subscription_id={healthy}\
         &name=retried&groups=Default+Account+Group&identity=existing&client_id={client_id}\
         &service_principal_id={}&flow_logs=on&features=remediation&environment=azure_gov",
        guid(0x5e00, 3)
    );
    let r = post_form(&server, "/onboard", &auth, &fields).await;
    assert_eq!(r.status(), 303);
    let new = location(&r).strip_prefix("/jobs/").unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(
        server.wait_for(&new, |s| s.is_terminal()).await.as_str(),
        "succeeded"
    );
    let kept = server
        .engine
        .store()
        .get_secret(&new, onboarding_engine::identity::CLIENT_SECRET)
        .await
        .unwrap()
        .expect("the secret was kept");
    assert_eq!(kept.expose(), CANARY);
    let (_, job) = server
        .call("GET", &format!("/api/v1/jobs/{new}"), &auth, None)
        .await;
    assert_eq!(job["request"]["environment"], "azure_gov", "kept: {job}");

    // Another application id does not get that secret: it must be typed.
    let fields = fields
        .replace(&client_id, &guid(0xc1d0, 4))
        .replace(&healthy, &guid(0x7b00, 4));
    let r = post_form(&server, "/onboard", &auth, &fields).await;
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(html.contains("client_secret"), "{html}");
}
