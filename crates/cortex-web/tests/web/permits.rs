//! Roles on the pages and refused page forms: each page action is refused to exactly the roles
//! the API refuses; a refused form comes back as its page (HTML, never JSON) with the message
//! and the values typed, never the secret; a form without a session goes to the sign-in page
//! and back; an error page keeps the navigation.

use cortex_web::Role;
use cortex_web::pages::PageAction;
use serde_json::json;

use crate::common::*;

const NO_JOB: &str = "01a20352-ec2b-729d-a976-bca61dd4a3c5";
/// An account no one onboarded.
const NO_ACCOUNT: &str = "0b0b0b0b-1111-4222-8333-000000000404";

/// A page's form and the API call that does the same thing, for one action.
struct Pair {
    action: PageAction,
    page: String,
    form: Vec<(&'static str, &'static str)>,
    api: (&'static str, String, Option<serde_json::Value>),
}

fn pairs() -> Vec<Pair> {
    let connection = json!({"name": "lab", "api_url": "api2", "access_key_id": "k",
        "secret_key": "s"});
    PageAction::ALL
        .into_iter()
        .map(|action| {
            let (page, form, api): (String, Vec<(&str, &str)>, _) = match action {
                PageAction::Onboard => (
                    "/onboard".into(),
                    vec![("tenant_id", "bad"), ("name", "x")],
                    (
                        "POST",
                        "/api/v1/jobs".into(),
                        Some(json!({"tenant_id": "bad"})),
                    ),
                ),
                PageAction::ControlJobs => (
                    format!("/jobs/{NO_JOB}/approve"),
                    vec![],
                    ("POST", format!("/api/v1/jobs/{NO_JOB}/approve"), None),
                ),
                PageAction::RetryBatches => (
                    format!("/batches/{NO_JOB}/retry"),
                    vec![],
                    ("POST", format!("/api/v1/batches/{NO_JOB}/retry"), None),
                ),
                PageAction::TestConnections => (
                    "/connections/nothing-here/test".into(),
                    vec![],
                    ("POST", "/api/v1/connections/nothing-here/test".into(), None),
                ),
                PageAction::SaveConnections => (
                    "/connections".into(),
                    vec![("name", "Not A Name")],
                    (
                        "POST",
                        "/api/v1/connections".into(),
                        Some(connection.clone()),
                    ),
                ),
                PageAction::DeleteConnections => (
                    "/connections/nothing-here/delete".into(),
                    vec![],
                    ("DELETE", "/api/v1/connections/nothing-here".into(), None),
                ),
                PageAction::ManageSinks => (
                    "/notifications/sinks".into(),
                    vec![("name", "Not A Name")],
                    (
                        "POST",
                        "/api/v1/notifications/sinks".into(),
                        Some(json!({"name": "Not A Name"})),
                    ),
                ),
                PageAction::HandleDeadLetters => (
                    "/notifications/dead-letters/4040/nothing-here/retry".into(),
                    vec![],
                    (
                        "POST",
                        "/api/v1/notifications/dead-letters/4040/nothing-here/retry".into(),
                        None,
                    ),
                ),
                PageAction::ManageAccounts => (
                    format!("/accounts/{NO_ACCOUNT}/rotate-secret"),
                    vec![],
                    (
                        "POST",
                        format!("/api/v1/accounts/{NO_ACCOUNT}/rotate-secret"),
                        Some(json!({})),
                    ),
                ),
            };
            Pair {
                action,
                page,
                form,
                api,
            }
        })
        .collect()
}

#[tokio::test]
async fn every_page_action_is_refused_to_exactly_the_roles_the_api_refuses() {
    let server = Server::start().await;
    for (user, role) in [
        (VIEWER, Role::Viewer),
        (OPERATOR, Role::Operator),
        (ADMIN, Role::Admin),
    ] {
        let session = server.login(user).await;
        for pair in pairs() {
            let (method, path, body) = &pair.api;
            let (api_status, _) = server.call(method, path, &session, body.clone()).await;
            let page = post_form(&server, &pair.page, &session, true, &pair.form).await;
            let page_status = page.status().as_u16();
            let kind = page.headers()["content-type"].to_str().unwrap().to_owned();
            let html = page.text().await.unwrap();
            let what = format!("{:?} as {role}", pair.action);
            assert_eq!(
                api_status == 403,
                !pair.action.allowed(role),
                "the API and the table disagree: {what} ({api_status})"
            );
            assert_eq!(
                page_status == 403,
                !pair.action.allowed(role),
                "{what}: {page_status}"
            );
            if page_status >= 400 {
                assert!(kind.starts_with("text/html"), "{what}: {kind}");
                // The error keeps the site's navigation.
                assert!(html.contains(r#"<nav aria-label="Main">"#), "{what}");
            }
            if page_status == 403 {
                let needed = pair.action.needs();
                let sentence = format!(
                    "{} is {}: {} needs the {needed} role",
                    user.0,
                    role.with_article(),
                    pair.action.words()
                );
                assert!(html.contains(&sentence), "{what}: {html}");
            }
        }
    }
}

#[tokio::test]
async fn pages_show_only_the_buttons_the_role_allows() {
    let server = Server::start().await;
    for (user, onboard_button, test, save) in [
        (VIEWER, false, false, false),
        (OPERATOR, true, true, false),
        (ADMIN, true, true, true),
    ] {
        let session = server.login(user).await;
        let html = |path: &'static str| {
            let session = session.clone();
            let server = &server;
            async move {
                let r = server.request("GET", path, &session, None).await;
                assert_eq!(r.status(), 200, "{path}");
                r.text().await.unwrap()
            }
        };
        let onboard = html("/onboard").await;
        assert_eq!(
            onboard.contains("Start onboarding</button>"),
            onboard_button,
            "{}",
            user.0
        );
        assert_eq!(!onboard.contains(r#"id="read-only""#), onboard_button);
        let bulk = html("/bulk").await;
        assert_eq!(bulk.contains("Check the rows</button>"), onboard_button);
        let nav = html("/audit").await;
        assert_eq!(nav.contains(r#"href="/onboard""#), onboard_button);
        let connections = form_actions(&html("/connections").await);
        assert_eq!(
            connections.contains(&"/connections/default/test".to_owned()),
            test,
            "{}: {connections:?}",
            user.0
        );
        assert_eq!(connections.contains(&"/connections".to_owned()), save);
        if !onboard_button {
            assert!(connections.is_empty(), "{connections:?}");
        }
    }
}

#[tokio::test]
async fn a_refused_form_is_its_page_again_with_the_values_and_never_the_secret() {
    let server = Server::start().await;
    let secret = "CANARY-REFUSED-FORM-7Hq2";
    let fields = [
        ("scope", "subscription"),
        ("tenant_id", TENANT),
        ("subscription_id", "8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f"),
        ("name", "kept <name>"),
        ("identity", "existing"),
        ("client_id", "11111111-2222-4333-8444-aaaaaaaaaaaa"),
        ("client_secret", secret),
        ("features", "agentless"),
    ];
    // A stale CSRF token: 403, the page with every value, the secret not echoed (and said so).
    let admin = server.login(ADMIN).await;
    let stale = Auth::Cookie {
        cookie: match &admin {
            Auth::Cookie { cookie, .. } => cookie.clone(),
            _ => unreachable!(),
        },
        csrf: Some("stale-token".into()),
    };
    let r = post_form(&server, "/onboard", &stale, true, &fields).await;
    assert_eq!(r.status(), 403);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = r.text().await.unwrap();
    assert!(html.contains("This form was out of date"), "{html}");
    assert!(html.contains("The client secret is never sent back to the browser"));
    assert!(html.contains(r#"value="kept &#60;name&#62;""#) || html.contains("kept &lt;name&gt;"));
    assert!(html.contains(r#"value="11111111-2222-4333-8444-aaaaaaaaaaaa""#));
    assert!(
        html.contains(r#"value="agentless" aria-describedby="feature-agentless-help" checked"#)
    );
    assert!(!html.contains(secret));
    // The re-rendered page carries the session's real token: sending it again works.
    let Auth::Cookie {
        csrf: Some(real), ..
    } = &admin
    else {
        unreachable!()
    };
    assert!(html.contains(&format!(r#"value="{real}""#)));

    // A viewer: 403 with the role in words ("a viewer"), the values kept.
    let viewer = server.login(VIEWER).await;
    let r = post_form(&server, "/onboard", &viewer, true, &fields).await;
    assert_eq!(r.status(), 403);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("victor is a viewer: starting an onboarding needs the operator role"),
        "{html}"
    );
    assert!(html.contains(r#"value="11111111-2222-4333-8444-aaaaaaaaaaaa""#));
    assert!(!html.contains(secret));

    // An operator saving a connection: "an operator", the typed values, no secret.
    let operator = server.login(OPERATOR).await;
    let r = post_form(
        &server,
        "/connections",
        &operator,
        true,
        &[
            ("name", "lab-kept"),
            ("api_url", "api2"),
            ("access_key_id", "key-kept"),
            ("secret_key", secret),
        ],
    )
    .await;
    assert_eq!(r.status(), 403);
    let html = r.text().await.unwrap();
    assert!(html.contains("olivia is an operator: saving a connection needs the admin role"));
    // The add form is not shown to an operator at all (nothing to fill in again).
    assert!(!html.contains(r#"id="connection-form""#));
    assert!(!html.contains(secret));
}

#[tokio::test]
async fn a_form_without_a_session_goes_to_sign_in_and_back_to_the_form() {
    let server = Server::start().await;
    for (path, back) in [
        ("/onboard", "/onboard"),
        ("/bulk", "/bulk"),
        ("/connections", "/connections"),
        ("/connections/default/test", "/connections"),
        (
            &format!("/jobs/{NO_JOB}/approve") as &str,
            &format!("/jobs/{NO_JOB}") as &str,
        ),
    ] {
        // An ended session: the cookie of a session the server no longer knows.
        let r = server
            .http
            .post(server.url(path))
            .header("cookie", "cortex_session=ended-long-ago")
            .header("content-type", "application/x-www-form-urlencoded")
            .body("csrf_token=x&name=kept")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{path}");
        let to = r.headers()["location"].to_str().unwrap().to_owned();
        assert_eq!(to, format!("/login?next={back}%3Frestore%3D1"), "{path}");
        // Nothing typed travels in the URL.
        assert!(!to.contains("kept"));
        let login = server.request("GET", &to, &Auth::None, None).await;
        let html = login.text().await.unwrap();
        assert!(html.contains("Your session ended"), "{html}");
        assert!(html.contains(&format!(r#"name="next" value="{back}?restore=1""#)));
    }
    // Signing out of an ended session is no error.
    let r = server
        .http
        .post(server.url("/logout"))
        .header("cookie", "cortex_session=ended-long-ago")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("csrf_token=x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login");
}

#[tokio::test]
async fn a_missing_page_keeps_the_navigation_for_browsers_and_is_json_for_programs() {
    let server = Server::start().await;
    let admin = server.login(ADMIN).await;
    let page = server
        .http
        .get(server.url("/no-such-page"))
        .headers(admin.headers())
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<nav aria-label="Main">"#) && html.contains(r#"href="/audit""#));
    assert!(html.contains("there is no page at this address"));
    let (status, body) = server.call("GET", "/no-such-page", &admin, None).await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "route_not_found", "{body}");
    let (status, body) = server.call("GET", "/api/v1/nothing", &admin, None).await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "route_not_found");
    // A page's own error (a job that does not exist) keeps it too.
    let r = server
        .request("GET", &format!("/jobs/{NO_JOB}"), &admin, None)
        .await;
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains(r#"href="/connections""#));
}
