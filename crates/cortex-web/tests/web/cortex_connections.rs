//! Cortex Cloud connections over the API and the page: saved beside Prisma Cloud ones, each
//! bad field named (400), fields of the other platform refused, a Prisma job naming a Cortex
//! connection refused, and a canary key that comes back in no API answer, page or file.

use prisma_types::testing::{contains_bytes, files_under};
use serde_json::{Value, json};

use crate::common::*;

const CORTEX_KEY: &str = "CANARY-CORTEX-WEB-KEY-r8Tz";

fn cortex_body(name: &str) -> Value {
    json!({
        "platform": "cortex",
        "name": name,
        "api_url": "https://acme.xdr.eu.paloaltonetworks.com",
        "key_id": 17,
        "key": CORTEX_KEY,
        "key_type": "standard",
    })
}

/// Saves a connection through `POST /api/v1/connections` as `auth` (201 expected).
/// The fields an error answer's `errors` name, in order.
pub(crate) fn fields(v: &Value) -> Vec<String> {
    v["errors"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_cortex_connection_is_saved_listed_and_refused_for_a_prisma_job() {
    let server = Server::start().await;
    let admin = server.login(ADMIN).await;
    let operator = server.login(OPERATOR).await;
    let mut seen = String::new();

    let (status, saved) = server
        .call(
            "POST",
            "/api/v1/connections",
            &admin,
            Some(cortex_body("cortex-eu")),
        )
        .await;
    assert_eq!(status, 201, "{saved}");
    seen.push_str(&saved.to_string());
    let c = &saved["connection"];
    assert_eq!(c["platform"], "cortex");
    assert_eq!(c["api_url"], "https://api-acme.xdr.eu.paloaltonetworks.com");
    assert_eq!(c["key_id"], "17");
    assert_eq!(c["key_type"], "standard");
    assert_eq!(c["secret_key"], "••••");

    let (status, list) = server
        .call("GET", "/api/v1/connections", &operator, None)
        .await;
    assert_eq!(status, 200);
    seen.push_str(&list.to_string());
    let platforms: Vec<_> = list["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["platform"].as_str().unwrap()))
        .collect();
    assert_eq!(platforms, [("default", "prisma"), ("cortex-eu", "cortex")]);

    // Testing it tries the key for real: that tenant is not reachable from a test, so it fails
    // (what a reachable tenant answers: cortex_test_connection.rs).
    let (status, tested) = server
        .call(
            "POST",
            "/api/v1/connections/cortex-eu/test",
            &operator,
            None,
        )
        .await;
    assert_eq!(status, 200, "{tested}");
    assert_eq!(tested["ok"], false);
    seen.push_str(&tested.to_string());

    // A Prisma Cloud onboarding cannot go through it: refused before a job exists.
    let mut request = subscription(90);
    request["connection"] = json!("cortex-eu");
    let (status, refused) = server
        .call("POST", "/api/v1/jobs", &operator, Some(request))
        .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        fields(&refused).contains(&"connection".to_owned()),
        "{refused}"
    );
    assert!(refused.to_string().contains("Cortex Cloud"), "{refused}");
    seen.push_str(&refused.to_string());

    // Bad input: each field named, no value echoed.
    for (body, want) in [
        (
            {
                let mut b = cortex_body("x");
                b["key_id"] = json!(CORTEX_KEY);
                b["key_type"] = json!("bearer");
                b
            },
            vec!["key_id", "key_type"],
        ),
        (
            {
                let mut b = cortex_body("x");
                b["secret_key"] = json!(CORTEX_KEY);
                b["key_id"] = json!(0);
                b
            },
            vec!["secret_key", "key_id"],
        ),
        (
            {
                let mut b = cortex_body("x");
                b["platform"] = json!("prisma");
                b["access_key_id"] = json!("AKID");
                b["secret_key"] = json!("s");
                b
            },
            vec!["key_id", "key", "key_type"],
        ),
        (
            {
                let mut b = cortex_body("x");
                b["api_url"] = json!("http://api-acme.xdr.eu.paloaltonetworks.com");
                b
            },
            vec!["api_url"],
        ),
    ] {
        let (status, v) = server
            .call("POST", "/api/v1/connections", &admin, Some(body))
            .await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(fields(&v), want, "{v}");
        seen.push_str(&v.to_string());
    }
    assert!(!seen.contains(CORTEX_KEY), "the key came back: {seen}");
}

#[tokio::test]
async fn the_page_adds_a_cortex_connection_and_never_shows_its_key() {
    let server = Server::start().await;
    let admin = server.login(ADMIN).await;
    let Auth::Cookie { cookie, csrf } = &admin else {
        unreachable!()
    };
    let page = server
        .request("GET", "/connections", &admin, None)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Add a Prisma Cloud connection"), "{page}");
    assert!(page.contains("Add a Cortex Cloud connection"), "{page}");
    for field in ["name=\"key_id\"", "name=\"key\"", "name=\"key_type\""] {
        assert!(page.contains(field), "{field}");
    }
    let post = |body: String| {
        server
            .http
            .post(server.url("/connections"))
            .header("cookie", cookie.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let csrf = csrf.as_deref().unwrap();
    // Refused: the key id is not a number; the page names it and keeps the other values.
    let r = post(format!(
        "csrf_token={csrf}&platform=cortex&name=cx&api_url=https%3A%2F%2Fapi-acme.xdr.us.paloaltonetworks.com&key_id=abc&key={CORTEX_KEY}&key_type=standard"
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let refused = r.text().await.unwrap();
    assert!(refused.contains("<strong>key_id</strong>"), "{refused}");
    assert!(refused.contains("value=\"cx\""), "{refused}");
    let r = post(format!(
        "csrf_token={csrf}&platform=cortex&name=cx&api_url=https%3A%2F%2Fapi-acme.xdr.us.paloaltonetworks.com&key_id=5&key={CORTEX_KEY}&key_type=advanced"
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 303);
    let listed = server
        .request("GET", "/connections", &admin, None)
        .await
        .text()
        .await
        .unwrap();
    assert!(listed.contains("Cortex Cloud"), "{listed}");
    assert!(listed.contains("5 (advanced)"), "{listed}");
    let (_, api) = server
        .call("GET", "/api/v1/connections", &admin, None)
        .await;
    let files = files_under(server.dir.path());
    assert!(
        files
            .iter()
            .any(|(p, _)| p.extension().is_some_and(|e| e == "db")),
        "a SQLite file"
    );
    for text in [&page, &refused, &listed, &api.to_string()] {
        assert!(!text.contains(CORTEX_KEY), "the key in an answer");
    }
    for (path, bytes) in &files {
        assert!(
            !contains_bytes(bytes, CORTEX_KEY.as_bytes()),
            "the key in plaintext in {}",
            path.display()
        );
    }
}
