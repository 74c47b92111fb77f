//! The health watch's pages: the account page (overview, current health, the timeline and its
//! text equivalent, notifications), the dashboard's health column, the dead letters and the
//! sinks pages — rendered for real, never with a secret, bad addresses a 404 page.

use std::time::Duration;

use onboarding_engine::watch::{HealthWatch, WatchConfig};
use serde_json::json;

use crate::common::*;

/// GET a page as `auth`: its status and HTML.
async fn page(server: &Server, auth: &Auth, path: &str) -> (u16, String) {
    let r = server.request("GET", path, auth, None).await;
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

/// Onboards `subscription(n)` through the API and waits until it succeeded; its account ID.
async fn onboarded(server: &Server, n: u32) -> String {
    let op = server.login(OPERATOR).await;
    let (status, job) = server
        .call("POST", "/api/v1/jobs", &op, Some(subscription(n)))
        .await;
    assert_eq!(status, 202, "{job}");
    let state = server
        .wait_for(job["id"].as_str().unwrap(), |s| s.is_terminal())
        .await;
    assert_eq!(state, cortex_store::JobState::Succeeded);
    guid(0x5b00, n)
}

/// A watch whose rounds are a second long.
fn quick_watch(server: &Server) -> HealthWatch {
    let config = WatchConfig {
        interval: Duration::from_secs(1),
        ..WatchConfig::default()
    };
    HealthWatch::new(server.engine.clone(), config).unwrap()
}

/// Sets the emulator's scenario for one account (`healthy` clears it).
async fn scenario(server: &Server, account: &str, scenario: &str) {
    let set = server
        .http
        .put(format!(
            "{}/_emulator/accounts/{account}/scenario",
            server.emu.base_url()
        ))
        .json(&json!({ "scenario": scenario }))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_page_shows_an_onboarded_account_without_a_secret() {
    let server = Server::start().await;
    let viewer = server.login(VIEWER).await;
    let sub = onboarded(&server, 31).await;
    let (status, html) = page(&server, &viewer, &format!("/accounts/{sub}")).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("web-31"), "{html}");
    assert!(html.contains(r#"id="account-actions""#), "{html}");
    assert!(html.contains(r#"href="/jobs/"#), "{html}");
    assert!(!html.contains(SECRET_KEY), "{html}");
    // The dashboard links the row's name to the page.
    let (_, dash) = page(&server, &viewer, "/").await;
    assert!(
        dash.contains(&format!(r#"<a href="/accounts/{sub}">web-31</a>"#)),
        "{dash}"
    );
}

#[tokio::test]
async fn bad_or_unknown_account_addresses_are_a_404_page() {
    let server = Server::start_with(Options {
        worker: false,
        ..Options::default()
    })
    .await;
    let viewer = server.login(VIEWER).await;
    for path in [
        "/accounts/nope".to_owned(),
        "/accounts/0f5c2e4a".to_owned(),
        format!("/accounts/{}", guid(0x5b00, 4040)),
    ] {
        let (status, html) = page(&server, &viewer, &path).await;
        assert_eq!(status, 404, "{path}: {html}");
        assert!(html.contains("Not found"), "{path}: {html}");
        assert!(
            html.contains(r#"aria-label="Main""#),
            "{path}: the site's navigation"
        );
    }
    // Signed out: to the sign-in page.
    let r = server
        .request(
            "GET",
            &format!("/accounts/{}", guid(0x5b00, 1)),
            &Auth::None,
            None,
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_degradation_shows_on_the_dashboard_and_as_the_account_timeline() {
    let server = Server::start().await;
    let viewer = server.login(VIEWER).await;
    let sub = onboarded(&server, 32).await;
    let watch = quick_watch(&server);
    watch.run_round().await.unwrap();
    scenario(&server, &sub, "subscription_not_found").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(watch.run_round().await.unwrap().checked, 1);

    let (_, dash) = page(&server, &viewer, "/").await;
    let row = dash
        .split(&format!(r#"data-account="{sub}""#))
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .unwrap_or_else(|| panic!("a row for {sub}: {dash}"));
    assert!(row.contains(r#"class="health-cell""#), "{row}");
    assert!(
        row.contains("i-bad") && row.contains(" error</span>"),
        "{row}"
    );
    assert!(row.contains(": ok, now error"), "what changed: {row}");
    assert!(row.contains("just now"), "{row}");
    assert!(dash.contains(&format!(r#"data-account="{sub}" data-attention="true""#)));

    let (status, html) = page(&server, &viewer, &format!("/accounts/{sub}")).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(r#"id="timeline""#), "{html}");
    assert!(html.contains("2 checks from"), "{html}");
    assert!(html.contains(r#"<svg class="strip""#), "{html}");
    assert!(html.contains(r#"role="img" aria-label=""#), "{html}");
    assert!(
        html.contains("ok 1 time, error 1 time; now error"),
        "{html}"
    );
    assert!(html.contains("The checks as a table"), "{html}");
    assert!(html.contains(r#"id="health-changed""#), "{html}");
    assert!(!html.contains(SECRET_KEY));

    // Recovered: the account's newest check is ok again, and says what changed.
    scenario(&server, &sub, "healthy").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(watch.run_round().await.unwrap().checked, 1);
    let (_, html) = page(&server, &viewer, &format!("/accounts/{sub}")).await;
    assert!(html.contains("3 checks from"), "{html}");
    assert!(html.contains(": error, now ok"), "{html}");
}

const SINK_KEY: &str = "CANARY-PAGE-SINK-KEY-93b1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_masked_and_retried_or_discarded_by_operators_audited() {
    let server = Server::start().await;
    let admin = server.login(ADMIN).await;
    let op = server.login(OPERATOR).await;
    let viewer = server.login(VIEWER).await;
    // A sink on a port nothing listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (status, saved) = server
        .call(
            "POST",
            "/api/v1/notifications/sinks",
            &admin,
            Some(json!({"name": "closed-port", "kind": "webhook",
                "url": format!("http://127.0.0.1:{closed}/hook/PATHSECRET"),
                "signing_key": SINK_KEY})),
        )
        .await;
    assert_eq!(status, 201, "{saved}");
    let sub = onboarded(&server, 33).await;
    let mut config = WatchConfig {
        interval: Duration::from_secs(1),
        ..WatchConfig::default()
    };
    config.delivery.max_attempts = 2;
    config.delivery.base_delay = Duration::from_millis(10);
    config.delivery.max_delay = Duration::from_millis(20);
    let watch = HealthWatch::new(server.engine.clone(), config).unwrap();
    watch.run_round().await.unwrap();
    scenario(&server, &sub, "subscription_not_found").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(watch.run_round().await.unwrap().notifications, 1);

    let (status, html) = page(&server, &viewer, "/notifications/dead-letters").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("1 dead letter<"), "{html}");
    assert!(html.contains("closed-port"), "{html}");
    assert!(html.contains("connection refused or unreachable"), "{html}");
    assert!(html.contains("Capability degraded: web-33"), "{html}");
    assert!(
        !html.contains(r#"aria-label="Retry notification"#),
        "a viewer gets no buttons: {html}"
    );
    for secret in ["PATHSECRET", SINK_KEY, &closed.to_string()] {
        assert!(!html.contains(secret), "{secret} in {html}");
    }
    let (_, account) = page(&server, &viewer, &format!("/accounts/{sub}")).await;
    assert!(account.contains(r#"id="notifications""#), "{account}");
    assert!(
        account.contains("closed-port") && account.contains("dead"),
        "{account}"
    );
    assert!(!account.contains("PATHSECRET") && !account.contains(SINK_KEY));

    let dead = server
        .engine
        .store()
        .deliveries(Some("dead"), 10)
        .await
        .unwrap();
    let id = dead[0].notification_id;
    let (_, html) = page(&server, &op, "/notifications/dead-letters").await;
    assert!(
        html.contains(">Retry</button>") && html.contains(">Discard</button>"),
        "{html}"
    );
    // A viewer's form is refused; bad addresses name the field or are not found.
    let refused = post_form(
        &server,
        &format!("/notifications/dead-letters/{id}/closed-port/retry"),
        &viewer,
        true,
        &[],
    )
    .await;
    assert_eq!(refused.status().as_u16(), 403);
    for (path, want) in [
        (
            "/notifications/dead-letters/x/closed-port/retry".to_string(),
            400,
        ),
        (
            format!("/notifications/dead-letters/{id}/Bad_Name/retry"),
            400,
        ),
        (format!("/notifications/dead-letters/{id}/other/retry"), 404),
        (
            format!("/notifications/dead-letters/{id}/closed-port/explode"),
            404,
        ),
    ] {
        let r = post_form(&server, &path, &op, true, &[]).await;
        assert_eq!(r.status().as_u16(), want, "{path}");
    }

    // Retry: re-queued, tried again (the port is still closed: dead again, more attempts).
    let r = post_form(
        &server,
        &format!("/notifications/dead-letters/{id}/closed-port/retry"),
        &op,
        true,
        &[],
    )
    .await;
    assert_eq!(r.status().as_u16(), 303);
    let mut again = None;
    for _ in 0..200 {
        let d = server
            .engine
            .store()
            .delivery(id, "closed-port")
            .await
            .unwrap()
            .unwrap();
        if d.state == "dead" && d.updated_at_ms > 0 {
            again = Some(d);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let again = again.expect("retried and dead again");
    assert!(again.attempts > dead[0].attempts, "{again:?}");
    // Discard, through the API this time.
    let (status, _) = server
        .call(
            "DELETE",
            &format!("/api/v1/notifications/dead-letters/{id}/closed-port"),
            &op,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (_, html) = page(&server, &viewer, "/notifications/dead-letters").await;
    assert!(html.contains(r#"id="no-dead-letters""#), "{html}");
    let (_, audit) = server.call("GET", "/api/v1/audit", &admin, None).await;
    let actions = audit.to_string();
    assert!(actions.contains("notification.retried"), "{actions}");
    assert!(actions.contains("notification.discarded"), "{actions}");
    assert!(!actions.contains("PATHSECRET") && !actions.contains(SINK_KEY));
}

#[tokio::test]
async fn sinks_are_added_tested_and_deleted_on_their_page_never_showing_url_or_key() {
    let server = Server::start_with(Options {
        worker: false,
        ..Options::default()
    })
    .await;
    let admin = server.login(ADMIN).await;
    let op = server.login(OPERATOR).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{closed}/hook/PATHSECRET");
    let fields = [
        ("name", "ops-hook"),
        ("kind", "webhook"),
        ("url", url.as_str()),
        ("signing_key", SINK_KEY),
    ];
    // An operator may look, not add.
    let (_, html) = page(&server, &op, "/notifications/sinks").await;
    assert!(!html.contains(r#"id="add-sink""#), "{html}");
    let r = post_form(&server, "/notifications/sinks", &op, true, &fields).await;
    assert_eq!(r.status().as_u16(), 403);
    let html = r.text().await.unwrap();
    assert!(
        !html.contains("PATHSECRET") && !html.contains(SINK_KEY),
        "{html}"
    );
    // A bad form names its fields and keeps no secret.
    let bad = [
        ("name", "Bad Name"),
        ("kind", "pager"),
        ("url", url.as_str()),
    ];
    let r = post_form(&server, "/notifications/sinks", &admin, true, &bad).await;
    assert_eq!(r.status().as_u16(), 400);
    let html = r.text().await.unwrap();
    for field in ["<strong>name</strong>", "<strong>kind</strong>"] {
        assert!(html.contains(field), "{field}: {html}");
    }
    assert!(!html.contains("PATHSECRET"), "{html}");
    // Added: listed masked.
    let r = post_form(&server, "/notifications/sinks", &admin, true, &fields).await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, html) = page(&server, &admin, "/notifications/sinks?saved=ops-hook").await;
    assert!(html.contains("Sink ops-hook saved."), "{html}");
    assert!(html.contains("<code>http://127.0.0.1/…</code>"), "{html}");
    assert!(html.contains("yes (HMAC-SHA256)"), "{html}");
    for secret in ["PATHSECRET", SINK_KEY, &closed.to_string()] {
        assert!(!html.contains(secret), "{secret} in {html}");
    }
    // Tested: nothing listens there.
    let r = post_form(
        &server,
        "/notifications/sinks/ops-hook/test",
        &admin,
        true,
        &[],
    )
    .await;
    assert_eq!(r.status().as_u16(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("not delivered"), "{html}");
    assert!(html.contains("connection refused or unreachable"), "{html}");
    assert!(!html.contains("PATHSECRET") && !html.contains(SINK_KEY));
    let r = post_form(
        &server,
        "/notifications/sinks/nothing/test",
        &admin,
        true,
        &[],
    )
    .await;
    assert_eq!(r.status().as_u16(), 404);
    // Deleted.
    let r = post_form(
        &server,
        "/notifications/sinks/ops-hook/delete",
        &admin,
        true,
        &[],
    )
    .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, html) = page(&server, &admin, "/notifications/sinks").await;
    assert!(html.contains(r#"id="no-sinks""#), "{html}");
    let (_, audit) = server.call("GET", "/api/v1/audit", &admin, None).await;
    let text = audit.to_string();
    for action in [
        "notification_sink.saved",
        "notification_sink.tested",
        "notification_sink.deleted",
    ] {
        assert!(text.contains(action), "{action}: {text}");
    }
    assert!(!text.contains("PATHSECRET") && !text.contains(SINK_KEY));
}
