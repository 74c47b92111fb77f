//! The routes of [`super::template`] and [`super::callback`] on the emulator's state, through a
//! narrow seam ([`TemplateHost`]): the Cortex face's state (pending and connected instances)
//! implements it, and these handlers never see more than they need.
//!
//! * `GET {TEMPLATE_PATH_PREFIX}<file>?Expires&Signature` — the bundle of a pending instance.
//! * `PUT {UPLOAD_PATH_PREFIX}<connector_id>?Expires&Signature` — the template's callback.
//!
//! The upload URL inside a bundle is built from the `Host` the bundle was downloaded through
//! (and the scheme the emulator serves), so the template calls back the emulator it came from.

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
    /// Creates the connected instance of a callback; a connector already connected returns
    /// its instance and changes nothing.
    fn connect(
        &self,
        pending: &PendingRecord,
        body: &CreateConnector,
        accounts: Vec<DiscoveredAccount>,
        capabilities: Vec<CapabilityPlan>,
    ) -> Connected;
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

/// The template download and callback routes.
pub fn routes<H: TemplateHost>(host: Arc<H>, tls: bool) -> Router {
    Router::new()
        .route(
            &format!("{TEMPLATE_PATH_PREFIX}{{file}}"),
            get(download::<H>),
        )
        .route(
            &format!("{UPLOAD_PATH_PREFIX}{{connector}}"),
            put(upload::<H>),
        )
        .with_state((host, tls))
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
    State((host, tls)): State<(Arc<H>, bool)>,
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
    let Some(authority) = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
    else {
        return link_refusal(LinkError::Malformed);
    };
    let base = format!("{}://{authority}", if tls { "https" } else { "http" });
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
    State((host, _tls)): State<(Arc<H>, bool)>,
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
    host.connect(&record, &parsed, accounts, plan);
    (StatusCode::OK, axum::Json(json!({ "reply": {} }))).into_response()
}
