//! The Cortex API key never shows: not in logs at trace level (every crate), not in events,
//! not in errors — for both key types, on success, on refusal and through retries.

#[path = "emulator/common.rs"]
#[allow(dead_code)]
mod common;

use common::*;
use cortex_cloud_client::HttpEvent;
use cortex_cloud_types::filter::FilterData;
use cortex_cloud_types::{KeyType, Scope};
use prisma_emulator::Faults;
use prisma_types::testing::LogCapture;

const CANARY: &str = "CanaryCortexKey7f3a9c0d1e2b4a6f8e0d2c4b6a8f0e1d";

#[tokio::test]
async fn the_key_is_in_no_log_event_or_error() {
    let logs = LogCapture::install_global();
    let mut all_events: Vec<HttpEvent> = Vec::new();
    let mut errors = Vec::new();
    for kind in [KeyType::Standard, KeyType::Advanced] {
        let faults = Faults {
            p_429: 0.2,
            p_503: 0.1,
            ..Faults::default()
        };
        let emu = emulator(kind, CANARY, faults).await;
        let (c, events) = client(&emu, key(kind, CANARY));
        c.validate_key().await.unwrap();
        c.create_instance_template(&request(Scope::Organization, TENANT))
            .await
            .unwrap();
        c.get_instances(&FilterData::new()).await.unwrap();
        errors.push(
            c.get_instance_details(&"b".repeat(32))
                .await
                .unwrap_err()
                .to_string(),
        );
        errors.push(format!(
            "{:?}",
            c.get_instance_details(&"b".repeat(32)).await.unwrap_err()
        ));
        // The canary as the wrong type, and a wrong key: refused, and the refusal is clean.
        let other = if kind == KeyType::Standard {
            KeyType::Advanced
        } else {
            KeyType::Standard
        };
        let (wrong, wrong_events) = client(&emu, key(other, CANARY));
        let e = wrong.validate_key().await.unwrap_err();
        errors.push(e.to_string());
        errors.push(format!("{e:?}"));
        errors.push(format!("{:?}", c.config()));
        all_events.extend(events.lock().unwrap().drain(..));
        all_events.extend(wrong_events.lock().unwrap().drain(..));
    }
    let text = logs.text();
    assert!(
        text.contains("cortex"),
        "the capture saw the emulator's log lines"
    );
    assert!(!text.contains(CANARY), "the key is in the logs");
    let events = serde_json::to_string(&all_events).unwrap();
    assert!(all_events.len() > 10);
    assert!(!events.contains(CANARY));
    for e in &errors {
        assert!(!e.contains(CANARY), "{e}");
    }
}
