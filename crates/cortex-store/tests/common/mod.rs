//! Test harness: the same stories run against SQLite (a temp dir) and PostgreSQL (a throwaway
//! cluster the tests start themselves, see `pg`).

pub mod pg;
pub mod stories;

use cortex_store::{Keyring, Store};
use sqlx::Connection;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One test's database and the store opened on it.
pub struct Harness {
    pub backend: Backend,
    pub url: String,
    /// The key the store was opened with (tests need the bytes to build rotated keyrings).
    pub key_id: String,
    pub key: [u8; 32],
    pub keyring: Keyring,
    pub store: Store,
    _dir: Option<tempfile::TempDir>,
}

pub fn test_keyring() -> Keyring {
    Keyring::generate().expect("a random keyring")
}

impl Harness {
    pub async fn sqlite() -> Harness {
        let dir = tempfile::tempdir().expect("a temp dir");
        // A directory that does not exist yet: open must create it.
        let url = format!("sqlite://{}/state/cortex.db", dir.path().display());
        Self::open(Backend::Sqlite, url, Some(dir)).await
    }

    pub async fn postgres(test: &str) -> Harness {
        let url = pg::fresh_database(test).await;
        Self::open(Backend::Postgres, url, None).await
    }

    async fn open(backend: Backend, url: String, dir: Option<tempfile::TempDir>) -> Harness {
        let key_id = format!("k-test-{}", rand::random::<u32>());
        let key: [u8; 32] = rand::random();
        let keyring = Keyring::from_key(&key_id, key);
        let store = Store::open(&url, keyring.clone())
            .await
            .unwrap_or_else(|e| panic!("open {backend:?} store: {e}"));
        Harness {
            backend,
            url,
            key_id,
            key,
            keyring,
            store,
            _dir: dir,
        }
    }

    /// Another store on the same database: another process or replica.
    pub async fn open_another(&self, keyring: Keyring) -> Store {
        Store::open(&self.url, keyring)
            .await
            .unwrap_or_else(|e| panic!("open another {:?} store: {e}", self.backend))
    }

    /// Runs `sql` on a raw connection and returns the first column of every row as text.
    pub async fn raw_strings(&self, sql: &str, binds: &[&str]) -> Vec<Option<String>> {
        match self.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()));
                for bind in binds {
                    query = query.bind(*bind);
                }
                let rows = query.fetch_all(&mut conn).await.unwrap();
                conn.close().await.ok();
                rows
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
                let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()));
                for bind in binds {
                    query = query.bind(*bind);
                }
                let rows = query.fetch_all(&mut conn).await.unwrap();
                conn.close().await.ok();
                rows
            }
        }
    }

    /// Runs a statement on a raw connection; returns the rows affected.
    pub async fn raw_execute(&self, sql: &str, binds: &[&str]) -> u64 {
        match self.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
                for bind in binds {
                    query = query.bind(*bind);
                }
                let done = query.execute(&mut conn).await.unwrap();
                conn.close().await.ok();
                done.rows_affected()
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
                for bind in binds {
                    query = query.bind(*bind);
                }
                let done = query.execute(&mut conn).await.unwrap();
                conn.close().await.ok();
                done.rows_affected()
            }
        }
    }

    /// The stored (encrypted) value of a secret, read straight from the table.
    pub async fn raw_secret_value(&self, owner: &str, name: &str) -> String {
        self.raw_strings(
            "SELECT value FROM secrets WHERE owner = $1 AND name = $2",
            &[owner, name],
        )
        .await
        .into_iter()
        .next()
        .flatten()
        .expect("the secret row")
    }

    /// Every byte of the database that is on disk, for SQLite (the file, WAL and journal).
    pub fn sqlite_files_bytes(&self) -> Vec<u8> {
        let path = self.url.trim_start_matches("sqlite://");
        let mut bytes = Vec::new();
        for suffix in ["", "-wal", "-journal"] {
            if let Ok(b) = std::fs::read(format!("{path}{suffix}")) {
                bytes.extend(b);
            }
        }
        bytes
    }
}
