//! The onboarding engine: one request in, "every chosen capability is green" out — recorded
//! step by step, streamed as it happens, resumable after a crash, and never exposing the
//! client secret. The web UI and the CLI are thin shells over it.
//!
//! * [`request`] — the request, validated once at the edge (every bad field named).
//! * [`batch_file`] — the batch CSV (CLI and web bulk page): rows read and checked one by one.
//! * [`engine`] — submit jobs and batches; workers claim jobs with leases and run them.
//! * [`concurrency`] — how many jobs a worker runs at once (Little's law on the rate budget
//!   and the jobs' service time, capped; or fixed). `lookups` — what a batch's jobs read once.
//! * [`job`](crate::job) — the steps: validate → prerequisites → resolve → azure_identity →
//!   preflight → register → verify, each with a checkpoint for resume.
//! * [`identity`] — the Azure side: Terraform (our configuration, Prisma's template, or the
//!   offline twin) in a per-job workspace, or an existing service principal.
//! * [`tenant_identity`] — bulk with one identity per tenant: a batch's subscriptions in one
//!   tenant share one app registration, granted each one's roles in one Terraform run.
//! * [`events`] and [`bus`] — typed events, stored before they are published, replayable.
//! * [`guidance`] — the fix and the docs link shown beside a failing capability.
//! * [`cortex`] — a Cortex Cloud onboarding request, validated at the edge in Cortex Cloud's
//!   own terms (scopes, subscription and region filters, capabilities, audit logs).
//! * [`coverage`] — which of a tenant's subscriptions the platform covers (`discover`, the
//!   Coverage page and `GET /api/v1/coverage` share it).
//! * [`connections`] — named platform connections (Prisma Cloud: stack + access key; Cortex
//!   Cloud: API URL + key id, key, key type), stored encrypted, chosen per job; `default` is
//!   the one the engine was started with.
//! * [`lifecycle`] — after onboarding: rotating an account's client secret without downtime and
//!   offboarding it (platform side, and `terraform destroy` of an identity we created, with a
//!   plan review), each a job on the same runner.
//! * [`watch`] — after onboarding: the health watch (scheduled, leased per account and round),
//!   its history, and notifications to webhook / Slack / Teams sinks with dead letters.

mod appender;
pub mod batch_file;
pub mod bus;
pub mod concurrency;
pub mod connections;
pub mod cortex;
pub mod coverage;
pub mod drift;
pub mod engine;
pub mod error;
pub mod events;
pub mod guidance;
pub mod identity;
mod job;
pub mod lifecycle;
mod lookups;
pub mod origin;
pub mod request;
pub mod tenant_identity;
#[cfg(test)]
mod test_store;
pub mod watch;

pub use concurrency::Concurrency;
pub use connections::{
    Connection, ConnectionName, ConnectionTest, ConnectionView, Platform, PlatformConnection,
    RawConnection,
};
pub use engine::{BatchReport, BatchRow, Engine, EngineConfig, StatePolicy};
pub use error::EngineError;
pub use events::{EngineEvent, Step};
pub use identity::TerraformMode;
pub use job::CapabilityState;
pub use origin::RequestId;
pub use request::{GroupRef, IdentitySource, OnboardingRequest, RawRequest, RequestErrors, Scope};
pub use tenant_identity::IdentityPer;
