//! Sessions: expiry in the middle of a run, single-flight login, 401 replay, extend.

use std::time::Duration;

use futures::future::join_all;
use prisma_client::{AuthError, ClientEvent, Error};

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_expiry_in_the_middle_of_a_run_is_invisible_to_callers() {
    let emu = TestEmulator::start(|c| {
        c.token_ttl = Duration::from_secs(4);
        c.rate_limits = prisma_emulator::RateLimits::disabled();
    })
    .await;
    let t = emu.client();
    // ~9 s of calls across several 4-second token lifetimes (refreshed with a 0.75 s margin,
    // wide enough for a loaded CI machine).
    let started = std::time::Instant::now();
    let mut calls = 0;
    while started.elapsed() < Duration::from_secs(9) {
        t.client
            .list_accounts()
            .await
            .expect("every call succeeds across token expiry");
        calls += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stats = emu.stats();
    assert!(calls > 20);
    assert!(stats.extends + stats.logins >= 3, "refreshed: {stats:?}");
    let unauthorized: u64 = stats.endpoints.values().map(|e| e.unauthorized).sum();
    assert_eq!(
        unauthorized, 0,
        "refreshed ahead of expiry, never caught out: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_calls_with_an_expired_token_cause_one_login() {
    let emu = TestEmulator::start(|c| {
        c.token_ttl = Duration::from_secs(3);
        c.rate_limits = prisma_emulator::RateLimits::disabled();
    })
    .await;
    let t = emu.client_with(|c| c.pacing = prisma_client::PacingConfig::disabled());
    t.client.ensure_session().await.unwrap();
    assert_eq!(emu.stats().logins, 1);
    tokio::time::sleep(Duration::from_millis(3100)).await; // now expired: extend impossible
    let calls = (0..200).map(|_| {
        let c = t.client.clone();
        async move { c.list_account_groups().await }
    });
    let results = join_all(calls).await;
    let errors: Vec<_> = results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let stats = emu.stats();
    assert_eq!(
        stats.logins, 2,
        "exactly one new login for 200 callers: {stats:?}"
    );
    assert_eq!(stats.extends, 0);
}

#[tokio::test]
async fn a_401_causes_one_relogin_and_a_replay() {
    let emu = TestEmulator::start(|_| {}).await;
    let t = emu.client();
    t.client.list_accounts().await.unwrap();
    // The server forgets every session (as after a purge): the next call gets 401.
    let secret: [u8; 32] = [7; 32];
    emu.emu.state.tokens.rotate(&secret);
    t.client
        .list_accounts()
        .await
        .expect("replayed after re-login");
    assert_eq!(emu.stats().logins, 2);
    assert!(
        t.events()
            .iter()
            .any(|e| matches!(e, ClientEvent::Replayed { .. }))
    );
    assert_eq!(emu.stats().endpoints["GET /cloud"].unauthorized, 1);
}

#[tokio::test]
async fn a_token_near_expiry_is_extended_not_replaced() {
    let emu = TestEmulator::start(|c| c.token_ttl = Duration::from_secs(5)).await;
    let t = emu.client();
    t.client.list_accounts().await.unwrap();
    // A 5 s token counts as 4 s: past its refresh point (3 s), before it expires.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    t.client.list_accounts().await.unwrap();
    let stats = emu.stats();
    assert_eq!((stats.logins, stats.extends), (1, 1), "{stats:?}");
    assert!(t.events().contains(&ClientEvent::Extended));
}

#[tokio::test]
async fn extend_with_an_expired_token_is_refused_with_token_expired() {
    let emu = TestEmulator::start(|c| c.token_ttl = Duration::from_secs(1)).await;
    let http = reqwest::Client::new();
    let base = emu.emu.base_url();
    let token = emu.raw_login().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = http
        .get(format!("{base}/auth_token/extend"))
        .header("x-redlock-auth", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let status = r.headers()["x-redlock-status"].to_str().unwrap();
    assert!(status.contains("\"token_expired\""), "{status}");
}

#[tokio::test]
async fn wrong_keys_and_multi_tenant_logins_are_clear_errors() {
    let emu =
        TestEmulator::start(|c| c.customer_names = vec!["acme".into(), "globex".into()]).await;
    let t = emu.client();
    match t.client.ensure_session().await.unwrap_err() {
        Error::Auth(AuthError::NeedsCustomerName { choices }) => {
            assert_eq!(choices, ["acme", "globex"])
        }
        other => panic!("unexpected {other}"),
    }
    let msg = t.client.ensure_session().await.unwrap_err().to_string();
    assert!(
        msg.contains("PRISMA_CUSTOMER_NAME") && msg.contains("acme, globex"),
        "{msg}"
    );
    let chosen = emu.client_with(|c| c.credentials.customer_name = Some("globex".into()));
    chosen.client.list_accounts().await.unwrap();

    let wrong = emu.client_with(|c| c.credentials.secret_key = "nope".into());
    let err = wrong.client.list_accounts().await.unwrap_err();
    assert!(
        matches!(&err, Error::Auth(AuthError::Rejected { i18n_key }) if i18n_key == "invalid_credentials"),
        "{err}"
    );
    assert!(
        err.to_string().contains("PRISMA_SECRET_KEY"),
        "the fix is named: {err}"
    );
}
