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
//! **A batch** (`GET /api/v1/batches/{id}/events`): one stream for all of its jobs, fed by one
//! hub per watched batch that frames each event once and publishes them in windows of 10 ms
//! ([`Window`]), shared by every subscriber. It starts
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
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use cortex_store::{BatchId, JobId, JobState, StoredEvent};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::error::ApiError;
use crate::state::AppState;
use crate::views::BatchView;

/// How often a quiet stream looks at the store: whether its job ended without a final event (a
/// queued job cancelled before any worker ran it), and for the events of a job that a worker in
/// another process runs (the live bus is per process). Where the store pushes change notices
/// (PostgreSQL), those say when to look, and the look every [`PUSHED_IDLE_CHECK`] only backs
/// them up.
const IDLE_CHECK: Duration = Duration::from_secs(1);
const PUSHED_IDLE_CHECK: Duration = Duration::from_secs(30);
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
///
/// Live events come from this process's bus; those of a job that another process runs come
/// from the store, read when a change notice says there is something to read (PostgreSQL:
/// `cortex_store::notify`), or every [`IDLE_CHECK`] where there are no notices (SQLite).
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
    // Watched before the bus replays the store: whatever another process commits after this
    // is announced, whatever it committed before is in the replay.
    let mut watch = store.watch_job(job).await;
    let mut sub = state.engine().subscribe(job, after);
    let shutdown = state.shutdown_token().clone();
    loop {
        let idle = if watch.pushed() {
            PUSHED_IDLE_CHECK
        } else {
            IDLE_CHECK
        };
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => return Follow::Stopped,
            _ = out.closed() => return Follow::Stopped,
            event = sub.recv() => {
                let Some(event) = event else { return Follow::Stopped };
                // Already sent from the store (a job run by another process).
                if event.seq <= last {
                    continue;
                }
                last = event.seq;
                let end = terminal_state(&event.event);
                if out.send(event).await.is_err() {
                    return Follow::Stopped;
                }
                if let Some(s) = end {
                    return Follow::Ended(s);
                }
            }
            changes = watch.changed() => {
                let events = changes.missed || changes.event_seq.is_some_and(|seq| seq > last);
                if let Some(done) =
                    look(&state, job, &mut last, &out, changes.state || changes.missed, events).await
                {
                    return done;
                }
            }
            _ = tokio::time::sleep(idle) => {
                if let Some(done) = look(&state, job, &mut last, &out, true, true).await {
                    return done;
                }
            }
        }
    }
}

/// Looks at the store for a followed job: whether it ended (`check_state`: then the rest of
/// its events are sent and the follow ends), and its events after `*last` (`events`; a queued
/// job has none). `None` while the follow goes on.
async fn look(
    state: &AppState,
    job: JobId,
    last: &mut i64,
    out: &mpsc::Sender<StoredEvent>,
    check_state: bool,
    events: bool,
) -> Option<Follow> {
    let mut queued = false;
    if check_state {
        match state.engine().store().get_job(job).await {
            Ok(Some(j)) if j.state.is_terminal() => {
                return Some(match drain(state, job, last, out).await {
                    Ok(()) => Follow::Ended(j.state),
                    Err(()) => Follow::Stopped,
                });
            }
            Ok(Some(j)) => queued = j.state == JobState::Queued,
            _ => {}
        }
    }
    // Run by a worker in another process: its events reach this process only through the store.
    if events && !queued && drain(state, job, last, out).await.is_err() {
        return Some(Follow::Stopped);
    }
    None
}

/// One SSE frame: `id`, `event` and one `data` line (JSON has no raw newlines), then the blank
/// line that ends it. Frames are built once and shared: a batch's hub frames each event once
/// for all of its subscribers.
fn frame(id: Option<&str>, name: Option<&str>, data: &str) -> Bytes {
    let mut out = String::with_capacity(data.len() + 64);
    if let Some(name) = name {
        out.push_str("event: ");
        out.push_str(name);
        out.push('\n');
    }
    if let Some(id) = id {
        out.push_str("id: ");
        out.push_str(id);
        out.push('\n');
    }
    out.push_str("data: ");
    out.push_str(data);
    out.push_str("\n\n");
    Bytes::from(out)
}

fn data_event(e: &StoredEvent, id: &str) -> Bytes {
    let at =
        e.at.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
    let data = serde_json::json!({
        "job_id": e.job_id.to_string(),
        "seq": e.seq,
        "at": at,
        "event": e.event,
    });
    frame(Some(id), None, &data.to_string())
}

fn named_event(name: &str, data: serde_json::Value) -> Bytes {
    frame(None, Some(name), &data.to_string())
}

/// The SSE response over `chunks` (frames, or several frames in one chunk), with a comment
/// every [`KEEP_ALIVE`] of silence.
fn respond<S>(mut chunks: S) -> Response
where
    S: futures::Stream<Item = Bytes> + Send + Unpin + 'static,
{
    use futures::StreamExt;
    let mut quiet = Box::pin(tokio::time::sleep(KEEP_ALIVE));
    let stream = futures::stream::poll_fn(move |cx| {
        use std::task::Poll;
        match chunks.poll_next_unpin(cx) {
            Poll::Ready(Some(chunk)) => {
                quiet
                    .as_mut()
                    .reset(tokio::time::Instant::now() + KEEP_ALIVE);
                Poll::Ready(Some(Ok::<_, Infallible>(chunk)))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match quiet.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    quiet
                        .as_mut()
                        .reset(tokio::time::Instant::now() + KEEP_ALIVE);
                    Poll::Ready(Some(Ok(Bytes::from_static(b":\n\n"))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    });
    let mut response = Body::from_stream(stream).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// An `mpsc` receiver as a stream of chunks.
fn received(mut rx: mpsc::Receiver<Bytes>) -> impl futures::Stream<Item = Bytes> + Unpin {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
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
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let (events_tx, mut events) = mpsc::channel(64);
        let follower = tokio::spawn(follow(state, job, after, events_tx));
        loop {
            tokio::select! {
                e = events.recv() => match e {
                    Some(e) => {
                        if tx.send(data_event(&e, &e.seq.to_string())).await.is_err() {
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
    respond(received(rx))
}

/// The stream of a batch (the batch was checked to exist): this subscriber's snapshot, then
/// what the batch's shared hub publishes after it, then `end`.
pub async fn batch_stream(
    state: AppState,
    batch: BatchId,
    resumed_after: Option<String>,
) -> Result<Response, ApiError> {
    // Listen first, then take the snapshot: an event the hub publishes before this point was
    // stored before the snapshot's cursors were read, so nothing falls between the two.
    let (hub, ticket) = state.batch_hubs().subscribe(&state, batch);
    let snapshot = state.batch_hubs().snapshot(&state, batch, ticket).await?;
    let cursors = snapshot.cursors.clone();
    // `{"batch", "cursors", "resumed_after"}`: the first two read and serialised once for
    // every subscriber the snapshot serves.
    let data = format!(
        "{{\"batch\":{},\"cursors\":{},\"resumed_after\":{}}}",
        snapshot.batch,
        snapshot.cursors_json,
        serde_json::Value::from(resumed_after)
    );
    let snapshot = frame(None, Some("snapshot"), &data);
    let feed = BatchFeed {
        snapshot: Some(snapshot),
        hub,
        cursors,
        shutdown: state.shutdown_token().clone(),
        ended: false,
    };
    Ok(respond(Box::pin(futures::stream::unfold(
        feed,
        BatchFeed::next,
    ))))
}

/// One subscriber's batch stream, polled by its connection's own task: the hub's broadcast
/// wakes the connection directly (no task and channel in between, which cost a wake-up and a
/// hand-over per subscriber per window), and the windows that queued while the connection
/// waited for a CPU are written together, since hyper buffers every chunk that is ready
/// before it writes.
struct BatchFeed {
    snapshot: Option<Bytes>,
    hub: tokio::sync::broadcast::Receiver<HubMessage>,
    cursors: HashMap<JobId, i64>,
    shutdown: tokio_util::sync::CancellationToken,
    ended: bool,
}

impl BatchFeed {
    /// The next chunk: the snapshot, then what each window holds after this subscriber's
    /// cursors, then `end`; nothing more after `end`, at shutdown, or when this subscriber fell
    /// too far behind the hub (a reconnect gets a fresh snapshot and misses nothing).
    async fn next(mut self) -> Option<(Bytes, Self)> {
        if let Some(snapshot) = self.snapshot.take() {
            return Some((snapshot, self));
        }
        while !self.ended {
            let message = tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => return None,
                m = self.hub.recv() => m.ok()?,
            };
            let chunk = match message {
                HubMessage::Window(window) => window.after(&mut self.cursors),
                HubMessage::End(end) => {
                    self.ended = true;
                    Some(named_event("end", end))
                }
            };
            if let Some(chunk) = chunk {
                return Some((chunk, self));
            }
        }
        None
    }
}

/// The most bytes of frames a hub gathers into one window.
const MAX_WINDOW: usize = 64 * 1024;

/// How long a batch's hub waits after an event for the ones that follow before it publishes
/// them as one window: every subscriber then wakes and writes once per window rather than once
/// per event. Small beside what a person watching a batch notices; `sse-bench` measures the
/// trade (docs/benchmarks.md).
const COALESCE: Duration = Duration::from_millis(10);

/// Stored events as a batch's hub publishes them: framed and concatenated once, shared by every
/// subscriber (a subscriber past its snapshot sends `frames` as it is: one reference count, no
/// copy).
#[derive(Debug, Default)]
pub struct Window {
    /// Each event's job, seq and its frame's bytes in `frames`, in publishing order.
    events: Vec<(JobId, i64, std::ops::Range<usize>)>,
    /// The SSE frames (`id: <job_id>:<seq>`, the data line, the blank line), one after another.
    frames: Vec<u8>,
    shared: Bytes,
}

impl Window {
    fn push(&mut self, e: &StoredEvent) {
        let frame = data_event(e, &format!("{}:{}", e.job_id, e.seq));
        let start = self.frames.len();
        self.frames.extend_from_slice(&frame);
        self.events
            .push((e.job_id, e.seq, start..self.frames.len()));
    }

    fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    fn seal(mut self) -> Self {
        self.shared = Bytes::from(std::mem::take(&mut self.frames));
        self
    }

    /// What a subscriber whose snapshot left job `j` at `cursors[j]` sends of this window: the
    /// events after its cursors. A job's cursor is dropped at its first newer event (the hub
    /// publishes a job's events in order, so every later one is newer too); once all of the
    /// window is newer — every window soon after the snapshot — it is the shared bytes.
    fn after(&self, cursors: &mut HashMap<JobId, i64>) -> Option<Bytes> {
        // Every cursor dropped (the usual case a few windows in): nothing to look up.
        if cursors.is_empty() {
            return Some(self.shared.clone());
        }
        let mut keep = Vec::with_capacity(self.events.len());
        for (job, seq, _) in &self.events {
            let newer = match cursors.get(job) {
                Some(c) if seq <= c => false,
                Some(_) => {
                    cursors.remove(job);
                    true
                }
                None => true,
            };
            keep.push(newer);
        }
        if keep.iter().all(|k| *k) {
            return Some(self.shared.clone());
        }
        let mut out = Vec::new();
        for ((_, _, range), _) in self.events.iter().zip(&keep).filter(|(_, k)| **k) {
            out.extend_from_slice(&self.shared[range.clone()]);
        }
        (!out.is_empty()).then(|| Bytes::from(out))
    }
}

/// What a batch's hub publishes to every subscriber of the batch's stream.
#[derive(Clone, Debug)]
pub enum HubMessage {
    Window(Arc<Window>),
    /// Every job has finished: the final counts.
    End(serde_json::Value),
}

/// How long a job whose final event was seen may take to be recorded as finished.
const SETTLE: Duration = Duration::from_secs(3);

/// How many messages a slow subscriber may fall behind before its stream is closed.
const HUB_CAPACITY: usize = 8192;

/// One hub per batch being watched: it follows each unfinished job of the batch once and
/// publishes their events to every subscriber, so that N subscribers cost N channels rather
/// than N × jobs followers and store reads.
#[derive(Default)]
pub struct BatchHubs {
    hubs: std::sync::Mutex<HashMap<BatchId, tokio::sync::broadcast::Sender<HubMessage>>>,
    /// Each subscription's number, in the order they were made (all batches).
    tickets: std::sync::atomic::AtomicU64,
    /// Per batch, the last snapshot taken, behind the lock its next reader takes.
    snapshots: std::sync::Mutex<HashMap<BatchId, SnapshotSlot>>,
}

/// The last snapshot of a batch, behind the lock its next reader takes.
type SnapshotSlot = Arc<tokio::sync::Mutex<Option<Arc<Snapshot>>>>;

/// A batch's state as a subscriber's stream starts from it: the batch with every job, and
/// each job's last stored seq when it was read.
pub struct Snapshot {
    /// The [`BatchView`] as JSON.
    batch: String,
    cursors: HashMap<JobId, i64>,
    /// `cursors` as JSON (`{"<job id>": seq}`).
    cursors_json: String,
    /// It was read after every subscription numbered below this had been made.
    read_after: u64,
}

impl BatchHubs {
    /// A receiver of the batch's hub (starting the hub if none runs), and the subscription's
    /// ticket for [`Self::snapshot`].
    fn subscribe(
        &self,
        state: &AppState,
        batch: BatchId,
    ) -> (tokio::sync::broadcast::Receiver<HubMessage>, u64) {
        let mut hubs = self.hubs.lock().unwrap_or_else(|p| p.into_inner());
        let receiver = match hubs.get(&batch) {
            Some(sender) => sender.subscribe(),
            None => {
                let (sender, receiver) = tokio::sync::broadcast::channel(HUB_CAPACITY);
                hubs.insert(batch, sender.clone());
                tokio::spawn(run_hub(state.clone(), batch, sender));
                receiver
            }
        };
        let ticket = self
            .tickets
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        (receiver, ticket)
    }

    /// The snapshot a subscription (`ticket`) starts from. It must be read after the
    /// subscription was made, so that no event falls between the two; one read serves every
    /// subscription made before it began, so a thousand subscribers arriving together cost a
    /// few reads of the batch rather than a thousand.
    async fn snapshot(
        &self,
        state: &AppState,
        batch: BatchId,
        ticket: u64,
    ) -> Result<Arc<Snapshot>, ApiError> {
        let slot = self
            .snapshots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(batch)
            .or_default()
            .clone();
        let mut cached = slot.lock().await;
        if let Some(s) = cached.as_ref().filter(|s| s.read_after > ticket) {
            return Ok(s.clone());
        }
        let read_after = self.tickets.load(std::sync::atomic::Ordering::SeqCst);
        let engine = state.engine();
        let summary = engine
            .batch_summary(batch)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("batch {batch} not found")))?;
        let report = engine.batch_report(batch).await?;
        let mut cursors: HashMap<JobId, i64> = report
            .rows
            .iter()
            .filter_map(|r| r.job_id.parse().ok())
            .map(|j| (j, 0))
            .collect();
        cursors.extend(engine.store().batch_last_seqs(batch).await?);
        let view: BTreeMap<String, i64> =
            cursors.iter().map(|(j, s)| (j.to_string(), *s)).collect();
        let json = |e: serde_json::Error| ApiError::internal("the batch snapshot", &e);
        let snapshot = Arc::new(Snapshot {
            batch: serde_json::to_string(&BatchView::new(summary, report)).map_err(json)?,
            cursors_json: serde_json::to_string(&view).map_err(json)?,
            cursors,
            read_after,
        });
        *cached = Some(snapshot.clone());
        Ok(snapshot)
    }

    /// Removes the hub unless someone still listens and it has not finished; `true` if
    /// removed. Under the lock, so a subscriber either got this hub or will start a new one.
    fn retire(&self, batch: BatchId, finished: bool) -> bool {
        let mut hubs = self.hubs.lock().unwrap_or_else(|p| p.into_inner());
        let idle = hubs.get(&batch).is_none_or(|s| s.receiver_count() == 0);
        if finished || idle {
            hubs.remove(&batch);
            self.snapshots
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&batch);
            true
        } else {
            false
        }
    }
}

/// Follows every unfinished job of `batch` (and any put back in the queue meanwhile) until all
/// have finished or nobody listens; publishes each stored event once.
async fn run_hub(state: AppState, batch: BatchId, hub: tokio::sync::broadcast::Sender<HubMessage>) {
    let (events_tx, mut events) = mpsc::channel::<StoredEvent>(1024);
    let mut followers: JoinSet<(JobId, Follow)> = JoinSet::new();
    let mut following: HashSet<JobId> = HashSet::new();
    // Where each job's published events end (a resumed job is followed from there).
    let mut cursors: HashMap<JobId, i64> = match state.engine().store().batch_last_seqs(batch).await
    {
        Ok(list) => list.into_iter().collect(),
        Err(_) => {
            state.batch_hubs().retire(batch, true);
            return;
        }
    };
    let start = |job: JobId, after: i64, set: &mut JoinSet<(JobId, Follow)>| {
        let (state, out) = (state.clone(), events_tx.clone());
        set.spawn(async move { (job, follow(state, job, after, out).await) });
    };
    let shutdown = state.shutdown_token().clone();
    // Jobs whose final event was published but whose state may not be committed yet (the
    // engine stores the last event, then the job's end): until when to wait for the commit
    // before following such a job again (it may have been put back in the queue).
    let mut settling: HashMap<JobId, tokio::time::Instant> = HashMap::new();
    let mut look = true;
    let mut look_again: Option<tokio::time::Instant> = None;
    // Events received since the last window, and when they must go out.
    let mut window = Window::default();
    let mut flush_at: Option<tokio::time::Instant> = None;
    // Publishes the window; `false` when nobody listens any more and the hub was retired.
    let publish = |window: &mut Window, flush_at: &mut Option<tokio::time::Instant>| {
        *flush_at = None;
        let sealed = Arc::new(std::mem::take(window).seal());
        hub.send(HubMessage::Window(sealed)).is_ok() || !state.batch_hubs().retire(batch, false)
    };
    loop {
        if look {
            look = false;
            look_again = None;
            let Ok(jobs) = state
                .engine()
                .store()
                .list_jobs(Some(batch), u32::MAX)
                .await
            else {
                break;
            };
            let now = tokio::time::Instant::now();
            for j in &jobs {
                if j.state.is_terminal() {
                    settling.remove(&j.id);
                    continue;
                }
                if settling.get(&j.id).is_some_and(|until| now < *until) {
                    look_again = Some(now + Duration::from_millis(10));
                    continue;
                }
                settling.remove(&j.id);
                if following.insert(j.id) {
                    start(
                        j.id,
                        cursors.get(&j.id).copied().unwrap_or(0),
                        &mut followers,
                    );
                }
            }
            if look_again.is_none()
                && following.is_empty()
                && jobs.iter().all(|j| j.state.is_terminal())
            {
                let report = state.engine().batch_report(batch).await.ok();
                let end = serde_json::json!({
                    "state": "finished",
                    "onboarded": report.as_ref().map(|r| r.onboarded),
                    "adopted": report.as_ref().map(|r| r.adopted),
                    "failed": report.as_ref().map(|r| r.failed),
                });
                // Retired first: a subscriber arriving now starts a new hub (which ends at
                // once) rather than joining one that has already said `end`.
                state.batch_hubs().retire(batch, true);
                if !window.is_empty() {
                    let _ = hub.send(HubMessage::Window(Arc::new(
                        std::mem::take(&mut window).seal(),
                    )));
                }
                let _ = hub.send(HubMessage::End(end));
                return;
            }
        }
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            Some(e) = events.recv() => {
                cursors.insert(e.job_id, e.seq);
                window.push(&e);
                let now = tokio::time::Instant::now();
                let due = *flush_at.get_or_insert(now + COALESCE);
                // Events arriving without a pause must not hold the window past its time
                // (this branch wins the biased select while they keep coming).
                if (now >= due || window.frames.len() >= MAX_WINDOW) && !publish(&mut window, &mut flush_at) {
                    return;
                }
            }
            _ = tokio::time::sleep_until(flush_at.unwrap_or_else(tokio::time::Instant::now)), if flush_at.is_some() => {
                if !publish(&mut window, &mut flush_at) {
                    return;
                }
            }
            Some(done) = followers.join_next() => {
                match done {
                    Ok((job, Follow::Ended(_))) => {
                        // Its events are already published: a follower sends each before it
                        // ends, and this select takes queued events first (`biased`).
                        following.remove(&job);
                        // The job's final event is stored just before its state is committed:
                        // look again soon rather than at the next idle tick.
                        settling.insert(job, tokio::time::Instant::now() + SETTLE);
                        if following.is_empty() {
                            look = true;
                        }
                    }
                    _ => break,
                }
            }
            _ = tokio::time::sleep_until(look_again.unwrap_or_else(tokio::time::Instant::now)), if look_again.is_some() => {
                look = true;
            }
            _ = tokio::time::sleep(IDLE_CHECK) => {
                if state.batch_hubs().retire(batch, false) {
                    return;
                }
                // A finished job resumed meanwhile is followed again from where it was.
                look = true;
            }
        }
    }
    state.batch_hubs().retire(batch, true);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(job: JobId, seq: i64) -> StoredEvent {
        StoredEvent {
            job_id: job,
            seq,
            at: time::OffsetDateTime::UNIX_EPOCH,
            event: serde_json::json!({"type": "log", "seq": seq}),
        }
    }

    fn window(events: &[(JobId, i64)]) -> Window {
        let mut w = Window::default();
        for (job, seq) in events {
            w.push(&event(*job, *seq));
        }
        w.seal()
    }

    fn ids(chunk: &Bytes) -> Vec<String> {
        String::from_utf8_lossy(chunk)
            .lines()
            .filter_map(|l| l.strip_prefix("id: ").map(str::to_owned))
            .collect()
    }

    #[test]
    fn a_window_sends_what_is_after_the_snapshot_then_its_shared_bytes_unchanged() {
        let (a, b) = (JobId::new(), JobId::new());
        let mut cursors = HashMap::from([(a, 3), (b, 9)]);
        let first = window(&[(a, 2), (a, 3), (a, 4), (b, 9)]);
        let sent = first.after(&mut cursors).unwrap();
        assert_eq!(
            ids(&sent),
            [format!("{a}:4")],
            "only what the snapshot did not hold"
        );
        assert!(!cursors.contains_key(&a) && cursors.contains_key(&b));
        assert!(
            window(&[(b, 8)]).after(&mut cursors).is_none(),
            "nothing new: nothing sent"
        );

        let later = window(&[(a, 5), (b, 10), (a, 6)]);
        let sent = later.after(&mut cursors).unwrap();
        assert_eq!(
            ids(&sent),
            [format!("{a}:5"), format!("{b}:10"), format!("{a}:6")]
        );
        assert_eq!(
            sent.as_ptr(),
            later.shared.as_ptr(),
            "a subscriber past its snapshot shares the hub's bytes"
        );
        assert!(cursors.is_empty());
        // With no cursor left, every window goes out whole, as the hub's own bytes.
        let next = window(&[(b, 11), (a, 7)]);
        let sent = next.after(&mut cursors).unwrap();
        assert_eq!(ids(&sent), [format!("{b}:11"), format!("{a}:7")]);
        assert_eq!(sent.as_ptr(), next.shared.as_ptr());
    }
}
