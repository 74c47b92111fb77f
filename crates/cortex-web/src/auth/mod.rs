//! Who is calling, and may they.
//!
//! * **Browsers** sign in (`POST /api/v1/auth/login`) and get a session cookie: random, HttpOnly,
//!   `SameSite=Strict`, `Path=/`, `Secure` and named `__Host-cortex_session` under TLS. Every
//!   state-changing request (POST/PUT/PATCH/DELETE) authenticated by the cookie must carry the
//!   session's CSRF token in the `X-CSRF-Token` header, or as the `csrf_token` field of a
//!   form-encoded body (for the HTML pages); the token is returned by login and by
//!   `GET /api/v1/auth/session`.
//! * **Scripts** send `Authorization: Bearer <token>` with an API token created by a signed-in
//!   user (shown once, stored as SHA-256); a bearer request needs no CSRF token (a browser never
//!   attaches it by itself). A request with both is judged by its token. A token expires
//!   (401 `token_expired`, saying when) and has a scope: `full` (the user's role), `read-only`
//!   (GET/HEAD only) or `metrics-only` (`GET /metrics` only); a request outside it is refused
//!   (403 `token_scope`) before any handler runs.
//! * **Roles**: viewer (read), operator (onboard, offboard, approve, test a Prisma Cloud
//!   connection, …), admin (save and delete connections; users).
//! * **Login throttling** ([`throttle`]): five failures for one user name from one address within
//!   a minute lock that pair out for the rest of the minute (429 with `Retry-After`).
//!
//! [`authenticate`] (middleware) resolves the caller once per request; the extractors
//! [`Authed`], [`Operator`] and [`Admin`] enforce authentication, CSRF and role in the handlers.

pub mod oidc;
pub mod oidc_pages;
pub mod oidc_store;
pub mod redirect;
pub mod store;
pub mod throttle;

use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub use store::{
    AuthError, AuthStore, GeneratedAdmin, Role, Session, TokenCheck, TokenInfo, TokenScope, User,
};

use crate::error::ApiError;
use crate::extract::form_pairs;
use crate::state::AppState;

/// The session cookie's name without TLS.
pub const SESSION_COOKIE: &str = "cortex_session";
/// The session cookie's name under TLS (the `__Host-` prefix: Secure, Path=/, no Domain).
pub const SESSION_COOKIE_TLS: &str = "__Host-cortex_session";
/// The header that carries the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The form field that carries it (HTML forms).
pub const CSRF_FIELD: &str = "csrf_token";

/// How the caller proved who they are.
#[derive(Clone, Debug)]
pub enum Via {
    Session(Session),
    Token { id: String, scope: TokenScope },
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Principal {
    pub user: User,
    pub via: Via,
    /// False for a cookie-authenticated state change without the right CSRF token.
    pub csrf_ok: bool,
}

impl Principal {
    /// The name written to the audit log and to `created_by`.
    pub fn actor(&self) -> String {
        match &self.via {
            Via::Session(_) => match self.user.id.strip_prefix(oidc_store::SSO_ID_PREFIX) {
                // Single sign-on: the name and the provider's object id.
                Some(object_id) => format!("sso:{}:{object_id}", self.user.name),
                None => format!("web:{}", self.user.name),
            },
            Via::Token { id, .. } => format!("token:{}:{}", self.user.name, short(id)),
        }
    }
}

fn short(id: &str) -> &str {
    id.get(id.len().saturating_sub(8)..).unwrap_or(id)
}

/// What [`authenticate`] found, for the extractors.
#[derive(Clone, Debug)]
enum Caller {
    Anonymous,
    Known(Box<Principal>),
    Refused(ApiError),
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
}

fn bearer(headers: &HeaderMap) -> Option<Result<String, ()>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let value = value.to_str().map_err(|_| ());
    Some(value.and_then(|v| {
        let (scheme, token) = v.trim().split_once(' ').ok_or(())?;
        if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() {
            Ok(token.trim().to_owned())
        } else {
            Err(())
        }
    }))
}

/// Middleware: resolves the caller from the bearer token or the session cookie, and checks the
/// CSRF token of cookie-authenticated state changes (reading a form body when needed).
pub async fn authenticate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let mut body = Some(body);
    let caller = match bearer(&parts.headers) {
        Some(Err(())) => Caller::Refused(
            ApiError::unauthenticated("the Authorization header must be `Bearer <API token>`")
                .field("authorization"),
        ),
        Some(Ok(token)) => match state.auth().check_token(&token).await {
            Ok(TokenCheck::Valid { user, id, scope }) => {
                if scope.allows(&parts.method, parts.uri.path()) {
                    Caller::Known(Box::new(Principal {
                        user,
                        via: Via::Token { id, scope },
                        csrf_ok: true,
                    }))
                } else {
                    Caller::Refused(
                        ApiError::new(
                            StatusCode::FORBIDDEN,
                            "token_scope",
                            format!(
                                "this API token is {scope}: {} {} is outside its scope",
                                parts.method,
                                parts.uri.path()
                            ),
                        )
                        .field("authorization"),
                    )
                }
            }
            Ok(TokenCheck::Expired { expires_at, .. }) => Caller::Refused(
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "token_expired",
                    format!(
                        "the API token expired at {}; create a new one",
                        store::rfc3339(expires_at)
                    ),
                )
                .field("authorization"),
            ),
            Ok(TokenCheck::Unknown) => Caller::Refused(
                ApiError::unauthenticated("the API token is unknown or was revoked")
                    .field("authorization"),
            ),
            Err(e) => Caller::Refused(e.into()),
        },
        None => match cookie(&parts.headers, state.cookie_name()) {
            None => Caller::Anonymous,
            Some(value) => match state.auth().session(&value).await {
                Ok(None) => Caller::Anonymous,
                Err(e) => Caller::Refused(e.into()),
                Ok(Some(session)) => {
                    let csrf_ok = if is_unsafe(&parts.method) {
                        match csrf_from(&parts, &mut body, state.config().max_body_bytes).await {
                            Ok(Some(given)) => store::constant_time_eq(
                                given.as_bytes(),
                                session.csrf_token.as_bytes(),
                            ),
                            Ok(None) => false,
                            Err(response) => return response,
                        }
                    } else {
                        true
                    };
                    Caller::Known(Box::new(Principal {
                        user: session.user.clone(),
                        via: Via::Session(session),
                        csrf_ok,
                    }))
                }
            },
        },
    };
    parts.extensions.insert(caller);
    let body = body.take().unwrap_or_else(Body::empty);
    next.run(Request::from_parts(parts, body)).await
}

/// The CSRF token from the header, or from a form body's `csrf_token` field (the body is read
/// and put back).
async fn csrf_from(
    parts: &Parts,
    body: &mut Option<Body>,
    limit: usize,
) -> Result<Option<String>, Response> {
    if let Some(v) = parts.headers.get(CSRF_HEADER) {
        return Ok(v.to_str().ok().map(str::to_owned));
    }
    let form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return Ok(None);
    }
    let bytes = match to_bytes(body.take().unwrap_or_else(Body::empty), limit).await {
        Ok(b) => b,
        Err(_) => return Err(ApiError::for_status(StatusCode::PAYLOAD_TOO_LARGE).into_response()),
    };
    let token = form_pairs(&String::from_utf8_lossy(&bytes))
        .into_iter()
        .find(|(k, _)| k == CSRF_FIELD)
        .map(|(_, v)| v);
    *body = Some(Body::from(bytes));
    Ok(token)
}

fn principal(parts: &Parts) -> Result<Principal, ApiError> {
    match parts.extensions.get::<Caller>() {
        Some(Caller::Known(p)) => {
            if !p.csrf_ok {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf_failed",
                    "this change needs the session's CSRF token in the X-CSRF-Token header",
                )
                .field(CSRF_HEADER));
            }
            Ok((**p).clone())
        }
        Some(Caller::Refused(e)) => Err(e.clone()),
        _ => Err(ApiError::unauthenticated(
            "sign in (session cookie) or send `Authorization: Bearer <API token>`",
        )),
    }
}

/// Any signed-in user (viewer or more). State changes need the CSRF token when cookie-based.
pub struct Authed(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        principal(parts).map(Authed)
    }
}

/// An operator or admin.
pub struct Operator(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let p = principal(parts)?;
        if p.user.role < Role::Operator {
            return Err(ApiError::forbidden(format!(
                "{} is {}: this needs the operator role",
                p.user.name,
                p.user.role.with_article()
            )));
        }
        Ok(Operator(p))
    }
}

/// An admin: manages Prisma Cloud connections (and users, through the CLI).
pub struct Admin(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let p = principal(parts)?;
        if p.user.role < Role::Admin {
            return Err(ApiError::forbidden(format!(
                "{} is {}: this needs the admin role",
                p.user.name,
                p.user.role.with_article()
            )));
        }
        Ok(Admin(p))
    }
}

/// A cookie session (not an API token): for actions a token must not do on its own.
pub struct Interactive(pub Principal, pub Session);

impl<S: Send + Sync> FromRequestParts<S> for Interactive {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let p = principal(parts)?;
        match &p.via {
            Via::Session(s) => {
                let s = s.clone();
                Ok(Interactive(p, s))
            }
            Via::Token { .. } => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "session_required",
                "API tokens are created from a signed-in session, not with another token",
            )),
        }
    }
}

/// The signed-in caller of an HTML page, if any (a GET needs no CSRF token; the pages' forms
/// go through [`Operator`] and [`Interactive`], which check it).
pub(crate) fn page_principal(parts: &Parts) -> Option<Principal> {
    match parts.extensions.get::<Caller>() {
        Some(Caller::Known(p)) => Some((**p).clone()),
        _ => None,
    }
}
