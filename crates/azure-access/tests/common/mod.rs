//! The emulated Azure on port 0 and environments pointed at it.

#![allow(dead_code)]

use std::path::Path;

use azure_access::{Endpoints, Env};
use azure_emulator::tenant_seed::{self, ids};
use azure_emulator::{RunningCloud, spawn_cloud};

pub async fn cloud() -> RunningCloud {
    spawn_cloud(
        "127.0.0.1:0".parse().unwrap(),
        tenant_seed::contoso(),
        std::future::pending(),
    )
    .await
    .unwrap()
}

pub fn endpoints(cloud: &RunningCloud) -> Endpoints {
    Endpoints::emulated(&cloud.base_url())
}

/// An environment with `PATH` at `bin` (no `az` unless a test puts one there).
pub fn env(bin: &Path, pairs: &[(&str, &str)]) -> Env {
    let mut env = Env::from_pairs(pairs.iter().copied());
    env.set("PATH", bin.display().to_string());
    env
}

/// The ci-onboarding / ci-reader service principal by client secret.
pub fn secret_env(bin: &Path, client_id: &str) -> Env {
    env(
        bin,
        &[
            ("ARM_TENANT_ID", tenant_seed::TENANT_ID),
            ("ARM_CLIENT_ID", client_id),
            ("ARM_CLIENT_SECRET", ids::SANDBOX_SECRET),
        ],
    )
}

/// A token as the Azure CLI holds it for alice (the refresh grant after `az login`).
pub async fn cli_token(cloud: &RunningCloud, resource: &str) -> String {
    let http = reqwest::Client::new();
    let login: serde_json::Value = http
        .post(format!("{}/_emulator/azure/cli-login", cloud.base_url()))
        .json(&serde_json::json!({"user_principal_name": "alice@contoso.example"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token: serde_json::Value = http
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            cloud.base_url(),
            tenant_seed::TENANT_ID
        ))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "04b07795-8ddb-461a-bbee-02f9e1bf7b46"),
            ("refresh_token", login["refresh_token"].as_str().unwrap()),
            ("scope", &format!("{resource}.default")),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    token["access_token"].as_str().unwrap().to_owned()
}

/// Writes an executable `az` into `bin` with `script` as its body.
pub fn fake_az(bin: &Path, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = bin.join("az");
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// An `az` that answers `get-access-token` for ARM and Graph with alice's tokens.
pub async fn logged_in_az(cloud: &RunningCloud, bin: &Path, subscription: &str) {
    let arm = cli_token(cloud, "https://management.azure.com/").await;
    let graph = cli_token(cloud, "https://graph.microsoft.com/").await;
    let body = |t: &str| {
        format!(
            r#"{{"accessToken": "{t}", "expiresOn": "2099-01-01 00:00:00.000000", "expires_on": 4070908800, "subscription": "{subscription}", "tenant": "{}", "tokenType": "Bearer"}}"#,
            tenant_seed::TENANT_ID
        )
    };
    fake_az(
        bin,
        &format!(
            "case \"$*\" in\n  *graph.microsoft.com*) echo '{}' ;;\n  *) echo '{}' ;;\nesac",
            body(&graph),
            body(&arm)
        ),
    );
}

pub async fn set_scenario(cloud: &RunningCloud, scenario: serde_json::Value) {
    let status = reqwest::Client::new()
        .post(format!("{}/_emulator/azure/scenario", cloud.base_url()))
        .json(&scenario)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
}

/// A self-signed RSA certificate in a PKCS#12 file (password `pw`), registered for
/// `register_for` when given; returns the file's path.
pub async fn certificate(
    cloud: &RunningCloud,
    dir: &Path,
    register_for: Option<&str>,
) -> std::path::PathBuf {
    use aws_lc_rs::encoding::AsDer as _;
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let pkcs8 = rsa.as_der().unwrap();
    let key = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &rustls_pki_types_der(pkcs8.as_ref()),
        &rcgen::PKCS_RSA_SHA256,
    )
    .unwrap();
    let cert = rcgen::CertificateParams::new(vec!["ci-cert".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let der = cert.der().to_vec();
    if let Some(client_id) = register_for {
        use base64::Engine as _;
        let status = reqwest::Client::new()
            .post(format!("{}/_emulator/azure/certificates", cloud.base_url()))
            .json(&serde_json::json!({
                "client_id": client_id,
                "certificate": base64::engine::general_purpose::STANDARD.encode(&der),
            }))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry(
        "ci-cert",
        p12_keystore::KeyStoreEntry::PrivateKeyChain(p12_keystore::PrivateKeyChain::new(
            vec![1u8, 2, 3, 4],
            p12_keystore::PrivateKey::from_der(pkcs8.as_ref()).unwrap(),
            [p12_keystore::Certificate::from_der(&der).unwrap()],
        )),
    );
    let pfx = store.writer("pw").write().unwrap();
    let path = dir.join(format!("cert-{}.pfx", uuid::Uuid::new_v4()));
    std::fs::write(&path, pfx).unwrap();
    path
}

fn rustls_pki_types_der(bytes: &[u8]) -> rustls_pki_types::PrivatePkcs8KeyDer<'static> {
    rustls_pki_types::PrivatePkcs8KeyDer::from(bytes.to_vec())
}

/// The ci-cert service principal signing in with a freshly registered certificate.
pub async fn cert_env(cloud: &RunningCloud, dir: &Path) -> Env {
    let cert = certificate(cloud, dir, Some(ids::CI_CERT_APP)).await;
    let mut env = env(
        dir,
        &[
            ("ARM_TENANT_ID", tenant_seed::TENANT_ID),
            ("ARM_CLIENT_ID", ids::CI_CERT_APP),
            ("ARM_CLIENT_CERTIFICATE_PASSWORD", "pw"),
        ],
    );
    env.set("ARM_CLIENT_CERTIFICATE_PATH", cert.display().to_string());
    env
}
