//! Login throttling: at most `max_failures` failed logins per (user name, client address) in a
//! sliding `window`; past that the pair is refused (even with the right password) until the
//! oldest failure leaves the window. A success clears the pair.
//!
//! In memory, per process: a restart or another replica starts afresh (documented limit).
//! The table is bounded: pairs with no failure in the window are dropped as it grows.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct LoginThrottle {
    max_failures: usize,
    window: Duration,
    failures: Mutex<HashMap<(String, IpAddr), VecDeque<Instant>>>,
}

const PRUNE_ABOVE: usize = 10_000;

impl LoginThrottle {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures: max_failures.max(1) as usize,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn key(user: &str, ip: IpAddr) -> (String, IpAddr) {
        (user.trim().to_lowercase(), ip)
    }

    /// `Some(wait)` when the pair is locked out.
    pub fn check(&self, user: &str, ip: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let list = map.get_mut(&Self::key(user, ip))?;
        while list
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            list.pop_front();
        }
        (list.len() >= self.max_failures).then(|| {
            let oldest = list.front().copied().unwrap_or(now);
            self.window.saturating_sub(now.duration_since(oldest))
        })
    }

    pub fn failed(&self, user: &str, ip: IpAddr) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > PRUNE_ABOVE {
            let window = self.window;
            map.retain(|_, l| l.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        let list = map.entry(Self::key(user, ip)).or_default();
        list.push_back(now);
        while list.len() > self.max_failures {
            list.pop_front();
        }
    }

    pub fn succeeded(&self, user: &str, ip: IpAddr) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&Self::key(user, ip));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_the_pair_only() {
        let t = LoginThrottle::new(5, Duration::from_secs(60));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..4 {
            t.failed("Alice", ip);
            assert!(t.check("alice", ip).is_none());
        }
        t.failed("alice", ip);
        let wait = t.check("ALICE", ip).expect("locked");
        assert!(wait <= Duration::from_secs(60) && wait > Duration::from_secs(50));
        assert!(t.check("alice", other).is_none());
        assert!(t.check("bob", ip).is_none());
        t.succeeded("alice", ip);
        assert!(t.check("alice", ip).is_none());
    }

    #[test]
    fn failures_leave_the_window() {
        let t = LoginThrottle::new(2, Duration::from_millis(30));
        let ip: IpAddr = "::1".parse().unwrap();
        t.failed("a", ip);
        t.failed("a", ip);
        assert!(t.check("a", ip).is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(t.check("a", ip).is_none());
    }
}
