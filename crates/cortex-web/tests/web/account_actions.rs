//! The account page's actions, for real: the lifecycle forms (rotate the secret, offboard) as
//! the account's identity allows them — a refusal shown as its reason, never a button that
//! fails — each starting its job and sending the browser to the job page; the drift section
//! (the last check's differences, check now, reconcile with its review, adopt current); the
//! Adopt page; a viewer refused; a pasted secret in no page.

use serde_json::{Value, json};

use crate::common::*;
use crate::drift::disable_on_the_platform;
use crate::workflows::{location, page};

const PASTED_SECRET: &str = "CANARY-PASTED-ON-THE-PAGE-5150~q";
const OLD_SECRET: &str = "CANARY-FIRST-SECRET-5149~q";

/// Submits `body` as an onboarding and waits for it to succeed.
async fn onboard(server: &Server, auth: &Auth, body: Value) {
    let (status, job) = server.call("POST", "/api/v1/jobs", auth, Some(body)).await;
    assert_eq!(status, 202, "{job}");
    let state = server
        .wait_for(job["id"].as_str().unwrap(), |s| s.is_terminal())
        .await;
    assert_eq!(state, cortex_store::JobState::Succeeded);
}

/// Posts the account page's form `action` and follows the redirect to the job it started:
/// the job as the API shows it.
async fn started_job(
    server: &Server,
    auth: &Auth,
    account: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> Value {
    let r = post_form(
        server,
        &format!("/accounts/{account}/{action}"),
        auth,
        true,
        fields,
    )
    .await;
    assert_eq!(r.status(), 303, "{action}: {}", r.text().await.unwrap());
    let to = location(&r);
    let id = to.strip_prefix("/jobs/").expect("to the job page");
    let (status, job) = server
        .call("GET", &format!("/api/v1/jobs/{id}"), auth, None)
        .await;
    assert_eq!(status, 200, "{job}");
    job
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_created_here_is_rotated_and_offboarded_from_its_page() {
    let server = Server::start().await;
    let op = server.login(OPERATOR).await;
    let viewer = server.login(VIEWER).await;
    onboard(&server, &op, subscription(41)).await;
    let sub = guid(0x5b00, 41);
    let path = format!("/accounts/{sub}");

    let (status, html) = page(&server, &path, &op).await;
    assert_eq!(status, 200, "{html}");
    let actions = form_actions(&html);
    for action in ["rotate-secret", "offboard", "check-drift"] {
        assert!(
            actions.contains(&format!("{path}/{action}")),
            "{action}: {actions:?}"
        );
    }
    assert!(
        !html.contains(r#"name="client_secret""#),
        "Terraform makes the new secret: nothing to paste"
    );
    assert!(html.contains(r#"id="identity-destroy" name="identity" value="destroy" checked"#));
    assert!(html.contains(r#"id="offboard-review" name="review" value="on" checked"#));
    // A viewer reads the page without a form, and a viewer's POST is refused on the page.
    let (_, seen) = page(&server, &path, &viewer).await;
    assert!(form_actions(&seen).is_empty(), "{:?}", form_actions(&seen));
    assert!(seen.contains(r#"id="lifecycle-read-only""#));
    let refused = post_form(
        &server,
        &format!("{path}/rotate-secret"),
        &viewer,
        true,
        &[],
    )
    .await;
    assert_eq!(refused.status(), 403);
    let text = refused.text().await.unwrap();
    assert!(
        text.contains("victor is a viewer: rotating, offboarding, reconciling or adopting an account needs the operator role"),
        "{text}"
    );
    // Without the CSRF token nothing starts.
    let stale = post_form(&server, &format!("{path}/rotate-secret"), &op, false, &[]).await;
    assert_eq!(stale.status(), 403);

    let rotation = started_job(&server, &op, &sub, "rotate-secret", &[]).await;
    assert_eq!(rotation["kind"], "rotate_secret", "{rotation}");
    // While the rotation is under way, nothing else is offered.
    let (_, busy) = page(&server, &path, &op).await;
    if busy.contains(r#"id="lifecycle-unavailable""#) {
        assert!(busy.contains("is already working on it"), "{busy}");
    }
    server
        .wait_for(rotation["id"].as_str().unwrap(), |s| s.is_terminal())
        .await;

    let offboard = started_job(
        &server,
        &op,
        &sub,
        "offboard",
        &[
            ("mode", "delete"),
            ("identity", "destroy"),
            ("review", "on"),
        ],
    )
    .await;
    assert_eq!(offboard["kind"], "offboard", "{offboard}");
    let request = &offboard["request"];
    assert_eq!(
        (
            &request["delete"],
            &request["destroy_identity"],
            &request["require_approval"]
        ),
        (&json!(true), &json!(true), &json!(true)),
        "{offboard}"
    );
    // A bad field is named on the page; nothing starts.
    let bad = post_form(
        &server,
        &format!("{path}/offboard"),
        &op,
        true,
        &[("mode", "erase")],
    )
    .await;
    assert_eq!(bad.status(), 400);
    let text = bad.text().await.unwrap();
    assert!(text.contains("<strong>mode</strong>"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_identity_takes_a_pasted_secret_that_no_page_shows() {
    let server = Server::start().await;
    let op = server.login(OPERATOR).await;
    let viewer = server.login(VIEWER).await;
    let mut body = subscription(42);
    body["identity"] = json!("existing");
    body["client_id"] = json!(guid(0xc1d0, 42));
    body["service_principal_id"] = json!(guid(0x5e00, 42));
    body["client_secret"] = json!(OLD_SECRET);
    onboard(&server, &op, body).await;
    let sub = guid(0x5b00, 42);
    let path = format!("/accounts/{sub}");
    let mut pages = Vec::new();

    let (_, html) = page(&server, &path, &op).await;
    assert!(
        html.contains(r#"name="client_secret" type="password""#),
        "{html}"
    );
    assert!(
        html.contains(r#"id="destroy-refused""#) && html.contains("not created here"),
        "offboarding keeps an identity that is not ours, and says so"
    );
    assert!(!html.contains(r#"id="identity-destroy""#));
    pages.push(html);
    // Refused forms come back without the secret that was typed.
    let fields = [
        ("client_secret", PASTED_SECRET),
        ("secret_expiry", "next summer"),
    ];
    let refused = post_form(
        &server,
        &format!("{path}/rotate-secret"),
        &op,
        true,
        &fields,
    )
    .await;
    assert_eq!(refused.status(), 400);
    let html = refused.text().await.unwrap();
    assert!(html.contains("<strong>secret_expiry</strong>"), "{html}");
    pages.push(html);
    let refused = post_form(
        &server,
        &format!("{path}/rotate-secret"),
        &viewer,
        true,
        &fields,
    )
    .await;
    assert_eq!(refused.status(), 403);
    pages.push(refused.text().await.unwrap());

    let rotation = started_job(
        &server,
        &op,
        &sub,
        "rotate-secret",
        &[
            ("client_secret", PASTED_SECRET),
            ("secret_expiry", "2027-06-30T00:00:00Z"),
        ],
    )
    .await;
    assert_eq!(rotation["kind"], "rotate_secret");
    let id = rotation["id"].as_str().unwrap();
    assert_eq!(
        server.wait_for(id, |s| s.is_terminal()).await,
        cortex_store::JobState::Succeeded
    );
    pages.push(rotation.to_string());
    pages.push(page(&server, &format!("/jobs/{id}"), &op).await.1);
    pages.push(page(&server, &path, &op).await.1);
    let offboard = started_job(&server, &op, &sub, "offboard", &[("mode", "disable")]).await;
    assert_eq!(offboard["request"]["destroy_identity"], false, "{offboard}");
    pages.push(offboard.to_string());
    for html in pages {
        assert!(
            !html.contains(PASTED_SECRET) && !html.contains(OLD_SECRET),
            "a secret in a page: {html}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_tenant_identity_shows_why_it_is_neither_rotated_nor_destroyed() {
    let server = Server::start().await;
    let op = server.login(OPERATOR).await;
    let rows: Vec<Value> = (0..2)
        .map(|i| {
            let mut row = subscription(i);
            row["subscription_id"] = json!(guid(0x5ba0, i));
            row["name"] = json!(format!("shared-{i}"));
            row
        })
        .collect();
    let (status, batch) = server
        .call(
            "POST",
            "/api/v1/batches",
            &op,
            Some(json!({"label": "shared", "rows": rows})),
        )
        .await;
    assert_eq!(status, 202, "{batch}");
    for job in batch["jobs"].as_array().unwrap() {
        let state = server
            .wait_for(job.as_str().unwrap(), |s| s.is_terminal())
            .await;
        assert_eq!(state, cortex_store::JobState::Succeeded);
    }
    let sub = guid(0x5ba0, 0);
    let (_, html) = page(&server, &format!("/accounts/{sub}"), &op).await;
    assert!(html.contains(r#"id="rotate-refused""#), "{html}");
    assert!(
        html.contains("shared identity, whose one secret serves every subscription"),
        "{html}"
    );
    assert!(!html.contains(&format!(r#"action="/accounts/{sub}/rotate-secret""#)));
    assert!(html.contains(r#"id="destroy-refused""#), "{html}");
    assert!(
        html.contains("still used by 1 other account(s): shared-1"),
        "{html}"
    );
    assert!(!html.contains(r#"id="identity-destroy""#));
    // Offboarding it platform side stays possible; the identity is kept.
    let offboard = started_job(&server, &op, &sub, "offboard", &[]).await;
    assert_eq!(offboard["request"]["destroy_identity"], false, "{offboard}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_shown_field_by_field_reconciled_with_a_review_or_adopted() {
    let server = Server::start().await;
    let op = server.login(OPERATOR).await;
    let viewer = server.login(VIEWER).await;
    onboard(&server, &op, subscription(43)).await;
    let sub = guid(0x5b00, 43);
    let path = format!("/accounts/{sub}");
    let (_, html) = page(&server, &path, &viewer).await;
    assert!(html.contains(r#"id="drift-unchecked""#), "{html}");

    disable_on_the_platform(&server, &sub);
    let refused = post_form(&server, &format!("{path}/check-drift"), &viewer, true, &[]).await;
    assert_eq!(refused.status(), 403);
    let r = post_form(&server, &format!("{path}/check-drift"), &op, true, &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), format!("{path}?done=checked"));
    let (_, html) = page(&server, &format!("{path}?done=checked"), &op).await;
    assert!(html.contains("Checked for drift just now."), "{html}");
    assert!(html.contains(r#"id="drift-found""#), "{html}");
    assert!(
        html.contains(r#"<tr><th scope="row">enabled</th><td>false</td><td>true</td></tr>"#),
        "platform value, then desired: {html}"
    );
    let actions = form_actions(&html);
    assert!(
        actions.contains(&format!("{path}/reconcile")),
        "{actions:?}"
    );
    assert!(actions.contains(&format!("{path}/adopt-current")));

    let job = started_job(&server, &op, &sub, "reconcile", &[]).await;
    assert_eq!(job["kind"], "reconcile_account", "{job}");
    assert_eq!(job["request"]["require_approval"], true, "with its review");
    let id = job["id"].as_str().unwrap().to_owned();
    let state = server
        .wait_for(&id, |s| {
            s.is_terminal() || s == cortex_store::JobState::AwaitingApproval
        })
        .await;
    assert_eq!(state, cortex_store::JobState::AwaitingApproval);
    let approved = post_form(&server, &format!("/jobs/{id}/approve"), &op, true, &[]).await;
    assert_eq!(approved.status(), 303);
    assert_eq!(
        server.wait_for(&id, |s| s.is_terminal()).await,
        cortex_store::JobState::Succeeded
    );
    assert!(server.emu.state.store().accounts[&sub].enabled);
    let r = post_form(&server, &format!("{path}/check-drift"), &op, true, &[]).await;
    assert_eq!(r.status(), 303);
    let (_, html) = page(&server, &path, &op).await;
    assert!(html.contains(r#"id="drift-none""#), "{html}");

    // Adopt current: the platform's value becomes the desired one.
    disable_on_the_platform(&server, &sub);
    post_form(&server, &format!("{path}/check-drift"), &op, true, &[]).await;
    let r = post_form(&server, &format!("{path}/adopt-current"), &op, true, &[]).await;
    assert_eq!(location(&r), format!("{path}?done=adopted_current"));
    let (_, html) = page(&server, &path, &op).await;
    assert!(html.contains(r#"id="drift-none""#), "{html}");
    assert!(html.contains("adopted as current"), "{html}");
}

/// An account onboarded outside the product: a copy of `like`'s emulated account under
/// another ID and name.
fn made_elsewhere(server: &Server, like: &str, id: &str, name: &str) {
    let mut store = server.emu.state.store();
    let mut account = store.accounts[like].clone();
    account.account_id = id.to_owned();
    account.name = name.to_owned();
    account.request.cloud_account.account_id = Some(id.to_owned());
    account.request.cloud_account.name = name.to_owned();
    store.accounts.insert(id.to_owned(), account);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_adopt_page_lists_accounts_onboarded_elsewhere_and_adopts_them() {
    let server = Server::start().await;
    let op = server.login(OPERATOR).await;
    let viewer = server.login(VIEWER).await;
    onboard(&server, &op, subscription(44)).await;
    let ours = guid(0x5b00, 44);
    let elsewhere = guid(0xe15e, 44);
    made_elsewhere(&server, &ours, &elsewhere, "made-by-hand");

    let (status, html) = page(&server, "/adoption", &viewer).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("made-by-hand"), "{html}");
    assert!(!html.contains("web-44"), "ours is managed already: {html}");
    assert!(form_actions(&html).is_empty(), "a viewer adopts nothing");
    let (_, html) = page(&server, "/adoption", &op).await;
    assert!(
        html.contains(&format!(r#"name="account_ids" value="{elsewhere}""#)),
        "{html}"
    );
    let refused = post_form(
        &server,
        "/adoption",
        &viewer,
        true,
        &[("account_ids", &elsewhere)],
    )
    .await;
    assert_eq!(refused.status(), 403);
    let none = post_form(&server, "/adoption", &op, true, &[]).await;
    assert_eq!(none.status(), 400);
    assert!(
        none.text()
            .await
            .unwrap()
            .contains("<strong>account_ids</strong>")
    );

    let r = post_form(
        &server,
        "/adoption",
        &op,
        true,
        &[("account_ids", &elsewhere)],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, html) = page(&server, &location(&r), &op).await;
    assert!(html.contains("Adopted 1 account"), "{html}");
    assert!(!html.contains(&format!(r#"value="{elsewhere}""#)), "{html}");
    // Its page: drift compared, lifecycle unavailable with the reason.
    let (_, html) = page(&server, &format!("/accounts/{elsewhere}"), &op).await;
    assert!(html.contains("adopted account"), "{html}");
    assert!(html.contains(r#"id="lifecycle-unavailable""#), "{html}");
    assert!(html.contains("no Terraform state"), "{html}");
    assert!(!html.contains(&format!(r#"action="/accounts/{elsewhere}/rotate-secret""#)));
    // The API says the same (a conflict with the reason, not an internal error).
    let (status, err) = server
        .call(
            "POST",
            &format!("/api/v1/accounts/{elsewhere}/offboard"),
            &op,
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (409, Some("not_possible")),
        "{err}"
    );
}
