//! The Cortex Cloud Cloud Onboarding API client (fact sheet
//! `../shared/reference/cortex-cloud-api.md`).
//!
//! It runs on [`platform_http`], the HTTP core it shares with the Prisma Cloud client: per
//! endpoint pacing, chains, classified full-jitter retries with a per-call budget, the attempt
//! loop and call events. What is Cortex's own lives here:
//! * [`config`] — the API URL, the key (id, key, type) from code or the environment
//!   (`CORTEXCLOUD_API_URL`, `CORTEXCLOUD_API_KEY_ID`, `CORTEXCLOUD_API_KEY`,
//!   `CORTEXCLOUD_API_KEY_TYPE`, as the official SDK names them), timeouts.
//! * [`auth`] — the headers of one attempt; an advanced key is hashed with a fresh nonce and
//!   timestamp on every attempt, so the key itself never crosses the wire.
//! * [`api`] — every onboarding endpoint, typed ([`cortex_cloud_types::wire`]).
//! * [`error`] — one error type; `reply.err_code/err_msg/err_extra` become sentences with a
//!   fix, 422 items name the field.
//!
//! The key is a [`cortex_cloud_types::SecretString`]: it appears in no error, event or log.

pub mod api;
pub mod auth;
mod client;
pub mod config;
pub mod error;

pub use client::{CortexClient, EventHook};
pub use config::{ClientConfig, Timeouts};
pub use error::{ApiError, Error, TransportFailure};
pub use platform_http::{HttpEvent, PacingConfig, RetryPolicy};
