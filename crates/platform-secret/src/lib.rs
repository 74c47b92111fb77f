//! [`SecretString`]: Prisma Cloud secret keys, Cortex Cloud API keys, Azure client secrets and JWTs.
//!
//! The value is reachable only through [`SecretString::expose`], which is greppable. `Debug` and
//! `Display` print `[REDACTED]`; there is no `Serialize` implementation, so a secret cannot slip
//! into a JSON log line, an event or an API response. Wire bodies that must carry the value (the
//! `password` of `/login`, the `key` of an Azure account) opt in field by field with
//! `#[serde(serialize_with = "secret::serialize_exposed")]`.
//!
//! [`ValidationError`] lives here too: the one "this input is wrong" error of both platforms'
//! type crates (`prisma-types`, `cortex-cloud-types`), which depend on this crate and nothing
//! else in common.

use std::fmt;

use serde::{Deserialize, Deserializer, Serializer};

/// A value from outside that failed validation. `field` names the input (as the user or the
/// wire calls it) so the message can say which one is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ValidationError {}

#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(Box<str>);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into().into_boxed_str())
    }

    /// The secret itself. Call only where the value leaves the process on purpose: a request
    /// body, a header, a Terraform environment variable.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value as Prisma returns it from reads: asterisks, never the secret.
    pub fn masked() -> &'static str {
        "********"
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(SecretString::from)
    }
}

/// Serializes the real value. For wire bodies only; see the module docs.
pub fn serialize_exposed<S: Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose())
}

/// Serializes an optional secret's real value. For wire bodies only.
pub fn serialize_exposed_opt<S: Serializer>(
    secret: &Option<SecretString>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => s.serialize_some(secret.expose()),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = SecretString::from("canary-7f3a");
        assert_eq!(format!("{s:?}"), "[REDACTED]");
        assert_eq!(format!("{s}"), "[REDACTED]");
        assert_eq!(format!("{:?}", Some(&s)), "Some([REDACTED])");
        assert_eq!(s.expose(), "canary-7f3a");
    }

    #[test]
    fn wire_fields_expose_only_when_asked() {
        #[derive(serde::Serialize)]
        struct Body {
            #[serde(serialize_with = "serialize_exposed")]
            key: SecretString,
        }
        let json = serde_json::to_string(&Body {
            key: SecretString::from("abc"),
        })
        .unwrap();
        assert_eq!(json, r#"{"key":"abc"}"#);
    }
}
