//! Engine integration tests: real emulator on 127.0.0.1:0, real SQLite store in a temp dir,
//! the real Terraform binary on the twin (or a recorded stream where a test needs a failure).

mod after_onboarding;
mod batch_rows;
mod batches;
mod common;
mod connections;
mod delivery_sweep;
mod drift;
mod failures;
mod flows;
mod lifecycle;
mod preflight;
mod secret_expiry;
mod shared_identity;
mod watch;
