//! Following jobs' events while something runs.
//!
//! [`follow_while`] starts one follower per job and renders what they deliver through an
//! [`EventSink`] until `run` (usually the in-process worker) completes; then each follower
//! reads whatever is left from the store, so the output ends with the job's last stored event —
//! nothing missed, nothing twice. In-process runs follow through
//! [`Engine::subscribe`](onboarding_engine::Engine::subscribe) (live, from the bus); a job run
//! by another process (`jobs follow`) is followed by polling the store.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use cortex_store::{BatchId, JobId, Store, StoredEvent};
use onboarding_engine::Engine;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::output::{EventSink, Followed};

/// Where live events come from.
#[derive(Clone)]
pub enum Source {
    /// The engine's bus: jobs run by this process.
    Subscribe(Engine),
    /// The store, every so often: jobs run by any process.
    Poll(Duration),
}

/// Runs `run` while rendering the events of `jobs` (after `after_seq` each) into `sink`;
/// returns `run`'s output once every event stored by then has been rendered.
///
/// When the jobs are a `batch`'s, one query for the batch's last seqs at the start tells
/// which followers have nothing to replay (all of a new batch), and one at the end tells each
/// follower whether it has everything already (the usual case: in-process runs deliver live),
/// so only the ones behind read the store — a read per job at each end cost a 6,200-row batch
/// about a second before its first call and another after its last job.
pub async fn follow_while<F: Future>(
    store: &Store,
    jobs: &[Followed],
    after_seq: i64,
    source: Source,
    batch: Option<BatchId>,
    sink: &mut dyn EventSink,
    run: F,
) -> F::Output {
    let done = CancellationToken::new();
    let last_seqs: Arc<OnceLock<HashMap<JobId, i64>>> = Arc::default();
    // A batch's jobs with nothing stored after `after_seq` yet (all of a new batch) follow
    // live from the start, without a read each.
    let stored_before = match batch {
        Some(batch) => store
            .batch_last_seqs(batch)
            .await
            .ok()
            .map(|seqs| seqs.into_iter().collect::<HashMap<_, _>>()),
        None => None,
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, StoredEvent)>();
    for (i, job) in jobs.iter().enumerate() {
        let fresh = stored_before
            .as_ref()
            .is_some_and(|seqs| seqs.get(&job.job).is_none_or(|&last| last <= after_seq));
        let start = Start {
            job: job.job,
            index: i,
            after_seq,
            fresh,
        };
        tokio::spawn(follow_one(
            store.clone(),
            start,
            source.clone(),
            tx.clone(),
            Ending {
                done: done.clone(),
                last_seqs: last_seqs.clone(),
            },
        ));
    }
    drop(tx);
    let worker = async {
        let out = run.await;
        if let Some(batch) = batch {
            match store.batch_last_seqs(batch).await {
                Ok(seqs) => {
                    let _ = last_seqs.set(seqs.into_iter().collect());
                }
                Err(e) => tracing::warn!(%batch, error = %e, "reading the batch's last events"),
            }
        }
        done.cancel();
        out
    };
    let render = async {
        while let Some((i, event)) = rx.recv().await {
            sink.event(&jobs[i], &event);
        }
        sink.finish();
    };
    let (out, ()) = tokio::join!(worker, render);
    out
}

/// How a follower learns that the run is over, and (for a batch) the last stored seq of
/// every job with events then.
struct Ending {
    done: CancellationToken,
    last_seqs: Arc<OnceLock<HashMap<JobId, i64>>>,
}

impl Ending {
    /// Whether a follower that has rendered up to `last` has everything stored.
    fn caught_up(&self, job: JobId, last: i64) -> bool {
        self.last_seqs
            .get()
            .is_some_and(|seqs| seqs.get(&job).is_none_or(|&stored| last >= stored))
    }
}

/// Which job a follower follows (`index` in the caller's list), from which seq, and whether
/// the store was just read to hold nothing after it.
struct Start {
    job: JobId,
    index: usize,
    after_seq: i64,
    fresh: bool,
}

async fn follow_one(
    store: Store,
    start: Start,
    source: Source,
    tx: mpsc::UnboundedSender<(usize, StoredEvent)>,
    ending: Ending,
) {
    let Start {
        job,
        index,
        after_seq,
        fresh,
    } = start;
    let done = &ending.done;
    let mut last = after_seq;
    match source {
        Source::Subscribe(engine) => {
            let mut live = if fresh {
                engine.subscribe_fresh(job, after_seq)
            } else {
                engine.subscribe(job, after_seq)
            };
            loop {
                tokio::select! {
                    biased;
                    event = live.recv() => match event {
                        Some(e) if e.seq > last => {
                            last = e.seq;
                            if tx.send((index, e)).is_err() {
                                return;
                            }
                        }
                        Some(_) => {}
                        None => break,
                    },
                    _ = done.cancelled() => break,
                }
            }
        }
        Source::Poll(every) => loop {
            if drain(&store, job, index, &mut last, &tx).await.is_err() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = done.cancelled() => break,
            }
        },
    }
    if !ending.caught_up(job, last) {
        let _ = drain(&store, job, index, &mut last, &tx).await;
    }
}

/// Sends every stored event after `last`.
async fn drain(
    store: &Store,
    job: JobId,
    index: usize,
    last: &mut i64,
    tx: &mpsc::UnboundedSender<(usize, StoredEvent)>,
) -> Result<(), ()> {
    loop {
        let page = store.events_after(job, *last, 500).await.map_err(|e| {
            tracing::warn!(%job, error = %e, "reading events");
        })?;
        if page.is_empty() {
            return Ok(());
        }
        for e in page {
            *last = e.seq;
            tx.send((index, e)).map_err(|_| ())?;
        }
    }
}
