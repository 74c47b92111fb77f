//! The closed value sets of the API, spelled exactly as on the wire (upper case).
//!
//! Each enum parses case-insensitively from user input (`FromStr`, naming the field on error)
//! and (de)serializes in the wire spelling. Values the sources list but this product does not
//! send still parse, so a reply from a newer server decodes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ValidationError;

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident, $field:literal { $($(#[$vm:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $wire)] $variant),+
        }

        impl $name {
            /// The input field this value comes from, for error messages.
            pub const FIELD: &'static str = $field;
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let t = s.trim();
                $(if t.eq_ignore_ascii_case($wire) { return Ok($name::$variant); })+
                Err(ValidationError::new(
                    $field,
                    format!("must be one of {}", [$($wire),+].join(", ")),
                ))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(CloudProvider, "cloud_provider" { Aws = "AWS", Azure = "AZURE", Gcp = "GCP" });

wire_enum!(
    /// What one instance covers. For Azure: the tenant, one management group, one subscription.
    Scope, "scope" {
        /// An Azure tenant (root management group).
        Organization = "ORGANIZATION",
        /// An Azure management group.
        AccountGroup = "ACCOUNT_GROUP",
        /// One Azure subscription.
        Account = "ACCOUNT",
    }
);

wire_enum!(
    /// Where scanning runs: Cortex's environment (recommended) or an outpost you own.
    ScanMode, "scan_mode" { Managed = "MANAGED", Outpost = "OUTPOST" }
);

wire_enum!(ModificationType, "type" { Include = "INCLUDE", Exclude = "EXCLUDE" });

wire_enum!(RegistryScanType, "registry_scanning_options.type" {
    All = "ALL",
    LatestTag = "LATEST_TAG",
    TagsModifiedDays = "TAGS_MODIFIED_DAYS",
});

wire_enum!(AuditCollectionMethod, "collection_method" { Automated = "AUTOMATED", Custom = "CUSTOM" });

wire_enum!(
    /// Only `COMMERCIAL` is confirmed; the government value is UNCONFIRMED (docs/emulator.md).
    CloudPartition, "cloud_partition" { Commercial = "COMMERCIAL", Government = "GOVERNMENT" }
);

wire_enum!(
    /// The security capabilities an Azure instance reports (`security_capabilities[].name`).
    CapabilityName, "capability" {
        Permissions = "PERMISSIONS",
        Discovery = "DISCOVERY",
        Ads = "ADS",
        Dspm = "DSPM",
        AuditLogs = "AUDIT_LOGS",
        Registry = "REGISTRY",
        Serverless = "SERVERLESS",
        IdentitySecurity = "IDENTITY_SECURITY",
    }
);

impl CapabilityName {
    /// The description the console shows.
    pub fn description(self) -> &'static str {
        match self {
            CapabilityName::Permissions => "Permissions",
            CapabilityName::Discovery => "Discovery Engine",
            CapabilityName::Ads => "Agentless Disk Scanning",
            CapabilityName::Dspm => "Data Security Scanning",
            CapabilityName::AuditLogs => "Audit Logs",
            CapabilityName::Registry => "Registry Scanning",
            CapabilityName::Serverless => "Serverless Scanning",
            CapabilityName::IdentitySecurity => "Identity Security",
        }
    }
}

/// An instance's overall status. `Other` keeps a value no source lists, so a reply still
/// decodes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum InstanceStatus {
    Pending,
    Connected,
    Warning,
    Error,
    Disabled,
    Deleted,
    Other(String),
}

impl InstanceStatus {
    pub fn as_str(&self) -> &str {
        match self {
            InstanceStatus::Pending => "PENDING",
            InstanceStatus::Connected => "CONNECTED",
            InstanceStatus::Warning => "WARNING",
            InstanceStatus::Error => "ERROR",
            InstanceStatus::Disabled => "DISABLED",
            InstanceStatus::Deleted => "DELETED",
            InstanceStatus::Other(s) => s,
        }
    }

    pub fn parse(s: &str) -> Self {
        const KNOWN: [(&str, InstanceStatus); 6] = [
            ("PENDING", InstanceStatus::Pending),
            ("CONNECTED", InstanceStatus::Connected),
            ("WARNING", InstanceStatus::Warning),
            ("ERROR", InstanceStatus::Error),
            ("DISABLED", InstanceStatus::Disabled),
            ("DELETED", InstanceStatus::Deleted),
        ];
        let t = s.trim();
        KNOWN
            .into_iter()
            .find(|(wire, _)| wire.eq_ignore_ascii_case(t))
            .map(|(_, status)| status)
            .unwrap_or_else(|| InstanceStatus::Other(s.to_owned()))
    }
}

impl fmt::Display for InstanceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for InstanceStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for InstanceStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A visitor, so the common case (a borrowed string) allocates nothing.
        struct Status;
        impl serde::de::Visitor<'_> for Status {
            type Value = InstanceStatus;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an instance status")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<InstanceStatus, E> {
                Ok(InstanceStatus::parse(s))
            }
        }
        d.deserialize_str(Status)
    }
}

/// A capability's status code: 0 connected, 1 warning, 2 disabled, 3 error, 4 retrieving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub enum CapabilityStatus {
    Connected,
    Warning,
    Disabled,
    Error,
    Retrieving,
}

impl CapabilityStatus {
    pub fn code(self) -> i64 {
        match self {
            CapabilityStatus::Connected => 0,
            CapabilityStatus::Warning => 1,
            CapabilityStatus::Disabled => 2,
            CapabilityStatus::Error => 3,
            CapabilityStatus::Retrieving => 4,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            CapabilityStatus::Connected => "connected",
            CapabilityStatus::Warning => "warning",
            CapabilityStatus::Disabled => "disabled",
            CapabilityStatus::Error => "error",
            CapabilityStatus::Retrieving => "retrieving",
        }
    }

    /// Still being determined: poll again.
    pub fn is_settled(self) -> bool {
        self != CapabilityStatus::Retrieving
    }
}

impl TryFrom<i64> for CapabilityStatus {
    type Error = String;
    fn try_from(code: i64) -> Result<Self, String> {
        Ok(match code {
            0 => CapabilityStatus::Connected,
            1 => CapabilityStatus::Warning,
            2 => CapabilityStatus::Disabled,
            3 => CapabilityStatus::Error,
            4 => CapabilityStatus::Retrieving,
            other => {
                return Err(format!(
                    "unknown capability status code {other} (expected 0 to 4)"
                ));
            }
        })
    }
}

impl From<CapabilityStatus> for i64 {
    fn from(s: CapabilityStatus) -> i64 {
        s.code()
    }
}

impl fmt::Display for CapabilityStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_parse_any_case_and_name_the_field() {
        assert_eq!(
            "account_group".parse::<Scope>().unwrap(),
            Scope::AccountGroup
        );
        assert_eq!(
            serde_json::to_string(&Scope::AccountGroup).unwrap(),
            "\"ACCOUNT_GROUP\""
        );
        let e = "tenant".parse::<Scope>().unwrap_err();
        assert_eq!(e.field, "scope");
        assert!(e.message.contains("ORGANIZATION"));
        assert!(serde_json::from_str::<ScanMode>("\"MANAGED\"").is_ok());
        assert!(
            serde_json::from_str::<ScanMode>("\"managed\"").is_err(),
            "the wire is exact"
        );
    }

    #[test]
    fn statuses_decode_known_and_unknown_values() {
        let s: InstanceStatus = serde_json::from_str("\"ENABLED\"").unwrap();
        assert_eq!(s, InstanceStatus::Other("ENABLED".into()));
        assert_eq!(
            serde_json::from_str::<InstanceStatus>("\"connected\"").unwrap(),
            InstanceStatus::Connected
        );
        let c: Vec<CapabilityStatus> = serde_json::from_str("[0,1,2,3,4]").unwrap();
        assert_eq!(c[4], CapabilityStatus::Retrieving);
        assert!(!c[4].is_settled());
        assert!(serde_json::from_str::<CapabilityStatus>("5").is_err());
        assert_eq!(
            serde_json::to_string(&CapabilityStatus::Error).unwrap(),
            "3"
        );
    }
}
