//! Azure cloud accounts: add, update (CAS and legacy bodies), reads, list, names, enable or
//! disable, offboard, and the capability status endpoints.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use prisma_types::SecretString;
use prisma_types::feature::Feature;
use prisma_types::wire::{
    AzureAccountRequest, AzureAccountView, AzureCloudAccountView, CloudAccountDetails,
    CloudAccountListItem, CloudAccountName, FeatureState, FeatureView, GroupRef, HierarchyNode,
    HierarchySelection,
};
use serde::Deserialize;

use super::validate::{Purpose, Shape, check_account};
use crate::capabilities::{evaluate, to_config_status, to_status_checks};
use crate::clock::epoch_millis;
use crate::error::{ApiFailure, WireJson};
use crate::gateway::Caller;
use crate::state::EmulatorState;
use crate::store::{AccountRecord, Store, readable_after, tenant_hierarchy};

type AppState = State<Arc<EmulatorState>>;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct WriteQuery {
    #[serde(default)]
    pub skip_status_checks: Option<bool>,
}

/// Optional fields the real service defaults instead of refusing: a body without
/// `environmentType` (the Go client's org and legacy bodies have none) is commercial Azure.
fn apply_defaults(mut body: AzureAccountRequest) -> AzureAccountRequest {
    if body.environment_type.trim().is_empty() {
        body.environment_type = "azure".to_owned();
    }
    body
}

/// The legacy v1 body: `cloudAccount.accountType` was optional (a subscription) in the Go
/// client's `account.Azure`, and Remediation was `protectionMode: MONITOR_AND_PROTECT`.
fn normalize_legacy(mut body: AzureAccountRequest) -> AzureAccountRequest {
    if body.cloud_account.account_type.trim().is_empty() {
        body.cloud_account.account_type = "account".to_owned();
    }
    if body.cloud_account.protection_mode.as_deref() == Some("MONITOR_AND_PROTECT") {
        let features = body.features.get_or_insert_with(Vec::new);
        if !features
            .iter()
            .any(|f| f.name == Feature::Remediation.display_name())
        {
            features.push(FeatureState {
                name: Feature::Remediation.display_name().to_owned(),
                state: "enabled".to_owned(),
                default_member_state: None,
            });
        }
    }
    body
}

fn require_azure(cloud_type: &str) -> Result<(), ApiFailure> {
    if cloud_type.eq_ignore_ascii_case("azure") {
        Ok(())
    } else {
        Err(ApiFailure::new(StatusCode::BAD_REQUEST, "invalid_cloud_type").subject("cloud_type"))
    }
}

pub async fn add_account(
    State(state): AppState,
    Extension(caller): Extension<Caller>,
    Query(q): Query<WriteQuery>,
    WireJson(body): WireJson<AzureAccountRequest>,
) -> Result<Response, ApiFailure> {
    status_check_cost(&state, &q).await;
    create(&state, &caller, body)
}

/// Without `skipStatusChecks=true`, add and update run the capability checks first, which is
/// why the real service is slow there; the emulator charges `status_check_delay` for them.
async fn status_check_cost(state: &EmulatorState, q: &WriteQuery) {
    let delay = state.config.status_check_delay;
    if !q.skip_status_checks.unwrap_or(false) && !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

pub async fn add_account_legacy(
    State(state): AppState,
    Extension(caller): Extension<Caller>,
    Path(cloud_type): Path<String>,
    Query(q): Query<WriteQuery>,
    WireJson(body): WireJson<AzureAccountRequest>,
) -> Result<Response, ApiFailure> {
    require_azure(&cloud_type)?;
    status_check_cost(&state, &q).await;
    create(&state, &caller, normalize_legacy(body))
}

fn create(
    state: &EmulatorState,
    caller: &Caller,
    body: AzureAccountRequest,
) -> Result<Response, ApiFailure> {
    let body = apply_defaults(body);
    let book = state.scenarios();
    let mut store = state.store();
    let checked = check_account(&body, &store, Purpose::Write)?;
    if store.accounts.contains_key(&checked.account_id) {
        state
            .stats
            .duplicates_refused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Err(
            ApiFailure::new(StatusCode::BAD_REQUEST, "duplicate_cloud_account")
                .subject("cloudAccount.accountId"),
        );
    }
    if store.account_by_name(&checked.name).is_some() {
        return Err(
            ApiFailure::new(StatusCode::BAD_REQUEST, "duplicate_cloud_account_name")
                .subject("cloudAccount.name"),
        );
    }
    let now = epoch_millis();
    let readable_at = readable_after(state.config.read_delay);
    let checks = evaluate(&body, &book);
    let enabled = body.cloud_account.enabled.unwrap_or(true);
    if checked.shape == Shape::TenantWithGroups {
        let selection = body.hierarchy_selection.clone().unwrap_or_default();
        let tenant = checked.account_id.as_str();
        add_tenant_children(
            &mut store,
            tenant,
            &selection,
            &checked.group_ids,
            readable_at,
        );
    }
    store.accounts.insert(
        checked.account_id.clone(),
        AccountRecord {
            account_id: checked.account_id.clone(),
            name: checked.name,
            account_type: body.cloud_account.account_type.to_ascii_lowercase(),
            request: body,
            enabled,
            parent_account_id: None,
            group_ids: checked.group_ids,
            created_ms: now,
            modified_ms: now,
            modified_by: caller.access_key_id.clone(),
            readable_at,
            checks,
        },
    );
    store.refresh_group_membership();
    state
        .stats
        .accounts_created
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    tracing::info!(account_id = %checked.account_id, "emulator: account added");
    Ok(StatusCode::OK.into_response())
}

/// A tenant with management groups brings the subscriptions its `hierarchySelection` selects
/// along as child accounts: `ALL` or `INCLUDE` on the tenant, a management group or a
/// subscription selects it and what lies below; `EXCLUDE` on a management group or a
/// subscription removes it again.
fn add_tenant_children(
    store: &mut Store,
    tenant_id: &str,
    selection: &[HierarchySelection],
    groups: &[String],
    readable_at: Instant,
) {
    let now = epoch_millis();
    let covers = |sel: &HierarchySelection, node: &HierarchyNode| {
        let id = sel.resource_id.as_str();
        id.eq_ignore_ascii_case(&node.id)
            || node
                .parent
                .as_deref()
                .is_some_and(|p| id.eq_ignore_ascii_case(p))
            || (sel.node_type == "TENANT" && id.eq_ignore_ascii_case(tenant_id))
    };
    let selected = |node: &HierarchyNode| {
        let mut picked = selection.iter().filter(|s| s.selection_type != "EXCLUDE");
        let mut dropped = selection
            .iter()
            .filter(|s| s.selection_type == "EXCLUDE" && s.node_type != "TENANT");
        picked.any(|s| covers(s, node)) && !dropped.any(|s| covers(s, node))
    };
    for node in tenant_hierarchy(tenant_id) {
        if node.node_type != "ACCOUNT" || !selected(&node) || store.accounts.contains_key(&node.id)
        {
            continue;
        }
        let child = child_record(
            &node.id,
            &node.display_name,
            tenant_id,
            groups,
            readable_at,
            now,
        );
        store.accounts.insert(node.id.clone(), child);
    }
}

fn child_record(
    id: &str,
    display: &str,
    tenant_id: &str,
    groups: &[String],
    readable_at: Instant,
    now: i64,
) -> AccountRecord {
    let request = AzureAccountRequest {
        cloud_account: prisma_types::wire::CloudAccountSpec {
            account_id: Some(id.to_owned()),
            account_type: "account".to_owned(),
            enabled: Some(true),
            name: display.to_owned(),
            group_ids: Some(groups.to_vec()),
            protection_mode: None,
        },
        client_id: String::new(),
        key: SecretString::new(String::new()),
        tenant_id: tenant_id.to_owned(),
        environment_type: "azure".to_owned(),
        service_principal_id: None,
        monitor_flow_logs: None,
        features: None,
        default_account_group_id: None,
        hierarchy_selection: None,
        root_sync_enabled: None,
        account_group_mode: None,
    };
    AccountRecord {
        account_id: id.to_owned(),
        name: format!("{display} ({id})"),
        account_type: "account".to_owned(),
        request,
        enabled: true,
        parent_account_id: Some(tenant_id.to_owned()),
        group_ids: groups.to_vec(),
        created_ms: now,
        modified_ms: now,
        modified_by: String::new(),
        readable_at,
        checks: Vec::new(),
    }
}

pub async fn update_account(
    State(state): AppState,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<WriteQuery>,
    WireJson(body): WireJson<AzureAccountRequest>,
) -> Result<Response, ApiFailure> {
    status_check_cost(&state, &q).await;
    update(&state, &caller, &id, body)
}

pub async fn update_account_legacy(
    State(state): AppState,
    Extension(caller): Extension<Caller>,
    Path((cloud_type, id)): Path<(String, String)>,
    Query(q): Query<WriteQuery>,
    WireJson(body): WireJson<AzureAccountRequest>,
) -> Result<Response, ApiFailure> {
    require_azure(&cloud_type)?;
    status_check_cost(&state, &q).await;
    update(&state, &caller, &id, normalize_legacy(body))
}

fn update(
    state: &EmulatorState,
    caller: &Caller,
    id: &str,
    body: AzureAccountRequest,
) -> Result<Response, ApiFailure> {
    let mut body = apply_defaults(body);
    let id = parse_account_id(id)?;
    let book = state.scenarios();
    let mut store = state.store();
    let Some(existing) = store.accounts.get(&id).cloned() else {
        return Err(ApiFailure::new(StatusCode::NOT_FOUND, "not_found").subject("account_id"));
    };
    if state.aging.refuses_updates(&id) {
        return Err(
            ApiFailure::new(StatusCode::BAD_REQUEST, "update_refused").subject("account_id")
        );
    }
    // Clients that re-send what they read get asterisks back in `key`: keep the stored secret.
    let key = body.key.expose();
    if !key.is_empty() && key.chars().all(|c| c == '*') {
        body.key = existing.request.key;
    }
    let checked = check_account(&body, &store, Purpose::Write)?;
    if checked.account_id != id {
        return Err(
            ApiFailure::new(StatusCode::BAD_REQUEST, "invalid_account_id_format")
                .subject("cloudAccount.accountId"),
        );
    }
    if store
        .account_by_name(&checked.name)
        .is_some_and(|a| a.account_id != id)
    {
        return Err(
            ApiFailure::new(StatusCode::BAD_REQUEST, "duplicate_cloud_account_name")
                .subject("cloudAccount.name"),
        );
    }
    let checks = evaluate(&body, &book);
    let record = store.accounts.get_mut(&id).expect("checked above");
    record.name = checked.name;
    record.enabled = body.cloud_account.enabled.unwrap_or(record.enabled);
    record.group_ids = checked.group_ids;
    record.request = body;
    record.modified_ms = epoch_millis();
    record.modified_by = caller.access_key_id.clone();
    record.checks = checks;
    record.checks = crate::aging::checks_now(state, record);
    store.refresh_group_membership();
    Ok(StatusCode::OK.into_response())
}

/// Account IDs in paths are GUIDs; anything else is `invalid_account_id_format`.
fn parse_account_id(raw: &str) -> Result<String, ApiFailure> {
    prisma_types::TenantId::parse(raw)
        .map(|t| t.to_string())
        .map_err(|_| {
            ApiFailure::new(StatusCode::BAD_REQUEST, "invalid_account_id_format")
                .subject("account_id")
        })
}

/// The account, if it exists and is visible to reads yet.
fn readable(store: &Store, id: &str) -> Result<AccountRecord, ApiFailure> {
    store
        .accounts
        .get(id)
        .filter(|a| a.is_readable(Instant::now()))
        .cloned()
        .ok_or_else(|| ApiFailure::new(StatusCode::NOT_FOUND, "not_found").subject("account_id"))
}

pub async fn status_check(
    State(state): AppState,
    WireJson(body): WireJson<AzureAccountRequest>,
) -> Result<Response, ApiFailure> {
    let body = apply_defaults(body);
    let book = state.scenarios();
    {
        let store = state.store();
        check_account(&body, &store, Purpose::StatusCheck).map_err(|e| {
            let subject = e.subject.clone().unwrap_or_else(|| "body".to_owned());
            ApiFailure::bad_request(subject, e.message)
        })?;
    }
    Ok(Json(to_status_checks(&evaluate(&body, &book))).into_response())
}

pub async fn status_check_legacy(
    State(state): AppState,
    Path(cloud_type): Path<String>,
    body: WireJson<AzureAccountRequest>,
) -> Result<Response, ApiFailure> {
    require_azure(&cloud_type)?;
    status_check(State(state), WireJson(normalize_legacy(body.0))).await
}

pub async fn config_status(
    State(state): AppState,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    let id = parse_account_id(&id)
        .map_err(|_| ApiFailure::bad_request("account_id", "not an account ID"))?;
    let store = state.store();
    let record = readable(&store, &id)
        .map_err(|_| ApiFailure::bad_request("account_id", "no such account"))?;
    let checks = crate::aging::checks_now(&state, &record);
    Ok(Json(to_config_status(&checks)).into_response())
}

fn group_refs(store: &Store, ids: &[String]) -> Vec<GroupRef> {
    ids.iter()
        .filter_map(|id| store.groups.get(id))
        .map(|g| GroupRef {
            id: g.id.clone(),
            name: g.name.clone(),
        })
        .collect()
}

fn list_item(store: &Store, a: &AccountRecord) -> CloudAccountListItem {
    let status = if a.checks.iter().any(|c| c.status == "error") {
        "error"
    } else if a.checks.iter().any(|c| c.status == "warning") {
        "warning"
    } else {
        "ok"
    };
    CloudAccountListItem {
        account_id: a.account_id.clone(),
        name: a.name.clone(),
        cloud_type: "azure".to_owned(),
        account_type: a.account_type.clone(),
        parent_account_id: a.parent_account_id.clone(),
        enabled: a.enabled,
        last_modified_ts: a.modified_ms,
        last_modified_by: a.modified_by.clone(),
        added_on: a.created_ms,
        protection_mode: protection_mode(a).to_owned(),
        deployment_type: a.request.environment_type.clone(),
        group_ids: a.group_ids.clone(),
        groups: group_refs(store, &a.group_ids),
        status: status.to_owned(),
        number_of_child_accounts: store.children_of(&a.account_id).len() as u32,
    }
}

/// v1's name for "Remediation on": `MONITOR_AND_PROTECT`; otherwise `MONITOR`.
fn protection_mode(a: &AccountRecord) -> &'static str {
    if features_of(a).contains(&Feature::Remediation) {
        "MONITOR_AND_PROTECT"
    } else {
        "MONITOR"
    }
}

fn features_of(a: &AccountRecord) -> Vec<Feature> {
    a.request
        .features
        .iter()
        .flatten()
        .filter(|f| f.state == "enabled")
        .filter_map(|f| {
            Feature::ALL
                .into_iter()
                .find(|x| x.display_name() == f.name)
        })
        .collect()
}

pub async fn get_account_details(
    State(state): AppState,
    Path((cloud_type, id)): Path<(String, String)>,
) -> Result<Response, ApiFailure> {
    require_azure(&cloud_type)?;
    let id = parse_account_id(&id)?;
    let store = state.store();
    let a = readable(&store, &id)?;
    let body = CloudAccountDetails {
        cloud_account: list_item(&store, &a),
        client_id: a.request.client_id.clone(),
        key: SecretString::masked().to_owned(),
        tenant_id: a.request.tenant_id.clone(),
        service_principal_id: a.request.service_principal_id.clone().unwrap_or_default(),
        monitor_flow_logs: a.request.monitor_flow_logs.unwrap_or(false),
        environment_type: a.request.environment_type.clone(),
        features: a.request.features.clone().unwrap_or_default(),
    };
    Ok(Json(body).into_response())
}

pub async fn get_azure_account(
    State(state): AppState,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    let id = parse_account_id(&id)?;
    let store = state.store();
    let a = readable(&store, &id)?;
    Ok(Json(azure_view(&a, &caller)).into_response())
}

/// `GET /v1/cloudAccounts/azureAccounts`: what the Terraform provider's Go client lists to
/// find an account by name (`Identify`) and to poll after a create.
pub async fn list_azure_accounts(
    State(state): AppState,
    Extension(caller): Extension<Caller>,
) -> Response {
    let store = state.store();
    let now = Instant::now();
    let views: Vec<_> = store
        .accounts
        .values()
        .filter(|a| a.is_readable(now))
        .map(|a| azure_view(a, &caller))
        .collect();
    Json(views).into_response()
}

fn azure_view(a: &AccountRecord, caller: &Caller) -> AzureAccountView {
    let env = a.request.environment_type.clone();
    AzureAccountView {
        cloud_account: AzureCloudAccountView {
            account_id: a.account_id.clone(),
            name: a.name.clone(),
            cloud_type: "azure".to_owned(),
            account_type: a.account_type.clone(),
            enabled: a.enabled,
            parent_id: a.parent_account_id.clone(),
            deleted: false,
            deployment_type: "az".to_owned(),
            deployment_type_description: if env == "azure_gov" {
                "Government"
            } else {
                "Commercial"
            }
            .to_owned(),
            created_epoch_millis: a.created_ms,
            last_modified_epoch_millis: a.modified_ms,
            protection_mode: protection_mode(a).to_owned(),
            last_modified_by: a.modified_by.clone(),
            customer_name: caller.customer.clone(),
            features: features_of(a)
                .into_iter()
                .map(|f| FeatureView {
                    feature_name: f.internal_name().to_owned(),
                    feature_state: "enabled".to_owned(),
                    display_name: f.display_name().to_owned(),
                    default_member_state: None,
                })
                .collect(),
        },
        tenant_id: a.request.tenant_id.clone(),
        client_id: a.request.client_id.clone(),
        service_principal_id: a.request.service_principal_id.clone().unwrap_or_default(),
        key: SecretString::masked().to_owned(),
        environment_type: env,
        monitor_flow_logs: a.request.monitor_flow_logs.unwrap_or(false),
        group_ids: a.group_ids.clone(),
        default_account_group_id: a.request.default_account_group_id.clone(),
        root_sync_enabled: a.request.root_sync_enabled.unwrap_or(false),
        hierarchy_selection: a.request.hierarchy_selection.clone().unwrap_or_default(),
    }
}

/// `GET /cloud/{cloud_type}/{id}/project`: an onboarded tenant's child accounts, as list
/// items; `not_an_org` for an account that has none to have.
pub async fn list_account_children(
    State(state): AppState,
    Path((cloud_type, id)): Path<(String, String)>,
) -> Result<Response, ApiFailure> {
    require_azure(&cloud_type)?;
    let id = parse_account_id(&id)?;
    let store = state.store();
    let parent = readable(&store, &id)
        .map_err(|_| ApiFailure::new(StatusCode::BAD_REQUEST, "not_found").subject("account_id"))?;
    if parent.account_type != "tenant" {
        return Err(ApiFailure::new(StatusCode::BAD_REQUEST, "not_an_org").subject("account_id"));
    }
    let now = Instant::now();
    let children: Vec<_> = store
        .children_of(&id)
        .iter()
        .filter_map(|c| store.accounts.get(c))
        .filter(|c| c.is_readable(now))
        .map(|c| list_item(&store, c))
        .collect();
    Ok(Json(children).into_response())
}

pub async fn list_accounts(State(state): AppState) -> Response {
    let store = state.store();
    let now = Instant::now();
    let items: Vec<_> = store
        .accounts
        .values()
        .filter(|a| a.is_readable(now))
        .map(|a| list_item(&store, a))
        .collect();
    Json(items).into_response()
}

pub async fn list_names(
    State(state): AppState,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let store = state.store();
    let now = Instant::now();
    let only_active = q.get("onlyActive").is_some_and(|v| v == "true");
    let cloud_type_ok = q
        .get("cloudType")
        .is_none_or(|t| t.eq_ignore_ascii_case("azure"));
    let names: Vec<_> = store
        .accounts
        .values()
        .filter(|a| cloud_type_ok && a.is_readable(now) && (!only_active || a.enabled))
        .map(|a| CloudAccountName {
            id: a.account_id.clone(),
            name: a.name.clone(),
            cloud_type: "azure".to_owned(),
            parent_account_name: a
                .parent_account_id
                .as_ref()
                .and_then(|p| store.accounts.get(p))
                .map(|p| p.name.clone()),
        })
        .collect();
    Json(names).into_response()
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct StatusQuery {
    #[serde(default)]
    pub update_children: Option<bool>,
}

pub async fn set_enabled(
    State(state): AppState,
    Extension(caller): Extension<Caller>,
    Path((id, enabled)): Path<(String, String)>,
    Query(q): Query<StatusQuery>,
) -> Result<Response, ApiFailure> {
    let id = parse_account_id(&id)?;
    let enabled = match enabled.as_str() {
        "true" => true,
        "false" => false,
        _ => {
            return Err(
                ApiFailure::new(StatusCode::BAD_REQUEST, "invalid_account_patch")
                    .subject("enabled"),
            );
        }
    };
    let mut store = state.store();
    let children = if q.update_children.unwrap_or(false) {
        store.children_of(&id)
    } else {
        vec![]
    };
    let Some(record) = store.accounts.get_mut(&id) else {
        return Err(
            ApiFailure::new(StatusCode::NOT_FOUND, "invalid_account_id_format")
                .subject("account_id"),
        );
    };
    record.enabled = enabled;
    record.modified_ms = epoch_millis();
    record.modified_by = caller.access_key_id;
    for child in children {
        if let Some(c) = store.accounts.get_mut(&child) {
            c.enabled = enabled;
        }
    }
    Ok(StatusCode::OK.into_response())
}

pub async fn delete_account(
    State(state): AppState,
    Path((cloud_type, id)): Path<(String, String)>,
) -> Result<Response, ApiFailure> {
    require_azure(&cloud_type)?;
    let id = parse_account_id(&id)?;
    let mut store = state.store();
    let Some(record) = store.accounts.get(&id) else {
        return Err(
            ApiFailure::new(StatusCode::NOT_FOUND, "invalid_account_id_format")
                .subject("account_id"),
        );
    };
    if record.parent_account_id.is_some() {
        return Err(
            ApiFailure::new(StatusCode::FORBIDDEN, "cannot_delete_org_child").subject("account_id"),
        );
    }
    // Deleting a tenant removes its children (our choice; unconfirmed upstream). No ghost
    // record is kept: the same account can be onboarded again at once.
    for child in store.children_of(&id) {
        store.accounts.remove(&child);
    }
    store.accounts.remove(&id);
    store.refresh_group_membership();
    Ok(StatusCode::OK.into_response())
}
