//! The loop every API call of every platform runs: pace → attempt → classify → (wait and try
//! again | authenticate again and replay once | stop).
//!
//! The client supplies one attempt (build the request with fresh authentication, send it,
//! classify the answer into a [`Verdict`]); this loop owns the rest: the token of the
//! endpoint's bucket (in the chain's priority), the per-call attempt budget and deadline, the
//! jittered delay or the server's `Retry-After`, and the retry events.

use std::time::{Duration, Instant};

use crate::chain;
use crate::events::HttpEvent;
use crate::ratelimit::{Pacer, Ticket};
use crate::retry::RetryPolicy;

/// What one attempt came to.
pub enum Verdict<T, E> {
    Done(T),
    /// Worth another attempt, after the server's hint if it gave one.
    Retry {
        error: E,
        retry_after: Option<Duration>,
    },
    /// Authenticate again and send once more at once (a Prisma session the server no longer
    /// knows). Not counted as an attempt; a second one in the same call is final.
    Replay(E),
    Fail(E),
}

/// Why a call stopped without an answer.
#[derive(Debug)]
pub enum Failure<E> {
    /// An attempt failed in a way another attempt would not fix.
    Final(E),
    /// The call's attempt budget or deadline ran out; `last` is the last attempt's error.
    Exhausted {
        attempts: u32,
        elapsed: Duration,
        last: E,
    },
}

/// One attempt as the client's attempt function gets it.
#[derive(Clone, Copy, Debug)]
pub struct Attempt {
    /// 1 for the first attempt of the call.
    pub number: u32,
    /// The pacer's grant this attempt holds: give it to [`crate::transport::learn_limits`]
    /// with the answer's headers. The grant stays open until the attempt returns.
    pub ticket: Ticket,
}

/// What the loop needs besides the attempt itself.
pub struct Budget<'a> {
    pub endpoint: &'static str,
    pub pacer: &'a Pacer,
    pub policy: &'a RetryPolicy,
}

/// Runs a call to completion under its own attempt budget and deadline. `attempt` gets the
/// attempt's number and pacer ticket; `reason` words an error for the retry event; `emit`
/// hears every retry.
///
/// `attempt` returns a future per attempt; capture references (`let client = &self;` then
/// `move |n| async move { … }`) rather than using an async closure, so the call's future stays
/// `Send` for spawned tasks.
pub async fn run<T, E, Fut>(
    budget: Budget<'_>,
    emit: &(dyn Fn(HttpEvent) + Send + Sync),
    reason: impl Fn(&E) -> String,
    mut attempt: impl FnMut(Attempt) -> Fut,
) -> Result<T, Failure<E>>
where
    Fut: std::future::Future<Output = Verdict<T, E>>,
{
    let Budget {
        endpoint,
        pacer,
        policy,
    } = budget;
    let started = Instant::now();
    let mut n = 0u32;
    let mut replayed = false;
    loop {
        n += 1;
        let grant = chain::acquire(pacer, endpoint, n).await;
        chain::record(endpoint, grant.waited, || pacer.rate(endpoint));
        let verdict = attempt(Attempt {
            number: n,
            ticket: grant.ticket,
        })
        .await;
        // The answer is read: the call no longer counts as open for the pacer.
        drop(grant);
        let (error, retry_after) = match verdict {
            Verdict::Done(t) => return Ok(t),
            Verdict::Fail(e) => return Err(Failure::Final(e)),
            Verdict::Replay(e) if replayed => return Err(Failure::Final(e)),
            Verdict::Replay(_) => {
                replayed = true;
                n -= 1;
                continue;
            }
            Verdict::Retry { error, retry_after } => (error, retry_after),
        };
        let delay = policy.delay(n, retry_after);
        let elapsed = started.elapsed();
        if n >= policy.max_attempts || elapsed + delay > policy.call_deadline {
            return Err(Failure::Exhausted {
                attempts: n,
                elapsed,
                last: error,
            });
        }
        let reason = reason(&error);
        let delay_ms = delay.as_millis() as u64;
        tracing::debug!(endpoint, attempt = n, %reason, delay_ms, "retrying");
        emit(HttpEvent::Retry {
            endpoint: endpoint.to_owned(),
            attempt: n,
            reason,
            delay_ms,
        });
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::ratelimit::PacingConfig;

    fn fast() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            ..RetryPolicy::default()
        }
    }

    #[tokio::test]
    async fn retries_until_done_and_reports_each_retry() {
        let pacer = Pacer::new(PacingConfig::disabled());
        let policy = fast();
        let events = Mutex::new(Vec::new());
        let emit = |e: HttpEvent| events.lock().unwrap().push(e);
        let out: Result<u32, Failure<&str>> = run(
            Budget {
                endpoint: "POST /x",
                pacer: &pacer,
                policy: &policy,
            },
            &emit,
            |e: &&str| e.to_string(),
            |a: Attempt| async move {
                if a.number < 3 {
                    Verdict::Retry {
                        error: "503",
                        retry_after: None,
                    }
                } else {
                    Verdict::Done(a.number)
                }
            },
        )
        .await;
        assert_eq!(out.unwrap(), 3);
        let events = events.lock().unwrap();
        assert_eq!(events.len(), 2);
        assert!(
            matches!(&events[1], HttpEvent::Retry { attempt: 2, reason, .. } if reason == "503")
        );
    }

    #[tokio::test]
    async fn the_budget_ends_a_call_and_a_replay_happens_once() {
        let pacer = Pacer::new(PacingConfig::disabled());
        let policy = fast();
        let emit = |_: HttpEvent| {};
        let out: Result<(), _> = run(
            Budget {
                endpoint: "POST /x",
                pacer: &pacer,
                policy: &policy,
            },
            &emit,
            |_: &u32| String::new(),
            |a: Attempt| async move {
                Verdict::Retry {
                    error: a.number,
                    retry_after: None,
                }
            },
        )
        .await;
        assert!(matches!(
            out,
            Err(Failure::Exhausted {
                attempts: 4,
                last: 4,
                ..
            })
        ));
        let calls = std::sync::atomic::AtomicU32::new(0);
        let out: Result<(), _> = run(
            Budget {
                endpoint: "POST /x",
                pacer: &pacer,
                policy: &policy,
            },
            &emit,
            |_: &u32| String::new(),
            |a: Attempt| {
                calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async move { Verdict::Replay(a.number) }
            },
        )
        .await;
        // The replay does not count as an attempt: both tries were attempt 1.
        assert!(matches!(out, Err(Failure::Final(1))));
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
