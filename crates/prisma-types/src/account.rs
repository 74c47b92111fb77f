//! Validated onboarding requests for the three Azure shapes, and their wire bodies.
//!
//! An [`AzureAccount`] can only be built from parsed IDs, a non-empty name and (where Prisma
//! requires them) at least one account group, so a body the client sends is well-formed by
//! construction. [`AzureAccount::to_wire`] produces the exact `AzureAccountRequest` the API
//! documents for each shape (§3.3 of the reference).

use crate::ValidationError;
use crate::feature::{Environment, FeatureSet};
use crate::ids::{
    AccountGroupId, AccountName, ManagementGroupId, ObjectId, SubscriptionId, TenantId,
};
use crate::secret::SecretString;
use crate::wire::{AzureAccountRequest, CloudAccountSpec, FeatureState, HierarchySelection};

/// The Azure identity Prisma uses to read the account.
#[derive(Clone, Debug)]
pub struct AzureCredentials {
    /// Application (client) ID.
    pub client_id: ObjectId,
    /// The client secret *value* (not its "Secret ID").
    pub client_secret: SecretString,
    /// Enterprise application (service principal) object ID.
    pub service_principal_id: ObjectId,
}

impl AzureCredentials {
    pub fn new(
        client_id: ObjectId,
        client_secret: SecretString,
        service_principal_id: ObjectId,
    ) -> Result<Self, ValidationError> {
        validate_client_secret(&client_secret)?;
        Ok(Self {
            client_id,
            client_secret,
            service_principal_id,
        })
    }
}

/// Entra ID generates secrets of 16–64 characters. A GUID here is almost always the secret's
/// "Secret ID" pasted by mistake, so it is refused with that explanation. The message never
/// quotes the value.
pub fn validate_client_secret(secret: &SecretString) -> Result<(), ValidationError> {
    let s = secret.expose();
    let n = s.chars().count();
    if !(16..=64).contains(&n) {
        return Err(ValidationError::new(
            "client_secret",
            format!("is {n} characters long; Azure client secrets are 16-64 characters"),
        ));
    }
    if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ValidationError::new(
            "client_secret",
            "contains whitespace or control characters",
        ));
    }
    if TenantId::parse(s).is_ok() {
        return Err(ValidationError::new(
            "client_secret",
            "looks like a GUID: that is the secret's 'Secret ID', copy its 'Value' instead",
        ));
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelectionType {
    All,
    Include,
    Exclude,
}

impl SelectionType {
    pub fn as_str(self) -> &'static str {
        match self {
            SelectionType::All => "ALL",
            SelectionType::Include => "INCLUDE",
            SelectionType::Exclude => "EXCLUDE",
        }
    }
}

/// One entry of a tenant's hierarchy selection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HierarchyEntry {
    /// The whole tenant ("Tenant Root Group") and everything below it.
    WholeTenant,
    ManagementGroup(ManagementGroupId, SelectionType),
    Subscription(SubscriptionId, SelectionType),
}

/// A subscription.
#[derive(Clone, Debug)]
pub struct Subscription {
    pub subscription_id: SubscriptionId,
    pub tenant_id: TenantId,
    pub name: AccountName,
    pub group_ids: Vec<AccountGroupId>,
    pub features: FeatureSet,
    pub monitor_flow_logs: bool,
    pub environment: Environment,
    pub enabled: bool,
}

/// A tenant with its management groups and subscriptions (`rootSyncEnabled: true`).
#[derive(Clone, Debug)]
pub struct TenantWithGroups {
    pub tenant_id: TenantId,
    pub name: AccountName,
    pub default_account_group_id: AccountGroupId,
    pub selection: Vec<HierarchyEntry>,
    pub features: FeatureSet,
    pub monitor_flow_logs: bool,
    pub environment: Environment,
    pub enabled: bool,
}

/// A Microsoft Entra ID tenant only (no management groups, no subscriptions).
#[derive(Clone, Debug)]
pub struct EntraTenant {
    pub tenant_id: TenantId,
    pub name: AccountName,
    pub group_ids: Vec<AccountGroupId>,
    pub environment: Environment,
    pub enabled: bool,
}

/// What to onboard, in one of the three shapes, with the credentials Prisma will use.
#[derive(Clone, Debug)]
pub struct AzureAccount {
    pub scope: AccountScope,
    pub credentials: AzureCredentials,
}

#[derive(Clone, Debug)]
pub enum AccountScope {
    Subscription(Subscription),
    Tenant(TenantWithGroups),
    Entra(EntraTenant),
}

fn require_groups(groups: &[AccountGroupId]) -> Result<(), ValidationError> {
    if groups.is_empty() {
        return Err(ValidationError::new(
            "groups",
            "at least one account group is required (Prisma refuses zero groups)",
        ));
    }
    Ok(())
}

fn check_features(env: Environment, features: &FeatureSet) -> Result<(), ValidationError> {
    if let Some(f) = features.iter().find(|f| !env.supports(*f)) {
        return Err(ValidationError::new(
            "features",
            format!("'{f}' is not available in {env}"),
        ));
    }
    Ok(())
}

impl AzureAccount {
    pub fn new(
        scope: AccountScope,
        credentials: AzureCredentials,
    ) -> Result<Self, ValidationError> {
        match &scope {
            AccountScope::Subscription(s) => {
                require_groups(&s.group_ids)?;
                check_features(s.environment, &s.features)?;
            }
            AccountScope::Tenant(t) => {
                check_features(t.environment, &t.features)?;
                if t.selection.is_empty() {
                    return Err(ValidationError::new(
                        "hierarchy_selection",
                        "choose the whole tenant or at least one management group or subscription",
                    ));
                }
            }
            AccountScope::Entra(e) => require_groups(&e.group_ids)?,
        }
        Ok(Self { scope, credentials })
    }

    /// The ID Prisma files the account under: the subscription ID, or the tenant ID.
    pub fn account_id(&self) -> &str {
        match &self.scope {
            AccountScope::Subscription(s) => s.subscription_id.as_str(),
            AccountScope::Tenant(t) => t.tenant_id.as_str(),
            AccountScope::Entra(e) => e.tenant_id.as_str(),
        }
    }

    pub fn tenant_id(&self) -> &TenantId {
        match &self.scope {
            AccountScope::Subscription(s) => &s.tenant_id,
            AccountScope::Tenant(t) => &t.tenant_id,
            AccountScope::Entra(e) => &e.tenant_id,
        }
    }

    pub fn name(&self) -> &AccountName {
        match &self.scope {
            AccountScope::Subscription(s) => &s.name,
            AccountScope::Tenant(t) => &t.name,
            AccountScope::Entra(e) => &e.name,
        }
    }

    pub fn features(&self) -> FeatureSet {
        match &self.scope {
            AccountScope::Subscription(s) => s.features.clone(),
            AccountScope::Tenant(t) => t.features.clone(),
            AccountScope::Entra(_) => FeatureSet::default(),
        }
    }

    /// The request body for add, update and the pre-flight status check.
    pub fn to_wire(&self) -> AzureAccountRequest {
        let creds = &self.credentials;
        let features = |set: &FeatureSet| {
            Some(
                set.iter()
                    .map(|f| FeatureState {
                        name: f.display_name().to_owned(),
                        state: "enabled".to_owned(),
                        default_member_state: None,
                    })
                    .collect(),
            )
        };
        let groups = |ids: &[AccountGroupId]| Some(ids.iter().map(|g| g.to_string()).collect());
        let mut body = AzureAccountRequest {
            cloud_account: CloudAccountSpec::default(),
            client_id: creds.client_id.to_string(),
            key: creds.client_secret.clone(),
            tenant_id: self.tenant_id().to_string(),
            environment_type: String::new(),
            service_principal_id: Some(creds.service_principal_id.to_string()),
            monitor_flow_logs: None,
            features: None,
            default_account_group_id: None,
            hierarchy_selection: None,
            root_sync_enabled: None,
            account_group_mode: None,
        };
        match &self.scope {
            AccountScope::Subscription(s) => {
                body.cloud_account = CloudAccountSpec {
                    account_id: Some(s.subscription_id.to_string()),
                    account_type: "account".to_owned(),
                    enabled: Some(s.enabled),
                    name: s.name.to_string(),
                    group_ids: groups(&s.group_ids),
                    protection_mode: None,
                };
                body.environment_type = s.environment.as_str().to_owned();
                body.monitor_flow_logs = Some(s.monitor_flow_logs);
                body.features = features(&s.features);
            }
            AccountScope::Tenant(t) => {
                body.cloud_account = CloudAccountSpec {
                    account_id: None,
                    account_type: "tenant".to_owned(),
                    enabled: Some(t.enabled),
                    name: t.name.to_string(),
                    group_ids: None,
                    protection_mode: None,
                };
                body.environment_type = t.environment.as_str().to_owned();
                body.monitor_flow_logs = Some(t.monitor_flow_logs);
                body.features = features(&t.features);
                body.default_account_group_id = Some(t.default_account_group_id.to_string());
                body.root_sync_enabled = Some(true);
                body.hierarchy_selection = Some(
                    t.selection
                        .iter()
                        .map(|e| hierarchy_wire(&t.tenant_id, e))
                        .collect(),
                );
            }
            AccountScope::Entra(e) => {
                body.cloud_account = CloudAccountSpec {
                    account_id: None,
                    account_type: "tenant".to_owned(),
                    enabled: Some(e.enabled),
                    name: e.name.to_string(),
                    group_ids: groups(&e.group_ids),
                    protection_mode: None,
                };
                body.environment_type = e.environment.as_str().to_owned();
                body.monitor_flow_logs = Some(false);
                body.features = Some(Vec::new());
            }
        }
        body
    }
}

/// One hierarchy entry as the wire spells it (a whole tenant is its root group, `ALL`).
pub fn hierarchy_wire(tenant: &TenantId, entry: &HierarchyEntry) -> HierarchySelection {
    let (resource_id, display_name, node_type, selection) = match entry {
        HierarchyEntry::WholeTenant => (
            tenant.to_string(),
            "Tenant Root Group".to_owned(),
            "TENANT",
            SelectionType::All,
        ),
        HierarchyEntry::ManagementGroup(id, sel) => {
            (id.to_string(), id.to_string(), "MANAGEMENT_GROUP", *sel)
        }
        HierarchyEntry::Subscription(id, sel) => {
            (id.to_string(), id.to_string(), "SUBSCRIPTION", *sel)
        }
    };
    HierarchySelection {
        resource_id,
        display_name,
        node_type: node_type.to_owned(),
        selection_type: selection.as_str().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feature::Feature;

    fn creds() -> AzureCredentials {
        AzureCredentials::new(
            ObjectId::parse("11111111-2222-4333-8444-555555555555").unwrap(),
            SecretString::from("s3cr3t~value-of-32-characters!!"),
            ObjectId::parse("66666666-7777-4888-9999-aaaaaaaaaaaa").unwrap(),
        )
        .unwrap()
    }

    fn sub(groups: Vec<AccountGroupId>) -> AccountScope {
        AccountScope::Subscription(Subscription {
            subscription_id: SubscriptionId::parse("8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f").unwrap(),
            tenant_id: TenantId::parse("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d").unwrap(),
            name: AccountName::parse("prod").unwrap(),
            group_ids: groups,
            features: FeatureSet::new([Feature::Remediation]),
            monitor_flow_logs: true,
            environment: Environment::Azure,
            enabled: true,
        })
    }

    #[test]
    fn subscription_wire_shape() {
        let acct =
            AzureAccount::new(sub(vec![AccountGroupId::parse("g1").unwrap()]), creds()).unwrap();
        let v = serde_json::to_value(acct.to_wire()).unwrap();
        assert_eq!(v["cloudAccount"]["accountType"], "account");
        assert_eq!(
            v["cloudAccount"]["accountId"],
            "8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f"
        );
        assert_eq!(v["cloudAccount"]["groupIds"][0], "g1");
        assert_eq!(v["features"][0]["name"], "Remediation");
        assert_eq!(v["environmentType"], "azure");
        assert_eq!(
            v["servicePrincipalId"],
            "66666666-7777-4888-9999-aaaaaaaaaaaa"
        );
        assert_eq!(v["key"], "s3cr3t~value-of-32-characters!!");
        assert!(v.get("rootSyncEnabled").is_none());
    }

    #[test]
    fn zero_groups_are_refused_before_sending() {
        let err = AzureAccount::new(sub(vec![]), creds()).unwrap_err();
        assert_eq!(err.field, "groups");
    }

    #[test]
    fn tenant_wire_shape_has_root_sync_and_selection() {
        let t = AccountScope::Tenant(TenantWithGroups {
            tenant_id: TenantId::parse("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d").unwrap(),
            name: AccountName::parse("corp").unwrap(),
            default_account_group_id: AccountGroupId::parse("g1").unwrap(),
            selection: vec![
                HierarchyEntry::WholeTenant,
                HierarchyEntry::ManagementGroup(
                    ManagementGroupId::parse("sandbox").unwrap(),
                    SelectionType::Exclude,
                ),
            ],
            features: FeatureSet::default(),
            monitor_flow_logs: false,
            environment: Environment::AzureGov,
            enabled: true,
        });
        let v = serde_json::to_value(AzureAccount::new(t, creds()).unwrap().to_wire()).unwrap();
        assert_eq!(v["cloudAccount"]["accountType"], "tenant");
        assert_eq!(v["rootSyncEnabled"], true);
        assert_eq!(v["defaultAccountGroupId"], "g1");
        assert_eq!(v["hierarchySelection"][0]["nodeType"], "TENANT");
        assert_eq!(v["hierarchySelection"][0]["selectionType"], "ALL");
        assert_eq!(v["hierarchySelection"][1]["selectionType"], "EXCLUDE");
        assert_eq!(v["environmentType"], "azure_gov");
    }

    #[test]
    fn client_secret_rules() {
        assert!(validate_client_secret(&"short".into()).is_err());
        let guid =
            validate_client_secret(&"8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f".into()).unwrap_err();
        assert!(guid.message.contains("Secret ID"));
        assert!(!guid.to_string().contains("8f2c1a3e"));
        assert!(validate_client_secret(&"abcdefghijklmnop".into()).is_ok());
    }
}
