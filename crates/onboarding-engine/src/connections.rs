//! Prisma Cloud connections: named stacks with their access keys, so one engine can onboard
//! into several Prisma Cloud tenants.
//!
//! * `default` is the connection the engine was started with (its [`crate::Engine::client`]; in
//!   sandbox mode the emulator). It is not stored and cannot be saved or deleted.
//! * Every other connection is stored as **one encrypted secret**: owner
//!   [`CONNECTION_OWNER`], name = the [`ConnectionName`], value = JSON `{api_url,
//!   access_key_id, secret_key, saved_by, saved_at}` sealed like every store secret
//!   (XChaCha20-Poly1305, bound to owner and name). Only the audit log (`connection.saved`,
//!   `.replaced`, `.deleted`, `.tested`) holds a connection's name, URL and masked key id in
//!   plaintext.
//! * Outside input ([`RawConnection`]) is parsed once into a [`Connection`]: the name (lowercase
//!   letters, digits, `-`, 1–40 characters, not `default`), the URL (a stack name, host or URL
//!   as `prisma-client` parses it — plain http only to a loopback address), the access key id
//!   and the secret key. Every bad field is named; no value is echoed.
//! * What is shown ([`ConnectionView`]) masks the access key id (its first 4 characters and
//!   `…`, only for ids of 8 characters or more) and shows the secret as `••••` whatever its
//!   length. `Debug` of every type here is masked the same way.
//! * A job names its connection in [`crate::OnboardingRequest::connection`]. The engine keeps
//!   one [`PrismaClient`] per connection (sessions and pacing are shared by its jobs), built with
//!   the same event hook as the default client, so API calls are job events whichever
//!   connection makes them. Each job reads the stored connection when it first needs the client
//!   and reuses the cached client only if it was built from the same values: a connection
//!   saved or deleted by another replica takes effect for the next job there too. Saving or
//!   deleting a connection here drops its cached client at once.
//! * [`crate::Engine::test_connection`] logs in with a fresh client (short retry budget) and
//!   reports ok or the client's own error message, which never holds a secret.

use std::fmt;

use prisma_client::{BaseUrl, ClientConfig, Credentials, PrismaClient, RetryPolicy, Timeouts};
use prisma_types::{SecretString, ValidationError};
use serde::{Deserialize, Serialize};

use crate::request::{FieldError, RequestErrors};

/// The store owner of every connection secret.
pub const CONNECTION_OWNER: &str = "prisma-connection";
/// The name of the engine's own connection (configured at start, never stored).
pub const DEFAULT_CONNECTION: &str = "default";
/// What is shown instead of a secret key (the same whatever its length).
pub const SECRET_PLACEHOLDER: &str = "••••";

const MAX_NAME: usize = 40;
const MAX_KEY_ID: usize = 200;
const MAX_SECRET: usize = 1000;

/// The name of a saved connection: lowercase ASCII letters, digits and `-`, 1–40 characters,
/// and not `default` (the engine's own connection).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConnectionName(String);

impl ConnectionName {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        Self::parse_as("name", raw)
    }

    /// [`Self::parse`], naming `field` in the error.
    pub fn parse_as(field: &str, raw: &str) -> Result<Self, ValidationError> {
        let s = raw.trim();
        if s.is_empty() || s.chars().count() > MAX_NAME {
            return Err(ValidationError::new(
                field,
                format!("must be 1-{MAX_NAME} characters"),
            ));
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(ValidationError::new(
                field,
                "may hold only lowercase letters a-z, digits and '-'",
            ));
        }
        if s == DEFAULT_CONNECTION {
            return Err(ValidationError::new(
                field,
                "'default' names the server's configured connection; choose another name",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ConnectionName {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value).map_err(|e| format!("connection {}", e.message))
    }
}

impl From<ConnectionName> for String {
    fn from(name: ConnectionName) -> String {
        name.0
    }
}

impl fmt::Display for ConnectionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ConnectionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnectionName({})", self.0)
    }
}

/// An access key id as it may be shown: the first 4 characters and `…` for ids of 8
/// characters or more, only `…` for shorter ones (4 characters would be most of them).
pub fn mask_key_id(id: &str) -> String {
    if id.chars().count() >= 8 {
        format!("{}…", id.chars().take(4).collect::<String>())
    } else {
        "…".to_owned()
    }
}

/// A validated connection.
#[derive(Clone)]
pub struct Connection {
    pub name: ConnectionName,
    pub api_url: BaseUrl,
    pub access_key_id: String,
    pub secret_key: SecretString,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("name", &self.name.as_str())
            .field("api_url", &self.api_url.to_string())
            .field("access_key_id", &mask_key_id(&self.access_key_id))
            .field("secret_key", &self.secret_key)
            .finish()
    }
}

/// A connection as it arrives (API body, page form): every field optional so that a missing
/// one is named rather than failing deserialization.
#[derive(Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawConnection {
    pub name: Option<String>,
    pub api_url: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_key: Option<SecretString>,
}

/// Shows which fields were given, not their values: unvalidated input may hold anything (a
/// secret pasted into the wrong field).
impl fmt::Debug for RawConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let given = |v: bool| if v { "given" } else { "absent" };
        f.debug_struct("RawConnection")
            .field("name", &given(self.name.is_some()))
            .field("api_url", &given(self.api_url.is_some()))
            .field("access_key_id", &given(self.access_key_id.is_some()))
            .field("secret_key", &given(self.secret_key.is_some()))
            .finish()
    }
}

impl RawConnection {
    /// Checks every field; returns all problems at once, each naming its field.
    pub fn validate(&self) -> Result<Connection, RequestErrors> {
        let mut errors = Vec::new();
        let mut fail = |field: &str, message: String| {
            errors.push(FieldError {
                field: field.to_owned(),
                message,
            })
        };
        let name = match self.name.as_deref() {
            None => {
                fail("name", "is required".into());
                None
            }
            Some(raw) => ConnectionName::parse(raw)
                .map_err(|e| fail("name", e.message))
                .ok(),
        };
        let api_url = match self.api_url.as_deref() {
            None => {
                fail(
                    "api_url",
                    "is required: a stack name (api2, eu, …), a host or a URL".into(),
                );
                None
            }
            Some(raw) => BaseUrl::parse(raw, false)
                .map_err(|e| fail("api_url", url_problem(e)))
                .ok(),
        };
        let access_key_id = match self.access_key_id.as_deref().map(str::trim) {
            None | Some("") => {
                fail("access_key_id", "is required".into());
                None
            }
            Some(id)
                if id.chars().count() > MAX_KEY_ID
                    || id.chars().any(|c| c.is_control() || c.is_whitespace()) =>
            {
                fail(
                    "access_key_id",
                    format!("must be 1-{MAX_KEY_ID} characters without spaces"),
                );
                None
            }
            Some(id) => Some(id.to_owned()),
        };
        let secret_key = match &self.secret_key {
            None => {
                fail("secret_key", "is required".into());
                None
            }
            Some(s) if s.expose().trim().is_empty() => {
                fail("secret_key", "is required".into());
                None
            }
            Some(s)
                if s.expose().trim().chars().count() > MAX_SECRET
                    || s.expose().chars().any(char::is_control) =>
            {
                fail(
                    "secret_key",
                    format!("must be at most {MAX_SECRET} characters, without control characters"),
                );
                None
            }
            Some(s) => Some(SecretString::from(s.expose().trim())),
        };
        match (name, api_url, access_key_id, secret_key) {
            (Some(name), Some(api_url), Some(access_key_id), Some(secret_key))
                if errors.is_empty() =>
            {
                Ok(Connection {
                    name,
                    api_url,
                    access_key_id,
                    secret_key,
                })
            }
            _ => Err(RequestErrors { errors }),
        }
    }
}

/// The client's URL error without its "configuration: api_url" prefix, and without the
/// parts of the input it quotes (`unsupported scheme '…'`): input is never echoed.
fn url_problem(e: prisma_client::Error) -> String {
    let message = match e {
        prisma_client::Error::Config { message, .. } => message,
        other => other.to_string(),
    };
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        match (c, quoted) {
            ('\'', false) => {
                out.push_str("'…");
                quoted = true;
            }
            ('\'', true) => {
                out.push('\'');
                quoted = false;
            }
            (c, false) => out.push(c),
            (_, true) => {}
        }
    }
    out
}

/// A connection as it may be shown: never the secret, the access key id masked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConnectionView {
    pub name: String,
    /// True for the engine's own connection (`default`).
    pub default: bool,
    /// Where it points (empty when the stored value cannot be read).
    pub api_url: String,
    /// Masked: see [`mask_key_id`].
    pub access_key_id: String,
    /// Always [`SECRET_PLACEHOLDER`].
    pub secret_key: String,
    /// For `default`: "sandbox emulator" or "the server's configured connection"; for saved
    /// ones, who saved them and when.
    pub description: String,
    /// Set when the stored value could not be read (e.g. encrypted under a key that is no
    /// longer in the keyring).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl ConnectionView {
    /// A saved connection whose stored value cannot be used, and why.
    pub(crate) fn unreadable(name: &ConnectionName, problem: String) -> Self {
        ConnectionView {
            name: name.to_string(),
            default: false,
            api_url: String::new(),
            access_key_id: String::new(),
            secret_key: SECRET_PLACEHOLDER.into(),
            description: String::new(),
            problem: Some(problem),
        }
    }
}

/// The outcome of [`crate::Engine::test_connection`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConnectionTest {
    pub ok: bool,
    /// What happened, safe to show (the client's own message on failure).
    pub message: String,
}

/// The stored JSON (inside the encrypted secret).
#[derive(Serialize, Deserialize)]
pub(crate) struct Stored {
    pub api_url: String,
    pub access_key_id: String,
    pub secret_key: String,
    #[serde(default)]
    pub saved_by: String,
    #[serde(default)]
    pub saved_at: String,
}

impl Stored {
    pub(crate) fn seal(connection: &Connection, actor: &str) -> SecretString {
        let saved_at = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let stored = Stored {
            api_url: connection.api_url.to_string(),
            access_key_id: connection.access_key_id.clone(),
            secret_key: connection.secret_key.expose().to_owned(),
            saved_by: actor.to_owned(),
            saved_at,
        };
        SecretString::from(serde_json::to_string(&stored).expect("plain strings serialize"))
    }

    /// The stored value back; `None` if it is not what [`Self::seal`] writes (the message says
    /// so without quoting it).
    pub(crate) fn open(name: &ConnectionName, value: &SecretString) -> Result<Self, String> {
        let stored: Stored = serde_json::from_str(value.expose())
            .map_err(|_| format!("the stored value of connection {name} is not readable"))?;
        Ok(stored)
    }

    pub(crate) fn connection(&self, name: &ConnectionName) -> Result<Connection, String> {
        Ok(Connection {
            name: name.clone(),
            api_url: BaseUrl::parse(&self.api_url, false).map_err(url_problem)?,
            access_key_id: self.access_key_id.clone(),
            secret_key: SecretString::from(self.secret_key.as_str()),
        })
    }
}

impl fmt::Debug for Stored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stored")
            .field("api_url", &self.api_url)
            .field("access_key_id", &mask_key_id(&self.access_key_id))
            .field("secret_key", &"[REDACTED]")
            .finish()
    }
}

/// The client configuration for `connection`: the default client's timeouts, retries, pacing
/// and extra CA, with the connection's URL and key.
pub(crate) fn client_config(base: &ClientConfig, connection: &Connection) -> ClientConfig {
    let mut config = base.clone();
    config.base_url = connection.api_url.clone();
    config.credentials = Credentials::new(
        connection.access_key_id.clone(),
        connection.secret_key.clone(),
    );
    config
}

/// A configuration for a connection test: one login, answered within seconds.
pub(crate) fn test_config(mut config: ClientConfig) -> ClientConfig {
    config.timeouts = Timeouts {
        connect: config
            .timeouts
            .connect
            .min(std::time::Duration::from_secs(5)),
        request: config
            .timeouts
            .request
            .min(std::time::Duration::from_secs(20)),
    };
    config.retry = RetryPolicy {
        max_attempts: config.retry.max_attempts.min(3),
        max_delay: config
            .retry
            .max_delay
            .min(std::time::Duration::from_secs(2)),
        max_retry_after: config
            .retry
            .max_retry_after
            .min(std::time::Duration::from_secs(5)),
        call_deadline: config
            .retry
            .call_deadline
            .min(std::time::Duration::from_secs(30)),
        ..config.retry
    };
    config
}

/// Is `client` built from exactly `connection`'s values?
pub(crate) fn built_from(client: &PrismaClient, connection: &Connection) -> bool {
    let config = client.config();
    config.base_url == connection.api_url
        && config.credentials.access_key_id == connection.access_key_id
        && config.credentials.secret_key == connection.secret_key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawConnection {
        RawConnection {
            name: Some("eu-prod".into()),
            api_url: Some("eu".into()),
            access_key_id: Some("AKIDEXAMPLE123".into()),
            secret_key: Some(SecretString::from("CANARY-SECRET-Kx9")),
        }
    }

    #[test]
    fn names_are_lowercase_letters_digits_and_dashes() {
        for ok in ["a", "eu-prod", "api2", "x-1-y", &"a".repeat(40)] {
            assert_eq!(ConnectionName::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(ConnectionName::parse("  eu \n").unwrap().as_str(), "eu");
        for bad in [
            "",
            " ",
            "EU",
            "eu_prod",
            "eu prod",
            "é",
            "default",
            &"a".repeat(41),
        ] {
            let e = ConnectionName::parse(bad).unwrap_err();
            assert_eq!(e.field, "name", "{bad}");
        }
        assert!(
            ConnectionName::parse("default")
                .unwrap_err()
                .message
                .contains("server's configured")
        );
        // Stored names go through the same check.
        assert!(serde_json::from_str::<ConnectionName>("\"Bad\"").is_err());
        let n: ConnectionName = serde_json::from_str("\"ok-1\"").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"ok-1\"");
    }

    #[test]
    fn a_connection_validates_every_field_and_reuses_the_clients_url_rules() {
        let c = raw().validate().unwrap();
        assert_eq!(c.api_url.to_string(), "https://api.eu.prismacloud.io");
        let c = RawConnection {
            api_url: Some("http://127.0.0.1:8443".into()),
            ..raw()
        }
        .validate()
        .unwrap();
        assert_eq!(c.api_url.to_string(), "http://127.0.0.1:8443");
        let e = RawConnection {
            api_url: Some("http://api.prismacloud.io".into()),
            ..raw()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.errors[0].field, "api_url");
        assert!(e.errors[0].message.contains("plain http"), "{e}");

        let e = RawConnection::default().validate().unwrap_err();
        let fields: Vec<_> = e.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "api_url", "access_key_id", "secret_key"]);

        let e = RawConnection {
            api_url: Some("CANARY-SCHEME://x".into()),
            ..raw()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.errors[0].message, "unsupported scheme '…'");

        let e = RawConnection {
            name: Some("Default".into()),
            access_key_id: Some("has space".into()),
            secret_key: Some(SecretString::from("   ")),
            ..raw()
        }
        .validate()
        .unwrap_err();
        let fields: Vec<_> = e.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "access_key_id", "secret_key"]);
    }

    #[test]
    fn nothing_shows_the_secret_or_the_whole_key_id() {
        let c = raw().validate().unwrap();
        let sealed = Stored::seal(&c, "web:alice");
        for text in [
            format!("{c:?}"),
            format!("{:?}", raw()),
            format!("{sealed:?}"),
            format!("{:?}", Stored::open(&c.name, &sealed).unwrap()),
        ] {
            assert!(!text.contains("CANARY-SECRET-Kx9"), "{text}");
            assert!(!text.contains("AKIDEXAMPLE123"), "{text}");
        }
        assert_eq!(mask_key_id("AKIDEXAMPLE123"), "AKID…");
        assert_eq!(mask_key_id("short"), "…");
        assert_eq!(mask_key_id("12345678"), "1234…");
        let back = Stored::open(&c.name, &sealed)
            .unwrap()
            .connection(&c.name)
            .unwrap();
        assert_eq!(back.secret_key.expose(), "CANARY-SECRET-Kx9");
        assert_eq!(back.api_url, c.api_url);
        let e = Stored::open(&c.name, &SecretString::from("CANARY-not-json")).unwrap_err();
        assert!(!e.contains("CANARY"), "{e}");
    }
}
