//! The fields of a Cortex Cloud connection, parsed once at the edge.
//!
//! * [`CortexApiUrl`]: the tenant's API origin `https://api-{fqdn}` (what the console's *Copy
//!   API URL* gives). A console URL or host (`https://tenant.xdr.us.paloaltonetworks.com`) is
//!   turned into its API origin by prefixing `api-`, as the fact sheet's rule says; a path,
//!   query or fragment is refused (the onboarding paths are the client's business). Plain
//!   http only to a loopback address (the emulator).
//! * [`CortexKeyId`]: the *ID* column of the console's API Keys table — a positive integer
//!   (`x-xdr-auth-id`). Not a secret; shown in full.
//! * [`CortexKeyType`]: `standard` (the key travels in `Authorization`) or `advanced` (only
//!   SHA-256(key + nonce + timestamp) travels). The official SDK's default is `advanced`, and
//!   so is ours when the field is absent.
//!
//! The key itself is a [`SecretString`]: it is stored encrypted and never shown.

use std::fmt;
use std::net::IpAddr;

use prisma_types::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

/// The API origin of a Cortex Cloud tenant: scheme, host and port, nothing else.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CortexApiUrl(Url);

impl CortexApiUrl {
    /// Accepts `https://api-…`, a console URL or a bare host; the message says what is wrong
    /// without quoting the input.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim().trim_end_matches('/');
        if s.is_empty() {
            return Err(
                "is empty; give the API URL from Settings → Configurations → API Keys → \
                        Copy API URL (https://api-<tenant>.xdr.<region>.paloaltonetworks.com)"
                    .into(),
            );
        }
        let with_scheme = if s.contains("://") {
            s.to_owned()
        } else {
            format!("https://{s}")
        };
        let mut url = Url::parse(&with_scheme).map_err(|_| {
            "is not a URL; give https://api-<tenant>.xdr.<region>.paloaltonetworks.com".to_owned()
        })?;
        let host = url.host_str().unwrap_or_default().to_owned();
        if host.is_empty() {
            return Err("has no host".into());
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(
                "must be the bare API origin (no path, query or fragment), as Copy API URL gives it"
                    .into(),
            );
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry a user name or password".into());
        }
        let loopback = is_loopback(&host);
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => {
                return Err("must use https (plain http only to a loopback address)".into());
            }
            _ => return Err("must use https".into()),
        }
        if !loopback && !host.starts_with("api-") && host.contains('.') {
            // The console URL was pasted: tenant.xdr.us… → api-tenant.xdr.us…
            url.set_host(Some(&format!("api-{host}")))
                .map_err(|_| "has a host that cannot take the api- prefix".to_owned())?;
        }
        Ok(Self(url))
    }

    /// The origin, without a trailing slash (`https://api-x.xdr.us.paloaltonetworks.com`).
    pub fn as_str(&self) -> &str {
        self.0.as_str().trim_end_matches('/')
    }

    pub fn url(&self) -> &Url {
        &self.0
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl fmt::Display for CortexApiUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CortexApiUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CortexApiUrl({})", self.as_str())
    }
}

/// The API key's ID (`x-xdr-auth-id`): a positive integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CortexKeyId(u64);

impl CortexKeyId {
    /// Decimal digits only, at most 12 of them, not 0.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        if s.is_empty() {
            return Err("is required: the ID column of the API Keys table".into());
        }
        if s.len() > 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(
                "must be the key's ID, a whole number (the ID column of the API Keys table)".into(),
            );
        }
        match s.parse::<u64>() {
            Ok(0) | Err(_) => Err("must be a whole number greater than 0".into()),
            Ok(n) => Ok(Self(n)),
        }
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for CortexKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The key's security level, chosen when it was created in the console.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CortexKeyType {
    Standard,
    #[default]
    Advanced,
}

impl CortexKeyType {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "standard" => Ok(Self::Standard),
            "advanced" => Ok(Self::Advanced),
            _ => Err("must be standard or advanced (the key's Security Level)".into()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Advanced => "advanced",
        }
    }
}

impl fmt::Display for CortexKeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Cortex Cloud tenant and the API key that reaches it.
#[derive(Clone)]
pub struct CortexConnection {
    pub api_url: CortexApiUrl,
    pub key_id: CortexKeyId,
    pub key: SecretString,
    pub key_type: CortexKeyType,
}

impl fmt::Debug for CortexConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CortexConnection")
            .field("api_url", &self.api_url.as_str())
            .field("key_id", &self.key_id.get())
            .field("key", &self.key)
            .field("key_type", &self.key_type.as_str())
            .finish()
    }
}

/// The longest key accepted (console keys are far shorter; this only bounds the input).
pub(crate) const MAX_KEY: usize = 1000;

/// Checks a Cortex API key's shape: present, at most [`MAX_KEY`] characters, no whitespace
/// or control characters inside (a key pasted with its label or a line break is refused).
pub(crate) fn check_key(key: &SecretString) -> Result<SecretString, String> {
    let k = key.expose().trim();
    if k.is_empty() {
        return Err("is required: the key shown once when it was created".into());
    }
    if k.chars().count() > MAX_KEY || k.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!(
            "must be at most {MAX_KEY} characters, without spaces or control characters"
        ));
    }
    Ok(SecretString::from(k))
}

/// Tests a Cortex Cloud connection. This build has no Cortex Cloud client yet (it is being
/// built beside this module, in `cortex-cloud-client`), so the answer says the key was not
/// tried — never that it was accepted.
pub(crate) async fn test(connection: &CortexConnection) -> super::ConnectionTest {
    super::ConnectionTest {
        ok: false,
        message: format!(
            "Cortex Cloud at {} with key {} ({}): saved, but not tried — this build cannot call \
             Cortex Cloud yet",
            connection.api_url, connection.key_id, connection.key_type
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_are_api_origins() {
        for (raw, want) in [
            (
                "https://api-acme.xdr.us.paloaltonetworks.com",
                "https://api-acme.xdr.us.paloaltonetworks.com",
            ),
            (
                "api-acme.xdr.eu.paloaltonetworks.com/",
                "https://api-acme.xdr.eu.paloaltonetworks.com",
            ),
            // The console URL becomes the API origin.
            (
                "https://acme.xdr.us.paloaltonetworks.com/",
                "https://api-acme.xdr.us.paloaltonetworks.com",
            ),
            ("http://127.0.0.1:8443", "http://127.0.0.1:8443"),
            ("http://localhost:9", "http://localhost:9"),
        ] {
            assert_eq!(CortexApiUrl::parse(raw).unwrap().as_str(), want, "{raw}");
        }
        for bad in [
            "",
            "http://api-acme.xdr.us.paloaltonetworks.com",
            "https://api-acme.xdr.us.paloaltonetworks.com/public_api/v1",
            "https://api-acme.xdr.us.paloaltonetworks.com/?CANARY=1",
            "ftp://api-acme",
            "https://user:CANARY@api-acme.example",
        ] {
            let e = CortexApiUrl::parse(bad).unwrap_err();
            assert!(!e.contains("CANARY") && !e.contains("acme"), "{bad}: {e}");
        }
    }

    #[test]
    fn key_ids_are_positive_integers_and_key_types_two_words() {
        assert_eq!(CortexKeyId::parse(" 42 ").unwrap().get(), 42);
        for bad in ["", "0", "-1", "4.2", "12a", "1234567890123", "CANARY-KEY"] {
            let e = CortexKeyId::parse(bad).unwrap_err();
            assert!(!e.contains("CANARY"), "{e}");
        }
        assert_eq!(
            CortexKeyType::parse("Standard").unwrap(),
            CortexKeyType::Standard
        );
        assert_eq!(
            CortexKeyType::parse("advanced").unwrap(),
            CortexKeyType::Advanced
        );
        assert!(CortexKeyType::parse("bearer").is_err());
        assert_eq!(CortexKeyType::default(), CortexKeyType::Advanced);
    }

    #[test]
    fn keys_are_bounded_and_never_shown() {
        assert!(check_key(&SecretString::from("  ")).is_err());
        assert!(check_key(&SecretString::from("two words")).is_err());
        assert!(check_key(&SecretString::from("x".repeat(MAX_KEY + 1))).is_err());
        let k = check_key(&SecretString::from(" CANARY-CORTEX-KEY\n")).unwrap();
        assert_eq!(k.expose(), "CANARY-CORTEX-KEY");
        let c = CortexConnection {
            api_url: CortexApiUrl::parse("http://127.0.0.1:1").unwrap(),
            key_id: CortexKeyId::parse("7").unwrap(),
            key: k,
            key_type: CortexKeyType::Standard,
        };
        assert!(!format!("{c:?}").contains("CANARY"));
    }
}
