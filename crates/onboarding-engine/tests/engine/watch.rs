//! The health watch: degradations and recoveries recorded and notified once (a local webhook
//! receiver checks the body and the HMAC), secrets nearing their end, dead letters, Slack and
//! Teams shapes, and replicas that never check one account twice in a round.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use cortex_store::{JobState, Keyring, Store};
use onboarding_engine::watch::notify::{self, RawSink};
use onboarding_engine::watch::{HealthWatch, WatchConfig};
use onboarding_engine::{Engine, EngineConfig, TerraformMode};
use prisma_client::RetryPolicy;
use prisma_types::SecretString;
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::common::{Sandbox, client_config, existing, guid, secret, subscription};

const SIGNING_KEY: &str = "CANARY-SIGNING-KEY-7f3a9c";

/// One request a receiver got.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub(crate) headers: HeaderMap,
    body: Vec<u8>,
}

/// A local webhook receiver answering `status` (or 200) to every POST.
pub(crate) struct Receiver {
    pub(crate) url: String,
    pub(crate) got: Arc<Mutex<Vec<Received>>>,
    _stop: CancellationToken,
}

impl Receiver {
    pub(crate) async fn start(status: StatusCode) -> Receiver {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let seen = got.clone();
        let app = axum::Router::new().route(
            "/hook/{*rest}",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().push(Received {
                        headers,
                        body: body.to_vec(),
                    });
                    status
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/hook/T000/B000/secretpath",
            listener.local_addr().unwrap()
        );
        let stop = CancellationToken::new();
        let until = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(until.cancelled_owned())
                .await
                .unwrap();
        });
        Receiver {
            url,
            got,
            _stop: stop,
        }
    }

    pub(crate) fn bodies(&self) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect()
    }
}

pub(crate) async fn save_sink(
    engine: &Engine,
    name: &str,
    kind: &str,
    url: &str,
    key: Option<&str>,
) {
    let sink = RawSink {
        name: Some(name.into()),
        kind: Some(kind.into()),
        url: Some(url.into()),
        signing_key: key.map(str::to_owned),
    }
    .validate()
    .unwrap();
    notify::save_sink(engine.store(), &sink).await.unwrap();
}

/// A clock the test moves: a fixed start plus `offset` seconds.
pub(crate) fn test_clock(
    start: OffsetDateTime,
) -> (Arc<AtomicI64>, impl Fn() -> OffsetDateTime + Send + Sync) {
    let offset = Arc::new(AtomicI64::new(0));
    let read = offset.clone();
    (offset, move || {
        start + time::Duration::seconds(read.load(Ordering::SeqCst))
    })
}

pub(crate) fn fast_watch() -> WatchConfig {
    WatchConfig {
        interval: Duration::from_secs(60),
        delivery: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            max_retry_after: Duration::from_millis(50),
            call_deadline: Duration::from_secs(10),
        },
        ..WatchConfig::default()
    }
}

pub(crate) async fn set_scenario(sb: &Sandbox, account: &str, scenario: &str) {
    let answer = reqwest::Client::new()
        .put(format!(
            "{}/_emulator/accounts/{account}/scenario",
            sb.emu.base_url()
        ))
        .json(&json!({ "scenario": scenario }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 204);
}

/// Onboards `n` existing-identity subscriptions (with flow logs) and returns their IDs.
pub(crate) async fn onboard(sb: &Sandbox, ns: u16, n: u32) -> Vec<String> {
    let mut subs = Vec::new();
    for i in 0..n {
        let sub = guid(ns, i);
        let mut raw = existing(&sub, &format!("watched-{ns:x}-{i}"), i);
        raw.flow_logs = true;
        sb.engine
            .submit(&raw.validate().unwrap(), Some(secret(i)), "tester")
            .await
            .unwrap();
        subs.push(sub);
    }
    sb.run().await;
    for job in sb.engine.store().list_jobs(None, 100).await.unwrap() {
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    }
    subs
}

fn verify_hmac(r: &Received, key: &str) {
    let ts: i64 = r.headers[notify::TIMESTAMP_HEADER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let expected = notify::signature(&SecretString::from(key.to_owned()), ts, &r.body);
    assert_eq!(
        r.headers[notify::SIGNATURE_HEADER].to_str().unwrap(),
        expected
    );
    // Recomputed independently of the product's function: HMAC-SHA256 over "<ts>.<body>".
    use hmac::{KeyInit, Mac};
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(&r.body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(expected, format!("sha256={hex}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_degradation_and_a_recovery_are_recorded_and_notified_once_each() {
    let sb = Sandbox::start(TerraformMode::Replay {
        pace: Duration::from_millis(1),
    })
    .await;
    let subs = onboard(&sb, 0x3a7c, 1).await;
    let hook = Receiver::start(StatusCode::OK).await;
    save_sink(
        &sb.engine,
        "ops-hook",
        "webhook",
        &hook.url,
        Some(SIGNING_KEY),
    )
    .await;
    let (offset, clock) = test_clock(OffsetDateTime::now_utc());
    let watch = HealthWatch::new(sb.engine.clone(), fast_watch())
        .unwrap()
        .with_clock(clock);
    let mut live = watch.subscribe();
    let next_round = || offset.fetch_add(60, Ordering::SeqCst);

    let first = watch.run_round().await.unwrap();
    assert_eq!(
        (first.accounts, first.checked, first.notifications),
        (1, 1, 0)
    );
    // The same round again: already done, nothing checked.
    assert_eq!(watch.run_round().await.unwrap().checked, 0);

    set_scenario(&sb, &subs[0], "flow_logs_role_missing").await;
    next_round();
    let degraded = watch.run_round().await.unwrap();
    assert_eq!((degraded.checked, degraded.notifications), (1, 1));
    let event = live.try_recv().unwrap();
    assert_eq!(event.status, "error");
    assert_eq!(event.changes.len(), 1);
    assert_eq!(event.changes[0].capability, "Flow Logs");
    assert_eq!(
        (event.changes[0].from.as_str(), event.changes[0].to.as_str()),
        ("ok", "error")
    );

    // Still degraded: recorded, not notified again.
    next_round();
    assert_eq!(watch.run_round().await.unwrap().notifications, 0);

    set_scenario(&sb, &subs[0], "healthy").await;
    next_round();
    assert_eq!(watch.run_round().await.unwrap().notifications, 1);

    let key = onboarding_engine::watch::prisma_key(None, &subs[0]);
    let history = sb.engine.store().health_history(&key, 10).await.unwrap();
    let statuses: Vec<&str> = history
        .iter()
        .rev()
        .map(|r| r.check.status.as_str())
        .collect();
    assert_eq!(statuses, ["ok", "error", "error", "ok"]);
    assert_eq!(history[2].check.changes[0]["to"], "error");
    assert_eq!(history[1].check.changes, json!([]));

    let got = hook.got.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "one degraded, one recovered");
    for r in &got {
        verify_hmac(r, SIGNING_KEY);
    }
    let bodies = hook.bodies();
    assert_eq!(bodies[0]["kind"], "capability_degraded");
    assert_eq!(got[0].headers[notify::EVENT_HEADER], "capability_degraded");
    assert_eq!(bodies[0]["account"]["account_id"], subs[0]);
    assert_eq!(bodies[0]["changes"][0]["capability"], "Flow Logs");
    assert!(
        bodies[0]["changes"][0]["message"]
            .as_str()
            .unwrap()
            .contains("queryFlowLogStatus")
    );
    assert!(
        bodies[0]["summary"]
            .as_str()
            .unwrap()
            .contains("Flow Logs degraded")
    );
    assert_eq!(bodies[1]["kind"], "capability_recovered");
    let delivered = sb
        .engine
        .store()
        .deliveries(Some("delivered"), 10)
        .await
        .unwrap();
    assert_eq!(delivered.len(), 2);

    // Canary: neither the Azure client secret nor the sink's key or URL path leaves the store.
    let canaries = [
        secret(0).expose().to_owned(),
        SIGNING_KEY.to_owned(),
        "secretpath".into(),
    ];
    let audit = serde_json::to_string(&sb.engine.store().list_audit(100).await.unwrap()).unwrap();
    let deliveries =
        serde_json::to_string(&sb.engine.store().deliveries(None, 100).await.unwrap()).unwrap();
    let history = serde_json::to_string(&history).unwrap();
    for text in [audit, deliveries, history] {
        for canary in &canaries {
            assert!(!text.contains(canary.as_str()), "{canary} leaked");
        }
    }
    for r in &got {
        let text = String::from_utf8_lossy(&r.body);
        for canary in &canaries {
            assert!(
                !text.contains(canary.as_str()),
                "{canary} in a notification"
            );
        }
    }
    let db = std::fs::read(sb.dir.path().join("cortex.db")).unwrap();
    let db = String::from_utf8_lossy(&db);
    for canary in &canaries {
        assert!(
            !db.contains(canary.as_str()),
            "{canary} in the database file"
        );
    }
    let view = notify::load_sinks(sb.engine.store()).await.unwrap()[0].view();
    assert!(
        !format!("{view:?}").contains("secretpath") && !format!("{view:?}").contains(SIGNING_KEY)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_nearing_its_end_is_notified_at_the_tightest_warning_once() {
    let sb = Sandbox::start(TerraformMode::Replay {
        pace: Duration::from_millis(1),
    })
    .await;
    let mut raw = subscription(&guid(0x5ec0, 1), "expiring-secret");
    raw.secret_rotation_days = Some(40);
    sb.engine
        .submit(&raw.validate().unwrap(), None, "tester")
        .await
        .unwrap();
    sb.run().await;
    let hook = Receiver::start(StatusCode::OK).await;
    save_sink(&sb.engine, "chat", "slack", &hook.url, None).await;
    let (offset, clock) = test_clock(OffsetDateTime::now_utc());
    let watch = HealthWatch::new(sb.engine.clone(), fast_watch())
        .unwrap()
        .with_clock(clock);

    // 40 days left: nothing. 12 days later (28 left): the 30-day notice, once.
    assert_eq!(watch.run_round().await.unwrap().notifications, 0);
    offset.fetch_add(12 * 86_400, Ordering::SeqCst);
    assert_eq!(watch.run_round().await.unwrap().notifications, 1);
    offset.fetch_add(60, Ordering::SeqCst);
    assert_eq!(watch.run_round().await.unwrap().notifications, 0);
    // 27.5 days later (half a day left): the 1-day notice; the 7-day one was skipped past.
    offset.fetch_add(27 * 86_400 + 43_200, Ordering::SeqCst);
    assert_eq!(watch.run_round().await.unwrap().notifications, 1);
    let bodies = hook.bodies();
    assert_eq!(bodies.len(), 2);
    // Slack's incoming-webhook shape: a text, nothing else.
    assert_eq!(bodies[0].as_object().unwrap().len(), 1);
    assert!(
        bodies[0]["text"]
            .as_str()
            .unwrap()
            .contains("expiring-secret"),
        "{bodies:?}"
    );
    assert!(bodies[0]["text"].as_str().unwrap().contains("days left"));
    let got = hook.got.lock().unwrap().clone();
    assert!(got[0].headers.get(notify::SIGNATURE_HEADER).is_none());
    let notes = sb.engine.store().deliveries(None, 10).await.unwrap();
    let steps: Vec<i64> = notes
        .iter()
        .rev()
        .map(|d| d.payload["warning_days"].as_i64().unwrap())
        .collect();
    assert_eq!(steps, [30, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_that_keeps_failing_ends_in_the_dead_letters_and_teams_gets_a_card() {
    let sb = Sandbox::start(TerraformMode::Replay {
        pace: Duration::from_millis(1),
    })
    .await;
    let subs = onboard(&sb, 0xdead, 1).await;
    let broken = Receiver::start(StatusCode::SERVICE_UNAVAILABLE).await;
    let teams = Receiver::start(StatusCode::ACCEPTED).await;
    save_sink(
        &sb.engine,
        "broken",
        "webhook",
        &broken.url,
        Some(SIGNING_KEY),
    )
    .await;
    save_sink(&sb.engine, "teams", "teams", &teams.url, None).await;
    let (offset, clock) = test_clock(OffsetDateTime::now_utc());
    let watch = HealthWatch::new(sb.engine.clone(), fast_watch())
        .unwrap()
        .with_clock(clock);
    watch.run_round().await.unwrap();
    set_scenario(&sb, &subs[0], "subscription_not_found").await;
    offset.fetch_add(60, Ordering::SeqCst);
    assert_eq!(watch.run_round().await.unwrap().notifications, 1);

    assert_eq!(
        broken.got.lock().unwrap().len(),
        3,
        "every attempt of the policy"
    );
    let dead = sb
        .engine
        .store()
        .deliveries(Some("dead"), 10)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].sink, "broken");
    assert_eq!(dead[0].attempts, 3);
    assert_eq!(dead[0].last_error.as_deref(), Some("HTTP 503"));
    let card = &teams.bodies()[0];
    assert_eq!(card["type"], "message");
    let content = &card["attachments"][0]["content"];
    assert_eq!(
        card["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(content["type"], "AdaptiveCard");
    assert!(
        content["body"][1]["text"]
            .as_str()
            .unwrap()
            .contains("degraded")
    );
}

#[test]
fn sinks_are_validated_at_the_edge_naming_each_field() {
    let bad = RawSink {
        name: Some("Ops Hook".into()),
        kind: Some("pager".into()),
        url: Some("http://hooks.example.com/x".into()),
        signing_key: Some("short".into()),
    }
    .validate()
    .unwrap_err();
    let fields: Vec<&str> = bad.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["name", "kind", "url", "signing_key"]);
    assert!(
        !bad.to_string().contains("hooks.example.com"),
        "the URL is not echoed"
    );
    let unsigned = RawSink {
        name: Some("ops".into()),
        kind: Some("webhook".into()),
        url: Some("https://hooks.example.com/x".into()),
        signing_key: None,
    }
    .validate()
    .unwrap_err();
    assert_eq!(unsigned.errors[0].field, "signing_key");
}

/// `replicas` engines on one store run rounds at once: every account checked exactly once per
/// round, by the platform calls the emulator counted.
async fn replicas_check_each_account_once(sb: &Sandbox, stores: Vec<Store>, subs: usize) {
    let start = OffsetDateTime::now_utc();
    let mut watches = Vec::new();
    for (n, store) in stores.into_iter().enumerate() {
        let mut config = EngineConfig::new(sb.dir.path().to_path_buf(), TerraformMode::sandbox());
        config.worker_id = format!("replica-{n}");
        let engine = Engine::new(store, client_config(&sb.emu), config).unwrap();
        let (offset, clock) = test_clock(start);
        watches.push((
            offset,
            HealthWatch::new(engine, fast_watch())
                .unwrap()
                .with_clock(clock),
        ));
    }
    let calls = || {
        sb.stats()
            .endpoints
            .iter()
            .filter(|(k, _)| k.contains("config/status"))
            .map(|(_, v)| v.requests)
            .sum::<u64>()
    };
    let before = calls();
    let rounds = 3;
    let mut checked = 0;
    for round in 0..rounds {
        for (offset, _) in &watches {
            offset.store(60 * round, Ordering::SeqCst);
        }
        let reports = futures::future::join_all(watches.iter().map(|(_, w)| w.run_round())).await;
        for r in reports {
            checked += r.unwrap().checked;
        }
    }
    assert_eq!(checked, subs * rounds as usize);
    assert_eq!(calls() - before, (subs * rounds as usize) as u64);
    let latest = sb.engine.store().latest_health().await.unwrap();
    assert_eq!(latest.len(), subs);
    for record in latest {
        let history = sb
            .engine
            .store()
            .health_history(&record.check.account_key, 10)
            .await
            .unwrap();
        assert_eq!(history.len(), rounds as usize);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_sqlite_file_never_check_an_account_twice_in_a_round() {
    let sb = Sandbox::start(TerraformMode::Replay {
        pace: Duration::from_millis(1),
    })
    .await;
    onboard(&sb, 0x2e91, 6).await;
    let a = crate::common::open_store(sb.dir.path()).await;
    let b = crate::common::open_store(sb.dir.path()).await;
    replicas_check_each_account_once(&sb, vec![a, b, sb.engine.store().clone()], 6).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_postgres_never_check_an_account_twice_in_a_round() {
    let url = cortex_store::testing::fresh_database("watch_replicas").await;
    let key = || Keyring::from_key("k1", [7u8; 32]);
    let store = Store::open(&url, key()).await.unwrap();
    let sb = Sandbox::start_on(
        TerraformMode::Replay {
            pace: Duration::from_millis(1),
        },
        store,
    )
    .await;
    onboard(&sb, 0x2e92, 6).await;
    let a = Store::open(&url, key()).await.unwrap();
    let b = Store::open(&url, key()).await.unwrap();
    replicas_check_each_account_once(&sb, vec![a, b], 6).await;
}
