//! The events every call produces, whatever the platform. Each client maps them into its own
//! event type (which adds platform events such as a Prisma login). Events carry endpoint
//! names and numbers — never bodies, headers, keys or tokens.

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HttpEvent {
    /// One HTTP exchange finished (`status` is `None` on a transport failure).
    Call {
        endpoint: String,
        status: Option<u16>,
        attempt: u32,
        elapsed_ms: u64,
        request_id: Option<String>,
    },
    /// The call will be tried again after `delay_ms`.
    Retry {
        endpoint: String,
        attempt: u32,
        reason: String,
        delay_ms: u64,
    },
    /// Pacing adopted the server's advertised limit.
    PacingUpdated {
        endpoint: String,
        rps: f64,
        burst: u32,
    },
}
