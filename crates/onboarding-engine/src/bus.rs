//! Job events: stored first, then published; replayable from any sequence number.
//!
//! While a job runs, everything it reports goes through a task-local [`JobEvents`] sender to
//! one writer task per job. The writer appends the job's events to the store (which assigns the
//! next sequence numbers, gapless; the [`crate::appender`] stores many jobs' events per
//! transaction) and only then broadcasts the stored events. A subscriber
//! ([`EventBus::subscribe`]) first listens to the broadcast, then replays the store after the
//! sequence number it already has, then forwards live events it has not seen — so it misses
//! nothing and sees nothing twice, even across a reconnect or a lagging receiver.
//!
//! A job's live channel exists while a writer runs or someone listens; it is dropped when
//! neither is true (a later subscriber replays from the store and opens a new one).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cortex_store::{JobId, Store, StoredEvent};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};

use crate::appender::Appender;
use crate::events::EngineEvent;
use crate::origin::RequestId;

tokio::task_local! {
    static CURRENT_JOB: JobEvents;
}

/// The sending side of a running job's event stream.
#[derive(Clone)]
pub struct JobEvents {
    tx: mpsc::UnboundedSender<EngineEvent>,
}

impl JobEvents {
    pub fn emit(&self, event: EngineEvent) {
        let _ = self.tx.send(event);
    }

    /// Runs `fut` with this job's events as the task-local destination of [`emit`].
    pub async fn scope<F: std::future::Future>(self, fut: F) -> F::Output {
        CURRENT_JOB.scope(self, fut).await
    }
}

/// Reports an event for the job running on this task (no-op outside a job).
pub fn emit(event: EngineEvent) {
    let _ = CURRENT_JOB.try_with(|job| job.emit(event));
}

/// Sees every event of the jobs this process runs, once stored (metrics).
pub type EventObserver = Arc<dyn Fn(&serde_json::Value) + Send + Sync>;

/// Publishes stored events to live subscribers.
#[derive(Clone, Default)]
pub struct EventBus {
    channels: Arc<Mutex<HashMap<JobId, Channel>>>,
    observers: Arc<Mutex<Vec<EventObserver>>>,
    appender: Arc<Mutex<Option<Appender>>>,
}

/// Events a job's live channel holds for a slow subscriber; one further behind gets
/// `Lagged` and replays from the store (see `follow`). The buffer is allocated whole when the
/// channel opens: at 1,024 it was about 100 KB a job, 620 MB and most of a second for a
/// 6,200-job batch whose CLI follows every job.
const LIVE_CAPACITY: usize = 64;

/// A job's live channel and how many writers feed it.
struct Channel {
    sender: broadcast::Sender<StoredEvent>,
    writers: usize,
}

impl EventBus {
    fn channel(&self, job: JobId, writer: bool) -> broadcast::Sender<StoredEvent> {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        let channel = map.entry(job).or_insert_with(|| Channel {
            sender: broadcast::channel(LIVE_CAPACITY).0,
            writers: 0,
        });
        if writer {
            channel.writers += 1;
        }
        channel.sender.clone()
    }

    /// The appender of this bus's jobs' events, started with the first job's store (a bus
    /// serves one store: its engine's).
    pub(crate) fn appender(&self, store: Store) -> Appender {
        self.appender
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(|| Appender::start(store))
            .clone()
    }

    /// Drops the job's channel once no writer runs and nobody listens.
    fn release(&self, job: JobId, writer: bool) {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(channel) = map.get_mut(&job) {
            if writer {
                channel.writers = channel.writers.saturating_sub(1);
            }
            if channel.writers == 0 && channel.sender.receiver_count() == 0 {
                map.remove(&job);
            }
        }
    }

    /// Adds an observer of every event this process's job writers store from now on.
    pub fn observe(&self, observer: EventObserver) {
        self.observers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(observer);
    }

    /// Jobs with a live channel right now.
    pub fn open_channels(&self) -> usize {
        self.channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Starts the writer for `job`; returns the sender and a handle that resolves once every
    /// event sent before the sender was dropped is stored and published.
    pub fn start_job(&self, store: Store, job: JobId) -> (JobEvents, tokio::task::JoinHandle<()>) {
        self.start_job_from(store, job, None)
    }

    /// [`EventBus::start_job`] for a job submitted by request `origin`: each stored event
    /// carries `"origin_request_id"` (`crate::origin`).
    pub fn start_job_from(
        &self,
        store: Store,
        job: JobId,
        origin: Option<RequestId>,
    ) -> (JobEvents, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<EngineEvent>();
        let publisher = self.channel(job, true);
        let bus = self.clone();
        let appender = self.appender(store);
        let writer = tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                // Everything the job reported meanwhile goes in the same request.
                let mut values: Vec<Value> =
                    stored_form(&first, origin.as_ref()).into_iter().collect();
                while let Ok(next) = rx.try_recv() {
                    values.extend(stored_form(&next, origin.as_ref()));
                }
                if values.is_empty() {
                    continue;
                }
                match appender.append(job, values).await {
                    Ok(stored) => {
                        let observers = bus
                            .observers
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .clone();
                        for event in stored {
                            for observe in &observers {
                                observe(&event.event);
                            }
                            let _ = publisher.send(event);
                        }
                    }
                    Err(e) => tracing::warn!(%job, error = %e, "events could not be stored"),
                }
            }
            drop(publisher);
            bus.release(job, true);
        });
        (JobEvents { tx }, writer)
    }

    /// Every event of `job` after `after_seq`, then live ones, in order, each once. The stream
    /// ends when the returned receiver is dropped or the store fails.
    pub fn subscribe(
        &self,
        store: Store,
        job: JobId,
        after_seq: i64,
    ) -> mpsc::Receiver<StoredEvent> {
        self.subscribe_replaying(store, job, after_seq, true)
    }

    /// [`Self::subscribe`] without the first replay, for a caller that just read that the
    /// store has nothing after `after_seq` (a batch's follower, from one query for the whole
    /// batch). What was stored since shows as a gap at the next event and is replayed then.
    pub fn subscribe_fresh(
        &self,
        store: Store,
        job: JobId,
        after_seq: i64,
    ) -> mpsc::Receiver<StoredEvent> {
        self.subscribe_replaying(store, job, after_seq, false)
    }

    fn subscribe_replaying(
        &self,
        store: Store,
        job: JobId,
        after_seq: i64,
        replay_first: bool,
    ) -> mpsc::Receiver<StoredEvent> {
        let mut live = self.channel(job, false).subscribe();
        let (tx, rx) = mpsc::channel(256);
        let bus = self.clone();
        tokio::spawn(async move {
            follow(&store, job, after_seq, replay_first, &mut live, &tx).await;
            drop(live);
            bus.release(job, false);
        });
        rx
    }
}

/// An event as stored: its JSON, with `"origin_request_id"` when the job has one.
fn stored_form(event: &EngineEvent, origin: Option<&RequestId>) -> Option<Value> {
    let mut value = match serde_json::to_value(event) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "event not serializable");
            return None;
        }
    };
    if let (Some(origin), Some(object)) = (origin, value.as_object_mut()) {
        object.insert("origin_request_id".to_owned(), origin.as_str().into());
    }
    Some(value)
}

/// Replays, then forwards live events, until the subscriber goes away or the store fails.
async fn follow(
    store: &Store,
    job: JobId,
    after_seq: i64,
    replay_first: bool,
    live: &mut broadcast::Receiver<StoredEvent>,
    tx: &mpsc::Sender<StoredEvent>,
) {
    let mut last = after_seq;
    if replay_first && replay(store, job, &mut last, tx).await.is_err() {
        return;
    }
    loop {
        // A subscriber that went away is noticed at once, not at the next event (which, for a
        // finished job, never comes).
        let received = tokio::select! {
            r = live.recv() => r,
            _ = tx.closed() => return,
        };
        match received {
            Ok(event) if event.seq <= last => continue,
            Ok(event) if event.seq == last + 1 => {
                last = event.seq;
                if tx.send(event).await.is_err() {
                    return;
                }
            }
            // A gap (we lagged, or the event was stored before we subscribed): the store has
            // everything.
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                if replay(store, job, &mut last, tx).await.is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Sends every stored event after `last`, page by page.
async fn replay(
    store: &Store,
    job: JobId,
    last: &mut i64,
    tx: &mpsc::Sender<StoredEvent>,
) -> Result<(), ()> {
    loop {
        let page = store.events_after(job, *last, 500).await.map_err(|_| ())?;
        if page.is_empty() {
            return Ok(());
        }
        for event in page {
            *last = event.seq;
            tx.send(event).await.map_err(|_| ())?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_store::store_with_jobs;

    /// A fresh subscriber skips the first read; events stored before it subscribed come
    /// when the next event shows the gap, in order and once.
    #[tokio::test]
    async fn a_fresh_subscriber_replays_what_it_missed_at_the_first_gap() {
        let dir = tempfile::tempdir().unwrap();
        let (store, jobs) = store_with_jobs(dir.path(), 1).await;
        let job = jobs[0];
        for n in 1..=2 {
            let early = serde_json::json!({"type": "log", "level": "info", "message": format!("early {n}")});
            store.append_event(job, &early).await.unwrap();
        }
        let bus = EventBus::default();
        let mut events = bus.subscribe_fresh(store.clone(), job, 0);
        // Nothing is read from the store yet.
        let quiet = tokio::time::timeout(std::time::Duration::from_millis(100), events.recv());
        assert!(quiet.await.is_err(), "no replay before a live event");
        let (sender, writer) = bus.start_job(store.clone(), job);
        sender.emit(EngineEvent::log("info", "live"));
        drop(sender);
        writer.await.unwrap();
        let mut got = Vec::new();
        while got.len() < 3 {
            let e = tokio::time::timeout(std::time::Duration::from_secs(5), events.recv())
                .await
                .expect("every event arrives")
                .unwrap();
            got.push((e.seq, e.event["message"].as_str().unwrap_or("").to_owned()));
        }
        assert_eq!(
            got,
            [
                (1, "early 1".into()),
                (2, "early 2".into()),
                (3, "live".into())
            ]
        );
        store.close().await;
    }

    /// A subscriber that reads nothing while a job reports far more than the live channel
    /// holds still gets every event once, in order (the store fills the lag).
    #[tokio::test]
    async fn a_subscriber_behind_by_more_than_the_live_channel_misses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (store, jobs) = store_with_jobs(dir.path(), 1).await;
        let bus = EventBus::default();
        let mut events = bus.subscribe(store.clone(), jobs[0], 0);
        let (sender, writer) = bus.start_job(store.clone(), jobs[0]);
        let n = LIVE_CAPACITY * 8;
        for i in 0..n {
            sender.emit(EngineEvent::log("info", format!("event {i}")));
        }
        drop(sender);
        writer.await.unwrap();
        for seq in 1..=n as i64 {
            let e = tokio::time::timeout(std::time::Duration::from_secs(5), events.recv())
                .await
                .expect("every event arrives")
                .unwrap();
            assert_eq!(e.seq, seq);
        }
        store.close().await;
    }
}
