//! The endpoints (see the table in the module above).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::{Value, json};

use super::keys::{SigningKey, random_bytes};
use super::{CodeGrant, DirectoryUser, EntraState, TokenFaults, lock, page};

pub fn router(state: Arc<EntraState>) -> Router {
    Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(discovery),
        )
        .route(
            "/{tenant}/oauth2/v2.0/authorize",
            get(authorize_page).post(authorize_submit),
        )
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/{tenant}/discovery/v2.0/keys", get(jwks))
        .route("/{tenant}/oauth2/v2.0/logout", get(logout))
        .route("/_emulator/entra/keys/rotate", post(rotate))
        .route("/_emulator/entra/next-token", post(next_token))
        .with_state(state)
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn random_id() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// Entra's JSON error body for the token and discovery endpoints.
fn aad_error(status: StatusCode, error: &str, code: u32, description: &str) -> Response {
    let trace = uuid::Uuid::new_v4();
    let correlation = uuid::Uuid::new_v4();
    let timestamp = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let body = json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {correlation} \
             Timestamp: {timestamp}"
        ),
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": trace.to_string(),
        "correlation_id": correlation.to_string(),
        "error_uri": "https://login.microsoftonline.com/error?code=".to_owned() + &code.to_string(),
    });
    (status, Json(body)).into_response()
}

fn unknown_tenant(tenant: &str) -> String {
    format!(
        "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are \
         signing into the correct cloud."
    )
}

/// The JSON refusal of a tenant that is not ours (discovery, JWKS, token).
fn wrong_tenant(state: &EntraState, tenant: &str) -> Option<Response> {
    (!tenant.eq_ignore_ascii_case(&state.config.tenant_id)).then(|| {
        aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            90002,
            &unknown_tenant(tenant),
        )
    })
}

async fn discovery(State(state): State<Arc<EntraState>>, Path(tenant): Path<String>) -> Response {
    if let Some(refused) = wrong_tenant(&state, &tenant) {
        return refused;
    }
    let tid = &state.config.tenant_id;
    Json(json!({
        "token_endpoint": state.endpoint("oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": state.endpoint("discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": state.issuer(),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": state.endpoint("oauth2/v2.0/authorize"),
        "device_authorization_endpoint": state.endpoint("oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": state.endpoint("oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
            "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr",
            "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": state.endpoint("kerberos"),
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
        "tenant_id": tid,
    }))
    .into_response()
}

async fn jwks(State(state): State<Arc<EntraState>>, Path(tenant): Path<String>) -> Response {
    if let Some(refused) = wrong_tenant(&state, &tenant) {
        return refused;
    }
    let issuer = state.issuer();
    Json(lock(&state.keys).jwks(&issuer)).into_response()
}

/// The authorize request's parameters (query on GET, form on POST), plus the sign-in page's
/// own fields.
#[derive(Debug, Default, Deserialize)]
struct AuthorizeParams {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    response_type: Option<String>,
    response_mode: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    cancel: Option<String>,
}

/// A checked authorize request: either an error page, an error redirect, or the app and the
/// redirect URI to answer on.
enum Checked<'a> {
    Page(Response),
    Ok {
        app_name: &'a str,
        redirect_uri: url::Url,
    },
}

fn with_query(mut url: url::Url, pairs: &[(&str, &str)]) -> Response {
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    Redirect::to(url.as_str()).into_response()
}

fn error_redirect(
    redirect_uri: url::Url,
    params: &AuthorizeParams,
    error: &str,
    description: &str,
) -> Response {
    let mut pairs = vec![("error", error), ("error_description", description)];
    if let Some(s) = params.state.as_deref() {
        pairs.push(("state", s));
    }
    with_query(redirect_uri, &pairs)
}

fn check<'a>(state: &'a EntraState, tenant: &str, p: &AuthorizeParams) -> Checked<'a> {
    if !tenant.eq_ignore_ascii_case(&state.config.tenant_id) {
        return Checked::Page(page::error(
            StatusCode::BAD_REQUEST,
            &format!("AADSTS90002: {}", unknown_tenant(tenant)),
        ));
    }
    let client_id = p.client_id.as_deref().unwrap_or_default();
    let Some(app) = state.app(client_id) else {
        return Checked::Page(page::error(
            StatusCode::BAD_REQUEST,
            &format!(
                "AADSTS700016: Application with identifier '{client_id}' was not found in the \
                 directory '{}'.",
                state.config.tenant_id
            ),
        ));
    };
    let given = p.redirect_uri.as_deref().unwrap_or_default();
    let registered = app.redirect_uris.iter().any(|r| r == given);
    let parsed = url::Url::parse(given);
    let (true, Ok(redirect_uri)) = (registered, parsed) else {
        return Checked::Page(page::error(
            StatusCode::BAD_REQUEST,
            &format!(
                "AADSTS50011: The redirect URI '{given}' specified in the request does not match \
                 the redirect URIs configured for the application '{client_id}'. Make sure the \
                 redirect URI sent in the request matches one added to your application in the \
                 Azure portal."
            ),
        ));
    };
    let refuse = |error: &str, description: &str| {
        Checked::Page(error_redirect(redirect_uri.clone(), p, error, description))
    };
    if p.response_type.as_deref() != Some("code") {
        return refuse(
            "unsupported_response_type",
            "AADSTS700054: response_type must be 'code' for this app (the emulator serves the \
             authorization code flow only).",
        );
    }
    if p.response_mode.as_deref().is_some_and(|m| m != "query") {
        return refuse(
            "invalid_request",
            "AADSTS900144: the emulator answers with response_mode=query only.",
        );
    }
    let scopes: Vec<&str> = p.scope.as_deref().unwrap_or_default().split(' ').collect();
    if !scopes.contains(&"openid") {
        return refuse(
            "invalid_scope",
            "AADSTS70011: The provided request must include an 'openid' scope.",
        );
    }
    match (
        p.code_challenge.as_deref(),
        p.code_challenge_method.as_deref(),
    ) {
        (Some(c), Some("S256")) if c.len() == 43 && URL_SAFE_NO_PAD.decode(c).is_ok() => {}
        (None, _) => {
            return refuse(
                "invalid_request",
                "AADSTS9002325: Proof Key for Code Exchange is required for this app: send \
                 code_challenge and code_challenge_method=S256.",
            );
        }
        _ => {
            return refuse(
                "invalid_request",
                "AADSTS501491: Invalid code_challenge: expected the base64url SHA-256 of the \
                 code_verifier with code_challenge_method=S256.",
            );
        }
    }
    Checked::Ok {
        app_name: &app.display_name,
        redirect_uri,
    }
}

fn hidden(p: &AuthorizeParams) -> Vec<(&'static str, String)> {
    [
        ("client_id", &p.client_id),
        ("redirect_uri", &p.redirect_uri),
        ("response_type", &p.response_type),
        ("response_mode", &p.response_mode),
        ("scope", &p.scope),
        ("state", &p.state),
        ("nonce", &p.nonce),
        ("code_challenge", &p.code_challenge),
        ("code_challenge_method", &p.code_challenge_method),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
    .collect()
}

fn sign_in_page(
    state: &EntraState,
    app: &str,
    p: &AuthorizeParams,
    error: Option<&str>,
) -> Response {
    let fields = hidden(p);
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    page::sign_in(
        app,
        &state.config.tenant_id,
        &state.config.users,
        &fields,
        error,
    )
}

async fn authorize_page(
    State(state): State<Arc<EntraState>>,
    Path(tenant): Path<String>,
    Query(p): Query<AuthorizeParams>,
) -> Response {
    match check(&state, &tenant, &p) {
        Checked::Page(r) => r,
        Checked::Ok { app_name, .. } => sign_in_page(&state, app_name, &p, None),
    }
}

async fn authorize_submit(
    State(state): State<Arc<EntraState>>,
    Path(tenant): Path<String>,
    Form(p): Form<AuthorizeParams>,
) -> Response {
    let (app_name, redirect_uri) = match check(&state, &tenant, &p) {
        Checked::Page(r) => return r,
        Checked::Ok {
            app_name,
            redirect_uri,
        } => (app_name, redirect_uri),
    };
    if p.cancel.is_some() {
        return error_redirect(
            redirect_uri,
            &p,
            "access_denied",
            "AADSTS65004: User declined to consent to access the app.",
        );
    }
    let typed = p.user.as_deref().unwrap_or_default();
    let Some(user) = state.user(typed).cloned() else {
        let message = if typed.trim().is_empty() {
            "Enter a valid email address, phone number, or Skype name.".to_owned()
        } else {
            format!(
                "AADSTS50034: The user account {} does not exist in the {} directory.",
                typed.trim(),
                state.config.tenant_id
            )
        };
        return sign_in_page(&state, app_name, &p, Some(&message));
    };
    let code = format!("1.A{}", random_id());
    lock(&state.codes).insert(
        code.clone(),
        CodeGrant {
            client_id: p.client_id.clone().unwrap_or_default(),
            redirect_uri: p.redirect_uri.clone().unwrap_or_default(),
            nonce: p.nonce.clone(),
            code_challenge: p.code_challenge.clone().unwrap_or_default(),
            scope: p.scope.clone().unwrap_or_default(),
            user,
            issued: Instant::now(),
            redeemed: false,
        },
    );
    let session_state = uuid::Uuid::new_v4().to_string();
    let mut pairs = vec![("code", code.as_str())];
    if let Some(s) = p.state.as_deref() {
        pairs.push(("state", s));
    }
    pairs.push(("session_state", &session_state));
    with_query(redirect_uri, &pairs)
}

/// `client_secret_basic`: `Authorization: Basic base64(id:secret)`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let ok_chars = verifier
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !(43..=128).contains(&verifier.len()) || !ok_chars {
        return false;
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref()) == challenge
}

async fn token(
    State(state): State<Arc<EntraState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let bad = |error: &str, code: u32, description: &str| {
        aad_error(StatusCode::BAD_REQUEST, error, code, description)
    };
    if let Some(refused) = wrong_tenant(&state, &tenant) {
        return refused;
    }
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    if field("grant_type") != "authorization_code" {
        return bad(
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type: the emulator serves \
             'authorization_code'.",
        );
    }
    let (client_id, secret) = match basic_credentials(&headers) {
        Some(pair) => pair,
        None => (
            field("client_id").to_owned(),
            field("client_secret").to_owned(),
        ),
    };
    let Some(app) = state.app(&client_id) else {
        return bad(
            "unauthorized_client",
            700016,
            &format!("Application with identifier '{client_id}' was not found in the directory."),
        );
    };
    if secret.is_empty() || secret != app.client_secret {
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the \
             client secret value, not the client secret ID.",
        );
    }
    let code = field("code");
    if code.is_empty() {
        return bad(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'code'.",
        );
    }
    let grant = {
        let mut codes = lock(&state.codes);
        let ttl = state.config.code_ttl;
        // Redeemed codes are kept until they expire, to answer a replay precisely.
        codes.retain(|_, g| g.issued.elapsed() < ttl + Duration::from_secs(60));
        let Some(grant) = codes.get_mut(code) else {
            return bad(
                "invalid_grant",
                9002313,
                "Invalid request. Request is malformed or invalid: the code is unknown.",
            );
        };
        if grant.redeemed {
            return bad(
                "invalid_grant",
                54005,
                "OAuth2 Authorization code was already redeemed, please retry with a new valid \
                 code or use an existing refresh token.",
            );
        }
        if grant.issued.elapsed() > ttl {
            return bad(
                "invalid_grant",
                70008,
                "The provided authorization code or refresh token has expired due to \
                 inactivity. Send a new interactive authorization request for this user and \
                 resource.",
            );
        }
        if grant.client_id != client_id {
            return bad(
                "invalid_grant",
                70002,
                "The code was issued to another client.",
            );
        }
        if grant.redirect_uri != field("redirect_uri") {
            return bad(
                "invalid_grant",
                500112,
                "The reply address does not match the reply address of the authorization \
                 request.",
            );
        }
        if !pkce_matches(field("code_verifier"), &grant.code_challenge) {
            return bad(
                "invalid_grant",
                501481,
                "The Code_Verifier does not match the code_challenge supplied in the \
                 authorization request.",
            );
        }
        grant.redeemed = true;
        (grant.user.clone(), grant.nonce.clone(), grant.scope.clone())
    };
    let (user, nonce, scope) = grant;
    let faults = std::mem::take(&mut *lock(&state.next_token));
    match issue(&state, &client_id, &user, nonce, &scope, &faults) {
        Ok(body) => {
            let mut r = Json(body).into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, "no-store".parse().expect("static"));
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "the emulated tenant cannot sign a token");
            aad_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                50000,
                "There was an error issuing a token.",
            )
        }
    }
}

/// Entra's pairwise `sub`: stable per user and app, not the object id.
fn pairwise_subject(oid: &str, client_id: &str) -> String {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("{oid}|{client_id}").as_bytes(),
    );
    URL_SAFE_NO_PAD.encode(&digest.as_ref()[..32])
}

/// The token response: an `id_token` for `client_id` and an `access_token` for Graph.
fn issue(
    state: &EntraState,
    client_id: &str,
    user: &DirectoryUser,
    nonce: Option<String>,
    scope: &str,
    faults: &TokenFaults,
) -> Result<Value, super::KeyError> {
    let tid = &state.config.tenant_id;
    let ttl = state.config.token_ttl.as_secs() as i64;
    let (iat, exp) = if faults.expired {
        (now() - 2 * ttl, now() - 3600)
    } else {
        (now(), now() + ttl)
    };
    let mut claims = json!({
        "aud": faults.audience.clone().unwrap_or_else(|| client_id.to_owned()),
        "iss": faults.issuer.clone().unwrap_or_else(|| state.issuer()),
        "iat": iat,
        "nbf": iat,
        "exp": exp,
        "aio": random_id(),
        "name": user.display_name,
        "oid": user.object_id,
        "preferred_username": user.user_principal_name,
        "rh": format!("0.A{}", &random_id()[..20]),
        "sub": pairwise_subject(&user.object_id, client_id),
        "tid": tid,
        "uti": &random_id()[..22],
        "ver": "2.0",
    });
    if let Some(nonce) = faults.nonce.clone().or(nonce) {
        claims["nonce"] = Value::String(nonce);
    }
    if user.groups.len() > state.config.group_overage_limit {
        claims["_claim_names"] = json!({"groups": "src1"});
        claims["_claim_sources"] = json!({"src1": {"endpoint": format!(
            "https://graph.windows.net/{tid}/users/{}/getMemberObjects", user.object_id
        )}});
    } else if !user.groups.is_empty() {
        claims["groups"] = json!(user.groups);
    }
    if !user.app_roles.is_empty() {
        claims["roles"] = json!(user.app_roles);
    }
    let access = json!({
        "aud": "00000003-0000-0000-c000-000000000000",
        "iss": format!("https://sts.windows.net/{tid}/"),
        "iat": iat, "nbf": iat, "exp": exp,
        "oid": user.object_id, "tid": tid, "scp": "openid profile email User.Read",
        "upn": user.user_principal_name, "ver": "1.0",
    });
    let keys = lock(&state.keys);
    let signer = keys.current();
    let id_token = if faults.bad_signature {
        SigningKey::generate()?.sign_jwt(&signer.kid, &claims)?
    } else if faults.unknown_key {
        let stranger = SigningKey::generate()?;
        stranger.sign_jwt(&stranger.kid, &claims)?
    } else {
        signer.sign_jwt(&signer.kid, &claims)?
    };
    let access_token = signer.sign_jwt(&signer.kid, &access)?;
    Ok(json!({
        "token_type": "Bearer",
        "scope": scope,
        "expires_in": ttl,
        "ext_expires_in": ttl,
        "access_token": access_token,
        "id_token": id_token,
    }))
}

#[derive(Debug, Deserialize)]
struct LogoutParams {
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

/// End-session: back to `post_logout_redirect_uri` when an app registered it, else the
/// "You signed out" page.
async fn logout(
    State(state): State<Arc<EntraState>>,
    Path(tenant): Path<String>,
    Query(p): Query<LogoutParams>,
) -> Response {
    if !tenant.eq_ignore_ascii_case(&state.config.tenant_id) {
        return page::error(
            StatusCode::BAD_REQUEST,
            &format!("AADSTS90002: {}", unknown_tenant(&tenant)),
        );
    }
    let target = p.post_logout_redirect_uri.as_deref().and_then(|uri| {
        let registered = state.config.apps.iter().any(|a| {
            a.logout_redirect_uris
                .iter()
                .chain(&a.redirect_uris)
                .any(|r| r == uri)
        });
        registered.then(|| url::Url::parse(uri).ok()).flatten()
    });
    match target {
        Some(url) => {
            let pairs: Vec<(&str, &str)> = p
                .state
                .as_deref()
                .map(|s| ("state", s))
                .into_iter()
                .collect();
            with_query(url, &pairs)
        }
        None => page::signed_out(),
    }
}

async fn rotate(State(state): State<Arc<EntraState>>) -> Response {
    let previous = state.current_kid();
    match state.rotate_keys() {
        Ok(kid) => Json(json!({"kid": kid, "previous": previous})).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

async fn next_token(
    State(state): State<Arc<EntraState>>,
    Json(faults): Json<TokenFaults>,
) -> Response {
    state.set_next_token_faults(faults);
    StatusCode::NO_CONTENT.into_response()
}
