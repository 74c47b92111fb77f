//! The HTTP core under both platform clients (`prisma-client`, `cortex-cloud-client`).
//!
//! Everything here is platform-neutral: what a call is, how it is paced, when it is tried
//! again and what the caller hears about it. Each client adds only its platform's parts —
//! authentication (a Prisma session JWT; a Cortex key, hashed per attempt), its wire models and
//! its error bodies.
//!
//! * [`ratelimit`] — one token bucket per endpoint with three queues (retries, then continuing
//!   work, then fresh), following the server's `X-RateLimit-*` headers when it sends them.
//! * [`chain`] — the calls of one piece of work, measured; later calls count as continuing.
//! * [`retry`] — classification (throttling, transient 5xx, transport), full jitter with a cap,
//!   `Retry-After`, a per-call attempt budget and deadline.
//! * [`attempts`] — the loop every call runs: pace → attempt → classify → wait or stop.
//! * [`transport`] — a client's HTTP transport with its cap on exchanges in flight, one HTTP
//!   exchange, its timing, what kind of failure a broken one was, and the exchange step of every
//!   attempt ([`transport::Transport::send`]: the call event, the shared [`TransportFailure`],
//!   the call's re-send rule).
//! * [`events`] — the platform-neutral events of a call (exchange, retry, pacing learned).
//! * [`body`] — a reply's JSON body decoded.

pub mod attempts;
pub mod body;
pub mod chain;
pub mod events;
pub mod ratelimit;
pub mod retry;
pub mod transport;

pub use attempts::{Attempt, Budget, Failure, Verdict, run};
pub use chain::ChainStats;
pub use events::HttpEvent;
pub use ratelimit::{EndpointSnapshot, Grant, Pacer, PacingConfig, Priority, Ticket};
pub use retry::RetryPolicy;
pub use transport::{BrokenAttempt, Exchange, TransportFailure, TransportKind};
