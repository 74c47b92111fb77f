//! The token endpoints: Entra's v2.0 token endpoint for applications and the CLI's refresh
//! grant, the two managed-identity endpoints, a GitHub Actions-style OIDC issuer, and the
//! admin calls that set scenarios, register certificates and log the CLI in.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::{Value, json};

use super::token::{decode_unverified, now, random_id, verify_rs256};
use super::{CloudState, Scenario, lock};
use crate::tenant_seed::{Caller, Credential};

type S = State<Arc<CloudState>>;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const TOKEN_TTL: i64 = 3600;

pub(super) fn routes() -> Router<Arc<CloudState>> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/metadata/identity/oauth2/token", get(imds))
        .route("/msi/token", get(app_service))
        .route("/_github/token", get(github_token))
        .route(
            "/_emulator/azure/scenario",
            get(get_scenario).post(set_scenario),
        )
        .route("/_emulator/azure/certificates", post(register_certificate))
        .route("/_emulator/azure/cli-login", post(cli_login))
}

/// Entra's JSON error body (`error`, `error_description: "AADSTS…: …"`, `error_codes`).
pub(super) fn aad_error(status: StatusCode, error: &str, code: u32, description: &str) -> Response {
    let body = json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {description} Trace ID: {} Correlation ID: {}",
            uuid::Uuid::new_v4(), uuid::Uuid::new_v4()
        ),
        "error_codes": [code],
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    (status, Json(body)).into_response()
}

/// `https://management.azure.com/.default` → `https://management.azure.com/`.
fn audience(scope_or_resource: &str) -> String {
    let first = scope_or_resource
        .split_whitespace()
        .next()
        .unwrap_or_default();
    let aud = first.strip_suffix(".default").unwrap_or(first);
    if aud.is_empty() {
        "https://management.azure.com/".into()
    } else {
        aud.into()
    }
}

/// An access token for `caller` and the audience named by `scope`.
fn issue(state: &CloudState, caller: &Caller, scope: &str) -> Value {
    let now = now();
    let mut claims = json!({
        "aud": audience(scope),
        "iss": format!("https://sts.windows.net/{}/", state.tenant.tenant_id),
        "iat": now, "nbf": now, "exp": now + TOKEN_TTL,
        "oid": caller.object_id,
        "sub": caller.object_id,
        "tid": state.tenant.tenant_id,
        "name": caller.display_name,
        "ver": "1.0",
    });
    match (&caller.credential, caller.client_id()) {
        (
            Credential::User {
                user_principal_name,
            },
            _,
        ) => {
            claims["upn"] = json!(user_principal_name);
            claims["idtyp"] = json!("user");
        }
        (_, Some(app)) => {
            claims["appid"] = json!(app);
            claims["idtyp"] = json!("app");
        }
        _ => {}
    }
    let token = state.key.sign(&claims).unwrap_or_default();
    json!({
        "token_type": "Bearer",
        "expires_in": TOKEN_TTL,
        "ext_expires_in": TOKEN_TTL,
        "access_token": token,
    })
}

#[derive(Debug, Deserialize)]
struct TokenForm {
    grant_type: String,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
}

async fn token(State(state): S, Path(tenant): Path<String>, Form(f): Form<TokenForm>) -> Response {
    let tid = &state.tenant.tenant_id;
    if !tenant.eq_ignore_ascii_case(tid) && !tenant.eq_ignore_ascii_case(&state.tenant.domain) {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        );
    }
    let scenario = state.scenario();
    let scope = f.scope.clone().unwrap_or_default();
    if f.grant_type == "refresh_token" {
        let Some(oid) = f
            .refresh_token
            .as_deref()
            .and_then(|t| lock(&state.refresh_tokens).get(t).cloned())
        else {
            return aad_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                9002313,
                "Invalid request. Request is malformed or invalid.",
            );
        };
        if scenario.expired_login || scenario.refuse_tokens {
            return aad_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                700082,
                "The refresh token has expired due to inactivity. The token was issued on 2026-08-01T09:12:44Z and was inactive for 90.00:00:00.",
            );
        }
        let Some(caller) = state.caller(&oid) else {
            return aad_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                50034,
                "The user account does not exist in the directory.",
            );
        };
        let mut body = issue(&state, caller, &scope);
        body["refresh_token"] = json!(f.refresh_token);
        return Json(body).into_response();
    }
    if f.grant_type != "client_credentials" {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    let Some(client_id) = f.client_id.as_deref() else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    let Some(caller) = state.caller_by_client_id(client_id) else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'.",
                state.tenant.display_name
            ),
        );
    };
    if let Some(secret) = f.client_secret.as_deref() {
        let good =
            matches!(&caller.credential, Credential::Secret { secret: s, .. } if s == secret);
        if !good || scenario.refuse_tokens {
            return aad_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'.",
            );
        }
        return Json(issue(&state, caller, &scope)).into_response();
    }
    let (Some(JWT_BEARER), Some(assertion)) = (
        f.client_assertion_type.as_deref(),
        f.client_assertion.as_deref(),
    ) else {
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        );
    };
    if scenario.refuse_tokens {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            700024,
            "Client assertion is not within its valid time range.",
        );
    }
    match check_assertion(&state, caller, assertion, &tenant) {
        Ok(()) => Json(issue(&state, caller, &scope)).into_response(),
        Err(refusal) => refusal,
    }
}

/// A certificate assertion (`iss` = `sub` = the client id, signed by a registered
/// certificate named by `x5t`) or a federated one (signed by the trusted issuer, its `sub`
/// and `aud` matching the app's federated credential).
fn check_assertion(
    state: &CloudState,
    caller: &Caller,
    assertion: &str,
    tenant: &str,
) -> Result<(), Response> {
    let malformed = |why: &str| {
        aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50027,
            &format!("JWT token is invalid or malformed: {why}."),
        )
    };
    let (header, payload) = decode_unverified(assertion).map_err(malformed)?;
    if payload["exp"].as_i64().is_none_or(|exp| exp < now()) {
        return Err(aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            700024,
            "Client assertion is not within its valid time range.",
        ));
    }
    let client_id = caller.client_id().unwrap_or_default();
    if payload["iss"].as_str() == Some(client_id) {
        let expected_aud = format!("{}/{tenant}/oauth2/v2.0/token", state.base_url);
        if payload["aud"].as_str() != Some(expected_aud.as_str())
            || payload["sub"].as_str() != Some(client_id)
        {
            return Err(aad_error(
                StatusCode::BAD_REQUEST,
                "invalid_client",
                700021,
                &format!(
                    "Client assertion audience claim does not match Realm issuer. Expected '{expected_aud}'."
                ),
            ));
        }
        let thumb = header["x5t"]
            .as_str()
            .and_then(|t| URL_SAFE_NO_PAD.decode(t).ok())
            .unwrap_or_default();
        let certs = lock(&state.certificates);
        let key = certs
            .get(&client_id.to_ascii_lowercase())
            .and_then(|list| list.iter().find(|(t, _)| t.as_slice() == thumb.as_slice()))
            .map(|(_, spki)| spki.clone());
        drop(certs);
        let not_found = || {
            aad_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                700027,
                &format!(
                    "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{client_id}'.]",
                    thumb.iter().map(|b| format!("{b:02X}")).collect::<String>()
                ),
            )
        };
        let key = key.ok_or_else(not_found)?;
        verify_rs256(&key, assertion).map_err(|_| {
            aad_error(StatusCode::UNAUTHORIZED, "invalid_client", 700027, "Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value.]")
        })?;
        return Ok(());
    }
    let no_match = || {
        aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            70021,
            &format!(
                "No matching federated identity record found for presented assertion. Assertion Issuer: '{}'. Assertion Subject: '{}'. Assertion Audience: '{}'.",
                payload["iss"].as_str().unwrap_or_default(),
                payload["sub"].as_str().unwrap_or_default(),
                payload["aud"].as_str().unwrap_or_default()
            ),
        )
    };
    let Credential::Federated {
        subject, audience, ..
    } = &caller.credential
    else {
        return Err(no_match());
    };
    if payload["iss"].as_str() != Some(state.federated_issuer().as_str())
        || payload["sub"].as_str() != Some(subject.as_str())
        || payload["aud"].as_str() != Some(audience.as_str())
    {
        return Err(no_match());
    }
    state.issuer_key.verify(assertion).map_err(|_| {
        aad_error(StatusCode::BAD_REQUEST, "invalid_client", 700211, "No matching federated identity record found for presented assertion issuer: the signature does not verify against the issuer's keys.")
    })?;
    Ok(())
}

#[derive(Debug, Deserialize)]
struct MsiQuery {
    resource: Option<String>,
    client_id: Option<String>,
}

/// The managed identity the host has: the system-assigned one, or a user-assigned one by
/// client id.
fn managed_identity<'a>(state: &'a CloudState, q: &MsiQuery) -> Result<&'a Caller, Response> {
    let scenario = state.scenario();
    if scenario.no_managed_identity {
        return Err((
            StatusCode::NOT_FOUND,
            "no managed identity endpoint on this host",
        )
            .into_response());
    }
    let found = state.tenant.callers.iter().find(|c| match &c.credential {
        Credential::ManagedIdentity {
            client_id,
            system_assigned,
        } => match &q.client_id {
            Some(wanted) => wanted.eq_ignore_ascii_case(client_id),
            None => *system_assigned,
        },
        _ => false,
    });
    match found {
        Some(c) if !scenario.refuse_tokens => Ok(c),
        _ => Err((
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_request", "error_description": "Identity not found"})),
        )
            .into_response()),
    }
}

/// The managed-identity endpoints answer `expires_on` etc. as strings.
fn msi_body(state: &CloudState, caller: &Caller, resource: &str) -> Response {
    let issued = issue(state, caller, resource);
    let now = now();
    Json(json!({
        "access_token": issued["access_token"],
        "client_id": caller.client_id(),
        "expires_in": TOKEN_TTL.to_string(),
        "expires_on": (now + TOKEN_TTL).to_string(),
        "ext_expires_in": TOKEN_TTL.to_string(),
        "not_before": now.to_string(),
        "resource": resource,
        "token_type": "Bearer",
    }))
    .into_response()
}

async fn imds(State(state): S, headers: HeaderMap, Query(q): Query<MsiQuery>) -> Response {
    if headers.get("metadata").and_then(|v| v.to_str().ok()) != Some("true") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_request", "error_description": "Required metadata header not specified"})),
        )
            .into_response();
    }
    let resource = q.resource.clone().unwrap_or_default();
    match managed_identity(&state, &q) {
        Ok(caller) => msi_body(&state, caller, &resource),
        Err(r) => r,
    }
}

async fn app_service(State(state): S, headers: HeaderMap, Query(q): Query<MsiQuery>) -> Response {
    if headers.get("x-identity-header").is_none() {
        return (StatusCode::BAD_REQUEST, "X-IDENTITY-HEADER is missing").into_response();
    }
    let resource = q.resource.clone().unwrap_or_default();
    match managed_identity(&state, &q) {
        Ok(caller) => msi_body(&state, caller, &resource),
        Err(r) => r,
    }
}

#[derive(Debug, Deserialize)]
struct GithubQuery {
    audience: Option<String>,
}

/// `ACTIONS_ID_TOKEN_REQUEST_URL`: answers `{"value": <OIDC token>}` for the runner's bearer,
/// with the subject of the seeded repository.
async fn github_token(
    State(state): S,
    headers: HeaderMap,
    Query(q): Query<GithubQuery>,
) -> Response {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if bearer != Some(state.github_request_token.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "Bad credentials"})),
        )
            .into_response();
    }
    let audience = q
        .audience
        .unwrap_or_else(|| "api://AzureADTokenExchange".into());
    Json(json!({"count": 1, "value": state.federated_token(crate::tenant_seed::ids::GH_SUBJECT, &audience)}))
        .into_response()
}

async fn get_scenario(State(state): S) -> Json<Scenario> {
    Json(state.scenario())
}

async fn set_scenario(State(state): S, Json(s): Json<Scenario>) -> Json<Scenario> {
    state.set_scenario(s.clone());
    Json(s)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CertificateBody {
    client_id: String,
    /// Base64 DER.
    certificate: String,
}

async fn register_certificate(State(state): S, Json(b): Json<CertificateBody>) -> Response {
    let Ok(der) = STANDARD.decode(b.certificate.trim()) else {
        return (StatusCode::BAD_REQUEST, "certificate: not base64").into_response();
    };
    match state.register_certificate(&b.client_id, &der) {
        Ok(thumbprint) => Json(json!({"thumbprint": thumbprint})).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, format!("certificate: {e}")).into_response(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CliLoginBody {
    user_principal_name: String,
}

async fn cli_login(State(state): S, Json(b): Json<CliLoginBody>) -> Response {
    match state.cli_login(&b.user_principal_name) {
        Some(t) => Json(json!({"refresh_token": t, "token_id": random_id()})).into_response(),
        None => (StatusCode::NOT_FOUND, "user_principal_name: no such user").into_response(),
    }
}
