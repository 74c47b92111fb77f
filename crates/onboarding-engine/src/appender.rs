//! One task that stores the events of every job this process runs, many per transaction.
//!
//! Each job's writer (`crate::bus`) hands its pending events to the [`Appender`] and waits
//! for them to be stored before it publishes them. The appender takes whatever is waiting
//! when the previous write finishes and stores it with one [`Store::append_events`]: an idle
//! store writes at once (no added latency), a busy one writes bigger batches. Why: SQLite has
//! one writer connection, and one transaction per event made a busy worker's event writes the
//! queue that every claim and step write waited behind (docs/benchmarks.md, the CLI batch at
//! 50 req/s: about 1,000 events a second at about 0.6 ms each).
//!
//! Order: a job's writer sends its next events only after the previous ones are stored, and a
//! batch keeps the order it was given, so each job's events keep their order and their seqs
//! stay gapless. A batch that fails (an unknown job: deleted while it ran) is retried request
//! by request, so only the failing job's events are lost, with the same warning as before.

use cortex_store::{JobId, Store, StoreError, StoredEvent};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

/// Events in one transaction at most (a bound on the statement sizes and on one commit's
/// latency).
const MAX_BATCH: usize = 1_000;

type Reply = oneshot::Sender<Result<Vec<StoredEvent>, StoreError>>;

/// Why events were not stored.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AppendError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The task is gone (its runtime is shutting down).
    #[error("the event appender has stopped")]
    Stopped,
}

/// One job's events to store, in order, and where to say how that went.
struct Request {
    job: JobId,
    events: Vec<Value>,
    reply: Reply,
}

/// The sending side of the appender task; cheap to clone.
#[derive(Clone)]
pub(crate) struct Appender {
    tx: mpsc::UnboundedSender<Request>,
    /// Transactions written so far (what batching saved shows in tests).
    #[cfg(test)]
    batches: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Appender {
    /// Starts the task that stores into `store`; it ends when every clone is dropped.
    pub(crate) fn start(store: Store) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let batches = std::sync::Arc::default();
        tokio::spawn(run(store, rx, std::sync::Arc::clone(&batches)));
        Self {
            tx,
            #[cfg(test)]
            batches,
        }
    }

    /// Stores `events` of `job` in order and returns them as stored.
    pub(crate) async fn append(
        &self,
        job: JobId,
        events: Vec<Value>,
    ) -> Result<Vec<StoredEvent>, AppendError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Request { job, events, reply })
            .map_err(|_| AppendError::Stopped)?;
        Ok(answer.await.map_err(|_| AppendError::Stopped)??)
    }
}

async fn run(
    store: Store,
    mut rx: mpsc::UnboundedReceiver<Request>,
    batches: std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let mut size = batch[0].events.len();
        while size < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => {
                    size += next.events.len();
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        batches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        store_batch(&store, batch).await;
    }
}

async fn store_batch(store: &Store, batch: Vec<Request>) {
    let flat: Vec<(JobId, &Value)> = batch
        .iter()
        .flat_map(|r| r.events.iter().map(move |e| (r.job, e)))
        .collect();
    let result = store.append_events(&flat).await;
    drop(flat);
    match result {
        Ok(stored) => {
            let mut stored = stored.into_iter();
            for request in batch {
                let mine: Vec<StoredEvent> = stored.by_ref().take(request.events.len()).collect();
                let _ = request.reply.send(Ok(mine));
            }
        }
        Err(_) if batch.len() > 1 => {
            for request in batch {
                let job = request.job;
                let pairs: Vec<(JobId, &Value)> = request.events.iter().map(|e| (job, e)).collect();
                let result = store.append_events(&pairs).await;
                let _ = request.reply.send(result);
            }
        }
        Err(e) => {
            if let Some(request) = batch.into_iter().next() {
                let _ = request.reply.send(Err(e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::test_store::store_with_jobs;

    /// Requests sent while a write is under way share the next transaction; each job's
    /// events keep their order and gapless seqs; a job that does not exist fails alone.
    #[tokio::test(flavor = "current_thread")]
    async fn concurrent_requests_share_transactions_and_keep_each_jobs_order() {
        let dir = tempfile::tempdir().unwrap();
        let (store, jobs) = store_with_jobs(dir.path(), 10).await;
        let appender = Appender::start(store.clone());
        let mut tasks = Vec::new();
        for round in 0..20 {
            for job in &jobs {
                let (appender, job) = (appender.clone(), *job);
                let events = vec![
                    json!({"round": round, "i": 0}),
                    json!({"round": round, "i": 1}),
                ];
                tasks.push(tokio::spawn(
                    async move { appender.append(job, events).await },
                ));
            }
        }
        let unknown = tokio::spawn({
            let appender = appender.clone();
            async move {
                appender
                    .append(JobId::new(), vec![json!({"lost": true})])
                    .await
            }
        });
        // Rounds are spawned in order, but a round's tasks run concurrently: only the seqs of
        // each request's own events are known to be consecutive.
        for task in tasks {
            let stored = task.await.unwrap().unwrap();
            assert_eq!(stored.len(), 2);
            assert_eq!(stored[1].seq, stored[0].seq + 1);
            assert_eq!(stored[0].event["i"], 0);
        }
        assert!(matches!(
            unknown.await.unwrap(),
            Err(AppendError::Store(e)) if e.code() == "not_found"
        ));
        for job in &jobs {
            let events = store.events_after(*job, 0, 1000).await.unwrap();
            assert_eq!(
                events.iter().map(|e| e.seq).collect::<Vec<_>>(),
                (1..=40).collect::<Vec<_>>()
            );
        }
        let batches = appender.batches.load(std::sync::atomic::Ordering::Relaxed);
        assert!(batches < 50, "201 requests in {batches} transactions");
        store.close().await;
    }
}
