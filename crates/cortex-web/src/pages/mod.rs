//! The HTML pages: rendered on the server from compile-checked askama templates
//! (`templates/`), styled by our own CSS and made live by one small hand-written script
//! (`assets/`), both served from the binary.
//!
//! | method | path | who | what |
//! | --- | --- | --- | --- |
//! | GET, POST | `/login` | anyone | sign in (form; see below for its CSRF defence) |
//! | POST | `/logout` | session | sign out |
//! | GET | `/` | viewer | dashboard: accounts and recent jobs |
//! | GET | `/jobs/{id}` | viewer | a job, live (EventSource on `/api/v1/jobs/{id}/events`): what it onboards, the plan review in words, a card per failing capability ([`job_view`]) |
//! | POST | `/jobs/{id}/approve`, `/cancel`, `/resume` | operator | the job page's buttons |
//! | GET | `/batches/{id}` | viewer | a batch, live: a row per subscription, summary, CSV export |
//! | POST | `/batches/{id}/retry` | operator | re-run the failed rows |
//! | GET, POST | `/onboard` | viewer to see; operator to submit | the onboarding wizard ([`onboard`]); `?from=<job>`: filled from that job (*edit and retry*) |
//! | GET, POST | `/bulk` | viewer to see; operator to check and start | bulk onboarding from CSV ([`bulk`]) |
//! | GET | `/audit` | viewer | the audit log |
//! | GET | `/coverage` | viewer | the Azure tenant's subscriptions and what covers them ([`coverage`]) |
//! | POST | `/coverage/review` | operator | what onboarding a selection creates; its form starts the batch through `/bulk` |
//! | GET | `/notifications/dead-letters` | viewer | notifications no sink took ([`notifications`]) |
//! | POST | `/notifications/dead-letters/{id}/{sink}/retry`, `/discard` | operator | re-queue or discard one (audited) |
//! | GET, POST | `/notifications/sinks` | viewer to see; admin to add | notification sinks, masked ([`sinks`]) |
//! | POST | `/notifications/sinks/{name}/test`, `/delete` | admin | send a test notification; delete |
//! | GET | `/accounts/{id}` | viewer | one account: health, its timeline, secret, notifications, actions ([`account`]) |
//! | GET, POST | `/adoption` | viewer to see; operator to adopt | accounts onboarded elsewhere, adopted into management ([`adoption`]) |
//! | POST | `/accounts/{id}/rotate-secret`, `/offboard`, `/reconcile`, `/adopt-current`, `/check-drift` | operator | the account page's actions ([`account_actions`]) |
//! | GET, POST | `/connections` | viewer to see; admin to add | Prisma Cloud and Cortex Cloud connections ([`connections`]) |
//! | POST | `/connections/{name}/test` | operator | test one; the page again with the result |
//! | POST | `/connections/{name}/delete` | admin | delete a saved one |
//! | GET | `/instances`, `/instances/{id}` | viewer | a Cortex Cloud connection's integration instances, and one with its capabilities and accounts, read live ([`instances`]) |
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
use crate::auth::{Principal, Via, cookie, page_principal};
use crate::error::ApiError;
use crate::extract::{ClientIp, FormFields};
use crate::state::AppState;

/// The cookie of the sign-in form's double-submit token.
pub const LOGIN_COOKIE: &str = "cortex_login";
/// Its form field.
pub const LOGIN_FIELD: &str = "login_token";

mod account;
mod account_actions;
mod adoption;
mod audit;
mod bulk;
pub mod connections;
mod cortex_words;
mod coverage;
mod dashboard;
pub(crate) mod health_view;
mod instances;
mod job_cortex;
mod job_view;
mod jobs;
mod notifications;
mod onboard;
mod onboard_cortex;
pub mod permits;
mod sinks;

pub(crate) use health_view::now_ms;
pub use permits::{FormCaller, FormPage, May, PageAction, Refused};

/// Our stylesheet and scripts, served from the binary: `(name, content type, body)`.
const ASSETS: [(&str, &str, &str); 7] = [
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/app.css"),
    ),
    ("job.js", JS, include_str!("../../assets/job.js")),
    ("batch.js", JS, include_str!("../../assets/batch.js")),
    ("onboard.js", JS, include_str!("../../assets/onboard.js")),
    ("bulk.js", JS, include_str!("../../assets/bulk.js")),
    (
        "result-card.js",
        JS,
        include_str!("../../assets/result-card.js"),
    ),
    ("forms.js", JS, include_str!("../../assets/forms.js")),
];
const JS: &str = "text/javascript; charset=utf-8";

/// The pages' routes (merged into [`crate::router`]; not part of the API's table).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard::dashboard))
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", post(logout))
        .route("/auth/oidc/start", get(crate::auth::oidc_pages::start))
        .route(
            "/auth/oidc/callback",
            get(crate::auth::oidc_pages::callback),
        )
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
        .route("/coverage", get(coverage::coverage_page))
        .route("/coverage/review", post(coverage::review))
        .route("/accounts/{id}", get(account::account_page))
        .route("/adoption", get(adoption::page).post(adoption::adopt))
        .route(
            "/accounts/{id}/{action}",
            post(account_actions::account_action),
        )
        .route(
            "/notifications/dead-letters",
            get(notifications::dead_letters),
        )
        .route("/notifications/sinks", get(sinks::page).post(sinks::add))
        .route("/notifications/sinks/{name}/{action}", post(sinks::action))
        .route(
            "/notifications/dead-letters/{id}/{sink}/{action}",
            post(notifications::dead_letter_action),
        )
        .route(
            "/connections",
            get(connections::page).post(connections::add),
        )
        .route("/connections/{name}/test", post(connections::test))
        .route("/instances", get(instances::instances_page))
        .route("/instances/{id}", get(instances::instance_page))
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

/// What every signed-in page shows in its header, and what its user may do there.
pub struct Nav {
    pub user: String,
    pub role: String,
    pub csrf: String,
    /// The actions the user's role allows ([`PageAction`]): the only thing templates ask.
    pub may: May,
}

impl Nav {
    fn of(p: &Principal) -> Self {
        Nav {
            user: p.user.name.clone(),
            role: p.user.role.to_string(),
            csrf: csrf_of(p),
            may: May::of(p.user.role),
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

pub(crate) fn no_store(mut r: Response) -> Response {
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
    onboarding_engine::EngineError,
    crate::auth::AuthError
);

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
pub struct ErrorPage {
    /// The visitor's navigation when signed in (an error page is still a page of the site).
    pub nav: Option<Nav>,
    pub title: String,
    pub message: String,
    pub field: Option<String>,
}

/// A page's failure, carried on the response until [`error_pages`] renders it with the
/// visitor's navigation.
#[derive(Clone, Debug)]
struct PageFailure {
    title: &'static str,
    message: String,
    field: Option<String>,
}

fn title_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::CONFLICT => "Not possible now",
        s if s.is_client_error() => "Bad request",
        _ => "Something went wrong",
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let e = self.0;
        let failure = PageFailure {
            title: title_of(e.status),
            message: e.body.message,
            field: e.body.field,
        };
        // Rendered without navigation here; [`error_pages`] adds it for a signed-in visitor.
        let page = ErrorPage {
            nav: None,
            title: failure.title.to_owned(),
            message: failure.message.clone(),
            field: failure.field.clone(),
        };
        let mut r = no_store((e.status, page).into_response());
        r.extensions_mut().insert(failure);
        r
    }
}

/// Middleware (inside authentication): an error page of a page keeps the site's navigation,
/// for whoever is signed in.
pub async fn error_pages(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if req.uri().path().starts_with("/api/") {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let nav = page_principal(&parts).map(|p| Nav::of(&p));
    let response = next
        .run(axum::extract::Request::from_parts(parts, body))
        .await;
    let (Some(failure), Some(nav)) = (response.extensions().get::<PageFailure>().cloned(), nav)
    else {
        return response;
    };
    let page = ErrorPage {
        nav: Some(nav),
        title: failure.title.to_owned(),
        message: failure.message,
        field: failure.field,
    };
    let route = response
        .extensions()
        .get::<crate::access_log::RouteTemplate>()
        .cloned();
    let mut page = no_store((response.status(), page).into_response());
    if let Some(route) = route {
        page.extensions_mut().insert(route);
    }
    page
}

/// The answer for a path nothing serves: a page (with the navigation) for a browser, the
/// API's JSON for everyone else and under `/api/`.
pub fn not_found(path: &str, headers: &HeaderMap) -> Response {
    let browser = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if browser && !path.starts_with("/api/") {
        PageError(ApiError::not_found("there is no page at this address")).into_response()
    } else {
        ApiError::for_status(StatusCode::NOT_FOUND).into_response()
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
    /// The icon's name: `class="icon i-{icon}"`, drawn by the stylesheet (no font has to
    /// carry a symbol): ok, bad, warn, run, pending, stopped.
    pub icon: &'static str,
    pub text: String,
    pub class: &'static str,
}

pub fn badge(state: &str) -> Badge {
    let (icon, class) = match state {
        "succeeded" | "ok" | "enabled" | "connected" => ("ok", "ok"),
        "failed" | "error" => ("bad", "bad"),
        "warning" | "not_in_prisma_cloud" | "awaiting_approval" => ("warn", "warn"),
        "running" | "retrieving" => ("run", "run"),
        "cancelled" | "disabled" | "skipped" => ("stopped", "muted"),
        _ => ("pending", "muted"),
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
    /// "Sign in with <provider>" and its link, when single sign-on is configured.
    pub sso: Option<Link>,
    /// The local name and password form (off with `local_users = false`).
    pub local: bool,
    /// Why the visitor is here (their session ended while they were on a form).
    pub notice: Option<&'static str>,
}

pub use crate::auth::oidc_pages::Link;

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
    let sso = state.oidc().map(|o| Link {
        href: format!("/auth/oidc/start?next={}", url_encode(&next)),
        text: format!("Sign in with {}", o.config().display_name),
    });
    let notice = next.contains("restore=1").then_some(
        "Your session ended. Sign in again to go back to your form: what you typed is kept in \
         this browser tab, except secrets, which are never kept.",
    );
    let page = LoginPage {
        token: token.clone(),
        next,
        name,
        error,
        sso,
        local: state.config().local_users,
        notice,
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

/// `POST /logout`: without a session (it ended already) straight to the sign-in page; a stale
/// form is refused as a page, not JSON.
pub async fn logout(
    State(state): State<AppState>,
    caller: FormCaller,
) -> Result<Response, PageError> {
    let Some(who) = caller.into_principal() else {
        return Ok(Redirect::to("/login").into_response());
    };
    let session = match (&who.via, who.csrf_ok) {
        (Via::Session(s), true) => s,
        _ => {
            return Err(ApiError::forbidden(
                "this sign-out form was out of date, so you are still signed in: use Sign out again",
            )
            .into());
        }
    };
    state.auth().delete_session(&session.id_hash).await?;
    if who
        .user
        .id
        .starts_with(crate::auth::oidc_store::SSO_ID_PREFIX)
    {
        return Ok(crate::auth::oidc_pages::signed_out(&state).await);
    }
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
