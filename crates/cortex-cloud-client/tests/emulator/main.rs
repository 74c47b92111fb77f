//! The client against the emulator's Cortex face: both key types, every endpoint, filters and
//! paging, 422 field errors, retries through injected faults.

mod common;
mod endpoints;
mod keys;
mod retries;
