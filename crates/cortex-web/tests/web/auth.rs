//! Sign-in, cookies, CSRF, API tokens, roles, throttling.

use serde_json::json;

use crate::common::{Auth, OPERATOR, Server, VIEWER};

#[tokio::test]
async fn sessions_csrf_and_tokens() {
    let server = Server::start_with(crate::common::Options {
        worker: false,
        ..Default::default()
    })
    .await;

    // Login: bad bodies, bad credentials, success with a strict cookie.
    for (body, code, field) in [
        (json!({"name": "olivia"}), "invalid_body", "password"),
        (json!({"name": "", "password": "x"}), "invalid_body", "name"),
        (
            json!({"name": "olivia", "password": "x", "extra": 1}),
            "invalid_body",
            "extra",
        ),
    ] {
        let (status, b) = server
            .call("POST", "/api/v1/auth/login", &Auth::None, Some(body))
            .await;
        assert_eq!(status, 400, "{b}");
        assert_eq!(b["code"], code, "{b}");
        assert_eq!(b["field"], field, "{b}");
    }
    let (status, b) = server
        .call(
            "POST",
            "/api/v1/auth/login",
            &Auth::None,
            Some(json!({"name": "olivia", "password": "not her password"})),
        )
        .await;
    assert_eq!(
        (status, b["code"].as_str()),
        (401, Some("invalid_credentials"))
    );
    let r = server
        .http
        .post(server.url("/api/v1/auth/login"))
        .header("content-type", "text/plain")
        .body("name=olivia")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);

    let r = server
        .request(
            "POST",
            "/api/v1/auth/login",
            &Auth::None,
            Some(json!({"name": OPERATOR.0, "password": OPERATOR.1})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    assert!(
        !set_cookie.contains("Secure"),
        "no Secure without TLS: {set_cookie}"
    );
    assert!(set_cookie.starts_with("cortex_session="));
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["user"]["role"], "operator");
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    let session = Auth::Cookie {
        cookie: set_cookie.split(';').next().unwrap().to_owned(),
        csrf: Some(csrf.clone()),
    };

    // Reads need no CSRF token; the session tells it.
    let (status, me) = server
        .call("GET", "/api/v1/auth/session", &session.without_csrf(), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(me["csrf_token"], csrf.as_str());
    assert_eq!(me["auth"], "session");

    // State changes with the cookie need it: missing or wrong → 403 csrf_failed.
    let (status, b) = server
        .call(
            "POST",
            "/api/v1/tokens",
            &session.without_csrf(),
            Some(json!({"name": "ci"})),
        )
        .await;
    assert_eq!(
        (status, b["code"].as_str()),
        (403, Some("csrf_failed")),
        "{b}"
    );
    let forged = match &session {
        Auth::Cookie { cookie, .. } => Auth::Cookie {
            cookie: cookie.clone(),
            csrf: Some("A".repeat(43)),
        },
        _ => unreachable!(),
    };
    let (status, b) = server
        .call(
            "POST",
            "/api/v1/tokens",
            &forged,
            Some(json!({"name": "ci"})),
        )
        .await;
    assert_eq!((status, b["code"].as_str()), (403, Some("csrf_failed")));
    let (status, b) = server
        .call(
            "POST",
            "/api/v1/jobs",
            &session.without_csrf(),
            Some(crate::common::subscription(1)),
        )
        .await;
    assert_eq!((status, b["code"].as_str()), (403, Some("csrf_failed")));

    // Tokens: created from the session (shown once), 400 on a bad name.
    let (status, b) = server
        .call(
            "POST",
            "/api/v1/tokens",
            &session,
            Some(json!({"name": ""})),
        )
        .await;
    assert_eq!(
        (status, b["code"].as_str(), b["field"].as_str()),
        (400, Some("invalid_body"), Some("name"))
    );
    let (status, created) = server
        .call(
            "POST",
            "/api/v1/tokens",
            &session,
            Some(json!({"name": "ci"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("cxw_"));
    let bearer = Auth::Bearer(token.clone());
    let (status, list) = server.call("GET", "/api/v1/tokens", &session, None).await;
    assert_eq!(status, 200);
    assert_eq!(list["tokens"].as_array().unwrap().len(), 1);
    assert!(
        !list.to_string().contains(&token),
        "a listed token shows its secret"
    );

    // A bearer token acts without CSRF, but cannot mint more tokens.
    let (status, b) = server
        .call(
            "POST",
            "/api/v1/jobs",
            &bearer,
            Some(crate::common::subscription(2)),
        )
        .await;
    assert_eq!(status, 202, "{b}");
    let (status, b) = server
        .call(
            "POST",
            "/api/v1/tokens",
            &bearer,
            Some(json!({"name": "more"})),
        )
        .await;
    assert_eq!(
        (status, b["code"].as_str()),
        (403, Some("session_required"))
    );
    let (status, me) = server
        .call("GET", "/api/v1/auth/session", &bearer, None)
        .await;
    assert_eq!((status, me["auth"].as_str()), (200, Some("token")));

    // Bad and revoked tokens.
    for header in ["Basic b2xpdmlhOng=", "Bearer", "Bearer cxw_unknown"] {
        let r = server
            .http
            .get(server.url("/api/v1/jobs"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{header}");
        let b: serde_json::Value = r.json().await.unwrap();
        assert_eq!(b["code"], "unauthenticated");
    }
    let id = created["id"].as_str().unwrap();
    let (status, b) = server
        .call("DELETE", "/api/v1/tokens/not-a-uuid", &session, None)
        .await;
    assert_eq!((status, b["field"].as_str()), (400, Some("id")));
    let (status, _) = server
        .call(
            "DELETE",
            "/api/v1/tokens/00000000-0000-4000-8000-000000000000",
            &session,
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = server
        .call("DELETE", "/api/v1/tokens/{id}", &Auth::None, None)
        .await;
    assert_eq!(status, 401);
    let (status, _) = server
        .call("DELETE", &format!("/api/v1/tokens/{id}"), &session, None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = server.call("GET", "/api/v1/jobs", &bearer, None).await;
    assert_eq!(status, 401);

    // The CSRF token also works as a form field (HTML forms): sign out that way.
    let cookie = match &session {
        Auth::Cookie { cookie, .. } => cookie.clone(),
        _ => unreachable!(),
    };
    let r = server
        .http
        .post(server.url("/api/v1/auth/logout"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("csrf_token=wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = server
        .http
        .post(server.url("/api/v1/auth/logout"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("other=1&csrf_token={csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let (status, b) = server
        .call("GET", "/api/v1/auth/session", &session, None)
        .await;
    assert_eq!((status, b["code"].as_str()), (401, Some("unauthenticated")));
    let (status, _) = server
        .call("POST", "/api/v1/auth/logout", &Auth::None, None)
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn five_failures_per_user_and_address_lock_out_for_the_window() {
    let server = Server::start_with(crate::common::Options {
        worker: false,
        ..Default::default()
    })
    .await;
    let attempt = |password: &'static str| {
        let server = &server;
        async move {
            server
                .request(
                    "POST",
                    "/api/v1/auth/login",
                    &Auth::None,
                    Some(json!({"name": "olivia", "password": password})),
                )
                .await
        }
    };
    for _ in 0..5 {
        assert_eq!(attempt("wrong password!").await.status(), 401);
    }
    let r = attempt(OPERATOR.1).await;
    assert_eq!(r.status(), 429, "locked out even with the right password");
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=61).contains(&retry), "{retry}");
    let b: serde_json::Value = r.json().await.unwrap();
    assert_eq!(b["code"], "login_throttled");
    // Another user from the same address is not affected.
    server.login(VIEWER).await;
    // Failed logins are audited.
    let viewer = server.token(VIEWER).await;
    let (_, audit) = server
        .call("GET", "/api/v1/audit?limit=50", &viewer, None)
        .await;
    let failures = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "auth.login_failed")
        .count();
    assert_eq!(failures, 5);
}

#[tokio::test]
async fn viewers_read_but_do_not_act() {
    let server = Server::start_with(crate::common::Options {
        worker: false,
        ..Default::default()
    })
    .await;
    let viewer = server.login(VIEWER).await;
    let (status, _) = server.call("GET", "/api/v1/jobs", &viewer, None).await;
    assert_eq!(status, 200);
    let job = "00000000-0000-4000-8000-000000000000";
    let account = "5b000000-1111-4222-8333-000000000001";
    for (method, path, body) in [
        (
            "POST",
            "/api/v1/jobs".to_owned(),
            Some(crate::common::subscription(1)),
        ),
        (
            "POST",
            "/api/v1/batches".to_owned(),
            Some(json!({"label": "x", "rows": [crate::common::subscription(1)]})),
        ),
        ("POST", format!("/api/v1/jobs/{job}/cancel"), None),
        ("POST", format!("/api/v1/jobs/{job}/resume"), None),
        ("POST", format!("/api/v1/jobs/{job}/approve"), None),
        ("POST", format!("/api/v1/accounts/{account}/enable"), None),
        ("POST", format!("/api/v1/accounts/{account}/disable"), None),
        ("DELETE", format!("/api/v1/accounts/{account}"), None),
        (
            "POST",
            "/api/v1/groups".to_owned(),
            Some(json!({"name": "g"})),
        ),
    ] {
        let (status, b) = server.call(method, &path, &viewer, body).await;
        assert_eq!(
            (status, b["code"].as_str()),
            (403, Some("forbidden")),
            "{method} {path}: {b}"
        );
    }
    assert!(
        server
            .engine
            .store()
            .list_jobs(None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A CA and a server certificate for 127.0.0.1, as PEM files; returns (cert, key, CA PEM).
pub(crate) fn certificate(
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let cert = dir.join("tls.crt");
    let key = dir.join("tls.key");
    std::fs::write(&cert, format!("{}{}", leaf.pem(), ca_cert.pem())).unwrap();
    std::fs::write(&key, leaf_key.serialize_pem()).unwrap();
    (cert, key, ca_cert.pem())
}

#[tokio::test]
async fn under_tls_the_session_cookie_is_secure_and_host_bound() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, ca) = certificate(certs.path());
    let mut server = Server::start_with(crate::common::Options {
        worker: false,
        tls: Some((cert, key)),
        ..Default::default()
    })
    .await;
    server.http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap())
        .build()
        .unwrap();
    assert!(server.base.starts_with("https://"));
    let (status, _) = server.call("GET", "/healthz", &Auth::None, None).await;
    assert_eq!(status, 200);
    let r = server
        .request(
            "POST",
            "/api/v1/auth/login",
            &Auth::None,
            Some(json!({"name": OPERATOR.0, "password": OPERATOR.1})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set_cookie.starts_with("__Host-cortex_session="),
        "{set_cookie}"
    );
    for attr in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    let session = server.login(OPERATOR).await;
    let (status, me) = server
        .call("GET", "/api/v1/auth/session", &session, None)
        .await;
    assert_eq!((status, me["user"]["name"].as_str()), (200, Some("olivia")));
    // Plain HTTP to the TLS port gets nowhere.
    let plain = reqwest::Client::new()
        .get(format!("http://{}/healthz", server.addr))
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
}

#[tokio::test]
async fn a_sandbox_first_start_makes_an_admin_once() {
    let server = Server::start_with(crate::common::Options {
        worker: false,
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = cortex_web::WebConfig::for_data_dir(dir.path());
    config.sandbox = true;
    let (_, admin) = cortex_web::AppState::open(server.engine.clone(), config.clone())
        .await
        .unwrap();
    let admin = admin.expect("a generated admin on the first start");
    assert_eq!(admin.name, "admin");
    assert!(admin.password.expose().len() >= 32);
    let (_, again) = cortex_web::AppState::open(server.engine.clone(), config)
        .await
        .unwrap();
    assert!(again.is_none(), "only once");
    let auth = cortex_web::AuthStore::open(&dir.path().join("web-auth.db"))
        .await
        .unwrap();
    let user = auth
        .check_password("admin", &admin.password)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.role, cortex_web::Role::Admin);
}
