//! Following jobs' events while something runs.
//!
//! [`follow_while`] starts one follower per job and renders what they deliver through an
//! [`EventSink`] until `run` (usually the in-process worker) completes; then each follower
//! reads whatever is left from the store, so the output ends with the job's last stored event —
//! nothing missed, nothing twice. In-process runs follow through
//! [`Engine::subscribe`](onboarding_engine::Engine::subscribe) (live, from the bus); a job run
//! by another process (`jobs follow`) is followed by polling the store.

use std::future::Future;
use std::time::Duration;

use cortex_store::{JobId, Store, StoredEvent};
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
pub async fn follow_while<F: Future>(
    store: &Store,
    jobs: &[Followed],
    after_seq: i64,
    source: Source,
    sink: &mut dyn EventSink,
    run: F,
) -> F::Output {
    let done = CancellationToken::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, StoredEvent)>();
    for (i, job) in jobs.iter().enumerate() {
        tokio::spawn(follow_one(
            store.clone(),
            job.job,
            i,
            after_seq,
            source.clone(),
            tx.clone(),
            done.clone(),
        ));
    }
    drop(tx);
    let worker = async {
        let out = run.await;
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

async fn follow_one(
    store: Store,
    job: JobId,
    index: usize,
    after_seq: i64,
    source: Source,
    tx: mpsc::UnboundedSender<(usize, StoredEvent)>,
    done: CancellationToken,
) {
    let mut last = after_seq;
    match source {
        Source::Subscribe(engine) => {
            let mut live = engine.subscribe(job, after_seq);
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
    let _ = drain(&store, job, index, &mut last, &tx).await;
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
