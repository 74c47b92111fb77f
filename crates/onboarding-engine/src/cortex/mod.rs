//! Cortex Cloud onboarding: the request in Cortex Cloud's own terms ([`request`]).
//!
//! A Cortex Cloud job runs through the same runner as a Prisma Cloud one ([`crate::job`]):
//! steps with checkpoints, events, leases and resume are shared; only the steps differ.

pub mod request;

pub use request::{CortexConnectionRef, CortexRequest, RawCortexRequest};
