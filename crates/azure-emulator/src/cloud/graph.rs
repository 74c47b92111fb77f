//! Microsoft Graph (`graph.microsoft.com/v1.0`): the signed-in user (`/me`), service
//! principals by app id or object id, and their `memberOf` (the directory roles they hold, as
//! `#microsoft.graph.directoryRole` objects).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::CloudState;
use super::arm::{arm_error, authenticate};
use crate::tenant_seed::{Caller, Credential, directory_roles};

type S = State<Arc<CloudState>>;

pub(super) fn routes() -> Router<Arc<CloudState>> {
    Router::new()
        .route("/v1.0/me", get(me))
        .route("/v1.0/me/memberOf", get(my_roles))
        .route("/v1.0/servicePrincipals", get(list_service_principals))
        .route("/v1.0/servicePrincipals/{id}", get(service_principal))
        .route("/v1.0/servicePrincipals/{id}/memberOf", get(sp_roles))
}

fn graph_audience(aud: &str) -> bool {
    aud.starts_with("https://graph.microsoft.com") || aud == "00000003-0000-0000-c000-000000000000"
}

fn caller<'a>(state: &'a CloudState, headers: &HeaderMap) -> Result<&'a Caller, Response> {
    authenticate(state, headers, graph_audience)
}

fn user_json(state: &CloudState, c: &Caller) -> Value {
    let upn = match &c.credential {
        Credential::User {
            user_principal_name,
        } => user_principal_name.clone(),
        _ => String::new(),
    };
    json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
        "id": c.object_id,
        "displayName": c.display_name,
        "userPrincipalName": upn,
        "mail": upn,
        "tenantId": state.tenant.tenant_id,
    })
}

fn sp_json(state: &CloudState, c: &Caller) -> Value {
    let kind = match c.credential {
        Credential::ManagedIdentity { .. } => "ManagedIdentity",
        _ => "Application",
    };
    json!({
        "id": c.object_id,
        "appId": c.client_id(),
        "displayName": c.display_name,
        "servicePrincipalType": kind,
        "appOwnerOrganizationId": state.tenant.tenant_id,
        "accountEnabled": true,
    })
}

fn roles_json(state: &CloudState, c: &Caller) -> Value {
    let value: Vec<Value> = state
        .directory_roles(c)
        .into_iter()
        .filter_map(|t| directory_roles::ALL.iter().find(|(id, _)| *id == t))
        .map(|(template, name)| {
            json!({
                "@odata.type": "#microsoft.graph.directoryRole",
                "id": super::token::stable_id(template),
                "displayName": name,
                "roleTemplateId": template,
            })
        })
        .collect();
    json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryObjects", "value": value})
}

fn not_user() -> Response {
    arm_error(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        "/me request is only valid with delegated authentication flow.",
    )
}

async fn me(State(state): S, headers: HeaderMap) -> Response {
    match caller(&state, &headers) {
        Ok(c) if c.client_id().is_none() => Json(user_json(&state, c)).into_response(),
        Ok(_) => not_user(),
        Err(r) => r,
    }
}

async fn my_roles(State(state): S, headers: HeaderMap) -> Response {
    match caller(&state, &headers) {
        Ok(c) if c.client_id().is_none() => Json(roles_json(&state, c)).into_response(),
        Ok(_) => not_user(),
        Err(r) => r,
    }
}

#[derive(Debug, Deserialize)]
struct FilterQuery {
    #[serde(rename = "$filter")]
    filter: Option<String>,
}

async fn list_service_principals(
    State(state): S,
    headers: HeaderMap,
    Query(q): Query<FilterQuery>,
) -> Response {
    if let Err(r) = caller(&state, &headers) {
        return r;
    }
    let app_id = q.filter.as_deref().and_then(|f| {
        let rest = f.strip_prefix("appId eq '")?;
        Some(rest.trim_end_matches('\'').to_owned())
    });
    let value: Vec<Value> = state
        .tenant
        .callers
        .iter()
        .filter(|c| c.client_id().is_some())
        .filter(|c| {
            app_id
                .as_deref()
                .is_none_or(|a| c.client_id().is_some_and(|id| id.eq_ignore_ascii_case(a)))
        })
        .map(|c| sp_json(&state, c))
        .collect();
    Json(json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#servicePrincipals", "value": value})).into_response()
}

fn sp_by_id<'a>(state: &'a CloudState, id: &str) -> Result<&'a Caller, Response> {
    state.caller(id).filter(|c| c.client_id().is_some()).ok_or_else(|| {
        arm_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
        )
    })
}

async fn service_principal(
    State(state): S,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = caller(&state, &headers) {
        return r;
    }
    match sp_by_id(&state, &id) {
        Ok(c) => Json(sp_json(&state, c)).into_response(),
        Err(r) => r,
    }
}

async fn sp_roles(State(state): S, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = caller(&state, &headers) {
        return r;
    }
    match sp_by_id(&state, &id) {
        Ok(c) => Json(roles_json(&state, c)).into_response(),
        Err(r) => r,
    }
}
