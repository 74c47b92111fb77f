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
//! * [`events`] and [`bus`] — typed events, stored before they are published, replayable.
//! * [`guidance`] — the fix and the docs link shown beside a failing capability.
//! * [`connections`] — named Prisma Cloud connections (stack + access key, stored encrypted),
//!   chosen per job; `default` is the one the engine was started with.

pub mod batch_file;
pub mod bus;
pub mod concurrency;
pub mod connections;
pub mod engine;
pub mod error;
pub mod events;
pub mod guidance;
pub mod identity;
mod job;
mod lookups;
pub mod origin;
pub mod request;

pub use concurrency::Concurrency;
pub use connections::{Connection, ConnectionName, ConnectionTest, ConnectionView, RawConnection};
pub use engine::{BatchReport, BatchRow, Engine, EngineConfig, StatePolicy};
pub use error::EngineError;
pub use events::{EngineEvent, Step};
pub use identity::TerraformMode;
pub use job::CapabilityState;
pub use origin::RequestId;
pub use request::{GroupRef, IdentitySource, OnboardingRequest, RawRequest, RequestErrors, Scope};
