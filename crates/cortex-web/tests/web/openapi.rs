//! The OpenAPI document lists exactly the routes the server has, and each of them is served.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::common::{Auth, Server};

#[tokio::test]
async fn the_document_is_openapi_and_lists_exactly_the_routes() {
    let server = Server::start().await;
    let r = server
        .request("GET", "/api/v1/openapi.json", &Auth::None, None)
        .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let doc: Value = r.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string());
    let paths = doc["paths"].as_object().expect("paths");
    let mut documented = BTreeSet::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                assert!(op["responses"].is_object(), "{method} {path} has responses");
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = cortex_web::route_table().into_iter().collect();
    assert_eq!(
        documented, served,
        "documented routes differ from served ones"
    );
    // Every schema reference resolves.
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for part in text.split("\"#/components/schemas/").skip(1) {
        let name = part.split('"').next().unwrap();
        assert!(
            schemas.contains_key(name),
            "dangling schema reference {name}"
        );
    }

    // And the table is what the router really serves: each route answers with something other
    // than "no such route" / "method not allowed".
    let token = server.token(crate::common::VIEWER).await;
    for (method, path) in &served {
        let concrete = path
            .replace("{id}", "00000000-0000-4000-8000-000000000000")
            .replace("{name}", "no-such-connection");
        let body = (method != "GET").then(|| serde_json::json!({}));
        let r = server.request(method, &concrete, &token, body).await;
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert_ne!(status, 405, "{method} {path}: {text}");
        assert!(
            !text.contains("route_not_found"),
            "{method} {path} is not served: {text}"
        );
    }
    let (status, body) = server.call("GET", "/api/v1/nope", &Auth::None, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("route_not_found"))
    );
    let (status, body) = server
        .call(
            "PUT",
            "/api/v1/jobs",
            &Auth::None,
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
}

/// The documented job request has exactly `RawRequest`'s fields plus `client_secret`.
#[test]
fn the_documented_job_request_matches_the_engine_request() {
    let doc: Value = serde_json::from_str(&cortex_web::openapi_document()).unwrap();
    let props = doc["components"]["schemas"]["JobRequest"]["properties"]
        .as_object()
        .unwrap();
    let documented: BTreeSet<String> = props.keys().cloned().collect();
    let raw = serde_json::to_value(onboarding_engine::RawRequest::default()).unwrap();
    let mut expected: BTreeSet<String> = raw.as_object().unwrap().keys().cloned().collect();
    expected.insert("client_secret".into());
    assert_eq!(documented, expected);
}

/// Every route but the public ones refuses a caller without credentials (401, JSON).
#[tokio::test]
async fn every_private_route_needs_credentials() {
    let server = Server::start_with(crate::common::Options {
        worker: false,
        ..Default::default()
    })
    .await;
    let public = [
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/api/v1/openapi.json"),
        ("POST", "/api/v1/auth/login"),
    ];
    for (method, path) in cortex_web::route_table() {
        if public.contains(&(method.as_str(), path.as_str())) {
            continue;
        }
        let concrete = path
            .replace("{id}", "00000000-0000-4000-8000-000000000000")
            .replace("{name}", "no-such-connection");
        let body = (method != "GET").then(|| serde_json::json!({}));
        let (status, b) = server.call(&method, &concrete, &Auth::None, body).await;
        assert_eq!(
            (status, b["code"].as_str()),
            (401, Some("unauthenticated")),
            "{method} {path}: {b}"
        );
    }
}

/// Every route with an id answers 400 for a malformed id and 404 for an unknown one; every
/// state-changing route refuses a viewer (403) unless it is one a viewer may use.
#[tokio::test]
async fn every_route_answers_400_403_and_404_as_documented() {
    let server = Server::start_with(crate::common::Options {
        worker: false,
        ..Default::default()
    })
    .await;
    let operator = server.token(crate::common::OPERATOR).await;
    let viewer = server.token(crate::common::VIEWER).await;
    let unknown = "00000000-0000-4000-8000-00000000beef";
    let doc: Value = serde_json::from_str(&cortex_web::openapi_document()).unwrap();
    let (mut with_id, mut refused) = (0, 0);
    for (method, path) in cortex_web::route_table() {
        let documented = &doc["paths"][&path][method.to_lowercase()]["responses"];
        let body = (method != "GET").then(|| serde_json::json!({}));
        if path.contains("{id}") {
            let bad = path.replace("{id}", "not%20an%20id");
            let (status, b) = server.call(&method, &bad, &operator, body.clone()).await;
            assert_eq!(status, 400, "{method} {bad}: {b}");
            assert!(b["code"].is_string() && b["message"].is_string(), "{b}");
            assert!(
                documented.get("400").is_some(),
                "{method} {path}: 400 undocumented"
            );
            let missing = path.replace("{id}", unknown);
            let (status, b) = server
                .call(&method, &missing, &operator, body.clone())
                .await;
            assert_eq!(status, 404, "{method} {missing}: {b}");
            assert!(
                documented.get("404").is_some(),
                "{method} {path}: 404 undocumented"
            );
            with_id += 1;
        }
        // What a viewer may change: their own session and API tokens.
        let viewer_may = path.starts_with("/api/v1/auth/") || path.starts_with("/api/v1/tokens");
        if method != "GET" && !viewer_may {
            let concrete = path.replace("{id}", unknown);
            let (status, b) = server.call(&method, &concrete, &viewer, body).await;
            assert_eq!(
                (status, b["code"].as_str()),
                (403, Some("forbidden")),
                "{method} {path}: {b}"
            );
            assert!(
                documented.get("403").is_some(),
                "{method} {path}: 403 undocumented"
            );
            refused += 1;
        }
    }
    assert!(
        with_id >= 13 && refused >= 9,
        "{with_id} id routes, {refused} refused"
    );
}

/// What `openapi-spec-validator` (run by `scripts/openapi-check` in `scripts/test`) and code
/// generators need, and what the server really does: every response described, operation ids
/// unique, ids as UUIDs, `limit` bounded, and every JSON body's 415 both documented and served.
#[tokio::test]
async fn the_document_is_complete_and_as_tight_as_the_server() {
    let server = Server::start_with(crate::common::Options {
        worker: false,
        ..Default::default()
    })
    .await;
    let doc: Value = serde_json::from_str(&cortex_web::openapi_document()).unwrap();
    let served: Value = server
        .request("GET", "/api/v1/openapi.json", &Auth::None, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(doc, served);
    let session = server.login(crate::common::ADMIN).await;
    let mut operation_ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().expect("an operationId");
            assert!(operation_ids.insert(id.to_owned()), "{id} twice");
            for (status, response) in op["responses"].as_object().unwrap() {
                assert!(
                    response["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{method} {path} {status} has no description"
                );
            }
            for param in op["parameters"].as_array().into_iter().flatten() {
                match (param["in"].as_str(), param["name"].as_str()) {
                    (Some("path"), Some("id")) => {
                        assert_eq!(param["schema"]["format"], "uuid", "{method} {path}")
                    }
                    (Some("query"), Some("limit")) => {
                        assert_eq!(
                            (&param["schema"]["minimum"], &param["schema"]["maximum"]),
                            (&Value::from(1), &Value::from(1000)),
                            "{method} {path}"
                        )
                    }
                    _ => {}
                }
            }
            if op.get("requestBody").is_none() {
                continue;
            }
            assert!(op["responses"]["415"].is_object(), "{method} {path}: 415");
            // Served: a body that is not JSON is a 415 before anything else is looked at.
            let concrete = path
                .replace("{id}", "00000000-0000-4000-8000-000000000000")
                .replace("{name}", "no-such-connection");
            let mut headers = session.headers();
            headers.insert("content-type", "text/plain".parse().unwrap());
            let r = server
                .http
                .request(
                    method.to_uppercase().parse().unwrap(),
                    server.url(&concrete),
                )
                .headers(headers.clone())
                .body("{}")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 415, "{method} {path}");
            headers.remove("content-type");
            let r = server
                .http
                .request(
                    method.to_uppercase().parse().unwrap(),
                    server.url(&concrete),
                )
                .headers(headers)
                .body("{}")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 415, "{method} {path} without a content type");
        }
    }
    // The audit log's `detail` may be null, and the schema says so.
    let detail = &doc["components"]["schemas"]["AuditView"]["properties"]["detail"];
    assert!(detail.to_string().contains("null"), "{detail}");
    let (status, body) = server
        .call(
            "POST",
            "/api/v1/tokens",
            &session,
            Some(serde_json::json!({"name": "t"})),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = server
        .call(
            "DELETE",
            &format!("/api/v1/tokens/{}", body["id"].as_str().unwrap()),
            &session,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (_, audit) = server
        .call("GET", "/api/v1/audit?limit=5", &session, None)
        .await;
    let revoked = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "token.revoked")
        .expect("the revocation is audited");
    assert!(revoked["detail"].is_null(), "{revoked}");
}
