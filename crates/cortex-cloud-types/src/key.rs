//! Where the API is and how a caller proves who it is.

use std::fmt;
use std::str::FromStr;

use platform_secret::SecretString;
use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// The API origin, always `https://api-{fqdn}` (or plain http on loopback, for the emulator).
///
/// Accepts what users paste: the "Copy API URL" value, a console URL
/// (`https://tenant.xdr.us.paloaltonetworks.com/…`, from which `api-` + host is derived), or a
/// bare host. Paths, queries and fragments are dropped: the SDK joins paths to the origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ApiUrl(String);

impl ApiUrl {
    pub const FIELD: &'static str = "api_url";

    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        let err = |m: &str| ValidationError::new(Self::FIELD, m);
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(err(
                "is empty; paste the API URL from Settings > Configurations > API Keys > Copy API URL",
            ));
        }
        let with_scheme = if trimmed.contains("://") {
            trimmed.to_owned()
        } else {
            format!("https://{trimmed}")
        };
        let url = url::Url::parse(&with_scheme).map_err(|e| err(&format!("is not a URL ({e})")))?;
        let host = url
            .host_str()
            .ok_or_else(|| err("has no host name"))?
            .to_ascii_lowercase();
        let loopback = matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]" | "::1");
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => {
                return Err(err(
                    "must use https (plain http is allowed only on loopback)",
                ));
            }
            other => return Err(err(&format!("has scheme {other}; expected https"))),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(err("must not carry a user name or password"));
        }
        let host = if loopback || host.starts_with("api-") {
            host
        } else {
            if !host.contains('.') {
                return Err(err(
                    "must be a fully qualified host (tenant.xdr.<region>.paloaltonetworks.com)",
                ));
            }
            format!("api-{host}")
        };
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        Ok(Self(format!("{}://{host}{port}", url.scheme())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ApiUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ApiUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ApiUrl::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The API key's id: the `ID` column of the API Keys table, a positive integer, sent as
/// `x-xdr-auth-id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(u64);

impl KeyId {
    pub const FIELD: &'static str = "key_id";

    pub fn new(id: u64) -> Result<Self, ValidationError> {
        if id == 0 {
            return Err(ValidationError::new(
                Self::FIELD,
                "must be a positive integer (the ID column of the API Keys table)",
            ));
        }
        Ok(Self(id))
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

impl FromStr for KeyId {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) || t.len() > 19 {
            return Err(ValidationError::new(
                Self::FIELD,
                "must be a positive integer (the ID column of the API Keys table)",
            ));
        }
        KeyId::new(
            t.parse()
                .map_err(|_| ValidationError::new(Self::FIELD, "is too large"))?,
        )
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The key's security level, chosen when the key was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    Standard,
    /// The default of the official SDK and Terraform provider.
    #[default]
    Advanced,
}

impl KeyType {
    pub const FIELD: &'static str = "key_type";

    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Standard => "standard",
            KeyType::Advanced => "advanced",
        }
    }
}

impl FromStr for KeyType {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "standard" => Ok(KeyType::Standard),
            "advanced" => Ok(KeyType::Advanced),
            _ => Err(ValidationError::new(
                Self::FIELD,
                "must be standard or advanced",
            )),
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that authenticates a call. The key is a [`SecretString`]: `Debug` shows
/// `[REDACTED]`, there is no `Serialize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: KeyId,
    pub key: SecretString,
    pub kind: KeyType,
}

impl ApiKey {
    pub const FIELD: &'static str = "key";

    /// Validates the key's shape: printable ASCII without spaces, 20–512 characters (a
    /// header value must hold it; real keys are 128 characters).
    pub fn new(id: KeyId, key: SecretString, kind: KeyType) -> Result<Self, ValidationError> {
        let k = key.expose();
        if k.len() < 20 || k.len() > 512 {
            return Err(ValidationError::new(
                Self::FIELD,
                "must be 20 to 512 characters (paste the whole key shown when it was created)",
            ));
        }
        if !k.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ValidationError::new(
                Self::FIELD,
                "must be printable ASCII without spaces",
            ));
        }
        Ok(Self { id, key, kind })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_from_what_users_paste() {
        let cases = [
            (
                "https://api-acme.xdr.us.paloaltonetworks.com",
                "https://api-acme.xdr.us.paloaltonetworks.com",
            ),
            (
                "https://acme.xdr.us.paloaltonetworks.com/dashboard?x=1#y",
                "https://api-acme.xdr.us.paloaltonetworks.com",
            ),
            (
                "acme.xdr.eu.paloaltonetworks.com",
                "https://api-acme.xdr.eu.paloaltonetworks.com",
            ),
            (
                "  HTTPS://API-Acme.crtx.ca.paloaltonetworks.com/ ",
                "https://api-acme.crtx.ca.paloaltonetworks.com",
            ),
            (
                "http://127.0.0.1:8443/public_api/v1",
                "http://127.0.0.1:8443",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(ApiUrl::parse(input).unwrap().as_str(), want, "{input}");
        }
        for bad in [
            "",
            "http://acme.xdr.us.paloaltonetworks.com",
            "ftp://x.y",
            "https://u:p@acme.xdr.us.paloaltonetworks.com",
            "https://intranet",
        ] {
            let e = ApiUrl::parse(bad).unwrap_err();
            assert_eq!(e.field, "api_url", "{bad}");
        }
    }

    #[test]
    fn key_ids_types_and_keys() {
        assert_eq!("42".parse::<KeyId>().unwrap().get(), 42);
        for bad in ["0", "-1", "abc", "", "4 2", "99999999999999999999"] {
            assert_eq!(bad.parse::<KeyId>().unwrap_err().field, "key_id", "{bad}");
        }
        assert_eq!("Advanced".parse::<KeyType>().unwrap(), KeyType::Advanced);
        assert_eq!("standard".parse::<KeyType>().unwrap(), KeyType::Standard);
        assert_eq!("bearer".parse::<KeyType>().unwrap_err().field, "key_type");
        let id = KeyId::new(7).unwrap();
        assert!(ApiKey::new(id, "short".into(), KeyType::Standard).is_err());
        let e = ApiKey::new(
            id,
            "has a space in the middle of it".into(),
            KeyType::Standard,
        )
        .unwrap_err();
        assert_eq!(e.field, "key");
        assert!(
            !e.to_string().contains("space in the"),
            "the message never echoes the key"
        );
        let k = ApiKey::new(id, "canary-key-0123456789abcdef".into(), KeyType::Advanced).unwrap();
        assert!(!format!("{k:?}").contains("canary"));
    }
}
