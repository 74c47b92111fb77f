//! Account groups (`/cloud/group`): list, create, read, replace and delete by ID, and the
//! name listing clients use to find a group by name.
//!
//! Membership lives on the accounts (`groupIds`); a group's `accountIds` is derived from them.
//! Writing a group's `accountIds` therefore moves the group onto exactly those accounts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::clock::epoch_millis;
use crate::error::{ApiFailure, WireJson};
use crate::gateway::Caller;
use crate::state::EmulatorState;
use crate::store::{GroupRecord, Store};

type AppState = State<Arc<EmulatorState>>;

/// The body of `POST /cloud/group` and `PUT /cloud/group/{id}` (`AccountGroupModel`). Real
/// clients send more than `name`/`accountIds`: the Go client re-sends what it read (`id`,
/// `lastModifiedBy`, `lastModifiedTs`, `accounts`, `alertRules`) and sends `accountIds: null`
/// for an empty group; PANW scripts send `childGroupIds`/`nonOnboardedCloudAccountIds`.
/// Read-only fields are ignored; `null` lists are empty.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    account_ids: Option<Vec<String>>,
}

/// An element of `GET /cloud/group` and the answer of the other group endpoints
/// (`AccountGroupViewModel`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupView {
    id: String,
    name: String,
    description: String,
    account_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    accounts: Option<Vec<GroupAccount>>,
    alert_rules: Vec<serde_json::Value>,
    auto_created: bool,
    cloud_account_count: u32,
    last_modified_by: String,
    last_modified_ts: i64,
}

#[derive(Serialize)]
struct GroupAccount {
    id: String,
    name: String,
    #[serde(rename = "type")]
    cloud_type: &'static str,
}

fn view(store: &Store, group: &GroupRecord, with_accounts: bool) -> GroupView {
    let now = Instant::now();
    let accounts = with_accounts.then(|| {
        group
            .account_ids
            .iter()
            .filter_map(|id| store.accounts.get(id))
            .filter(|a| a.is_readable(now))
            .map(|a| GroupAccount {
                id: a.account_id.clone(),
                name: a.name.clone(),
                cloud_type: "azure",
            })
            .collect()
    });
    GroupView {
        id: group.id.clone(),
        name: group.name.clone(),
        description: group.description.clone(),
        account_ids: group.account_ids.clone(),
        accounts,
        alert_rules: Vec::new(),
        auto_created: group.auto_created,
        cloud_account_count: group.cloud_account_count,
        last_modified_by: group.last_modified_by.clone(),
        last_modified_ts: group.last_modified_ts,
    }
}

fn flag(q: &HashMap<String, String>, name: &str, default: bool) -> bool {
    q.get(name)
        .map_or(default, |v| v.eq_ignore_ascii_case("true"))
}

pub async fn list_groups(
    State(state): AppState,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let with_accounts = !flag(&q, "excludeCloudAccountDetails", false);
    let store = state.store();
    let groups: Vec<GroupView> = store
        .groups
        .values()
        .map(|g| view(&store, g, with_accounts))
        .collect();
    Json(groups).into_response()
}

/// `GET /cloud/group/name`: `[{id, name, autoCreated}]` — the Go client's `group.Identify`.
pub async fn list_group_names(
    State(state): AppState,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let include_auto = flag(&q, "include_auto_created", true);
    let store = state.store();
    let names: Vec<_> = store
        .groups
        .values()
        .filter(|g| include_auto || !g.auto_created)
        .map(|g| serde_json::json!({"id": g.id, "name": g.name, "autoCreated": g.auto_created}))
        .collect();
    Json(names).into_response()
}

pub async fn get_group(
    State(state): AppState,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    let store = state.store();
    let group = store.groups.get(&id).ok_or_else(unknown_group)?;
    Ok(Json(view(&store, group, true)).into_response())
}

fn unknown_group() -> ApiFailure {
    ApiFailure::new(StatusCode::BAD_REQUEST, "invalid_id").subject("id")
}

/// The checked name, unique among the groups other than `except`.
fn checked_name(
    store: &Store,
    raw: Option<&str>,
    except: Option<&str>,
) -> Result<String, ApiFailure> {
    let name = raw.unwrap_or("").trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(
            ApiFailure::new(StatusCode::BAD_REQUEST, "invalid_account_group_name").subject("name"),
        );
    }
    if store
        .group_by_name(name)
        .is_some_and(|g| Some(g.id.as_str()) != except)
    {
        return Err(
            ApiFailure::new(StatusCode::BAD_REQUEST, "account_group_name_already_exists")
                .subject("name"),
        );
    }
    Ok(name.to_owned())
}

fn checked_accounts(store: &Store, ids: Option<Vec<String>>) -> Result<Vec<String>, ApiFailure> {
    let ids = ids.unwrap_or_default();
    if ids.iter().any(|id| !store.accounts.contains_key(id)) {
        return Err(
            ApiFailure::new(StatusCode::BAD_REQUEST, "invalid_account_ids").subject("accountIds"),
        );
    }
    Ok(ids)
}

/// Puts group `gid` on exactly the accounts `members`.
fn set_members(store: &mut Store, gid: &str, members: &[String]) {
    for account in store.accounts.values_mut() {
        let wanted = members.contains(&account.account_id);
        let has = account.group_ids.iter().any(|g| g == gid);
        if wanted && !has {
            account.group_ids.push(gid.to_owned());
        } else if !wanted && has {
            account.group_ids.retain(|g| g != gid);
        }
    }
    store.refresh_group_membership();
}

pub async fn create_group(
    State(state): AppState,
    Extension(caller): Extension<Caller>,
    WireJson(body): WireJson<GroupBody>,
) -> Result<Response, ApiFailure> {
    let mut store = state.store();
    let name = checked_name(&store, body.name.as_deref(), None)?;
    let members = checked_accounts(&store, body.account_ids)?;
    let group = GroupRecord {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        description: body.description.unwrap_or_default(),
        last_modified_ts: epoch_millis(),
        last_modified_by: caller.access_key_id,
        ..GroupRecord::default()
    };
    let id = group.id.clone();
    store.groups.insert(id.clone(), group);
    set_members(&mut store, &id, &members);
    let created = &store.groups[&id];
    Ok(Json(view(&store, created, true)).into_response())
}

/// `PUT /cloud/group/{id}`: a full replace of name, description and members.
pub async fn update_group(
    State(state): AppState,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    WireJson(body): WireJson<GroupBody>,
) -> Result<Response, ApiFailure> {
    let mut store = state.store();
    if !store.groups.contains_key(&id) {
        return Err(unknown_group());
    }
    let name = checked_name(&store, body.name.as_deref(), Some(&id))?;
    let members = checked_accounts(&store, body.account_ids)?;
    let group = store.groups.get_mut(&id).expect("checked above");
    group.name = name;
    group.description = body.description.unwrap_or_default();
    group.last_modified_ts = epoch_millis();
    group.last_modified_by = caller.access_key_id;
    set_members(&mut store, &id, &members);
    Ok(StatusCode::OK.into_response())
}

/// `DELETE /cloud/group/{id}`: refused with 409 while accounts are still in the group.
pub async fn delete_group(
    State(state): AppState,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    let mut store = state.store();
    let group = store.groups.get(&id).ok_or_else(unknown_group)?;
    if !group.account_ids.is_empty() {
        return Err(ApiFailure::new(
            StatusCode::CONFLICT,
            "cannot_delete_an_account_group_associated_with_cloud_accounts",
        )
        .subject("id"));
    }
    store.groups.remove(&id);
    Ok(StatusCode::OK.into_response())
}
