//! The Prisma Cloud CSPM API client used by every part of azure-cortex.
//!
//! It runs on the platform-neutral HTTP core [`platform_http`] (pacing, chains, retries, the
//! attempt loop); this crate adds the Prisma session, its wire models and its error bodies.
//! `chain`, `ratelimit` and `retry` are re-exported from there, so paths stay as they were.
//!
//! What it guarantees, and where:
//! * [`config`] — stacks or URLs (plain http only to loopback unless opted in), credentials
//!   from code or the environment (ours and the Terraform provider's names), timeouts.
//! * [`session`](crate::session) — the JWT is refreshed before it expires; a 401 causes one
//!   re-login and a replay; concurrent callers share one login (single-flight).
//! * [`retry`] — classified, full-jitter, capped retries with `Retry-After`, budgeted per call.
//! * [`ratelimit`] — per-endpoint pacing that follows the server's `X-RateLimit-*` headers;
//!   retries and later calls of a [`chain`] go before new work.
//! * [`api`] — typed endpoints; creates reconcile instead of re-sending blindly.
//! * [`error`] — one error type; i18n keys become sentences with a fix ([`messages`]).
//! * [`events`] — every call, retry and login reported to a hook for UIs and logs.
//!
//! Secrets (the secret key, the Azure client secret, tokens) are [`prisma_types::SecretString`]s:
//! they appear in request bodies and headers only, never in errors, events or logs.

pub mod api;
pub use platform_http::chain;
mod client;
pub mod config;
pub mod error;
pub mod events;
pub mod messages;
pub use platform_http::ratelimit;
pub use platform_http::retry;
mod session;

pub use api::{FeatureScope, Outcome, Registration, TemplateScope};
pub use chain::ChainStats;
pub use client::PrismaClient;
pub use config::{BaseUrl, ClientConfig, Credentials, Timeouts};
pub use error::{ApiError, AuthError, Error, TransportFailure, TransportKind};
pub use events::{ClientEvent, EventHook};
pub use ratelimit::{PacingConfig, Priority};
pub use retry::RetryPolicy;
