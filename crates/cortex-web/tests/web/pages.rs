//! The HTML pages: redirects for visitors, pages for signed-in users, escaping, the sign-in
//! form's CSRF defence, the onboarding form.

use serde_json::json;

use crate::common::*;

async fn get(server: &Server, path: &str, auth: &Auth) -> reqwest::Response {
    server.request("GET", path, auth, None).await
}

#[tokio::test]
async fn visitors_are_sent_to_sign_in() {
    let server = Server::start().await;
    for (path, to) in [
        ("/", "/login"),
        ("/onboard", "/login?next=/onboard"),
        (
            "/jobs/01a20352-ec2b-729d-a976-bca61dd4a3c5",
            "/login?next=/jobs/01a20352-ec2b-729d-a976-bca61dd4a3c5",
        ),
    ] {
        let r = get(&server, path, &Auth::None).await;
        assert_eq!(r.status(), 303, "{path}");
        assert_eq!(r.headers()["location"], to, "{path}");
    }
    let r = get(&server, "/login", &Auth::None).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set.contains("SameSite=Strict") && set.contains("HttpOnly"),
        "{set}"
    );
    // Assets are public.
    for path in ["/assets/app.css", "/assets/job.js"] {
        assert_eq!(
            get(&server, path, &Auth::None).await.status(),
            200,
            "{path}"
        );
    }
}

#[tokio::test]
async fn signed_in_pages_render_and_escape_names() {
    let server = Server::start().await;
    let auth = server.login(OPERATOR).await;
    let mut request = subscription(1);
    request["name"] = json!("<script>alert(1)</script>&\"x\"");
    let (status, body) = server
        .call("POST", "/api/v1/jobs", &auth, Some(request))
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    server.wait_for(&id, |s| s.is_terminal()).await;

    for path in ["/", "/onboard", &format!("/jobs/{id}")] {
        let r = get(&server, path, &auth).await;
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.headers().contains_key("content-security-policy"));
        let html = r.text().await.unwrap();
        assert!(
            html.contains("csrf_token"),
            "{path}: the sign-out form has the token"
        );
        assert!(!html.contains("<script>alert(1)"), "{path}: unescaped name");
    }
    let html = get(&server, &format!("/jobs/{id}"), &auth)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || html.contains("&lt;script&gt;"),
        "{html}"
    );
    let dashboard = get(&server, "/", &auth).await.text().await.unwrap();
    assert!(dashboard.contains(&format!("/jobs/{id}")));
    // An unknown job is a 404.
    let r = get(&server, "/jobs/01a20352-ec2b-729d-a976-bca61dd4a3c5", &auth).await;
    assert_eq!(r.status(), 404);
}

fn login_token(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned()
}

#[tokio::test]
async fn the_sign_in_form_needs_its_token_and_our_origin() {
    let server = Server::start().await;
    let r = get(&server, "/login?next=/onboard", &Auth::None).await;
    let token = login_token(r.headers()["set-cookie"].to_str().unwrap());
    let form = |t: &str| {
        format!(
            "login_token={t}&next=%2Fonboard&name={}&password={}",
            OPERATOR.0, OPERATOR.1
        )
    };
    let post = |cookie: Option<String>, origin: Option<String>, body: String| {
        let mut req = server
            .http
            .post(server.url("/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(c) = cookie {
            req = req.header("cookie", format!("cortex_login={c}"));
        }
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.send()
    };
    // No cookie, wrong token, foreign origin: refused with the form again.
    let r = post(None, None, form(&token)).await.unwrap();
    assert_eq!(r.status(), 403);
    let r = post(Some(token.clone()), None, form("other"))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = post(
        Some(token.clone()),
        Some("http://evil.example".into()),
        form(&token),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("another site"));
    // A wrong password: 401 with the form.
    let bad = format!("login_token={token}&name={}&password=nope", OPERATOR.0);
    let r = post(Some(token.clone()), Some(server.base.clone()), bad)
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("wrong"));
    // Right: the session cookie and on to `next`.
    let r = post(Some(token.clone()), Some(server.base.clone()), form(&token))
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/onboard");
    let cookies: Vec<_> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("cortex_session="))
        .unwrap();
    let cookie = session.split(';').next().unwrap().to_owned();
    let auth = Auth::Cookie { cookie, csrf: None };
    let onboard = get(&server, "/onboard", &auth).await;
    assert_eq!(onboard.status(), 200);
    // Each feature explains what it needs in Azure, from the configuration's own catalog.
    let page = onboard.text().await.unwrap();
    for need in [
        "Storage Account Contributor",
        "Key Vault Crypto Service Encryption User",
        "Reader and Data Access",
    ] {
        assert!(
            page.contains(need),
            "{need} missing from the onboarding form"
        );
    }
    // An outside `next` is not followed.
    let r = get(&server, "/login", &Auth::None).await;
    let token = login_token(r.headers()["set-cookie"].to_str().unwrap());
    let body = format!(
        "login_token={token}&next=%2F%2Fevil.example&name={}&password={}",
        OPERATOR.0, OPERATOR.1
    );
    let r = post(Some(token), None, body).await.unwrap();
    assert_eq!(r.headers()["location"], "/");
}

#[tokio::test]
async fn the_onboarding_form_submits_with_the_csrf_token_only() {
    let server = Server::start().await;
    let auth = server.login(OPERATOR).await;
    let Auth::Cookie { cookie, csrf } = &auth else {
        unreachable!()
    };
    let csrf = csrf.clone().unwrap();
    let send = |body: String| {
        server
            .http
            .post(server.url("/onboard"))
            .header("cookie", cookie.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let fields = format!(
        "tenant_id={TENANT}&subscription_id={}&name=form-1&groups=Default+Account+Group\
         &features=agentless&flow_logs=on&identity=builtin",
        guid(0x5b00, 7)
    );
    let r = send(fields.clone()).await.unwrap();
    assert_eq!(r.status(), 403);
    // Bad fields: the form again, every problem named, the values kept (escaped).
    let r = send(format!(
        "csrf_token={csrf}&tenant_id=nope&subscription_id=&name=%3Cb%3Ex%3C%2Fb%3E"
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("tenant_id") && html.contains("subscription_id"),
        "{html}"
    );
    assert!(!html.contains("<b>x</b>"));
    // The secret of an existing identity is never echoed.
    let r = send(format!(
        "csrf_token={csrf}&tenant_id=nope&identity=existing&client_secret=CANARY-SECRET-42"
    ))
    .await
    .unwrap();
    assert!(!r.text().await.unwrap().contains("CANARY-SECRET-42"));
    // With the token: a job, and on to its page.
    let r = send(format!("csrf_token={csrf}&{fields}")).await.unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let id = location.strip_prefix("/jobs/").unwrap().to_owned();
    assert_eq!(
        server.wait_for(&id, |s| s.is_terminal()).await.to_string(),
        "succeeded"
    );
    // A viewer may look but not submit.
    let viewer = server.login(VIEWER).await;
    assert_eq!(get(&server, "/onboard", &viewer).await.status(), 200);
    let r = server
        .http
        .post(server.url("/onboard"))
        .headers(viewer.headers())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}
