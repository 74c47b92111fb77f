//! What single sign-on keeps in the users database (SQLite file or the PostgreSQL job store,
//! the same statements on both):
//!
//! * `oidc_logins` — a sign-in in progress, for 10 minutes: the SHA-256 of its `state` (the
//!   state itself is only in the browser's cookie and the provider's redirect), its `nonce`,
//!   PKCE verifier and where to go afterwards. [`take_login`] deletes the row as it reads it,
//!   so a callback works once.
//! * SSO users are rows of `users` with the id `sso:<object id>` and no usable password (the
//!   `password_hash` is not a PHC string, so a password never matches); their name and role
//!   are refreshed from the token at every sign-in, so sessions and the audit log work as for
//!   local users.

use std::time::Duration;

use sqlx::Row;

use super::store::{AuthError, AuthStore, Role, User, now, sha256_hex, user_from};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS oidc_logins (
    state_hash    TEXT PRIMARY KEY,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    next_path     TEXT NOT NULL,
    expires_at    BIGINT NOT NULL
);
";

/// The `password_hash` of SSO users: never a valid Argon2 PHC string.
const NO_PASSWORD: &str = "!sso";

/// The id prefix of SSO users.
pub const SSO_ID_PREFIX: &str = "sso:";

/// How long a started sign-in may take.
pub const LOGIN_TTL: Duration = Duration::from_secs(600);

/// A sign-in in progress.
pub struct PendingLogin {
    pub nonce: String,
    pub pkce_verifier: String,
    pub next: String,
}

/// Creates the table if it is missing (idempotent; run once per process).
pub async fn ensure_schema(store: &AuthStore) -> Result<(), AuthError> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(SCHEMA))
        .execute(store.pool())
        .await?;
    Ok(())
}

pub async fn begin_login(
    store: &AuthStore,
    state: &str,
    login: &PendingLogin,
) -> Result<(), AuthError> {
    sqlx::query("DELETE FROM oidc_logins WHERE expires_at < $1")
        .bind(now())
        .execute(store.pool())
        .await?;
    sqlx::query(
        "INSERT INTO oidc_logins (state_hash, nonce, pkce_verifier, next_path, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(sha256_hex(state))
    .bind(&login.nonce)
    .bind(&login.pkce_verifier)
    .bind(&login.next)
    .bind(now() + LOGIN_TTL.as_secs() as i64)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// The pending sign-in for `state`, removed as it is read; `None` if unknown, used or expired.
pub async fn take_login(store: &AuthStore, state: &str) -> Result<Option<PendingLogin>, AuthError> {
    let row = sqlx::query(
        "DELETE FROM oidc_logins WHERE state_hash = $1 \
         RETURNING nonce, pkce_verifier, next_path, expires_at",
    )
    .bind(sha256_hex(state))
    .fetch_optional(store.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let expires_at: i64 = row.try_get("expires_at")?;
    if expires_at < now() {
        return Ok(None);
    }
    Ok(Some(PendingLogin {
        nonce: row.try_get("nonce")?,
        pkce_verifier: row.try_get("pkce_verifier")?,
        next: row.try_get("next_path")?,
    }))
}

/// Creates or refreshes the SSO user `object_id` with `name` and `role`. `Conflict` when a
/// local user (or another SSO user) has the name.
pub async fn upsert_user(
    store: &AuthStore,
    object_id: &str,
    name: &str,
    role: Role,
) -> Result<User, AuthError> {
    let id = format!("{SSO_ID_PREFIX}{object_id}");
    let result = sqlx::query(
        "INSERT INTO users (id, name, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, role = excluded.role",
    )
    .bind(&id)
    .bind(name)
    .bind(NO_PASSWORD)
    .bind(role.as_str())
    .bind(now())
    .execute(store.pool())
    .await;
    match result {
        Ok(_) => {}
        Err(sqlx::Error::Database(db)) if db.kind() == sqlx::error::ErrorKind::UniqueViolation => {
            return Err(AuthError::Conflict(format!(
                "a user named {name} already exists"
            )));
        }
        Err(e) => return Err(e.into()),
    }
    let row = sqlx::query("SELECT id, name, role, created_at FROM users WHERE id = $1")
        .bind(&id)
        .fetch_one(store.pool())
        .await?;
    user_from(&row, "")
}
