//! An account's configuration in the terms drift compares: what onboarding set (read from the
//! job's validated request and the group IDs it resolved), what the platform has now (read
//! from `GET /v1/cloudAccounts/azureAccounts/{id}`), and the field-by-field differences.
//!
//! Both sides are normalised the same way (sorted, lower-case IDs, display names for
//! features), so a difference is a real one and never an artefact of order or spelling.

use prisma_types::Feature;
use prisma_types::account::HierarchyEntry;
use prisma_types::wire::{AzureAccountRequest, AzureAccountView, FeatureState, HierarchySelection};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::request::{OnboardingRequest, Scope};

/// The fields drift watches, normalised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountConfig {
    /// `subscription`, `tenant` (with management groups and subscriptions) or `entra`.
    pub scope: String,
    pub enabled: bool,
    /// The features turned on, by their display names (`Agentless Scanning`, …), sorted.
    pub features: Vec<String>,
    /// Account group IDs, sorted (for a tenant: its default account group).
    pub account_groups: Vec<String>,
    pub flow_logs: bool,
    /// A tenant's management-group and subscription include/exclude filters, sorted.
    #[serde(default)]
    pub scope_filters: Vec<ScopeFilter>,
}

/// One entry of a tenant's hierarchy selection.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ScopeFilter {
    /// `TENANT`, `MANAGEMENT_GROUP` or `SUBSCRIPTION`.
    pub node_type: String,
    /// `ALL`, `INCLUDE` or `EXCLUDE`.
    pub selection: String,
    pub resource_id: String,
}

/// One field that differs: what the product wants, and what the platform has.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    /// `enabled`, `features`, `account_groups`, `flow_logs` or `scope_filters`.
    pub field: String,
    pub desired: Value,
    pub current: Value,
}

impl Difference {
    /// `field: desired X, now Y`, for logs and notifications (ASCII: it reaches pages).
    pub fn words(&self) -> String {
        format!(
            "{}: desired {}, now {}",
            self.field,
            words(&self.desired),
            words(&self.current)
        )
    }
}

/// A difference's value in words (lists joined, `(none)` for an empty one; ASCII).
pub fn words(v: &Value) -> String {
    match v {
        Value::Array(items) if items.is_empty() => "(none)".to_owned(),
        Value::Array(items) => items.iter().map(words).collect::<Vec<_>>().join(", "),
        Value::String(s) => s.clone(),
        Value::Object(o) => o.values().map(words).collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    }
}

fn sorted_lower(ids: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut ids: Vec<String> = ids.into_iter().map(|i| i.to_ascii_lowercase()).collect();
    ids.sort();
    ids.dedup();
    ids
}

fn filter_of(h: &HierarchySelection) -> ScopeFilter {
    ScopeFilter {
        node_type: h.node_type.to_ascii_uppercase(),
        selection: h.selection_type.to_ascii_uppercase(),
        resource_id: h.resource_id.to_ascii_lowercase(),
    }
}

fn sorted_filters(filters: impl IntoIterator<Item = ScopeFilter>) -> Vec<ScopeFilter> {
    let mut filters: Vec<ScopeFilter> = filters.into_iter().collect();
    filters.sort();
    filters.dedup();
    filters
}

/// A feature's display name from whichever name a read gives (internal or display).
fn feature_display(name: &str) -> String {
    Feature::ALL
        .into_iter()
        .find(|f| f.internal_name() == name || f.display_name().eq_ignore_ascii_case(name))
        .map_or_else(|| name.to_owned(), |f| f.display_name().to_owned())
}

impl AccountConfig {
    /// What onboarding set: the job's request with the group IDs its `resolve` step found.
    pub fn from_request(request: &OnboardingRequest, group_ids: &[String]) -> AccountConfig {
        let groups = sorted_lower(group_ids.iter().cloned());
        let features = {
            let mut f = request.features.display_names();
            f.sort();
            f
        };
        match &request.scope {
            Scope::Subscription { .. } => AccountConfig {
                scope: "subscription".to_owned(),
                enabled: request.enabled,
                features,
                account_groups: groups,
                flow_logs: request.flow_logs,
                scope_filters: Vec::new(),
            },
            Scope::Tenant { tenant_id, .. } => AccountConfig {
                scope: "tenant".to_owned(),
                enabled: request.enabled,
                features,
                // Prisma keeps a tenant's default account group (the first one asked for).
                account_groups: groups.into_iter().take(1).collect(),
                flow_logs: request.flow_logs,
                scope_filters: sorted_filters(
                    crate::job::tenant_selection(&request.scope).iter().map(
                        |e: &HierarchyEntry| {
                            filter_of(&prisma_types::account::hierarchy_wire(tenant_id, e))
                        },
                    ),
                ),
            },
            Scope::Entra { .. } => AccountConfig {
                scope: "entra".to_owned(),
                enabled: request.enabled,
                features: Vec::new(),
                account_groups: groups,
                flow_logs: false,
                scope_filters: Vec::new(),
            },
        }
    }

    /// What the platform has now.
    pub fn from_view(view: &AzureAccountView) -> AccountConfig {
        let tenant = view
            .cloud_account
            .account_type
            .eq_ignore_ascii_case("tenant");
        let scope = match (tenant, view.root_sync_enabled) {
            (false, _) => "subscription",
            (true, true) => "tenant",
            (true, false) => "entra",
        };
        let mut features: Vec<String> = view
            .cloud_account
            .features
            .iter()
            .filter(|f| f.feature_state.eq_ignore_ascii_case("enabled"))
            .map(|f| feature_display(&f.feature_name))
            .collect();
        features.sort();
        features.dedup();
        let account_groups = if scope == "tenant" {
            sorted_lower(view.default_account_group_id.clone())
        } else {
            sorted_lower(view.group_ids.iter().cloned())
        };
        AccountConfig {
            scope: scope.to_owned(),
            enabled: view.cloud_account.enabled,
            features,
            account_groups,
            flow_logs: view.monitor_flow_logs,
            scope_filters: if scope == "tenant" {
                sorted_filters(view.hierarchy_selection.iter().map(filter_of))
            } else {
                Vec::new()
            },
        }
    }

    /// The capabilities the health watch reads for an account with this configuration.
    pub fn capabilities(&self) -> Vec<String> {
        crate::job::prisma::capability_names(&self.scope, self.flow_logs, |f| {
            self.features.iter().any(|n| n == f.display_name())
        })
    }

    /// The fields where `current` differs from `self` (the desired state), in a fixed order.
    pub fn differences(&self, current: &AccountConfig) -> Vec<Difference> {
        let mut out = Vec::new();
        let mut field = |name: &str, desired: Value, now: Value| {
            if desired != now {
                out.push(Difference {
                    field: name.to_owned(),
                    desired,
                    current: now,
                });
            }
        };
        field("enabled", json!(self.enabled), json!(current.enabled));
        field("features", json!(self.features), json!(current.features));
        field(
            "account_groups",
            json!(self.account_groups),
            json!(current.account_groups),
        );
        field("flow_logs", json!(self.flow_logs), json!(current.flow_logs));
        field(
            "scope_filters",
            json!(self.scope_filters),
            json!(current.scope_filters),
        );
        out
    }

    /// The update body that puts this configuration on the account as `view` shows it: every
    /// other field as read, and the key as the read masked it (the platform keeps the stored
    /// secret, as the PANW scripts rely on: `docs/emulator.md`), so no secret is needed.
    pub fn update_body(&self, view: &AzureAccountView) -> AzureAccountRequest {
        let tenant = self.scope == "tenant";
        let entra = self.scope == "entra";
        let account_id = (!view
            .cloud_account
            .account_type
            .eq_ignore_ascii_case("tenant"))
        .then(|| view.cloud_account.account_id.clone());
        AzureAccountRequest {
            cloud_account: prisma_types::wire::CloudAccountSpec {
                account_id,
                account_type: view.cloud_account.account_type.clone(),
                enabled: Some(self.enabled),
                name: view.cloud_account.name.clone(),
                group_ids: (!tenant).then(|| self.account_groups.clone()),
                protection_mode: None,
            },
            client_id: view.client_id.clone(),
            key: prisma_types::SecretString::new(view.key.clone()),
            tenant_id: view.tenant_id.clone(),
            environment_type: view.environment_type.clone(),
            service_principal_id: Some(view.service_principal_id.clone()),
            monitor_flow_logs: Some(self.flow_logs && !entra),
            features: Some(
                self.features
                    .iter()
                    .map(|name| FeatureState {
                        name: name.clone(),
                        state: "enabled".to_owned(),
                        default_member_state: None,
                    })
                    .collect(),
            ),
            default_account_group_id: if tenant {
                self.account_groups.first().cloned()
            } else {
                view.default_account_group_id.clone()
            },
            hierarchy_selection: tenant.then(|| {
                self.scope_filters
                    .iter()
                    .map(|f| {
                        let known = view
                            .hierarchy_selection
                            .iter()
                            .find(|h| h.resource_id.eq_ignore_ascii_case(&f.resource_id));
                        HierarchySelection {
                            resource_id: f.resource_id.clone(),
                            display_name: known
                                .map_or_else(|| f.resource_id.clone(), |h| h.display_name.clone()),
                            node_type: f.node_type.clone(),
                            selection_type: f.selection.clone(),
                        }
                    })
                    .collect()
            }),
            root_sync_enabled: tenant.then_some(true),
            account_group_mode: None,
        }
    }
}

/// A digest of the differences: the same drift has the same fingerprint (empty: no drift).
pub fn fingerprint(differences: &[Difference]) -> String {
    if differences.is_empty() {
        return String::new();
    }
    let text = serde_json::to_string(differences).unwrap_or_default();
    let digest = Sha256::digest(text.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::RawRequest;
    use prisma_types::wire::{AzureCloudAccountView, FeatureView};

    const TENANT: &str = "7e4a0000-aaaa-4bbb-8ccc-000000000001";
    const GROUP: &str = "00000000-0000-4000-8000-00000000d0a9";

    fn tenant_request() -> OnboardingRequest {
        RawRequest {
            scope: Some("tenant".into()),
            tenant_id: Some(TENANT.into()),
            include_management_groups: vec!["mg-prod".into()],
            exclude_subscriptions: vec!["5ab1e000-1111-4222-8333-444444444444".into()],
            name: Some("contoso".into()),
            groups: vec![GROUP.into()],
            features: vec!["Agentless Scanning".into()],
            flow_logs: true,
            ..RawRequest::default()
        }
        .validate()
        .unwrap()
    }

    fn selection(id: &str, node: &str, sel: &str) -> HierarchySelection {
        HierarchySelection {
            resource_id: id.into(),
            display_name: id.into(),
            node_type: node.into(),
            selection_type: sel.into(),
        }
    }

    /// The tenant as the platform returns it: other order, other case, internal feature names.
    fn tenant_view() -> AzureAccountView {
        AzureAccountView {
            cloud_account: AzureCloudAccountView {
                account_id: TENANT.into(),
                name: "contoso".into(),
                account_type: "tenant".into(),
                enabled: true,
                features: vec![FeatureView {
                    feature_name: "compute-agentless".into(),
                    feature_state: "enabled".into(),
                    display_name: String::new(),
                    default_member_state: None,
                }],
                ..AzureCloudAccountView::default()
            },
            tenant_id: TENANT.into(),
            monitor_flow_logs: true,
            default_account_group_id: Some(GROUP.to_ascii_uppercase()),
            root_sync_enabled: true,
            hierarchy_selection: vec![
                selection(
                    "5AB1E000-1111-4222-8333-444444444444",
                    "SUBSCRIPTION",
                    "EXCLUDE",
                ),
                selection("mg-prod", "MANAGEMENT_GROUP", "INCLUDE"),
            ],
            ..AzureAccountView::default()
        }
    }

    #[test]
    fn a_tenant_onboarded_and_read_back_unchanged_has_no_drift() {
        let desired = AccountConfig::from_request(&tenant_request(), &[GROUP.into()]);
        assert_eq!(desired.scope, "tenant");
        assert_eq!(desired.scope_filters.len(), 2);
        let current = AccountConfig::from_view(&tenant_view());
        assert_eq!(desired.differences(&current), []);
        assert_eq!(fingerprint(&[]), "");
    }

    #[test]
    fn a_changed_scope_filter_is_a_difference_and_the_update_puts_it_back() {
        let desired = AccountConfig::from_request(&tenant_request(), &[GROUP.into()]);
        let mut view = tenant_view();
        view.hierarchy_selection
            .push(selection("mg-sandbox", "MANAGEMENT_GROUP", "EXCLUDE"));
        view.cloud_account.enabled = false;
        let current = AccountConfig::from_view(&view);
        let differences = desired.differences(&current);
        let fields: Vec<&str> = differences.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, ["enabled", "scope_filters"]);
        assert_eq!(differences[0].words(), "enabled: desired true, now false");
        assert_ne!(fingerprint(&differences), "");
        assert_ne!(fingerprint(&differences), fingerprint(&differences[..1]));
        // The update body carries the desired fields and the read's masked key.
        view.key = "********".into();
        let body = desired.update_body(&view);
        assert_eq!(body.cloud_account.enabled, Some(true));
        assert_eq!(body.key.expose(), "********");
        assert_eq!(body.hierarchy_selection.as_ref().unwrap().len(), 2);
        assert_eq!(body.cloud_account.account_id, None);
        let mut applied = view.clone();
        applied.cloud_account.enabled = true;
        applied.hierarchy_selection = body.hierarchy_selection.unwrap();
        assert_eq!(desired.differences(&AccountConfig::from_view(&applied)), []);
    }
}
