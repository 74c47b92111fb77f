//! The connections page: the list for everyone signed in, the add form and Delete for admins
//! only, "Test connection" for operators with the outcome as an icon and a word, CSRF tokens
//! on every form, refused input named without echoing the secret, and the onboarding form's
//! connection choice.

use crate::common::*;

const CANARY: &str = "CANARY-PAGE-SECRET-5Tq";

async fn get(server: &Server, path: &str, auth: &Auth) -> reqwest::Response {
    server.request("GET", path, auth, None).await
}

#[tokio::test]
async fn visitors_sign_in_and_viewers_see_the_list_only() {
    let server = Server::start_with(Options {
        worker: false,
        ..Options::default()
    })
    .await;
    let r = get(&server, "/connections", &Auth::None).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login?next=/connections");

    let viewer = server.login(VIEWER).await;
    let r = get(&server, "/connections", &viewer).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("content-security-policy"));
    let html = r.text().await.unwrap();
    assert!(html.contains("href=\"/connections\""), "the nav links it");
    assert!(html.contains("sandbox emulator"));
    assert!(html.contains("web-…"), "the masked key id");
    assert!(!html.contains(ACCESS_KEY));
    assert!(!html.contains("Test connection"), "viewers cannot test");
    assert!(!html.contains("id=\"connection-form\""), "nor add");
    // Nor post the forms.
    let r = post_form(
        &server,
        "/connections",
        &viewer,
        true,
        &[
            ("name", "x"),
            ("api_url", "eu"),
            ("access_key_id", "k"),
            ("secret_key", "s"),
        ],
    )
    .await;
    assert_eq!(r.status(), 403);
    let r = post_form(&server, "/connections/default/test", &viewer, true, &[]).await;
    assert_eq!(r.status(), 403);

    // Operators test but do not add.
    let operator = server.login(OPERATOR).await;
    let html = get(&server, "/connections", &operator)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Test connection"));
    assert!(!html.contains("id=\"connection-form\""));
}

#[tokio::test]
async fn admins_add_test_and_delete_through_the_forms() {
    let server = Server::start_with(Options {
        worker: false,
        ..Options::default()
    })
    .await;
    let admin = server.login(ADMIN).await;
    let html = get(&server, "/connections", &admin)
        .await
        .text()
        .await
        .unwrap();
    // The form: labelled fields, the secret as a new password, the CSRF token.
    for needle in [
        "id=\"connection-form\"",
        "<label for=\"conn-name\">",
        "<label for=\"conn-api-url\">",
        "<label for=\"conn-key-id\">",
        "<label for=\"conn-secret\">",
        "type=\"password\" required autocomplete=\"new-password\"",
        "name=\"csrf_token\"",
    ] {
        assert!(html.contains(needle), "{needle} missing");
    }
    let emu = server.emu.base_url();
    let good = [
        ("name", "lab"),
        ("api_url", emu.as_str()),
        ("access_key_id", ACCESS_KEY),
        ("secret_key", SECRET_KEY),
    ];
    // Without the token: refused.
    let r = post_form(&server, "/connections", &admin, false, &good).await;
    assert_eq!(r.status(), 403);
    // Bad input: every problem named, values kept, the secret never echoed.
    let r = post_form(
        &server,
        "/connections",
        &admin,
        true,
        &[
            ("name", "<b>Bad</b>"),
            ("api_url", "http://api.prismacloud.io"),
            ("access_key_id", "kept-key-id"),
            ("secret_key", CANARY),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(html.contains("<strong>name</strong>") && html.contains("<strong>api_url</strong>"));
    assert!(html.contains("kept-key-id"));
    assert!(!html.contains("<b>Bad</b>"), "escaped");
    assert!(!html.contains(CANARY), "the secret is not echoed");

    // Saved: back to the list with a notice; the secret stored encrypted, the key id masked.
    let r = post_form(&server, "/connections", &admin, true, &good).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/connections?saved=lab");
    let html = get(&server, "/connections?saved=lab", &admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Saved connection lab."));
    assert!(html.contains("stored encrypted"));
    assert!(!html.contains(SECRET_KEY) && !html.contains(ACCESS_KEY));
    assert!(html.contains("action=\"/connections/lab/delete\""));
    assert!(
        !html.contains("action=\"/connections/default/delete\""),
        "default cannot be deleted"
    );

    // Test: the page again, with the outcome as an icon and a word.
    let r = post_form(&server, "/connections/lab/test", &admin, true, &[]).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"test-result\""), "{html}");
    assert!(html.contains(
        "<span class=\"icon i-ok\" aria-hidden=\"true\"></span> <strong>Connection OK</strong>"
    ));
    // A wrong key fails cleanly.
    let wrong = [
        ("name", "wrong"),
        ("api_url", emu.as_str()),
        ("access_key_id", ACCESS_KEY),
        ("secret_key", CANARY),
    ];
    assert_eq!(
        post_form(&server, "/connections", &admin, true, &wrong)
            .await
            .status(),
        303
    );
    let r = post_form(&server, "/connections/wrong/test", &admin, true, &[]).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains(
        "<span class=\"icon i-bad\" aria-hidden=\"true\"></span> <strong>Connection failed</strong>"
    ));
    assert!(html.contains("invalid_credentials"));
    assert!(!html.contains(CANARY));
    // An unknown one: 404 with the page.
    let r = post_form(&server, "/connections/nope/test", &admin, true, &[]).await;
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("not found"));

    // Delete.
    let r = post_form(&server, "/connections/wrong/delete", &admin, false, &[]).await;
    assert_eq!(r.status(), 403, "the token is needed");
    let r = post_form(&server, "/connections/wrong/delete", &admin, true, &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/connections?deleted=wrong");
    let html = get(&server, "/connections?deleted=wrong", &admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Deleted connection wrong."));
    assert!(!html.contains("action=\"/connections/wrong/test\""));
    let r = post_form(&server, "/connections/default/delete", &admin, true, &[]).await;
    assert_eq!(r.status(), 400);
    let operator = server.login(OPERATOR).await;
    let r = post_form(&server, "/connections/lab/delete", &operator, true, &[]).await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn the_onboarding_form_offers_the_connections() {
    let server = Server::start().await;
    let admin = server.login(ADMIN).await;
    let emu = server.emu.base_url();
    let r = post_form(
        &server,
        "/connections",
        &admin,
        true,
        &[
            ("name", "lab"),
            ("api_url", emu.as_str()),
            ("access_key_id", ACCESS_KEY),
            ("secret_key", SECRET_KEY),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let operator = server.login(OPERATOR).await;
    let html = get(&server, "/onboard", &operator)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("<label for=\"connection\">"));
    assert!(
        html.contains("<option value=\"default\" selected>"),
        "{html}"
    );
    assert!(html.contains("<option value=\"lab\">"));
    let sub = guid(0x5b00, 60);
    let r = post_form(
        &server,
        "/onboard",
        &operator,
        true,
        &[
            ("tenant_id", TENANT),
            ("subscription_id", &sub),
            ("name", "through-lab"),
            ("groups", "Default Account Group"),
            ("identity", "builtin"),
            ("connection", "lab"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let id = r.headers()["location"]
        .to_str()
        .unwrap()
        .strip_prefix("/jobs/")
        .unwrap()
        .to_owned();
    assert_eq!(
        server.wait_for(&id, |s| s.is_terminal()).await.to_string(),
        "succeeded"
    );
    let job = server
        .engine
        .store()
        .get_job(id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.request["connection"], "lab");
    // An unknown connection: the form again, the field named, the choice kept.
    let r = post_form(
        &server,
        "/onboard",
        &operator,
        true,
        &[
            ("tenant_id", TENANT),
            ("subscription_id", &guid(0x5b00, 61)),
            ("name", "nowhere"),
            ("groups", "Default Account Group"),
            ("connection", "gone"),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(html.contains("<strong>connection</strong>"), "{html}");
}
