//! What stands in front of every API route, in the order the real edge applies it:
//! latency → authentication (`x-redlock-auth`) → the per-user, per-endpoint token bucket →
//! injected faults → the handler → (for creates) commit-then-drop. Faults are drawn after the
//! bucket admitted the request: they stand for failures behind the gateway (a 500 or 503 from
//! the service, a reset), which consumed the caller's token as a real one would. Every answer
//! gets a request id ([`edge`]).

use std::sync::Arc;

use axum::extract::connect_info::ConnectInfo;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prisma_types::wire::{AUTH_HEADER, REQUEST_ID_HEADER};

use crate::error::ApiFailure;
use crate::net::ConnInfo;
use crate::state::{EmulatorState, FaultDraw, RateDecision};

/// Routes reachable without a token.
fn is_public(endpoint: &str) -> bool {
    endpoint == "POST /login"
}

/// Routes whose success creates something, where "commit, then drop" applies.
fn is_create(endpoint: &str) -> bool {
    matches!(
        endpoint,
        "POST /cas/v1/azure_account" | "POST /cloud/group" | "POST /cloud/{cloud_type}"
    )
}

/// The user a request counts against: the token's access key, or the peer for `/login`.
#[derive(Clone, Debug)]
pub struct Caller {
    pub access_key_id: String,
    pub customer: String,
}

pub async fn gateway(
    State(state): State<Arc<EmulatorState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let endpoint = match req.extensions().get::<MatchedPath>() {
        Some(path) => format!("{} {}", req.method(), path.as_str()),
        None => format!("{} (unmatched)", req.method()),
    };
    let conn = req
        .extensions()
        .get::<ConnectInfo<ConnInfo>>()
        .map(|c| c.0.clone());
    state.stats.bump(&endpoint, |s| s.requests += 1);
    let (fault, commit_then_drop, latency_ms, faults) = {
        let mut dice = state.faults.lock().unwrap_or_else(|p| p.into_inner());
        let (fault, commit, latency) = dice.draw();
        (fault, commit, latency, dice.faults.clone())
    };
    if latency_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency_ms)).await;
    }

    // Authentication: who the request counts against.
    let user = if is_public(&endpoint) {
        format!(
            "login@{}",
            conn.as_ref()
                .map(|c| c.peer.ip().to_string())
                .unwrap_or_default()
        )
    } else {
        let token = req.headers().get(AUTH_HEADER).and_then(|v| v.to_str().ok());
        match state.tokens.verify(token) {
            Ok(claims) => {
                let caller = Caller {
                    access_key_id: claims.access_key_id.clone(),
                    customer: claims.selected_customer_name.clone(),
                };
                req.extensions_mut().insert(claims);
                req.extensions_mut().insert(caller.clone());
                caller.access_key_id
            }
            Err(e) => {
                state.stats.bump(&endpoint, |s| s.unauthorized += 1);
                return ApiFailure::from(e).into_response();
            }
        }
    };

    // The token bucket.
    let decision = state.limiter.take(&user, &endpoint);
    if let Some(d) = decision
        && !d.admitted
    {
        state.stats.bump(&endpoint, |s| s.rate_limited += 1);
        return too_many_requests(faults.html_429, Some(d));
    }
    state.stats.bump(&endpoint, |s| s.admitted += 1);

    // Injected faults behind the gateway.
    let mut response = match fault {
        FaultDraw::Reset if conn.is_some() => {
            state.stats.bump(&endpoint, |s| s.injected_resets += 1);
            if let Some(conn) = &conn {
                conn.control.kill();
            }
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        FaultDraw::TooManyRequests => {
            state.stats.bump(&endpoint, |s| s.injected_429 += 1);
            let limit = decision
                .map(|d| d.limit)
                .unwrap_or(state.limiter.limits().default);
            return too_many_requests(
                faults.html_429,
                Some(RateDecision {
                    admitted: false,
                    remaining: 0,
                    limit,
                }),
            );
        }
        FaultDraw::InternalError => {
            state.stats.bump(&endpoint, |s| s.injected_500 += 1);
            ApiFailure::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error").into_response()
        }
        FaultDraw::Unavailable => {
            state.stats.bump(&endpoint, |s| s.injected_503 += 1);
            let mut r = StatusCode::SERVICE_UNAVAILABLE.into_response();
            r.headers_mut()
                .insert("retry-after", HeaderValue::from(faults.retry_after_secs));
            r
        }
        _ => {
            let is_mutation = req.method() == Method::POST;
            let response = next.run(req).await;
            if commit_then_drop
                && is_mutation
                && is_create(&endpoint)
                && response.status().is_success()
                && let Some(conn) = &conn
            {
                state.stats.bump(&endpoint, |s| s.commit_then_drop += 1);
                conn.control.kill();
            }
            response
        }
    };
    if let Some(d) = decision {
        rate_headers(response.headers_mut(), &d);
    }
    response
}

/// The outermost layer: every answer gets a request id, and answers that axum itself produced
/// (an undecodable path or query, an unknown route, a wrong method) become API errors with
/// `x-redlock-status` instead of plain text.
pub async fn edge(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let status = response.status();
    let from_framework = status.is_client_error()
        && !response
            .headers()
            .contains_key(prisma_types::wire::REDLOCK_STATUS_HEADER)
        && response
            .headers()
            .get("content-type")
            .is_none_or(|v| v.as_bytes().starts_with(b"text/plain"));
    if from_framework && status != StatusCode::TOO_MANY_REQUESTS {
        let (key, subject) = match status {
            StatusCode::NOT_FOUND => ("not_found", "path"),
            StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "method"),
            StatusCode::PAYLOAD_TOO_LARGE => ("request_too_large", "body"),
            _ => ("bad_request", "path_or_query"),
        };
        response = ApiFailure::new(status, key)
            .subject(subject)
            .into_response();
    }
    let request_id = uuid::Uuid::new_v4().to_string();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    response
}

fn rate_headers(headers: &mut HeaderMap, d: &RateDecision) {
    headers.insert(
        "x-ratelimit-burst-capacity",
        HeaderValue::from(d.limit.burst),
    );
    headers.insert("x-ratelimit-remaining", HeaderValue::from(d.remaining));
    let rate = d.limit.rps.round().max(1.0) as u64;
    headers.insert("x-ratelimit-replenish-rate", HeaderValue::from(rate));
    headers.insert("x-ratelimit-requested-tokens", HeaderValue::from(1u32));
}

/// A 429 as the service sends it: no `Retry-After`, rate-limit headers; or the gateway's HTML
/// page with neither those headers nor `x-redlock-status`.
fn too_many_requests(html: bool, decision: Option<RateDecision>) -> Response {
    if html {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("content-type", "text/html")],
            "<html><head><title>429 Too Many Requests</title></head>\
             <body><center><h1>429 Too Many Requests</h1></center></body></html>",
        )
            .into_response();
    }
    let mut r =
        ApiFailure::new(StatusCode::TOO_MANY_REQUESTS, "rate_limit_exceeded").into_response();
    if let Some(d) = decision {
        rate_headers(r.headers_mut(), &d);
    }
    r
}
