//! ARM (`management.azure.com`): subscriptions, the management-group hierarchy, the caller's
//! role assignments and the built-in role definitions. A caller sees a scope when it holds a
//! role there or above (as with Azure RBAC's inheritance); errors have ARM's
//! `{"error": {"code", "message"}}` shape.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::CloudState;
use super::token::now;
use crate::tenant_seed::{Caller, mg_scope, roles, sub_scope};

type S = State<Arc<CloudState>>;

pub(super) fn routes() -> Router<Arc<CloudState>> {
    const MG: &str = "/providers/Microsoft.Management/managementGroups";
    Router::new()
        .route("/subscriptions", get(list_subscriptions))
        .route("/subscriptions/{id}", get(get_subscription))
        .route(
            "/subscriptions/{id}/providers/Microsoft.Authorization/roleAssignments",
            get(sub_role_assignments),
        )
        .route(
            "/subscriptions/{id}/providers/Microsoft.Authorization/roleDefinitions",
            get(role_definitions),
        )
        .route(
            "/subscriptions/{id}/providers/Microsoft.Authorization/roleDefinitions/{role}",
            get(role_definition),
        )
        .route(MG, get(list_groups))
        .route(&format!("{MG}/{{id}}"), get(get_group))
        .route(&format!("{MG}/{{id}}/descendants"), get(descendants))
        .route(
            &format!("{MG}/{{id}}/providers/Microsoft.Authorization/roleAssignments"),
            get(mg_role_assignments),
        )
        .route(
            &format!("{MG}/{{id}}/providers/Microsoft.Authorization/roleDefinitions"),
            get(role_definitions),
        )
        .route(
            &format!("{MG}/{{id}}/providers/Microsoft.Authorization/roleDefinitions/{{role}}"),
            get(role_definition),
        )
}

pub(super) fn arm_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// The caller named by a valid bearer token for `audience_prefix`, or ARM's/Graph's 401.
pub(super) fn authenticate<'a>(
    state: &'a CloudState,
    headers: &HeaderMap,
    audience_ok: fn(&str) -> bool,
) -> Result<&'a Caller, Response> {
    let unauthorized =
        |code: &str, message: &str| arm_error(StatusCode::UNAUTHORIZED, code, message);
    let Some(bearer) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return Err(unauthorized(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        ));
    };
    let claims: super::Claims = state
        .key
        .verify(bearer)
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(|| {
            unauthorized(
                "InvalidAuthenticationToken",
                "The access token is invalid: its signature does not verify.",
            )
        })?;
    if claims.exp < now() {
        return Err(unauthorized(
            "ExpiredAuthenticationToken",
            "The access token expiry UTC time is earlier than current UTC time.",
        ));
    }
    if !audience_ok(&claims.aud) || !claims.tid.eq_ignore_ascii_case(&state.tenant.tenant_id) {
        return Err(unauthorized(
            "InvalidAuthenticationTokenAudience",
            &format!(
                "The access token has been obtained for wrong audience or resource '{}'.",
                claims.aud
            ),
        ));
    }
    let _ = (&claims.appid, &claims.idtyp);
    state.caller(&claims.oid).ok_or_else(|| {
        unauthorized(
            "InvalidAuthenticationToken",
            "The principal of the access token does not exist in the tenant.",
        )
    })
}

/// The caller of an ARM request, unless the scenario throttles ARM (429 with `Retry-After`,
/// as ARM answers a caller over its read limit).
fn arm_caller<'a>(state: &'a CloudState, headers: &HeaderMap) -> Result<&'a Caller, Response> {
    let caller = authenticate(state, headers, arm_audience)?;
    if state.scenario().throttle_arm {
        let mut r = arm_error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "The request is being throttled as the limit has been reached for operation type - Read_ObservationWindow_00:05:00.",
        );
        r.headers_mut()
            .insert("retry-after", axum::http::HeaderValue::from_static("30"));
        return Err(r);
    }
    Ok(caller)
}

fn arm_audience(aud: &str) -> bool {
    aud.starts_with("https://management.azure.com")
        || aud.starts_with("https://management.core.windows.net")
}

fn forbidden(caller: &Caller, action: &str, scope: &str) -> Response {
    arm_error(
        StatusCode::FORBIDDEN,
        "AuthorizationFailed",
        &format!(
            "The client '{oid}' with object id '{oid}' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.",
            oid = caller.object_id
        ),
    )
}

fn subscription_json(state: &CloudState, s: &crate::tenant_seed::Subscription) -> Value {
    json!({
        "id": sub_scope(&s.id),
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "subscriptionId": s.id,
        "tenantId": state.tenant.tenant_id,
        "displayName": s.display_name,
        "state": s.state,
        "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "EnterpriseAgreement_2014-09-01", "spendingLimit": "Off"},
    })
}

async fn list_subscriptions(State(state): S, headers: HeaderMap) -> Response {
    let caller = match arm_caller(&state, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let value: Vec<Value> = state
        .tenant
        .subscriptions
        .iter()
        .filter(|s| state.can_see(caller, &sub_scope(&s.id)))
        .map(|s| subscription_json(&state, s))
        .collect();
    Json(json!({"count": {"type": "Total", "value": value.len()}, "value": value})).into_response()
}

async fn get_subscription(State(state): S, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let caller = match arm_caller(&state, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match state.tenant.subscription(&id) {
        Some(s) if state.can_see(caller, &sub_scope(&s.id)) => {
            Json(subscription_json(&state, s)).into_response()
        }
        Some(_) => forbidden(
            caller,
            "Microsoft.Resources/subscriptions/read",
            &sub_scope(&id),
        ),
        None => arm_error(
            StatusCode::NOT_FOUND,
            "SubscriptionNotFound",
            &format!("The subscription '{id}' could not be found."),
        ),
    }
}

fn group_json(g: &crate::tenant_seed::ManagementGroup) -> Value {
    json!({
        "id": mg_scope(&g.id),
        "type": "Microsoft.Management/managementGroups",
        "name": g.id,
        "properties": {
            "displayName": g.display_name,
            "parent": g.parent.as_deref().map(|p| json!({"id": mg_scope(p)})),
        },
    })
}

async fn list_groups(State(state): S, headers: HeaderMap) -> Response {
    let caller = match arm_caller(&state, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let value: Vec<Value> = state
        .tenant
        .management_groups
        .iter()
        .filter(|g| state.can_see(caller, &mg_scope(&g.id)))
        .map(group_json)
        .collect();
    Json(json!({"value": value})).into_response()
}

/// The group, after the caller may read it: 404 for one that does not exist (see
/// `docs/emulator.md`: Azure answers 403 to callers without access at the root; we name the
/// difference so the product's message can).
fn readable_group<'a>(
    state: &'a CloudState,
    caller: &Caller,
    id: &str,
    action: &str,
) -> Result<&'a crate::tenant_seed::ManagementGroup, Response> {
    let Some(g) = state.tenant.group(id) else {
        return Err(arm_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("'{}' not found", mg_scope(id)),
        ));
    };
    if !state.can_see(caller, &mg_scope(&g.id)) {
        return Err(forbidden(caller, action, &mg_scope(&g.id)));
    }
    Ok(g)
}

async fn get_group(State(state): S, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let caller = match arm_caller(&state, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match readable_group(
        &state,
        caller,
        &id,
        "Microsoft.Management/managementGroups/read",
    ) {
        Ok(g) => Json(group_json(g)).into_response(),
        Err(r) => r,
    }
}

async fn descendants(State(state): S, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let caller = match arm_caller(&state, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let g = match readable_group(
        &state,
        caller,
        &id,
        "Microsoft.Management/managementGroups/descendants/read",
    ) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let (groups, subs) = state.tenant.descendants(&g.id);
    let mut value: Vec<Value> = groups
        .into_iter()
        .map(|d| {
            json!({
                "id": mg_scope(&d.id),
                "type": "Microsoft.Management/managementGroups",
                "name": d.id,
                "properties": {"displayName": d.display_name, "parent": {"id": d.parent.as_deref().map(mg_scope)}},
            })
        })
        .collect();
    value.extend(subs.into_iter().map(|s| {
        json!({
            "id": format!("/providers/Microsoft.Management/managementGroups/{}/subscriptions/{}", s.management_group, s.id),
            "type": "Microsoft.Management/managementGroups/subscriptions",
            "name": s.id,
            "properties": {"displayName": s.display_name, "parent": {"id": mg_scope(&s.management_group)}},
        })
    }));
    Json(json!({"value": value})).into_response()
}

fn definition_id(scope: &str, role: &str) -> String {
    format!("{scope}/providers/Microsoft.Authorization/roleDefinitions/{role}")
}

#[derive(Debug, Deserialize)]
struct FilterQuery {
    #[serde(rename = "$filter")]
    filter: Option<String>,
}

/// `assignedTo('…')` out of an OData filter.
fn assigned_to(filter: &str) -> Option<String> {
    let start = filter.find("assignedTo('")? + "assignedTo('".len();
    let rest = &filter[start..];
    Some(rest[..rest.find('\'')?].to_owned())
}

fn role_assignments(
    state: &CloudState,
    headers: &HeaderMap,
    scope: String,
    filter: Option<String>,
) -> Response {
    let caller = match arm_caller(state, headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let chain = state.tenant.scope_chain(&scope);
    if chain.is_empty() {
        return arm_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("The scope '{scope}' does not exist."),
        );
    }
    let wanted = filter.as_deref().and_then(assigned_to);
    // A caller may always read its own assignments; others' need access to the scope.
    if wanted
        .as_deref()
        .is_none_or(|w| !w.eq_ignore_ascii_case(&caller.object_id))
        && !state.can_see(caller, &scope)
    {
        return forbidden(
            caller,
            "Microsoft.Authorization/roleAssignments/read",
            &scope,
        );
    }
    let mut value = Vec::new();
    for c in &state.tenant.callers {
        if wanted
            .as_deref()
            .is_some_and(|w| !w.eq_ignore_ascii_case(&c.object_id))
        {
            continue;
        }
        for (role, at) in state.role_assignments(c) {
            if !chain.iter().any(|s| s.eq_ignore_ascii_case(&at)) {
                continue;
            }
            let name = super::token::stable_id(&format!("{}{role}{at}", c.object_id));
            value.push(json!({
                "id": format!("{at}/providers/Microsoft.Authorization/roleAssignments/{name}"),
                "type": "Microsoft.Authorization/roleAssignments",
                "name": name,
                "properties": {
                    "roleDefinitionId": definition_id(&scope, role),
                    "principalId": c.object_id,
                    "principalType": if c.client_id().is_some() { "ServicePrincipal" } else { "User" },
                    "scope": at,
                },
            }));
        }
    }
    Json(json!({"value": value})).into_response()
}

async fn sub_role_assignments(
    State(state): S,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<FilterQuery>,
) -> Response {
    role_assignments(&state, &headers, sub_scope(&id), q.filter)
}

async fn mg_role_assignments(
    State(state): S,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<FilterQuery>,
) -> Response {
    role_assignments(&state, &headers, mg_scope(&id), q.filter)
}

fn definition_json(scope: &str, (id, name, description): (&str, &str, &str)) -> Value {
    json!({
        "id": definition_id(scope, id),
        "type": "Microsoft.Authorization/roleDefinitions",
        "name": id,
        "properties": {"roleName": name, "type": "BuiltInRole", "description": description, "assignableScopes": ["/"]},
    })
}

/// The scope a roleDefinitions route was called on, from its path.
fn scope_of(path: &str) -> String {
    path.split("/providers/Microsoft.Authorization/")
        .next()
        .unwrap_or_default()
        .to_owned()
}

async fn role_definitions(State(state): S, headers: HeaderMap, uri: axum::http::Uri) -> Response {
    if let Err(r) = arm_caller(&state, &headers) {
        return r;
    }
    let scope = scope_of(uri.path());
    let value: Vec<Value> = roles::BUILT_IN
        .iter()
        .map(|r| definition_json(&scope, *r))
        .collect();
    Json(json!({"value": value})).into_response()
}

async fn role_definition(State(state): S, headers: HeaderMap, uri: axum::http::Uri) -> Response {
    if let Err(r) = arm_caller(&state, &headers) {
        return r;
    }
    let scope = scope_of(uri.path());
    let id = uri.path().rsplit('/').next().unwrap_or_default();
    match roles::BUILT_IN
        .iter()
        .find(|(r, _, _)| r.eq_ignore_ascii_case(id))
    {
        Some(r) => Json(definition_json(&scope, *r)).into_response(),
        None => arm_error(
            StatusCode::NOT_FOUND,
            "RoleDefinitionDoesNotExist",
            &format!("The specified role definition with ID '{id}' does not exist."),
        ),
    }
}
