//! The server's configuration: a TOML file, environment variables and flags, in that order of
//! increasing precedence (flag > env > file > default).
//!
//! Every source fills the same [`WebSettings`] (all fields optional): the file with the keys
//! below, the environment with `CORTEX_WEB_<KEY>` (upper case), and the binary's flags by
//! filling a `WebSettings` itself. [`WebConfig::load`] merges them and checks the result.
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! data_dir = "/var/lib/azure-cortex"
//! # database_url = "postgres://…"        # the engine's store; default sqlite in data_dir
//! # auth_database = "/var/lib/azure-cortex/web-auth.db"
//! # tls_cert = "/etc/azure-cortex/tls.crt"  # PEM chain; with tls_key: HTTPS
//! # tls_key = "/etc/azure-cortex/tls.key"   # PEM private key
//! sandbox = false
//! worker = true            # run jobs in this process too
//! session_hours = 12
//! login_max_failures = 5
//! login_window_secs = 60
//! max_batch_rows = 1000
//! max_body_bytes = 2097152
//! local_users = true       # false: only single sign-on (keep a break-glass admin: docs/sso.md)
//!
//! [oidc]                   # single sign-on (docs/sso.md); env CORTEX_WEB_OIDC_*
//! issuer = "https://login.microsoftonline.com/<tenant id>/v2.0"
//! client_id = "<application (client) id>"
//! client_secret_file = "/etc/azure-cortex/oidc-client-secret"  # or CORTEX_WEB_OIDC_CLIENT_SECRET
//! redirect_url = "https://cortex.example.com/auth/oidc/callback"
//! # scopes = ["openid", "profile", "email"]
//! [oidc.groups]            # group object id = role
//! "<group object id>" = "operator"
//! [oidc.app_roles]         # app role value = role
//! "Cortex.Admin" = "admin"
//! max_connections = 1024   # open connections (plain or TLS); lowered to fit the open-file limit
//! header_read_timeout_secs = 10  # from a request's first byte (or TLS hello) to its last header
//! idle_timeout_secs = 60   # a connection with no request in flight and nothing sent is closed
//! token_days = 90          # API tokens: lifetime when the request names none…
//! token_max_days = 365     # …and the longest one may ask for
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// One source's settings; `None` = not set there.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebSettings {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub auth_database: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub sandbox: Option<bool>,
    pub worker: Option<bool>,
    pub session_hours: Option<u32>,
    pub login_max_failures: Option<u32>,
    pub login_window_secs: Option<u64>,
    pub max_batch_rows: Option<u32>,
    pub max_body_bytes: Option<usize>,
    /// Local users may sign in with a password (default true).
    pub local_users: Option<bool>,
    /// Single sign-on.
    pub oidc: Option<crate::auth::oidc::OidcSettings>,
    pub max_connections: Option<usize>,
    pub header_read_timeout_secs: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub token_days: Option<u32>,
    pub token_max_days: Option<u32>,
}

/// The environment variables read, one per [`WebSettings`] field.
pub const ENV_VARS: [&str; 18] = [
    "CORTEX_WEB_LISTEN",
    "CORTEX_WEB_DATA_DIR",
    "CORTEX_WEB_DATABASE_URL",
    "CORTEX_WEB_AUTH_DATABASE",
    "CORTEX_WEB_TLS_CERT",
    "CORTEX_WEB_TLS_KEY",
    "CORTEX_WEB_SANDBOX",
    "CORTEX_WEB_WORKER",
    "CORTEX_WEB_SESSION_HOURS",
    "CORTEX_WEB_LOGIN_MAX_FAILURES",
    "CORTEX_WEB_LOGIN_WINDOW_SECS",
    "CORTEX_WEB_MAX_BATCH_ROWS",
    "CORTEX_WEB_MAX_BODY_BYTES",
    "CORTEX_WEB_MAX_CONNECTIONS",
    "CORTEX_WEB_HEADER_READ_TIMEOUT_SECS",
    "CORTEX_WEB_IDLE_TIMEOUT_SECS",
    "CORTEX_WEB_TOKEN_DAYS",
    "CORTEX_WEB_TOKEN_MAX_DAYS",
];

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("{source_name}: cannot read: {message}")]
    Read {
        source_name: String,
        message: String,
    },
    #[error("{source_name}: {message}")]
    Parse {
        source_name: String,
        message: String,
    },
    #[error("{key}: {message}")]
    Invalid { key: &'static str, message: String },
}

impl WebSettings {
    /// Parses a TOML document (`source_name` names it in errors).
    pub fn from_toml(text: &str, source_name: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            source_name: source_name.to_owned(),
            message: e.message().to_owned(),
        })
    }

    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            source_name: name.clone(),
            message: e.to_string(),
        })?;
        Self::from_toml(&text, &name)
    }

    /// Reads `CORTEX_WEB_*` from `vars` (pass `std::env::vars()`); empty values are unset.
    pub fn from_env(vars: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let vars: HashMap<String, String> = vars
            .into_iter()
            .filter(|(k, v)| k.starts_with("CORTEX_WEB_") && !v.trim().is_empty())
            .collect();
        let known = |k: &str| ENV_VARS.contains(&k) || crate::auth::oidc::ENV_VARS.contains(&k);
        if let Some(unknown) = vars.keys().find(|k| !known(k.as_str())) {
            return Err(ConfigError::Parse {
                source_name: "environment".into(),
                message: format!(
                    "unknown variable {unknown} (known: {}, {})",
                    ENV_VARS.join(", "),
                    crate::auth::oidc::ENV_VARS.join(", ")
                ),
            });
        }
        fn get<T: std::str::FromStr>(
            vars: &HashMap<String, String>,
            key: &str,
        ) -> Result<Option<T>, ConfigError> {
            vars.get(key)
                .map(|v| {
                    v.trim().parse::<T>().map_err(|_| ConfigError::Parse {
                        source_name: "environment".into(),
                        message: format!("{key} has a value of the wrong type"),
                    })
                })
                .transpose()
        }
        let boolean = |key: &str| -> Result<Option<bool>, ConfigError> {
            vars.get(key)
                .map(|v| match v.trim().to_ascii_lowercase().as_str() {
                    "1" | "true" | "yes" | "on" => Ok(true),
                    "0" | "false" | "no" | "off" => Ok(false),
                    _ => Err(ConfigError::Parse {
                        source_name: "environment".into(),
                        message: format!("{key} must be true or false"),
                    }),
                })
                .transpose()
        };
        Ok(WebSettings {
            listen: get(&vars, "CORTEX_WEB_LISTEN")?,
            data_dir: get(&vars, "CORTEX_WEB_DATA_DIR")?,
            database_url: get(&vars, "CORTEX_WEB_DATABASE_URL")?,
            auth_database: get(&vars, "CORTEX_WEB_AUTH_DATABASE")?,
            tls_cert: get(&vars, "CORTEX_WEB_TLS_CERT")?,
            tls_key: get(&vars, "CORTEX_WEB_TLS_KEY")?,
            sandbox: boolean("CORTEX_WEB_SANDBOX")?,
            worker: boolean("CORTEX_WEB_WORKER")?,
            session_hours: get(&vars, "CORTEX_WEB_SESSION_HOURS")?,
            login_max_failures: get(&vars, "CORTEX_WEB_LOGIN_MAX_FAILURES")?,
            login_window_secs: get(&vars, "CORTEX_WEB_LOGIN_WINDOW_SECS")?,
            max_batch_rows: get(&vars, "CORTEX_WEB_MAX_BATCH_ROWS")?,
            max_body_bytes: get(&vars, "CORTEX_WEB_MAX_BODY_BYTES")?,
            local_users: boolean("CORTEX_WEB_LOCAL_USERS")?,
            oidc: crate::auth::oidc::OidcSettings::from_env(&vars),
            max_connections: get(&vars, "CORTEX_WEB_MAX_CONNECTIONS")?,
            header_read_timeout_secs: get(&vars, "CORTEX_WEB_HEADER_READ_TIMEOUT_SECS")?,
            idle_timeout_secs: get(&vars, "CORTEX_WEB_IDLE_TIMEOUT_SECS")?,
            token_days: get(&vars, "CORTEX_WEB_TOKEN_DAYS")?,
            token_max_days: get(&vars, "CORTEX_WEB_TOKEN_MAX_DAYS")?,
        })
    }

    /// `self` where set, else `lower`.
    pub fn over(self, lower: WebSettings) -> WebSettings {
        WebSettings {
            listen: self.listen.or(lower.listen),
            data_dir: self.data_dir.or(lower.data_dir),
            database_url: self.database_url.or(lower.database_url),
            auth_database: self.auth_database.or(lower.auth_database),
            tls_cert: self.tls_cert.or(lower.tls_cert),
            tls_key: self.tls_key.or(lower.tls_key),
            sandbox: self.sandbox.or(lower.sandbox),
            worker: self.worker.or(lower.worker),
            session_hours: self.session_hours.or(lower.session_hours),
            login_max_failures: self.login_max_failures.or(lower.login_max_failures),
            login_window_secs: self.login_window_secs.or(lower.login_window_secs),
            max_batch_rows: self.max_batch_rows.or(lower.max_batch_rows),
            max_body_bytes: self.max_body_bytes.or(lower.max_body_bytes),
            local_users: self.local_users.or(lower.local_users),
            oidc: match (self.oidc, lower.oidc) {
                (Some(a), Some(b)) => Some(a.over(b)),
                (a, b) => a.or(b),
            },
            max_connections: self.max_connections.or(lower.max_connections),
            header_read_timeout_secs: self
                .header_read_timeout_secs
                .or(lower.header_read_timeout_secs),
            idle_timeout_secs: self.idle_timeout_secs.or(lower.idle_timeout_secs),
            token_days: self.token_days.or(lower.token_days),
            token_max_days: self.token_max_days.or(lower.token_max_days),
        }
    }
}

/// TLS from PEM files.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The checked configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct WebConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// The engine's store (`sqlite://…` or `postgres://…`); `None`: SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// The users/sessions/tokens database (SQLite file).
    pub auth_database: PathBuf,
    pub tls: Option<TlsFiles>,
    pub sandbox: bool,
    /// Run a worker in this process (jobs submitted here start without a separate worker).
    pub worker: bool,
    pub session_ttl: Duration,
    pub login_max_failures: u32,
    pub login_window: Duration,
    pub max_batch_rows: u32,
    pub max_body_bytes: usize,
    /// Local users may sign in with a password.
    pub local_users: bool,
    /// Single sign-on, when configured.
    pub oidc: Option<crate::auth::oidc::OidcConfig>,
    /// Connection bounds of [`crate::serve`] ([`crate::conn`]).
    pub connections: crate::conn::Limits,
    /// API tokens: the lifetime when a request names none, and the longest allowed.
    pub token_default_ttl: Duration,
    pub token_max_ttl: Duration,
}

impl WebConfig {
    /// Merges flags over the environment over the file, applies defaults and checks.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        flags: WebSettings,
    ) -> Result<Self, ConfigError> {
        let file = match file {
            Some(p) => WebSettings::from_file(p)?,
            None => WebSettings::default(),
        };
        let env = WebSettings::from_env(env)?;
        Self::from_settings(flags.over(env).over(file))
    }

    /// Defaults for unset values, then checks.
    pub fn from_settings(s: WebSettings) -> Result<Self, ConfigError> {
        let data_dir = s
            .data_dir
            .unwrap_or_else(|| PathBuf::from("azure-cortex-data"));
        let tls = match (s.tls_cert, s.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::Invalid {
                    key: "tls_key",
                    message: "tls_cert is set: set tls_key too".into(),
                });
            }
            (None, Some(_)) => {
                return Err(ConfigError::Invalid {
                    key: "tls_cert",
                    message: "tls_key is set: set tls_cert too".into(),
                });
            }
        };
        let session_hours = s.session_hours.unwrap_or(12);
        if !(1..=720).contains(&session_hours) {
            return Err(ConfigError::Invalid {
                key: "session_hours",
                message: "must be 1-720".into(),
            });
        }
        let max_failures = s.login_max_failures.unwrap_or(5);
        if !(1..=1000).contains(&max_failures) {
            return Err(ConfigError::Invalid {
                key: "login_max_failures",
                message: "must be 1-1000".into(),
            });
        }
        let window = s.login_window_secs.unwrap_or(60);
        if !(1..=86_400).contains(&window) {
            return Err(ConfigError::Invalid {
                key: "login_window_secs",
                message: "must be 1-86400".into(),
            });
        }
        let rows = s.max_batch_rows.unwrap_or(1000);
        if !(1..=100_000).contains(&rows) {
            return Err(ConfigError::Invalid {
                key: "max_batch_rows",
                message: "must be 1-100000".into(),
            });
        }
        let body = s.max_body_bytes.unwrap_or(2 * 1024 * 1024);
        if !(1024..=256 * 1024 * 1024).contains(&body) {
            return Err(ConfigError::Invalid {
                key: "max_body_bytes",
                message: "must be 1 KiB - 256 MiB".into(),
            });
        }
        if let Some(url) = &s.database_url
            && !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
        {
            // The URL is not echoed: it may carry a password.
            return Err(ConfigError::Invalid {
                key: "database_url",
                message: "expected sqlite://PATH or postgres://…".into(),
            });
        }
        let max_connections = s.max_connections.unwrap_or(1024);
        if !(1..=1_000_000).contains(&max_connections) {
            return Err(ConfigError::Invalid {
                key: "max_connections",
                message: "must be 1-1000000".into(),
            });
        }
        let header_read = s.header_read_timeout_secs.unwrap_or(10);
        if !(1..=3600).contains(&header_read) {
            return Err(ConfigError::Invalid {
                key: "header_read_timeout_secs",
                message: "must be 1-3600".into(),
            });
        }
        let idle = s.idle_timeout_secs.unwrap_or(60);
        if !(1..=86_400).contains(&idle) {
            return Err(ConfigError::Invalid {
                key: "idle_timeout_secs",
                message: "must be 1-86400".into(),
            });
        }
        let token_max_days = s.token_max_days.unwrap_or(365);
        if !(1..=3650).contains(&token_max_days) {
            return Err(ConfigError::Invalid {
                key: "token_max_days",
                message: "must be 1-3650".into(),
            });
        }
        let token_days = s.token_days.unwrap_or(90.min(token_max_days));
        if !(1..=token_max_days).contains(&token_days) {
            return Err(ConfigError::Invalid {
                key: "token_days",
                message: format!("must be 1-{token_max_days} (token_max_days)"),
            });
        }
        let day = |d: u32| Duration::from_secs(u64::from(d) * 86_400);
        let sandbox = s.sandbox.unwrap_or(false);
        let oidc = s
            .oidc
            .map(crate::auth::oidc::OidcConfig::check)
            .transpose()?;
        let local_users = s.local_users.unwrap_or(true);
        if !local_users && oidc.is_none() {
            return Err(ConfigError::Invalid {
                key: "local_users",
                message: "is false but [oidc] is not configured: nobody could sign in".into(),
            });
        }
        Ok(WebConfig {
            listen: s
                .listen
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            auth_database: s
                .auth_database
                .unwrap_or_else(|| data_dir.join("web-auth.db")),
            data_dir,
            database_url: s.database_url,
            tls,
            sandbox,
            worker: s.worker.unwrap_or(true),
            session_ttl: Duration::from_secs(u64::from(session_hours) * 3600),
            login_max_failures: max_failures,
            login_window: Duration::from_secs(window),
            max_batch_rows: rows,
            max_body_bytes: body,
            local_users,
            oidc,
            connections: crate::conn::Limits {
                max_connections,
                header_read_timeout: Duration::from_secs(header_read),
                idle_timeout: Duration::from_secs(idle),
            },
            token_default_ttl: day(token_days),
            token_max_ttl: day(token_max_days),
        })
    }

    /// Defaults for `data_dir` (tests, embedding).
    pub fn for_data_dir(data_dir: &Path) -> Self {
        Self::from_settings(WebSettings {
            data_dir: Some(data_dir.to_owned()),
            ..WebSettings::default()
        })
        .expect("the defaults are valid")
    }

    /// The engine store's URL: the configured one, else SQLite in the data directory.
    pub fn store_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("cortex.db").display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn flags_beat_env_beat_file_beat_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("web.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nsession_hours = 2\nsandbox = true\nmax_batch_rows = 10\n",
        )
        .unwrap();
        let flags = WebSettings {
            listen: Some("127.0.0.1:9002".parse().unwrap()),
            ..WebSettings::default()
        };
        let c = WebConfig::load(
            Some(&file),
            env(&[
                ("CORTEX_WEB_LISTEN", "127.0.0.1:9001"),
                ("CORTEX_WEB_SESSION_HOURS", "3"),
                ("PATH", "/bin"),
            ]),
            flags,
        )
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:9002".parse().unwrap());
        assert_eq!(c.session_ttl, Duration::from_secs(3 * 3600));
        assert!(c.sandbox);
        assert_eq!(c.max_batch_rows, 10);
        assert_eq!(c.login_max_failures, 5);
        assert_eq!(
            c.auth_database,
            PathBuf::from("azure-cortex-data/web-auth.db")
        );
    }

    #[test]
    fn bad_values_are_named() {
        let e = WebSettings::from_toml("listen = 5\n", "web.toml").unwrap_err();
        assert!(matches!(e, ConfigError::Parse { .. }), "{e}");
        let e = WebSettings::from_toml("lisen = \"x\"\n", "web.toml").unwrap_err();
        assert!(e.to_string().contains("lisen"), "{e}");
        let e = WebSettings::from_env(env(&[("CORTEX_WEB_SANDBOX", "maybe")])).unwrap_err();
        assert!(e.to_string().contains("CORTEX_WEB_SANDBOX"), "{e}");
        let e = WebSettings::from_env(env(&[("CORTEX_WEB_PORT", "1")])).unwrap_err();
        assert!(e.to_string().contains("CORTEX_WEB_PORT"), "{e}");
        let e = WebConfig::from_settings(WebSettings {
            tls_cert: Some("c.pem".into()),
            ..WebSettings::default()
        })
        .unwrap_err();
        assert!(matches!(e, ConfigError::Invalid { key: "tls_key", .. }));
        let e = WebConfig::from_settings(WebSettings {
            database_url: Some("mysql://user:hunter2@db".into()),
            ..WebSettings::default()
        })
        .unwrap_err();
        assert!(!e.to_string().contains("hunter2"));
    }
}
