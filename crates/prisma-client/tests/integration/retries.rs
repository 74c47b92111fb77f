//! Retries: HTML 429s, Retry-After, per-call budgets, resets, pacing.

use std::time::{Duration, Instant};

use futures::future::join_all;
use prisma_client::{ClientEvent, Error, PacingConfig, RetryPolicy};
use prisma_emulator::Faults;

use crate::common::*;

#[tokio::test]
async fn an_html_429_without_the_header_is_handled_like_any_429() {
    let emu = TestEmulator::start(|c| {
        c.faults = Faults {
            p_429: 1.0,
            html_429: true,
            ..Faults::default()
        };
    })
    .await;
    // Log in first without faults, then make every answer an HTML 429.
    emu.set_faults(Faults::default());
    let t = emu.client_with(|c| c.retry.max_attempts = 3);
    t.client.ensure_session().await.unwrap();
    emu.set_faults(Faults {
        p_429: 1.0,
        html_429: true,
        ..Faults::default()
    });
    let err = t.client.list_accounts().await.unwrap_err();
    match &err {
        Error::RetriesExhausted { attempts, last, .. } => {
            assert_eq!(*attempts, 3);
            let api = last.api().expect("an API error");
            assert_eq!(api.status, 429);
            assert!(api.html && api.i18n_keys.is_empty());
        }
        other => panic!("unexpected {other}"),
    }
    assert!(err.to_string().contains("too many requests"), "{err}");
    let retries: Vec<_> = t
        .events()
        .into_iter()
        .filter(|e| matches!(e, ClientEvent::Retry { .. }))
        .collect();
    assert_eq!(retries.len(), 2);
    assert!(matches!(&retries[0], ClientEvent::Retry { reason, .. } if reason.contains("429")));

    // Half of the answers HTML 429s: every call still succeeds.
    emu.set_faults(Faults {
        p_429: 0.5,
        html_429: true,
        ..Faults::default()
    });
    let t = emu.client();
    for _ in 0..20 {
        t.client.list_accounts().await.unwrap();
    }
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let emu = TestEmulator::start(|_| {}).await;
    let t = emu.client_with(|c| c.retry.max_attempts = 2);
    t.client.ensure_session().await.unwrap();
    emu.set_faults(Faults {
        p_503: 1.0,
        retry_after_secs: 1,
        ..Faults::default()
    });
    let started = Instant::now();
    let err = t.client.list_accounts().await.unwrap_err();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited the server's Retry-After"
    );
    assert_eq!(err.status(), Some(503));
    let delays: Vec<_> = t.events().iter().filter_map(ClientEvent::delay).collect();
    assert_eq!(delays, [Duration::from_secs(1)]);
}

#[tokio::test]
async fn each_call_has_its_own_attempt_budget() {
    let emu =
        TestEmulator::start(|c| c.rate_limits = prisma_emulator::RateLimits::disabled()).await;
    let t = emu.client_with(|c| {
        c.retry = RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(40),
            ..RetryPolicy::default()
        };
    });
    t.client.ensure_session().await.unwrap();
    // 40% of answers fail; 300 calls make hundreds of retries in total, far more than any one
    // call's budget of 5 — a shared counter (as in other clients) would run dry.
    emu.set_faults(Faults {
        p_500: 0.2,
        p_429: 0.2,
        ..Faults::default()
    });
    let calls = (0..300).map(|_| {
        let c = t.client.clone();
        async move { c.list_account_groups().await }
    });
    let results = join_all(calls).await;
    let failures = results.iter().filter(|r| r.is_err()).count();
    let retries = t
        .events()
        .iter()
        .filter(|e| matches!(e, ClientEvent::Retry { .. }))
        .count();
    assert!(retries > 100, "retries: {retries}");
    // P(one call fails 6 times at 40%) = 0.4^6 ≈ 0.4%: a handful at most, never a collapse.
    assert!(
        failures <= 8,
        "failures {failures} of 300 with {retries} retries"
    );
}

#[tokio::test]
async fn idempotent_calls_survive_connection_resets_and_5xx() {
    let emu =
        TestEmulator::start(|c| c.rate_limits = prisma_emulator::RateLimits::disabled()).await;
    let t = emu.client();
    t.client.ensure_session().await.unwrap();
    emu.set_faults(Faults {
        p_reset: 0.3,
        p_500: 0.1,
        p_503: 0.1,
        retry_after_secs: 0,
        ..Faults::default()
    });
    for _ in 0..40 {
        t.client.list_account_groups().await.unwrap();
    }
    let stats = emu.stats();
    assert!(stats.endpoints["GET /cloud/group"].injected_resets > 0);
    assert!(t.events().iter().any(
        |e| matches!(e, ClientEvent::Retry { reason, .. } if reason.contains("connection broken"))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pacing_follows_the_server_limit_instead_of_hammering_it() {
    let emu =
        TestEmulator::start(|c| c.rate_limits = prisma_emulator::RateLimits::uniform(20.0, 5))
            .await;
    // The client is configured far too fast; one answer teaches it 20/s from the headers (all
    // of it: no fraction is held back).
    let t = emu.client_with(|c| c.pacing = PacingConfig::uniform(1000.0, 5));
    t.client.list_account_groups().await.unwrap();
    let started = Instant::now();
    let calls = (0..60).map(|_| {
        let c = t.client.clone();
        async move { c.list_account_groups().await }
    });
    assert!(join_all(calls).await.iter().all(Result::is_ok));
    let e = &emu.stats().endpoints["GET /cloud/group"];
    assert_eq!(e.admitted, 61);
    assert!(
        e.rate_limited <= 2,
        "paced under the limit instead of bouncing off it: {e:?}"
    );
    // 60 calls with a bucket of 5 at 20/s take at least (60 - 5) / 20 = 2.75 s.
    assert!(started.elapsed() >= Duration::from_millis(2700));
    assert!(t.events().iter().any(|e| matches!(e, ClientEvent::PacingUpdated { rps, burst: 5, .. } if (*rps - 20.0).abs() < 1e-9)));
}
