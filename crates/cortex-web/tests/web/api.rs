//! Every endpoint: its 400, 401, 403 (in auth.rs), 404 and success paths.

use serde_json::{Value, json};

use crate::common::{Auth, OPERATOR, Options, Server, VIEWER, guid, subscription};

const UNKNOWN: &str = "00000000-0000-4000-8000-000000000000";

fn codes(b: &Value) -> (Option<&str>, Option<&str>) {
    (b["code"].as_str(), b["field"].as_str())
}

#[tokio::test]
async fn job_submission_is_validated_at_the_edge() {
    let server = Server::start_with(Options {
        worker: false,
        ..Default::default()
    })
    .await;
    let op = server.login(OPERATOR).await;
    let (status, _) = server
        .call("POST", "/api/v1/jobs", &Auth::None, Some(subscription(1)))
        .await;
    assert_eq!(status, 401);

    // Not JSON, wrong content type, wrong shape, unknown field.
    let r = server
        .http
        .post(server.url("/api/v1/jobs"))
        .headers(op.headers())
        .header("content-type", "application/json")
        .body("{\"scope\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "invalid_json");
    let r = server
        .http
        .post(server.url("/api/v1/jobs"))
        .headers(op.headers())
        .body("scope=subscription")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(
        r.json::<Value>().await.unwrap()["code"],
        "unsupported_media_type"
    );
    for (body, field) in [
        (json!([1, 2]), "body"),
        (json!({"enabled": "yes"}), "enabled"),
        (json!({"groups": "Default"}), "groups"),
        (json!({"subscriptionId": "x"}), "subscriptionId"),
        (
            json!({"client_secret": 5, "identity": "existing"}),
            "client_secret",
        ),
    ] {
        let (status, b) = server
            .call("POST", "/api/v1/jobs", &op, Some(body.clone()))
            .await;
        assert_eq!(status, 400, "{body} → {b}");
        assert_eq!(b["code"], "invalid_request", "{b}");
        assert_eq!(b["field"], field, "{body} → {b}");
    }

    // The engine's RequestErrors: every field listed.
    let (status, b) = server
        .call(
            "POST",
            "/api/v1/jobs",
            &op,
            Some(json!({"subscription_id": "nope", "tenant_id": "bad", "groups": [], "features": ["Telepathy"]})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(b["code"], "invalid_request");
    let fields: Vec<&str> = b["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in ["subscription_id", "tenant_id", "name", "groups", "features"] {
        assert!(fields.contains(&f), "{f} missing from {b}");
    }
    // client_secret only for identity existing, and required there.
    let mut builtin = subscription(3);
    builtin["client_secret"] = json!("a-client-secret-value~1234567890");
    let (status, b) = server
        .call("POST", "/api/v1/jobs", &op, Some(builtin))
        .await;
    assert_eq!(
        (status, codes(&b)),
        (400, (Some("invalid_request"), Some("client_secret"))),
        "{b}"
    );
    let mut existing = subscription(4);
    existing["identity"] = json!("existing");
    existing["client_id"] = json!(guid(0xc1d0, 4));
    existing["service_principal_id"] = json!(guid(0x5e00, 4));
    let (status, b) = server
        .call("POST", "/api/v1/jobs", &op, Some(existing))
        .await;
    assert_eq!(
        (status, codes(&b)),
        (400, (Some("invalid_request"), Some("client_secret"))),
        "{b}"
    );
    assert!(
        server
            .engine
            .store()
            .list_jobs(None, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Success: 202, Location, queued.
    let r = server
        .request("POST", "/api/v1/jobs", &op, Some(subscription(5)))
        .await;
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["state"], "queued");
    assert_eq!(
        location,
        format!("/api/v1/jobs/{}", b["id"].as_str().unwrap())
    );
    let (status, job) = server.call("GET", &location, &op, None).await;
    assert_eq!(status, 200);
    assert_eq!(job["created_by"], "web:olivia");
    assert_eq!(job["request"]["name"], "web-5");
}

#[tokio::test]
async fn job_reads_and_actions() {
    let server = Server::start_with(Options {
        worker: false,
        ..Default::default()
    })
    .await;
    let op = server.token(OPERATOR).await;
    let viewer = server.token(VIEWER).await;
    let (_, a) = server
        .call("POST", "/api/v1/jobs", &op, Some(subscription(1)))
        .await;
    let (_, b) = server
        .call("POST", "/api/v1/jobs", &op, Some(subscription(2)))
        .await;
    let (a, b) = (
        a["id"].as_str().unwrap().to_owned(),
        b["id"].as_str().unwrap().to_owned(),
    );

    // List.
    let (status, _) = server.call("GET", "/api/v1/jobs", &Auth::None, None).await;
    assert_eq!(status, 401);
    let (status, list) = server
        .call("GET", "/api/v1/jobs?limit=1", &viewer, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(list["jobs"][0]["id"], b.as_str(), "newest first");
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("state=paused", "state"),
        ("batch=nope", "batch"),
        ("colour=red", "colour"),
    ] {
        let (status, body) = server
            .call("GET", &format!("/api/v1/jobs?{query}"), &viewer, None)
            .await;
        assert_eq!(
            (status, codes(&body)),
            (400, (Some("invalid_parameter"), Some(field))),
            "{query}: {body}"
        );
    }
    let (_, queued) = server
        .call("GET", "/api/v1/jobs?state=queued", &viewer, None)
        .await;
    assert_eq!(queued["jobs"].as_array().unwrap().len(), 2);

    // Get.
    let (status, body) = server
        .call("GET", "/api/v1/jobs/12345", &viewer, None)
        .await;
    assert_eq!(
        (status, codes(&body)),
        (400, (Some("invalid_parameter"), Some("id")))
    );
    let (status, body) = server
        .call("GET", &format!("/api/v1/jobs/{UNKNOWN}"), &viewer, None)
        .await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let (status, body) = server
        .call("GET", &format!("/api/v1/jobs/{a}"), &viewer, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["state"], "queued");
    assert!(body["steps"].as_array().unwrap().is_empty());

    // Actions: 401, 400, 404, 409, 200.
    for action in ["cancel", "resume", "approve"] {
        let (status, _) = server
            .call(
                "POST",
                &format!("/api/v1/jobs/{a}/{action}"),
                &Auth::None,
                None,
            )
            .await;
        assert_eq!(status, 401, "{action}");
        let (status, body) = server
            .call("POST", &format!("/api/v1/jobs/x/{action}"), &op, None)
            .await;
        assert_eq!(
            (status, body["field"].as_str()),
            (400, Some("id")),
            "{action}"
        );
        let (status, _) = server
            .call(
                "POST",
                &format!("/api/v1/jobs/{UNKNOWN}/{action}"),
                &op,
                None,
            )
            .await;
        assert_eq!(status, 404, "{action}");
    }
    let (status, body) = server
        .call("POST", &format!("/api/v1/jobs/{a}/resume"), &op, None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("invalid_state")),
        "{body}"
    );
    let (status, body) = server
        .call("POST", &format!("/api/v1/jobs/{a}/approve"), &op, None)
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server
        .call("POST", &format!("/api/v1/jobs/{a}/cancel"), &op, None)
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (200, Some("cancelled")),
        "{body}"
    );
    let (status, body) = server
        .call("POST", &format!("/api/v1/jobs/{a}/cancel"), &op, None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("invalid_state"))
    );
    let (status, body) = server
        .call("POST", &format!("/api/v1/jobs/{a}/resume"), &op, None)
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (200, Some("queued")),
        "{body}"
    );

    // Audit: 401, 400, 200 with the actions above.
    let (status, _) = server.call("GET", "/api/v1/audit", &Auth::None, None).await;
    assert_eq!(status, 401);
    let (status, body) = server
        .call("GET", "/api/v1/audit?limit=5000", &viewer, None)
        .await;
    assert_eq!(
        (status, codes(&body)),
        (400, (Some("invalid_parameter"), Some("limit")))
    );
    let (status, audit) = server.call("GET", "/api/v1/audit", &viewer, None).await;
    assert_eq!(status, 200);
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "job.submitted",
        "job.approved",
        "job.cancel_requested",
        "job.resumed",
        "token.created",
    ] {
        assert!(actions.contains(&a), "{a} not in {actions:?}");
    }
}

#[tokio::test]
async fn batches_accounts_groups_and_metrics() {
    let server = Server::start().await;
    let op = server.token(OPERATOR).await;
    let viewer = server.token(VIEWER).await;

    // Batch: 401, 400s, success.
    let rows = vec![subscription(10), subscription(11)];
    let (status, _) = server
        .call(
            "POST",
            "/api/v1/batches",
            &Auth::None,
            Some(json!({"label": "b", "rows": rows})),
        )
        .await;
    assert_eq!(status, 401);
    for (body, code, field) in [
        (json!({"rows": [subscription(1)]}), "invalid_body", "label"),
        (json!({"label": "b", "rows": []}), "invalid_body", "rows"),
        (
            json!({"label": "b", "rows": [subscription(1)], "x": 1}),
            "invalid_body",
            "x",
        ),
        (
            json!({"label": "b", "rows": (0..21).map(subscription).collect::<Vec<_>>()}),
            "invalid_body",
            "rows",
        ),
        (
            json!({"label": "b", "rows": [subscription(1), {"tenant_id": "bad"}]}),
            "invalid_request",
            "rows[1].tenant_id",
        ),
        (
            json!({"label": "b", "rows": [subscription(1), subscription(1)]}),
            "invalid_request",
            "rows[1]",
        ),
        (
            json!({"label": "b", "rows": [subscription(1), 7]}),
            "invalid_request",
            "rows[1]",
        ),
    ] {
        let (status, b) = server
            .call("POST", "/api/v1/batches", &op, Some(body.clone()))
            .await;
        assert_eq!(
            (status, codes(&b)),
            (400, (Some(code), Some(field))),
            "{body} → {b}"
        );
    }
    let (status, accepted) = server
        .call(
            "POST",
            "/api/v1/batches",
            &op,
            Some(json!({"label": "two", "rows": rows})),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    let batch = accepted["id"].as_str().unwrap().to_owned();
    for job in accepted["jobs"].as_array().unwrap() {
        let state = server
            .wait_for(job.as_str().unwrap(), |s| s.is_terminal())
            .await;
        assert_eq!(state, cortex_store::JobState::Succeeded);
    }
    let (status, b) = server
        .call("GET", "/api/v1/batches/nope", &viewer, None)
        .await;
    assert_eq!(
        (status, codes(&b)),
        (400, (Some("invalid_parameter"), Some("id")))
    );
    let (status, _) = server
        .call("GET", &format!("/api/v1/batches/{UNKNOWN}"), &viewer, None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = server
        .call(
            "GET",
            &format!("/api/v1/batches/{batch}"),
            &Auth::None,
            None,
        )
        .await;
    assert_eq!(status, 401);
    let (status, view) = server
        .call("GET", &format!("/api/v1/batches/{batch}"), &viewer, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (view["total"].as_u64(), view["onboarded"].as_u64()),
        (Some(2), Some(2)),
        "{view}"
    );
    assert_eq!(view["by_state"]["succeeded"], 2);
    assert_eq!(view["rows"][0]["outcome"], "created");

    // Accounts.
    let account = guid(0x5b00, 10);
    let (status, _) = server
        .call("GET", "/api/v1/accounts", &Auth::None, None)
        .await;
    assert_eq!(status, 401);
    let (status, list) = server.call("GET", "/api/v1/accounts", &viewer, None).await;
    assert_eq!(status, 200);
    assert!(list.to_string().contains(&account), "{list}");
    let (status, b) = server
        .call("GET", "/api/v1/accounts/not-a-guid", &viewer, None)
        .await;
    assert_eq!(
        (status, codes(&b)),
        (400, (Some("invalid_parameter"), Some("id")))
    );
    let missing = guid(0x5b00, 999);
    let (status, b) = server
        .call("GET", &format!("/api/v1/accounts/{missing}"), &viewer, None)
        .await;
    assert_eq!(
        (status, b["code"].as_str()),
        (404, Some("not_found")),
        "{b}"
    );
    let (status, one) = server
        .call("GET", &format!("/api/v1/accounts/{account}"), &viewer, None)
        .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["account_id"], account.as_str());
    for action in ["disable", "enable"] {
        let (status, b) = server
            .call(
                "POST",
                &format!("/api/v1/accounts/{missing}/{action}"),
                &op,
                None,
            )
            .await;
        assert_eq!(status, 404, "{b}");
        let (status, b) = server
            .call(
                "POST",
                &format!("/api/v1/accounts/{account}/{action}?update_children=maybe"),
                &op,
                None,
            )
            .await;
        assert_eq!(
            (status, codes(&b)),
            (400, (Some("invalid_parameter"), Some("update_children"))),
            "{b}"
        );
        let (status, b) = server
            .call(
                "POST",
                &format!("/api/v1/accounts/{account}/{action}"),
                &op,
                None,
            )
            .await;
        assert_eq!(
            (status, b["result"].as_str()),
            (
                200,
                Some(if action == "disable" {
                    "disabled"
                } else {
                    "enabled"
                })
            ),
            "{b}"
        );
    }
    let (status, _) = server
        .call("DELETE", &format!("/api/v1/accounts/{missing}"), &op, None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = server
        .call(
            "DELETE",
            &format!("/api/v1/accounts/{account}"),
            &Auth::None,
            None,
        )
        .await;
    assert_eq!(status, 401);
    let (status, b) = server
        .call("DELETE", &format!("/api/v1/accounts/{account}"), &op, None)
        .await;
    assert_eq!((status, b["result"].as_str()), (200, Some("offboarded")));
    let (status, _) = server
        .call("GET", &format!("/api/v1/accounts/{account}"), &viewer, None)
        .await;
    assert_eq!(status, 404);

    // Groups.
    let (status, _) = server
        .call("GET", "/api/v1/groups", &Auth::None, None)
        .await;
    assert_eq!(status, 401);
    let (status, groups) = server.call("GET", "/api/v1/groups", &viewer, None).await;
    assert_eq!(status, 200);
    assert!(groups.to_string().contains("Default Account Group"));
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "x", "owner": "me"}), "owner"),
        (json!({"description": "x"}), "name"),
        (
            json!({"name": "x", "description": "d".repeat(1001)}),
            "description",
        ),
    ] {
        let (status, b) = server
            .call("POST", "/api/v1/groups", &op, Some(body.clone()))
            .await;
        assert_eq!(
            (status, codes(&b)),
            (400, (Some("invalid_body"), Some(field))),
            "{body} → {b}"
        );
    }
    let (status, b) = server
        .call(
            "POST",
            "/api/v1/groups",
            &op,
            Some(json!({"name": "Web Team", "description": "from the API"})),
        )
        .await;
    assert_eq!(
        (status, b["outcome"].as_str()),
        (201, Some("created")),
        "{b}"
    );
    let (status, b) = server
        .call(
            "POST",
            "/api/v1/groups",
            &op,
            Some(json!({"name": "Web Team"})),
        )
        .await;
    assert_eq!(
        (status, b["outcome"].as_str()),
        (200, Some("adopted")),
        "{b}"
    );

    // Health, readiness, metrics.
    let (status, b) = server.call("GET", "/healthz", &Auth::None, None).await;
    assert_eq!((status, b["status"].as_str()), (200, Some("ok")));
    let (status, b) = server.call("GET", "/readyz", &Auth::None, None).await;
    assert_eq!((status, b["store"].as_str()), (200, Some("sqlite")));
    let (status, _) = server.call("GET", "/metrics", &Auth::None, None).await;
    assert_eq!(status, 401);
    let r = server.request("GET", "/metrics", &viewer, None).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = r.text().await.unwrap();
    assert!(
        text.contains("cortex_jobs{scope=\"store\",state=\"succeeded\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("cortex_jobs{scope=\"store\",state=\"queued\"} 0"),
        "{text}"
    );
    assert!(
        text.contains(
            "cortex_prisma_calls_total{endpoint=\"POST /cas/v1/azure_account\",status=\"200\"} 2"
        ),
        "{text}"
    );
    assert!(text.contains("cortex_web_http_requests_total{method=\"GET\",route=\"/api/v1/batches/{id}\",status=\"200\"}"), "{text}");
    // A second scrape counts nothing twice: the figures stay.
    let again = server
        .request("GET", "/metrics", &viewer, None)
        .await
        .text()
        .await
        .unwrap();
    assert!(again.contains(
        "cortex_prisma_calls_total{endpoint=\"POST /cas/v1/azure_account\",status=\"200\"} 2"
    ));
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (_, value) = line.rsplit_once(' ').expect(line);
        value.parse::<f64>().expect(line);
    }
}

#[tokio::test]
async fn oversized_bodies_are_refused_as_json() {
    let server = Server::start_with(Options {
        worker: false,
        ..Default::default()
    })
    .await;
    let op = server.token(OPERATOR).await;
    let huge = json!({"label": "x", "rows": ["y".repeat(3 * 1024 * 1024)]});
    let (status, b) = server
        .call("POST", "/api/v1/batches", &op, Some(huge))
        .await;
    assert_eq!(
        (status, b["code"].as_str()),
        (413, Some("payload_too_large")),
        "{b}"
    );
}
