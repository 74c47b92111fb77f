//! The connections API: who may do what (401/403), bad input named (400), unknown names (404),
//! masking, testing against the emulator (a wrong key fails cleanly), jobs onboarding through a
//! saved connection, and a canary secret that never comes back in any answer.

use serde_json::{Value, json};

use crate::common::*;

const CANARY: &str = "CANARY-CONNECTION-SECRET-77Zq";

fn body(server: &Server, name: &str, secret: &str) -> Value {
    json!({
        "name": name,
        "api_url": server.emu.base_url(),
        "access_key_id": ACCESS_KEY,
        "secret_key": secret,
    })
}

#[tokio::test]
async fn the_list_shows_default_first_and_masks_every_key() {
    let server = Server::start().await;
    let viewer = server.login(VIEWER).await;
    let (status, list) = server
        .call("GET", "/api/v1/connections", &viewer, None)
        .await;
    assert_eq!(status, 200, "{list}");
    let connections = list["connections"].as_array().unwrap();
    assert_eq!(connections.len(), 1);
    let default = &connections[0];
    assert_eq!(default["name"], "default");
    assert_eq!(default["default"], true);
    assert_eq!(default["description"], "sandbox emulator");
    assert_eq!(
        default["api_url"],
        server.emu.base_url().trim_end_matches('/')
    );
    assert_eq!(default["access_key_id"], "web-…");
    assert_eq!(default["secret_key"], "••••");

    let admin = server.login(ADMIN).await;
    let (status, saved) = server
        .call(
            "POST",
            "/api/v1/connections",
            &admin,
            Some(body(&server, "lab", CANARY)),
        )
        .await;
    assert_eq!(status, 201, "{saved}");
    assert_eq!(saved["outcome"], "created");
    assert_eq!(saved["connection"]["name"], "lab");
    assert_eq!(saved["connection"]["access_key_id"], "web-…");
    assert_eq!(saved["connection"]["secret_key"], "••••");
    assert!(
        saved["connection"]["description"]
            .as_str()
            .unwrap()
            .starts_with("saved by web:ada at ")
    );
    // Replacing answers 200.
    let mut eu = body(&server, "lab", CANARY);
    eu["api_url"] = json!("app2.eu.prismacloud.io");
    let (status, replaced) = server
        .call("POST", "/api/v1/connections", &admin, Some(eu))
        .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["outcome"], "replaced");
    assert_eq!(
        replaced["connection"]["api_url"],
        "https://api2.eu.prismacloud.io"
    );
    let (_, list) = server
        .call("GET", "/api/v1/connections", &viewer, None)
        .await;
    let names: Vec<_> = list["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["default", "lab"]);
    let text = list.to_string();
    assert!(
        !text.contains(CANARY) && !text.contains(ACCESS_KEY),
        "{text}"
    );
}

#[tokio::test]
async fn roles_gate_saving_deleting_and_testing() {
    let server = Server::start_with(Options {
        worker: false,
        ..Options::default()
    })
    .await;
    let viewer = server.login(VIEWER).await;
    let operator = server.login(OPERATOR).await;
    let admin = server.login(ADMIN).await;
    let new = || Some(body(&server, "lab", CANARY));

    // No credentials: 401 everywhere.
    for (method, path, b) in [
        ("GET", "/api/v1/connections", None),
        ("POST", "/api/v1/connections", new()),
        ("DELETE", "/api/v1/connections/lab", None),
        ("POST", "/api/v1/connections/default/test", None),
    ] {
        let (status, e) = server.call(method, path, &Auth::None, b).await;
        assert_eq!((status, e["code"].as_str()), (401, Some("unauthenticated")));
    }
    // Saving and deleting need an admin; testing an operator.
    for who in [&viewer, &operator] {
        let (status, e) = server.call("POST", "/api/v1/connections", who, new()).await;
        assert_eq!(
            (status, e["code"].as_str()),
            (403, Some("forbidden")),
            "{e}"
        );
        assert!(e["message"].as_str().unwrap().contains("admin"));
    }
    let (status, e) = server
        .call("POST", "/api/v1/connections/default/test", &viewer, None)
        .await;
    assert_eq!((status, e["code"].as_str()), (403, Some("forbidden")));
    // A session without its CSRF token may not change anything.
    let (status, e) = server
        .call("POST", "/api/v1/connections", &admin.without_csrf(), new())
        .await;
    assert_eq!((status, e["code"].as_str()), (403, Some("csrf_failed")));

    let (status, _) = server
        .call("POST", "/api/v1/connections", &admin, new())
        .await;
    assert_eq!(status, 201);
    let (status, e) = server
        .call("DELETE", "/api/v1/connections/lab", &operator, None)
        .await;
    assert_eq!(status, 403, "{e}");
    let (status, r) = server
        .call("POST", "/api/v1/connections/lab/test", &operator, None)
        .await;
    assert_eq!(status, 200, "{r}");
    // An admin's API token works too.
    let token = server.token(ADMIN).await;
    let (status, r) = server
        .call("DELETE", "/api/v1/connections/lab", &token, None)
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r, json!({"name": "lab", "result": "deleted"}));
    let (status, e) = server
        .call("DELETE", "/api/v1/connections/lab", &admin, None)
        .await;
    assert_eq!((status, e["code"].as_str()), (404, Some("not_found")));
    let (status, e) = server
        .call("POST", "/api/v1/connections/lab/test", &operator, None)
        .await;
    assert_eq!((status, e["code"].as_str()), (404, Some("not_found")));
    // `default` is the server's: it cannot be deleted (nor saved).
    let (status, e) = server
        .call("DELETE", "/api/v1/connections/default", &admin, None)
        .await;
    assert_eq!((status, e["field"].as_str()), (400, Some("name")), "{e}");
    let (status, e) = server
        .call(
            "POST",
            "/api/v1/connections",
            &admin,
            Some(body(&server, "default", CANARY)),
        )
        .await;
    assert_eq!((status, e["field"].as_str()), (400, Some("name")), "{e}");
    // A malformed name in the path.
    let (status, e) = server
        .call(
            "POST",
            "/api/v1/connections/Not_A_Name/test",
            &operator,
            None,
        )
        .await;
    assert_eq!(
        (status, e["code"].as_str(), e["field"].as_str()),
        (400, Some("invalid_parameter"), Some("name"))
    );
}

#[tokio::test]
async fn bad_input_names_each_field_and_echoes_no_value() {
    let server = Server::start_with(Options {
        worker: false,
        ..Options::default()
    })
    .await;
    let admin = server.login(ADMIN).await;
    let post = |b: Value| server.call("POST", "/api/v1/connections", &admin, Some(b));

    let (status, e) = post(json!({})).await;
    assert_eq!((status, e["code"].as_str()), (400, Some("invalid_request")));
    let fields: Vec<_> = e["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "api_url", "access_key_id", "secret_key"]);

    let mut b = body(&server, "lab", CANARY);
    b["api_url"] = json!("http://api.prismacloud.io");
    let (status, e) = post(b).await;
    assert_eq!((status, e["field"].as_str()), (400, Some("api_url")), "{e}");
    assert!(e["message"].as_str().unwrap().contains("plain http"), "{e}");

    let mut b = body(&server, "lab", CANARY);
    b["api_url"] = json!(format!("{CANARY}://x"));
    b["name"] = json!("Lab Name");
    let (status, e) = post(b).await;
    assert_eq!(status, 400);
    assert_eq!(e["errors"].as_array().unwrap().len(), 2, "{e}");

    // The secret in a field of the wrong type, or under an unknown name.
    let mut b = body(&server, "lab", CANARY);
    b["access_key_id"] = json!([CANARY]);
    let (status, e) = post(b).await;
    assert_eq!(
        (status, e["field"].as_str()),
        (400, Some("access_key_id")),
        "{e}"
    );
    let mut b = body(&server, "lab", CANARY);
    b["secret"] = json!(CANARY);
    let (status, e) = post(b).await;
    assert_eq!((status, e["field"].as_str()), (400, Some("secret")), "{e}");
    let (status, e) = server
        .call("POST", "/api/v1/connections", &admin, None)
        .await;
    assert_eq!(status, 415, "{e}");

    // Nothing was saved, and no answer carried the canary (in any case).
    let (_, list) = server
        .call("GET", "/api/v1/connections", &admin, None)
        .await;
    assert_eq!(list["connections"].as_array().unwrap().len(), 1);
    for b in [
        json!({"name": CANARY}),
        json!({"secret_key": 42, "name": "x"}),
        json!({"api_url": CANARY, "secret_key": CANARY}),
    ] {
        let (_, e) = post(b).await;
        let text = e.to_string().to_lowercase();
        assert!(!text.contains(&CANARY.to_lowercase()), "{text}");
    }
}

#[tokio::test]
async fn test_connection_logs_in_to_the_emulator_and_a_wrong_key_fails_cleanly() {
    let server = Server::start_with(Options {
        worker: false,
        ..Options::default()
    })
    .await;
    let admin = server.login(ADMIN).await;
    let operator = server.token(OPERATOR).await;
    let (status, r) = server
        .call("POST", "/api/v1/connections/default/test", &operator, None)
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["name"], "default");
    assert_eq!(r["ok"], true, "{r}");

    for (name, secret) in [("good", SECRET_KEY), ("wrong", CANARY)] {
        let (status, _) = server
            .call(
                "POST",
                "/api/v1/connections",
                &admin,
                Some(body(&server, name, secret)),
            )
            .await;
        assert_eq!(status, 201);
    }
    let (status, r) = server
        .call("POST", "/api/v1/connections/good/test", &operator, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(r["ok"], true, "{r}");
    assert!(r["message"].as_str().unwrap().contains("accepted"), "{r}");

    let (status, r) = server
        .call("POST", "/api/v1/connections/wrong/test", &operator, None)
        .await;
    assert_eq!(status, 200, "a refused key is an answer, not an error");
    assert_eq!(r["ok"], false, "{r}");
    let message = r["message"].as_str().unwrap();
    assert!(message.contains("invalid_credentials"), "{message}");
    assert!(!r.to_string().contains(CANARY));
    assert!(!r.to_string().contains(SECRET_KEY));

    // Tests are audited, without secrets.
    let (_, audit) = server.call("GET", "/api/v1/audit", &admin, None).await;
    let text = audit.to_string();
    assert!(text.contains("connection.tested") && text.contains("connection.saved"));
    assert!(!text.contains(CANARY) && !text.contains(SECRET_KEY));
}

#[tokio::test]
async fn a_job_names_its_connection_and_an_unknown_one_is_refused() {
    let server = Server::start().await;
    let admin = server.login(ADMIN).await;
    let operator = server.login(OPERATOR).await;
    let mut request = subscription(40);
    request["connection"] = json!("lab");
    let (status, e) = server
        .call("POST", "/api/v1/jobs", &operator, Some(request.clone()))
        .await;
    assert_eq!(
        (status, e["field"].as_str()),
        (400, Some("connection")),
        "{e}"
    );
    assert!(
        e["message"].as_str().unwrap().contains("known: default"),
        "{e}"
    );
    let mut bad = subscription(41);
    bad["connection"] = json!("Not A Name");
    let (status, e) = server
        .call("POST", "/api/v1/jobs", &operator, Some(bad))
        .await;
    assert_eq!(
        (status, e["field"].as_str()),
        (400, Some("connection")),
        "{e}"
    );

    let (status, _) = server
        .call(
            "POST",
            "/api/v1/connections",
            &admin,
            Some(body(&server, "lab", SECRET_KEY)),
        )
        .await;
    assert_eq!(status, 201);
    let (status, job) = server
        .call("POST", "/api/v1/jobs", &operator, Some(request))
        .await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap();
    assert_eq!(
        server.wait_for(id, |s| s.is_terminal()).await.to_string(),
        "succeeded"
    );
    let (_, detail) = server
        .call("GET", &format!("/api/v1/jobs/{id}"), &operator, None)
        .await;
    assert_eq!(detail["request"]["connection"], "lab", "{detail}");
}

/// Canary: a connection's secret key (a working one, and a recognisable wrong one) goes in
/// through the API and the page, is listed, tested and used by jobs (one succeeds, one fails on
/// the refused key). No answer — JSON, HTML, event stream, audit — and no file in the data
/// directory holds either secret, nor the whole access key id outside the store's ciphertext.
#[tokio::test]
async fn a_connection_secret_never_comes_back() {
    let server = Server::start().await;
    let admin = server.login(ADMIN).await;
    let operator = server.login(OPERATOR).await;
    let mut seen = String::new();
    let mut record = |status: u16, v: &Value| seen.push_str(&format!("{status} {v}\n"));

    for (name, secret) in [("lab", SECRET_KEY), ("wrong", CANARY)] {
        let (s, v) = server
            .call(
                "POST",
                "/api/v1/connections",
                &admin,
                Some(body(&server, name, secret)),
            )
            .await;
        assert_eq!(s, 201);
        record(s, &v);
    }
    // The same again through the page's form (replacing "wrong").
    let Auth::Cookie { cookie, csrf } = &admin else {
        unreachable!()
    };
    let form = format!(
        "csrf_token={}&name=wrong&api_url={}&access_key_id={ACCESS_KEY}&secret_key={CANARY}",
        csrf.as_deref().unwrap(),
        server
            .emu
            .base_url()
            .replace(':', "%3A")
            .replace('/', "%2F"),
    );
    let r = server
        .http
        .post(server.url("/connections"))
        .header("cookie", cookie.clone())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);

    for (method, path) in [
        ("GET", "/api/v1/connections"),
        ("POST", "/api/v1/connections/lab/test"),
        ("POST", "/api/v1/connections/wrong/test"),
        ("POST", "/api/v1/connections/default/test"),
    ] {
        let (s, v) = server.call(method, path, &operator, None).await;
        assert_eq!(s, 200, "{path}: {v}");
        record(s, &v);
    }
    let mut jobs = Vec::new();
    for (n, connection) in [(70, "lab"), (71, "wrong")] {
        let mut request = subscription(n);
        request["connection"] = json!(connection);
        let (s, v) = server
            .call("POST", "/api/v1/jobs", &operator, Some(request))
            .await;
        assert_eq!(s, 202, "{v}");
        jobs.push(v["id"].as_str().unwrap().to_owned());
    }
    let ok = server.wait_for(&jobs[0], |s| s.is_terminal()).await;
    let failed = server.wait_for(&jobs[1], |s| s.is_terminal()).await;
    assert_eq!(
        (ok.to_string(), failed.to_string()),
        ("succeeded".into(), "failed".into())
    );
    let mut streams = String::new();
    for id in &jobs {
        let (s, v) = server
            .call("GET", &format!("/api/v1/jobs/{id}"), &operator, None)
            .await;
        record(s, &v);
        let r = server
            .request("GET", &format!("/api/v1/jobs/{id}/events"), &operator, None)
            .await;
        let (events, raw) = read_sse(r, |_| false, std::time::Duration::from_secs(20)).await;
        assert!(events.iter().any(|e| e.data.contains("api_call")), "{raw}");
        streams.push_str(&raw);
    }
    assert!(
        streams.contains("invalid_credentials"),
        "the refused login is told"
    );
    let (s, v) = server.call("GET", "/api/v1/audit", &admin, None).await;
    record(s, &v);
    let mut pages = String::new();
    for path in ["/connections", "/onboard", &format!("/jobs/{}", jobs[1])] {
        pages.push_str(
            &server
                .request("GET", path, &admin, None)
                .await
                .text()
                .await
                .unwrap(),
        );
    }
    let r = server
        .http
        .post(server.url("/connections/wrong/test"))
        .header("cookie", cookie.clone())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf_token={}", csrf.as_deref().unwrap()))
        .send()
        .await
        .unwrap();
    pages.push_str(&r.text().await.unwrap());
    assert!(pages.contains("Connection failed"));

    let mut files = Vec::new();
    fn walk(dir: &std::path::Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.push((path.display().to_string(), bytes));
            }
        }
    }
    walk(server.dir.path(), &mut files);
    for secret in [CANARY, SECRET_KEY, ACCESS_KEY] {
        assert!(!seen.contains(secret), "{secret} in an API answer: {seen}");
        assert!(!streams.contains(secret), "{secret} in an event stream");
        assert!(!pages.contains(secret), "{secret} in a page");
    }
    for secret in [CANARY, SECRET_KEY] {
        for (path, bytes) in &files {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} in plaintext in {path}"
            );
        }
    }
}
