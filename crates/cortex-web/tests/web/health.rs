//! The health API: current health and an account's history after the watch saw a degradation,
//! notification sinks saved by an admin and listed masked (never the URL's path or the key),
//! and roles.

use std::time::Duration;

use onboarding_engine::watch::{HealthWatch, WatchConfig};
use serde_json::json;

use crate::common::*;

const SINK_KEY: &str = "CANARY-SINK-SIGNING-KEY-0042";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_shows_current_health_and_the_history_of_a_degraded_account() {
    let server = Server::start().await;
    let op = server.login(OPERATOR).await;
    let viewer = server.login(VIEWER).await;
    let (status, job) = server
        .call("POST", "/api/v1/jobs", &op, Some(subscription(7)))
        .await;
    assert_eq!(status, 202, "{job}");
    let state = server
        .wait_for(job["id"].as_str().unwrap(), |s| s.is_terminal())
        .await;
    assert_eq!(state, cortex_store::JobState::Succeeded);
    let sub = guid(0x5b00, 7);

    let config = WatchConfig {
        interval: Duration::from_secs(1),
        ..WatchConfig::default()
    };
    let watch = HealthWatch::new(server.engine.clone(), config).unwrap();
    watch.run_round().await.unwrap();
    let set = server
        .http
        .put(format!(
            "{}/_emulator/accounts/{sub}/scenario",
            server.emu.base_url()
        ))
        .json(&json!({"scenario": "subscription_not_found"}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 204);
    // The next round (rounds are seconds here).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(watch.run_round().await.unwrap().checked, 1);

    let (status, list) = server.call("GET", "/api/v1/health", &viewer, None).await;
    assert_eq!(status, 200, "{list}");
    let accounts = list["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0]["account_id"], sub);
    assert_eq!(accounts[0]["status"], "error");
    assert_eq!(accounts[0]["changes"][0]["from"], "ok");
    assert_eq!(accounts[0]["changes"][0]["to"], "error");

    let (status, history) = server
        .call(
            "GET",
            &format!("/api/v1/accounts/{sub}/health"),
            &viewer,
            None,
        )
        .await;
    assert_eq!(status, 200, "{history}");
    let statuses: Vec<&str> = history["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["error", "ok"]);

    let (status, bad) = server
        .call("GET", "/api/v1/accounts/nope/health", &viewer, None)
        .await;
    assert_eq!((status, bad["field"].as_str()), (400, Some("id")));
    let (status, _) = server
        .call(
            "GET",
            &format!("/api/v1/accounts/{}/health", guid(0x5b00, 99)),
            &viewer,
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = server
        .call("GET", "/api/v1/health", &Auth::None, None)
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn sinks_are_saved_by_admins_and_listed_masked() {
    let server = Server::start().await;
    let admin = server.login(ADMIN).await;
    let op = server.login(OPERATOR).await;
    let body = json!({
        "name": "ops-hook", "kind": "webhook",
        "url": "https://hooks.example.com/services/T0/B0/PATHSECRET",
        "signing_key": SINK_KEY,
    });
    let (status, _) = server
        .call(
            "POST",
            "/api/v1/notifications/sinks",
            &op,
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, 403);
    let (status, saved) = server
        .call("POST", "/api/v1/notifications/sinks", &admin, Some(body))
        .await;
    assert_eq!(status, 201, "{saved}");
    assert_eq!(
        saved,
        json!({"name": "ops-hook", "kind": "webhook",
        "url": "https://hooks.example.com/…", "signed": true})
    );
    let (status, bad) = server
        .call(
            "POST",
            "/api/v1/notifications/sinks",
            &admin,
            Some(json!({"name": "x", "kind": "webhook", "url": "ftp://PATHSECRET"})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(!bad.to_string().contains("PATHSECRET"), "{bad}");
    let (_, list) = server
        .call("GET", "/api/v1/notifications/sinks", &op, None)
        .await;
    assert_eq!(list["sinks"].as_array().unwrap().len(), 1);
    let text = list.to_string();
    assert!(
        !text.contains("PATHSECRET") && !text.contains(SINK_KEY),
        "{text}"
    );
    let (status, dead) = server
        .call("GET", "/api/v1/notifications/dead-letters", &op, None)
        .await;
    assert_eq!(
        (status, dead["dead_letters"].as_array().unwrap().len()),
        (200, 0)
    );
    let (status, _) = server
        .call(
            "DELETE",
            "/api/v1/notifications/sinks/ops-hook",
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = server
        .call(
            "DELETE",
            "/api/v1/notifications/sinks/ops-hook",
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 404);
}
