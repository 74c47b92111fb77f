//! Supported features, the Terraform template, account groups and the tenant hierarchy.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use prisma_types::feature::{ALWAYS_ON_FEATURE, Environment, Feature, FeatureSet};
use prisma_types::wire::{
    AccountGroup, AccountGroupRequest, FeaturesRequest, FeaturesResponse, ListChildrenRequest,
    TemplateRequest,
};
use prisma_types::{ManagementGroupId, ObjectId, SubscriptionId, TenantId};

use crate::clock::epoch_millis;
use crate::error::{ApiFailure, ErrorStyle, WireJson};
use crate::state::EmulatorState;
use crate::store::tenant_hierarchy;
use crate::template::{TemplateInput, TemplateScope, azure_template};

type AppState = State<Arc<EmulatorState>>;

fn cas_error(status: StatusCode, key: &'static str, message: impl Into<String>) -> ApiFailure {
    ApiFailure::new(status, key)
        .message(message)
        .styled(ErrorStyle::ApiErrorBody)
}

pub async fn supported_features(
    Path(cloud_type): Path<String>,
    body: Result<WireJson<FeaturesRequest>, ApiFailure>,
) -> Result<Response, ApiFailure> {
    let WireJson(body) = body.map_err(|e| e.styled(ErrorStyle::ApiErrorBody))?;
    if !cloud_type.eq_ignore_ascii_case("azure") {
        return Err(cas_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "only azure is emulated",
        ));
    }
    let deployment = match body.deployment_type.as_deref().unwrap_or("azure") {
        "azure" => "global",
        "azure_gov" => "gov",
        "azure_china" => "china",
        _ => {
            return Err(cas_error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "deploymentType must be azure, azure_gov or azure_china",
            ));
        }
    };
    let all_features = || {
        let mut f: Vec<String> = Feature::ALL
            .iter()
            .map(|f| f.display_name().to_owned())
            .collect();
        f.push(ALWAYS_ON_FEATURE.to_owned());
        f.sort();
        f
    };
    let (account_type, features) = match (body.account_type.as_str(), body.root_sync_enabled) {
        ("account", _) => ("account", all_features()),
        ("tenant", Some(true)) => ("tenantWithMgmt", all_features()),
        ("tenant", _) => ("tenant", vec![ALWAYS_ON_FEATURE.to_owned()]),
        _ => {
            return Err(cas_error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "accountType must be account or tenant for azure",
            ));
        }
    };
    let features = if deployment == "china" {
        features
            .into_iter()
            .filter(|f| f == ALWAYS_ON_FEATURE || f == "Remediation")
            .collect()
    } else {
        features
    };
    Ok(Json(FeaturesResponse {
        cloud_type: "azure".to_owned(),
        deployment_type: deployment.to_owned(),
        account_type: account_type.to_owned(),
        license_type: "enterprise".to_owned(),
        supported_features: features,
    })
    .into_response())
}

pub async fn template(
    body: Result<WireJson<TemplateRequest>, ApiFailure>,
) -> Result<Response, ApiFailure> {
    let WireJson(body) = body.map_err(|e| e.styled(ErrorStyle::ApiErrorBody))?;
    let bad = |m: &str| cas_error(StatusCode::BAD_REQUEST, "bad_request", m.to_owned());
    let environment = match body.deployment_type.as_deref().unwrap_or("azure") {
        "azure" => Environment::Azure,
        "azure_gov" => Environment::AzureGov,
        "azure_china" => {
            return Err(bad(
                "templates are not available for Azure China; onboard it manually",
            ));
        }
        _ => return Err(bad("deploymentType must be azure or azure_gov")),
    };
    let tenant = TenantId::parse(&body.tenant_id).map_err(|e| bad(&e.to_string()))?;
    let root_sync = body.root_sync_enabled.unwrap_or(false);
    let (scope, subscription) = match body.account_type.as_str() {
        "account" => {
            let sub = body.subscription_id.as_deref().unwrap_or("");
            let sub = SubscriptionId::parse(sub).map_err(|e| bad(&e.to_string()))?;
            (TemplateScope::Subscription, Some(sub))
        }
        "tenant" if root_sync => (TemplateScope::TenantWithGroups, None),
        "tenant" => (TemplateScope::EntraOnly, None),
        _ => return Err(bad("accountType must be account or tenant")),
    };
    let names: Vec<&str> = body.features.iter().flatten().map(String::as_str).collect();
    let features = FeatureSet::parse(names).map_err(|e| bad(&e.to_string()))?;
    let input = TemplateInput {
        scope,
        tenant_id: tenant.as_str(),
        subscription_id: subscription.as_ref().map(SubscriptionId::as_str),
        features: &features,
        environment,
    };
    Ok(Json(azure_template(&input)).into_response())
}

pub async fn list_groups(State(state): AppState) -> Response {
    let groups: Vec<AccountGroup> = state.store().groups.values().cloned().collect();
    Json(groups).into_response()
}

pub async fn create_group(
    State(state): AppState,
    WireJson(body): WireJson<AccountGroupRequest>,
) -> Result<Response, ApiFailure> {
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(
            ApiFailure::new(StatusCode::BAD_REQUEST, "invalid_account_group_name").subject("name"),
        );
    }
    let mut store = state.store();
    if store.group_by_name(name).is_some() {
        return Err(
            ApiFailure::new(StatusCode::BAD_REQUEST, "account_group_name_already_exists")
                .subject("name"),
        );
    }
    if body
        .account_ids
        .iter()
        .any(|id| !store.accounts.contains_key(id))
    {
        return Err(
            ApiFailure::new(StatusCode::BAD_REQUEST, "invalid_account_ids").subject("accountIds"),
        );
    }
    let group = AccountGroup {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.to_owned(),
        description: body.description.unwrap_or_default(),
        account_ids: Vec::new(),
        auto_created: false,
        cloud_account_count: 0,
        last_modified_ts: epoch_millis(),
    };
    store.groups.insert(group.id.clone(), group.clone());
    for id in &body.account_ids {
        if let Some(a) = store.accounts.get_mut(id) {
            a.group_ids.push(group.id.clone());
        }
    }
    store.refresh_group_membership();
    let created = store.groups.get(&group.id).cloned().unwrap_or(group);
    Ok(Json(created).into_response())
}

pub async fn list_children(
    Path(parent): Path<String>,
    WireJson(body): WireJson<ListChildrenRequest>,
) -> Result<Response, ApiFailure> {
    let tenant = TenantId::parse(&body.tenant_id)
        .map_err(|_| ApiFailure::bad_request("tenantId", "tenantId must be a GUID"))?;
    if body.cloud_account.account_type != "tenant" || !body.root_sync_enabled {
        return Err(ApiFailure::bad_request(
            "cloudAccount.accountType",
            "children are listed for accountType tenant with rootSyncEnabled true",
        ));
    }
    for (subject, value) in [
        ("clientId", &body.client_id),
        ("servicePrincipalId", &body.service_principal_id),
    ] {
        ObjectId::parse(value)
            .map_err(|_| ApiFailure::bad_request(subject, format!("{subject} must be a GUID")))?;
    }
    if body.key.is_empty() {
        return Err(ApiFailure::bad_request(
            "key",
            "key (the client secret) is required",
        ));
    }
    let parent_ok = TenantId::parse(&parent).is_ok() || ManagementGroupId::parse(&parent).is_ok();
    if !parent_ok {
        return Err(ApiFailure::new(StatusCode::BAD_REQUEST, "bad_request").subject("parent_id"));
    }
    let parent = parent.to_ascii_lowercase();
    let nodes: Vec<_> = tenant_hierarchy(tenant.as_str())
        .into_iter()
        .filter(|n| n.parent.as_deref().map(str::to_ascii_lowercase) == Some(parent.clone()))
        .collect();
    Ok(Json(nodes).into_response())
}
