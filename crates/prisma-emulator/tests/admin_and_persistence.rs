//! The admin endpoints behind a token, and the write-through snapshot: a write is on disk
//! before its answer, a computation (login, status check) writes nothing, and a save that
//! fails turns the answer into a 500 instead of a success a restart would lose.

use prisma_emulator::{EmulatorConfig, RunningEmulator};
use prisma_types::SecretString;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const KEY: &str = "admin-test-key";
const SECRET: &str = "admin-test-secret-0123456789";

async fn start(admin_token: Option<&str>) -> (RunningEmulator, CancellationToken) {
    let mut config = EmulatorConfig::new(KEY, SecretString::from(SECRET));
    config.admin_token = admin_token.map(|t| SecretString::from(t.to_owned()));
    let stop = CancellationToken::new();
    let emu = prisma_emulator::spawn(
        "127.0.0.1:0".parse().unwrap(),
        config,
        None,
        stop.clone().cancelled_owned(),
    )
    .await
    .unwrap();
    (emu, stop)
}

async fn token(http: &reqwest::Client, base: &str) -> String {
    let login: Value = http
        .post(format!("{base}/login"))
        .json(&json!({"username": KEY, "password": SECRET}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    login["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn admin_endpoints_need_the_configured_bearer_token() {
    let (emu, stop) = start(Some("the-admin-token")).await;
    let http = reqwest::Client::new();
    let base = emu.base_url();
    let status = |r: reqwest::Response| r.status().as_u16();
    for path in [
        "/_emulator/stats",
        "/_emulator/faults",
        "/_emulator/rate-limits",
        "/_emulator/scenarios",
    ] {
        let url = format!("{base}{path}");
        assert_eq!(status(http.get(&url).send().await.unwrap()), 401, "{path}");
        let wrong = http.get(&url).bearer_auth("the-admin-toke").send();
        assert_eq!(status(wrong.await.unwrap()), 401, "{path}");
        // A Prisma session token is not an admin token.
        let session = token(&http, &base).await;
        let with_session = http.get(&url).header("x-redlock-auth", session).send();
        assert_eq!(status(with_session.await.unwrap()), 401, "{path}");
        let right = http.get(&url).bearer_auth("the-admin-token").send();
        assert_eq!(status(right.await.unwrap()), 200, "{path}");
    }
    let revoke = http.post(format!("{base}/_emulator/revoke-tokens")).send();
    assert_eq!(status(revoke.await.unwrap()), 401);
    stop.cancel();

    // Without a configured token (a loopback-only emulator) they stay open.
    let (emu, stop) = start(None).await;
    let r = http
        .get(format!("{}/_emulator/stats", emu.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    stop.cancel();
}

#[tokio::test]
async fn writes_are_on_disk_before_they_answer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let (emu, stop) = start(None).await;
    emu.state.persist_to(path.clone());
    let http = reqwest::Client::new();
    let base = emu.base_url();
    let auth = token(&http, &base).await;
    assert!(!path.exists(), "a login changes nothing worth saving");

    let r = http
        .post(format!("{base}/cloud/group"))
        .header("x-redlock-auth", &auth)
        .json(&json!({"name": "saved-group", "accountIds": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let group: Value = r.json().await.unwrap();
    let saved = std::fs::read_to_string(&path).unwrap();
    assert!(saved.contains("saved-group"), "{saved}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary files left: {leftovers:?}");

    // A fresh emulator loading the file sees the group.
    let fresh =
        prisma_emulator::EmulatorState::new(EmulatorConfig::new(KEY, SecretString::from(SECRET)));
    assert!(prisma_emulator::snapshot::load(&fresh, &path).unwrap());
    assert!(
        fresh
            .store()
            .groups
            .contains_key(group["id"].as_str().unwrap())
    );

    // A save that cannot happen: the write is answered with a 500, not a success.
    emu.state
        .persist_to(dir.path().join("missing-dir").join("state.json"));
    let r = http
        .post(format!("{base}/cloud/group"))
        .header("x-redlock-auth", &auth)
        .json(&json!({"name": "unsaved-group", "accountIds": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    stop.cancel();
}
