//! The routes of [`super::template`] and [`super::callback`] on the emulator's state, through a
//! narrow seam ([`TemplateHost`]): the Cortex face's state (pending and connected instances)
//! implements it, and these handlers never see more than they need.
//!
//! * `GET {TEMPLATE_PATH_PREFIX}<file>?Expires&Signature` — the bundle of a pending instance.
//! * `PUT {UPLOAD_PATH_PREFIX}<connector_id>?Expires&Signature` — the template's callback.
//!
//! The upload URL inside a bundle is built from the configured public URL, else from the `Host`
//! the bundle was downloaded through (with the listener's scheme), like the links themselves, so
//! the template calls back the emulator it came from.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use azure_config::cortex::{BundleValues, CortexScope, CortexTemplate};
use prisma_types::{ObjectId, TenantId};
use serde_json::json;
use sha2::Digest as _;

use super::callback::{
    self, CallbackError, CapabilityPlan, ChosenCapabilities, CreateConnector, DiscoveredAccount,
    PendingTemplate, SubscriptionFilter, UPLOAD_PATH_PREFIX, upload_url,
};
use super::template::{
    self, LinkError, LinkSigner, TEMPLATE_PATH_PREFIX, TemplateKind, build_bundle, check_signed,
};

/// Client ID the emulator gives "Cortex's multi-tenant application".
pub const OUTPOST_CLIENT_ID: &str = "c0e7e8c1-0d0c-4c1d-9a11-c0e7e8c1a999";

/// What a pending instance contributes to its template.
#[derive(Clone, Debug)]
pub struct PendingRecord {
    /// The tracking GUID (= the pending instance's ID).
    pub guid: String,
    pub tenant_id: TenantId,
    pub template: CortexTemplate,
    pub chosen: ChosenCapabilities,
    /// `custom_resources_tags`.
    pub tags: BTreeMap<String, String>,
    /// `scope_modifications.subscriptions`, when enabled.
    pub subscriptions: Option<SubscriptionFilter>,
    /// When the pending instance was created (epoch seconds): the upload URL's issue time.
    pub created_at: i64,
}

/// A connected instance created (or found) for a callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Connected {
    Created(String),
    AlreadyExisted(String),
}

/// The emulator state these routes work on.
pub trait TemplateHost: Send + Sync + 'static {
    fn signer(&self) -> &LinkSigner;
    /// The current time, epoch seconds.
    fn now_secs(&self) -> i64;
    /// How long after a callback the last chosen capability settles.
    fn capability_delay(&self) -> Duration;
    /// The pending instance with this tracking GUID, if it still exists.
    fn pending(&self, guid: &str) -> Option<PendingRecord>;
    /// The origin links and upload URLs use, when configured.
    fn public_url(&self) -> Option<String> {
        None
    }
    /// The scheme of an origin made from the `Host` header: the listener's.
    fn scheme(&self) -> &'static str {
        "http"
    }
    /// Creates the connected instance of a callback and lets its capabilities follow
    /// `capabilities`; a connector already connected returns its instance and changes nothing.
    fn connect(
        self: Arc<Self>,
        pending: &PendingRecord,
        body: &CreateConnector,
        accounts: Vec<DiscoveredAccount>,
        capabilities: Vec<CapabilityPlan>,
    ) -> Result<Connected, CallbackError>;
}

/// The connector ID of a pending instance (stable per emulator key).
pub fn connector_id(signer: &LinkSigner, guid: &str) -> String {
    signer.derive_hex32("connector", guid)
}

/// A stable GUID per tenant for "Cortex's service principal" in that tenant.
pub fn customer_object_id(tenant: &TenantId) -> ObjectId {
    let d = sha2::Sha256::digest(format!("cortex-service-principal/{}", tenant.as_str()));
    let h = template::hex(&d[..16]);
    let guid = format!(
        "{}-{}-4{}-8{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    );
    ObjectId::parse(&guid).expect("well-formed GUID")
}

fn template_version(scope: CortexScope, audit_logs: bool) -> BTreeMap<String, String> {
    let base = match scope {
        CortexScope::Tenant => "BASE-tf_org_base",
        CortexScope::ManagementGroup => "BASE-tf_mg_base",
        CortexScope::Subscription => "BASE-tf_account_base",
    };
    let mut v = BTreeMap::from([(base.to_owned(), "1.0.0".to_owned())]);
    if audit_logs {
        v.insert("AUDIT_LOGS-tf_audit_logs".into(), "1.0.0".into());
    }
    v
}

/// The bundle values of a pending instance; `base_url` is where the callback goes.
pub fn bundle_values(record: &PendingRecord, signer: &LinkSigner, base_url: &str) -> BundleValues {
    let connector = connector_id(signer, &record.guid);
    BundleValues {
        template_id: record.guid.clone(),
        upload_output_url: upload_url(base_url, &connector, record.created_at, signer),
        connector_id: connector,
        tenant_id: record.tenant_id.clone(),
        outpost_client_id: ObjectId::parse(OUTPOST_CLIENT_ID).expect("constant GUID"),
        customer_object_id: customer_object_id(&record.tenant_id),
        resource_suffix: format!("cc-{}", &record.guid[..10]),
        template_version: template_version(record.template.scope, record.template.audit_logs),
        tags: record.tags.clone(),
    }
}

/// The template download and callback routes, for any outer router state.
pub fn routes<H: TemplateHost, S: Clone + Send + Sync + 'static>(host: Arc<H>) -> Router<S> {
    Router::new()
        .route(
            &format!("{TEMPLATE_PATH_PREFIX}{{file}}"),
            get(download::<H>),
        )
        .route(
            &format!("{UPLOAD_PATH_PREFIX}{{connector}}"),
            put(upload::<H>),
        )
        .with_state(host)
}

fn link_refusal(error: LinkError) -> Response {
    let (status, _, _) = error.status_and_code();
    (
        StatusCode::from_u16(status).expect("valid status"),
        [(header::CONTENT_TYPE, "application/xml; charset=UTF-8")],
        error.xml_body(),
    )
        .into_response()
}

async fn download<H: TemplateHost>(
    State(host): State<Arc<H>>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let path = format!("{TEMPLATE_PATH_PREFIX}{file}");
    if let Err(e) = check_signed(&path, query.as_deref(), host.now_secs(), host.signer()) {
        return link_refusal(e);
    }
    let Some(parsed) = template::parse_file_name(&file) else {
        return link_refusal(LinkError::NotFound);
    };
    let Some(record) = host.pending(&parsed.guid) else {
        return link_refusal(LinkError::NotFound);
    };
    let base = match host.public_url() {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let Some(authority) = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
            else {
                return link_refusal(LinkError::Malformed);
            };
            format!("{}://{authority}", host.scheme())
        }
    };
    let values = bundle_values(&record, host.signer(), &base);
    let bundle = match build_bundle(parsed.kind, &record.template, &values, parsed.issued_at) {
        Ok(b) => b,
        Err(_) => return link_refusal(LinkError::Malformed),
    };
    let disposition = format!("attachment; filename={}", bundle.file_name);
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/gzip")],
        bundle.bytes.clone(),
    )
        .into_response();
    let h = response.headers_mut();
    for (name, value) in [
        ("x-goog-hash", bundle.goog_hash()),
        ("etag", format!("\"{}\"", bundle.etag())),
        ("content-disposition", disposition),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    if parsed.kind == TemplateKind::Arm {
        h.insert(
            "x-emulator-note",
            HeaderValue::from_static("parameters-only"),
        );
    }
    response
}

fn callback_refusal(e: &CallbackError) -> Response {
    (
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
        axum::Json(e.reply_body()),
    )
        .into_response()
}

async fn upload<H: TemplateHost>(
    State(host): State<Arc<H>>,
    Path(connector): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let path = format!("{UPLOAD_PATH_PREFIX}{connector}");
    match check_signed(&path, query.as_deref(), host.now_secs(), host.signer()) {
        Ok(()) => {}
        Err(LinkError::Expired) => {
            return callback_refusal(&CallbackError {
                status: 410,
                field: "upload_output_url".into(),
                message: "has expired (upload URLs live as long as the pending instance, 30 days)"
                    .into(),
            });
        }
        Err(_) => {
            return callback_refusal(&CallbackError {
                status: 403,
                field: "upload_output_url".into(),
                message: "is not a URL this emulator issued (signature missing or wrong)".into(),
            });
        }
    }
    let parsed = match callback::parse(&body) {
        Ok(p) => p,
        Err(e) => return callback_refusal(&e),
    };
    let Some(record) = host.pending(&parsed.template_id) else {
        return callback_refusal(&CallbackError {
            status: 422,
            field: "template_id".into(),
            message: "names no pending instance (deleted, or expired after 30 days)".into(),
        });
    };
    let expected_connector = connector_id(host.signer(), &record.guid);
    if connector != expected_connector {
        return callback_refusal(&CallbackError {
            status: 422,
            field: "connector_id".into(),
            message: "does not match the template of this upload URL".into(),
        });
    }
    let pending = PendingTemplate {
        guid: &record.guid,
        connector_id: &expected_connector,
        tenant_id: record.tenant_id.as_str(),
        scope: record.template.scope,
    };
    if let Err(e) = callback::check(&pending, &parsed) {
        return callback_refusal(&e);
    }
    let accounts = callback::accounts_in_scope(
        record.template.scope,
        &parsed,
        record.subscriptions.as_ref(),
    );
    let plan = callback::capability_plan(
        record.template.scope,
        record.chosen,
        callback::scenario_for(&parsed),
        host.capability_delay(),
    );
    match host.connect(&record, &parsed, accounts, plan) {
        Ok(_) => super::reply::ok(json!({})),
        Err(e) => callback_refusal(&e),
    }
}

// ---- the Cortex face's state as the host ----

use cortex_cloud_types::{CapabilityName, CapabilityStatus, ModificationType, Scope};

use super::state::{Connection, Instance};
use crate::state::EmulatorState;

fn capability_status(code: u8) -> CapabilityStatus {
    match code {
        callback::status::CONNECTED => CapabilityStatus::Connected,
        callback::status::WARNING => CapabilityStatus::Warning,
        callback::status::DISABLED => CapabilityStatus::Disabled,
        callback::status::ERROR => CapabilityStatus::Error,
        _ => CapabilityStatus::Retrieving,
    }
}

/// A pending instance's template inputs, from what `create_instance_template` stored.
pub fn pending_record(i: &Instance) -> Option<PendingRecord> {
    let tenant_id = TenantId::parse(&i.account_details.organization_id).ok()?;
    let c = &i.config;
    let scope = match c.scope {
        Scope::Organization => CortexScope::Tenant,
        Scope::AccountGroup => CortexScope::ManagementGroup,
        Scope::Account => CortexScope::Subscription,
    };
    let flag = |b: Option<bool>| b.unwrap_or(false);
    let a = &c.additional_capabilities;
    let audit_logs = c.collection_configuration.audit_logs.enabled;
    let chosen = ChosenCapabilities {
        agentless_disk_scanning: flag(a.agentless_disk_scanning),
        data_security_posture_management: flag(a.data_security_posture_management),
        registry_scanning: flag(a.registry_scanning),
        serverless_scanning: flag(a.serverless_scanning),
        audit_logs,
    };
    let cloud_environment = match c.cloud_partition {
        Some(cortex_cloud_types::CloudPartition::Government) => {
            azure_config::cortex::CloudEnvironment::UsGovernment
        }
        _ => azure_config::cortex::CloudEnvironment::Public,
    };
    let subscriptions = c
        .scope_modifications
        .subscriptions
        .as_ref()
        .filter(|m| m.enabled)
        .map(|m| SubscriptionFilter {
            include: m.kind == Some(ModificationType::Include),
            subscription_ids: m.subscription_ids.clone().unwrap_or_default(),
        });
    Some(PendingRecord {
        guid: i.id.clone(),
        tenant_id,
        template: CortexTemplate {
            scope,
            capabilities: azure_config::cortex::CortexCapabilities {
                agentless_disk_scanning: chosen.agentless_disk_scanning,
                data_security_posture_management: chosen.data_security_posture_management,
                registry_scanning: chosen.registry_scanning,
                serverless_scanning: chosen.serverless_scanning,
            },
            audit_logs,
            cloud_environment,
        },
        chosen,
        tags: c
            .custom_resources_tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect(),
        subscriptions,
        created_at: i.created_ms / 1000,
    })
}

impl TemplateHost for EmulatorState {
    fn signer(&self) -> &LinkSigner {
        &self.cortex.links
    }

    fn now_secs(&self) -> i64 {
        crate::clock::epoch_secs()
    }

    fn capability_delay(&self) -> Duration {
        self.config.cortex.capability_delay
    }

    fn public_url(&self) -> Option<String> {
        self.config.cortex.public_url.clone()
    }

    /// As the API's links: the issuer is `{scheme}://{listen}`.
    fn scheme(&self) -> &'static str {
        if self.config.issuer.starts_with("https:") {
            "https"
        } else {
            "http"
        }
    }

    fn pending(&self, guid: &str) -> Option<PendingRecord> {
        let mut s = self.cortex.lock();
        s.expire_pending(
            crate::clock::epoch_millis(),
            self.config.cortex.pending_ttl.as_millis() as i64,
        );
        s.get(guid)
            .filter(|i| i.is_pending())
            .and_then(pending_record)
    }

    fn connect(
        self: Arc<Self>,
        pending: &PendingRecord,
        body: &CreateConnector,
        accounts: Vec<DiscoveredAccount>,
        capabilities: Vec<CapabilityPlan>,
    ) -> Result<Connected, CallbackError> {
        let id = {
            let mut s = self.cortex.lock();
            // One connector per pending instance: a repeated callback finds its instance.
            if let Some(existing) = s
                .all()
                .find(|i| i.from_pending.as_deref() == Some(pending.guid.as_str()))
            {
                return Ok(Connected::AlreadyExisted(existing.id.clone()));
            }
            let connection = Connection {
                organization_id: body.organization_id.as_str().to_owned(),
                account_group: body
                    .account_group
                    .as_ref()
                    .map(|g| g.as_str().to_owned())
                    .unwrap_or_default(),
                account_id: body.account_id.as_str().to_owned(),
                account_name: body.account_name.clone(),
                provisioning_method: body.provisioning_method.as_str().to_owned(),
                subscriptions: accounts
                    .into_iter()
                    .map(|a| (a.subscription_id, a.name))
                    .collect(),
            };
            let id = s
                .connect(&pending.guid, connection, crate::clock::epoch_millis())
                .map_err(|e| CallbackError {
                    status: 422,
                    field: "template_id".into(),
                    message: e.to_string(),
                })?;
            // What is already final (disabled ones; everything with no delay) applies now; the
            // rest settles at its time ([`super::state::CortexState::settle`]), which a
            // restart from the snapshot keeps.
            let now = crate::clock::epoch_millis();
            for c in &capabilities {
                set_capability(&mut s, &id, c, now);
            }
            id
        };
        Ok(Connected::Created(id))
    }
}

/// Applies `c` to instance `id` at once when it has no delay, else schedules it.
fn set_capability(s: &mut super::state::CortexState, id: &str, c: &CapabilityPlan, now_ms: i64) {
    let Ok(name) = c.name.parse::<CapabilityName>() else {
        return;
    };
    let status = capability_status(c.final_status);
    let message = c.message.map(str::to_owned);
    if c.ready_after_ms == 0 {
        s.set_capability(id, name, status, message);
    } else {
        let at_ms = now_ms.saturating_add(i64::try_from(c.ready_after_ms).unwrap_or(i64::MAX));
        s.schedule_capability(
            id,
            name,
            super::state::Settlement {
                at_ms,
                status,
                message,
            },
        );
    }
}
