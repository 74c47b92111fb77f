//! The checks the real service applies to an Azure account body, with its i18n keys.

use axum::http::StatusCode;
use prisma_types::feature::{ALWAYS_ON_FEATURE, Feature};
use prisma_types::ids::MAX_ACCOUNT_NAME_CHARS;
use prisma_types::wire::AzureAccountRequest;
use prisma_types::{AccountName, ManagementGroupId, ObjectId, SubscriptionId, TenantId};

use crate::error::ApiFailure;
use crate::store::Store;

/// The three Azure shapes, as decided from the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Subscription,
    TenantWithGroups,
    EntraOnly,
}

#[derive(Debug, Clone)]
pub struct CheckedAccount {
    pub shape: Shape,
    /// Subscription ID, or the tenant ID for tenant accounts (lower-case).
    pub account_id: String,
    pub name: String,
    pub group_ids: Vec<String>,
}

/// What to check: everything for add/update; the body's own consistency for a status dry-run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    StatusCheck,
    Write,
}

fn invalid_id(subject: &str) -> ApiFailure {
    ApiFailure::new(StatusCode::BAD_REQUEST, "invalid_account_id_format").subject(subject)
}

pub fn check_account(
    body: &AzureAccountRequest,
    store: &Store,
    purpose: Purpose,
) -> Result<CheckedAccount, ApiFailure> {
    let ca = &body.cloud_account;
    let account_type = ca.account_type.to_ascii_lowercase();
    if account_type != "account" && account_type != "tenant" {
        return Err(
            ApiFailure::new(StatusCode::NOT_FOUND, "invalid_account_type")
                .subject("cloudAccount.accountType"),
        );
    }
    let tenant = TenantId::parse(&body.tenant_id).map_err(|_| invalid_id("tenantId"))?;
    let root_sync = body.root_sync_enabled.unwrap_or(false);
    let shape = match (account_type.as_str(), root_sync) {
        ("account", _) => Shape::Subscription,
        (_, true) => Shape::TenantWithGroups,
        (_, false) => Shape::EntraOnly,
    };
    let account_id = match shape {
        Shape::Subscription => SubscriptionId::parse(ca.account_id.as_deref().unwrap_or(""))
            .map_err(|_| invalid_id("cloudAccount.accountId"))?
            .to_string(),
        _ => {
            // Tenants are filed under the tenant ID; an accountId, if sent, must agree.
            match ca
                .account_id
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
            {
                Some(id) if !id.eq_ignore_ascii_case(tenant.as_str()) => {
                    return Err(invalid_id("cloudAccount.accountId"));
                }
                _ => tenant.to_string(),
            }
        }
    };
    ObjectId::parse(&body.client_id)
        .map_err(|_| ApiFailure::bad_request("clientId", "clientId must be a GUID"))?;
    if let Some(sp) = &body.service_principal_id {
        ObjectId::parse(sp).map_err(|_| {
            ApiFailure::bad_request("servicePrincipalId", "servicePrincipalId must be a GUID")
        })?;
    }
    if body.key.is_empty() {
        return Err(ApiFailure::bad_request(
            "key",
            "key (the client secret) is required",
        ));
    }
    if !matches!(
        body.environment_type.as_str(),
        "azure" | "azure_gov" | "azure_china"
    ) {
        return Err(ApiFailure::bad_request(
            "environmentType",
            "environmentType must be azure, azure_gov or azure_china",
        ));
    }
    let name = AccountName::parse(&ca.name).map_err(|e| {
        ApiFailure::bad_request(
            "cloudAccount.name",
            format!(
                "{} (at most {MAX_ACCOUNT_NAME_CHARS} characters)",
                e.message
            ),
        )
    })?;

    let mut any_enabled = false;
    for f in body.features.iter().flatten() {
        if f.name.eq_ignore_ascii_case(ALWAYS_ON_FEATURE) {
            return Err(ApiFailure::bad_request(
                "features",
                "the always-on capability must not be sent",
            ));
        }
        if !Feature::ALL.into_iter().any(|x| x.display_name() == f.name) {
            return Err(ApiFailure::bad_request("features", "unknown feature name"));
        }
        match f.state.as_str() {
            "enabled" => any_enabled = true,
            "disabled" => {}
            _ => {
                return Err(ApiFailure::bad_request(
                    "features",
                    "feature state must be enabled or disabled",
                ));
            }
        }
    }
    if shape == Shape::EntraOnly {
        if any_enabled {
            return Err(ApiFailure::bad_request(
                "features",
                "an Entra-ID-only tenant has no optional features",
            ));
        }
        if body.monitor_flow_logs.unwrap_or(false) {
            return Err(ApiFailure::bad_request(
                "monitorFlowLogs",
                "monitorFlowLogs must be false for an Entra-ID-only tenant",
            ));
        }
    }
    if shape == Shape::TenantWithGroups {
        for (i, sel) in body.hierarchy_selection.iter().flatten().enumerate() {
            let subject = format!("hierarchySelection[{i}]");
            let id_ok = match sel.node_type.as_str() {
                "TENANT" => TenantId::parse(&sel.resource_id).is_ok(),
                "SUBSCRIPTION" => SubscriptionId::parse(&sel.resource_id).is_ok(),
                "MANAGEMENT_GROUP" => ManagementGroupId::parse(&sel.resource_id).is_ok(),
                _ => false,
            };
            if !id_ok || !matches!(sel.selection_type.as_str(), "ALL" | "INCLUDE" | "EXCLUDE") {
                return Err(ApiFailure::bad_request(
                    subject,
                    "nodeType must be TENANT, MANAGEMENT_GROUP or SUBSCRIPTION with a matching \
                     resourceId, and selectionType ALL, INCLUDE or EXCLUDE",
                ));
            }
        }
    }

    let group_ids = match shape {
        Shape::TenantWithGroups => body.default_account_group_id.iter().cloned().collect(),
        _ => ca.group_ids.clone().unwrap_or_default(),
    };
    if purpose == Purpose::Write {
        if group_ids.is_empty() {
            return Err(ApiFailure::new(
                StatusCode::BAD_REQUEST,
                "cannot_select_zero_account_groups",
            )
            .subject(if shape == Shape::TenantWithGroups {
                "defaultAccountGroupId"
            } else {
                "cloudAccount.groupIds"
            }));
        }
        if group_ids.iter().any(|g| !store.groups.contains_key(g)) {
            return Err(
                ApiFailure::new(StatusCode::BAD_REQUEST, "invalid_account_group_ids").subject(
                    if shape == Shape::TenantWithGroups {
                        "defaultAccountGroupId"
                    } else {
                        "cloudAccount.groupIds"
                    },
                ),
            );
        }
    }
    Ok(CheckedAccount {
        shape,
        account_id,
        name: name.to_string(),
        group_ids,
    })
}
