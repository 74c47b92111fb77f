//! Secret canary through the web API: a recognisable client secret goes in through the API body
//! (accepted for an existing identity, refused in every wrong place), the job runs to the end,
//! and the secret appears in no response body, no event stream and no log line (trace level),
//! while Prisma Cloud did receive it.
//!
//! Its own test binary: it installs the process-wide tracing subscriber.

#[path = "web/common.rs"]
mod common;

use std::time::Duration;

use common::{Auth, OPERATOR, Server, guid, read_sse, subscription};
use prisma_types::testing::LogCapture;
use serde_json::{Value, json};

const CANARY: &str = "CANARY-WEB-SECRET-7f3Kq~x9Zr2";

#[test]
fn the_client_secret_never_comes_back() {
    let capture = LogCapture::install_global();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = Server::start().await;
        let session = server.login(OPERATOR).await;
        let mut bodies: Vec<String> = Vec::new();
        let mut record = |status: u16, body: &str| bodies.push(format!("{status} {body}"));

        // Refused in every wrong place, and the refusal does not quote it.
        let mut wrong_places = Vec::new();
        let mut builtin = subscription(1);
        builtin["client_secret"] = json!(CANARY);
        wrong_places.push(("/api/v1/jobs", builtin));
        let mut typed = subscription(2);
        typed["enabled"] = json!(CANARY);
        wrong_places.push(("/api/v1/jobs", typed));
        let mut nested = subscription(3);
        nested["groups"] = json!([{"secret": CANARY}]);
        wrong_places.push(("/api/v1/jobs", nested));
        let mut bad_row = subscription(4);
        bad_row["identity"] = json!("existing");
        bad_row["client_secret"] = json!(CANARY);
        bad_row["tenant_id"] = json!("not-a-tenant");
        wrong_places.push(("/api/v1/batches", json!({"label": "x", "rows": [bad_row]})));
        wrong_places.push((
            "/api/v1/groups",
            json!({"name": ["x"], "description": CANARY}),
        ));
        wrong_places.push((
            "/api/v1/auth/login",
            json!({"name": "olivia", "password": CANARY}),
        ));
        wrong_places.push(("/api/v1/tokens", json!({"name": 5, "secret": CANARY})));
        for (path, body) in wrong_places {
            let r = server.request("POST", path, &session, Some(body)).await;
            let status = r.status().as_u16();
            assert!((400..500).contains(&status), "{path}: {status}");
            record(status, &r.text().await.unwrap());
        }
        let r = server
            .http
            .post(server.url("/api/v1/jobs"))
            .headers(session.headers())
            .header("content-type", "application/json")
            .body(format!("{{\"client_secret\": \"{CANARY}\", \"name\": "))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        record(400, &r.text().await.unwrap());

        // Accepted where it belongs: an existing identity.
        let mut existing = subscription(9);
        existing["identity"] = json!("existing");
        existing["client_id"] = json!(guid(0xc1d0, 9));
        existing["service_principal_id"] = json!(guid(0x5e00, 9));
        existing["client_secret"] = json!(CANARY);
        let r = server
            .request("POST", "/api/v1/jobs", &session, Some(existing))
            .await;
        assert_eq!(r.status(), 202);
        let text = r.text().await.unwrap();
        record(202, &text);
        let job: Value = serde_json::from_str(&text).unwrap();
        let id = job["id"].as_str().unwrap().to_owned();

        let r = server
            .request("GET", &format!("/api/v1/jobs/{id}/events"), &session, None)
            .await;
        let (events, raw) = read_sse(r, |_| false, Duration::from_secs(60)).await;
        assert_eq!(events.last().unwrap().json()["state"], "succeeded", "{raw}");

        for path in [
            format!("/api/v1/jobs/{id}"),
            "/api/v1/jobs".to_owned(),
            "/api/v1/audit".to_owned(),
            "/api/v1/accounts".to_owned(),
            format!("/api/v1/accounts/{}", guid(0x5b00, 9)),
            "/metrics".to_owned(),
        ] {
            let (status, body) = server.call("GET", &path, &session, None).await;
            assert_eq!(status, 200, "{path}: {body}");
            bodies.push(body.to_string());
        }

        // It did reach Prisma Cloud.
        let stored = server.emu.state.store().accounts[&guid(0x5b00, 9)]
            .request
            .key
            .clone();
        assert_eq!(stored.expose(), CANARY);

        let logs = capture.text();
        assert!(
            logs.len() > 5_000,
            "trace logs captured: {} bytes",
            logs.len()
        );
        assert!(!logs.contains(CANARY), "the secret is in the logs");
        assert!(!raw.contains(CANARY), "the secret is in the event stream");
        for body in &bodies {
            assert!(!body.contains(CANARY), "the secret came back: {body}");
        }
        let _ = Auth::None;
    });
}
