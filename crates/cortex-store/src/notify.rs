//! Change notices for jobs across processes: PostgreSQL `LISTEN/NOTIFY`.
//!
//! Replicas on one PostgreSQL database each run their own event bus; a job's live events reach
//! only the process that runs it. So that a stream on replica A follows a job running on
//! replica B without polling, every event append and every change of a job's state sends a
//! notice on the channel [`CHANNEL`] in the same statement or right after its commit
//! (PostgreSQL delivers a notice only once its transaction commits, so a notice always names
//! something a reader can already see). The payload is `<job id>:<seq>` for an event and
//! `<job id>` for a state change: never the event itself (notices are capped at 8,000 bytes).
//!
//! Each process listens on one connection of its pool, started by the first
//! [`Store::watch_job`](crate::Store::watch_job), and hands each notice to the [`JobWatch`]es
//! of that job. A watch coalesces: it remembers the highest seq announced, whether the state
//! changed and whether notices may have been lost since it was last read. Notices are lost
//! while the listening connection is down; when it comes back every watch is told
//! ([`JobChanges::missed`]) so its reader looks at the store once.
//!
//! SQLite has no notices: its watches never fire and say so ([`JobWatch::pushed`] is `false`);
//! readers keep polling there (a SQLite file is shared only by processes on one host).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::Notify;

use crate::JobId;

/// The PostgreSQL channel of job change notices.
pub const CHANNEL: &str = "cortex_job_changes";

/// What happened to a watched job since its watch was last read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobChanges {
    /// The highest event seq announced, if any event was.
    pub event_seq: Option<i64>,
    /// The job's state (or cancel flag) changed.
    pub state: bool,
    /// Notices may have been lost (the listening connection was down): look at the store.
    pub missed: bool,
}

impl JobChanges {
    fn merge(&mut self, other: JobChanges) {
        self.event_seq = self.event_seq.max(other.event_seq);
        self.state |= other.state;
        self.missed |= other.missed;
    }

    fn is_empty(&self) -> bool {
        *self == JobChanges::default()
    }
}

/// One watcher's slot: what it has not read yet, and its wake-up.
#[derive(Default)]
struct Slot {
    pending: Mutex<JobChanges>,
    wake: Notify,
}

impl Slot {
    fn push(&self, changes: JobChanges) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .merge(changes);
        // A permit is kept when the watcher is not waiting right now.
        self.wake.notify_one();
    }
}

/// The watches of one process, by job, and whether its listener is up.
#[derive(Default)]
pub(crate) struct Registry {
    watches: Mutex<HashMap<JobId, Vec<Arc<Slot>>>>,
    listening: AtomicBool,
}

impl Registry {
    fn dispatch(&self, job: JobId, changes: JobChanges) {
        let watches = self.watches.lock().unwrap_or_else(|p| p.into_inner());
        for slot in watches.get(&job).into_iter().flatten() {
            slot.push(changes);
        }
    }

    fn missed_all(&self) {
        let missed = JobChanges {
            missed: true,
            ..JobChanges::default()
        };
        let watches = self.watches.lock().unwrap_or_else(|p| p.into_inner());
        for slot in watches.values().flatten() {
            slot.push(missed);
        }
    }

    fn remove(&self, job: JobId, slot: &Arc<Slot>) {
        let mut watches = self.watches.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = watches.get_mut(&job) {
            list.retain(|s| !Arc::ptr_eq(s, slot));
            if list.is_empty() {
                watches.remove(&job);
            }
        }
    }
}

/// Parses a notice's payload: `<job id>:<seq>` or `<job id>`.
fn parse_payload(payload: &str) -> Option<(JobId, JobChanges)> {
    match payload.split_once(':') {
        Some((job, seq)) => Some((
            job.parse().ok()?,
            JobChanges {
                event_seq: Some(seq.parse().ok()?),
                ..JobChanges::default()
            },
        )),
        None => Some((
            payload.parse().ok()?,
            JobChanges {
                state: true,
                ..JobChanges::default()
            },
        )),
    }
}

/// The payload announcing event `seq` of `job` (`append_event`'s SQL builds the same).
#[cfg(test)]
fn event_payload(job: JobId, seq: i64) -> String {
    format!("{job}:{seq}")
}

/// The payload announcing a state change of `job`.
pub(crate) fn state_payload(job: JobId) -> String {
    job.to_string()
}

/// A process's listener on [`CHANNEL`]: started once, on first use.
#[derive(Default)]
pub(crate) struct Feed {
    registry: Arc<Registry>,
    started: tokio::sync::Mutex<bool>,
}

impl Feed {
    /// A watch of `job`, starting the listener first if it does not run. Once this returns, every
    /// notice committed from now on reaches the watch (or it is told it missed some).
    pub(crate) async fn watch(&self, pool: &PgPool, job: JobId) -> JobWatch {
        self.ensure_listening(pool).await;
        let slot = Arc::new(Slot::default());
        self.registry
            .watches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(job)
            .or_default()
            .push(slot.clone());
        JobWatch {
            inner: Some((job, slot, self.registry.clone())),
        }
    }

    async fn ensure_listening(&self, pool: &PgPool) {
        let mut started = self.started.lock().await;
        if *started {
            return;
        }
        let listener = async {
            let mut listener = PgListener::connect_with(pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match listener.await {
            Ok(listener) => {
                *started = true;
                self.registry.listening.store(true, Ordering::SeqCst);
                tokio::spawn(listen(listener, self.registry.clone()));
            }
            // The next watch tries again; until then readers poll.
            Err(e) => tracing::warn!(error = %e, "cannot listen for job changes; polling"),
        }
    }
}

/// Hands each notice to the watches of its job, until the pool closes.
async fn listen(mut listener: PgListener, registry: Arc<Registry>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notice)) => match parse_payload(notice.payload()) {
                Some((job, changes)) => registry.dispatch(job, changes),
                None => tracing::debug!("ignored a job change notice"),
            },
            // The connection was lost and is back (reconnected before returning).
            Ok(None) => {
                tracing::warn!("job change listener reconnected; notices may have been missed");
                registry.missed_all();
            }
            Err(sqlx::Error::PoolClosed) => break,
            Err(e) => {
                tracing::warn!(error = %e, "job change listener failed; retrying");
                registry.missed_all();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    registry.listening.store(false, Ordering::SeqCst);
    registry.missed_all();
}

/// What happens to one job, as notices announce it. Dropping it stops the watch.
pub struct JobWatch {
    inner: Option<(JobId, Arc<Slot>, Arc<Registry>)>,
}

impl JobWatch {
    /// A watch that never fires (SQLite).
    pub(crate) fn silent() -> JobWatch {
        JobWatch { inner: None }
    }

    /// Whether changes are pushed to this watch right now; when `false` the reader must poll.
    pub fn pushed(&self) -> bool {
        self.inner
            .as_ref()
            .is_some_and(|(_, _, registry)| registry.listening.load(Ordering::SeqCst))
    }

    /// Waits for the next changes and takes them (never returns for a silent watch).
    pub async fn changed(&mut self) -> JobChanges {
        let Some((_, slot, _)) = &self.inner else {
            return std::future::pending().await;
        };
        loop {
            let taken =
                std::mem::take(&mut *slot.pending.lock().unwrap_or_else(|p| p.into_inner()));
            if !taken.is_empty() {
                return taken;
            }
            slot.wake.notified().await;
        }
    }
}

impl Drop for JobWatch {
    fn drop(&mut self) {
        if let Some((job, slot, registry)) = self.inner.take() {
            registry.remove(job, &slot);
        }
    }
}

impl std::fmt::Debug for JobWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobWatch")
            .field("job", &self.inner.as_ref().map(|(job, _, _)| *job))
            .field("pushed", &self.pushed())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let job = JobId(uuid::Uuid::now_v7());
        assert_eq!(
            parse_payload(&event_payload(job, 42)),
            Some((
                job,
                JobChanges {
                    event_seq: Some(42),
                    ..JobChanges::default()
                }
            ))
        );
        assert_eq!(
            parse_payload(&state_payload(job)),
            Some((
                job,
                JobChanges {
                    state: true,
                    ..JobChanges::default()
                }
            ))
        );
        assert_eq!(parse_payload("not-a-job"), None);
        assert_eq!(parse_payload(&format!("{job}:x")), None);
    }

    #[tokio::test]
    async fn a_watch_coalesces_what_it_has_not_read() {
        let registry = Arc::new(Registry::default());
        registry.listening.store(true, Ordering::SeqCst);
        let job = JobId(uuid::Uuid::now_v7());
        let slot = Arc::new(Slot::default());
        registry
            .watches
            .lock()
            .unwrap()
            .insert(job, vec![slot.clone()]);
        let mut watch = JobWatch {
            inner: Some((job, slot, registry.clone())),
        };
        for seq in [3, 5, 4] {
            registry.dispatch(job, parse_payload(&event_payload(job, seq)).unwrap().1);
        }
        registry.dispatch(job, parse_payload(&state_payload(job)).unwrap().1);
        // Another job's notices are not this watch's.
        registry.dispatch(
            JobId(uuid::Uuid::now_v7()),
            JobChanges {
                state: true,
                ..JobChanges::default()
            },
        );
        let changes = watch.changed().await;
        assert_eq!(
            changes,
            JobChanges {
                event_seq: Some(5),
                state: true,
                missed: false
            }
        );
        registry.missed_all();
        assert!(watch.changed().await.missed);
        assert!(watch.pushed());
        drop(watch);
        assert!(registry.watches.lock().unwrap().is_empty());
    }
}
