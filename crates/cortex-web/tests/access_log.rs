//! The access log and request ids: `x-request-id` accepted when valid, replaced when not,
//! returned on every response, logged once per request without query strings or cookies, and
//! carried into the events of the jobs a request submits (Prisma Cloud calls included).
//!
//! Its own test binary: it installs the process-wide tracing subscriber.

#[path = "web/common.rs"]
mod common;

use std::time::Duration;

use common::{OPERATOR, Server, subscription};
use cortex_store::JobState;
use prisma_types::testing::LogCapture;

const CANARY: &str = "CANARY-QUERY-TOKEN-q8Zr";

/// The access-log lines of `text` that name `request_id`.
fn access_lines<'a>(text: &'a str, request_id: &str) -> Vec<&'a str> {
    let needle = format!("request_id={request_id}");
    text.lines()
        .filter(|l| {
            l.contains("cortex_web::access_log") && l.split_whitespace().any(|w| w == needle)
        })
        .collect()
}

/// `GET path` with `x-request-id: id` and optional other headers.
async fn get(server: &Server, path: &str, id: &str, extra: &[(&str, String)]) -> reqwest::Response {
    let mut request = server.http.get(server.url(path)).header("x-request-id", id);
    for (name, value) in extra {
        request = request.header(*name, value);
    }
    request.send().await.unwrap()
}

#[test]
fn request_ids_reach_the_log_the_response_and_the_jobs_events() {
    let capture = LogCapture::install_global();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = Server::start().await;
        let op = server.token(OPERATOR).await;

        // A valid id is kept and returned.
        let r = get(&server, "/healthz", "lb-7f3a:1", &[]).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-request-id"], "lb-7f3a:1");

        // An invalid one is replaced by a generated id; so is a missing one.
        let r = get(&server, "/healthz", "two words; and more", &[]).await;
        let replaced = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert!(uuid::Uuid::parse_str(&replaced).is_ok(), "{replaced}");
        let r = server.http.get(server.url("/readyz")).send().await.unwrap();
        let generated = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");
        assert_ne!(generated, replaced);

        // Errors and unmatched paths carry one too; neither the query string nor a cookie is
        // logged.
        let cookie = ("cookie", format!("cortex_session={CANARY}"));
        let path = format!("/api/v1/jobs?token={CANARY}");
        let r = get(&server, &path, "no-auth-1", &[cookie]).await;
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()["x-request-id"], "no-auth-1");
        let path = format!("/nothing/here?secret={CANARY}");
        let r = get(&server, &path, "unmatched-1", &[]).await;
        assert_eq!(r.status(), 404);
        assert_eq!(r.headers()["x-request-id"], "unmatched-1");

        // A job submitted by a request: every one of its events names the request.
        let r = server
            .http
            .post(server.url("/api/v1/jobs"))
            .headers(op.headers())
            .header("x-request-id", "submit-42")
            .json(&subscription(42))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        assert_eq!(r.headers()["x-request-id"], "submit-42");
        let accepted: serde_json::Value = r.json().await.unwrap();
        let job = accepted["id"].as_str().unwrap().to_owned();
        assert_eq!(
            server.wait_for(&job, |s| s.is_terminal()).await,
            JobState::Succeeded
        );
        let stored = server
            .engine
            .store()
            .events_after(job.parse().unwrap(), 0, 10_000)
            .await
            .unwrap();
        assert!(stored.len() > 5);
        for e in &stored {
            assert_eq!(e.event["origin_request_id"], "submit-42", "{}", e.event);
            // An `api_call`'s own `request_id` is the platform's, left as it was.
            assert_ne!(e.event["request_id"], "submit-42", "{}", e.event);
        }
        assert!(
            stored.iter().any(|e| e.event["type"] == "api_call"),
            "the job made Prisma Cloud calls"
        );
        // A request without an id still gets one of its own for its jobs.
        let (status, accepted) = server
            .call("POST", "/api/v1/jobs", &op, Some(subscription(43)))
            .await;
        assert_eq!(status, 202, "{accepted}");
        let other = accepted["id"].as_str().unwrap().to_owned();
        assert_eq!(
            server.wait_for(&other, |s| s.is_terminal()).await,
            JobState::Succeeded
        );
        let first = server
            .engine
            .store()
            .events_after(other.parse().unwrap(), 0, 1)
            .await
            .unwrap();
        let own = first[0].event["origin_request_id"].as_str().unwrap();
        assert!(uuid::Uuid::parse_str(own).is_ok(), "{own}");

        tokio::time::sleep(Duration::from_millis(100)).await;
        let text = capture.text();
        for (id, method, route, status) in [
            ("lb-7f3a:1", "GET", "/healthz", "200"),
            (replaced.as_str(), "GET", "/healthz", "200"),
            (generated.as_str(), "GET", "/readyz", "200"),
            ("no-auth-1", "GET", "/api/v1/jobs", "401"),
            ("unmatched-1", "GET", "unmatched", "404"),
            ("submit-42", "POST", "/api/v1/jobs", "202"),
        ] {
            let lines = access_lines(&text, id);
            assert_eq!(lines.len(), 1, "one access line for {id}: {lines:?}");
            let line = lines[0];
            for field in [
                format!("method={method}"),
                format!("route={route}"),
                format!("status={status}"),
            ] {
                assert!(
                    line.split_whitespace().any(|w| w == field),
                    "{field} in {line}"
                );
            }
            assert!(line.contains("duration_ms="), "{line}");
        }
        assert!(
            !text.contains(CANARY),
            "a query string or cookie was logged"
        );
        assert!(!text.contains("/nothing/here"), "a raw path was logged");
    });
}
