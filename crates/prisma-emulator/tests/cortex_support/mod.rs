//! Set-up shared by the Cortex face's integration tests.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

use cortex_cloud_types::{KeyId, KeyType, SecretString};
use prisma_emulator::EmulatorConfig;
use prisma_emulator::cortex::CortexConfig;

/// An emulator configuration with one Cortex key and the given capability delay. `plain_http`
/// makes the face's links `http://` (the listener has no TLS).
pub fn config(
    key_id: u64,
    key: &str,
    kind: KeyType,
    delay: Duration,
    plain_http: bool,
) -> EmulatorConfig {
    let mut config = EmulatorConfig::new("prisma-key", SecretString::from("prisma-secret-0123"));
    config.cortex = CortexConfig::new(KeyId::new(key_id).unwrap(), SecretString::from(key), kind);
    config.cortex.capability_delay = delay;
    if plain_http {
        config.issuer = "http://127.0.0.1".into();
    }
    config
}

/// POSTs `{"request_data": body}` to a Cloud Onboarding endpoint with a standard key and
/// returns the `reply`, asserting success.
pub async fn api(
    http: &reqwest::Client,
    base: &str,
    (key_id, key): (u64, &str),
    endpoint: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let r = http
        .post(format!("{base}/public_api/v1/cloud_onboarding/{endpoint}"))
        .header("Authorization", key)
        .header("x-xdr-auth-id", key_id.to_string())
        .json(&serde_json::json!({ "request_data": body }))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(status.is_success(), "{endpoint}: {status} {v}");
    v["reply"].clone()
}

/// The files of a `.tar.gz` bundle, by path.
pub fn bundle_files(bytes: &[u8]) -> BTreeMap<String, String> {
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut tar)
        .unwrap();
    let mut files = BTreeMap::new();
    for entry in tar::Archive::new(tar.as_slice()).entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut text = String::new();
        entry.read_to_string(&mut text).unwrap();
        files.insert(path, text);
    }
    files
}

/// The bundle's `terraform.tfvars.json`.
pub fn bundle_tfvars(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_str(&bundle_files(bytes)["terraform.tfvars.json"]).unwrap()
}
