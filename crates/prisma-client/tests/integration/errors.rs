//! Error decoding: every documented i18n key becomes a sentence with a fix.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use prisma_client::messages::KNOWN_KEYS;
use prisma_client::{BaseUrl, ClientConfig, Credentials, Error, PrismaClient};

use crate::common::*;

/// A stand-in server whose `GET /cloud` answers 400 with the next known key in
/// `x-redlock-status`, so each key travels the real header → client decoding path.
#[tokio::test]
async fn every_documented_i18n_key_is_decoded_into_its_message() {
    let next = Arc::new(AtomicUsize::new(0));
    let n = next.clone();
    let app = Router::new()
        .route(
            "/login",
            post(|| async {
                axum::Json(serde_json::json!({"token": "opaque", "message": "login_successful"}))
            }),
        )
        .route(
            "/cloud",
            get(move || {
                let n = n.clone();
                async move {
                    let (key, _) = KNOWN_KEYS[n.fetch_add(1, Ordering::SeqCst)];
                    let mut h = HeaderMap::new();
                    let value = format!(
                        r#"[{{"i18nKey":"{key}","severity":"error","subject":"someField"}}]"#
                    );
                    h.insert("x-redlock-status", value.parse().unwrap());
                    h.insert("x-redlock-request-id", "req-42".parse().unwrap());
                    (StatusCode::BAD_REQUEST, h)
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let base = BaseUrl::parse(&format!("http://{addr}"), false).unwrap();
    let client = PrismaClient::new(ClientConfig::new(base, Credentials::new("k", "s"))).unwrap();
    for (key, help) in KNOWN_KEYS {
        let err = client.list_accounts().await.unwrap_err();
        let api = err.api().unwrap_or_else(|| panic!("{key}: {err}"));
        assert_eq!(api.i18n_keys, [*key]);
        assert_eq!(api.subject.as_deref(), Some("someField"));
        assert_eq!(api.request_id.as_deref(), Some("req-42"));
        let text = err.to_string();
        assert!(
            text.contains(help.meaning) && text.contains(help.fix),
            "{key}: {text}"
        );
    }
}

#[tokio::test]
async fn emulator_errors_arrive_with_their_keys_and_fixes() {
    let emu = TestEmulator::start(|_| {}).await;
    let t = emu.client();

    // An account group that does not exist.
    let mut account = subscription(10);
    if let prisma_types::account::AccountScope::Subscription(s) = &mut account.scope {
        s.group_ids = vec![prisma_types::AccountGroupId::parse("no-such-group").unwrap()];
    }
    let err = t
        .client
        .add_azure_account(&account, true)
        .await
        .unwrap_err();
    assert!(err.has_key("invalid_account_group_ids"), "{err}");
    assert!(err.to_string().contains("groups list"), "{err}");
    assert!(matches!(err, Error::Api(_)), "not retried: a 400 is final");

    // The same name for a different subscription.
    t.client
        .add_azure_account(&subscription_with(&guid(0xaaaa, 1), 11), true)
        .await
        .unwrap();
    let err = t
        .client
        .add_azure_account(&subscription_with(&guid(0xaaaa, 2), 11), true)
        .await
        .unwrap_err();
    assert!(err.has_key("duplicate_cloud_account_name"), "{err}");
    assert!(
        err.to_string().contains("choose a different account name"),
        "{err}"
    );
    assert_eq!(emu.stats().accounts, 1);
}

#[tokio::test]
async fn bad_input_is_refused_before_anything_is_sent() {
    let emu = TestEmulator::start(|_| {}).await;
    let t = emu.client();
    for bad in [
        "{8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f}",
        "8f2c1a3e4b5d4c6e9f701a2b3c4d5e6f",
        "",
        "x",
    ] {
        let err = t.client.get_azure_account(bad).await.unwrap_err();
        assert!(
            matches!(&err, Error::Invalid(v) if v.field == "account_id"),
            "{err}"
        );
        assert!(t.client.offboard(bad).await.is_err());
        assert!(t.client.config_status(bad).await.is_err());
    }
    assert!(t.client.create_account_group("   ", "").await.is_err());
    assert!(
        emu.stats().endpoints.is_empty(),
        "nothing reached the server: {:?}",
        emu.stats()
    );
}
