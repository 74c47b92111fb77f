//! Platform connections: named Prisma Cloud stacks or Cortex Cloud tenants with their keys, so
//! one engine can onboard into several tenants of either platform.
//!
//! * `default` is the Prisma Cloud connection the engine was started with (its
//!   [`crate::Engine::client`]; in sandbox mode the emulator). It is not stored and cannot be
//!   saved or deleted. In sandbox mode [`CORTEX_SANDBOX_CONNECTION`] is the emulator's Cortex
//!   Cloud face, beside it (also built in, never stored).
//! * Every other connection is stored as **one encrypted secret**: owner
//!   [`CONNECTION_OWNER`], name = the [`ConnectionName`], value = JSON `{platform, api_url,
//!   access_key_id, secret_key, key_type, saved_by, saved_at}` sealed like every store secret
//!   (XChaCha20-Poly1305, bound to owner and name). For Cortex Cloud, `access_key_id` holds the
//!   key's ID and `secret_key` the key. A value without `platform` was saved before Cortex Cloud
//!   existed and is a Prisma Cloud connection (read compat). Only the audit log
//!   (`connection.saved`, `.replaced`, `.deleted`, `.tested`) holds a connection's platform,
//!   name, URL and masked key id in plaintext.
//! * Outside input ([`RawConnection`]) is parsed once into a [`Connection`]: the platform
//!   (`prisma`, the default, or `cortex`), the name (lowercase letters, digits, `-`, 1–40
//!   characters, not a built-in one), then the platform's fields: for Prisma Cloud the URL (a
//!   stack name, host or URL as `prisma-client` parses it — plain http only to a loopback
//!   address), the access key id and the secret key; for Cortex Cloud the API URL, key id, key
//!   and key type ([`cortex`]). A field of the other platform is refused by name. Every bad
//!   field is named; no value is echoed.
//! * What is shown ([`ConnectionView`]) masks a Prisma access key id (its first 4 characters
//!   and `…`, only for ids of 8 characters or more), shows a Cortex key id (a small integer,
//!   the console's *ID* column) and shows the secret as `••••` whatever its length. `Debug` of
//!   every type here is masked the same way.
//! * A job names its connection in [`crate::OnboardingRequest::connection`]. The engine keeps
//!   one [`PrismaClient`] per Prisma connection (sessions and pacing are shared by its jobs),
//!   built with the same event hook as the default client, so API calls are job events whichever
//!   connection makes them. Each job reads the stored connection when it first needs the client
//!   and reuses the cached client only if it was built from the same values: a connection
//!   saved or deleted by another replica takes effect for the next job there too. Saving or
//!   deleting a connection here drops its cached client at once.
//! * [`crate::Engine::test_connection`] logs in with a fresh client (short retry budget) and
//!   reports ok or the client's own error message, which never holds a secret. A Cortex Cloud
//!   connection is tried for real ([`cortex::test`]): its key, then the onboarding API.

pub mod cortex;

use std::fmt;

use prisma_client::{BaseUrl, ClientConfig, Credentials, PrismaClient, RetryPolicy, Timeouts};
use prisma_types::{SecretString, ValidationError};
use serde::{Deserialize, Serialize};

use crate::request::{FieldError, RequestErrors};

pub use cortex::{ApiKey, ApiUrl, CortexConnection, KeyId, KeyType};

/// The store owner of every connection secret.
pub const CONNECTION_OWNER: &str = "prisma-connection";
/// The name of the engine's own connection (configured at start, never stored).
pub const DEFAULT_CONNECTION: &str = "default";
/// The name of the sandbox's built-in Cortex Cloud connection (the emulator's Cortex face).
pub const CORTEX_SANDBOX_CONNECTION: &str = "cortex-sandbox";
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
        if s == CORTEX_SANDBOX_CONNECTION {
            return Err(ValidationError::new(
                field,
                "'cortex-sandbox' names the sandbox's built-in Cortex Cloud connection; choose \
                 another name",
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

/// The platform a connection reaches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Prisma Cloud's CSPM API (access key id + secret key, JWT sessions).
    #[default]
    Prisma,
    /// Cortex Cloud's Cloud Onboarding API (API key id + key, standard or advanced).
    Cortex,
}

impl Platform {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "" | "prisma" => Ok(Self::Prisma),
            "cortex" => Ok(Self::Cortex),
            _ => Err("must be prisma or cortex".into()),
        }
    }

    /// `prisma` or `cortex`, as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prisma => "prisma",
            Self::Cortex => "cortex",
        }
    }

    /// "Prisma Cloud" or "Cortex Cloud".
    pub fn title(self) -> &'static str {
        match self {
            Self::Prisma => "Prisma Cloud",
            Self::Cortex => "Cortex Cloud",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated connection: its name and the platform it reaches with its key.
#[derive(Clone, Debug)]
pub struct Connection {
    pub name: ConnectionName,
    pub target: PlatformConnection,
}

/// Where a connection points and the key it uses, per platform.
#[derive(Clone, Debug)]
pub enum PlatformConnection {
    Prisma(PrismaConnection),
    Cortex(CortexConnection),
}

impl PlatformConnection {
    pub fn platform(&self) -> Platform {
        match self {
            Self::Prisma(_) => Platform::Prisma,
            Self::Cortex(_) => Platform::Cortex,
        }
    }

    /// The URL as shown.
    pub fn api_url(&self) -> String {
        match self {
            Self::Prisma(p) => p.api_url.to_string(),
            Self::Cortex(c) => c.api_url.to_string(),
        }
    }

    /// The key id as it may be shown (masked for Prisma, the integer for Cortex).
    pub fn shown_key_id(&self) -> String {
        match self {
            Self::Prisma(p) => mask_key_id(&p.access_key_id),
            Self::Cortex(c) => c.key.id.to_string(),
        }
    }
}

impl Connection {
    pub fn platform(&self) -> Platform {
        self.target.platform()
    }
}

/// A Prisma Cloud stack and the access key that reaches it.
#[derive(Clone)]
pub struct PrismaConnection {
    pub api_url: BaseUrl,
    pub access_key_id: String,
    pub secret_key: SecretString,
}

impl fmt::Debug for PrismaConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrismaConnection")
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
    /// `prisma` (also when absent: bodies written before Cortex Cloud) or `cortex`.
    pub platform: Option<String>,
    pub name: Option<String>,
    pub api_url: Option<String>,
    /// Prisma Cloud only.
    pub access_key_id: Option<String>,
    /// Prisma Cloud only.
    pub secret_key: Option<SecretString>,
    /// Cortex Cloud only: the key's ID (a JSON number or a string of digits).
    pub key_id: Option<KeyIdInput>,
    /// Cortex Cloud only.
    pub key: Option<SecretString>,
    /// Cortex Cloud only: `standard` or `advanced` (the default).
    pub key_type: Option<String>,
}

/// A Cortex key id as sent: `12` or `"12"`.
#[derive(Clone, Deserialize)]
#[serde(untagged)]
pub enum KeyIdInput {
    Number(u64),
    Text(String),
}

impl KeyIdInput {
    fn text(&self) -> String {
        match self {
            Self::Number(n) => n.to_string(),
            Self::Text(s) => s.clone(),
        }
    }
}

impl From<&str> for KeyIdInput {
    fn from(s: &str) -> Self {
        Self::Text(s.to_owned())
    }
}

/// Shows which fields were given, not their values: unvalidated input may hold anything (a
/// secret pasted into the wrong field).
impl fmt::Debug for RawConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let given = |v: bool| if v { "given" } else { "absent" };
        f.debug_struct("RawConnection")
            .field("platform", &given(self.platform.is_some()))
            .field("name", &given(self.name.is_some()))
            .field("api_url", &given(self.api_url.is_some()))
            .field("access_key_id", &given(self.access_key_id.is_some()))
            .field("secret_key", &given(self.secret_key.is_some()))
            .field("key_id", &given(self.key_id.is_some()))
            .field("key", &given(self.key.is_some()))
            .field("key_type", &given(self.key_type.is_some()))
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
        let platform = match Platform::parse(self.platform.as_deref().unwrap_or_default()) {
            Ok(p) => p,
            Err(message) => {
                fail("platform", message);
                return Err(RequestErrors { errors });
            }
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
        let target = match platform {
            Platform::Prisma => {
                for (field, given) in [
                    ("key_id", self.key_id.is_some()),
                    ("key", self.key.is_some()),
                    ("key_type", self.key_type.is_some()),
                ] {
                    if given {
                        fail(
                            field,
                            "applies to Cortex Cloud connections (platform cortex); a Prisma \
                             Cloud connection takes access_key_id and secret_key"
                                .into(),
                        );
                    }
                }
                self.prisma(&mut fail).map(PlatformConnection::Prisma)
            }
            Platform::Cortex => {
                for (field, given) in [
                    ("access_key_id", self.access_key_id.is_some()),
                    ("secret_key", self.secret_key.is_some()),
                ] {
                    if given {
                        fail(
                            field,
                            "applies to Prisma Cloud connections; a Cortex Cloud connection \
                             takes key_id, key and key_type"
                                .into(),
                        );
                    }
                }
                self.cortex(&mut fail).map(PlatformConnection::Cortex)
            }
        };
        match (name, target) {
            (Some(name), Some(target)) if errors.is_empty() => Ok(Connection { name, target }),
            _ => Err(RequestErrors { errors }),
        }
    }

    fn prisma(&self, fail: &mut impl FnMut(&str, String)) -> Option<PrismaConnection> {
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
        Some(PrismaConnection {
            api_url: api_url?,
            access_key_id: access_key_id?,
            secret_key: secret_key?,
        })
    }

    fn cortex(&self, fail: &mut impl FnMut(&str, String)) -> Option<CortexConnection> {
        cortex::parse(
            self.api_url.as_deref(),
            self.key_id.as_ref().map(KeyIdInput::text).as_deref(),
            self.key.as_ref(),
            self.key_type.as_deref(),
            fail,
        )
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

/// A connection as it may be shown: never the secret, a Prisma access key id masked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConnectionView {
    pub name: String,
    pub platform: Platform,
    /// True for the engine's own connections (`default`, and `cortex-sandbox` in the sandbox).
    pub default: bool,
    /// Where it points (empty when the stored value cannot be read).
    pub api_url: String,
    /// Prisma Cloud: masked (see [`mask_key_id`]); Cortex Cloud: empty.
    pub access_key_id: String,
    /// Cortex Cloud: the key's ID (the console's ID column, not a secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Cortex Cloud: `standard` or `advanced`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_type: Option<KeyType>,
    /// Always [`SECRET_PLACEHOLDER`].
    pub secret_key: String,
    /// For built-in ones: "sandbox emulator" or "the server's configured connection"; for
    /// saved ones, who saved them and when.
    pub description: String,
    /// Set when the stored value could not be read (e.g. encrypted under a key that is no
    /// longer in the keyring).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl ConnectionView {
    /// How `target` is shown under `name`.
    pub(crate) fn of(
        name: &str,
        default: bool,
        target: &PlatformConnection,
        description: String,
    ) -> Self {
        let (access_key_id, key_id, key_type) = match target {
            PlatformConnection::Prisma(p) => (mask_key_id(&p.access_key_id), None, None),
            PlatformConnection::Cortex(c) => {
                (String::new(), Some(c.key.id.to_string()), Some(c.key.kind))
            }
        };
        ConnectionView {
            name: name.to_owned(),
            platform: target.platform(),
            default,
            api_url: target.api_url(),
            access_key_id,
            key_id,
            key_type,
            secret_key: SECRET_PLACEHOLDER.into(),
            description,
            problem: None,
        }
    }

    /// A saved connection whose stored value cannot be used, and why.
    pub(crate) fn unreadable(name: &str, platform: Platform, problem: String) -> Self {
        ConnectionView {
            name: name.to_owned(),
            platform,
            default: false,
            api_url: String::new(),
            access_key_id: String::new(),
            key_id: None,
            key_type: None,
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

/// The stored JSON (inside the encrypted secret). For Cortex Cloud, `access_key_id` is the
/// key's ID and `secret_key` the key.
#[derive(Serialize, Deserialize)]
pub(crate) struct Stored {
    /// Absent in values saved before Cortex Cloud: those are Prisma Cloud connections.
    #[serde(default)]
    pub platform: Platform,
    pub api_url: String,
    pub access_key_id: String,
    pub secret_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_type: Option<KeyType>,
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
        let (api_url, access_key_id, secret_key, key_type) = match &connection.target {
            PlatformConnection::Prisma(p) => (
                p.api_url.to_string(),
                p.access_key_id.clone(),
                p.secret_key.expose().to_owned(),
                None,
            ),
            PlatformConnection::Cortex(c) => (
                c.api_url.to_string(),
                c.key.id.to_string(),
                c.key.key.expose().to_owned(),
                Some(c.key.kind),
            ),
        };
        let stored = Stored {
            platform: connection.platform(),
            api_url,
            access_key_id,
            secret_key,
            key_type,
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
        let target = match self.platform {
            Platform::Prisma => PlatformConnection::Prisma(PrismaConnection {
                api_url: BaseUrl::parse(&self.api_url, false).map_err(url_problem)?,
                access_key_id: self.access_key_id.clone(),
                secret_key: SecretString::from(self.secret_key.as_str()),
            }),
            Platform::Cortex => PlatformConnection::Cortex(CortexConnection {
                api_url: ApiUrl::parse(&self.api_url)
                    .map_err(|e| format!("stored api_url {}", e.message))?,
                key: ApiKey {
                    id: self
                        .access_key_id
                        .parse::<KeyId>()
                        .map_err(|e| format!("stored key_id {}", e.message))?,
                    key: SecretString::from(self.secret_key.as_str()),
                    kind: self.key_type.unwrap_or_default(),
                },
            }),
        };
        Ok(Connection {
            name: name.clone(),
            target,
        })
    }

    /// The description of a saved connection: who saved it and when.
    pub(crate) fn description(&self) -> String {
        match (self.saved_by.as_str(), self.saved_at.as_str()) {
            ("", _) => "saved".into(),
            (by, "") => format!("saved by {by}"),
            (by, at) => format!("saved by {by} at {at}"),
        }
    }
}

impl fmt::Debug for Stored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stored")
            .field("platform", &self.platform)
            .field("api_url", &self.api_url)
            .field("access_key_id", &mask_key_id(&self.access_key_id))
            .field("secret_key", &"[REDACTED]")
            .finish()
    }
}

/// The client configuration for `connection`: the default client's timeouts, retries, pacing
/// and extra CA, with the connection's URL and key.
pub(crate) fn client_config(base: &ClientConfig, connection: &PrismaConnection) -> ClientConfig {
    let mut config = base.clone();
    config.base_url = connection.api_url.clone();
    config.credentials = Credentials::new(
        connection.access_key_id.clone(),
        connection.secret_key.clone(),
    );
    config
}

/// Tests a Cortex Cloud connection (see [`cortex::test`]).
pub(crate) async fn test_cortex(
    connection: &CortexConnection,
    extra_ca_pem: Option<String>,
) -> ConnectionTest {
    cortex::test(connection, extra_ca_pem).await
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
pub(crate) fn built_from(client: &PrismaClient, connection: &PrismaConnection) -> bool {
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
            ..RawConnection::default()
        }
    }

    fn cortex_raw() -> RawConnection {
        RawConnection {
            platform: Some("cortex".into()),
            name: Some("cortex-prod".into()),
            api_url: Some("https://acme.xdr.us.paloaltonetworks.com".into()),
            key_id: Some(KeyIdInput::Number(42)),
            key: Some(SecretString::from("CANARY-CORTEX-KEY-7q-0123")),
            key_type: Some("standard".into()),
            ..RawConnection::default()
        }
    }

    fn prisma(c: &Connection) -> &PrismaConnection {
        match &c.target {
            PlatformConnection::Prisma(p) => p,
            other => panic!("not a Prisma connection: {other:?}"),
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
        assert_eq!(c.platform(), Platform::Prisma);
        assert_eq!(
            prisma(&c).api_url.to_string(),
            "https://api.eu.prismacloud.io"
        );
        let c = RawConnection {
            api_url: Some("http://127.0.0.1:8443".into()),
            ..raw()
        }
        .validate()
        .unwrap();
        assert_eq!(prisma(&c).api_url.to_string(), "http://127.0.0.1:8443");
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
        assert_eq!(prisma(&back).secret_key.expose(), "CANARY-SECRET-Kx9");
        assert_eq!(prisma(&back).api_url, prisma(&c).api_url);
        let e = Stored::open(&c.name, &SecretString::from("CANARY-not-json")).unwrap_err();
        assert!(!e.contains("CANARY"), "{e}");
    }

    #[test]
    fn a_cortex_connection_takes_its_own_fields_and_names_the_bad_ones() {
        let c = cortex_raw().validate().unwrap();
        assert_eq!(c.platform(), Platform::Cortex);
        let PlatformConnection::Cortex(cortex) = &c.target else {
            panic!("not cortex")
        };
        // The console URL became the API origin.
        assert_eq!(
            cortex.api_url.as_str(),
            "https://api-acme.xdr.us.paloaltonetworks.com"
        );
        assert_eq!(cortex.key.id.get(), 42);
        assert_eq!(cortex.key.kind, KeyType::Standard);
        // A key id may come as a string; the key type defaults to advanced.
        let c = RawConnection {
            key_id: Some("7".into()),
            key_type: None,
            ..cortex_raw()
        }
        .validate()
        .unwrap();
        let PlatformConnection::Cortex(cortex) = &c.target else {
            panic!("not cortex")
        };
        assert_eq!(
            (cortex.key.id.get(), cortex.key.kind),
            (7, KeyType::Advanced)
        );

        let e = RawConnection {
            platform: Some("cortex".into()),
            ..RawConnection::default()
        }
        .validate()
        .unwrap_err();
        let fields: Vec<_> = e.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "api_url", "key_id", "key"]);

        let e = RawConnection {
            key_id: Some("CANARY-CORTEX-KEY-7q-0123".into()),
            key_type: Some("CANARY-type".into()),
            secret_key: Some(SecretString::from("CANARY-prisma-secret")),
            ..cortex_raw()
        }
        .validate()
        .unwrap_err();
        let fields: Vec<_> = e.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["secret_key", "key_id", "key_type"], "{e}");
        assert!(!e.to_string().contains("CANARY"), "{e}");

        // Cortex fields on a Prisma connection are named, not ignored.
        let e = RawConnection {
            key: Some(SecretString::from("CANARY-CORTEX-KEY-7q-0123")),
            ..raw()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.errors[0].field, "key");
        let e = RawConnection {
            platform: Some("aws".into()),
            ..raw()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.errors[0].field, "platform");
        assert!(ConnectionName::parse(CORTEX_SANDBOX_CONNECTION).is_err());
    }

    #[test]
    fn cortex_connections_are_sealed_whole_and_old_values_read_as_prisma() {
        let c = cortex_raw().validate().unwrap();
        let sealed = Stored::seal(&c, "web:alice");
        let stored = Stored::open(&c.name, &sealed).unwrap();
        assert!(!format!("{stored:?}").contains("CANARY"));
        let back = stored.connection(&c.name).unwrap();
        let PlatformConnection::Cortex(cortex) = &back.target else {
            panic!("not cortex")
        };
        assert_eq!(cortex.key.key.expose(), "CANARY-CORTEX-KEY-7q-0123");
        assert_eq!(cortex.key.kind, KeyType::Standard);
        let view = ConnectionView::of("cortex-prod", false, &back.target, String::new());
        let shown = serde_json::to_string(&view).unwrap();
        assert!(!shown.contains("CANARY"), "{shown}");
        assert_eq!(view.key_id.as_deref(), Some("42"));
        assert_eq!(view.platform, Platform::Cortex);

        // What `seal` wrote before platforms existed.
        let name = ConnectionName::parse("old").unwrap();
        let old = SecretString::from(
            r#"{"api_url":"https://api.eu.prismacloud.io","access_key_id":"AKIDEXAMPLE123","secret_key":"s","saved_by":"cli","saved_at":""}"#,
        );
        let back = Stored::open(&name, &old)
            .unwrap()
            .connection(&name)
            .unwrap();
        assert_eq!(back.platform(), Platform::Prisma);
        assert_eq!(prisma(&back).access_key_id, "AKIDEXAMPLE123");
    }
}
