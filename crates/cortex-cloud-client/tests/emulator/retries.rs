use cortex_cloud_client::HttpEvent;
use cortex_cloud_types::filter::FilterData;
use cortex_cloud_types::{KeyType, Scope};
use prisma_emulator::Faults;

use crate::common::*;

const KEY: &str = "AdvancedKey0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQR";

#[tokio::test]
async fn calls_get_through_429s_503s_and_resets_with_a_fresh_hash_each_attempt() {
    let faults = Faults {
        p_429: 0.15,
        p_503: 0.1,
        p_reset: 0.05,
        ..Faults::default()
    };
    let emu = emulator(KeyType::Advanced, KEY, faults).await;
    let (c, events) = client(&emu, key(KeyType::Advanced, KEY));
    for _ in 0..40 {
        c.get_instances(&FilterData::new()).await.unwrap();
        c.approved_tenants(None).await.unwrap();
    }
    // Creates go through 429 and 503 (not processed) too.
    for _ in 0..5 {
        c.create_instance_template(&request(Scope::Organization, TENANT))
            .await
            .unwrap();
    }
    let events = events.lock().unwrap();
    let retries: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, HttpEvent::Retry { .. }))
        .collect();
    assert!(retries.len() >= 10, "{}", retries.len());
    assert!(
        retries
            .iter()
            .any(|e| matches!(e, HttpEvent::Retry { reason, .. } if reason.contains("429")))
    );
    assert!(
        retries
            .iter()
            .any(|e| matches!(e, HttpEvent::Retry { reason, .. } if reason.contains("503")))
    );
    // Every retry re-signed: a replayed nonce would have been refused with 401.
    assert!(!events.iter().any(|e| matches!(
        e,
        HttpEvent::Call {
            status: Some(401),
            ..
        }
    )));
}
