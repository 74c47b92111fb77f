//! [`StoreError`]: every way a store call can fail, with a stable machine-readable [`code`].
//!
//! No variant ever carries a secret, a key or a database password: crypto failures name the
//! owner/name of the secret only, configuration errors never echo a database URL.
//!
//! [`code`]: StoreError::code

use crate::JobId;

#[derive(thiserror::Error, Debug)]
pub enum StoreError {
    /// The database refused or failed a statement, or the connection failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),

    /// The embedded schema migrations could not be applied.
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),

    /// The row already exists (duplicate job or batch id).
    #[error("{what} already exists")]
    Conflict { what: String },

    /// The row the call refers to does not exist.
    #[error("{what} not found")]
    NotFound { what: String },

    /// The worker does not hold the job's lease any more (it expired and another worker claimed
    /// the job, or the job is no longer running).
    #[error("job {job} is not leased by this worker")]
    LeaseLost { job: JobId },

    /// Encryption or decryption failed: unknown key id, malformed value, or a value that does
    /// not authenticate (tampered, or moved to another owner/name).
    #[error("secret store: {message}")]
    Crypto { message: String },

    /// This process's master key is not the one the database was written with (see
    /// [`crate::Keyring::check_recorded`]); the message says how to share the key.
    #[error("master key mismatch: {message}")]
    KeyMismatch { message: String },

    /// Bad configuration: unsupported URL, unreadable or unsafe key file, bad key encoding.
    #[error("configuration: {message}")]
    Config { message: String },

    /// A call whose arguments make no sense (e.g. `finish_job` with a non-terminal state).
    #[error("invalid request: {message}")]
    Invalid { message: String },
}

impl StoreError {
    /// A stable, snake_case code for logs, metrics and API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Database(_) => "database",
            StoreError::Migration(_) => "migration",
            StoreError::Conflict { .. } => "conflict",
            StoreError::NotFound { .. } => "not_found",
            StoreError::LeaseLost { .. } => "lease_lost",
            StoreError::Crypto { .. } => "crypto",
            StoreError::KeyMismatch { .. } => "master_key_mismatch",
            StoreError::Config { .. } => "config",
            StoreError::Invalid { .. } => "invalid",
        }
    }

    pub(crate) fn crypto(message: impl Into<String>) -> Self {
        StoreError::Crypto {
            message: message.into(),
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        StoreError::Config {
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        StoreError::Invalid {
            message: message.into(),
        }
    }

    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        StoreError::NotFound { what: what.into() }
    }

    /// A value read back from the database that does not decode (a corrupt row).
    pub(crate) fn decode(
        column: &str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Database(sqlx::Error::ColumnDecode {
            index: column.to_owned(),
            source: Box::new(source),
        })
    }

    /// Maps constraint violations to [`StoreError::Conflict`] / [`StoreError::NotFound`];
    /// everything else stays a database error.
    pub(crate) fn from_write(err: sqlx::Error, conflict: &str, missing: &str) -> Self {
        if let sqlx::Error::Database(db) = &err {
            match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => {
                    return StoreError::Conflict {
                        what: conflict.to_owned(),
                    };
                }
                sqlx::error::ErrorKind::ForeignKeyViolation => {
                    return StoreError::not_found(missing);
                }
                _ => {}
            }
        }
        StoreError::Database(err)
    }
}
