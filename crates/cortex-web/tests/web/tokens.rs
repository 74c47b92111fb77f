//! API tokens expire and have a scope: the API creates them with both, refuses an expired one
//! with a 401 that says so, and a scoped one outside its scope with a 403.

use serde_json::json;

use crate::common::{Auth, OPERATOR, Options, Server};

async fn create(
    server: &Server,
    session: &Auth,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    server
        .call("POST", "/api/v1/tokens", session, Some(body))
        .await
}

#[tokio::test]
async fn tokens_have_an_expiry_and_a_scope() {
    let server = Server::start_with(Options {
        worker: false,
        ..Default::default()
    })
    .await;
    let session = server.login(OPERATOR).await;

    // Default: full scope, 90 days.
    let (status, full) = create(&server, &session, json!({"name": "ci"})).await;
    assert_eq!(status, 201, "{full}");
    assert_eq!(full["scope"], "full");
    let lifetime = full["expires_at"].as_i64().unwrap() - full["created_at"].as_i64().unwrap();
    assert_eq!(lifetime, 90 * 86_400);

    // Bounds and names are checked.
    for (body, field) in [
        (
            json!({"name": "x", "expires_in_days": 0}),
            "expires_in_days",
        ),
        (
            json!({"name": "x", "expires_in_days": 366}),
            "expires_in_days",
        ),
        (json!({"name": "x", "scope": "admin"}), "scope"),
        (json!({"name": ""}), "name"),
    ] {
        let (status, e) = create(&server, &session, body.clone()).await;
        assert_eq!(status, 400, "{body}: {e}");
        assert!(
            e["field"].as_str().unwrap_or_default().contains(field)
                || e.to_string().contains(field),
            "{body}: {e}"
        );
    }

    // read-only: reads yes, changes no (whatever the user's role).
    let (status, ro) = create(
        &server,
        &session,
        json!({"name": "dashboards", "scope": "read-only", "expires_in_days": 7}),
    )
    .await;
    assert_eq!(status, 201, "{ro}");
    assert_eq!(
        ro["expires_at"].as_i64().unwrap() - ro["created_at"].as_i64().unwrap(),
        7 * 86_400
    );
    let read_only = Auth::Bearer(ro["token"].as_str().unwrap().to_owned());
    let (status, _) = server.call("GET", "/api/v1/jobs", &read_only, None).await;
    assert_eq!(status, 200);
    let (status, e) = server
        .call(
            "POST",
            "/api/v1/jobs",
            &read_only,
            Some(crate::common::subscription(1)),
        )
        .await;
    assert_eq!(
        (status, e["code"].as_str()),
        (403, Some("token_scope")),
        "{e}"
    );
    assert!(e["message"].as_str().unwrap().contains("read-only"), "{e}");
    let (status, _) = server
        .call(
            "DELETE",
            &format!("/api/v1/tokens/{}", full["id"].as_str().unwrap()),
            &read_only,
            None,
        )
        .await;
    assert_eq!(status, 403);

    // metrics-only: /metrics and nothing else.
    let (status, mo) = create(
        &server,
        &session,
        json!({"name": "prometheus", "scope": "metrics-only"}),
    )
    .await;
    assert_eq!(status, 201, "{mo}");
    let metrics_only = Auth::Bearer(mo["token"].as_str().unwrap().to_owned());
    let (status, body) = server.call("GET", "/metrics", &metrics_only, None).await;
    assert_eq!(status, 200, "{body}");
    let (status, e) = server
        .call("GET", "/api/v1/jobs", &metrics_only, None)
        .await;
    assert_eq!(
        (status, e["code"].as_str()),
        (403, Some("token_scope")),
        "{e}"
    );

    // The list shows scope and expiry, never the token.
    let (status, list) = server.call("GET", "/api/v1/tokens", &session, None).await;
    assert_eq!(status, 200);
    let tokens = list["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 3);
    assert_eq!(tokens[2]["scope"], "metrics-only");
    assert!(
        tokens
            .iter()
            .all(|t| t["expires_at"].is_i64() && t.get("token").is_none())
    );

    // Expired: 401 with a message that says so (the clock is moved by editing the store).
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        server.dir.path().join("web-auth.db").display()
    ))
    .await
    .unwrap();
    let full_token = Auth::Bearer(full["token"].as_str().unwrap().to_owned());
    let (status, _) = server.call("GET", "/api/v1/jobs", &full_token, None).await;
    assert_eq!(status, 200);
    sqlx::query("UPDATE api_tokens SET expires_at = 1000 WHERE id = ?")
        .bind(full["id"].as_str().unwrap())
        .execute(&db)
        .await
        .unwrap();
    let (status, e) = server.call("GET", "/api/v1/jobs", &full_token, None).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (401, Some("token_expired")),
        "{e}"
    );
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("expired at 1970-01-01T00:16:40Z"),
        "{e}"
    );
}

#[tokio::test]
async fn the_server_bounds_come_from_its_configuration() {
    let server = Server::start_with(Options {
        worker: false,
        configure: |web| {
            web.token_default_ttl = std::time::Duration::from_secs(86_400);
            web.token_max_ttl = std::time::Duration::from_secs(2 * 86_400);
        },
        ..Default::default()
    })
    .await;
    let session = server.login(OPERATOR).await;
    let (status, t) = create(&server, &session, json!({"name": "short"})).await;
    assert_eq!(status, 201);
    assert_eq!(
        t["expires_at"].as_i64().unwrap() - t["created_at"].as_i64().unwrap(),
        86_400
    );
    let (status, e) = create(
        &server,
        &session,
        json!({"name": "long", "expires_in_days": 3}),
    )
    .await;
    assert_eq!(
        (status, e["field"].as_str()),
        (400, Some("expires_in_days")),
        "{e}"
    );
    assert!(e["message"].as_str().unwrap().contains("1-2 days"), "{e}");
}

/// A PostgreSQL users database made before tokens expired and had scopes: opening it adds
/// both columns (old tokens: full scope, 90 days from now), and opening it again, from two
/// replicas at once, changes nothing.
#[tokio::test]
async fn an_older_postgres_users_database_is_migrated() {
    let url = cortex_store::testing::fresh_database("web_token_migration").await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT NOT NULL, password_hash TEXT NOT NULL, \
         role TEXT NOT NULL, created_at BIGINT NOT NULL); \
         CREATE TABLE api_tokens (id TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, \
         user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE, name TEXT NOT NULL, \
         created_at BIGINT NOT NULL, last_used_at BIGINT); \
         INSERT INTO users VALUES ('u1', 'erin', 'x', 'viewer', 1); \
         INSERT INTO api_tokens (id, token_hash, user_id, name, created_at) VALUES \
         ('t1', encode(sha256('cxw_old-token'::bytea), 'hex'), 'u1', 'old', 1);",
    )
    .execute(&pool)
    .await
    .unwrap();
    let (a, b) = tokio::join!(
        cortex_web::AuthStore::connect_postgres(&url),
        cortex_web::AuthStore::connect_postgres(&url)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    match a.check_token("cxw_old-token").await.unwrap() {
        cortex_web::auth::TokenCheck::Valid { scope, user, .. } => {
            assert_eq!(scope, cortex_web::auth::TokenScope::Full);
            assert_eq!(user.name, "erin");
        }
        other => panic!("{other:?}"),
    }
    let user = b.list_users().await.unwrap().remove(0);
    let tokens = b.list_tokens(&user).await.unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let left = tokens[0].expires_at - now;
    assert!((90 * 86_400 - 120..=90 * 86_400).contains(&left), "{left}");
    // New tokens get their own scope and expiry there too.
    let (token, info) = b
        .create_token(
            &user,
            "new",
            cortex_web::auth::TokenScope::ReadOnly,
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(info.expires_at, info.created_at + 60);
    assert!(matches!(
        a.check_token(token.expose()).await.unwrap(),
        cortex_web::auth::TokenCheck::Valid {
            scope: cortex_web::auth::TokenScope::ReadOnly,
            ..
        }
    ));
}
