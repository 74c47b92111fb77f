//! Identifiers parsed once at the edge.
//!
//! Azure subscription and tenant IDs are canonical hyphenated GUIDs (`8-4-4-4-12` hex digits).
//! Either case is accepted and stored lower-case, as Azure shows them. Braced (`{…}`), URN
//! (`urn:uuid:…`) and 32-digit forms are refused with a message that says what was expected —
//! they are almost always a copy-paste from the wrong place. The nil GUID is refused too: no
//! Azure directory or subscription has it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// Longest account name we accept. Prisma does not document a limit; 255 keeps names usable in
/// the console and in CSV exports.
pub const MAX_ACCOUNT_NAME_CHARS: usize = 255;

fn parse_guid(field: &str, input: &str) -> Result<String, ValidationError> {
    let s = input.trim();
    let expected = "expected a GUID like 8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f \
                    (8-4-4-4-12 hexadecimal digits)";
    if s.is_empty() {
        return Err(ValidationError::new(field, format!("is empty; {expected}")));
    }
    if s.starts_with('{') || s.ends_with('}') {
        return Err(ValidationError::new(
            field,
            format!("braces are not part of the ID; {expected}"),
        ));
    }
    if s.to_ascii_lowercase().starts_with("urn:") {
        return Err(ValidationError::new(
            field,
            format!("the urn:uuid: prefix is not part of the ID; {expected}"),
        ));
    }
    let bytes = s.as_bytes();
    let hyphens_ok = bytes.len() == 36 && [8, 13, 18, 23].iter().all(|&i| bytes[i] == b'-');
    let hex_ok = bytes
        .iter()
        .enumerate()
        .all(|(i, b)| matches!(i, 8 | 13 | 18 | 23) || b.is_ascii_hexdigit());
    if !hyphens_ok || !hex_ok {
        let hint = if bytes.len() == 32 && bytes.iter().all(u8::is_ascii_hexdigit) {
            "the hyphens are missing; "
        } else {
            ""
        };
        return Err(ValidationError::new(
            field,
            format!(
                "{hint}'{}' is not a GUID; {expected}",
                truncate_for_message(s)
            ),
        ));
    }
    let lower = s.to_ascii_lowercase();
    if lower == "00000000-0000-0000-0000-000000000000" {
        return Err(ValidationError::new(
            field,
            "the nil GUID is not a valid Azure ID",
        ));
    }
    Ok(lower)
}

/// Shortens user input quoted back in an error, so an error never echoes a whole pasted blob.
pub(crate) fn truncate_for_message(s: &str) -> String {
    const MAX: usize = 64;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(MAX).collect::<String>())
    }
}

macro_rules! guid_newtype {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Parses a canonical hyphenated GUID; the error names the field.
            pub fn parse(input: &str) -> Result<Self, ValidationError> {
                Self::parse_as($field, input)
            }

            /// Parses with a caller-chosen field name in the error (e.g. a CSV column).
            pub fn parse_as(field: &str, input: &str) -> Result<Self, ValidationError> {
                parse_guid(field, input).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }

        impl std::str::FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

guid_newtype!(
    /// An Azure subscription ID.
    SubscriptionId,
    "subscription_id"
);
guid_newtype!(
    /// An Azure (Entra ID) directory / tenant ID.
    TenantId,
    "tenant_id"
);
guid_newtype!(
    /// An Azure application (client) ID or a service principal object ID.
    ObjectId,
    "object_id"
);

/// An Azure management group name (its ID): 1–90 characters from letters, digits, `-`, `_`,
/// `(`, `)` and `.`, not ending with a period (Azure's portal rule).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Debug)]
#[serde(transparent)]
pub struct ManagementGroupId(String);

impl ManagementGroupId {
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        Self::parse_as("management_group", input)
    }

    pub fn parse_as(field: &str, input: &str) -> Result<Self, ValidationError> {
        let s = input.trim();
        let rule = "management group names are 1-90 characters of letters, digits, '-', '_', \
                    '(', ')' and '.', and do not end with '.'";
        if s.is_empty() || s.chars().count() > 90 {
            return Err(ValidationError::new(
                field,
                format!("has the wrong length; {rule}"),
            ));
        }
        if let Some(bad) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "-_().".contains(*c)))
        {
            return Err(ValidationError::new(
                field,
                format!("contains {bad:?}; {rule}"),
            ));
        }
        if s.ends_with('.') {
            return Err(ValidationError::new(
                field,
                format!("ends with '.'; {rule}"),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ManagementGroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Prisma Cloud account name: non-empty after trimming, at most
/// [`MAX_ACCOUNT_NAME_CHARS`] characters, no control characters.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Debug)]
#[serde(transparent)]
pub struct AccountName(String);

impl AccountName {
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        Self::parse_as("name", input)
    }

    pub fn parse_as(field: &str, input: &str) -> Result<Self, ValidationError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(ValidationError::new(field, "must not be empty"));
        }
        let n = s.chars().count();
        if n > MAX_ACCOUNT_NAME_CHARS {
            return Err(ValidationError::new(
                field,
                format!("is {n} characters long; the limit is {MAX_ACCOUNT_NAME_CHARS}"),
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(ValidationError::new(
                field,
                "must not contain control characters",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Prisma Cloud account group ID (opaque, non-empty, no whitespace inside).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Debug)]
#[serde(transparent)]
pub struct AccountGroupId(String);

impl AccountGroupId {
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        let s = input.trim();
        if s.is_empty() || s.len() > 128 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ValidationError::new(
                "group_id",
                "must be a non-empty account group ID without spaces (at most 128 characters)",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountGroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_canonical_and_lowercased() {
        let id = SubscriptionId::parse(" 8F2C1A3E-4B5D-4C6E-9F70-1A2B3C4D5E6F ").unwrap();
        assert_eq!(id.as_str(), "8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f");
    }

    #[test]
    fn other_guid_forms_are_refused_with_what_was_expected() {
        for (input, hint) in [
            ("{8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f}", "braces"),
            ("urn:uuid:8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f", "urn:uuid"),
            ("8f2c1a3e4b5d4c6e9f701a2b3c4d5e6f", "hyphens are missing"),
            ("8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6g", "not a GUID"),
            ("", "empty"),
            ("00000000-0000-0000-0000-000000000000", "nil GUID"),
        ] {
            let err = SubscriptionId::parse(input).unwrap_err();
            assert_eq!(err.field, "subscription_id");
            assert!(err.message.contains(hint), "{input}: {err}");
            assert!(err.to_string().starts_with("subscription_id: "));
        }
        let err = TenantId::parse("nope").unwrap_err();
        assert!(err.message.contains("8-4-4-4-12"), "{err}");
    }

    #[test]
    fn management_group_rule() {
        assert!(ManagementGroupId::parse("mg-Prod_(eu).1").is_ok());
        assert!(ManagementGroupId::parse(&"a".repeat(90)).is_ok());
        assert!(ManagementGroupId::parse(&"a".repeat(91)).is_err());
        assert!(ManagementGroupId::parse("prod.").is_err());
        assert!(ManagementGroupId::parse("has space").is_err());
        assert!(ManagementGroupId::parse("").is_err());
    }

    #[test]
    fn account_names_are_bounded() {
        assert_eq!(AccountName::parse("  prod  ").unwrap().as_str(), "prod");
        assert!(AccountName::parse("   ").is_err());
        assert!(AccountName::parse(&"x".repeat(256)).is_err());
        assert!(AccountName::parse("a\u{0}b").is_err());
    }
}

/// Deserializing parses: a stored or received value that breaks the rule is an error, not a
/// value that skipped validation.
macro_rules! validated_deserialize {
    ($name:ident) => {
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

validated_deserialize!(ManagementGroupId);
validated_deserialize!(AccountName);
