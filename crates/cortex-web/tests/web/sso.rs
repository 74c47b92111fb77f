//! Single sign-on against the emulated Entra ID on loopback: roles from groups and app roles,
//! the audit log, key rotation, and every refusal (a page with a reason code and an audit entry,
//! never a 500).

use azure_emulator::TokenFaults;

use super::common::ADMIN;
use super::sso_harness::{SsoOptions, SsoServer, location, overage_user, set_cookie};

const ALICE_OID: &str = "1a000000-0000-4000-8000-00000000a001";

async fn signed_in(server: &SsoServer, user: &str) -> (String, String) {
    let (r, _, _) = server.sign_in(user).await;
    assert_eq!(r.status(), 200);
    let session = set_cookie(&r, "cortex_session").expect("a session cookie");
    let html = r.text().await.unwrap();
    assert!(html.contains("Signed in as"), "{html}");
    assert!(html.contains("http-equiv=\"refresh\""), "{html}");
    server.whoami(&session).await
}

/// The last audit entry of `action`.
async fn last(server: &SsoServer, action: &str) -> cortex_store::AuditRecord {
    server
        .audit()
        .await
        .into_iter()
        .find(|e| e.action == action)
        .unwrap_or_else(|| panic!("no {action} in the audit log"))
}

/// The reason of the last refusal in the audit log.
async fn last_reason(server: &SsoServer) -> String {
    let entry = last(server, "auth.sso_refused").await;
    entry.detail["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn roles_come_from_groups_and_app_roles_and_the_audit_log_names_the_person() {
    let server = SsoServer::start(SsoOptions::default()).await;
    assert_eq!(
        signed_in(&server, "alice@contoso.example").await,
        ("alice@contoso.example".to_owned(), "admin".to_owned())
    );
    let entry = last(&server, "auth.sso_login").await;
    assert_eq!(
        entry.actor,
        format!("sso:alice@contoso.example:{ALICE_OID}")
    );
    assert_eq!(entry.detail["object_id"], ALICE_OID);
    assert_eq!(entry.detail["role"], "admin");
    assert_eq!(
        signed_in(&server, "oscar@contoso.example").await.1,
        "operator",
        "by app role"
    );
    assert_eq!(signed_in(&server, "vera@contoso.example").await.1, "viewer");
    // Groups overage with a mapped app role: signed in by the app role.
    assert_eq!(
        signed_in(&server, "gina@contoso.example").await.1,
        "operator"
    );

    // The login page offers both ways in; the local admin still works.
    let page = server.http.get(server.url("/login")).send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("Sign in with Microsoft Entra ID"), "{html}");
    assert!(html.contains("name=\"password\""));
    let r = server
        .http
        .post(server.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"name": ADMIN.0, "password": ADMIN.1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // An SSO user has no password here.
    let r = server
        .http
        .post(server.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"name": "alice@contoso.example", "password": "!sso"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn users_without_a_mapped_role_are_told_why() {
    let server = SsoServer::start(SsoOptions {
        extra_users: vec![overage_user()],
        ..SsoOptions::default()
    })
    .await;
    let (r, _, _) = server.sign_in("nick@contoso.example").await;
    assert_eq!(r.status(), 403);
    assert!(set_cookie(&r, "cortex_session").is_none());
    let html = r.text().await.unwrap();
    assert!(
        html.contains("none of your groups or app roles is mapped"),
        "{html}"
    );
    assert!(html.contains("no_mapped_role"));
    let entry = last(&server, "auth.sso_refused").await;
    assert_eq!(entry.detail["reason"], "no_mapped_role");
    assert_eq!(entry.target, "nick@contoso.example");
    assert_eq!(
        entry.detail["object_id"],
        "1a000000-0000-4000-8000-00000000a004"
    );

    let (r, _, _) = server.sign_in("henry@contoso.example").await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("groups overage"));
    assert_eq!(last_reason(&server).await, "groups_overage");
}

#[tokio::test]
async fn every_bad_token_is_refused_with_a_page_and_an_audit_entry() {
    let server = SsoServer::start(SsoOptions::default()).await;
    let cases = [
        (
            TokenFaults {
                audience: Some("another-app".into()),
                ..TokenFaults::default()
            },
            "invalid_audience",
        ),
        (
            TokenFaults {
                issuer: Some("https://login.microsoftonline.com/someone-else/v2.0".into()),
                ..TokenFaults::default()
            },
            "invalid_issuer",
        ),
        (
            TokenFaults {
                nonce: Some("not-our-nonce".into()),
                ..TokenFaults::default()
            },
            "nonce_mismatch",
        ),
        (
            TokenFaults {
                expired: true,
                ..TokenFaults::default()
            },
            "token_expired",
        ),
        (
            TokenFaults {
                bad_signature: true,
                ..TokenFaults::default()
            },
            "invalid_signature",
        ),
        (
            TokenFaults {
                unknown_key: true,
                ..TokenFaults::default()
            },
            "unknown_signing_key",
        ),
    ];
    for (faults, reason) in cases {
        server.fault_next_token(faults).await;
        let (r, _, _) = server.sign_in("alice@contoso.example").await;
        assert_eq!(r.status(), 401, "{reason}");
        assert!(set_cookie(&r, "cortex_session").is_none(), "{reason}");
        let html = r.text().await.unwrap();
        assert!(html.contains(reason), "{reason}: {html}");
        assert!(html.contains("Sign-in refused"));
        assert_eq!(last_reason(&server).await, reason);
    }
    // And the next, untouched token signs in.
    assert_eq!(signed_in(&server, "alice@contoso.example").await.1, "admin");
}

#[tokio::test]
async fn replayed_callbacks_foreign_states_and_provider_errors_are_refused() {
    let server = SsoServer::start(SsoOptions::default()).await;
    let (r, callback, state) = server.sign_in("vera@contoso.example").await;
    assert_eq!(r.status(), 200);
    // The same callback again (the code replayed): the sign-in was used.
    let again = server.callback(&callback, Some(&state)).await;
    assert_eq!(again.status(), 400);
    assert!(again.text().await.unwrap().contains("login_expired"));
    assert_eq!(last_reason(&server).await, "login_expired");

    // A callback this browser did not start (no state cookie, or another one).
    let (authorize, _state) = server.start_login("/").await;
    let r = server.pick_user(&authorize, "vera@contoso.example").await;
    let callback = location(&r);
    let r = server.callback(&callback, None).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("state_mismatch"));
    let r = server
        .callback(&callback, Some("someone-elses-state"))
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(last_reason(&server).await, "state_mismatch");

    // The user cancels at the provider.
    let (authorize, state) = server.start_login("/").await;
    let r = server.submit_authorize(&authorize, "cancel", "1").await;
    let r = server.callback(&location(&r), Some(&state)).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("access_denied"));
    assert_eq!(last_reason(&server).await, "provider_error");
}

#[tokio::test]
async fn key_rotation_at_the_provider_does_not_break_sign_in() {
    let server = SsoServer::start(SsoOptions::default()).await;
    assert_eq!(signed_in(&server, "alice@contoso.example").await.1, "admin");
    let old = server.azure.entra.current_kid();
    let new = server.azure.entra.rotate_keys().unwrap();
    assert_ne!(old, new);
    // Our cached JWKS lacks the new kid: one refetch, and the sign-in works.
    assert_eq!(signed_in(&server, "alice@contoso.example").await.1, "admin");
    server.azure.entra.rotate_keys().unwrap();
    assert_eq!(signed_in(&server, "vera@contoso.example").await.1, "viewer");
}

#[tokio::test]
async fn a_redirect_url_the_provider_does_not_know_is_refused_there() {
    let server = SsoServer::start(SsoOptions {
        register_redirect: false,
        ..SsoOptions::default()
    })
    .await;
    let (authorize, _) = server.start_login("/").await;
    let r = server.http.get(&authorize).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none(), "never redirected");
    assert!(r.text().await.unwrap().contains("AADSTS50011"));
    // A callback that arrives anyway (forged) has no pending sign-in behind it.
    let r = server
        .callback(&server.url("/auth/oidc/callback?code=x&state=y"), Some("y"))
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(last_reason(&server).await, "login_expired");
}

#[tokio::test]
async fn local_users_can_be_switched_off() {
    let server = SsoServer::start(SsoOptions {
        local_users: false,
        ..SsoOptions::default()
    })
    .await;
    let r = server
        .http
        .post(server.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"name": ADMIN.0, "password": ADMIN.1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "local_users_off");
    let html = server
        .http
        .get(server.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Sign in with Microsoft Entra ID"));
    assert!(!html.contains("name=\"password\""), "{html}");
    assert_eq!(signed_in(&server, "alice@contoso.example").await.1, "admin");
}

#[tokio::test]
async fn signing_out_ends_the_session_and_offers_the_providers_end_session() {
    let server = SsoServer::start(SsoOptions::default()).await;
    let (r, _, _) = server.sign_in("vera@contoso.example").await;
    let session = set_cookie(&r, "cortex_session").unwrap();
    let csrf: serde_json::Value = server
        .http
        .get(server.url("/api/v1/auth/session"))
        .header("cookie", format!("cortex_session={session}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = server
        .http
        .post(server.url("/logout"))
        .header("cookie", format!("cortex_session={session}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf_token={}",
            csrf["csrf_token"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Also sign out of Microsoft Entra ID"),
        "{html}"
    );
    assert!(html.contains("/oauth2/v2.0/logout?post_logout_redirect_uri="));
    let r = server
        .http
        .get(server.url("/api/v1/auth/session"))
        .header("cookie", format!("cortex_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the session is over");
}

/// The pending sign-ins and SSO users work on both users databases, and across replicas on
/// PostgreSQL: a sign-in started on one replica finishes on another, once.
#[tokio::test]
async fn sign_ins_in_progress_and_sso_users_on_sqlite_and_across_postgres_replicas() {
    use cortex_web::auth::oidc_store::{self, PendingLogin};
    use cortex_web::auth::store::AuthError;
    use cortex_web::{AuthStore, Role};

    let dir = tempfile::tempdir().unwrap();
    let sqlite = AuthStore::open(&dir.path().join("auth.db")).await.unwrap();
    let url = cortex_store::testing::fresh_database("web_sso").await;
    let pg_a = AuthStore::connect_postgres(&url).await.unwrap();
    let pg_b = AuthStore::connect_postgres(&url).await.unwrap();
    for (a, b) in [(&sqlite, &sqlite), (&pg_a, &pg_b)] {
        oidc_store::ensure_schema(a).await.unwrap();
        oidc_store::ensure_schema(b).await.unwrap();
        let pending = PendingLogin {
            nonce: "n".into(),
            pkce_verifier: "v".into(),
            next: "/jobs".into(),
        };
        oidc_store::begin_login(a, "state-1", &pending)
            .await
            .unwrap();
        let taken = oidc_store::take_login(b, "state-1").await.unwrap().unwrap();
        assert_eq!((taken.nonce.as_str(), taken.next.as_str()), ("n", "/jobs"));
        assert!(
            oidc_store::take_login(a, "state-1")
                .await
                .unwrap()
                .is_none()
        );

        let user = oidc_store::upsert_user(a, "oid-1", "alice@contoso.example", Role::Viewer)
            .await
            .unwrap();
        assert_eq!(user.id, "sso:oid-1");
        // The next sign-in refreshes the role (and name); same row.
        let again = oidc_store::upsert_user(b, "oid-1", "alice@contoso.example", Role::Admin)
            .await
            .unwrap();
        assert_eq!((again.id.as_str(), again.role), ("sso:oid-1", Role::Admin));
        assert_eq!(a.user_count().await.unwrap(), 1);
        // A local user's name is not taken over.
        a.create_user(
            "bob@contoso.example",
            &"local-password-1".into(),
            Role::Viewer,
        )
        .await
        .unwrap();
        assert!(matches!(
            oidc_store::upsert_user(b, "oid-2", "BOB@contoso.example", Role::Admin).await,
            Err(AuthError::Conflict(_))
        ));
    }
}
