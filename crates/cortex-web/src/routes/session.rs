//! Signing in and out, the current caller, API tokens.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cortex_store::AuditEntry;

use crate::auth::{AuthError, Authed, Interactive, Principal, Via};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ClientIp, JsonBody};
use crate::state::AppState;
use crate::views::{CreateToken, LoginRequest, SessionView, TokenCreated, TokenList};

pub(crate) async fn audit(
    state: &AppState,
    actor: String,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) {
    let entry = AuditEntry {
        actor,
        action: action.to_owned(),
        target: target.to_owned(),
        detail,
        prisma_request_ids: Vec::new(),
    };
    if let Err(e) = state.engine().store().audit(&entry).await {
        tracing::warn!(error = %e, action, "audit entry not written");
    }
}

pub(crate) fn session_cookie(state: &AppState, value: &str, max_age: u64) -> HeaderValue {
    let secure = if state.is_tls() { "; Secure" } else { "" };
    let cookie = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
        state.cookie_name()
    );
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn view(p: &Principal) -> SessionView {
    match &p.via {
        Via::Session(s) => SessionView {
            user: p.user.clone(),
            auth: "session".into(),
            csrf_token: Some(s.csrf_token.clone()),
            expires_at: Some(s.expires_at),
        },
        Via::Token { .. } => SessionView {
            user: p.user.clone(),
            auth: "token".into(),
            csrf_token: None,
            expires_at: None,
        },
    }
}

/// Sign in: sets the session cookie and returns the CSRF token for state changes.
#[utoipa::path(post, path = "/api/v1/auth/login", operation_id = "login", tag = "auth",
    request_body = LoginRequest,
    responses((status = 200, description = "Signed in; the session cookie is set", body = SessionView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 429, description = "Too many failures for this user from this address", body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody<LoginRequest>,
) -> Result<Response, ApiError> {
    let (cookie, principal) = sign_in(&state, ip, &body.name, &body.password).await?;
    let ttl = state.config().session_ttl;
    let mut response = axum::Json(view(&principal)).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&state, &cookie, ttl.as_secs()),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Checks a name and password (throttled, audited) and opens a session: its cookie value and
/// the signed-in caller. Shared by the API's login and the sign-in page.
pub(crate) async fn sign_in(
    state: &AppState,
    ip: std::net::IpAddr,
    name: &str,
    password: &prisma_types::SecretString,
) -> Result<(String, Principal), ApiError> {
    if !state.config().local_users {
        return Err(crate::auth::oidc_pages::local_users_off());
    }
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(
            ApiError::bad_parameter("name", "must be 1-64 characters").with_code("invalid_body")
        );
    }
    if password.expose().is_empty() || password.expose().len() > 4096 {
        return Err(
            ApiError::bad_parameter("password", "must be 1-4096 bytes").with_code("invalid_body")
        );
    }
    if let Some(wait) = state.throttle().check(name, ip) {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "login_throttled",
            format!(
                "too many failed sign-ins for this user from this address; try again in {} s",
                wait.as_secs() + 1
            ),
        );
        e.retry_after = Some(wait.as_secs() + 1);
        return Err(e);
    }
    let Some(user) = state.auth().check_password(name, password).await? else {
        state.throttle().failed(name, ip);
        // The name goes to the audit log only when it is a user's: a password typed into the
        // name field must not end up there.
        let target = match state.auth().user_exists(name).await {
            Ok(true) => name.to_owned(),
            _ => "(unknown user)".to_owned(),
        };
        audit(
            state,
            format!("web:{target}"),
            "auth.login_failed",
            &target,
            serde_json::json!({"ip": ip.to_string()}),
        )
        .await;
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "the name or the password is wrong",
        ));
    };
    state.throttle().succeeded(name, ip);
    let ttl = state.config().session_ttl;
    let (cookie, session) = state.auth().create_session(&user, ttl).await?;
    audit(
        state,
        format!("web:{}", user.name),
        "auth.login",
        &user.name,
        serde_json::json!({"ip": ip.to_string()}),
    )
    .await;
    Ok((
        cookie,
        Principal {
            user,
            via: Via::Session(session),
            csrf_ok: true,
        },
    ))
}

/// Sign out: ends the session and clears the cookie.
#[utoipa::path(post, path = "/api/v1/auth/logout", operation_id = "logout", tag = "auth",
    responses((status = 204, description = "Signed out"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn logout(
    State(state): State<AppState>,
    Interactive(_, session): Interactive,
) -> Result<Response, ApiError> {
    state.auth().delete_session(&session.id_hash).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&state, "", 0));
    Ok(response)
}

/// The caller: user, role, and (for a cookie session) the CSRF token.
#[utoipa::path(get, path = "/api/v1/auth/session", operation_id = "current_session", tag = "auth",
    responses((status = 200, body = SessionView), (status = 401, body = ErrorBody)))]
pub async fn current(Authed(p): Authed) -> Response {
    let mut response = axum::Json(view(&p)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The caller's API tokens (never the tokens themselves).
#[utoipa::path(get, path = "/api/v1/tokens", operation_id = "list_tokens", tag = "auth",
    responses((status = 200, body = TokenList), (status = 401, body = ErrorBody)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    Authed(p): Authed,
) -> Result<axum::Json<TokenList>, ApiError> {
    Ok(axum::Json(TokenList {
        tokens: state.auth().list_tokens(&p.user).await?,
    }))
}

/// Create an API token with the caller's role, narrowed by its `scope`, expiring after
/// `expires_in_days`. The token is in this answer only.
#[utoipa::path(post, path = "/api/v1/tokens", operation_id = "create_token", tag = "auth",
    request_body = CreateToken,
    responses((status = 201, body = TokenCreated), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    Interactive(p, _): Interactive,
    JsonBody(body): JsonBody<CreateToken>,
) -> Result<Response, ApiError> {
    let max = state.config().token_max_ttl;
    let ttl = match body.expires_in_days {
        None => state.config().token_default_ttl,
        Some(days) => {
            let ttl = std::time::Duration::from_secs(u64::from(days) * 86_400);
            if days == 0 || ttl > max {
                return Err(ApiError::bad_parameter(
                    "expires_in_days",
                    format!("must be 1-{} days", max.as_secs() / 86_400),
                )
                .with_code("invalid_body"));
            }
            ttl
        }
    };
    let scope = body.scope.unwrap_or_default();
    let (token, info) = state
        .auth()
        .create_token(&p.user, &body.name, scope, ttl)
        .await
        .map_err(|e| match e {
            AuthError::Invalid { .. } => ApiError::from(e).with_code("invalid_body"),
            other => other.into(),
        })?;
    audit(
        &state,
        p.actor(),
        "token.created",
        &info.id,
        serde_json::json!({"name": info.name, "scope": info.scope, "expires_at": info.expires_at}),
    )
    .await;
    let mut response = (
        StatusCode::CREATED,
        axum::Json(TokenCreated {
            info,
            token: token.expose().to_owned(),
            role: p.user.role,
        }),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Revoke one of the caller's API tokens.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", operation_id = "delete_token", tag = "auth",
    params(("id" = String, Path, description = "Token id (UUID)")),
    responses((status = 204, description = "Revoked"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_token(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: uuid::Uuid = crate::extract::parse_id("id", &id)?;
    if !state.auth().delete_token(&p.user, &id.to_string()).await? {
        return Err(ApiError::not_found(format!("token {id} not found")));
    }
    audit(
        &state,
        p.actor(),
        "token.revoked",
        &id.to_string(),
        serde_json::Value::Null,
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
