//! The Cloud Onboarding endpoints. Every one is a POST of `{"request_data": …}` (trailing slash
//! or not) answered `{"reply": …}`; `get_identifiers` and `get_azure_approved_tenants` also
//! take the bare body their documentation examples show. A body that is not JSON, or has no
//! `request_data`, is a 400; a field of the wrong type or value is a 422 whose `err_extra`
//! item's `loc` names it.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cortex_cloud_types::filter::{ACCOUNT_FIELDS, INSTANCE_FIELDS};
use cortex_cloud_types::wire::{
    Automated, CreateInstanceTemplate, DeleteInstances, EditInstance, EnableDisableAccounts,
    EnableDisableInstances, GetAccounts, GetApprovedTenants, GetIdentifiers, GetInstances,
    Identifier, Identifiers, InstanceRef, ListRegions, Manual, Page, Region, TemplateLinks,
    check_instance_ids, paths,
};
use cortex_cloud_types::{CloudProvider, is_instance_id};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::filters::{asks_for, select};
use super::reply::{Failure, ok};
use super::state::{CortexState, Instance};
use crate::state::EmulatorState;

type Shared = State<Arc<EmulatorState>>;

/// The Cortex routes (without state: [`super::router`] adds the gateway and the state).
pub fn api_router(_state: Arc<EmulatorState>) -> Router<Arc<EmulatorState>> {
    let mut r = Router::new();
    for (path, handler) in [
        (
            paths::CREATE_INSTANCE_TEMPLATE,
            post(create_instance_template),
        ),
        (paths::GET_INSTANCES, post(get_instances)),
        (paths::GET_INSTANCE_DETAILS, post(get_instance_details)),
        (paths::EDIT_INSTANCE, post(edit_instance)),
        (
            paths::ENABLE_DISABLE_INSTANCE,
            post(enable_disable_instance),
        ),
        (paths::DELETE_INSTANCE, post(delete_instance)),
        (paths::GET_ACCOUNTS, post(get_accounts)),
        (paths::ENABLE_DISABLE_ACCOUNT, post(enable_disable_account)),
        (
            paths::GET_AZURE_APPROVED_TENANTS,
            post(get_azure_approved_tenants),
        ),
        (paths::LIST_REGIONS, post(list_regions)),
        (paths::GET_IDENTIFIERS, post(get_identifiers)),
        (paths::VALIDATE_KEY, get(validate_key)),
    ] {
        r = r
            .route(path, handler.clone())
            .route(&format!("{path}/"), handler);
    }
    r
}

fn now_ms() -> i64 {
    crate::clock::epoch_millis()
}

/// The `request_data` of a body (or the bare body, where tolerated).
fn request_data(body: &Bytes, bare_ok: bool) -> Result<Value, Failure> {
    if body.iter().all(u8::is_ascii_whitespace) {
        if bare_ok {
            return Ok(json!({}));
        }
        return Err(Failure::bad_request(
            "request body is empty; send {\"request_data\": {...}}",
        ));
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| Failure::bad_request(format!("request body is not valid JSON ({e})")))?;
    match v {
        Value::Object(mut o) => match o.remove("request_data") {
            Some(d @ Value::Object(_)) => Ok(d),
            Some(other) => Err(Failure::invalid(
                "",
                "dict_type",
                "request_data must be an object",
                Some(other),
            )),
            None if bare_ok => Ok(Value::Object(o)),
            None => Err(Failure::bad_request(
                "request_data is missing: wrap the fields in {\"request_data\": {...}}",
            )),
        },
        _ => Err(Failure::bad_request(
            "request body must be a JSON object with request_data",
        )),
    }
}

/// Typed parsing; an error names the field's path.
fn parse<T: DeserializeOwned>(v: Value) -> Result<T, Failure> {
    serde_path_to_error::deserialize::<_, T>(v).map_err(|e| {
        let path = e.path().to_string();
        let loc = if path == "." { String::new() } else { path };
        let msg = e.into_inner().to_string();
        let kind = if msg.starts_with("missing field") {
            "missing"
        } else {
            "value_error"
        };
        Failure::invalid(&loc, kind, msg, None)
    })
}

fn body_of<T: DeserializeOwned>(body: &Bytes, bare_ok: bool) -> Result<T, Failure> {
    parse(request_data(body, bare_ok)?)
}

fn respond(result: Result<Response, Failure>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

/// The origin template links point at.
fn origin(state: &EmulatorState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.config.cortex.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    // Same scheme as the listener (the issuer is `{scheme}://{listen}`).
    let scheme = if state.config.issuer.starts_with("https:") {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

/// The template links of `instance`, issued at `issued_ms`, valid for `ttl_ms`, signed
/// (`template.rs`): `{origin}/_cortex/templates/tf-<guid>-<epoch>.tar.gz?Expires=…&Signature=…`
/// and the `arm-<guid>-<epoch>.tar.gz` twin — the file-name shape the official SDK parses the
/// tracking GUID from. The download route behind them is `template_routes.rs`.
pub fn template_links(
    origin: &str,
    instance_id: &str,
    issued_ms: i64,
    ttl_ms: i64,
    signer: &super::template::LinkSigner,
) -> TemplateLinks {
    use super::template::{TemplateKind, template_link};
    let validity = std::time::Duration::from_millis(ttl_ms.max(0) as u64);
    let link = |kind| {
        template_link(
            origin,
            kind,
            instance_id,
            issued_ms / 1000,
            validity,
            signer,
        )
    };
    TemplateLinks {
        automated: Automated::default(),
        manual: Manual {
            tf: Some(link(TemplateKind::Terraform)),
            arm: Some(link(TemplateKind::Arm)),
            cf: None,
        },
    }
}

fn link_ttl_ms(state: &EmulatorState) -> i64 {
    state.config.cortex.link_ttl.as_millis() as i64
}

fn expire(state: &EmulatorState, s: &mut CortexState) {
    s.expire_pending(now_ms(), state.config.cortex.pending_ttl.as_millis() as i64);
}

fn require_azure(provider: CloudProvider) -> Result<(), Failure> {
    if provider != CloudProvider::Azure {
        return Err(Failure::invalid(
            "cloud_provider",
            "value_error",
            "this emulator serves Azure onboarding only; use AZURE",
            Some(provider.as_str().into()),
        ));
    }
    Ok(())
}

async fn create_instance_template(
    State(state): Shared,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond((|| {
        let req: CreateInstanceTemplate = body_of(&body, false)?;
        req.validate()?;
        require_azure(req.cloud_provider)?;
        let mut s = state.cortex.lock();
        expire(&state, &mut s);
        let tenant = req
            .account_details
            .as_ref()
            .map(|d| d.organization_id.clone())
            .unwrap_or_default();
        if !s.is_approved(&tenant) {
            return Err(Failure::invalid(
                "account_details.organization_id",
                "value_error",
                "this Azure tenant has not approved the Cortex Cloud application; approve it in the \
                 console (Settings > Data Sources > Microsoft Azure > approve tenant), then retry",
                Some(tenant.into()),
            ));
        }
        let i = s.create_pending(req, now_ms());
        Ok(ok(template_links(
            &origin(&state, &headers),
            &i.id,
            i.links_issued_ms,
            link_ttl_ms(&state),
            &state.cortex.links,
        )))
    })())
}

fn page<T: serde::Serialize>(data: Vec<T>, filter_count: u64, total_count: u64) -> Response {
    ok(Page {
        data,
        filter_count,
        total_count,
    })
}

async fn get_instances(State(state): Shared, body: Bytes) -> Response {
    respond((|| {
        let req: GetInstances = body_of(&body, false)?;
        let mut s = state.cortex.lock();
        expire(&state, &mut s);
        let with_pending = asks_for(&req.filter_data, "STATUS", "PENDING");
        let with_deleted = asks_for(&req.filter_data, "STATUS", "DELETED");
        let rows: Vec<&Instance> = s
            .all_with_deleted()
            .filter(|i| (with_pending || !i.is_pending()) && (with_deleted || !i.is_deleted()))
            .collect();
        let (rows, filtered, total) = select(rows, &req.filter_data, INSTANCE_FIELDS)?;
        Ok(page(
            rows.into_iter().map(Instance::row).collect(),
            filtered,
            total,
        ))
    })())
}

fn instance_id(field: &str, id: &str) -> Result<(), Failure> {
    if is_instance_id(id) {
        Ok(())
    } else {
        Err(Failure::invalid(
            field,
            "value_error",
            "must be an instance ID (32 hexadecimal digits)",
            Some(id.into()),
        ))
    }
}

async fn get_instance_details(State(state): Shared, body: Bytes) -> Response {
    respond((|| {
        let req: InstanceRef = body_of(&body, false)?;
        instance_id("id", &req.id)?;
        let mut s = state.cortex.lock();
        expire(&state, &mut s);
        let i = s
            .get(&req.id)
            .ok_or_else(|| Failure::not_found("instance", &req.id))?;
        Ok(ok(i.details()))
    })())
}

async fn edit_instance(State(state): Shared, headers: HeaderMap, body: Bytes) -> Response {
    respond((|| {
        let req: EditInstance = body_of(&body, false)?;
        req.validate()?;
        require_azure(req.cloud_provider)?;
        let mut s = state.cortex.lock();
        expire(&state, &mut s);
        let id = req.id.clone();
        let i = s
            .edit(req, now_ms())
            .ok_or_else(|| Failure::not_found("instance", &id))?;
        Ok(ok(template_links(
            &origin(&state, &headers),
            &i.id,
            i.links_issued_ms,
            link_ttl_ms(&state),
            &state.cortex.links,
        )))
    })())
}

fn existing(s: &CortexState, ids: &[String]) -> Result<(), Failure> {
    check_instance_ids("ids", ids)?;
    if let Some(missing) = s.missing(ids) {
        let at = ids.iter().position(|i| i == missing).unwrap_or(0);
        return Err(Failure::invalid(
            &format!("ids.{at}"),
            "value_error",
            "no instance with this id",
            Some(missing.clone().into()),
        ));
    }
    Ok(())
}

async fn enable_disable_instance(State(state): Shared, body: Bytes) -> Response {
    respond((|| {
        let req: EnableDisableInstances = body_of(&body, false)?;
        let mut s = state.cortex.lock();
        expire(&state, &mut s);
        existing(&s, &req.ids)?;
        s.set_enabled(&req.ids, req.enable, now_ms());
        Ok(ok(json!({})))
    })())
}

async fn delete_instance(State(state): Shared, body: Bytes) -> Response {
    respond((|| {
        let req: DeleteInstances = body_of(&body, false)?;
        let mut s = state.cortex.lock();
        expire(&state, &mut s);
        existing(&s, &req.ids)?;
        s.delete(&req.ids, now_ms());
        Ok(ok(json!({})))
    })())
}

async fn get_accounts(State(state): Shared, body: Bytes) -> Response {
    respond((|| {
        let req: GetAccounts = body_of(&body, false)?;
        instance_id("instance_id", &req.instance_id)?;
        let s = state.cortex.lock();
        let i = s.get(&req.instance_id).ok_or_else(|| {
            Failure::invalid(
                "instance_id",
                "value_error",
                "no instance with this id",
                Some(req.instance_id.clone().into()),
            )
        })?;
        let (rows, filtered, total) = select(
            i.accounts.iter().collect(),
            &req.filter_data,
            ACCOUNT_FIELDS,
        )?;
        Ok(page(
            rows.into_iter().map(|a| a.row()).collect(),
            filtered,
            total,
        ))
    })())
}

async fn enable_disable_account(State(state): Shared, body: Bytes) -> Response {
    respond((|| {
        let req: EnableDisableAccounts = body_of(&body, false)?;
        instance_id("instance_id", &req.instance_id)?;
        if req.ids.is_empty() {
            return Err(Failure::invalid(
                "ids",
                "too_short",
                "must list at least one account ID",
                Some(json!([])),
            ));
        }
        let mut s = state.cortex.lock();
        if s.get(&req.instance_id).is_none() {
            return Err(Failure::invalid(
                "instance_id",
                "value_error",
                "no instance with this id",
                Some(req.instance_id.into()),
            ));
        }
        s.set_accounts_enabled(&req.instance_id, &req.ids, req.enable)
            .map_err(|bad| {
                let at = req.ids.iter().position(|i| *i == bad).unwrap_or(0);
                Failure::invalid(
                    &format!("ids.{at}"),
                    "value_error",
                    "this instance has no account with this id",
                    Some(bad.into()),
                )
            })?;
        Ok(ok(json!({})))
    })())
}

async fn get_azure_approved_tenants(State(state): Shared, body: Bytes) -> Response {
    respond((|| {
        let _req: GetApprovedTenants = body_of(&body, true)?;
        let s = state.cortex.lock();
        Ok(ok(json!({ "tenants": s.approved_tenants() })))
    })())
}

/// Azure locations the emulator lists (a representative subset of the public cloud).
const AZURE_REGIONS: &[(&str, &str)] = &[
    ("East US", "eastus"),
    ("East US 2", "eastus2"),
    ("Central US", "centralus"),
    ("North Central US", "northcentralus"),
    ("South Central US", "southcentralus"),
    ("West US", "westus"),
    ("West US 2", "westus2"),
    ("West US 3", "westus3"),
    ("Canada Central", "canadacentral"),
    ("Brazil South", "brazilsouth"),
    ("North Europe", "northeurope"),
    ("West Europe", "westeurope"),
    ("UK South", "uksouth"),
    ("France Central", "francecentral"),
    ("Germany West Central", "germanywestcentral"),
    ("Switzerland North", "switzerlandnorth"),
    ("Sweden Central", "swedencentral"),
    ("Southeast Asia", "southeastasia"),
    ("East Asia", "eastasia"),
    ("Japan East", "japaneast"),
    ("Korea Central", "koreacentral"),
    ("Central India", "centralindia"),
    ("Australia East", "australiaeast"),
    ("South Africa North", "southafricanorth"),
    ("UAE North", "uaenorth"),
];

async fn list_regions(body: Bytes) -> Response {
    respond((|| {
        let req: ListRegions = body_of(&body, false)?;
        require_azure(req.cloud_provider)?;
        let regions: Vec<Region> = AZURE_REGIONS
            .iter()
            .map(|(name, value)| Region {
                name: (*name).into(),
                value: (*value).into(),
            })
            .collect();
        Ok(ok(regions))
    })())
}

/// The emulated Cortex multi-tenant application (client id) the template grants roles to.
pub const CORTEX_APP_CLIENT_ID: &str = "c0a7e000-0000-4000-8000-00000000c0de";

async fn get_identifiers(State(state): Shared, body: Bytes) -> Response {
    respond((|| {
        let req: GetIdentifiers = body_of(&body, true)?;
        instance_id("instance_id", &req.instance_id)?;
        require_azure(req.cloud_provider)?;
        let s = state.cortex.lock();
        let i = s.get(&req.instance_id).ok_or_else(|| {
            Failure::invalid(
                "instance_id",
                "value_error",
                "no instance with this id",
                Some(req.instance_id.clone().into()),
            )
        })?;
        let mut identifiers = vec![Identifier {
            kind: "SERVICE_PRINCIPAL".into(),
            name: "Cortex Cloud".into(),
            client_id: CORTEX_APP_CLIENT_ID.into(),
            roles: vec!["Reader".into(), format!("cortex-reader-{}", &i.id[..8])],
        }];
        if !i.is_pending() {
            identifiers.push(Identifier {
                kind: "MANAGED_IDENTITY".into(),
                name: format!("cortex-mi-{}", &i.id[..8]),
                client_id: uuid::Uuid::try_parse(&i.id)
                    .map(|u| u.hyphenated().to_string())
                    .unwrap_or_default(),
                roles: vec![format!("cortex-mi-role-{}", &i.id[..8])],
            });
        }
        Ok(ok(Identifiers { identifiers }))
    })())
}

/// `GET /api_keys/validate`: the gateway already checked the key; a valid one reads `true`.
async fn validate_key() -> Response {
    axum::Json(true).into_response()
}
