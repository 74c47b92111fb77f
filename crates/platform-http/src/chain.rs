//! Chains: the calls of one piece of work (an onboarding: status check, add, read back…).
//!
//! Run a piece of work inside [`run`] and the client knows which of its calls start new work
//! and which continue work under way: the first call of a chain waits for a token as
//! [`Priority::Fresh`], every later call as [`Priority::Continuing`] and every retry as
//! [`Priority::Retry`] (before both), so work already started finishes first; among started
//! calls the chain born first ([`born`]) goes first ([`acquire`] asks the pacer so). A chain
//! also measures itself — calls per endpoint with the rate each was paced at, and the time
//! spent waiting for tokens — which is what a caller needs to size its concurrency (Little's
//! law: see the engine's batch runner).
//! Outside a chain every first attempt is fresh.

use std::cell::RefCell;
use std::future::Future;
use std::time::Duration;

use crate::ratelimit::{Grant, Pacer, Priority};

/// What one chain did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChainStats {
    /// Calls per endpoint (attempts included) and the rate (requests/s) the endpoint was
    /// paced at on the last of them (`None`: pacing off).
    pub calls: Vec<EndpointCalls>,
    /// Time spent waiting for tokens, all calls together.
    pub paced: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EndpointCalls {
    pub endpoint: &'static str,
    pub calls: u32,
    pub rps: Option<f64>,
}

impl ChainStats {
    pub fn total_calls(&self) -> u32 {
        self.calls.iter().map(|c| c.calls).sum()
    }
}

tokio::task_local! {
    static CHAIN: RefCell<ChainStats>;
    static BORN: u64;
}

/// Runs `work` as one chain; returns its output and what its calls did.
pub async fn run<F: Future>(work: F) -> (F::Output, ChainStats) {
    let work = CHAIN.scope(RefCell::new(ChainStats::default()), async move {
        let output = work.await;
        let stats = CHAIN.with(|c| c.take());
        (output, stats)
    });
    BORN.scope(crate::ratelimit::next_birth(), work).await
}

/// The current chain's birth number (`None` outside a chain): its started calls wait behind
/// those of chains born before it only.
pub fn born() -> Option<u64> {
    BORN.try_with(|b| *b).ok()
}

/// Waits for a token of `endpoint` for attempt `attempt` of a call of the current chain (if
/// any): in the queue [`priority`] says, placed by the chain's birth ([`born`]).
pub async fn acquire(pacer: &Pacer, endpoint: &str, attempt: u32) -> Grant {
    pacer
        .acquire_born(endpoint, priority(attempt), born())
        .await
}

/// The queue a call's attempt waits in.
pub fn priority(attempt: u32) -> Priority {
    let started = CHAIN
        .try_with(|c| !c.borrow().calls.is_empty())
        .unwrap_or(false);
    if attempt > 1 {
        Priority::Retry
    } else if started {
        Priority::Continuing
    } else {
        Priority::Fresh
    }
}

/// Counts an attempt of the current chain (if any).
/// `rps` is asked only inside a chain.
pub fn record(endpoint: &'static str, paced: Duration, rps: impl FnOnce() -> Option<f64>) {
    let _ = CHAIN.try_with(|c| {
        let rps = rps();
        let mut stats = c.borrow_mut();
        stats.paced += paced;
        match stats.calls.iter_mut().find(|e| e.endpoint == endpoint) {
            Some(e) => {
                e.calls += 1;
                e.rps = rps;
            }
            None => stats.calls.push(EndpointCalls {
                endpoint,
                calls: 1,
                rps,
            }),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_call_of_a_chain_is_fresh_and_the_rest_continue() {
        assert_eq!(priority(1), Priority::Fresh);
        assert_eq!(priority(2), Priority::Retry);
        let ((), stats) = run(async {
            assert_eq!(priority(1), Priority::Fresh);
            record("GET /a", Duration::from_millis(5), || Some(10.0));
            assert_eq!(priority(1), Priority::Continuing);
            record("GET /a", Duration::from_millis(2), || Some(20.0));
            record("POST /b", Duration::ZERO, || None);
        })
        .await;
        assert_eq!(stats.paced, Duration::from_millis(7));
        assert_eq!(stats.total_calls(), 3);
        assert_eq!(
            stats.calls[0],
            EndpointCalls {
                endpoint: "GET /a",
                calls: 2,
                rps: Some(20.0)
            }
        );
        // Outside the chain nothing is recorded and first attempts are fresh again.
        record("GET /a", Duration::ZERO, || None);
        assert_eq!(priority(1), Priority::Fresh);
    }

    #[tokio::test]
    async fn a_chain_keeps_its_birth_number_and_later_chains_get_later_ones() {
        assert_eq!(born(), None);
        let (first, _) = run(async {
            let b = born().unwrap();
            tokio::task::yield_now().await;
            assert_eq!(born(), Some(b), "the same across awaits");
            b
        })
        .await;
        let (second, _) = run(async { born().unwrap() }).await;
        assert!(second > first);
        assert_eq!(born(), None);
    }
}
