//! Supported features, the Terraform template, the tenant hierarchy, cloud types and
//! `meta_info`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use prisma_types::feature::{ALWAYS_ON_FEATURE, Environment, Feature, FeatureSet};
use prisma_types::wire::{FeaturesRequest, FeaturesResponse, ListChildrenRequest, TemplateRequest};
use prisma_types::{ManagementGroupId, ObjectId, SubscriptionId, TenantId};

use crate::error::{ApiFailure, ErrorStyle, WireJson};
use crate::state::EmulatorState;
use crate::store::tenant_hierarchy;
use crate::template::{TemplateInput, TemplateScope, azure_template};

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

/// `GET /cloud/type`: the cloud types a Prisma Cloud tenant knows (the emulator onboards only
/// `azure`; the list is the real one so clients that enumerate it see what they expect).
pub async fn cloud_types() -> Response {
    Json(["aws", "azure", "gcp", "alibaba_cloud", "oci", "ibm"]).into_response()
}

/// `GET /meta_info`: the tenant's metadata. The official Python SDK's `configure()` calls it
/// to find the Compute console (`twistlockUrl`); the emulator has no Compute face, so the key
/// is absent and the SDK leaves its Compute URL empty.
pub async fn meta_info(
    State(state): State<Arc<EmulatorState>>,
    axum::Extension(caller): axum::Extension<crate::gateway::Caller>,
) -> Response {
    Json(serde_json::json!({
        "customerName": caller.customer,
        "prismaId": format!("emulator-{}", caller.customer),
        "licenseType": "enterprise",
        "marketplaceCustomer": false,
        "sessionTimeout": state.config.token_ttl.as_secs() / 60,
    }))
    .into_response()
}
