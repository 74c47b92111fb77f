//! How many jobs a worker runs at once: sized from what the jobs do, not a constant.
//!
//! A batch is paced by the Prisma client (one token bucket per endpoint), so the most jobs the
//! rate budget lets finish per second is `X = min over endpoints of rate / calls per job`. A
//! job holds its slot for its service time `R`: its duration minus the time it spent waiting
//! for tokens (that wait is the queue, not the work; counting it would grow the queue without
//! end). By Little's law `X × R` jobs in flight keep the pacer busy on average; on top of that
//! we keep a queue of [`QUEUE_S`] seconds of the budget waiting for tokens. The queue is what
//! the average misses: a job's calls go through several endpoints in turn, and when one of
//! them stalls (a 503's `Retry-After: 1`, a 429 that drains its bucket) the endpoints after it
//! idle unless jobs are already waiting there. Measured at 50 req/s with the fault mix, the
//! CLI batch sized by Little's law alone ran 10–25 jobs and reached 0.84 of the rate bound
//! (docs/benchmarks.md). Waiting jobs cost a lease and some memory, nothing else: the calls
//! are paced whatever the concurrency. Every finished job updates the estimates (slowly:
//! service times are bimodal, milliseconds for most jobs and a second for those that met a
//! `Retry-After`), capped by the configured maximum. With no known rate (pacing off) the
//! maximum applies. A fixed concurrency (`--concurrency N`) overrides it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use prisma_client::ChainStats;

/// Jobs in flight before anything has been measured.
pub const INITIAL: usize = 8;
/// Slack above Little's law: in-flight = X × (R × MARGIN + QUEUE_S) + SPARE.
const MARGIN: f64 = 1.5;
const SPARE: f64 = 2.0;
/// Seconds of the rate budget kept waiting for tokens (see the module docs).
pub const QUEUE_S: f64 = 1.0;
/// Weight of a new sample in the moving averages: about the last 20 jobs count.
const ALPHA: f64 = 0.05;

/// How many jobs to run at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Concurrency {
    /// Sized from the rate budget and the jobs' service time, at most `max`.
    Adaptive { max: usize },
    /// Exactly this many.
    Fixed(usize),
}

/// Little's law with a margin and a queue: the jobs to keep in flight so that `jobs_per_s`
/// finish per second when each holds its slot for `service_s`, between 1 and `max`.
pub fn jobs_in_flight(jobs_per_s: f64, service_s: f64, max: usize) -> usize {
    let max = max.max(1);
    if !jobs_per_s.is_finite() || !service_s.is_finite() {
        return max;
    }
    let n = (jobs_per_s.max(0.0) * (service_s.max(0.0) * MARGIN + QUEUE_S) + SPARE).ceil();
    (n as usize).clamp(1, max)
}

#[derive(Default)]
struct Estimates {
    /// Seconds a job holds its slot, not waiting for tokens.
    service_s: Option<f64>,
    /// Per endpoint: calls per job and the rate it is paced at.
    endpoints: HashMap<&'static str, (f64, Option<f64>)>,
    /// Finished jobs that updated `endpoints` (an endpoint a job did not call counts 0).
    samples: u32,
}

impl Estimates {
    /// The rate budget in jobs per second (infinite when no endpoint is paced).
    fn jobs_per_s(&self) -> f64 {
        self.endpoints
            .values()
            .filter_map(|(calls, rps)| Some(rps.as_ref()? / calls.max(1e-9)))
            .fold(f64::INFINITY, f64::min)
    }
}

/// Sizes the worker's concurrency; shared by every job of the worker.
pub struct Sizer {
    mode: Mutex<Concurrency>,
    estimates: Mutex<Estimates>,
}

impl Sizer {
    pub fn new(mode: Concurrency) -> Self {
        Self {
            mode: Mutex::new(mode),
            estimates: Mutex::new(Estimates::default()),
        }
    }

    pub fn set_mode(&self, mode: Concurrency) {
        *self.mode.lock().unwrap_or_else(|p| p.into_inner()) = mode;
    }

    pub fn mode(&self) -> Concurrency {
        *self.mode.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The jobs to run at once now.
    pub fn limit(&self) -> usize {
        match self.mode() {
            Concurrency::Fixed(n) => n.max(1),
            Concurrency::Adaptive { max } => {
                let e = self.estimates.lock().unwrap_or_else(|p| p.into_inner());
                match e.service_s {
                    None => INITIAL.min(max.max(1)),
                    Some(service_s) => jobs_in_flight(e.jobs_per_s(), service_s, max),
                }
            }
        }
    }

    /// A job finished after `elapsed`, its calls as its chain measured them. Jobs that made no
    /// call say nothing about the budget and are ignored.
    pub fn observe(&self, elapsed: Duration, chain: &ChainStats) {
        if chain.total_calls() == 0 {
            return;
        }
        let service = elapsed.saturating_sub(chain.paced).as_secs_f64();
        let mut e = self.estimates.lock().unwrap_or_else(|p| p.into_inner());
        let ewma = |old: f64, new: f64| old + ALPHA * (new - old);
        e.service_s = Some(e.service_s.map_or(service, |old| ewma(old, service)));
        let first = e.samples == 0;
        e.samples += 1;
        for (name, (calls, _)) in e.endpoints.iter_mut() {
            if !chain.calls.iter().any(|c| c.endpoint == *name) {
                *calls = ewma(*calls, 0.0);
            }
        }
        for c in &chain.calls {
            let calls = f64::from(c.calls);
            e.endpoints
                .entry(c.endpoint)
                .and_modify(|(avg, rps)| {
                    *avg = ewma(*avg, calls);
                    *rps = c.rps;
                })
                .or_insert_with(|| {
                    // An endpoint first seen now was called 0 times by the earlier jobs.
                    let avg = if first { calls } else { ALPHA * calls };
                    (avg, c.rps)
                });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prisma_client::chain::EndpointCalls;

    fn chain(paced_ms: u64, calls: &[(&'static str, u32, f64)]) -> ChainStats {
        ChainStats {
            calls: calls
                .iter()
                .map(|(endpoint, calls, rps)| EndpointCalls {
                    endpoint,
                    calls: *calls,
                    rps: Some(*rps),
                })
                .collect(),
            paced: Duration::from_millis(paced_ms),
        }
    }

    #[test]
    fn littles_law_with_a_margin_a_queue_and_bounds() {
        // 50 jobs/s × (0.4 s × 1.5 + 1 s of queue) + 2 = 82.
        assert_eq!(jobs_in_flight(50.0, 0.4, 100), 82);
        assert_eq!(jobs_in_flight(50.0, 0.4, 16), 16);
        assert_eq!(jobs_in_flight(10.0, 0.01, 100), 13);
        assert_eq!(jobs_in_flight(0.0, 5.0, 100), 2);
        assert_eq!(jobs_in_flight(f64::INFINITY, 0.1, 64), 64);
        assert_eq!(jobs_in_flight(5.0, 1.0, 0), 1);
    }

    #[test]
    fn starts_small_then_follows_latency_and_the_budget() {
        let sizer = Sizer::new(Concurrency::Adaptive { max: 256 });
        assert_eq!(sizer.limit(), INITIAL);
        // Four calls on four endpoints at 50/s each, 100 ms of network each: the job holds
        // its slot 0.4 s (its 2 s of waiting for tokens excluded): 50 × (0.4 × 1.5 + 1) + 2.
        let calls = [
            ("POST /status", 1, 50.0),
            ("POST /add", 1, 50.0),
            ("GET /account", 1, 50.0),
            ("GET /config", 1, 50.0),
        ];
        for _ in 0..200 {
            sizer.observe(Duration::from_millis(2400), &chain(2000, &calls));
        }
        assert_eq!(sizer.limit(), 82);
        // The same jobs on a fast network: fewer are needed, down to about the queue's
        // second of budget: 50 × (0.01 × 1.5 + 1) + 2.
        for _ in 0..200 {
            sizer.observe(Duration::from_millis(2010), &chain(2000, &calls));
        }
        assert_eq!(sizer.limit(), 53);
        // Two calls per job on one endpoint halve the budget of jobs per second.
        let sizer = Sizer::new(Concurrency::Adaptive { max: 256 });
        for _ in 0..200 {
            sizer.observe(
                Duration::from_millis(1000),
                &chain(0, &[("POST /status", 2, 100.0), ("POST /add", 1, 100.0)]),
            );
        }
        assert_eq!(sizer.limit(), 127); // 50 × (1.0 × 1.5 + 1) + 2
    }

    /// One job in ten meets a one-second `Retry-After`: the limit follows their mean, not
    /// the last job.
    #[test]
    fn bimodal_service_times_do_not_swing_the_limit() {
        let sizer = Sizer::new(Concurrency::Adaptive { max: 1024 });
        let calls = [("GET /account", 1, 100.0)];
        let mut limits = Vec::new();
        for n in 0..400 {
            let elapsed = if n % 10 == 0 { 1_010 } else { 10 };
            sizer.observe(Duration::from_millis(elapsed), &chain(0, &calls));
            if n >= 200 {
                limits.push(sizer.limit());
            }
        }
        let (low, high) = (limits.iter().min().unwrap(), limits.iter().max().unwrap());
        // The mean service time is 0.11 s: 100 × (0.11 × 1.5 + 1) + 2 = 119.
        assert!(
            (105..=135).contains(low) && (105..=135).contains(high),
            "{low}..{high}"
        );
    }

    #[test]
    fn the_maximum_caps_and_fixed_overrides() {
        let sizer = Sizer::new(Concurrency::Adaptive { max: 20 });
        for _ in 0..10 {
            sizer.observe(
                Duration::from_secs(10),
                &chain(0, &[("POST /status", 1, 200.0)]),
            );
        }
        assert_eq!(sizer.limit(), 20);
        sizer.set_mode(Concurrency::Fixed(3));
        assert_eq!(sizer.limit(), 3);
        // A job that made no call is not a sample.
        let fresh = Sizer::new(Concurrency::Adaptive { max: 20 });
        fresh.observe(Duration::from_secs(1), &ChainStats::default());
        assert_eq!(fresh.limit(), INITIAL);
    }
}
