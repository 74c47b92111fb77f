//! Several `serve` replicas on one PostgreSQL database share users, sessions and API tokens
//! (the users database is the job store's database then), so a load balancer may send a
//! signed-in browser to any of them.

use std::time::Duration;

use cortex_web::auth::store::AuthError;
use cortex_web::{AuthStore, Role, WebConfig};
use prisma_types::SecretString;

#[tokio::test]
async fn replicas_on_postgres_share_users_sessions_and_tokens() {
    let url = cortex_store::testing::fresh_database("web_replicas").await;
    // Each replica opens it (the schema is created once, then found).
    let a = AuthStore::connect_postgres(&url).await.unwrap();
    let b = AuthStore::connect_postgres(&url).await.unwrap();
    let password = SecretString::from("replica-password-1");
    a.create_user("Olivia", &password, Role::Operator)
        .await
        .unwrap();
    // Names are unique whatever their case, as on SQLite.
    assert!(matches!(
        b.create_user("OLIVIA", &password, Role::Viewer).await,
        Err(AuthError::Conflict(_))
    ));
    assert!(b.user_exists("olivia").await.unwrap());
    // Signed in on one replica, known on the other; signed out on the other, gone on both.
    let user = b
        .check_password("olivia", &password)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.role, Role::Operator);
    assert!(
        b.check_password("olivia", &SecretString::from("wrong-password-9"))
            .await
            .unwrap()
            .is_none()
    );
    let (cookie, session) = a
        .create_session(&user, Duration::from_secs(600))
        .await
        .unwrap();
    let seen = b
        .session(&cookie)
        .await
        .unwrap()
        .expect("the session on replica b");
    assert_eq!(seen.csrf_token, session.csrf_token);
    b.delete_session(&seen.id_hash).await.unwrap();
    assert!(a.session(&cookie).await.unwrap().is_none());
    // An API token made on one replica works on the other, and is revoked everywhere.
    let (token, info) = b
        .create_token(
            &user,
            "ci",
            cortex_web::auth::TokenScope::Full,
            std::time::Duration::from_secs(3600),
        )
        .await
        .unwrap();
    let (owner, id) = a.token_user(token.expose()).await.unwrap().unwrap();
    assert_eq!(
        (owner.name.as_str(), id.as_str()),
        ("Olivia", info.id.as_str())
    );
    assert!(a.delete_token(&user, &info.id).await.unwrap());
    assert!(b.token_user(token.expose()).await.unwrap().is_none());
    a.ping().await.unwrap();

    // `serve` picks it from the configuration: PostgreSQL job store → PostgreSQL users.
    let dir = tempfile::tempdir().unwrap();
    let mut config = WebConfig::for_data_dir(dir.path());
    config.database_url = Some(url.clone());
    let c = AuthStore::open_for(&config).await.unwrap();
    assert_eq!(c.location(), "the PostgreSQL job store");
    assert_eq!(c.user_count().await.unwrap(), 1);
    assert!(
        !config.auth_database.exists(),
        "no SQLite users file was made"
    );
    for store in [a, b, c] {
        store.close().await;
    }
}
