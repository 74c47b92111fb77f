//! The stuck-delivery sweep: a `pending` delivery whose worker died is delivered again by
//! exactly one of the replicas sweeping at once, only after it is stale; a re-queued dead
//! letter is due at once; a delivery to a sink deleted since is dead again, saying why.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::StatusCode;
use cortex_store::NewNotification;
use onboarding_engine::watch::HealthWatch;
use onboarding_engine::watch::notify;
use onboarding_engine::{Engine, EngineConfig, TerraformMode};
use serde_json::json;
use time::OffsetDateTime;

use crate::common::{Sandbox, client_config};
use crate::watch::{Receiver, fast_watch, save_sink, test_clock};

const SIGNING_KEY: &str = "CANARY-SWEEP-SIGNING-KEY-5c1d";

fn millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// A notification inserted with a `pending` delivery to `sinks` that nobody delivers: what a
/// worker that died between the insert and the delivery leaves behind.
async fn stuck(engine: &Engine, key: &str, at: OffsetDateTime, sinks: &[&str]) -> i64 {
    let note = NewNotification {
        dedupe_key: key.to_owned(),
        kind: "capability_degraded".into(),
        account_key: Some("prisma:default:acc".into()),
        payload: json!({"kind": "capability_degraded", "summary": format!("stuck {key}")}),
        created_at_ms: millis(at),
    };
    let sinks: Vec<String> = sinks.iter().map(|s| (*s).to_owned()).collect();
    engine
        .store()
        .insert_notification(&note, &sinks)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_on_one_store_deliver_a_stuck_delivery_once_and_only_when_stale() {
    let sb = Sandbox::start(TerraformMode::Replay {
        pace: Duration::from_millis(1),
    })
    .await;
    let hook = Receiver::start(StatusCode::OK).await;
    save_sink(&sb.engine, "ops", "webhook", &hook.url, Some(SIGNING_KEY)).await;
    let start = OffsetDateTime::now_utc();
    let config = fast_watch();
    let stale = notify::stale_after(&config.delivery);
    let mut watches = Vec::new();
    for n in 0..2 {
        let store = crate::common::open_store(sb.dir.path()).await;
        let mut engine_config =
            EngineConfig::new(sb.dir.path().to_path_buf(), TerraformMode::sandbox());
        engine_config.worker_id = format!("sweeper-{n}");
        let engine = Engine::new(store, client_config(&sb.emu), engine_config).unwrap();
        let (offset, clock) = test_clock(start);
        watches.push((
            offset,
            HealthWatch::new(engine, config.clone())
                .unwrap()
                .with_clock(clock),
        ));
    }
    let id = stuck(&sb.engine, "stuck-1", start, &["ops"]).await;

    // Not stale yet: its worker may still be retrying.
    for (_, w) in &watches {
        assert_eq!(w.sweep_deliveries().await.unwrap().claimed, 0);
    }
    assert!(hook.got.lock().unwrap().is_empty());

    let later = i64::try_from(stale.as_secs()).unwrap() + 1;
    for (offset, _) in &watches {
        offset.store(later, Ordering::SeqCst);
    }
    let reports =
        futures::future::join_all(watches.iter().map(|(_, w)| w.sweep_deliveries())).await;
    let claimed: usize = reports.into_iter().map(|r| r.unwrap().claimed).sum();
    assert_eq!(claimed, 1, "one engine took it over");
    let got = hook.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "delivered once");
    assert_eq!(got[0].headers["x-cortex-delivery"], id.to_string());
    let d = sb
        .engine
        .store()
        .delivery(id, "ops")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((d.state.as_str(), d.attempts), ("delivered", 1));
    for (_, w) in &watches {
        assert_eq!(
            w.sweep_deliveries().await.unwrap().claimed,
            0,
            "nothing left"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requeued_dead_letter_is_due_at_once_and_a_deleted_sink_says_so() {
    let sb = Sandbox::start(TerraformMode::Replay {
        pace: Duration::from_millis(1),
    })
    .await;
    let hook = Receiver::start(StatusCode::OK).await;
    save_sink(&sb.engine, "ops", "webhook", &hook.url, Some(SIGNING_KEY)).await;
    let now = OffsetDateTime::now_utc();
    let store = sb.engine.store();
    let id = stuck(&sb.engine, "dead-1", now, &["ops", "gone"]).await;
    for sink in ["ops", "gone"] {
        store
            .set_delivery(id, sink, "dead", 5, Some("HTTP 503"), millis(now))
            .await
            .unwrap();
    }
    assert!(!store.requeue_delivery(id, "nope").await.unwrap());
    assert!(store.requeue_delivery(id, "ops").await.unwrap());
    assert!(store.requeue_delivery(id, "gone").await.unwrap());
    assert!(
        !store.requeue_delivery(id, "ops").await.unwrap(),
        "pending, not dead"
    );
    let (_, clock) = test_clock(now);
    let watch = HealthWatch::new(sb.engine.clone(), fast_watch())
        .unwrap()
        .with_clock(clock);
    let report = watch.sweep_deliveries().await.unwrap();
    assert_eq!((report.claimed, report.delivered, report.dead), (2, 1, 1));
    assert_eq!(hook.got.lock().unwrap().len(), 1);
    let ops = store.delivery(id, "ops").await.unwrap().unwrap();
    assert_eq!(ops.state, "delivered");
    let gone = store.delivery(id, "gone").await.unwrap().unwrap();
    assert_eq!(gone.state, "dead");
    assert_eq!(gone.last_error.as_deref(), Some("the sink was deleted"));
    // Discarding takes only a dead one.
    assert!(!store.discard_delivery(id, "ops").await.unwrap());
    assert!(store.discard_delivery(id, "gone").await.unwrap());
    assert!(store.delivery(id, "gone").await.unwrap().is_none());
}
