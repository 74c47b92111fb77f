//! The HTML pages: rendered on the server from compile-checked askama templates
//! (`templates/`), styled by our own CSS and made live by one small hand-written script
//! (`assets/`), both served from the binary.
//!
//! | method | path | who | what |
//! | --- | --- | --- | --- |
//! | GET, POST | `/login` | anyone | sign in (form; see below for its CSRF defence) |
//! | POST | `/logout` | session | sign out |
//! | GET | `/` | viewer | dashboard: accounts and recent jobs |
//! | GET | `/jobs/{id}` | viewer | a job, live (EventSource on `/api/v1/jobs/{id}/events`) |
//! | GET, POST | `/onboard` | viewer to see; operator to submit | onboard one subscription |
//! | GET, POST | `/connections` | viewer to see; admin to add | Prisma Cloud connections ([`connections`]) |
//! | POST | `/connections/{name}/test` | operator | test one; the page again with the result |
//! | POST | `/connections/{name}/delete` | admin | delete a saved one |
//! | GET | `/assets/app.css`, `/assets/job.js` | anyone | our stylesheet and script |
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
use cortex_store::JobId;
use prisma_types::Feature;
use serde_json::{Map, Value};

use askama::Template;
use askama_web::WebTemplate;

pub mod connections;

use crate::auth::{Interactive, Operator, Principal, Via, cookie, page_principal};
use crate::error::ApiError;
use crate::extract::{ClientIp, form_pairs, parse_id};
use crate::state::AppState;

/// The cookie of the sign-in form's double-submit token.
pub const LOGIN_COOKIE: &str = "cortex_login";
/// Its form field.
pub const LOGIN_FIELD: &str = "login_token";

const CSS: &str = include_str!("../../assets/app.css");
const JOB_JS: &str = include_str!("../../assets/job.js");

/// The pages' routes (merged into [`crate::router`]; not part of the API's table).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard))
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", post(logout))
        .route("/jobs/{id}", get(job_page))
        .route("/onboard", get(onboard_page).post(onboard_submit))
        .route(
            "/connections",
            get(connections::page).post(connections::add),
        )
        .route("/connections/{name}/test", post(connections::test))
        .route("/connections/{name}/delete", post(connections::delete))
        .route("/assets/app.css", get(css))
        .route("/assets/job.js", get(job_js))
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

/// Only local paths are followed after sign-in (no `//host`, no scheme).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
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
        "warning" => ("!", "warn"),
        "running" => ("▶", "run"),
        "awaiting_approval" => ("⏸", "warn"),
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
    form_pairs(query.unwrap_or(""))
        .into_iter()
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v)
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
    let form = form_pairs(&body);
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
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

// ---------------------------------------------------------------------------------------------
// Dashboard

pub struct AccountRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub status: Badge,
}

pub struct JobRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub state: Badge,
    pub created_at: String,
    pub created_by: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub nav: Nav,
    pub accounts: Vec<AccountRow>,
    pub accounts_error: Option<String>,
    pub jobs: Vec<JobRow>,
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

pub async fn dashboard(
    State(state): State<AppState>,
    PageUser(p): PageUser,
) -> Result<Response, ApiError> {
    let (accounts, accounts_error) = match state.engine().client().list_accounts().await {
        Ok(list) => (
            list.into_iter()
                .map(|a| AccountRow {
                    status: badge(if a.enabled { "enabled" } else { "disabled" }),
                    id: a.account_id,
                    name: a.name,
                    kind: a.account_type,
                })
                .collect(),
            None,
        ),
        Err(e) => (
            Vec::new(),
            Some(format!("Prisma Cloud could not list the accounts: {e}")),
        ),
    };
    let jobs = state
        .engine()
        .store()
        .list_jobs(None, 25)
        .await?
        .into_iter()
        .map(|j| JobRow {
            id: j.id.to_string(),
            name: job_name(&j.request),
            kind: j.kind.clone(),
            state: badge(&j.state.to_string()),
            created_at: when(j.created_at),
            created_by: j.created_by.clone(),
        })
        .collect();
    Ok(no_store(
        DashboardPage {
            nav: Nav::of(&p),
            accounts,
            accounts_error,
            jobs,
        }
        .into_response(),
    ))
}

// ---------------------------------------------------------------------------------------------
// A job

pub struct StepRow {
    pub key: &'static str,
    pub label: &'static str,
    pub state: Badge,
}

#[derive(Template, WebTemplate)]
#[template(path = "job.html")]
pub struct JobPage {
    pub nav: Nav,
    pub id: String,
    pub name: String,
    pub kind: String,
    pub state: Badge,
    pub created_at: String,
    pub created_by: String,
    pub steps: Vec<StepRow>,
}

const STEPS: [(&str, &str); 7] = [
    ("validate", "Validate the request"),
    ("prerequisites", "Check prerequisites"),
    ("resolve", "Resolve groups and features"),
    ("azure_identity", "Azure identity (Terraform)"),
    ("preflight", "Preflight status check"),
    ("register", "Register in Prisma Cloud"),
    ("verify", "Verify capabilities"),
];

pub async fn job_page(
    State(state): State<AppState>,
    PageUser(p): PageUser,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let id: JobId = parse_id("id", &raw)?;
    let Some(job) = state.engine().store().get_job(id).await? else {
        return Err(ApiError::not_found(format!("job {id} not found")));
    };
    let recorded = state.engine().store().steps(id).await?;
    let steps = STEPS
        .iter()
        .map(|(key, label)| StepRow {
            key,
            label,
            state: badge(
                recorded
                    .iter()
                    .rev()
                    .find(|s| s.name == *key)
                    .map_or("pending", |s| s.state.as_str()),
            ),
        })
        .collect();
    Ok(no_store(
        JobPage {
            nav: Nav::of(&p),
            id: id.to_string(),
            name: job_name(&job.request),
            kind: job.kind.clone(),
            state: badge(&job.state.to_string()),
            created_at: when(job.created_at),
            created_by: job.created_by.clone(),
            steps,
        }
        .into_response(),
    ))
}

// ---------------------------------------------------------------------------------------------
// Onboarding

pub struct FeatureOption {
    pub value: &'static str,
    pub label: &'static str,
    /// What the feature needs in Azure, from the same catalog the Terraform configuration uses.
    pub help: String,
    pub checked: bool,
}

/// The onboarding form's values (never the client secret).
#[derive(Default)]
pub struct OnboardValues {
    pub tenant_id: String,
    pub subscription_id: String,
    pub name: String,
    pub groups: String,
    pub flow_logs: bool,
    pub identity: String,
    pub client_id: String,
    pub service_principal_id: String,
    /// The Prisma Cloud connection (`default` when none was chosen).
    pub connection: String,
}

/// A choice of the onboarding form's connection list.
pub struct ConnectionOption {
    pub name: String,
    pub label: String,
    pub selected: bool,
}

/// The connections to offer (just `default` if the saved ones cannot be listed).
async fn connection_options(state: &AppState, chosen: &str) -> Vec<ConnectionOption> {
    let views = state.engine().list_connections().await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "connections not listed for the onboarding form");
        Vec::new()
    });
    let mut options: Vec<ConnectionOption> = views
        .into_iter()
        .filter(|c| c.problem.is_none())
        .map(|c| ConnectionOption {
            label: if c.default {
                format!("{} — {} ({})", c.name, c.description, c.api_url)
            } else {
                format!("{} ({})", c.name, c.api_url)
            },
            selected: c.name == chosen,
            name: c.name,
        })
        .collect();
    if options.is_empty() {
        options.push(ConnectionOption {
            name: "default".into(),
            label: "default".into(),
            selected: true,
        });
    }
    if !options.iter().any(|o| o.selected) {
        options[0].selected = true;
    }
    options
}

pub struct Problem {
    pub field: String,
    pub message: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "onboard.html")]
pub struct OnboardPage {
    pub nav: Nav,
    pub values: OnboardValues,
    pub features: Vec<FeatureOption>,
    /// What flow logs need in Azure (from the permission catalog).
    pub flow_logs_help: String,
    pub connections: Vec<ConnectionOption>,
    pub problems: Vec<Problem>,
}

fn features(chosen: &[String]) -> Vec<FeatureOption> {
    Feature::ALL
        .into_iter()
        .map(|f| FeatureOption {
            value: f.short_name(),
            label: f.display_name(),
            help: azure_config::permissions::feature_needs(f).summary(),
            checked: chosen.iter().any(|c| c == f.short_name()),
        })
        .collect()
}

pub async fn onboard_page(State(state): State<AppState>, PageUser(p): PageUser) -> Response {
    no_store(
        OnboardPage {
            nav: Nav::of(&p),
            values: OnboardValues {
                groups: "Default Account Group".into(),
                identity: "builtin".into(),
                connection: "default".into(),
                ..OnboardValues::default()
            },
            features: features(&[]),
            flow_logs_help: azure_config::permissions::flow_log_needs().summary(),
            connections: connection_options(&state, "default").await,
            problems: Vec::new(),
        }
        .into_response(),
    )
}

/// The form as a `RawRequest` JSON object (with `client_secret` for an existing identity).
fn request_of(form: &[(String, String)]) -> (Value, OnboardValues, Vec<String>) {
    let one = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let chosen: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "features")
        .map(|(_, v)| v.clone())
        .collect();
    let values = OnboardValues {
        tenant_id: one("tenant_id"),
        subscription_id: one("subscription_id"),
        name: one("name"),
        groups: one("groups"),
        flow_logs: !one("flow_logs").is_empty(),
        identity: match one("identity").as_str() {
            "" => "builtin".into(),
            other => other.to_owned(),
        },
        client_id: one("client_id"),
        service_principal_id: one("service_principal_id"),
        connection: match one("connection").as_str() {
            "" => "default".into(),
            other => other.to_owned(),
        },
    };
    let mut map = Map::new();
    map.insert("scope".into(), "subscription".into());
    let mut text = |key: &str, v: &str| {
        if !v.is_empty() {
            map.insert(key.into(), Value::String(v.to_owned()));
        }
    };
    text("tenant_id", &values.tenant_id);
    text("subscription_id", &values.subscription_id);
    text("name", &values.name);
    text("identity", &values.identity);
    text("connection", &values.connection);
    if values.identity == "existing" {
        text("client_id", &values.client_id);
        text("service_principal_id", &values.service_principal_id);
        let secret = form
            .iter()
            .find(|(k, _)| k == "client_secret")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        if !secret.is_empty() {
            map.insert("client_secret".into(), Value::String(secret));
        }
    }
    let groups: Vec<Value> = values
        .groups
        .split([',', '\n'])
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(|g| Value::String(g.to_owned()))
        .collect();
    map.insert("groups".into(), Value::Array(groups));
    map.insert(
        "features".into(),
        Value::Array(chosen.iter().cloned().map(Value::String).collect()),
    );
    map.insert("flow_logs".into(), Value::Bool(values.flow_logs));
    (Value::Object(map), values, chosen)
}

pub async fn onboard_submit(
    State(state): State<AppState>,
    Operator(who): Operator,
    body: String,
) -> Response {
    let form = form_pairs(&body);
    let (request, values, chosen) = request_of(&form);
    let connections = connection_options(&state, &values.connection).await;
    let refuse = |status: StatusCode, problems: Vec<Problem>, values, chosen: &[String]| {
        no_store(
            (
                status,
                OnboardPage {
                    nav: Nav::of(&who),
                    values,
                    features: features(chosen),
                    flow_logs_help: azure_config::permissions::flow_log_needs().summary(),
                    connections,
                    problems,
                },
            )
                .into_response(),
        )
    };
    let (request, secret) = match crate::routes::jobs::parse_row(request, "") {
        Ok(r) => r,
        Err(errors) => {
            let problems = errors
                .into_iter()
                .map(|e| Problem {
                    field: e.field,
                    message: e.message,
                })
                .collect();
            return refuse(StatusCode::BAD_REQUEST, problems, values, &chosen);
        }
    };
    match state.engine().submit(&request, secret, &who.actor()).await {
        Ok(id) => Redirect::to(&format!("/jobs/{id}")).into_response(),
        Err(e) => {
            let e = ApiError::from(e);
            let problems = vec![Problem {
                field: e.body.field.clone().unwrap_or_else(|| "request".into()),
                message: e.body.message.clone(),
            }];
            refuse(e.status, problems, values, &chosen)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Assets

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

pub async fn css() -> Response {
    asset(CSS, "text/css; charset=utf-8")
}

pub async fn job_js() -> Response {
    asset(JOB_JS, "text/javascript; charset=utf-8")
}
