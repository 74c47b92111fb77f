//! Health, readiness, metrics and the OpenAPI document.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;

use crate::auth::Authed;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::views::{Health, Readiness};

/// The process is up.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "ops",
    responses((status = 200, body = Health)))]
pub async fn healthz() -> axum::Json<Health> {
    axum::Json(Health {
        status: "ok".into(),
    })
}

/// The job store and the users database answer.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "ops",
    responses((status = 200, body = Readiness), (status = 503, body = ErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> Result<axum::Json<Readiness>, ApiError> {
    let store = state.engine().store();
    let check = async {
        store
            .list_jobs(None, 1)
            .await
            .map_err(|e| ApiError::storage("job store", &e))?;
        state
            .auth()
            .ping()
            .await
            .map_err(|e| ApiError::storage("users database", &e))
    };
    match tokio::time::timeout(std::time::Duration::from_secs(5), check).await {
        Ok(Ok(())) => Ok(axum::Json(Readiness {
            status: "ready".into(),
            store: store.backend().into(),
        })),
        Ok(Err(e)) => Err(e.with_code("not_ready")),
        Err(_) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the store did not answer within 5 s",
        )),
    }
}

/// Prometheus metrics (text format 0.0.4).
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text", content_type = "text/plain", body = String),
        (status = 401, body = ErrorBody)))]
pub async fn metrics(
    State(state): State<AppState>,
    Authed(_): Authed,
) -> Result<Response, ApiError> {
    let text = state.metrics().render(state.engine().store()).await?;
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", operation_id = "openapi_document", tag = "ops",
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json", body = Object)))]
pub async fn openapi() -> Response {
    let mut response = document().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The OpenAPI document as JSON.
pub fn document() -> String {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    tighten(&mut doc);
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into())
}

/// What every operation shares, written once rather than on each of them: a description for
/// each error status, the 415 of every JSON body ([`crate::extract::JsonBody`]), the ids'
/// UUID format and the bounds of `limit` (as the handlers check them).
fn tighten(doc: &mut serde_json::Value) {
    use serde_json::{Value, json};
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for op in item.values_mut().filter_map(Value::as_object_mut) {
            if op.contains_key("requestBody") {
                let responses = op.entry("responses").or_insert_with(|| json!({}));
                responses["415"] = json!({
                    "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                });
            }
            if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
                for (status, response) in responses.iter_mut() {
                    let has = response
                        .get("description")
                        .and_then(Value::as_str)
                        .is_some_and(|d| !d.is_empty());
                    if !has {
                        response["description"] = json!(status_description(status));
                    }
                }
            }
            for param in op
                .get_mut("parameters")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                let name = param["name"].as_str().unwrap_or_default().to_owned();
                let location = param["in"].as_str().unwrap_or_default().to_owned();
                match (location.as_str(), name.as_str()) {
                    ("path", "id") => {
                        param["schema"] = json!({"type": "string", "format": "uuid"});
                    }
                    ("path", "name") => {
                        param["schema"] = json!({"type": "string", "minLength": 1});
                    }
                    ("query", "limit") => {
                        param["schema"] = json!({
                            "type": "integer", "format": "int32", "minimum": 1, "maximum": 1000,
                        });
                    }
                    _ => {}
                }
            }
        }
    }
}

/// The description of a response that names none.
fn status_description(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted",
        "204" => "Done; no body",
        "400" => "Bad input: `field` (or `errors`) names what is wrong",
        "401" => "Not signed in, or the API token is unknown, revoked or expired (`token_expired`)",
        "403" => {
            "Not allowed: the role, the API token's scope (`token_scope`) or a missing CSRF token"
        }
        "404" => "Not found",
        "409" => "Not possible in the current state",
        "413" => "The body is larger than max_body_bytes",
        "415" => "The body must be JSON: Content-Type is missing or not application/json",
        "429" => "Too many requests; see Retry-After",
        "502" => "Prisma Cloud answered with an error",
        "503" => "Not available now (the store or Prisma Cloud does not answer)",
        _ => "See the error body",
    }
}

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "Session cookie from /api/v1/auth/login (`__Host-cortex_session` under TLS); \
                 state changes also need the X-CSRF-Token header",
            ))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "azure-cortex",
        description = "Onboard Azure into Prisma Cloud: jobs, batches, accounts, groups, audit, connections, live progress. \
                       Errors are {code, message, field?, errors?} with stable codes.",
    ),
    modifiers(&Security),
    security(("session" = []), ("token" = [])),
    paths(
        healthz, readyz, metrics, openapi,
        super::session::login, super::session::logout, super::session::current,
        super::session::list_tokens, super::session::create_token, super::session::delete_token,
        super::jobs::list, super::jobs::submit, super::jobs::get, super::jobs::events,
        super::jobs::cancel, super::jobs::resume, super::jobs::approve,
        super::cortex::submit,
        super::jobs::submit_batch, super::jobs::get_batch, super::jobs::batch_events,
        super::jobs::batch_report_csv, super::jobs::retry_batch,
        super::accounts::list, super::accounts::get, super::accounts::offboard,
        super::accounts::enable, super::accounts::disable,
        super::lifecycle::rotate_secret, super::lifecycle::offboard,
        super::accounts::list_groups, super::accounts::create_group,
        super::accounts::list_audit,
        super::connections::list, super::connections::save, super::connections::delete,
        super::connections::test,
        super::health::list, super::health::history, super::health::list_sinks,
        super::health::save_sink, super::health::delete_sink, super::health::dead_letters,
        super::drift::list, super::drift::check, super::drift::reconcile,
        super::drift::adoptable, super::drift::adopt,
        super::coverage::get,
        super::health::retry, super::health::discard, super::health::test_sink,
    ),
    tags(
        (name = "jobs", description = "One onboarding each"),
        (name = "batches", description = "Many onboardings, all accepted or none"),
        (name = "accounts", description = "Accounts in Prisma Cloud"),
        (name = "groups", description = "Account groups"),
        (name = "audit", description = "Who did what"),
        (name = "connections", description = "Prisma Cloud stacks and access keys (stored encrypted, shown masked)"),
        (name = "health", description = "The health watch after onboarding: current health, history, notification sinks, dead letters"),
        (name = "drift", description = "Managed accounts against what was onboarded: drift, reconcile, adopt current, adopting accounts onboarded elsewhere"),
        (name = "coverage", description = "Which subscriptions of the Azure tenant the platform covers"),
        (name = "auth", description = "Sessions and API tokens"),
        (name = "ops", description = "Health, readiness, metrics, this document"),
    )
)]
pub struct ApiDoc;
