//! Live progress as Server-Sent Events.
//!
//! **A job** (`GET /api/v1/jobs/{id}/events`): every stored event after the client's position,
//! then live ones, in order, each once (the engine's bus: replay from the store, then the
//! broadcast). Each is an unnamed (`message`) event whose `id` is the event's stored `seq` and
//! whose data is `{job_id, seq, at, event}`; a reconnecting `EventSource` sends the last id as
//! `Last-Event-ID` and receives exactly the rest (`?after=SEQ` does the same for a first
//! connection). When the job has finished (succeeded, failed or cancelled) and everything is
//! sent, an `end` event (`{"state": …}`) closes the stream: pages should close their
//! `EventSource` on it (it would otherwise reconnect, receive `end` again and close).
//!
//! **A batch** (`GET /api/v1/batches/{id}/events`): one stream for all of its jobs. It starts
//! with a `snapshot` event (the batch with every job's state, and each job's last `seq`), then
//! the events of every job after that snapshot, each with the id `"<job_id>:<seq>"`, and `end`
//! once every job has finished. A reconnect gets a fresh snapshot and continues from it: an id
//! names one job's position only, so resuming a many-job stream from it could not be exact;
//! the snapshot is exact (nothing missed, nothing twice) and `Last-Event-ID` is only checked
//! for shape and echoed as `resumed_after`. The full history of one job is its own stream.
//!
//! Streams end when the server shuts down (its cancellation token), so graceful shutdown does
//! not wait for them. Comments (`:`) every 15 s keep idle connections open through proxies;
//! `X-Accel-Buffering: no` stops nginx from buffering.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use cortex_store::{BatchId, JobId, JobState, StoredEvent};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::error::ApiError;
use crate::state::AppState;
use crate::views::BatchView;

/// How often a quiet stream checks whether its job ended without a final event (a queued job
/// cancelled before any worker ran it).
const IDLE_CHECK: Duration = Duration::from_secs(2);
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How a followed job's stream stopped.
enum Follow {
    /// The job finished and every one of its events was sent.
    Ended(JobState),
    /// The client left, the server is shutting down, or the store failed.
    Stopped,
}

fn terminal_state(event: &serde_json::Value) -> Option<JobState> {
    match event["type"].as_str()? {
        "job_succeeded" => Some(JobState::Succeeded),
        "job_failed" => Some(JobState::Failed),
        "job_cancelled" => Some(JobState::Cancelled),
        _ => None,
    }
}

/// Sends the stored events after `*last` to `out`.
async fn drain(
    state: &AppState,
    job: JobId,
    last: &mut i64,
    out: &mpsc::Sender<StoredEvent>,
) -> Result<(), ()> {
    loop {
        let page = state
            .engine()
            .store()
            .events_after(job, *last, 500)
            .await
            .map_err(|_| ())?;
        if page.is_empty() {
            return Ok(());
        }
        for e in page {
            *last = e.seq;
            out.send(e).await.map_err(|_| ())?;
        }
    }
}

/// Sends every event of `job` after `after`, in order, then live ones, until the job ends.
async fn follow(state: AppState, job: JobId, after: i64, out: mpsc::Sender<StoredEvent>) -> Follow {
    let store = state.engine().store();
    let mut last = after;
    match store.get_job(job).await {
        Ok(Some(j)) if j.state.is_terminal() => {
            return match drain(&state, job, &mut last, &out).await {
                Ok(()) => Follow::Ended(j.state),
                Err(()) => Follow::Stopped,
            };
        }
        Ok(Some(_)) => {}
        _ => return Follow::Stopped,
    }
    let mut sub = state.engine().subscribe(job, after);
    let shutdown = state.shutdown_token().clone();
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => return Follow::Stopped,
            _ = out.closed() => return Follow::Stopped,
            event = sub.recv() => {
                let Some(event) = event else { return Follow::Stopped };
                last = event.seq;
                let end = terminal_state(&event.event);
                if out.send(event).await.is_err() {
                    return Follow::Stopped;
                }
                if let Some(s) = end {
                    return Follow::Ended(s);
                }
            }
            _ = tokio::time::sleep(IDLE_CHECK) => {
                if let Ok(Some(j)) = store.get_job(job).await
                    && j.state.is_terminal()
                {
                    drop(sub);
                    return match drain(&state, job, &mut last, &out).await {
                        Ok(()) => Follow::Ended(j.state),
                        Err(()) => Follow::Stopped,
                    };
                }
            }
        }
    }
}

fn data_event(e: &StoredEvent, id: String) -> Event {
    let at =
        e.at.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
    let data = serde_json::json!({
        "job_id": e.job_id.to_string(),
        "seq": e.seq,
        "at": at,
        "event": e.event,
    });
    Event::default().id(id).data(data.to_string())
}

fn named_event(name: &str, data: serde_json::Value) -> Event {
    Event::default().event(name).data(data.to_string())
}

/// The SSE response over `rx`.
fn respond(mut rx: mpsc::Receiver<Event>) -> Response {
    let stream =
        futures::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|e| e.map(Ok::<_, Infallible>)));
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    let h = response.headers_mut();
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `Last-Event-ID` (or `?after=`) for a job stream: a stored seq.
pub fn job_position(headers: &HeaderMap, after: Option<u32>) -> Result<i64, ApiError> {
    match headers.get("last-event-id") {
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                ApiError::bad_parameter(
                    "Last-Event-ID",
                    "must be the id of an event of this stream (a non-negative integer)",
                )
            }),
        None => Ok(i64::from(after.unwrap_or(0))),
    }
}

/// `Last-Event-ID` for a batch stream: `"<job_id>:<seq>"`.
pub fn batch_position(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("last-event-id") else {
        return Ok(None);
    };
    let bad = || {
        ApiError::bad_parameter(
            "Last-Event-ID",
            "must be the id of an event of this stream (\"<job_id>:<seq>\")",
        )
    };
    let s = v.to_str().map_err(|_| bad())?.trim();
    let (job, seq) = s.split_once(':').ok_or_else(bad)?;
    job.parse::<JobId>().map_err(|_| bad())?;
    seq.parse::<u64>().map_err(|_| bad())?;
    Ok(Some(s.to_owned()))
}

/// The stream of one job (the job was checked to exist).
pub fn job_stream(state: AppState, job: JobId, after: i64) -> Response {
    let (tx, rx) = mpsc::channel::<Event>(64);
    tokio::spawn(async move {
        let (events_tx, mut events) = mpsc::channel(64);
        let follower = tokio::spawn(follow(state, job, after, events_tx));
        loop {
            tokio::select! {
                e = events.recv() => match e {
                    Some(e) => {
                        if tx.send(data_event(&e, e.seq.to_string())).await.is_err() {
                            return;
                        }
                    }
                    None => break,
                },
                _ = tx.closed() => return,
            }
        }
        if let Ok(Follow::Ended(s)) = follower.await {
            let _ = tx
                .send(named_event("end", serde_json::json!({ "state": s })))
                .await;
        }
    });
    respond(rx)
}

/// Each job's last stored seq.
async fn last_seqs(state: &AppState, jobs: &[JobId]) -> Result<HashMap<JobId, i64>, ApiError> {
    let store = state.engine().store();
    let mut out = HashMap::new();
    for job in jobs {
        let mut last = 0;
        loop {
            let page = store.events_after(*job, last, 1000).await?;
            match page.last() {
                Some(e) => last = e.seq,
                None => break,
            }
        }
        out.insert(*job, last);
    }
    Ok(out)
}

/// The stream of a batch (the batch was checked to exist).
pub async fn batch_stream(
    state: AppState,
    batch: BatchId,
    resumed_after: Option<String>,
) -> Result<Response, ApiError> {
    let engine = state.engine();
    let summary = engine
        .batch_summary(batch)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("batch {batch} not found")))?;
    let report = engine.batch_report(batch).await?;
    let jobs: Vec<JobId> = report
        .rows
        .iter()
        .filter_map(|r| r.job_id.parse().ok())
        .collect();
    let terminal: HashSet<JobId> = report
        .rows
        .iter()
        .filter(|r| r.state.is_terminal())
        .filter_map(|r| r.job_id.parse().ok())
        .collect();
    let mut cursors = last_seqs(&state, &jobs).await?;
    let snapshot = serde_json::json!({
        "batch": BatchView::new(summary, report),
        "cursors": cursors.iter().map(|(j, s)| (j.to_string(), *s)).collect::<BTreeMap<_, _>>(),
        "resumed_after": resumed_after,
    });
    let (tx, rx) = mpsc::channel::<Event>(256);
    tokio::spawn(async move {
        if tx.send(named_event("snapshot", snapshot)).await.is_err() {
            return;
        }
        let (events_tx, mut events) = mpsc::channel::<StoredEvent>(256);
        let mut followers: JoinSet<(JobId, Follow)> = JoinSet::new();
        let mut following: HashSet<JobId> = HashSet::new();
        let start = |job: JobId, after: i64, set: &mut JoinSet<(JobId, Follow)>| {
            let (state, out) = (state.clone(), events_tx.clone());
            set.spawn(async move { (job, follow(state, job, after, out).await) });
        };
        for job in &jobs {
            if !terminal.contains(job) {
                following.insert(*job);
                start(*job, cursors[job], &mut followers);
            }
        }
        let shutdown = state.shutdown_token().clone();
        loop {
            if following.is_empty() {
                // Every job had finished; one more look for jobs put back in the queue.
                match state
                    .engine()
                    .store()
                    .list_jobs(Some(batch), u32::MAX)
                    .await
                {
                    Ok(list) if list.iter().all(|j| j.state.is_terminal()) => break,
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return,
                _ = tx.closed() => return,
                Some(e) = events.recv() => {
                    cursors.insert(e.job_id, e.seq);
                    let id = format!("{}:{}", e.job_id, e.seq);
                    if tx.send(data_event(&e, id)).await.is_err() {
                        return;
                    }
                }
                Some(done) = followers.join_next() => {
                    match done {
                        Ok((job, Follow::Ended(_))) => { following.remove(&job); }
                        _ => return,
                    }
                }
                _ = tokio::time::sleep(IDLE_CHECK) => {
                    // A finished job resumed meanwhile: follow it again from where it was.
                    let Ok(list) = state.engine().store().list_jobs(Some(batch), u32::MAX).await else {
                        return;
                    };
                    for j in list {
                        if !j.state.is_terminal() && following.insert(j.id) {
                            start(j.id, cursors.get(&j.id).copied().unwrap_or(0), &mut followers);
                        }
                    }
                }
            }
        }
        // Followers have finished; their last events are in the channel.
        drop(events_tx);
        while let Ok(e) = events.try_recv() {
            let id = format!("{}:{}", e.job_id, e.seq);
            if tx.send(data_event(&e, id)).await.is_err() {
                return;
            }
        }
        let report = state.engine().batch_report(batch).await.ok();
        let _ = tx
            .send(named_event(
                "end",
                serde_json::json!({
                    "state": "finished",
                    "onboarded": report.as_ref().map(|r| r.onboarded),
                    "adopted": report.as_ref().map(|r| r.adopted),
                    "failed": report.as_ref().map(|r| r.failed),
                }),
            ))
            .await;
    });
    Ok(respond(rx))
}
