//! One task that stores the events and step records of every job this process runs, many per
//! transaction.
//!
//! Each job's writer (`crate::bus`) hands its pending events to the [`Appender`] and waits
//! for them to be stored before it publishes them; a job's steps ([`crate::job`]) hand their
//! `started` / `finished` records to it and wait likewise before going on. The appender takes
//! whatever is waiting when the previous write finishes and stores it with one
//! [`Store::record`]: an idle store writes at once (no added latency), a busy one writes
//! bigger batches. Why: SQLite has one writer connection, and one transaction per event or
//! step made a busy worker's writes the queue that every claim waited behind
//! (docs/benchmarks.md, the CLI batch at 50 req/s: about 1,000 events and 700 step records a
//! second; started 256 at once, a batch's jobs took 0.4 s to reach their first call).
//!
//! Order: a job's writer sends its next events only after the previous ones are stored, a
//! step waits for its record, and a batch keeps the order it was given, so each job's events
//! keep their order and their seqs stay gapless. A batch that fails (an unknown job: deleted
//! while it ran) is retried request by request, so only the failing job's writes are lost, as
//! when each was its own transaction.

use cortex_store::{JobId, StepChange, StepWrite, Store, StoreError, StoredEvent};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

/// Rows (events and step records) in one transaction at most (a bound on the statement
/// sizes and on one commit's latency).
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

/// A step's record as it waits in the queue (see [`StepChange`]).
pub(crate) enum StepNote {
    Started,
    Finished {
        state: &'static str,
        output: Option<Value>,
    },
}

/// One job's step record or events to store, in order, and where to say how that went.
struct Request {
    job: JobId,
    step: Option<(&'static str, StepNote)>,
    events: Vec<Value>,
    reply: Reply,
}

impl Request {
    fn step_write(&self) -> Option<StepWrite<'_>> {
        let (name, note) = self.step.as_ref()?;
        let change = match note {
            StepNote::Started => StepChange::Started,
            StepNote::Finished { state, output } => StepChange::Finished {
                state,
                output: output.as_ref(),
            },
        };
        Some(StepWrite {
            job: self.job,
            name,
            change,
        })
    }

    /// Rows this request writes (a batch's bound counts them).
    fn size(&self) -> usize {
        self.events.len() + usize::from(self.step.is_some())
    }

    fn events(&self) -> impl Iterator<Item = (JobId, &Value)> {
        self.events.iter().map(move |e| (self.job, e))
    }
}

impl From<AppendError> for crate::error::EngineError {
    fn from(e: AppendError) -> Self {
        match e {
            AppendError::Store(e) => e.into(),
            // Only while the runtime shuts down: the job stops, to resume later.
            AppendError::Stopped => crate::error::EngineError::Cancelled,
        }
    }
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
        self.send(job, None, events).await
    }

    /// Stores the record of `job`'s step `name` (as [`Store::step_started`] and
    /// [`Store::step_finished`] do).
    pub(crate) async fn step(
        &self,
        job: JobId,
        name: &'static str,
        note: StepNote,
    ) -> Result<(), AppendError> {
        self.send(job, Some((name, note)), Vec::new())
            .await
            .map(drop)
    }

    async fn send(
        &self,
        job: JobId,
        step: Option<(&'static str, StepNote)>,
        events: Vec<Value>,
    ) -> Result<Vec<StoredEvent>, AppendError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Request {
                job,
                step,
                events,
                reply,
            })
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
        let mut size = first.size();
        let mut batch = vec![first];
        while size < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => {
                    size += next.size();
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        batches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        store_batch(&store, batch).await;
    }
}

/// Every write of `requests` in one [`Store::record`].
async fn record(store: &Store, requests: &[Request]) -> Result<Vec<StoredEvent>, StoreError> {
    let steps: Vec<StepWrite<'_>> = requests.iter().filter_map(Request::step_write).collect();
    let events: Vec<(JobId, &Value)> = requests.iter().flat_map(Request::events).collect();
    store.record(&steps, &events).await
}

async fn store_batch(store: &Store, batch: Vec<Request>) {
    match record(store, &batch).await {
        Ok(stored) => {
            let mut stored = stored.into_iter();
            for request in batch {
                let mine: Vec<StoredEvent> = stored.by_ref().take(request.events.len()).collect();
                let _ = request.reply.send(Ok(mine));
            }
        }
        Err(_) if batch.len() > 1 => {
            for request in batch {
                let result = record(store, std::slice::from_ref(&request)).await;
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

    /// Step records ride in the same transactions as events: every job's steps stored in
    /// the order each job sent them, its events beside them; a step of a job that does not
    /// exist fails alone.
    #[tokio::test(flavor = "current_thread")]
    async fn step_records_share_transactions_with_events() {
        let dir = tempfile::tempdir().unwrap();
        let (store, jobs) = store_with_jobs(dir.path(), 20).await;
        let appender = Appender::start(store.clone());
        let names = ["validate", "prerequisites", "register"];
        let mut tasks = Vec::new();
        for job in &jobs {
            let (appender, job) = (appender.clone(), *job);
            tasks.push(tokio::spawn(async move {
                for (i, name) in names.into_iter().enumerate() {
                    appender.step(job, name, StepNote::Started).await?;
                    appender.append(job, vec![json!({"step": name})]).await?;
                    let note = StepNote::Finished {
                        state: "succeeded",
                        output: Some(json!({"i": i})),
                    };
                    appender.step(job, name, note).await?;
                }
                Ok::<_, AppendError>(())
            }));
        }
        let unknown = appender
            .step(JobId::new(), "validate", StepNote::Started)
            .await;
        assert!(matches!(unknown, Err(AppendError::Store(e)) if e.code() == "not_found"));
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        for job in &jobs {
            let steps = store.steps(*job).await.unwrap();
            let got: Vec<_> = steps
                .iter()
                .map(|s| (s.name.as_str(), s.state.as_str(), s.output.clone()))
                .collect();
            let want: Vec<_> = names
                .iter()
                .enumerate()
                .map(|(i, n)| (*n, "succeeded", Some(json!({"i": i}))))
                .collect();
            assert_eq!(got, want);
            assert_eq!(store.events_after(*job, 0, 100).await.unwrap().len(), 3);
        }
        // 20 jobs × 9 writes each, sent by 20 tasks at once.
        let batches = appender.batches.load(std::sync::atomic::Ordering::Relaxed);
        assert!(batches < 100, "181 requests in {batches} transactions");
        store.close().await;
    }
}
