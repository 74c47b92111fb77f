//! Users, sessions and API tokens. With the embedded default they live in their own SQLite
//! file (`<data-dir>/web-auth.db`, mode 0600); when the job store is PostgreSQL they live in
//! that database (tables `users`, `sessions`, `api_tokens`), so that several `serve` replicas
//! share users, sessions and tokens ([`AuthStore::open_for`]). The queries are the same on
//! both (sqlx's `Any` driver); only the schema differs (SQLite's `COLLATE NOCASE` is a unique
//! index on `lower(name)` in PostgreSQL).
//!
//! * Passwords: Argon2id PHC strings (`argon2` defaults: 19 MiB, 2 passes), hashed and checked
//!   on the blocking pool.
//! * Sessions and API tokens: 256-bit random values; only their SHA-256 is stored, so the file
//!   alone lets nobody in. A session also has a CSRF token (random, stored as is: it is no
//!   credential without the cookie).
//! * API tokens expire (`expires_at`; the server's `token_days` by default, at most
//!   `token_max_days`) and carry a [`TokenScope`]: `full` (the user's role), `read-only`
//!   (reads only) or `metrics-only` (`GET /metrics` only).
//! * Timestamps are Unix seconds.
//! * Migrations: the schema is created if missing; a database made before tokens had an expiry
//!   and a scope gets both columns ([`AuthStore::migrate`], on both backends); its tokens keep
//!   the full scope and expire [`LEGACY_TOKEN_DAYS`] days after the migration.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine as _;
use prisma_types::SecretString;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::AnyPool;
use sqlx::Row;
use sqlx::any::AnyPoolOptions;
use utoipa::ToSchema;

/// What a user may do. Ordered: each role includes the ones before it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything: jobs, batches, accounts, groups, audit, metrics.
    Viewer,
    /// Also onboards, approves, cancels, resumes, enables/disables and offboards accounts,
    /// creates groups.
    Operator,
    /// Also saves and deletes Prisma Cloud connections, and manages users (through the CLI
    /// today).
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Self, AuthError> {
        match s.trim() {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            _ => Err(AuthError::invalid(
                "role",
                "must be one of viewer, operator, admin",
            )),
        }
    }
}

impl Role {
    /// The role with its article, for sentences: "a viewer", "an operator", "an admin".
    pub fn with_article(self) -> &'static str {
        match self {
            Role::Viewer => "a viewer",
            Role::Operator => "an operator",
            Role::Admin => "an admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("users database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("users database: {0}")]
    Io(String),
    #[error("password hashing failed")]
    Hash,
}

impl AuthError {
    fn invalid(field: &'static str, message: &str) -> Self {
        AuthError::Invalid {
            field,
            message: message.to_owned(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct User {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub created_at: i64,
}

/// A signed-in session, as found from its cookie.
#[derive(Clone, Debug)]
pub struct Session {
    pub id_hash: String,
    pub user: User,
    pub csrf_token: String,
    pub expires_at: i64,
}

/// What an API token may do, within its user's role.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TokenScope {
    /// Everything the user's role allows.
    #[default]
    Full,
    /// Reads only (`GET`/`HEAD`), whatever the role.
    ReadOnly,
    /// `GET /metrics` only: for a Prometheus scraper.
    MetricsOnly,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Full => "full",
            TokenScope::ReadOnly => "read-only",
            TokenScope::MetricsOnly => "metrics-only",
        }
    }

    /// May a request with this method to this path be made with such a token?
    pub fn allows(self, method: &axum::http::Method, path: &str) -> bool {
        use axum::http::Method;
        let read = *method == Method::GET || *method == Method::HEAD;
        match self {
            TokenScope::Full => true,
            TokenScope::ReadOnly => read,
            TokenScope::MetricsOnly => read && path == "/metrics",
        }
    }
}

impl FromStr for TokenScope {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Self, AuthError> {
        match s.trim() {
            "full" => Ok(TokenScope::Full),
            "read-only" => Ok(TokenScope::ReadOnly),
            "metrics-only" => Ok(TokenScope::MetricsOnly),
            _ => Err(AuthError::invalid(
                "scope",
                "must be one of full, read-only, metrics-only",
            )),
        }
    }
}

impl std::fmt::Display for TokenScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An API token's metadata (never the token).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct TokenInfo {
    #[schema(format = "uuid")]
    pub id: String,
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    pub scope: TokenScope,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; after it the token is refused (401 `token_expired`).
    pub expires_at: i64,
    /// Unix seconds (updated at most once a minute).
    pub last_used_at: Option<i64>,
}

/// What a bearer token is.
#[derive(Clone, Debug, PartialEq)]
pub enum TokenCheck {
    Valid {
        user: User,
        id: String,
        scope: TokenScope,
    },
    /// Known, but past its `expires_at`.
    Expired { id: String, expires_at: i64 },
    /// Unknown or revoked.
    Unknown,
}

/// How long the tokens of a database made before tokens expired live after the migration.
pub const LEGACY_TOKEN_DAYS: i64 = 90;

/// The first administrator made for a sandbox: print the password once.
pub struct GeneratedAdmin {
    pub name: String,
    pub password: SecretString,
}

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub struct AuthStore {
    pool: AnyPool,
    /// Where it is, for people: the file, or "the PostgreSQL job store".
    location: String,
}

/// Names are unique whatever their case (`COLLATE NOCASE` here, `lower(name)` in PostgreSQL).
const POSTGRES_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    created_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS users_name_lower ON users (lower(name));
CREATE TABLE IF NOT EXISTS sessions (
    id_hash     TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_at);
CREATE TABLE IF NOT EXISTS api_tokens (
    id           TEXT PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    expires_at   BIGINT NOT NULL,
    scope        TEXT NOT NULL DEFAULT 'full' CHECK (scope IN ('full', 'read-only', 'metrics-only'))
);
";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    created_at    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id_hash     TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_at);
CREATE TABLE IF NOT EXISTS api_tokens (
    id           TEXT PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    expires_at   INTEGER NOT NULL,
    scope        TEXT NOT NULL DEFAULT 'full' CHECK (scope IN ('full', 'read-only', 'metrics-only'))
);
";

/// Unix seconds as `2026-01-02T03:04:05Z`, for messages.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

pub(crate) fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// 32 random bytes, base64url without padding (43 characters).
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256, lowercase hex. Enough for 256-bit random values (no dictionary to attack).
pub(crate) fn sha256_hex(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compares without an early exit (for CSRF tokens).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The prefix of API tokens, so they are recognisable in a secret scanner.
pub const TOKEN_PREFIX: &str = "cxw_";

/// A user name as [`AuthStore::create_user`] accepts it (trimmed), or the `name` error.
pub fn validate_name(name: &str) -> Result<String, AuthError> {
    let name = name.trim();
    let ok = (1..=64).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if !ok {
        return Err(AuthError::invalid(
            "name",
            "must be 1-64 characters: letters, digits, . _ - @",
        ));
    }
    Ok(name.to_owned())
}

/// The password rule of [`AuthStore::create_user`] (12-1024 characters), or the `password`
/// error.
pub fn validate_password(password: &SecretString) -> Result<(), AuthError> {
    let n = password.expose().chars().count();
    if !(12..=1024).contains(&n) {
        return Err(AuthError::invalid("password", "must be 12-1024 characters"));
    }
    Ok(())
}

async fn hash_password(password: SecretString) -> Result<String, AuthError> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.expose().as_bytes())
            .map(|h| h.to_string())
            .map_err(|_| AuthError::Hash)
    })
    .await
    .map_err(|_| AuthError::Hash)?
}

/// A hash to check against when the user does not exist, so an unknown name takes as long as
/// a wrong password.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        Argon2::default()
            .hash_password(b"not a password of anyone's")
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

async fn verify_password(password: SecretString, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.expose().as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

pub(crate) fn user_from(row: &sqlx::any::AnyRow, prefix: &str) -> Result<User, AuthError> {
    let role: String = row.try_get(format!("{prefix}role").as_str())?;
    Ok(User {
        id: row.try_get(format!("{prefix}id").as_str())?,
        name: row.try_get(format!("{prefix}name").as_str())?,
        role: role.parse()?,
        created_at: row.try_get(format!("{prefix}created_at").as_str())?,
    })
}

impl AuthStore {
    /// Where `config` says: the job store's PostgreSQL database when it is one (shared by
    /// replicas), else the SQLite file `config.auth_database`.
    pub async fn open_for(config: &crate::WebConfig) -> Result<Self, AuthError> {
        match config.database_url.as_deref() {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Self::connect_postgres(url).await
            }
            _ => Self::open(&config.auth_database).await,
        }
    }

    /// The users database in the PostgreSQL database at `url` (tables created if missing).
    pub async fn connect_postgres(url: &str) -> Result<Self, AuthError> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .connect(url)
            .await?;
        let store = Self {
            pool,
            location: "the PostgreSQL job store".into(),
        };
        // Replicas may start together: one at a time creates and migrates the tables (a
        // session-level advisory lock on one connection; concurrent DDL would fail).
        let mut conn = store.pool.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock(7243013001)")
            .execute(&mut *conn)
            .await?;
        let prepared = async {
            sqlx::raw_sql(sqlx::AssertSqlSafe(POSTGRES_SCHEMA))
                .execute(&mut *conn)
                .await?;
            store.migrate(&mut conn, Backend::Postgres).await
        }
        .await;
        sqlx::query("SELECT pg_advisory_unlock(7243013001)")
            .execute(&mut *conn)
            .await?;
        prepared?;
        drop(conn);
        Ok(store)
    }

    /// Opens (creating with mode 0600) the users database at `path`.
    pub async fn open(path: &Path) -> Result<Self, AuthError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| AuthError::Io(e.to_string()))?;
        }
        create_private(path)?;
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // Per connection: wait for the writer rather than fail; enforce the
                    // foreign keys (sessions and tokens go with their user).
                    sqlx::raw_sql("PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;")
                        .execute(conn)
                        .await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        sqlx::raw_sql("PRAGMA journal_mode = WAL;")
            .execute(&pool)
            .await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(SCHEMA))
            .execute(&pool)
            .await?;
        let store = Self {
            pool,
            location: path.display().to_string(),
        };
        let mut conn = store.pool.acquire().await?;
        store.migrate(&mut conn, Backend::Sqlite).await?;
        drop(conn);
        // WAL and shared-memory files get the database's mode from SQLite; tighten anyway.
        for suffix in ["-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            let _ = set_private(Path::new(&p));
        }
        Ok(store)
    }

    /// Brings a database made by an older version up to this schema: tokens get `expires_at`
    /// (existing ones: [`LEGACY_TOKEN_DAYS`] from now) and `scope` (existing ones: `full`).
    /// Idempotent; each step checks the table first.
    async fn migrate(
        &self,
        conn: &mut sqlx::AnyConnection,
        backend: Backend,
    ) -> Result<(), AuthError> {
        let columns_sql = match backend {
            Backend::Sqlite => "SELECT name FROM pragma_table_info('api_tokens')",
            Backend::Postgres => {
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = 'api_tokens'"
            }
        };
        let columns: Vec<String> = sqlx::query_scalar(columns_sql)
            .fetch_all(&mut *conn)
            .await?;
        let has = |c: &str| columns.iter().any(|x| x == c);
        let if_missing = match backend {
            Backend::Sqlite => "",
            Backend::Postgres => "IF NOT EXISTS ",
        };
        if !has("expires_at") {
            let big = match backend {
                Backend::Sqlite => "INTEGER",
                Backend::Postgres => "BIGINT",
            };
            let until = now() + LEGACY_TOKEN_DAYS * 86_400;
            // A literal default fills the existing rows (SQLite cannot add a NOT NULL column
            // without one); new rows always set it.
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "ALTER TABLE api_tokens ADD COLUMN {if_missing}expires_at {big} NOT NULL \
                 DEFAULT {until}"
            )))
            .execute(&mut *conn)
            .await?;
            tracing::info!(
                database = %self.location,
                "API tokens now expire: existing tokens expire in {LEGACY_TOKEN_DAYS} days"
            );
        }
        if !has("scope") {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "ALTER TABLE api_tokens ADD COLUMN {if_missing}scope TEXT NOT NULL DEFAULT 'full' \
                 CHECK (scope IN ('full', 'read-only', 'metrics-only'))"
            )))
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    /// The pool, for the single sign-on tables ([`super::oidc_store`]).
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Where the users are, for messages: the SQLite file, or the PostgreSQL job store.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Creates a user. Names are unique regardless of case.
    pub async fn create_user(
        &self,
        name: &str,
        password: &SecretString,
        role: Role,
    ) -> Result<User, AuthError> {
        let name = validate_name(name)?;
        validate_password(password)?;
        let hash = hash_password(password.clone()).await?;
        let user = User {
            id: uuid::Uuid::now_v7().to_string(),
            name,
            role,
            created_at: now(),
        };
        let result = sqlx::query(
            "INSERT INTO users (id, name, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&user.id)
        .bind(&user.name)
        .bind(&hash)
        .bind(role.as_str())
        .bind(user.created_at)
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(user),
            Err(sqlx::Error::Database(db))
                if db.kind() == sqlx::error::ErrorKind::UniqueViolation =>
            {
                Err(AuthError::Conflict(format!(
                    "a user named {} already exists",
                    user.name
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Whether a user of that name (any case) exists.
    pub async fn user_exists(&self, name: &str) -> Result<bool, AuthError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE lower(name) = lower($1)")
            .bind(name.trim())
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    pub async fn user_count(&self) -> Result<u64, AuthError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(n.max(0) as u64)
    }

    pub async fn list_users(&self) -> Result<Vec<User>, AuthError> {
        let rows = sqlx::query("SELECT id, name, role, created_at FROM users ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| user_from(r, "")).collect()
    }

    /// Sandbox: with no user yet, creates `admin` with a generated password and returns it
    /// (to print once). `None` when users exist.
    pub async fn ensure_first_admin(&self) -> Result<Option<GeneratedAdmin>, AuthError> {
        if self.user_count().await? > 0 {
            return Ok(None);
        }
        let password = SecretString::from(random_token());
        match self.create_user("admin", &password, Role::Admin).await {
            Ok(user) => Ok(Some(GeneratedAdmin {
                name: user.name,
                password,
            })),
            // Another process made it first.
            Err(AuthError::Conflict(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The user if the name and password match. Takes the same time for an unknown name.
    pub async fn check_password(
        &self,
        name: &str,
        password: &SecretString,
    ) -> Result<Option<User>, AuthError> {
        let row = sqlx::query(
            "SELECT id, name, role, created_at, password_hash FROM users WHERE lower(name) = lower($1)",
        )
        .bind(name.trim())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            verify_password(password.clone(), dummy_hash().to_owned()).await;
            return Ok(None);
        };
        let hash: String = row.try_get("password_hash")?;
        let user = user_from(&row, "")?;
        Ok(verify_password(password.clone(), hash)
            .await
            .then_some(user))
    }

    /// Starts a session; returns the cookie value (shown to nobody else) and the session.
    pub async fn create_session(
        &self,
        user: &User,
        ttl: Duration,
    ) -> Result<(String, Session), AuthError> {
        let cookie = random_token();
        let session = Session {
            id_hash: sha256_hex(&cookie),
            user: user.clone(),
            csrf_token: random_token(),
            expires_at: now() + ttl.as_secs() as i64,
        };
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&session.id_hash)
        .bind(&user.id)
        .bind(&session.csrf_token)
        .bind(now())
        .bind(session.expires_at)
        .execute(&self.pool)
        .await?;
        // Expired sessions go away as new ones come.
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok((cookie, session))
    }

    /// The live session for a cookie value.
    pub async fn session(&self, cookie: &str) -> Result<Option<Session>, AuthError> {
        let row = sqlx::query(
            "SELECT s.id_hash, s.csrf_token, s.expires_at, u.id, u.name, u.role, u.created_at \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id_hash = $1 AND s.expires_at > $2",
        )
        .bind(sha256_hex(cookie))
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Session {
                id_hash: r.try_get("id_hash")?,
                csrf_token: r.try_get("csrf_token")?,
                expires_at: r.try_get("expires_at")?,
                user: user_from(&r, "")?,
            })
        })
        .transpose()
    }

    pub async fn delete_session(&self, id_hash: &str) -> Result<(), AuthError> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Creates an API token for `user` with `scope`, valid for `ttl` (at least a second);
    /// returns the token (to show once) and its metadata.
    pub async fn create_token(
        &self,
        user: &User,
        name: &str,
        scope: TokenScope,
        ttl: Duration,
    ) -> Result<(SecretString, TokenInfo), AuthError> {
        let name = name.trim();
        if !(1..=100).contains(&name.chars().count()) || name.chars().any(char::is_control) {
            return Err(AuthError::invalid("name", "must be 1-100 characters"));
        }
        let token = format!("{TOKEN_PREFIX}{}", random_token());
        let created_at = now();
        let info = TokenInfo {
            id: uuid::Uuid::now_v7().to_string(),
            name: name.to_owned(),
            scope,
            created_at,
            expires_at: created_at + (ttl.as_secs() as i64).max(1),
            last_used_at: None,
        };
        sqlx::query(
            "INSERT INTO api_tokens (id, token_hash, user_id, name, created_at, expires_at, scope) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&info.id)
        .bind(sha256_hex(&token))
        .bind(&user.id)
        .bind(&info.name)
        .bind(info.created_at)
        .bind(info.expires_at)
        .bind(scope.as_str())
        .execute(&self.pool)
        .await?;
        Ok((SecretString::from(token), info))
    }

    /// The user and token id for a bearer token that is valid now (whatever its scope).
    pub async fn token_user(&self, token: &str) -> Result<Option<(User, String)>, AuthError> {
        Ok(match self.check_token(token).await? {
            TokenCheck::Valid { user, id, .. } => Some((user, id)),
            _ => None,
        })
    }

    /// What a bearer token is; records the use of a valid one (at most once a minute).
    pub async fn check_token(&self, token: &str) -> Result<TokenCheck, AuthError> {
        let row = sqlx::query(
            "SELECT t.id AS token_id, t.expires_at, t.scope, u.id, u.name, u.role, u.created_at \
             FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1",
        )
        .bind(sha256_hex(token))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(TokenCheck::Unknown);
        };
        let token_id: String = row.try_get("token_id")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        let now = now();
        if expires_at <= now {
            return Ok(TokenCheck::Expired {
                id: token_id,
                expires_at,
            });
        }
        let scope: String = row.try_get("scope")?;
        let scope: TokenScope = scope.parse()?;
        let user = user_from(&row, "")?;
        sqlx::query(
            "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2 \
             AND (last_used_at IS NULL OR last_used_at < $3)",
        )
        .bind(now)
        .bind(&token_id)
        .bind(now - 60)
        .execute(&self.pool)
        .await?;
        Ok(TokenCheck::Valid {
            user,
            id: token_id,
            scope,
        })
    }

    pub async fn list_tokens(&self, user: &User) -> Result<Vec<TokenInfo>, AuthError> {
        let rows = sqlx::query(
            "SELECT id, name, scope, created_at, expires_at, last_used_at FROM api_tokens \
             WHERE user_id = $1 ORDER BY created_at, id",
        )
        .bind(&user.id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let scope: String = r.try_get("scope")?;
                Ok(TokenInfo {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    scope: scope.parse()?,
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                    last_used_at: r.try_get("last_used_at")?,
                })
            })
            .collect()
    }

    /// Revokes one of `user`'s tokens; `false` if it has no such token.
    pub async fn delete_token(&self, user: &User, id: &str) -> Result<bool, AuthError> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(&user.id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Reachable? (for `/readyz`)
    pub async fn ping(&self) -> Result<(), AuthError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Creates the file empty with mode 0600 if it does not exist, and makes it 0600 if it does.
fn create_private(path: &Path) -> Result<(), AuthError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        if !path.exists() {
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(path)
                .map_err(|e| AuthError::Io(format!("cannot create {}: {e}", path.display())))?;
        }
    }
    set_private(path)
}

fn set_private(path: &Path) -> Result<(), AuthError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| AuthError::Io(format!("cannot restrict {}: {e}", path.display())))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn users_sessions_and_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.db");
        let store = AuthStore::open(&path).await.unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let pw = SecretString::from("correct horse battery");
        let user = store
            .create_user("Alice", &pw, Role::Operator)
            .await
            .unwrap();
        assert!(matches!(
            store.create_user("alice", &pw, Role::Viewer).await,
            Err(AuthError::Conflict(_))
        ));
        assert!(matches!(
            store
                .create_user("bob", &SecretString::from("short"), Role::Viewer)
                .await,
            Err(AuthError::Invalid {
                field: "password",
                ..
            })
        ));
        assert!(
            store
                .check_password("alice", &SecretString::from("wrong password!"))
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.check_password("nobody", &pw).await.unwrap().is_none());
        let found = store.check_password("Alice", &pw).await.unwrap().unwrap();
        assert_eq!(found, user);
        let stored: String = sqlx::query_scalar("SELECT password_hash FROM users")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert!(stored.starts_with("$argon2id$"));

        let (cookie, session) = store
            .create_session(&user, Duration::from_secs(60))
            .await
            .unwrap();
        let again = store.session(&cookie).await.unwrap().unwrap();
        assert_eq!(again.csrf_token, session.csrf_token);
        assert!(store.session("forged").await.unwrap().is_none());
        store.delete_session(&session.id_hash).await.unwrap();
        assert!(store.session(&cookie).await.unwrap().is_none());

        let (token, info) = store
            .create_token(&user, "ci", TokenScope::Full, Duration::from_secs(3600))
            .await
            .unwrap();
        assert_eq!(info.expires_at, info.created_at + 3600);
        assert!(token.expose().starts_with(TOKEN_PREFIX));
        let (who, id) = store.token_user(token.expose()).await.unwrap().unwrap();
        assert_eq!(
            (who.name.as_str(), id.as_str()),
            ("Alice", info.id.as_str())
        );
        let listed = store.list_tokens(&user).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].last_used_at.is_some());
        assert!(store.delete_token(&user, &info.id).await.unwrap());
        assert!(store.token_user(token.expose()).await.unwrap().is_none());
        assert!(store.ensure_first_admin().await.unwrap().is_none());
        store.close().await;
        let raw = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&raw);
        assert!(!text.contains(token.expose()) && !text.contains(&cookie));
    }

    #[tokio::test]
    async fn tokens_expire_and_keep_their_scope() {
        let dir = tempfile::tempdir().unwrap();
        let store = AuthStore::open(&dir.path().join("a.db")).await.unwrap();
        let pw = SecretString::from("correct horse battery");
        let user = store.create_user("carol", &pw, Role::Admin).await.unwrap();
        let (token, info) = store
            .create_token(
                &user,
                "scraper",
                TokenScope::MetricsOnly,
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        match store.check_token(token.expose()).await.unwrap() {
            TokenCheck::Valid { scope, id, .. } => {
                assert_eq!(
                    (scope, id.as_str()),
                    (TokenScope::MetricsOnly, info.id.as_str())
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            store.list_tokens(&user).await.unwrap()[0].scope,
            TokenScope::MetricsOnly
        );
        sqlx::query("UPDATE api_tokens SET expires_at = $1")
            .bind(now() - 1)
            .execute(&store.pool)
            .await
            .unwrap();
        assert!(matches!(
            store.check_token(token.expose()).await.unwrap(),
            TokenCheck::Expired { .. }
        ));
        assert!(store.token_user(token.expose()).await.unwrap().is_none());
        assert_eq!(
            store.check_token("cxw_nope").await.unwrap(),
            TokenCheck::Unknown
        );
    }

    #[test]
    fn scopes_allow_what_they_say() {
        use axum::http::Method;
        assert!(TokenScope::Full.allows(&Method::POST, "/api/v1/jobs"));
        assert!(TokenScope::ReadOnly.allows(&Method::GET, "/api/v1/jobs"));
        assert!(!TokenScope::ReadOnly.allows(&Method::POST, "/api/v1/jobs"));
        assert!(!TokenScope::ReadOnly.allows(&Method::DELETE, "/api/v1/tokens/x"));
        assert!(TokenScope::MetricsOnly.allows(&Method::GET, "/metrics"));
        assert!(!TokenScope::MetricsOnly.allows(&Method::GET, "/api/v1/jobs"));
        assert!(!TokenScope::MetricsOnly.allows(&Method::POST, "/metrics"));
        for s in [
            TokenScope::Full,
            TokenScope::ReadOnly,
            TokenScope::MetricsOnly,
        ] {
            assert_eq!(s.as_str().parse::<TokenScope>().unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert!("admin".parse::<TokenScope>().is_err());
    }

    /// A users database as the version before token expiry and scopes made it.
    #[tokio::test]
    async fn an_older_sqlite_database_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let store = AuthStore::open(&path).await.unwrap();
            let user = store
                .create_user(
                    "dave",
                    &SecretString::from("correct horse battery"),
                    Role::Operator,
                )
                .await
                .unwrap();
            // Back to the old table, holding one token.
            sqlx::raw_sql(
                "DROP TABLE api_tokens; CREATE TABLE api_tokens (id TEXT PRIMARY KEY, \
                 token_hash TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL REFERENCES users (id) \
                 ON DELETE CASCADE, name TEXT NOT NULL, created_at INTEGER NOT NULL, \
                 last_used_at INTEGER);",
            )
            .execute(&store.pool)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO api_tokens (id, token_hash, user_id, name, created_at) \
                 VALUES ('t1', $1, $2, 'old', 1)",
            )
            .bind(sha256_hex("cxw_old-token"))
            .bind(&user.id)
            .execute(&store.pool)
            .await
            .unwrap();
            store.close().await;
        }
        let store = AuthStore::open(&path).await.unwrap();
        match store.check_token("cxw_old-token").await.unwrap() {
            TokenCheck::Valid { scope, user, .. } => {
                assert_eq!((scope, user.name.as_str()), (TokenScope::Full, "dave"))
            }
            other => panic!("{other:?}"),
        }
        let user = store
            .check_password("dave", &SecretString::from("correct horse battery"))
            .await
            .unwrap()
            .unwrap();
        let listed = store.list_tokens(&user).await.unwrap();
        let left = listed[0].expires_at - now();
        assert!((LEGACY_TOKEN_DAYS * 86_400 - 60..=LEGACY_TOKEN_DAYS * 86_400).contains(&left));
        store.close().await;
        // Opening again changes nothing.
        let again = AuthStore::open(&path).await.unwrap();
        assert_eq!(again.list_tokens(&user).await.unwrap(), listed);
    }

    #[tokio::test]
    async fn the_first_sandbox_admin_is_generated_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = AuthStore::open(&dir.path().join("a.db")).await.unwrap();
        let admin = store.ensure_first_admin().await.unwrap().unwrap();
        assert_eq!(admin.name, "admin");
        let user = store
            .check_password("admin", &admin.password)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(user.role, Role::Admin);
        assert!(store.ensure_first_admin().await.unwrap().is_none());
    }
}
