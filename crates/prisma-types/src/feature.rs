//! Azure capabilities ("features") and cloud environments.
//!
//! Prisma names features by display name on the way in (`"Agentless Scanning"`) and by an
//! internal identifier on some reads (`compute-agentless`). `Cloud Visibility Compliance and
//! Governance` is always on and must never be sent; [`FeatureSet`] cannot hold it.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// The display name of the capability every account has; never sent in a request.
pub const ALWAYS_ON_FEATURE: &str = "Cloud Visibility Compliance and Governance";

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub enum Feature {
    #[serde(rename = "Agentless Scanning")]
    AgentlessScanning,
    #[serde(rename = "Auto Protect")]
    AutoProtect,
    #[serde(rename = "Remediation")]
    Remediation,
    #[serde(rename = "Serverless Function Scanning")]
    ServerlessFunctionScanning,
}

impl Feature {
    pub const ALL: [Feature; 4] = [
        Feature::AgentlessScanning,
        Feature::AutoProtect,
        Feature::Remediation,
        Feature::ServerlessFunctionScanning,
    ];

    /// The name the API uses in requests and in `supportedFeatures`.
    pub fn display_name(self) -> &'static str {
        match self {
            Feature::AgentlessScanning => "Agentless Scanning",
            Feature::AutoProtect => "Auto Protect",
            Feature::Remediation => "Remediation",
            Feature::ServerlessFunctionScanning => "Serverless Function Scanning",
        }
    }

    /// The internal identifier in `GET /v1/cloudAccounts/azureAccounts/{id}` (`featureName`).
    /// `compute-agentless` and `compute-serverless-scan` are observed; the other two are our
    /// choice (the real mapping is unconfirmed) and documented in the emulator docs.
    pub fn internal_name(self) -> &'static str {
        match self {
            Feature::AgentlessScanning => "compute-agentless",
            Feature::AutoProtect => "compute-auto-protect",
            Feature::Remediation => "remediation",
            Feature::ServerlessFunctionScanning => "compute-serverless-scan",
        }
    }

    /// Parses a display name (case-insensitive) or internal name, or a short CLI spelling
    /// (`agentless`, `auto-protect`, `remediation`, `serverless`).
    pub fn parse(input: &str) -> Result<Feature, ValidationError> {
        let s = input.trim();
        let norm = s.to_ascii_lowercase().replace(['_', ' '], "-");
        let found = Feature::ALL.into_iter().find(|f| {
            f.display_name().eq_ignore_ascii_case(s)
                || f.internal_name() == norm
                || f.short_name() == norm
        });
        match found {
            Some(f) => Ok(f),
            None if s.eq_ignore_ascii_case(ALWAYS_ON_FEATURE) => Err(ValidationError::new(
                "features",
                format!("'{ALWAYS_ON_FEATURE}' is always on and must not be requested"),
            )),
            None => Err(ValidationError::new(
                "features",
                format!(
                    "unknown feature '{}'; expected one of: {}",
                    crate::ids::truncate_for_message(s),
                    Feature::ALL.map(Feature::display_name).join(", ")
                ),
            )),
        }
    }

    pub fn short_name(self) -> &'static str {
        match self {
            Feature::AgentlessScanning => "agentless",
            Feature::AutoProtect => "auto-protect",
            Feature::Remediation => "remediation",
            Feature::ServerlessFunctionScanning => "serverless",
        }
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

/// The optional features chosen for an account; the always-on one is implied.
#[derive(Clone, Default, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FeatureSet(BTreeSet<Feature>);

impl FeatureSet {
    pub fn new(features: impl IntoIterator<Item = Feature>) -> Self {
        Self(features.into_iter().collect())
    }

    /// Parses display or short names; an unknown name or the always-on feature is an error.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, ValidationError> {
        names
            .into_iter()
            .map(Feature::parse)
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Self)
    }

    pub fn contains(&self, f: Feature) -> bool {
        self.0.contains(&f)
    }

    pub fn iter(&self) -> impl Iterator<Item = Feature> + '_ {
        self.0.iter().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn display_names(&self) -> Vec<String> {
        self.iter().map(|f| f.display_name().to_owned()).collect()
    }
}

/// The Azure cloud an account lives in (`environmentType` / `deploymentType`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, Default)]
pub enum Environment {
    #[default]
    #[serde(rename = "azure")]
    Azure,
    #[serde(rename = "azure_gov")]
    AzureGov,
    #[serde(rename = "azure_china")]
    AzureChina,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Azure => "azure",
            Environment::AzureGov => "azure_gov",
            Environment::AzureChina => "azure_china",
        }
    }

    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        match input.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "azure" | "commercial" | "public" => Ok(Environment::Azure),
            "azure_gov" | "gov" | "usgovernment" => Ok(Environment::AzureGov),
            "azure_china" | "china" => Ok(Environment::AzureChina),
            _ => Err(ValidationError::new(
                "environment",
                "expected one of: azure, azure_gov, azure_china",
            )),
        }
    }

    /// Features Prisma does not offer in this cloud (Azure China has no advanced features).
    pub fn supports(self, feature: Feature) -> bool {
        !matches!(self, Environment::AzureChina) || matches!(feature, Feature::Remediation)
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_parse_by_any_spelling() {
        assert_eq!(
            Feature::parse("agentless scanning").unwrap(),
            Feature::AgentlessScanning
        );
        assert_eq!(
            Feature::parse("compute-serverless-scan").unwrap(),
            Feature::ServerlessFunctionScanning
        );
        assert_eq!(
            Feature::parse("auto_protect").unwrap(),
            Feature::AutoProtect
        );
        let err = Feature::parse("Cloud Visibility Compliance and Governance").unwrap_err();
        assert!(err.message.contains("always on"));
        let err = Feature::parse("Telepathy").unwrap_err();
        assert_eq!(err.field, "features");
        assert!(err.message.contains("Agentless Scanning"));
    }

    #[test]
    fn environment_round_trip() {
        for e in [
            Environment::Azure,
            Environment::AzureGov,
            Environment::AzureChina,
        ] {
            assert_eq!(Environment::parse(e.as_str()).unwrap(), e);
            assert_eq!(serde_json::to_value(e).unwrap(), e.as_str());
        }
        assert!(Environment::parse("mars").is_err());
    }
}
