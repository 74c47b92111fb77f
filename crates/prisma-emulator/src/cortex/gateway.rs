//! What stands in front of every Cortex route: latency → the API key → the per-key,
//! per-endpoint token bucket → injected faults → the handler (for creates: commit-then-drop).
//! It draws from the same fault dice, limiter and counters as the Prisma face's gateway
//! ([`crate::gateway`]), so one `--p-429`/`--rate-limit` setting shapes both APIs; the answers
//! are in the Cortex shape (`{"reply": {"err_code", …}}`, no rate-limit headers: Cortex
//! publishes none).

use std::sync::Arc;

use axum::extract::connect_info::ConnectInfo;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth;
use super::reply::Failure;
use crate::net::ConnInfo;
use crate::state::{EmulatorState, FaultDraw};

/// Routes that carry no API key: template downloads and the template callback (signed URLs,
/// added by the template module). Everything else needs a key.
pub fn is_unauthenticated(path: &str) -> bool {
    path.starts_with("/_cortex/")
}

/// Creates, where "commit, then drop the answer" applies.
fn is_create(endpoint: &str) -> bool {
    endpoint.ends_with("/create_instance_template")
}

/// The endpoint's name for counters and buckets: method + route, without a trailing slash
/// (both spellings are routed).
fn endpoint_name(req: &Request) -> String {
    match req.extensions().get::<MatchedPath>() {
        Some(p) => format!("{} {}", req.method(), p.as_str().trim_end_matches('/')),
        None => format!("{} (unmatched)", req.method()),
    }
}

pub async fn gateway(
    State(state): State<Arc<EmulatorState>>,
    req: Request,
    next: Next,
) -> Response {
    let endpoint = endpoint_name(&req);
    let path = req.uri().path().to_owned();
    let conn = req
        .extensions()
        .get::<ConnectInfo<ConnInfo>>()
        .map(|c| c.0.clone());
    state.stats.bump(&endpoint, |s| s.requests += 1);
    let (fault, commit_then_drop, latency_ms, retry_after_secs) = {
        let mut dice = state.faults.lock().unwrap_or_else(|p| p.into_inner());
        let (fault, commit, latency) = dice.draw();
        (fault, commit, latency, dice.faults.retry_after_secs)
    };
    if latency_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency_ms)).await;
    }

    let user = if is_unauthenticated(&path) {
        format!(
            "cortex-link@{}",
            conn.as_ref()
                .map(|c| c.peer.ip().to_string())
                .unwrap_or_default()
        )
    } else {
        let now = crate::clock::epoch_millis();
        match auth::verify(
            &state.config.cortex,
            &state.cortex.nonces,
            req.headers(),
            now,
        ) {
            Ok(id) => format!("cortex:{id}"),
            Err(refusal) => {
                state.stats.bump(&endpoint, |s| s.unauthorized += 1);
                tracing::info!(%endpoint, reason = refusal.reason(), "cortex: request refused");
                return Failure::unauthorized().into_response();
            }
        }
    };

    if let Some(d) = state.limiter.take(&user, &endpoint)
        && !d.admitted
    {
        state.stats.bump(&endpoint, |s| s.rate_limited += 1);
        return too_many_requests();
    }
    state.stats.bump(&endpoint, |s| s.admitted += 1);

    match fault {
        FaultDraw::Reset if conn.is_some() => {
            state.stats.bump(&endpoint, |s| s.injected_resets += 1);
            if let Some(conn) = &conn {
                conn.control.kill();
            }
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
        FaultDraw::TooManyRequests => {
            state.stats.bump(&endpoint, |s| s.injected_429 += 1);
            too_many_requests()
        }
        FaultDraw::InternalError => {
            state.stats.bump(&endpoint, |s| s.injected_500 += 1);
            Failure::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
        }
        FaultDraw::Unavailable => {
            state.stats.bump(&endpoint, |s| s.injected_503 += 1);
            let mut r = Failure::new(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
                .into_response();
            r.headers_mut()
                .insert("retry-after", HeaderValue::from(retry_after_secs));
            r
        }
        _ => {
            let response = next.run(req).await;
            if commit_then_drop
                && is_create(&endpoint)
                && response.status().is_success()
                && let Some(conn) = &conn
            {
                state.stats.bump(&endpoint, |s| s.commit_then_drop += 1);
                conn.control.kill();
            }
            response
        }
    }
}

fn too_many_requests() -> Response {
    Failure::new(StatusCode::TOO_MANY_REQUESTS, "Too many requests").into_response()
}
