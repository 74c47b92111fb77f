//! What to onboard, as it arrives (JSON from the API, flags from the CLI) and as the engine
//! uses it once validated.
//!
//! [`RawRequest`] is the outside shape: plain strings, all optional, so a bad value can be
//! named instead of failing deserialization. [`RawRequest::validate`] checks every field and
//! returns *all* problems at once, each naming its field, or an [`OnboardingRequest`] whose
//! types carry the guarantees. Nothing is written for a refused request.
//!
//! Secrets are not part of either: an `existing` identity's client secret travels beside the
//! request and is stored encrypted under the job (see `engine`), never in the request JSON.

use prisma_types::{
    AccountGroupId, AccountName, Environment, Feature, FeatureSet, ManagementGroupId, ObjectId,
    SubscriptionId, TenantId, ValidationError,
};
use serde::{Deserialize, Serialize};

use crate::connections::{ConnectionName, DEFAULT_CONNECTION};

/// The Azure scope to onboard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Scope {
    Subscription {
        subscription_id: SubscriptionId,
        tenant_id: TenantId,
    },
    /// A tenant with its management groups and subscriptions. Empty include lists mean the
    /// whole tenant; exclusions apply on top.
    Tenant {
        tenant_id: TenantId,
        #[serde(default)]
        include_management_groups: Vec<ManagementGroupId>,
        #[serde(default)]
        exclude_management_groups: Vec<ManagementGroupId>,
        #[serde(default)]
        include_subscriptions: Vec<SubscriptionId>,
        #[serde(default)]
        exclude_subscriptions: Vec<SubscriptionId>,
    },
    /// Microsoft Entra ID only.
    Entra { tenant_id: TenantId },
}

impl Scope {
    pub fn tenant_id(&self) -> &TenantId {
        match self {
            Scope::Subscription { tenant_id, .. }
            | Scope::Tenant { tenant_id, .. }
            | Scope::Entra { tenant_id } => tenant_id,
        }
    }

    /// The ID Prisma files the account under.
    pub fn account_id(&self) -> &str {
        match self {
            Scope::Subscription {
                subscription_id, ..
            } => subscription_id.as_str(),
            other => other.tenant_id().as_str(),
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Scope::Subscription { .. } => "subscription",
            Scope::Tenant { .. } => "tenant",
            Scope::Entra { .. } => "entra",
        }
    }
}

/// An account group, by ID or by name (names are resolved through `/cloud/group`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", content = "value", rename_all = "snake_case")]
pub enum GroupRef {
    Id(AccountGroupId),
    Name(String),
}

/// Where the Azure identity (app registration, service principal, secret, roles) comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum IdentitySource {
    /// Prisma's template from `/cas/v1/azure_template`, applied as delivered.
    PrismaTemplate,
    /// Our own configuration for current providers.
    Builtin {
        #[serde(default = "default_rotation_days")]
        secret_rotation_days: u32,
        #[serde(default)]
        directory_readers: bool,
        #[serde(default)]
        audit_log_export: bool,
    },
    /// Bulk: the one identity of the subscription's tenant, shared by every subscription of
    /// the tenant onboarded this way (`crate::tenant_identity`): one app registration and
    /// secret, each subscription granted its roles in one Terraform configuration per tenant.
    /// Set on a batch's builtin rows by [`crate::tenant_identity::IdentityPer::SharedTenant`].
    SharedTenant {
        #[serde(default = "default_rotation_days")]
        secret_rotation_days: u32,
    },
    /// An existing service principal; no Terraform. Its secret is stored with the job.
    Existing {
        client_id: ObjectId,
        service_principal_id: ObjectId,
    },
}

fn default_rotation_days() -> u32 {
    180
}

/// A validated onboarding request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnboardingRequest {
    pub scope: Scope,
    pub name: AccountName,
    pub groups: Vec<GroupRef>,
    #[serde(default)]
    pub create_missing_groups: bool,
    pub features: FeatureSet,
    #[serde(default)]
    pub flow_logs: bool,
    pub environment: Environment,
    pub enabled: bool,
    pub identity: IdentitySource,
    /// Stop after `terraform plan` until someone approves.
    #[serde(default)]
    pub require_approval: bool,
    /// The saved Prisma Cloud connection to onboard into; `None` is the engine's own
    /// (`default`). Absent from jobs stored before connections existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<ConnectionName>,
    /// Register the account even when the pre-flight status checks fail (the default stops
    /// before registering a known-broken account). Absent from jobs stored before it existed.
    #[serde(default)]
    pub register_anyway: bool,
}

/// The outside shape of a request. Every field optional and stringly typed on purpose.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawRequest {
    /// `subscription` | `tenant` | `entra`.
    pub scope: Option<String>,
    pub subscription_id: Option<String>,
    pub tenant_id: Option<String>,
    pub include_management_groups: Vec<String>,
    pub exclude_management_groups: Vec<String>,
    pub include_subscriptions: Vec<String>,
    pub exclude_subscriptions: Vec<String>,
    pub name: Option<String>,
    /// Account group IDs or names.
    pub groups: Vec<String>,
    pub create_missing_groups: bool,
    pub features: Vec<String>,
    pub flow_logs: bool,
    pub environment: Option<String>,
    pub enabled: Option<bool>,
    /// `builtin` | `prisma-template` | `existing`.
    pub identity: Option<String>,
    pub client_id: Option<String>,
    pub service_principal_id: Option<String>,
    pub secret_rotation_days: Option<u32>,
    pub directory_readers: bool,
    pub audit_log_export: bool,
    pub require_approval: bool,
    /// A saved Prisma Cloud connection's name; absent, empty or `default`: the engine's own.
    pub connection: Option<String>,
    /// Register even when the pre-flight checks fail (default: stop before registering).
    pub register_anyway: bool,
}

/// Every problem with a request, each naming its field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{}", .errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
pub struct RequestErrors {
    pub errors: Vec<FieldError>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl From<ValidationError> for FieldError {
    fn from(e: ValidationError) -> Self {
        FieldError {
            field: e.field,
            message: e.message,
        }
    }
}

/// Group names Prisma accepts (also what `POST /cloud/group` takes).
fn parse_group(raw: &str) -> Result<GroupRef, ValidationError> {
    let s = raw.trim();
    if s.is_empty() || s.chars().count() > 100 || s.chars().any(char::is_control) {
        return Err(ValidationError::new(
            "groups",
            "group names and IDs are 1-100 characters",
        ));
    }
    // Prisma group IDs are GUIDs; anything else is a name to resolve.
    Ok(match TenantId::parse(s) {
        Ok(_) => GroupRef::Id(AccountGroupId::parse(&s.to_ascii_lowercase())?),
        Err(_) => GroupRef::Name(s.to_owned()),
    })
}

/// Collects every field error instead of stopping at the first.
#[derive(Default)]
struct Collector {
    errors: Vec<FieldError>,
}

impl Collector {
    fn take<T>(&mut self, r: Result<T, ValidationError>) -> Option<T> {
        r.map_err(|e| self.errors.push(e.into())).ok()
    }

    fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    fn required<T>(&mut self, field: &str, value: Option<T>, why: &str) -> Option<T> {
        if value.is_none() {
            self.fail(field, why);
        }
        value
    }
}

fn quoted(s: &str) -> String {
    s.chars().take(40).collect()
}

impl RawRequest {
    pub fn validate(&self) -> Result<OnboardingRequest, RequestErrors> {
        let mut c = Collector::default();
        let scope_kind = self
            .scope
            .as_deref()
            .map(str::trim)
            .unwrap_or("subscription");
        let tenant = c
            .required("tenant_id", self.tenant_id.as_deref(), "is required")
            .and_then(|t| c.take(TenantId::parse(t)));
        let subscription = match (scope_kind, &self.subscription_id) {
            ("subscription", Some(s)) => c.take(SubscriptionId::parse(s)),
            ("subscription", None) => {
                c.fail("subscription_id", "is required for a subscription");
                None
            }
            (_, Some(_)) => {
                c.fail(
                    "subscription_id",
                    "only applies to scope subscription (use include_subscriptions for a tenant)",
                );
                None
            }
            (_, None) => None,
        };
        let mut mgs = |field: &str, list: &[String]| -> Vec<ManagementGroupId> {
            list.iter()
                .filter_map(|m| c.take(ManagementGroupId::parse_as(field, m)))
                .collect()
        };
        let include_mgs = mgs("include_management_groups", &self.include_management_groups);
        let exclude_mgs = mgs("exclude_management_groups", &self.exclude_management_groups);
        let mut subs = |field: &str, list: &[String]| -> Vec<SubscriptionId> {
            list.iter()
                .filter_map(|s| c.take(SubscriptionId::parse_as(field, s)))
                .collect()
        };
        let include_subs = subs("include_subscriptions", &self.include_subscriptions);
        let exclude_subs = subs("exclude_subscriptions", &self.exclude_subscriptions);
        let hierarchy_given = !(self.include_management_groups.is_empty()
            && self.exclude_management_groups.is_empty()
            && self.include_subscriptions.is_empty()
            && self.exclude_subscriptions.is_empty());
        if scope_kind != "tenant" && hierarchy_given {
            c.fail(
                "include_management_groups",
                "management group and subscription selections only apply to scope tenant",
            );
        }
        // A name may be a template: `{subscription_id}` and `{tenant_id}` are filled in, so one
        // batch template names every row.
        let name = c
            .required("name", self.name.as_deref(), "is required")
            .and_then(|n| {
                let filled = n
                    .replace(
                        "{subscription_id}",
                        self.subscription_id.as_deref().unwrap_or("").trim(),
                    )
                    .replace(
                        "{tenant_id}",
                        self.tenant_id.as_deref().unwrap_or("").trim(),
                    );
                c.take(AccountName::parse(&filled))
            });
        let groups: Vec<GroupRef> = self
            .groups
            .iter()
            .filter_map(|g| c.take(parse_group(g)))
            .collect();
        if self.groups.is_empty() {
            c.fail("groups", "at least one account group is required");
        }
        let features = c.take(FeatureSet::parse(self.features.iter().map(String::as_str)));
        let environment = match &self.environment {
            Some(e) => c.take(Environment::parse(e)),
            None => Some(Environment::Azure),
        };
        if let (Some(env), Some(f)) = (environment, &features)
            && let Some(bad) = f.iter().find(|f| !env.supports(*f))
        {
            c.fail("features", format!("'{bad}' is not available in {env}"));
        }
        if scope_kind == "entra" {
            if !self.features.is_empty() {
                c.fail(
                    "features",
                    "an Entra-ID-only tenant has no optional features",
                );
            }
            if self.flow_logs {
                c.fail("flow_logs", "an Entra-ID-only tenant has no flow logs");
            }
        }
        let identity_kind = self.identity.as_deref().map(str::trim).unwrap_or("builtin");
        let identity = match identity_kind {
            "builtin" => {
                let days = self
                    .secret_rotation_days
                    .unwrap_or_else(default_rotation_days);
                if !(1..=730).contains(&days) {
                    c.fail("secret_rotation_days", "must be 1-730");
                }
                Some(IdentitySource::Builtin {
                    secret_rotation_days: days,
                    directory_readers: self.directory_readers,
                    audit_log_export: self.audit_log_export,
                })
            }
            "prisma-template" | "prisma_template" => {
                if environment == Some(Environment::AzureChina) {
                    c.fail(
                        "identity",
                        "Prisma offers no template for Azure China; use builtin or existing",
                    );
                }
                Some(IdentitySource::PrismaTemplate)
            }
            "existing" => {
                let client = c
                    .required(
                        "client_id",
                        self.client_id.as_deref(),
                        "is required for identity existing",
                    )
                    .and_then(|v| c.take(ObjectId::parse_as("client_id", v)));
                let sp = c
                    .required(
                        "service_principal_id",
                        self.service_principal_id.as_deref(),
                        "is required for identity existing (the Enterprise application's object ID)",
                    )
                    .and_then(|v| c.take(ObjectId::parse_as("service_principal_id", v)));
                match (client, sp) {
                    (Some(client_id), Some(service_principal_id)) => {
                        if client_id == service_principal_id {
                            c.fail(
                                "service_principal_id",
                                "equals client_id: use the Enterprise application's object ID, \
                                 not the app's client ID",
                            );
                        }
                        Some(IdentitySource::Existing {
                            client_id,
                            service_principal_id,
                        })
                    }
                    _ => None,
                }
            }
            other => {
                c.fail(
                    "identity",
                    format!(
                        "'{}' is not one of builtin, prisma-template, existing",
                        quoted(other)
                    ),
                );
                None
            }
        };
        if identity_kind != "existing"
            && (self.client_id.is_some() || self.service_principal_id.is_some())
        {
            c.fail("client_id", "only applies to identity existing");
        }
        let scope = match (scope_kind, tenant) {
            ("subscription", Some(tenant_id)) => {
                subscription.map(|subscription_id| Scope::Subscription {
                    subscription_id,
                    tenant_id,
                })
            }
            ("tenant", Some(tenant_id)) => Some(Scope::Tenant {
                tenant_id,
                include_management_groups: include_mgs,
                exclude_management_groups: exclude_mgs,
                include_subscriptions: include_subs,
                exclude_subscriptions: exclude_subs,
            }),
            ("entra", Some(tenant_id)) => Some(Scope::Entra { tenant_id }),
            ("subscription" | "tenant" | "entra", None) => None,
            (other, _) => {
                c.fail(
                    "scope",
                    format!(
                        "'{}' is not one of subscription, tenant, entra",
                        quoted(other)
                    ),
                );
                None
            }
        };
        let connection = match self.connection.as_deref().map(str::trim) {
            None | Some("") | Some(DEFAULT_CONNECTION) => None,
            Some(raw) => c.take(ConnectionName::parse_as("connection", raw)),
        };
        match (scope, name, features, environment, identity) {
            (Some(scope), Some(name), Some(features), Some(environment), Some(identity))
                if c.errors.is_empty() =>
            {
                Ok(OnboardingRequest {
                    scope,
                    name,
                    groups,
                    create_missing_groups: self.create_missing_groups,
                    features,
                    flow_logs: self.flow_logs,
                    environment,
                    enabled: self.enabled.unwrap_or(true),
                    identity,
                    require_approval: self.require_approval,
                    connection,
                    register_anyway: self.register_anyway,
                })
            }
            _ => Err(RequestErrors { errors: c.errors }),
        }
    }
}

impl OnboardingRequest {
    /// The features this scope sends (Entra-only has none).
    pub fn features_for_scope(&self) -> FeatureSet {
        match self.scope {
            Scope::Entra { .. } => FeatureSet::default(),
            _ => self.features.clone(),
        }
    }

    /// Where the identity's Azure roles are assigned, in words (fixes and the plan review):
    /// "subscription 8f2c…", "tenant root management group 0a1b…"; Entra ID only: the tenant.
    pub fn role_scope(&self) -> String {
        match &self.scope {
            Scope::Subscription {
                subscription_id, ..
            } => format!("subscription {subscription_id}"),
            Scope::Tenant { tenant_id, .. } => {
                format!("tenant root management group {tenant_id}")
            }
            Scope::Entra { tenant_id } => format!("tenant {tenant_id}"),
        }
    }

    /// The Prisma Cloud connection's name (`default` when none was chosen).
    pub fn connection_name(&self) -> &str {
        self.connection
            .as_ref()
            .map_or(DEFAULT_CONNECTION, |c| c.as_str())
    }

    pub fn uses_terraform(&self) -> bool {
        !matches!(self.identity, IdentitySource::Existing { .. })
    }

    pub fn has_feature(&self, f: Feature) -> bool {
        self.features.contains(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> RawRequest {
        RawRequest {
            scope: Some("subscription".into()),
            subscription_id: Some("8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f".into()),
            tenant_id: Some("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".into()),
            name: Some("prod".into()),
            groups: vec!["Default Account Group".into()],
            ..RawRequest::default()
        }
    }

    #[test]
    fn a_good_request_validates() {
        let r = base().validate().unwrap();
        assert_eq!(r.scope.account_id(), "8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f");
        assert_eq!(r.groups, [GroupRef::Name("Default Account Group".into())]);
        assert!(matches!(
            r.identity,
            IdentitySource::Builtin {
                secret_rotation_days: 180,
                ..
            }
        ));
    }

    #[test]
    fn every_bad_field_is_named_at_once() {
        let raw = RawRequest {
            subscription_id: Some("{8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f}".into()),
            tenant_id: Some("nope".into()),
            name: Some("  ".into()),
            groups: vec![],
            features: vec!["Telepathy".into()],
            environment: Some("mars".into()),
            identity: Some("magic".into()),
            ..base()
        };
        let errs = raw.validate().unwrap_err();
        let fields: Vec<_> = errs.errors.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "subscription_id",
            "tenant_id",
            "name",
            "groups",
            "features",
            "environment",
            "identity",
        ] {
            assert!(fields.contains(&f), "{f} missing from {errs}");
        }
    }

    #[test]
    fn existing_identity_needs_both_ids_and_rejects_the_client_id_mixup() {
        let raw = RawRequest {
            identity: Some("existing".into()),
            ..base()
        };
        let errs = raw.validate().unwrap_err();
        assert!(errs.errors.iter().any(|e| e.field == "client_id"));
        assert!(
            errs.errors
                .iter()
                .any(|e| e.field == "service_principal_id")
        );
        let same = "11111111-2222-4333-8444-555555555555";
        let raw = RawRequest {
            identity: Some("existing".into()),
            client_id: Some(same.into()),
            service_principal_id: Some(same.into()),
            ..base()
        };
        let errs = raw.validate().unwrap_err();
        assert!(
            errs.to_string().contains("Enterprise application"),
            "{errs}"
        );
    }

    #[test]
    fn tenant_selections_only_for_tenants_and_entra_has_no_features() {
        let raw = RawRequest {
            exclude_management_groups: vec!["mg-dev".into()],
            ..base()
        };
        assert!(
            raw.validate()
                .unwrap_err()
                .errors
                .iter()
                .any(|e| e.field == "include_management_groups")
        );
        let raw = RawRequest {
            scope: Some("entra".into()),
            subscription_id: None,
            features: vec!["Remediation".into()],
            flow_logs: true,
            ..base()
        };
        let fields: Vec<_> = raw
            .validate()
            .unwrap_err()
            .errors
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert!(
            fields.contains(&"features".to_owned()) && fields.contains(&"flow_logs".to_owned())
        );
        let raw = RawRequest {
            scope: Some("tenant".into()),
            subscription_id: None,
            exclude_management_groups: vec!["bad name!".into()],
            ..base()
        };
        assert!(
            raw.validate()
                .unwrap_err()
                .errors
                .iter()
                .any(|e| e.field == "exclude_management_groups")
        );
    }

    #[test]
    fn names_can_be_templates() {
        let raw = RawRequest {
            name: Some("azure-{subscription_id}".into()),
            ..base()
        };
        let r = raw.validate().unwrap();
        assert_eq!(
            r.name.as_str(),
            "azure-8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f"
        );
    }

    #[test]
    fn connections_are_named_or_default() {
        for default in [None, Some(""), Some("default"), Some(" default ")] {
            let raw = RawRequest {
                connection: default.map(str::to_owned),
                ..base()
            };
            assert_eq!(raw.validate().unwrap().connection, None, "{default:?}");
        }
        let raw = RawRequest {
            connection: Some("eu-prod".into()),
            ..base()
        };
        let r = raw.validate().unwrap();
        assert_eq!(r.connection.as_ref().map(|c| c.as_str()), Some("eu-prod"));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["connection"], "eu-prod");
        let raw = RawRequest {
            connection: Some("EU Prod".into()),
            ..base()
        };
        let e = raw.validate().unwrap_err();
        assert_eq!(e.errors.len(), 1);
        assert_eq!(e.errors[0].field, "connection");
    }

    #[test]
    fn requests_stored_before_connections_still_read() {
        let r = base().validate().unwrap();
        let mut json = serde_json::to_value(&r).unwrap();
        assert!(json.get("connection").is_none(), "absent when default");
        json.as_object_mut().unwrap().remove("connection");
        let back: OnboardingRequest = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn register_anyway_is_off_by_default_and_survives_storage() {
        let r = base().validate().unwrap();
        assert!(!r.register_anyway);
        let raw: RawRequest = serde_json::from_value(serde_json::json!({
            "tenant_id": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
            "subscription_id": "8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f",
            "name": "prod", "groups": ["Default Account Group"], "register_anyway": true,
        }))
        .unwrap();
        let r = raw.validate().unwrap();
        assert!(r.register_anyway);
        let json = serde_json::to_value(&r).unwrap();
        let back: OnboardingRequest = serde_json::from_value(json.clone()).unwrap();
        assert!(back.register_anyway);
        // Jobs stored before the option existed read as "stop before registering".
        let mut old = json;
        old.as_object_mut().unwrap().remove("register_anyway");
        let back: OnboardingRequest = serde_json::from_value(old).unwrap();
        assert!(!back.register_anyway);
    }

    #[test]
    fn unknown_json_fields_are_refused() {
        let err =
            serde_json::from_str::<RawRequest>(r#"{"scope":"subscription","client_secret":"x"}"#)
                .unwrap_err();
        assert!(err.to_string().contains("client_secret"));
    }
}
