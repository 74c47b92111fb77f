//! The Cortex Cloud instances pages: what a Cortex Cloud tenant has onboarded, read live from
//! its Cloud Onboarding API through `cortex-cloud-client` (nothing here is stored locally).
//!
//! * `/instances?connection=NAME&page=N` — the integration instances of one Cortex Cloud
//!   connection (`cortex-sandbox` or a saved one; the first Cortex connection when none is
//!   named): name, status, scope, the capabilities turned on, how many accounts, when created;
//!   [`PER_PAGE`] a page, paged by the API's own `filter_data.paging` and `FILTER_COUNT`.
//!   `show=pending` lists the pending instances instead (Cortex leaves them out unless asked:
//!   one stays behind each onboarding, waiting for its template).
//! * `/instances/{id}?connection=NAME` — one instance: its status, scope, scan mode, each
//!   security capability's status with its message and what to do ([`super::cortex_words`]),
//!   and its accounts (Azure subscriptions) with their status.
//!
//! The client is built per request from the connection as stored now, with a short budget
//! ([`onboarding_engine::connections::cortex::interactive_config`]) so a page answers in
//! seconds. A platform error is shown as the client's sentence with its fix (502), an unknown
//! connection or a bad instance id names it (404 / 400): never a 500. The key is never on a page.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cortex_cloud_client::CortexClient;
use cortex_cloud_types::filter::{FilterData, FilterNode, Paging};
use cortex_cloud_types::wire::{AccountRow, InstanceDetails, InstanceRow};
use onboarding_engine::Platform;
use onboarding_engine::connections::cortex::interactive_config;

use super::cortex_words::{
    capabilities_on, capability_badge, capability_fix, scope_words, status_badge,
    words_for_api_name,
};
use super::dashboard::Pager;
use super::{Badge, Nav, PageUser, no_store, url_encode};
use crate::error::ApiError;
use crate::extract::FormFields;
use crate::state::AppState;

/// Instances per page.
pub const PER_PAGE: usize = 25;

/// A Cortex Cloud connection to pick on the page.
pub struct CortexChoice {
    pub name: String,
    pub api_url: String,
    pub selected: bool,
}

pub struct InstanceItem {
    pub id: String,
    pub name: String,
    pub status: Badge,
    pub scope: String,
    pub capabilities: String,
    pub accounts: u64,
    pub created: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "instances.html")]
pub struct InstancesPage {
    pub nav: Nav,
    pub connections: Vec<CortexChoice>,
    /// The connection shown (empty when there is none).
    pub connection: String,
    /// The connection as a query parameter value.
    pub connection_q: String,
    /// `onboarded` (the default: Cortex's own listing) or `pending` (instances waiting for
    /// their template to run; one stays behind each onboarding).
    pub show: String,
    pub instances: Vec<InstanceItem>,
    pub pager: Pager,
    /// Why the instances could not be listed: the client's sentence with its fix.
    pub error: Option<String>,
}

pub struct CapabilityItem {
    pub name: String,
    /// What it does, for the capabilities a request turns on.
    pub about: &'static str,
    pub status: Badge,
    pub message: String,
    pub fix: &'static str,
}

pub struct AccountItem {
    pub name: String,
    pub subscription: String,
    pub status: Badge,
    pub kind: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "instance.html")]
pub struct InstancePage {
    pub nav: Nav,
    pub connection: String,
    pub connection_q: String,
    pub id: String,
    pub details: Option<InstanceSummary>,
    pub capabilities: Vec<CapabilityItem>,
    pub accounts: Vec<AccountItem>,
    /// Why the instance or its accounts could not be read.
    pub error: Option<String>,
}

/// What the instance page says about the instance itself.
pub struct InstanceSummary {
    pub name: String,
    pub status: Badge,
    pub scope: String,
    pub scan: String,
    pub audit_logs: String,
    pub upgrade_available: bool,
}

/// The Cortex Cloud connections (readable ones), `chosen` selected (else the first).
async fn cortex_choices(state: &AppState, chosen: &str) -> Result<Vec<CortexChoice>, ApiError> {
    let views = state.engine().list_connections().await?;
    let mut choices: Vec<CortexChoice> = views
        .into_iter()
        .filter(|c| c.platform == Platform::Cortex && c.problem.is_none())
        .map(|c| CortexChoice {
            selected: c.name == chosen,
            name: c.name,
            api_url: c.api_url,
        })
        .collect();
    if !chosen.is_empty() && !choices.iter().any(|c| c.selected) {
        return Err(ApiError::not_found(format!(
            "no Cortex Cloud connection named '{chosen}'; add it under Connections"
        )));
    }
    if let Some(first) = choices.first_mut()
        && chosen.is_empty()
    {
        first.selected = true;
    }
    Ok(choices)
}

/// A client for the connection `name`, with a page's short budget.
async fn client_for(state: &AppState, name: &str) -> Result<CortexClient, String> {
    let engine = state.engine();
    let connection = engine
        .cortex_connection(name)
        .await
        .map_err(|e| ApiError::from(e).body.message)?;
    CortexClient::new(interactive_config(&connection, engine.extra_ca_pem()))
        .map_err(|e| e.to_string())
}

/// A millisecond timestamp as a UTC date and time (empty when absent).
fn when(ms: Option<i64>) -> String {
    ms.and_then(|ms| time::OffsetDateTime::from_unix_timestamp(ms / 1000).ok())
        .map(|t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute()
            )
        })
        .unwrap_or_default()
}

fn item(row: &InstanceRow) -> InstanceItem {
    InstanceItem {
        id: row.instance_id.clone(),
        name: if row.instance_name.is_empty() {
            row.instance_id.clone()
        } else {
            row.instance_name.clone()
        },
        status: status_badge(row.status.as_str()),
        scope: scope_words(&row.scope),
        capabilities: capabilities_on(
            &row.additional_capabilities,
            row.collection_configuration.audit_logs.enabled,
        )
        .join(", "),
        accounts: row.accounts,
        created: when(row.created().map(|m| m.0)),
    }
}

pub async fn instances_page(
    State(state): State<AppState>,
    PageUser(p): PageUser,
    RawQuery(query): RawQuery,
) -> Response {
    let q = FormFields::parse(query.as_deref().unwrap_or(""));
    let page = q
        .get("page")
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .unwrap_or(1);
    let nav = Nav::of(&p);
    let (status, connections, error) =
        match cortex_choices(&state, q.get("connection").trim()).await {
            Ok(c) => (StatusCode::OK, c, None),
            Err(e) => (e.status, Vec::new(), Some(e.body.message)),
        };
    let connection = connections
        .iter()
        .find(|c| c.selected)
        .map(|c| c.name.clone())
        .unwrap_or_default();
    let connection_q = url_encode(&connection);
    let show = if q.get("show") == "pending" {
        "pending"
    } else {
        "onboarded"
    };
    let href = |n: usize| format!("/instances?connection={connection_q}&show={show}&page={n}");
    let mut listed = (Vec::new(), 0usize);
    let (status, error) = match (error, connection.is_empty()) {
        (Some(e), _) => (status, Some(e)),
        (None, true) => (StatusCode::OK, None),
        (None, false) => {
            let from = (page - 1) * PER_PAGE;
            let mut filter = FilterData {
                paging: Some(Paging {
                    from: from as u32,
                    to: (from + PER_PAGE) as u32,
                }),
                ..FilterData::default()
            };
            if show == "pending" {
                filter = filter.all(vec![FilterNode::eq("STATUS", "PENDING")]);
            }
            let rows = match client_for(&state, &connection).await {
                Ok(client) => client
                    .get_instances(&filter)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            match rows {
                Ok(rows) => {
                    listed = (
                        rows.data.iter().map(item).collect(),
                        rows.filter_count as usize,
                    );
                    (StatusCode::OK, None)
                }
                Err(e) => (StatusCode::BAD_GATEWAY, Some(e)),
            }
        }
    };
    let pager = Pager::new(page, PER_PAGE, listed.1, href);
    no_store(
        (
            status,
            InstancesPage {
                nav,
                connections,
                connection,
                connection_q,
                show: show.into(),
                instances: listed.0,
                pager,
                error,
            },
        )
            .into_response(),
    )
}

fn summary(d: &InstanceDetails) -> InstanceSummary {
    let audit = &d.collection_configuration.audit_logs;
    InstanceSummary {
        name: if d.instance_name.is_empty() {
            d.id.clone()
        } else {
            d.instance_name.clone()
        },
        status: status_badge(d.status.as_str()),
        scope: scope_words(&d.scope),
        scan: match (d.scan.scan_method.as_str(), d.scan.outpost_id.as_str()) {
            ("", _) => "managed by Cortex Cloud".into(),
            (m, "") => m.to_ascii_lowercase(),
            (m, outpost) => format!("{} (outpost {outpost})", m.to_ascii_lowercase()),
        },
        audit_logs: if audit.enabled {
            match audit.collection_method {
                Some(m) => format!("on ({})", m.as_str().to_ascii_lowercase()),
                None => "on".into(),
            }
        } else {
            "off".into()
        },
        upgrade_available: d.upgrade_available,
    }
}

fn account(a: &AccountRow) -> AccountItem {
    AccountItem {
        name: a.account_name.clone(),
        subscription: a.subscription().to_owned(),
        status: status_badge(&a.status),
        kind: a.kind.to_ascii_lowercase(),
    }
}

pub async fn instance_page(
    State(state): State<AppState>,
    PageUser(p): PageUser,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let q = FormFields::parse(query.as_deref().unwrap_or(""));
    let nav = Nav::of(&p);
    let mut page = InstancePage {
        nav,
        connection: String::new(),
        connection_q: String::new(),
        id: id.clone(),
        details: None,
        capabilities: Vec::new(),
        accounts: Vec::new(),
        error: None,
    };
    let status = match cortex_choices(&state, q.get("connection").trim()).await {
        Err(e) => {
            page.error = Some(e.body.message);
            e.status
        }
        Ok(choices) => match choices.into_iter().find(|c| c.selected) {
            None => {
                page.error =
                    Some("no Cortex Cloud connection exists yet; add one under Connections".into());
                StatusCode::NOT_FOUND
            }
            Some(choice) => {
                page.connection_q = url_encode(&choice.name);
                page.connection = choice.name;
                fill(&state, &mut page, &id).await
            }
        },
    };
    no_store((status, page).into_response())
}

/// Reads the instance and its accounts into `page`; the status to answer with.
async fn fill(state: &AppState, page: &mut InstancePage, id: &str) -> StatusCode {
    if !cortex_cloud_types::is_instance_id(id) {
        page.error = Some("id must be an instance ID (32 hexadecimal digits)".into());
        return StatusCode::BAD_REQUEST;
    }
    let client = match client_for(state, &page.connection).await {
        Ok(c) => c,
        Err(e) => {
            page.error = Some(e);
            return StatusCode::BAD_GATEWAY;
        }
    };
    let (details, accounts) =
        tokio::join!(client.get_instance_details(id), client.all_accounts(id));
    let mut problems = Vec::new();
    match details {
        Ok(d) => {
            page.capabilities = d
                .security_capabilities
                .iter()
                .map(|c| CapabilityItem {
                    name: if c.description.is_empty() {
                        c.name.clone()
                    } else {
                        c.description.clone()
                    },
                    about: words_for_api_name(&c.name).map_or("", |w| w.sentence),
                    status: capability_badge(c.status),
                    message: c.message.clone().unwrap_or_default(),
                    fix: capability_fix(c.status),
                })
                .collect();
            page.details = Some(summary(&d));
        }
        Err(e) => problems.push(e.to_string()),
    }
    match accounts {
        Ok(a) => page.accounts = a.iter().map(account).collect(),
        Err(e) => problems.push(e.to_string()),
    }
    if problems.is_empty() {
        StatusCode::OK
    } else {
        page.error = Some(problems.join(" "));
        StatusCode::BAD_GATEWAY
    }
}
