//! Cortex Cloud onboarding: the request in Cortex Cloud's own terms ([`request`]), its
//! submission ([`crate::Engine::submit_cortex`]) and what a job reports ([`result`]).
//!
//! A Cortex Cloud job runs through the same runner as a Prisma Cloud one ([`crate::job`]):
//! steps with checkpoints, events, leases and resume are shared; only the steps differ.

pub mod guidance;
pub mod request;
pub mod result;
mod submit;

pub use request::{CortexConnectionRef, CortexRequest, RawCortexRequest};
pub use result::{CORTEX_JOB_KIND, CortexAccount, CortexCapabilityState, CortexJobResult};
