//! What the client reports while it works, so a UI or CLI can say "rate limited, retrying in
//! 2.1 s". Events carry endpoint names and numbers, never bodies, tokens or keys.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientEvent {
    /// One HTTP exchange finished (`status` is `None` on a transport failure).
    Call {
        endpoint: String,
        status: Option<u16>,
        attempt: u32,
        elapsed_ms: u64,
        request_id: Option<String>,
    },
    /// The call will be tried again after `delay`.
    Retry {
        endpoint: String,
        attempt: u32,
        reason: String,
        delay_ms: u64,
    },
    /// A new session was started (`reason`: first call, expired, 401, extend failed).
    Login { reason: String },
    /// The session was extended.
    Extended,
    /// A 401 made the client log in again and replay the call.
    Replayed { endpoint: String },
    /// An ambiguous create was resolved by reading back (`outcome`: created / adopted).
    Reconciled {
        endpoint: String,
        account_id: String,
        outcome: String,
    },
    /// Pacing adopted the server's advertised limit.
    PacingUpdated {
        endpoint: String,
        rps: f64,
        burst: u32,
    },
}

impl ClientEvent {
    pub fn delay(&self) -> Option<Duration> {
        match self {
            ClientEvent::Retry { delay_ms, .. } => Some(Duration::from_millis(*delay_ms)),
            _ => None,
        }
    }
}

/// Receives every event; must be cheap (called inline).
pub type EventHook = Arc<dyn Fn(&ClientEvent) + Send + Sync>;

impl From<platform_http::HttpEvent> for ClientEvent {
    fn from(e: platform_http::HttpEvent) -> Self {
        use platform_http::HttpEvent as H;
        match e {
            H::Call {
                endpoint,
                status,
                attempt,
                elapsed_ms,
                request_id,
            } => ClientEvent::Call {
                endpoint,
                status,
                attempt,
                elapsed_ms,
                request_id,
            },
            H::Retry {
                endpoint,
                attempt,
                reason,
                delay_ms,
            } => ClientEvent::Retry {
                endpoint,
                attempt,
                reason,
                delay_ms,
            },
            H::PacingUpdated {
                endpoint,
                rps,
                burst,
            } => ClientEvent::PacingUpdated {
                endpoint,
                rps,
                burst,
            },
        }
    }
}
