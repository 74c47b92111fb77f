//! Driving terraform for the Azure onboarding engine, and turning its machine-readable output
//! into typed events for the web UI.
//!
//! * [`stream`] — parsing the `-json` UI stream (one JSON object per stdout line) into
//!   [`UiMessage`]s, plus `output -json` and `validate -json` documents. Lenient where terraform
//!   varies between versions; strict only where compatibility breaks (UI schema major ≠ 1).
//! * [`runner`] — running the binary phase by phase (`init`, `plan -out`, `apply PLAN`, `output`,
//!   `destroy`, …) with a non-interactive environment, concurrent stdout/stderr reading, per-phase
//!   timeouts and cancellation by SIGINT (so terraform can release its state lock) escalating to
//!   SIGKILL.
//! * [`plugin_cache`] — one provider cache per machine (init serialised on a file lock) and one
//!   recorded dependency lock file per configuration.
//! * [`replay`] — the same events from a recorded or synthesized stream, for sandbox mode and
//!   machines without terraform.
//!
//! Secrets: credentials reach terraform only through [`RunnerConfig::env`] (never argv, never
//! logged). Output values never come from the stream (names only); they are read once with
//! [`TerraformRunner::output`], whose stdout is never streamed, into [`OutputValue`]s whose
//! `Debug` hides sensitive values.
//!
//! Facts this relies on are in `shared/reference/terraform-azure.md` §1–2; the recorded streams
//! in `tests/fixtures/` come from terraform 1.11.4.

mod collect;
pub mod plugin_cache;
pub mod replay;
pub mod runner;
mod signal;
pub mod stream;

pub use replay::{replay_lines, synthesize_apply_stream};
pub use runner::{
    Phase, PhaseOutcome, PhaseTimeouts, RunError, RunnerConfig, RunnerEvent, TerraformRunner,
    TerraformVersion,
};
pub use stream::{
    Diagnostic, MessageKind, OutputValue, ResourceAddr, StreamError, UiMessage, ValidateReport,
    parse_line, parse_outputs, parse_validate,
};
