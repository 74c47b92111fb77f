//! Client-side pacing: one token bucket per endpoint, mirroring the server's, with three queues.
//!
//! Bulk work should run at the server's limit, not bounce off it. A call takes a token of its
//! endpoint's bucket when one is there; otherwise it waits in one of three queues and is granted
//! a token as the bucket refills:
//!
//! * [`Priority::Retry`] — another attempt of a call that failed, first of all: at a later
//!   stage of a pipeline it would otherwise wait behind that stage's whole backlog.
//! * [`Priority::Continuing`] — later calls of a chain already under way (see
//!   [`crate::chain`]). Finishing started work first keeps a retried onboarding from drifting
//!   to the end of the run, where a second fault becomes the tail of the batch.
//! * [`Priority::Fresh`] — first attempts of new work. While started and fresh work both
//!   wait, at least one grant in [`FRESH_EVERY`] goes to a fresh call, so new work is never
//!   starved.
//!
//! Both started queues serve the **oldest chain first** (its birth number, [`next_birth`]),
//! not the first to arrive. A chain that a fault held back (a 503's `Retry-After`, a read-back
//! after an ambiguous create) arrives at the next stage behind younger chains: first come,
//! first served, it would wait out that stage's whole queue, and at the end of a run those
//! held-back chains are the tail.
//!
//! Tokens are granted only when the bucket holds one, so the client never sends faster than the
//! rate it knows. That rate is the server's own: configuration first, then
//! `X-RateLimit-Replenish-Rate` / `X-RateLimit-Burst-Capacity` as the server advertises them
//! (no fraction held back). One timer task per endpoint runs only while calls wait.
//!
//! Our bucket and the server's refill at the same rate, so what keeps a call from reaching an
//! empty server bucket is the *lead*: how many tokens the server holds beyond ours. Ours holds
//! [`JITTER_SLACK`]'s worth of tokens less than the server's burst (at least one), so a call may
//! reach the server that much earlier than the pace — network and scheduling jitter — without
//! a 429; the slack costs those tokens once, at the start, never the rate. The server corrects
//! the lead itself: a call it rejects takes no server token, so every 429 of its limiter grows
//! the lead by one. Its headers correct our count when it is certainly wrong:
//! `X-RateLimit-Remaining: R` means the server held less than `R + 1` tokens, so ours is lowered
//! to `R + 1`, and a 429 means less than one. Lowering to `R` (or to 0 on a 429) would throw
//! away the fraction of a token refilled since the last grant on every such answer: under a
//! 10% throttle mix that is ~2 s of a 30 s run, at every rate.
//!
//! The same header raises our count when the server certainly holds more: after the call
//! behind an answer the server held `R` tokens, and every call still open (granted, not yet
//! answered) may take one of them, so `R − open − slack` are ours to spend. Only the answer to
//! the newest call answered so far counts (a [`Ticket`] says which grant an answer belongs
//! to): an older call's answer arriving late describes a bucket that calls answered since have
//! drawn from. This is what hands over the server's burst at the start of a run (a bucket
//! sized from the defaults is a tenth of a real server's), and what gives back tokens a 429
//! took that the server's bucket did not lack: a 429 can come from elsewhere than the limiter
//! (a gateway, the emulator's injected faults), and the next answer says so.

use std::cmp::{Ordering as Order, Reverse};
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

#[derive(Clone, Debug)]
pub struct PacingConfig {
    pub enabled: bool,
    /// Rate for endpoints with no configured or learned limit.
    pub default_rps: f64,
    pub default_burst: u32,
    /// Configured limits by endpoint name (`POST /cas/v1/azure_account`).
    pub per_endpoint: HashMap<String, (f64, u32)>,
    /// Adopt the server's advertised limits.
    pub follow_server: bool,
    /// Fraction of the server's advertised rate to use (≤ 1; 1 by default: the server's
    /// headers and 429s correct the pace, so nothing needs to be held back).
    pub headroom: f64,
}

impl Default for PacingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            default_rps: 10.0,
            default_burst: 10,
            per_endpoint: HashMap::new(),
            follow_server: true,
            headroom: 1.0,
        }
    }
}

impl PacingConfig {
    /// The same rate everywhere (e.g. the emulator's `--rate-limit`).
    pub fn uniform(rps: f64, burst: u32) -> Self {
        Self {
            default_rps: rps,
            default_burst: burst,
            ..Self::default()
        }
    }

    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }
}

/// Which queue a call waits in when its endpoint has no token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    /// Another attempt of a call that failed: served before everything else, so a retried
    /// chain does not wait behind the backlog of first attempts at its own stage (at the end
    /// of a run that backlog is what a retried chain's tail is made of).
    Retry,
    /// A later call of a chain already under way.
    Continuing,
    /// The first attempt of new work.
    Fresh,
}

/// Birth numbers, for every pacer of the process: a chain takes one when it starts, a call
/// outside any chain when it queues.
static BIRTHS: AtomicU64 = AtomicU64::new(1);

/// A new birth number: later ones wait behind earlier ones in the started queues.
pub fn next_birth() -> u64 {
    BIRTHS.fetch_add(1, Ordering::Relaxed)
}

/// A started call waiting for its token: the oldest chain's goes first, then the first to
/// arrive.
struct Started {
    place: Reverse<(u64, u64)>,
    tx: oneshot::Sender<Ticket>,
}

impl PartialEq for Started {
    fn eq(&self, other: &Self) -> bool {
        self.place == other.place
    }
}

impl Eq for Started {}

impl PartialOrd for Started {
    fn partial_cmp(&self, other: &Self) -> Option<Order> {
        Some(self.cmp(other))
    }
}

impl Ord for Started {
    fn cmp(&self, other: &Self) -> Order {
        self.place.cmp(&other.place)
    }
}

/// While started work and fresh work both wait, one grant in this many goes to the fresh queue.
pub const FRESH_EVERY: u32 = 4;

/// How early (against the pace) a call may reach the server without finding its bucket empty:
/// our bucket holds this much of the rate less than the server's burst, and at least a token.
pub const JITTER_SLACK: Duration = Duration::from_millis(20);

/// A token counts as whole from here: refills are sums of float fractions, and a bucket a hair
/// under one token after exactly one token's time must not wait another round.
const WHOLE: f64 = 1.0 - 1e-9;

/// The least a waiting call's timer sleeps (the timer's resolution is coarser anyway).
const MIN_WAIT: Duration = Duration::from_micros(100);

/// The jitter slack in tokens at `rps`: at least one.
fn slack(rps: f64) -> f64 {
    (rps * JITTER_SLACK.as_secs_f64()).ceil().max(1.0)
}

/// Our bucket's capacity for a server burst at `rps`: the burst less the jitter slack.
fn capacity(rps: f64, burst: u32) -> f64 {
    (f64::from(burst) - slack(rps)).max(1.0)
}

/// Which grant an answer belongs to, for [`Pacer::observe`]: `Ticket::default()` is none
/// (an answer the pacer cannot place only ever lowers its count).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ticket(u64);

/// A token of [`Pacer::acquire`]. The call counts as open (its answer still to come) until the
/// grant is dropped: keep it until the attempt's answer has been read.
pub struct Grant {
    /// How long the call waited for its token.
    pub waited: Duration,
    pub ticket: Ticket,
    endpoint: Option<Shared>,
}

impl Drop for Grant {
    fn drop(&mut self) {
        if let Some(e) = self.endpoint.take() {
            let mut e = lock(&e);
            e.open = e.open.saturating_sub(1);
        }
    }
}

struct Endpoint {
    rps: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
    learned: bool,
    retries: BinaryHeap<Started>,
    continuing: BinaryHeap<Started>,
    fresh: VecDeque<oneshot::Sender<Ticket>>,
    /// Calls queued so far: the tie-break between calls of one chain.
    arrivals: u64,
    /// Grants to continuing calls in a row while a fresh call waited.
    streak: u32,
    /// A timer task grants tokens to the queues until they are empty.
    timer_armed: bool,
    /// Tokens that refilled into a full bucket: capacity nobody used (for benchmarks).
    wasted: f64,
    /// Grants so far (the last one's ticket).
    granted: u64,
    /// Grants not dropped yet: calls whose answer may still be on its way. (A call dropped in
    /// the instant between its grant and its wake-up never holds its `Grant` and stays
    /// counted: the count can only err high, which only makes raising more careful.)
    open: u64,
    /// The newest grant whose answer's `Remaining` was read.
    newest_answered: u64,
    /// Tokens given up on the server's word (a 429, a low `Remaining`).
    corrected: f64,
}

impl Endpoint {
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        let filled = self.tokens + elapsed * self.rps;
        if filled > self.capacity {
            self.wasted += filled - self.capacity.max(self.tokens);
        }
        self.tokens = filled.min(self.capacity);
        self.last = now;
    }

    /// Takes a token for a grant; its ticket is the new `granted`.
    fn take(&mut self) {
        self.tokens -= 1.0;
        self.granted += 1;
        self.open += 1;
    }

    fn waiting(&self) -> usize {
        self.retries.len() + self.continuing.len() + self.fresh.len()
    }

    /// Grants what the bucket holds to the queues, by priority. Returns when the next token
    /// is due if calls still wait.
    fn pump(&mut self, now: Instant) -> Option<Instant> {
        self.refill(now);
        loop {
            if self.waiting() == 0 {
                self.streak = 0;
                return None;
            }
            if self.tokens < WHOLE {
                // Never due "now": a refill too small to count (a float a hair under one
                // token) would let the timer wake at once, refill nothing and spin — in paused
                // time forever, since the clock never moves while it spins.
                let due = ((1.0 - self.tokens) / self.rps).max(MIN_WAIT.as_secs_f64());
                return Some(now + Duration::from_secs_f64(due));
            }
            let started_waits = !self.retries.is_empty() || !self.continuing.is_empty();
            let fresh_turn =
                !started_waits || (!self.fresh.is_empty() && self.streak + 1 >= FRESH_EVERY);
            let waiter = if fresh_turn {
                self.streak = 0;
                self.fresh.pop_front()
            } else {
                if !self.fresh.is_empty() {
                    self.streak += 1;
                }
                self.retries
                    .pop()
                    .or_else(|| self.continuing.pop())
                    .map(|s| s.tx)
            };
            // A waiter that gave up (its call was dropped) takes no token.
            if let Some(w) = waiter
                && w.send(Ticket(self.granted + 1)).is_ok()
            {
                self.take();
            }
        }
    }
}

/// One endpoint's bucket at a moment: see [`Pacer::snapshot`].
#[derive(Clone, Debug, PartialEq)]
pub struct EndpointSnapshot {
    pub rps: f64,
    /// Retries and later calls of started chains.
    pub queued_continuing: usize,
    pub queued_fresh: usize,
    /// Tokens granted so far.
    pub granted: u64,
    /// Tokens that refilled into a full bucket while nothing waited: the endpoint's capacity
    /// left unused (÷ `rps` = seconds of the rate lost). The bucket starts full, so time before
    /// the first call of a run and after its last count too.
    pub wasted_tokens: f64,
    /// Tokens our bucket gave up because the server's answer said it held fewer (a 429, a
    /// low `X-RateLimit-Remaining`): capacity lost to corrections, not to idleness.
    pub corrected_tokens: f64,
}

type Shared = Arc<Mutex<Endpoint>>;

pub struct Pacer {
    config: PacingConfig,
    endpoints: Mutex<HashMap<String, Shared>>,
}

fn lock(e: &Shared) -> std::sync::MutexGuard<'_, Endpoint> {
    e.lock().unwrap_or_else(|p| p.into_inner())
}

impl Pacer {
    pub fn new(config: PacingConfig) -> Self {
        Self {
            config,
            endpoints: Mutex::new(HashMap::new()),
        }
    }

    fn endpoint(&self, name: &str) -> Shared {
        let mut map = self.endpoints.lock().unwrap_or_else(|p| p.into_inner());
        // Look up before inserting: `entry` would allocate the key on every call.
        if let Some(e) = map.get(name) {
            return e.clone();
        }
        let (rps, burst) = self
            .config
            .per_endpoint
            .get(name)
            .copied()
            .unwrap_or((self.config.default_rps, self.config.default_burst));
        let rps = rps.max(0.001);
        let capacity = capacity(rps, burst);
        let e = Arc::new(Mutex::new(Endpoint {
            rps,
            capacity,
            tokens: capacity,
            last: Instant::now(),
            learned: false,
            retries: BinaryHeap::new(),
            continuing: BinaryHeap::new(),
            fresh: VecDeque::new(),
            arrivals: 0,
            streak: 0,
            timer_armed: false,
            wasted: 0.0,
            granted: 0,
            open: 0,
            newest_answered: 0,
            corrected: 0.0,
        }));
        map.insert(name.to_owned(), e.clone());
        e
    }

    /// Waits for a token of `endpoint`, a started call placed by its own arrival.
    pub async fn acquire(&self, endpoint: &str, priority: Priority) -> Grant {
        self.acquire_born(endpoint, priority, None).await
    }

    /// Waits for a token of `endpoint`; a started call of the chain born `born` (see
    /// [`next_birth`]) waits behind older chains' calls only (`None`: born now).
    pub async fn acquire_born(
        &self,
        endpoint: &str,
        priority: Priority,
        born: Option<u64>,
    ) -> Grant {
        if !self.config.enabled {
            return Grant {
                waited: Duration::ZERO,
                ticket: Ticket::default(),
                endpoint: None,
            };
        }
        let shared = self.endpoint(endpoint);
        let started = Instant::now();
        let rx = {
            let mut e = lock(&shared);
            e.refill(started);
            if e.waiting() == 0 && e.tokens >= WHOLE {
                e.take();
                let ticket = Ticket(e.granted);
                drop(e);
                return Grant {
                    waited: Duration::ZERO,
                    ticket,
                    endpoint: Some(shared),
                };
            }
            let (tx, rx) = oneshot::channel();
            e.arrivals += 1;
            let place = Reverse((born.unwrap_or_else(next_birth), e.arrivals));
            match priority {
                Priority::Retry => e.retries.push(Started { place, tx }),
                Priority::Continuing => e.continuing.push(Started { place, tx }),
                Priority::Fresh => e.fresh.push_back(tx),
            }
            if let Some(due) = e.pump(started)
                && !e.timer_armed
            {
                e.timer_armed = true;
                tokio::spawn(run_timer(shared.clone(), due));
            }
            rx
        };
        // The sender is dropped only after a grant or with the pacer itself.
        let ticket = rx.await.unwrap_or_default();
        Grant {
            waited: started.elapsed(),
            ticket,
            endpoint: (ticket != Ticket::default()).then_some(shared),
        }
    }

    /// The rate `endpoint` is paced at now (requests/s); `None` when pacing is off.
    pub fn rate(&self, endpoint: &str) -> Option<f64> {
        self.config
            .enabled
            .then(|| lock(&self.endpoint(endpoint)).rps)
    }

    /// Calls waiting for a token of `endpoint`.
    pub fn queued(&self, endpoint: &str) -> usize {
        lock(&self.endpoint(endpoint)).waiting()
    }

    /// What `endpoint`'s bucket has done so far (for benchmarks and diagnostics).
    pub fn snapshot(&self, endpoint: &str) -> EndpointSnapshot {
        let shared = self.endpoint(endpoint);
        let mut e = lock(&shared);
        e.refill(Instant::now());
        EndpointSnapshot {
            rps: e.rps,
            queued_continuing: e.retries.len() + e.continuing.len(),
            queued_fresh: e.fresh.len(),
            granted: e.granted,
            wasted_tokens: e.wasted,
            corrected_tokens: e.corrected,
        }
    }

    /// Learns the server's limits from the headers of the answer to `ticket`'s call. Returns
    /// the new (rps, burst) on a change.
    pub fn observe(
        &self,
        endpoint: &str,
        ticket: Ticket,
        replenish_rate: Option<f64>,
        burst: Option<u32>,
        remaining: Option<u32>,
    ) -> Option<(f64, u32)> {
        if !self.config.enabled || !self.config.follow_server {
            return None;
        }
        let rate = replenish_rate.filter(|r| *r > 0.0 && r.is_finite())?;
        let rps = rate * self.config.headroom.clamp(0.1, 1.0);
        let burst = burst.unwrap_or(1).max(1);
        let shared = self.endpoint(endpoint);
        let mut e = lock(&shared);
        let now = Instant::now();
        e.refill(now);
        let capacity = capacity(rps, burst);
        let changed =
            !e.learned || (e.rps - rps).abs() >= 1e-9 || (e.capacity - capacity).abs() >= 1e-9;
        e.rps = rps;
        e.capacity = capacity;
        e.learned = true;
        if let Some(remaining) = remaining.map(f64::from) {
            // The server held less than `remaining + 1` tokens: never more than that here.
            e.corrected += (e.tokens - (remaining + 1.0)).max(0.0);
            e.tokens = e.tokens.min(remaining + 1.0);
            if ticket.0 > e.newest_answered {
                // And at least `remaining` less the calls still open besides this one (see
                // the module docs), less the slack that keeps us behind it.
                e.newest_answered = ticket.0;
                let open = e.open.saturating_sub(1) as f64;
                e.tokens = e.tokens.max(remaining - open - slack(rps));
            }
        }
        e.tokens = e.tokens.min(capacity);
        // Tokens the answer handed over go to waiting calls now, not at the timer's next
        // wake-up (which stays armed while calls wait, and finds the queues as they are).
        e.pump(now);
        changed.then_some((rps, burst))
    }

    /// The server said 429: its bucket held less than one token, so ours holds at most one
    /// (the refill since). Not zero: that would discard the fraction of a token our bucket
    /// refilled since its last grant, on every 429 (see the module docs).
    pub fn drain(&self, endpoint: &str) {
        if !self.config.enabled {
            return;
        }
        let shared = self.endpoint(endpoint);
        let mut e = lock(&shared);
        e.refill(Instant::now());
        e.corrected += (e.tokens - 1.0).max(0.0);
        e.tokens = e.tokens.min(1.0);
    }
}

/// Grants tokens to `endpoint`'s queues as they become due, until no call waits.
async fn run_timer(shared: Shared, mut due: Instant) {
    loop {
        tokio::time::sleep_until(due).await;
        let mut e = lock(&shared);
        match e.pump(Instant::now()) {
            Some(next) => due = next,
            None => {
                e.timer_armed = false;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::atomic::{AtomicUsize, Ordering};

    fn pacer(rps: f64, burst: u32) -> Arc<Pacer> {
        Arc::new(Pacer::new(PacingConfig::uniform(rps, burst)))
    }

    /// Spawns a call that records (label, grant time) once it gets its token.
    fn call(
        p: &Arc<Pacer>,
        priority: Priority,
        label: &'static str,
        log: &Arc<Mutex<Vec<(&'static str, Instant)>>>,
    ) -> tokio::task::JoinHandle<()> {
        let (p, log) = (p.clone(), log.clone());
        tokio::spawn(async move {
            p.acquire("GET /x", priority).await;
            log.lock().unwrap().push((label, Instant::now()));
        })
    }

    /// How long a fresh call to `GET /x` waited for its token.
    async fn fresh(p: &Pacer) -> Duration {
        p.acquire("GET /x", Priority::Fresh).await.waited
    }

    /// Lets spawned tasks run up to their first wait, in spawn order.
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_are_granted_at_the_rate_after_the_burst() {
        // Server burst 4: our bucket holds 3.
        let p = pacer(10.0, 4);
        let t0 = Instant::now();
        let log = Arc::new(Mutex::new(Vec::new()));
        let calls: Vec<_> = (0..6)
            .map(|_| call(&p, Priority::Fresh, "f", &log))
            .collect();
        for c in calls {
            c.await.unwrap();
        }
        let at: Vec<f64> = log
            .lock()
            .unwrap()
            .iter()
            .map(|(_, t)| (*t - t0).as_secs_f64())
            .collect();
        let expected = [0.0, 0.0, 0.0, 0.1, 0.2, 0.3];
        for (got, want) in at.iter().zip(expected) {
            assert!((got - want).abs() < 0.002, "{at:?}");
        }
        // Other endpoints have their own bucket.
        assert_eq!(
            p.acquire("GET /y", Priority::Fresh).await.waited,
            Duration::ZERO
        );
    }

    #[tokio::test(start_paused = true)]
    async fn continuing_calls_go_before_fresh_ones_that_waited_longer() {
        let p = pacer(10.0, 2); // one token
        let log = Arc::new(Mutex::new(Vec::new()));
        p.acquire("GET /x", Priority::Fresh).await; // empties the bucket
        let mut calls = Vec::new();
        for _ in 0..2 {
            calls.push(call(&p, Priority::Fresh, "fresh", &log));
        }
        settle().await;
        calls.push(call(&p, Priority::Continuing, "retry", &log));
        settle().await;
        for c in calls {
            c.await.unwrap();
        }
        let order: Vec<_> = log.lock().unwrap().iter().map(|(l, _)| *l).collect();
        assert_eq!(order, ["retry", "fresh", "fresh"]);
    }

    #[tokio::test(start_paused = true)]
    async fn started_calls_of_older_chains_go_first_whatever_their_arrival() {
        let p = pacer(10.0, 2); // one token
        p.acquire("GET /x", Priority::Fresh).await; // empties the bucket
        let (older, younger) = (next_birth(), next_birth());
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut calls = Vec::new();
        // In arrival order: a younger chain's two calls, a call outside any chain, the younger
        // chain's retry, then the older chain's continuing call and its retry.
        for (label, priority, born) in [
            ("younger", Priority::Continuing, Some(younger)),
            ("younger", Priority::Continuing, Some(younger)),
            ("no chain", Priority::Continuing, None),
            ("younger retry", Priority::Retry, Some(younger)),
            ("older", Priority::Continuing, Some(older)),
            ("older retry", Priority::Retry, Some(older)),
        ] {
            let (p, log) = (p.clone(), log.clone());
            calls.push(tokio::spawn(async move {
                p.acquire_born("GET /x", priority, born).await;
                log.lock().unwrap().push(label);
            }));
            settle().await;
        }
        for c in calls {
            c.await.unwrap();
        }
        // Retries first, each queue oldest chain first; a call outside a chain is born when
        // it queues, so it follows the chains that were born before.
        assert_eq!(
            *log.lock().unwrap(),
            [
                "older retry",
                "younger retry",
                "older",
                "younger",
                "younger",
                "no chain"
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn fresh_calls_are_not_starved_by_a_flood_of_continuing_ones() {
        let p = pacer(100.0, 2);
        let log = Arc::new(Mutex::new(Vec::new()));
        p.acquire("GET /x", Priority::Fresh).await;
        let mut calls = Vec::new();
        for _ in 0..3 {
            calls.push(call(&p, Priority::Fresh, "fresh", &log));
        }
        settle().await;
        for _ in 0..40 {
            calls.push(call(&p, Priority::Continuing, "cont", &log));
        }
        settle().await;
        for c in calls {
            c.await.unwrap();
        }
        let order: Vec<_> = log.lock().unwrap().iter().map(|(l, _)| *l).collect();
        let fresh_at: Vec<usize> = order
            .iter()
            .enumerate()
            .filter(|(_, l)| **l == "fresh")
            .map(|(i, _)| i)
            .collect();
        // One grant in FRESH_EVERY goes to a waiting fresh call.
        let every = FRESH_EVERY as usize;
        assert_eq!(
            fresh_at,
            [every - 1, 2 * every - 1, 3 * every - 1],
            "{order:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn never_more_than_the_rate_allows_in_any_window() {
        // 20 req/s, server burst 5 (ours 4): in any window of length w the server admits at
        // most 5 + 20·w calls; a mix of priorities and dropped calls must stay within that.
        let p = pacer(20.0, 5);
        let grants = Arc::new(Mutex::new(Vec::new()));
        let mut calls = Vec::new();
        for i in 0..120 {
            let (p, grants) = (p.clone(), grants.clone());
            let priority = if i % 3 == 0 {
                Priority::Continuing
            } else {
                Priority::Fresh
            };
            calls.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis((i * 37 % 1000) as u64)).await;
                if i % 7 == 0 {
                    // Gives up while waiting: must not consume a token.
                    let _ = tokio::time::timeout(
                        Duration::from_millis(30),
                        p.acquire("GET /x", priority),
                    )
                    .await;
                    return;
                }
                p.acquire("GET /x", priority).await;
                grants.lock().unwrap().push(Instant::now());
            }));
        }
        for c in calls {
            c.await.unwrap();
        }
        let mut at = grants.lock().unwrap().clone();
        at.sort();
        assert!(at.len() > 90);
        for (i, start) in at.iter().enumerate() {
            for (j, end) in at.iter().enumerate().skip(i) {
                let window = (*end - *start).as_secs_f64();
                let allowed = 5.0 + 20.0 * window;
                assert!(
                    (j - i + 1) as f64 <= allowed + 1e-6,
                    "{} calls in {window:.3}s",
                    j - i + 1
                );
            }
        }
        // The run took the time the rate needs, not much more: ~(102 − 4) / 20 s.
        let span = (*at.last().unwrap() - *at.first().unwrap()).as_secs_f64();
        assert!(span < (at.len() as f64) / 20.0 + 0.1, "{span}");
    }

    #[tokio::test(start_paused = true)]
    async fn follows_the_server_and_drains_on_429() {
        let p = pacer(1000.0, 1000);
        let none = Ticket::default();
        assert_eq!(
            p.observe("GET /x", none, Some(10.0), Some(4), None),
            Some((10.0, 4))
        );
        assert_eq!(p.observe("GET /x", none, Some(10.0), Some(4), None), None);
        // Burst 4 at 10 req/s: our bucket holds 3; after a 429 it holds one.
        p.drain("GET /x");
        assert_eq!(fresh(&p).await, Duration::ZERO);
        let waited = fresh(&p).await;
        assert!(waited >= Duration::from_millis(99), "{waited:?}");
        // The server's remaining count R lowers ours to R + 1.
        let q = pacer(10.0, 10);
        q.observe("GET /x", none, Some(10.0), Some(10), Some(2));
        for _ in 0..3 {
            assert_eq!(fresh(&q).await, Duration::ZERO);
        }
        assert!(fresh(&q).await >= Duration::from_millis(99));
        assert_eq!(q.rate("GET /x"), Some(10.0));
        let off = Pacer::new(PacingConfig::disabled());
        assert_eq!(fresh(&off).await, Duration::ZERO);
        assert_eq!(off.rate("GET /x"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_servers_first_answer_hands_over_the_burst_it_holds() {
        // Defaults: 10 req/s, burst 10 (our bucket holds 9). Nine calls go at once; the first
        // answer says 50 req/s, burst 50, and 45 tokens left after it: the eight calls still
        // open take eight of those and one is the slack, so 36 more go at once, and the next
        // one waits.
        let p = Arc::new(Pacer::new(PacingConfig::default()));
        let mut open: Vec<Grant> = Vec::new();
        for _ in 0..9 {
            let grant = p.acquire("GET /x", Priority::Fresh).await;
            assert_eq!(grant.waited, Duration::ZERO);
            open.push(grant);
        }
        let first = open.remove(0);
        assert_eq!(
            p.observe("GET /x", first.ticket, Some(50.0), Some(50), Some(45)),
            Some((50.0, 50))
        );
        drop(first);
        for _ in 0..36 {
            assert_eq!(fresh(&p).await, Duration::ZERO);
        }
        let waited = fresh(&p).await;
        assert!(waited >= Duration::from_millis(19), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_answer_gives_back_what_a_429_took_and_a_late_one_does_not() {
        // 50 req/s, burst 50: our bucket holds 49. The first answer agrees with it.
        let p = pacer(50.0, 50);
        let first = p.acquire("GET /x", Priority::Fresh).await;
        p.observe("GET /x", first.ticket, Some(50.0), Some(50), Some(48));
        drop(first);
        // Two more calls; the later one meets a 429 without headers (a gateway's): our bucket
        // drains to one token, which the next call takes, and a continuing call waits.
        let slow = p.acquire("GET /x", Priority::Fresh).await;
        let throttled = p.acquire("GET /x", Priority::Fresh).await;
        p.drain("GET /x");
        drop(throttled);
        let next = p.acquire("GET /x", Priority::Fresh).await;
        assert_eq!(next.waited, Duration::ZERO);
        let waiter = {
            let p = p.clone();
            tokio::spawn(async move { p.acquire("GET /x", Priority::Continuing).await.waited })
        };
        settle().await;
        // The next call's answer: the server still held 45 after it (the 429 was not its
        // limiter's). The slow call is still open and one token is the slack: 43 are ours,
        // and the waiting call gets one of them at once, not at the timer's next tick.
        p.observe("GET /x", next.ticket, Some(50.0), Some(50), Some(45));
        drop(next);
        assert_eq!(waiter.await.unwrap(), Duration::ZERO);
        for _ in 0..42 {
            assert_eq!(fresh(&p).await, Duration::ZERO);
        }
        // The slow call's answer arrives last: its `Remaining` predates the next call's and
        // is not taken, however high.
        p.observe("GET /x", slow.ticket, Some(50.0), Some(50), Some(47));
        drop(slow);
        let waited = fresh(&p).await;
        assert!(waited >= Duration::from_millis(19), "{waited:?}");
        // Nor is an answer that cannot be placed: it only ever lowers the count.
        p.observe("GET /x", Ticket::default(), Some(50.0), Some(50), Some(49));
        let waited = fresh(&p).await;
        assert!(waited >= Duration::from_millis(19), "{waited:?}");
        assert_eq!(p.snapshot("GET /x").granted, 4 + 1 + 42 + 2);
    }

    #[test]
    fn the_slack_is_a_time_not_a_token() {
        // 20 ms of 200 req/s is 4 tokens; at 10 req/s it is less than one: one token.
        assert_eq!(capacity(200.0, 200), 196.0);
        assert_eq!(capacity(10.0, 10), 9.0);
        assert_eq!(capacity(1000.0, 5), 1.0);
        assert_eq!(capacity(10.0, 1), 1.0);
    }

    #[tokio::test(start_paused = true)]
    async fn answers_between_grants_do_not_slow_the_pace() {
        // 10 req/s, server burst 2 (our bucket holds 1). Each answer arrives 50 ms after its
        // grant, when our bucket has refilled half a token: all say `Remaining: 0` (the server
        // is near empty at saturation) and every other one is a 429. None of them may cost
        // that half token: in 5 s the bucket's 1 + 10/s × 5 s = 51 grants, no fewer.
        let p = pacer(10.0, 2);
        let t0 = Instant::now();
        let grants = Arc::new(Mutex::new(Vec::new()));
        let calls: Vec<_> = (0..80)
            .map(|i| {
                let (p, grants) = (p.clone(), grants.clone());
                tokio::spawn(async move {
                    let grant = p.acquire("GET /x", Priority::Fresh).await;
                    grants.lock().unwrap().push(Instant::now() - t0);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    p.observe("GET /x", grant.ticket, Some(10.0), Some(2), Some(0));
                    if i % 2 == 0 {
                        p.drain("GET /x");
                    }
                })
            })
            .collect();
        for c in calls {
            c.await.unwrap();
        }
        let in_5s = grants
            .lock()
            .unwrap()
            .iter()
            .filter(|t| t.as_secs_f64() <= 5.0 + 1e-3)
            .count();
        assert_eq!(in_5s, 51);
    }

    /// The server's token bucket, as the emulator keeps it.
    struct ServerBucket {
        rps: f64,
        burst: f64,
        tokens: f64,
        last: Option<Instant>,
    }

    impl ServerBucket {
        fn take(&mut self, now: Instant) -> bool {
            let elapsed = self.last.map_or(0.0, |l| (now - l).as_secs_f64());
            self.tokens = (self.tokens + elapsed * self.rps).min(self.burst);
            self.last = Some(now);
            let admitted = self.tokens >= 1.0;
            if admitted {
                self.tokens -= 1.0;
            }
            admitted
        }
    }

    /// `calls` calls at `rps` (server burst = rps), a rejected one retried at once as a
    /// continuing call. The first `rps + 50` calls (the burst and what follows it: new
    /// connections) take `1 + jitter` ms to reach the server, the later ones `1 + jitter × u`
    /// (u pseudo-random in [0, 1)): up to `jitter` ms earlier against the pace than the start.
    /// Returns (rejections, seconds from the first to the last admission).
    async fn against_a_server(rps: f64, calls: usize, jitter_ms: f64) -> (u32, f64) {
        let p = pacer(rps, rps as u32);
        let server = Arc::new(Mutex::new(ServerBucket {
            rps,
            burst: rps,
            tokens: rps,
            last: None,
        }));
        let rejected = Arc::new(AtomicUsize::new(0));
        let admitted = Arc::new(Mutex::new(Vec::new()));
        let tasks: Vec<_> = (0..calls)
            .map(|i| {
                let (p, server) = (p.clone(), server.clone());
                let (rejected, admitted) = (rejected.clone(), admitted.clone());
                tokio::spawn(async move {
                    let mut priority = Priority::Fresh;
                    for attempt in 0u64.. {
                        p.acquire("GET /x", priority).await;
                        // A fixed pseudo-random sequence (Weyl), so the test replays exactly.
                        let u = if i < rps as usize + 50 {
                            1.0
                        } else {
                            ((i as u64 * 7919 + attempt * 104_729) % 1000) as f64 / 1000.0
                        };
                        let latency = 1.0 + jitter_ms * u;
                        tokio::time::sleep(Duration::from_secs_f64(latency / 1000.0)).await;
                        let now = Instant::now();
                        if server.lock().unwrap().take(now) {
                            admitted.lock().unwrap().push(now);
                            return;
                        }
                        rejected.fetch_add(1, Ordering::SeqCst);
                        priority = Priority::Continuing;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let at = admitted.lock().unwrap().clone();
        let first = *at.iter().min().unwrap();
        let last = *at.iter().max().unwrap();
        (
            rejected.load(Ordering::SeqCst) as u32,
            (last - first).as_secs_f64(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn jitter_within_the_slack_never_meets_a_429() {
        // 200 req/s: 15 ms of jitter is within the 20 ms slack (one token, 5 ms, was not).
        let (rejected, span) = against_a_server(200.0, 2_000, 15.0).await;
        assert_eq!(rejected, 0);
        // At the rate: (2,000 − 196) / 200 s after the burst, plus the jitter.
        assert!(span < (2_000.0 - 196.0) / 200.0 + 0.05, "{span}");
    }

    #[tokio::test(start_paused = true)]
    async fn jitter_beyond_the_slack_is_corrected_by_the_servers_429s() {
        // 60 ms of jitter at 200 req/s: each 429 leaves a token with the server, so the
        // rejections stop once they cover the 40 ms past the slack (~8 tokens) — they do not
        // recur through the run, and the pace holds.
        let (rejected, span) = against_a_server(200.0, 2_000, 60.0).await;
        assert!(rejected > 0 && rejected <= 20, "{rejected}");
        assert!(
            span < (2_000.0 - 196.0 + f64::from(rejected)) / 200.0 + 0.1,
            "{span}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_bucket_a_hair_under_a_token_never_makes_the_timer_spin() {
        // Refills are float sums: after one token's time a bucket may hold 1 − 1e-12. The old
        // pump answered "due now" for that (1e-12 / rps rounds to 0 ns), the timer woke at
        // once, refilled nothing and spun: in paused time forever (the pipeline test hung).
        let p = pacer(50.0, 50);
        let shared = p.endpoint("GET /x");
        let (tx, _rx) = oneshot::channel();
        let now = Instant::now();
        let mut e = lock(&shared);
        e.fresh.push_back(tx);
        e.tokens = 1.0 - 1e-12;
        e.last = now;
        // Counted as a whole token: granted, nothing left waiting.
        assert_eq!(e.pump(now), None);
        let (tx, _rx) = oneshot::channel();
        e.fresh.push_back(tx);
        e.tokens = 1.0 - 1e-6;
        // Not whole: it waits, but never for nothing.
        let due = e.pump(now).expect("still waiting");
        assert!(due - now >= MIN_WAIT, "{:?}", due - now);
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_goes_before_later_calls_that_waited_longer() {
        let p = pacer(10.0, 2); // one token
        let log = Arc::new(Mutex::new(Vec::new()));
        p.acquire("GET /x", Priority::Fresh).await; // empties the bucket
        let mut calls = Vec::new();
        for _ in 0..3 {
            calls.push(call(&p, Priority::Continuing, "next", &log));
        }
        settle().await;
        calls.push(call(&p, Priority::Retry, "retry", &log));
        settle().await;
        for c in calls {
            c.await.unwrap();
        }
        let order: Vec<_> = log.lock().unwrap().iter().map(|(l, _)| *l).collect();
        assert_eq!(order, ["retry", "next", "next", "next"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_bucket_counts_the_capacity_nobody_used() {
        // 10 req/s, server burst 2: our bucket holds one token.
        let p = pacer(10.0, 2);
        p.acquire("GET /x", Priority::Fresh).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Refilled to exactly full: nothing lost yet.
        let s = p.snapshot("GET /x");
        assert!(s.wasted_tokens < 1e-9, "{s:?}");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let s = p.snapshot("GET /x");
        assert!((s.wasted_tokens - 15.0).abs() < 1e-6, "{s:?}");
        assert_eq!((s.granted, s.queued_continuing, s.queued_fresh), (1, 0, 0));
        // A waiting call keeps the bucket from filling: no more waste while it waits.
        p.acquire("GET /x", Priority::Fresh).await;
        let waiter = {
            let p = p.clone();
            tokio::spawn(async move { p.acquire("GET /x", Priority::Continuing).await })
        };
        waiter.await.unwrap();
        let s = p.snapshot("GET /x");
        assert!((s.wasted_tokens - 15.0).abs() < 1e-6, "{s:?}");
        assert_eq!(s.granted, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn the_timer_stops_when_nobody_waits() {
        let p = pacer(10.0, 2);
        let served = Arc::new(AtomicUsize::new(0));
        let mut calls = Vec::new();
        for _ in 0..3 {
            let (p, served) = (p.clone(), served.clone());
            calls.push(tokio::spawn(async move {
                p.acquire("GET /x", Priority::Fresh).await;
                served.fetch_add(1, Ordering::SeqCst);
            }));
        }
        for c in calls {
            c.await.unwrap();
        }
        assert_eq!(served.load(Ordering::SeqCst), 3);
        assert_eq!(p.queued("GET /x"), 0);
        assert!(!lock(&p.endpoint("GET /x")).timer_armed);
    }
}
