use cortex_cloud_types::KeyType;
use prisma_emulator::Faults;

use crate::common::*;

const KEY: &str = "AdvancedKey0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQR";

#[tokio::test]
async fn both_key_types_authenticate() {
    for kind in [KeyType::Standard, KeyType::Advanced] {
        let emu = emulator(kind, KEY, Faults::default()).await;
        let (c, _) = client(&emu, key(kind, KEY));
        c.validate_key().await.unwrap();
        let tenants = c.approved_tenants(None).await.unwrap();
        assert_eq!(tenants[0].tenant_id, TENANT);
        assert!(tenants[0].is_still_approved);
    }
}

#[tokio::test]
async fn a_wrong_key_a_wrong_type_and_a_replayed_nonce_are_refused() {
    let emu = emulator(KeyType::Advanced, KEY, Faults::default()).await;
    // A different key hashes differently.
    let (c, _) = client(
        &emu,
        key(KeyType::Advanced, "WrongKey0123456789abcdefghijklmnop"),
    );
    let e = c.validate_key().await.unwrap_err();
    assert_eq!(e.status(), Some(401));
    assert_eq!(e.code(), "authentication");
    assert!(e.to_string().contains("standard or advanced"), "{e}");
    // The right key sent as standard (the raw key on the wire) is refused by an advanced key.
    let (c, _) = client(&emu, key(KeyType::Standard, KEY));
    assert_eq!(
        c.approved_tenants(None).await.unwrap_err().status(),
        Some(401)
    );
    // The same signed request twice: the second is a replay.
    let nonce = "N".repeat(64);
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string();
    let hash = cortex_cloud_client::auth::advanced_hash(KEY, &nonce, &ts);
    let http = reqwest::Client::new();
    let send = || {
        http.get(format!("{}/api_keys/validate/", emu.running.base_url()))
            .header("authorization", &hash)
            .header("x-xdr-auth-id", KEY_ID.to_string())
            .header("x-xdr-nonce", &nonce)
            .header("x-xdr-timestamp", &ts)
            .send()
    };
    assert_eq!(send().await.unwrap().status(), 200);
    let replay = send().await.unwrap();
    assert_eq!(replay.status(), 401);
    let body: serde_json::Value = replay.json().await.unwrap();
    assert_eq!(body["reply"]["err_code"], 401);
    assert_eq!(body["reply"]["err_msg"], "Public API request unauthorized");
    // A stale timestamp with a correct hash.
    let old = "1700000000000";
    let stale = http
        .get(format!("{}/api_keys/validate", emu.running.base_url()))
        .header(
            "authorization",
            cortex_cloud_client::auth::advanced_hash(KEY, &"M".repeat(64), old),
        )
        .header("x-xdr-auth-id", KEY_ID.to_string())
        .header("x-xdr-nonce", "M".repeat(64))
        .header("x-xdr-timestamp", old)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 401);
}
