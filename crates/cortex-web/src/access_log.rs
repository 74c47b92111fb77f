//! The access log and request ids.
//!
//! Every request gets a request id: the client's `x-request-id` when it is a valid one (1 to
//! 64 characters of `A–Z a–z 0–9 - _ . : = + / @`, see [`RequestId`]), else a new UUID (an
//! invalid one is replaced, not refused: a proxy's odd id must not break the request). The id
//! is returned in `x-request-id` on every response, is the origin of every job the request
//! submits (their events carry it as `origin_request_id`, `onboarding_engine::origin`), and ends the
//! request's one access-log line (target `cortex_web::access_log`, level info):
//! `method`, `route` (the matched route template such as `/api/v1/jobs/{id}`, or `unmatched`),
//! `status`, `duration_ms` (until the response head: for an event stream, until it opened)
//! and `request_id`. Never the path as sent, the query string (it may hold a token) or any
//! header (cookies, authorization).

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use onboarding_engine::RequestId;

/// The request id header, read and written.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The matched route template of a request, handed from the router's route layer (where it is
/// known) to the outer layers through the response's extensions.
#[derive(Clone, Debug)]
pub struct RouteTemplate(pub String);

impl RouteTemplate {
    /// The template of the request's matched route (`""` for none).
    pub fn of(req: &Request) -> RouteTemplate {
        RouteTemplate(
            req.extensions()
                .get::<MatchedPath>()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default(),
        )
    }
}

/// The request's id from its `x-request-id`, or a new one.
fn request_id(req: &Request) -> RequestId {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .and_then(RequestId::parse)
        .unwrap_or_else(RequestId::generate)
}

/// Outermost layer: the id in, the id out, one log line.
pub async fn layer(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(&req);
    let method = req.method().clone();
    req.extensions_mut().insert(id.clone());
    let mut response = id.clone().scope(next.run(req)).await;
    // Always a valid header value: the id's characters are checked.
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let route = response
        .extensions()
        .get::<RouteTemplate>()
        .map(|r| r.0.as_str())
        .filter(|r| !r.is_empty())
        .unwrap_or("unmatched");
    tracing::info!(
        method = %method,
        route = %route,
        status = response.status().as_u16(),
        duration_ms = (started.elapsed().as_secs_f64() * 1000.0 * 10.0).round() / 10.0,
        request_id = %id,
        "request"
    );
    response
}
