//! The drift API: a managed account compared with the platform after a change there, a
//! reconcile job that puts it back, adopt current, the unmanaged accounts, roles, and bad
//! input named.

use serde_json::json;

use crate::common::*;

/// A change on the platform: the emulated account disabled.
pub(crate) fn disable_on_the_platform(server: &Server, account: &str) {
    server
        .emu
        .state
        .store()
        .accounts
        .get_mut(account)
        .unwrap()
        .enabled = false;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_finds_drift_reconciles_it_and_adopts_the_current_state() {
    let server = Server::start().await;
    let op = server.login(OPERATOR).await;
    let viewer = server.login(VIEWER).await;
    let (status, job) = server
        .call("POST", "/api/v1/jobs", &op, Some(subscription(21)))
        .await;
    assert_eq!(status, 202, "{job}");
    let state = server
        .wait_for(job["id"].as_str().unwrap(), |s| s.is_terminal())
        .await;
    assert_eq!(state, cortex_store::JobState::Succeeded);
    let sub = guid(0x5b00, 21);
    let path = format!("/api/v1/accounts/{sub}/drift");

    let (status, clean) = server.call("GET", &path, &viewer, None).await;
    assert_eq!(status, 200, "{clean}");
    assert_eq!(clean["report"]["drifted"], false);

    // Changed on the platform: disabled.
    disable_on_the_platform(&server, &sub);
    let (_, found) = server.call("GET", &path, &viewer, None).await;
    assert_eq!(found["report"]["drifted"], true, "{found}");
    assert_eq!(found["report"]["differences"][0]["field"], "enabled");
    assert_eq!(found["report"]["differences"][0]["desired"], true);
    assert_eq!(found["report"]["differences"][0]["current"], false);
    let (_, list) = server.call("GET", "/api/v1/drift", &viewer, None).await;
    assert_eq!(list["accounts"][0]["origin"], "onboarded");
    assert_eq!(
        list["accounts"][0]["finding"]["differences"][0]["field"],
        "enabled"
    );

    // Viewers do not reconcile; operators do, with a job.
    let reconcile = format!("/api/v1/accounts/{sub}/reconcile");
    let (status, _) = server
        .call("POST", &reconcile, &viewer, Some(json!({})))
        .await;
    assert_eq!(status, 403);
    let (status, bad) = server
        .call("POST", &reconcile, &op, Some(json!({"adopt_curent": true})))
        .await;
    assert_eq!(status, 400, "{bad}");
    let (status, job) = server.call("POST", &reconcile, &op, Some(json!({}))).await;
    assert_eq!(status, 202, "{job}");
    let state = server
        .wait_for(job["id"].as_str().unwrap(), |s| s.is_terminal())
        .await;
    assert_eq!(state, cortex_store::JobState::Succeeded);
    assert!(server.emu.state.store().accounts[&sub].enabled);
    let (_, after) = server.call("GET", &path, &viewer, None).await;
    assert_eq!(after["report"]["drifted"], false, "{after}");

    // Adopt current: the platform's state becomes the desired one.
    disable_on_the_platform(&server, &sub);
    let (status, adopted) = server
        .call(
            "POST",
            &reconcile,
            &op,
            Some(json!({"adopt_current": true})),
        )
        .await;
    assert_eq!(status, 200, "{adopted}");
    assert_eq!(adopted["report"]["drifted"], false);
    assert_eq!(adopted["report"]["desired"]["enabled"], false);

    // Bad and unknown accounts.
    let (status, bad) = server
        .call("GET", "/api/v1/accounts/nope/drift", &viewer, None)
        .await;
    assert_eq!((status, bad["field"].as_str()), (400, Some("id")));
    let other = guid(0x5b00, 99);
    let (status, unknown) = server
        .call(
            "GET",
            &format!("/api/v1/accounts/{other}/drift"),
            &viewer,
            None,
        )
        .await;
    assert_eq!(
        (status, unknown["code"].as_str()),
        (404, Some("not_managed"))
    );

    // Nothing unmanaged (the engine tests adopt an account made elsewhere); adopting one
    // that is managed already is a conflict, viewers may not adopt, an empty list is named.
    let (status, none) = server.call("GET", "/api/v1/adoption", &viewer, None).await;
    assert_eq!((status, &none["accounts"]), (200, &json!([])), "{none}");
    let elsewhere = sub.clone();
    let (status, refused) = server
        .call(
            "POST",
            "/api/v1/adoption",
            &viewer,
            Some(json!({"account_ids": [elsewhere]})),
        )
        .await;
    assert_eq!(status, 403, "{refused}");
    let (status, empty) = server
        .call(
            "POST",
            "/api/v1/adoption",
            &op,
            Some(json!({"account_ids": []})),
        )
        .await;
    assert_eq!(
        (status, empty["field"].as_str()),
        (400, Some("account_ids"))
    );
    let (status, dup) = server
        .call(
            "POST",
            "/api/v1/adoption",
            &op,
            Some(json!({"account_ids": [elsewhere]})),
        )
        .await;
    assert_eq!(
        (status, dup["code"].as_str()),
        (409, Some("already_managed")),
        "{dup}"
    );
}
