//! The HTML pages: rendered on the server from compile-checked askama templates
//! (`templates/`), styled by our own CSS and made live by one small hand-written script
//! (`assets/`), both served from the binary.
//!
//! | method | path | who | what |
//! | --- | --- | --- | --- |
//! | GET, POST | `/login` | anyone | sign in (form; see below for its CSRF defence) |
//! | POST | `/logout` | session | sign out |
//! | GET | `/` | viewer | dashboard: accounts and recent jobs |
//! | GET | `/jobs/{id}` | viewer | a job, live (EventSource on `/api/v1/jobs/{id}/events`); the plan review |
//! | POST | `/jobs/{id}/approve`, `/cancel`, `/resume` | operator | the job page's buttons |
//! | GET | `/batches/{id}` | viewer | a batch, live: a row per subscription, summary, CSV export |
//! | POST | `/batches/{id}/retry` | operator | re-run the failed rows |
//! | GET, POST | `/onboard` | viewer to see; operator to submit | the onboarding wizard ([`onboard`]) |
//! | GET, POST | `/bulk` | viewer to see; operator to check and start | bulk onboarding from CSV ([`bulk`]) |
//! | GET | `/audit` | viewer | the audit log |
//! | GET, POST | `/connections` | viewer to see; admin to add | Prisma Cloud connections ([`connections`]) |
//! | POST | `/connections/{name}/test` | operator | test one; the page again with the result |
//! | POST | `/connections/{name}/delete` | admin | delete a saved one |
//! | GET | `/assets/…` | anyone | our stylesheet and scripts |
//!
//! A visitor without a session is sent (303) to `/login?next=…`. The forms of signed-in pages
//! carry the session's CSRF token as the `csrf_token` field, checked by the authentication
//! middleware like the API's header. The sign-in form cannot (there is no session yet): it
//! carries a random token that is also set as an HttpOnly `SameSite=Strict` cookie scoped to
//! `/login` (double submit), and a present `Origin` (or `Referer`) must be this server's.

use axum::Router;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::Value;

use askama::Template;
use askama_web::WebTemplate;

use crate::auth::redirect::safe_next;
use crate::auth::{Interactive, Principal, Via, cookie, page_principal};
use crate::error::ApiError;
use crate::extract::{ClientIp, FormFields};
use crate::state::AppState;

/// The cookie of the sign-in form's double-submit token.
pub const LOGIN_COOKIE: &str = "cortex_login";
/// Its form field.
pub const LOGIN_FIELD: &str = "login_token";

mod audit;
mod bulk;
pub mod connections;
mod dashboard;
mod jobs;
mod onboard;

/// Our stylesheet and scripts, served from the binary: `(name, content type, body)`.
const ASSETS: [(&str, &str, &str); 5] = [
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/app.css"),
    ),
    ("job.js", JS, include_str!("../../assets/job.js")),
    ("batch.js", JS, include_str!("../../assets/batch.js")),
    ("onboard.js", JS, include_str!("../../assets/onboard.js")),
    ("bulk.js", JS, include_str!("../../assets/bulk.js")),
];
const JS: &str = "text/javascript; charset=utf-8";

/// The pages' routes (merged into [`crate::router`]; not part of the API's table).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard::dashboard))
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", post(logout))
        .route("/jobs/{id}", get(jobs::job_page))
        .route("/jobs/{id}/{action}", post(jobs::job_action))
        .route("/batches/{id}", get(jobs::batch_page))
        .route("/batches/{id}/retry", post(jobs::batch_retry))
        .route(
            "/onboard",
            get(onboard::onboard_page).post(onboard::onboard_submit),
        )
        .route("/bulk", get(bulk::bulk_page).post(bulk::bulk_submit))
        .route("/audit", get(audit::audit_page))
        .route(
            "/connections",
            get(connections::page).post(connections::add),
        )
        .route("/connections/{name}/test", post(connections::test))
        .route("/connections/{name}/delete", post(connections::delete))
        .route("/assets/{name}", get(asset))
}

/// A signed-in visitor of a page; anyone else is redirected to the sign-in page.
pub struct PageUser(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for PageUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        match page_principal(parts) {
            Some(p) => Ok(PageUser(p)),
            None => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_owned();
                let to = if next == "/" {
                    "/login".to_owned()
                } else {
                    format!("/login?next={}", url_encode(&next))
                };
                Err(Redirect::to(&to).into_response())
            }
        }
    }
}

fn csrf_of(p: &Principal) -> String {
    match &p.via {
        Via::Session(s) => s.csrf_token.clone(),
        Via::Token { .. } => String::new(),
    }
}

/// What every signed-in page shows in its header.
pub struct Nav {
    pub user: String,
    pub role: String,
    pub csrf: String,
    pub can_onboard: bool,
    /// May save and delete Prisma Cloud connections.
    pub is_admin: bool,
}

impl Nav {
    fn of(p: &Principal) -> Self {
        Nav {
            user: p.user.name.clone(),
            role: p.user.role.to_string(),
            csrf: csrf_of(p),
            can_onboard: p.user.role >= crate::auth::Role::Operator,
            is_admin: p.user.role >= crate::auth::Role::Admin,
        }
    }
}

fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn no_store(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    r
}

/// An error of a page, shown as a page (the API's JSON errors are for programs): the same
/// status, code and safe message.
pub struct PageError(pub ApiError);

macro_rules! page_error_from {
    ($($t:ty),*) => {$(
        impl From<$t> for PageError {
            fn from(e: $t) -> Self {
                PageError(e.into())
            }
        }
    )*};
}
page_error_from!(
    ApiError,
    cortex_store::StoreError,
    onboarding_engine::EngineError
);

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub title: String,
    pub message: String,
    pub field: Option<String>,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let e = self.0;
        let title = match e.status {
            StatusCode::NOT_FOUND => "Not found".to_owned(),
            StatusCode::FORBIDDEN => "Not allowed".to_owned(),
            StatusCode::CONFLICT => "Not possible now".to_owned(),
            s if s.is_client_error() => "Bad request".to_owned(),
            _ => "Something went wrong".to_owned(),
        };
        let page = ErrorPage {
            title,
            message: e.body.message,
            field: e.body.field,
        };
        no_store((e.status, page).into_response())
    }
}

/// What a page lists for a refused request: every bad field of an `invalid_request`, else the
/// error itself (under `subject` when it names no field).
pub fn problems_of(e: &ApiError, subject: &str) -> Vec<onboard::Problem> {
    if e.body.errors.is_empty() {
        vec![onboard::Problem {
            field: e.body.field.clone().unwrap_or_else(|| subject.into()),
            message: e.body.message.clone(),
        }]
    } else {
        e.body
            .errors
            .iter()
            .map(|f| onboard::Problem {
                field: f.field.clone(),
                message: f.message.clone(),
            })
            .collect()
    }
}

/// A status shown with an icon and a word, never by colour alone.
pub struct Badge {
    pub icon: &'static str,
    pub text: String,
    pub class: &'static str,
}

pub fn badge(state: &str) -> Badge {
    let (icon, class) = match state {
        "succeeded" | "ok" | "enabled" => ("✓", "ok"),
        "failed" | "error" => ("✗", "bad"),
        "warning" | "not_in_prisma_cloud" => ("!", "warn"),
        "running" => ("▶", "run"),
        // Not ⏸: common fonts lack it.
        "awaiting_approval" => ("!", "warn"),
        "cancelled" | "disabled" | "skipped" => ("⊘", "muted"),
        _ => ("○", "muted"),
    };
    Badge {
        icon,
        text: state.replace('_', " "),
        class,
    }
}

// ---------------------------------------------------------------------------------------------
// Sign-in

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub token: String,
    pub next: String,
    pub name: String,
    pub error: Option<String>,
}

fn next_from(query: Option<&str>) -> Option<String> {
    Some(FormFields::parse(query.unwrap_or("")).raw("next")).filter(|n| !n.is_empty())
}

fn login_cookie(state: &AppState, value: &str, max_age: u64) -> HeaderValue {
    let secure = if state.is_tls() { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{LOGIN_COOKIE}={value}; Path=/login; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn render_login(
    state: &AppState,
    status: StatusCode,
    next: String,
    name: String,
    error: Option<String>,
) -> Response {
    let token = crate::auth::store::random_token();
    let page = LoginPage {
        token: token.clone(),
        next,
        name,
        error,
    };
    let mut r = no_store((status, page).into_response());
    r.headers_mut()
        .insert(header::SET_COOKIE, login_cookie(state, &token, 3600));
    r
}

pub async fn login_page(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    parts: HeaderMap,
) -> Response {
    let next = safe_next(next_from(query.as_deref()).as_deref());
    // Already signed in: straight on.
    if let Some(c) = cookie(&parts, state.cookie_name())
        && let Ok(Some(_)) = state.auth().session(&c).await
    {
        return Redirect::to(&next).into_response();
    }
    render_login(&state, StatusCode::OK, next, String::new(), None)
}

/// The origin this request was addressed to, as a browser would write it.
fn own_origin(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let scheme = if state.is_tls() { "https" } else { "http" };
    Some(format!("{scheme}://{host}"))
}

/// A present `Origin` (else `Referer`) must be this server's.
fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(own) = own_origin(state, headers) else {
        return false;
    };
    if let Some(origin) = headers.get(header::ORIGIN) {
        return origin.to_str().is_ok_and(|o| o == own);
    }
    if let Some(referer) = headers.get(header::REFERER) {
        return referer
            .to_str()
            .is_ok_and(|r| r == own || r.starts_with(&format!("{own}/")));
    }
    true
}

pub async fn login_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: String,
) -> Response {
    let form = FormFields::parse(&body);
    let field = |name: &str| form.raw(name);
    let next = safe_next(Some(&field("next")));
    let name = field("name");
    let given = field(LOGIN_FIELD);
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    let token_ok = !given.is_empty()
        && crate::auth::store::constant_time_eq(given.as_bytes(), expected.as_bytes());
    if !token_ok || !same_origin(&state, &headers) {
        return render_login(
            &state,
            StatusCode::FORBIDDEN,
            next,
            name,
            Some(
                "This sign-in form expired or came from another site. Please sign in again.".into(),
            ),
        );
    }
    let password = prisma_types::SecretString::from(field("password"));
    match crate::routes::session::sign_in(&state, ip, &name, &password).await {
        Ok((value, _)) => {
            let ttl = state.config().session_ttl.as_secs();
            let mut r = Redirect::to(&next).into_response();
            let h = r.headers_mut();
            h.append(
                header::SET_COOKIE,
                crate::routes::session::session_cookie(&state, &value, ttl),
            );
            h.append(header::SET_COOKIE, login_cookie(&state, "", 0));
            no_store(r)
        }
        Err(e) => {
            let mut r = render_login(&state, e.status, next, name, Some(e.body.message));
            if let Some(s) = e.retry_after {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(s));
            }
            r
        }
    }
}

pub async fn logout(
    State(state): State<AppState>,
    Interactive(_, session): Interactive,
) -> Result<Response, ApiError> {
    state.auth().delete_session(&session.id_hash).await?;
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        crate::routes::session::session_cookie(&state, "", 0),
    );
    Ok(r)
}

fn job_name(request: &Value) -> String {
    request["name"].as_str().unwrap_or("(unnamed)").to_owned()
}

fn when(t: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Assets

/// `GET /assets/{name}`: one of [`ASSETS`].
pub async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=300"),
            ],
            *body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
