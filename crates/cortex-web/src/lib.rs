//! The azure-cortex web server: a REST API over the onboarding engine (`/api/v1`, described by
//! its own OpenAPI document), live progress as Server-Sent Events, local operator accounts,
//! health, readiness and Prometheus metrics. A library, so that tests (and the binary) run the
//! real thing: [`router`] builds the application, [`serve`] runs it on a listener until a
//! shutdown signal.
//!
//! Modules:
//! * [`config`] — [`WebConfig`] from a TOML file, `CORTEX_WEB_*` variables and flags.
//! * [`state`] — [`AppState`]: engine, users database, configuration, shutdown token.
//! * [`routes`] — the route table (one list builds the router and is compared with the OpenAPI
//!   document in tests); handlers by area: `jobs` (jobs and batches), `accounts` (accounts,
//!   groups, audit), `connections` (Prisma Cloud connections), `session` (login, logout,
//!   tokens), `ops` (health, metrics, OpenAPI).
//! * [`auth`] — sessions, CSRF, API tokens, roles, login throttling; [`auth::store`] keeps
//!   users, sessions and tokens in their own SQLite file.
//! * [`pages`] — the HTML pages (askama templates in `templates/`, our CSS and script in
//!   `assets/`, served from the binary): sign-in, dashboard, live job page, onboarding form,
//!   Prisma Cloud connections.
//! * [`sse`] — job and batch event streams (resume with `Last-Event-ID`).
//! * [`error`] — `{code, message, field?, errors?}` with stable codes; [`extract`] parses
//!   input at the edge; [`views`] are the bodies; [`metrics`]; [`tls`].
//! * [`access_log`] — request ids (`x-request-id`) and one access-log line per request.
//! * [`conn`] — the accept loop: connection cap, header read and idle timeouts (plain and
//!   TLS alike).

pub mod access_log;
pub mod auth;
pub mod config;
pub mod conn;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod pages;
pub mod routes;
pub mod sse;
pub mod state;
pub mod tls;
pub mod views;

use std::future::Future;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;

pub use auth::{AuthStore, GeneratedAdmin, Role};
pub use config::{ConfigError, WebConfig, WebSettings};
pub use error::ApiError;
pub use state::{AppState, AzureAccess, StartError};

/// The application: every route, authentication, JSON errors, body limit, metrics.
pub fn router(state: AppState) -> Router {
    let max_body = state.config().max_body_bytes;
    let tls = state.is_tls();
    let app = routes::api()
        .into_router()
        .merge(pages::router())
        .route_layer(middleware::from_fn_with_state(state.clone(), record_http))
        .fallback(route_not_found)
        .layer(middleware::from_fn(pages::error_pages))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn(edge))
        .with_state(state);
    let app = if tls {
        app.layer(middleware::map_response(strict_transport_security))
    } else {
        app
    };
    app.layer(middleware::from_fn(access_log::layer))
}

/// Under TLS only (a plain-HTTP server must not pin browsers to HTTPS it does not serve):
/// browsers use HTTPS for this host for a year. No `includeSubDomains`: the server does not
/// speak for its neighbours.
async fn strict_transport_security(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    response
}

/// `(METHOD, path)` of every route [`router`] serves.
pub fn route_table() -> Vec<(String, String)> {
    routes::api().routes()
}

/// The OpenAPI document served at `/api/v1/openapi.json`.
pub fn openapi_document() -> String {
    routes::ops::document()
}

/// Serves `app` on `listener` (TLS when configured) until `shutdown` resolves; then event
/// streams end, the in-process worker (if configured) stops, and open requests finish.
/// Connections are bounded as [`conn`] describes (`max_connections`, timeouts).
pub async fn serve(
    listener: TcpListener,
    app: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let token = app.shutdown_token().clone();
    let worker = app.config().worker.then(|| {
        let engine = app.engine().clone();
        let stop = token.child_token();
        tokio::spawn(async move { engine.run_worker(stop, false).await })
    });
    let signal = {
        let token = token.clone();
        async move {
            tokio::select! {
                _ = shutdown => {}
                _ = token.cancelled() => {}
            }
            token.cancel();
        }
    };
    tokio::spawn(signal);
    tokio::spawn(tls::reload_on_hangup(
        app.cert_reloader().cloned(),
        token.clone(),
    ));
    let result = conn::run(
        listener,
        router(app.clone()),
        app.tls().cloned(),
        app.config().connections,
        app.metrics().connections.clone(),
        token.clone(),
    )
    .await;
    token.cancel();
    if let Some(worker) = worker {
        match worker.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "the in-process worker failed"),
            Err(e) => tracing::error!(error = %e, "the in-process worker panicked"),
        }
    }
    result
}

async fn route_not_found(uri: axum::http::Uri, headers: axum::http::HeaderMap) -> Response {
    pages::not_found(uri.path(), &headers)
}

/// Counts requests by matched route (`/api/v1/jobs/{id}`, not the id).
async fn record_http(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().to_string();
    let route = access_log::RouteTemplate::of(&req);
    let mut response = next.run(req).await;
    state.metrics().record_http(
        &method,
        &route.0,
        response.status().as_u16(),
        started.elapsed(),
    );
    response.extensions_mut().insert(route);
    response
}

/// Outermost: every error is JSON (the framework's own 405/413/… included) unless a page
/// rendered it as HTML, and security headers are set.
async fn edge(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let mut response = next.run(req).await;
    let status = response.status();
    let is_ours = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if (status.is_client_error() || status.is_server_error()) && !is_ours {
        let keep: Vec<_> = [header::ALLOW, header::RETRY_AFTER]
            .into_iter()
            .filter_map(|h| response.headers().get(&h).cloned().map(|v| (h, v)))
            .collect();
        let route = response
            .extensions_mut()
            .remove::<access_log::RouteTemplate>();
        response = ApiError::for_status(status).into_response();
        if let Some(route) = route {
            response.extensions_mut().insert(route);
        }
        for (h, v) in keep {
            response.headers_mut().insert(h, v);
        }
    }
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // The pages say `same-origin`: with `no-referrer` a browser sends `Origin: null` on a
    // form POST, and the sign-in form checks the origin.
    if !headers.contains_key(header::REFERRER_POLICY) {
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    if api && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
