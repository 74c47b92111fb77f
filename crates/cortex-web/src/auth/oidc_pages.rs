//! The single sign-on pages:
//!
//! | method | path | what |
//! | --- | --- | --- |
//! | GET | `/auth/oidc/start?next=…` | a new sign-in: `state`, `nonce`, PKCE; 303 to the provider |
//! | GET | `/auth/oidc/callback` | the provider's answer: checks, session, then on to `next` |
//!
//! The `state` travels in an HttpOnly cookie scoped to `/auth/oidc` with `SameSite=Lax` (the
//! provider's redirect back is a cross-site top-level navigation, which `Strict` would strip)
//! and must equal the callback's. The session cookie is the usual one (`SameSite=Strict`); the
//! callback therefore answers with a page that moves on by itself (a same-site navigation that
//! sends the new cookie) rather than a redirect, which would still count as cross-site.
//!
//! Every refusal is a page saying why, with a stable reason code, and an audit entry
//! (`auth.sso_refused`); nothing about the code or tokens is logged or shown.

use std::net::IpAddr;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::oidc::{IdClaims, Refusal};
use super::oidc_store::{self, LOGIN_TTL, PendingLogin};
use super::{AuthError, cookie};
use crate::extract::{ClientIp, FormFields};
use crate::routes::session::audit;
use crate::state::AppState;

/// The cookie carrying a sign-in's `state` between start and callback.
pub const STATE_COOKIE: &str = "cortex_oidc_state";

/// A link on an SSO page.
pub struct Link {
    pub href: String,
    pub text: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "sso.html")]
pub struct SsoPage {
    pub title: String,
    pub ok: bool,
    pub message: String,
    pub code: Option<String>,
    /// Move on to this local path by itself (after a successful sign-in).
    pub refresh: Option<String>,
    pub links: Vec<Link>,
}

fn state_cookie(state: &AppState, value: &str, max_age: u64) -> HeaderValue {
    let secure = if state.is_tls() { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{STATE_COOKIE}={value}; Path=/auth/oidc; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The refusal page, its audit entry and a warning with the reason code only.
async fn refuse(
    state: &AppState,
    ip: IpAddr,
    refusal: Refusal,
    who: Option<&IdClaims>,
) -> Response {
    let (actor, target, mut detail) = match who {
        Some(c) => (
            format!("sso:{}:{}", c.user_name(), c.object_id()),
            c.user_name(),
            serde_json::json!({"object_id": c.object_id(), "tenant_id": c.tid}),
        ),
        None => (
            "sso:(unknown)".to_owned(),
            "(unknown)".to_owned(),
            serde_json::json!({}),
        ),
    };
    detail["reason"] = refusal.code().into();
    detail["ip"] = ip.to_string().into();
    tracing::warn!(reason = refusal.code(), "single sign-on refused");
    audit(state, actor, "auth.sso_refused", &target, detail).await;
    let status = match refusal {
        Refusal::StateMismatch | Refusal::LoginExpired | Refusal::Provider(_) => {
            StatusCode::BAD_REQUEST
        }
        Refusal::NoMappedRole
        | Refusal::GroupsOverage
        | Refusal::NameTaken
        | Refusal::LocalUsersOff => StatusCode::FORBIDDEN,
        Refusal::ProviderUnavailable => StatusCode::BAD_GATEWAY,
        _ => StatusCode::UNAUTHORIZED,
    };
    let page = SsoPage {
        title: "Sign-in refused".into(),
        ok: false,
        message: refusal.message(),
        code: Some(refusal.code().into()),
        refresh: None,
        links: vec![Link {
            href: "/login".into(),
            text: "Back to the sign-in page".into(),
        }],
    };
    let mut r = crate::pages::no_store((status, page).into_response());
    r.headers_mut()
        .append(header::SET_COOKIE, state_cookie(state, "", 0));
    r
}

fn storage(e: AuthError) -> Refusal {
    tracing::error!(error = %e, "single sign-on: users database");
    Refusal::ProviderUnavailable
}

/// `GET /auth/oidc/start`: a new sign-in at the provider.
pub async fn start(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(oidc) = state.oidc() else {
        return crate::pages::PageError(crate::ApiError::not_found(
            "single sign-on is not configured here",
        ))
        .into_response();
    };
    let next = crate::auth::redirect::safe_next(Some(
        &FormFields::parse(query.as_deref().unwrap_or("")).raw("next"),
    ));
    let login_state = super::store::random_token();
    let (verifier, challenge) = super::oidc::pkce_pair();
    let pending = PendingLogin {
        nonce: super::store::random_token(),
        pkce_verifier: verifier,
        next,
    };
    let url = match oidc
        .authorize_url(&login_state, &pending.nonce, &challenge)
        .await
    {
        Ok(url) => url,
        Err(refusal) => return refuse(&state, ip, refusal, None).await,
    };
    let stored = async {
        oidc.ensure_schema(state.auth()).await?;
        oidc_store::begin_login(state.auth(), &login_state, &pending).await
    }
    .await;
    if let Err(e) = stored {
        return refuse(&state, ip, storage(e), None).await;
    }
    let mut r = Redirect::to(&url).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        state_cookie(&state, &login_state, LOGIN_TTL.as_secs()),
    );
    crate::pages::no_store(r)
}

/// `GET /auth/oidc/callback`: the provider's answer.
pub async fn callback(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(oidc) = state.oidc() else {
        return crate::pages::PageError(crate::ApiError::not_found(
            "single sign-on is not configured here",
        ))
        .into_response();
    };
    let q = FormFields::parse(query.as_deref().unwrap_or(""));
    let given_state = q.raw("state");
    let expected = cookie(&headers, STATE_COOKIE).unwrap_or_default();
    if given_state.is_empty()
        || !super::store::constant_time_eq(given_state.as_bytes(), expected.as_bytes())
    {
        return refuse(&state, ip, Refusal::StateMismatch, None).await;
    }
    let taken = async {
        oidc.ensure_schema(state.auth()).await?;
        oidc_store::take_login(state.auth(), &given_state).await
    }
    .await;
    let pending = match taken {
        Ok(Some(p)) => p,
        Ok(None) => return refuse(&state, ip, Refusal::LoginExpired, None).await,
        Err(e) => return refuse(&state, ip, storage(e), None).await,
    };
    let error = q.raw("error");
    if !error.is_empty() {
        let code: String = error
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        return refuse(&state, ip, Refusal::Provider(code), None).await;
    }
    let code = q.raw("code");
    if code.is_empty() {
        return refuse(&state, ip, Refusal::Provider("no code".into()), None).await;
    }
    let claims = match oidc
        .redeem(&code, &pending.pkce_verifier, &pending.nonce)
        .await
    {
        Ok(c) => c,
        Err(refusal) => return refuse(&state, ip, refusal, None).await,
    };
    let role = match oidc.config().role_for(&claims) {
        Ok(role) => role,
        Err(refusal) => return refuse(&state, ip, refusal, Some(&claims)).await,
    };
    let name = claims.user_name();
    let user = match oidc_store::upsert_user(state.auth(), claims.object_id(), &name, role).await {
        Ok(u) => u,
        Err(AuthError::Conflict(_)) => {
            return refuse(&state, ip, Refusal::NameTaken, Some(&claims)).await;
        }
        Err(e) => return refuse(&state, ip, storage(e), None).await,
    };
    let ttl = state.config().session_ttl;
    let (value, _session) = match state.auth().create_session(&user, ttl).await {
        Ok(s) => s,
        Err(e) => return refuse(&state, ip, storage(e), None).await,
    };
    audit(
        &state,
        format!("sso:{}:{}", user.name, claims.object_id()),
        "auth.sso_login",
        &user.name,
        serde_json::json!({
            "ip": ip.to_string(),
            "object_id": claims.object_id(),
            "tenant_id": claims.tid,
            "role": role,
        }),
    )
    .await;
    let page = SsoPage {
        title: "Signed in".into(),
        ok: true,
        message: format!("Signed in as {} ({role}).", user.name),
        code: None,
        refresh: Some(pending.next.clone()),
        links: vec![Link {
            href: pending.next,
            text: "Continue".into(),
        }],
    };
    let mut r = crate::pages::no_store(page.into_response());
    let h = r.headers_mut();
    h.append(
        header::SET_COOKIE,
        crate::routes::session::session_cookie(&state, &value, ttl.as_secs()),
    );
    h.append(header::SET_COOKIE, state_cookie(&state, "", 0));
    r
}

/// The page after an SSO user signed out here: the provider's session may still be open, so
/// its end-session page is offered.
pub async fn signed_out(state: &AppState) -> Response {
    let mut links = Vec::new();
    if let Some(oidc) = state.oidc()
        && let Some(url) = oidc.end_session_url().await
    {
        links.push(Link {
            href: url,
            text: format!("Also sign out of {}", oidc.config().display_name),
        });
    }
    links.push(Link {
        href: "/login".into(),
        text: "Sign in again".into(),
    });
    let page = SsoPage {
        title: "Signed out".into(),
        ok: true,
        message: "You are signed out of azure-cortex.".into(),
        code: None,
        refresh: None,
        links,
    };
    let mut r = crate::pages::no_store(page.into_response());
    r.headers_mut().insert(
        header::SET_COOKIE,
        crate::routes::session::session_cookie(state, "", 0),
    );
    r
}

/// A refusal of the local sign-in (for the API's login): switched off by `local_users`.
pub fn local_users_off() -> crate::ApiError {
    crate::ApiError::new(
        StatusCode::FORBIDDEN,
        Refusal::LocalUsersOff.code(),
        Refusal::LocalUsersOff.message(),
    )
}
