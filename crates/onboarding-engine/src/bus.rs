//! Job events: stored first, then published; replayable from any sequence number.
//!
//! While a job runs, everything it reports goes through a task-local [`JobEvents`] sender to
//! one writer task per job. The writer appends each event to the store (which assigns the next
//! sequence number, gapless) and only then broadcasts the stored event. A subscriber
//! ([`EventBus::subscribe`]) first listens to the broadcast, then replays the store after the
//! sequence number it already has, then forwards live events it has not seen — so it misses
//! nothing and sees nothing twice, even across a reconnect or a lagging receiver.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cortex_store::{JobId, Store, StoredEvent};
use tokio::sync::{broadcast, mpsc};

use crate::events::EngineEvent;

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

/// Publishes stored events to live subscribers.
#[derive(Clone, Default)]
pub struct EventBus {
    channels: Arc<Mutex<HashMap<JobId, broadcast::Sender<StoredEvent>>>>,
}

impl EventBus {
    fn sender(&self, job: JobId) -> broadcast::Sender<StoredEvent> {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(job)
            .or_insert_with(|| broadcast::channel(1024).0)
            .clone()
    }

    /// Starts the writer for `job`; returns the sender and a handle that resolves once every
    /// event sent before the sender was dropped is stored and published.
    pub fn start_job(&self, store: Store, job: JobId) -> (JobEvents, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<EngineEvent>();
        let publisher = self.sender(job);
        let writer = tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                let value = match serde_json::to_value(&event) {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::warn!(error = %e, "event not serializable");
                        continue;
                    }
                };
                match store.append_event(job, &value).await {
                    Ok(stored) => {
                        let _ = publisher.send(stored);
                    }
                    Err(e) => tracing::warn!(%job, error = %e, "event could not be stored"),
                }
            }
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
        let mut live = self.sender(job).subscribe();
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(async move {
            let mut last = after_seq;
            // Replay what is stored, page by page.
            if replay(&store, job, &mut last, &tx).await.is_err() {
                return;
            }
            loop {
                match live.recv().await {
                    Ok(event) if event.seq <= last => continue,
                    Ok(event) if event.seq == last + 1 => {
                        last = event.seq;
                        if tx.send(event).await.is_err() {
                            return;
                        }
                    }
                    // A gap (we lagged, or the event was stored before we subscribed):
                    // the store has everything.
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        if replay(&store, job, &mut last, &tx).await.is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        rx
    }
}

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
