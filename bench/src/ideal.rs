//! What an ideal client reaches under `client-bench`'s fault mix: a discrete-event model in
//! simulated time, the ceiling the measured efficiencies compare with.
//!
//! The model: N chains of K calls, one endpoint per call, every endpoint paced by the
//! emulator's token bucket (`rate` a second, a burst of `rate`), faults drawn after the limiter
//! as the emulator draws them (docs/emulator.md §6): one roll for 429 / 503 / reset, an
//! independent one for commit-then-drop, which applies to creates that succeeded. The second
//! call is the create: when its answer is lost (a reset, a commit-then-drop) it is read back on
//! the third call's endpoint, as our client does, and sent again if the read-back finds nothing.
//!
//! The client is ideal: no CPU, no round trip, no start or exit, a pacer that sends whenever a
//! call waits and the server has a token; retries first, then started chains oldest first,
//! then fresh work; a 429 retried at the next token, a 503 exactly its `Retry-After` later.
//! What such a client still loses is what the faults cost: the tail after the last call the
//! bound counts, where a 503 in the last second (or two in a row) lands in the wall.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// The fault mix, as `client-bench` sets it on the emulator.
#[derive(Clone, Copy, Debug)]
pub struct FaultMix {
    pub p_429: f64,
    pub p_503: f64,
    pub p_reset: f64,
    pub p_commit_then_drop: f64,
    pub retry_after_s: f64,
}

impl FaultMix {
    /// `client-bench`'s mix: 10 % 429, 3 % 503 with `Retry-After: 1`, 1 % reset, 1 %
    /// commit-then-drop.
    pub const BENCH: Self = Self {
        p_429: 0.10,
        p_503: 0.03,
        p_reset: 0.01,
        p_commit_then_drop: 0.01,
        retry_after_s: 1.0,
    };

    /// No faults at all.
    pub const NONE: Self = Self {
        p_429: 0.0,
        p_503: 0.0,
        p_reset: 0.0,
        p_commit_then_drop: 0.0,
        retry_after_s: 1.0,
    };
}

/// One scenario of the model.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    /// Requests per second per endpoint (also the burst).
    pub rate: u32,
    pub chains: u32,
    /// Calls per chain, at least 3 (status check, create, read back, …).
    pub calls: usize,
    /// Seconds between sending a call and its reaching the limiter (the emulator's
    /// `--latency-ms` sleeps before it); the answer comes back at once.
    pub latency_s: f64,
}

/// One run's result, in seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Run {
    pub wall_s: f64,
    /// The bench's bound: max over endpoints of `(admitted − burst) / rate`.
    pub bound_s: f64,
}

impl Run {
    pub fn efficiency(&self) -> f64 {
        if self.wall_s > 0.0 {
            self.bound_s / self.wall_s
        } else {
            1.0
        }
    }
}

/// A deterministic pseudo-random stream (SplitMix64), so every seed replays exactly.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What a waiting call is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Call,
    /// A create's read-back that will find the account (committed, answer lost).
    ReadBackPresent,
    /// A create's read-back that will find nothing (reset before the handler).
    ReadBackAbsent,
}

/// Queue classes at an endpoint, served in this order.
const RETRY: u8 = 0;
const STARTED: u8 = 1;
const FRESH: u8 = 2;
const CREATE: usize = 1;
const READ_BACK: usize = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Waiting {
    class: u8,
    /// The chain's number: the oldest chain first within a class.
    chain: u32,
    /// Arrival order, to break ties.
    seq: u64,
    stage: usize,
    kind: Kind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// A call reaches an endpoint's limiter.
    Arrive { endpoint: usize, waiting: Waiting },
    /// An endpoint may serve its best waiting call.
    Serve { endpoint: usize },
}

/// Simulated time in nanoseconds (integers order exactly).
fn ns(seconds: f64) -> u64 {
    (seconds * 1e9).round() as u64
}

/// The model's state during one run.
struct Model {
    rate: f64,
    latency: u64,
    retry_after: u64,
    calls: usize,
    tokens: Vec<f64>,
    refilled_at: Vec<u64>,
    admitted: Vec<u64>,
    waiting: Vec<BinaryHeap<Reverse<Waiting>>>,
    /// When each endpoint's one pending `Serve` is due, if it has one.
    serve_at: Vec<Option<u64>>,
    events: BinaryHeap<Reverse<(u64, u64, Event)>>,
    seq: u64,
    last_done: u64,
}

impl Model {
    fn at(&mut self, time: u64, event: Event) {
        self.seq += 1;
        self.events.push(Reverse((time, self.seq, event)));
    }

    /// A call sent at `time`: it reaches `endpoint`'s limiter one latency later.
    fn send(
        &mut self,
        time: u64,
        endpoint: usize,
        class: u8,
        chain: u32,
        stage: usize,
        kind: Kind,
    ) {
        let waiting = Waiting {
            class,
            chain,
            seq: 0,
            stage,
            kind,
        };
        self.at(time + self.latency, Event::Arrive { endpoint, waiting });
    }

    fn serve_no_later_than(&mut self, time: u64, endpoint: usize) {
        if self.serve_at[endpoint].is_none_or(|due| time < due) {
            self.serve_at[endpoint] = Some(time);
            self.at(time, Event::Serve { endpoint });
        }
    }

    /// `endpoint` serves its best waiting call at `now`, if its bucket holds a token.
    fn serve(&mut self, now: u64, endpoint: usize, mix: &FaultMix, dice: &mut Dice) {
        if self.serve_at[endpoint] != Some(now) {
            return; // superseded by an earlier serve
        }
        self.serve_at[endpoint] = None;
        let Some(&Reverse(call)) = self.waiting[endpoint].peek() else {
            return;
        };
        let elapsed = (now - self.refilled_at[endpoint]) as f64 / 1e9;
        self.tokens[endpoint] = (self.tokens[endpoint] + elapsed * self.rate).min(self.rate);
        self.refilled_at[endpoint] = now;
        if self.tokens[endpoint] < 1.0 - 1e-9 {
            let wait = (1.0 - self.tokens[endpoint]) / self.rate;
            self.serve_no_later_than(now + ns(wait).max(1), endpoint);
            return;
        }
        self.tokens[endpoint] -= 1.0;
        self.admitted[endpoint] += 1;
        self.waiting[endpoint].pop();
        self.serve_no_later_than(now, endpoint);
        let (chain, stage) = (call.chain, call.stage);
        let roll = dice.next();
        let dropped = dice.next() < mix.p_commit_then_drop;
        let is_create = call.kind == Kind::Call && stage == CREATE;
        if roll < mix.p_429 {
            self.send(now, endpoint, RETRY, chain, stage, call.kind);
        } else if roll < mix.p_429 + mix.p_503 {
            self.send(
                now + self.retry_after,
                endpoint,
                RETRY,
                chain,
                stage,
                call.kind,
            );
        } else if roll < mix.p_429 + mix.p_503 + mix.p_reset {
            // Reset before the handler: a create may have been processed, so it is read back
            // (and found absent); anything else is simply sent again.
            if is_create {
                self.send(now, READ_BACK, STARTED, chain, stage, Kind::ReadBackAbsent);
            } else {
                self.send(now, endpoint, RETRY, chain, stage, call.kind);
            }
        } else if is_create && dropped {
            self.send(now, READ_BACK, STARTED, chain, stage, Kind::ReadBackPresent);
        } else if call.kind == Kind::ReadBackAbsent {
            self.send(now, stage, STARTED, chain, stage, Kind::Call);
        } else if stage + 1 < self.calls {
            self.send(now, stage + 1, STARTED, chain, stage + 1, Kind::Call);
        } else {
            self.last_done = self.last_done.max(now);
        }
    }
}

/// One seeded run of `scenario` under `mix`.
pub fn run(scenario: &Scenario, mix: &FaultMix, seed: u64) -> Run {
    assert!(
        scenario.calls >= 3,
        "a chain is at least status, create, read back"
    );
    let rate = f64::from(scenario.rate);
    let endpoints = scenario.calls;
    let mut model = Model {
        rate,
        latency: ns(scenario.latency_s),
        retry_after: ns(mix.retry_after_s),
        calls: scenario.calls,
        tokens: vec![rate; endpoints],
        refilled_at: vec![0; endpoints],
        admitted: vec![0; endpoints],
        waiting: vec![BinaryHeap::new(); endpoints],
        serve_at: vec![None; endpoints],
        events: BinaryHeap::new(),
        seq: 0,
        last_done: 0,
    };
    let mut dice = Dice(seed);
    for chain in 0..scenario.chains {
        model.send(0, 0, FRESH, chain, 0, Kind::Call);
    }
    while let Some(Reverse((now, seq, event))) = model.events.pop() {
        match event {
            Event::Arrive {
                endpoint,
                mut waiting,
            } => {
                waiting.seq = seq;
                model.waiting[endpoint].push(Reverse(waiting));
                model.serve_no_later_than(now, endpoint);
            }
            Event::Serve { endpoint } => model.serve(now, endpoint, mix, &mut dice),
        }
    }
    let bound_s = model
        .admitted
        .iter()
        .map(|&a| crate::endpoint_bound_s(a, rate))
        .fold(0.0, f64::max);
    Run {
        wall_s: model.last_done as f64 / 1e9,
        bound_s,
    }
}

/// The efficiencies of `seeds` runs (seeds 0, 1, …), sorted, with `overhead_s` added to each
/// wall (a CLI's start and exit), and the mean tail (wall − bound).
pub fn spread(scenario: &Scenario, mix: &FaultMix, seeds: u64, overhead_s: f64) -> Spread {
    let runs: Vec<Run> = (0..seeds)
        .map(|seed| {
            let r = run(scenario, mix, seed);
            Run {
                wall_s: r.wall_s + overhead_s,
                bound_s: r.bound_s,
            }
        })
        .collect();
    let mut efficiencies: Vec<f64> = runs.iter().map(Run::efficiency).collect();
    efficiencies.sort_by(f64::total_cmp);
    let tail_s_mean =
        runs.iter().map(|r| r.wall_s - r.bound_s).sum::<f64>() / runs.len().max(1) as f64;
    Spread {
        efficiencies,
        tail_s_mean,
    }
}

/// Many seeded runs of one scenario.
#[derive(Clone, Debug)]
pub struct Spread {
    /// Sorted, lowest first.
    pub efficiencies: Vec<f64>,
    pub tail_s_mean: f64,
}

impl Spread {
    pub fn mean(&self) -> f64 {
        self.efficiencies.iter().sum::<f64>() / self.efficiencies.len().max(1) as f64
    }

    /// The tenth percentile (nearest rank).
    pub fn p10(&self) -> f64 {
        self.efficiencies
            .get(self.efficiencies.len() / 10)
            .copied()
            .unwrap_or(0.0)
    }

    /// The share of runs at or above `target`.
    pub fn share_at_or_above(&self, target: f64) -> f64 {
        let hits = self.efficiencies.iter().filter(|&&e| e >= target).count();
        hits as f64 / self.efficiencies.len().max(1) as f64
    }

    /// The JSON summary the benches print.
    pub fn summary(&self, target: f64) -> serde_json::Value {
        serde_json::json!({
            "efficiency_mean": crate::round(self.mean()),
            "efficiency_p10": crate::round(self.p10()),
            "efficiency_min": crate::round(self.efficiencies.first().copied().unwrap_or(0.0)),
            "efficiency_max": crate::round(self.efficiencies.last().copied().unwrap_or(0.0)),
            "tail_s_mean": crate::round(self.tail_s_mean),
            "target": target,
            "share_at_or_above_target": crate::round(self.share_at_or_above(target)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BENCH_200: Scenario = Scenario {
        rate: 200,
        chains: 6_200,
        calls: 3,
        latency_s: 0.0,
    };

    #[test]
    fn with_no_faults_the_ideal_client_ends_on_the_bound() {
        let r = run(&BENCH_200, &FaultMix::NONE, 7);
        // 6,200 calls per endpoint, 200 of them from the burst: 30 s, and not a tick more.
        assert!((r.bound_s - 30.0).abs() < 1e-9, "{r:?}");
        assert!((r.wall_s - 30.0).abs() < 1e-6, "{r:?}");
    }

    #[test]
    fn latency_delays_the_start_and_each_call_of_the_last_chain() {
        let scenario = Scenario {
            latency_s: 0.1,
            ..BENCH_200
        };
        let r = run(&scenario, &FaultMix::NONE, 7);
        assert!((r.bound_s - 30.0).abs() < 1e-9, "{r:?}");
        // The first call reaches the limiter 0.1 s late, and the last chain's two later calls
        // 0.1 s each after the one before.
        assert!((r.wall_s - 30.3).abs() < 1e-6, "{r:?}");
    }

    #[test]
    fn the_fault_mix_costs_a_tail_that_grows_with_the_rate_and_replays_by_seed() {
        let at = |rate: u32| Scenario {
            rate,
            chains: rate * 31,
            ..BENCH_200
        };
        let slow = spread(&at(10), &FaultMix::BENCH, 20, 0.0);
        let fast = spread(&at(200), &FaultMix::BENCH, 20, 0.0);
        assert!(fast.efficiencies.iter().all(|&e| e < 1.0), "{fast:?}");
        assert!(slow.tail_s_mean < fast.tail_s_mean, "{slow:?} {fast:?}");
        // Every call admitted counts in the bound, so the faults lengthen it past 30 s.
        let r = run(&at(200), &FaultMix::BENCH, 3);
        assert!(r.bound_s > 33.0 && r.wall_s > r.bound_s, "{r:?}");
        assert_eq!(r, run(&at(200), &FaultMix::BENCH, 3));
        // An overhead adds to every wall.
        let with = spread(&at(200), &FaultMix::BENCH, 20, 0.4);
        assert!((with.tail_s_mean - fast.tail_s_mean - 0.4).abs() < 1e-9);
    }
}
