//! The web server's Server-Sent Events under load: many subscribers following one batch.
//!
//! Starts the real `azure-cortex --sandbox serve` (in-process emulator and worker, a fresh data
//! directory) on `127.0.0.1:0`, signs in as the generated admin, creates an API token, submits
//! a batch of N subscriptions with the `existing` identity (the engine's real path without
//! Terraform), and opens S subscribers on `GET /api/v1/batches/{id}/events` at once. Each
//! parses the stream by hand and, for every data frame `{job_id, seq, at, event}`, records
//! `delay = wall clock when its chunk arrived − at` (`at`: the store's timestamp, taken just
//! before the event's insert). Every subscriber must see, for every job, every `seq` after its
//! snapshot's cursor up to the job's last stored one (read from the job's own stream at the
//! end), in order, once.
//!
//! Prints one JSON object: `{"scenario": "sse", "subscribers", "batch", "events_per_subscriber",
//! "delay_ms": {n, p50, p95, p99, max}, "delay_ms_steady", "time_to_snapshot_ms", "rss_idle_mb",
//! "rss_peak_mb", "rss_mean_mb", "rss_after_mb", "startup_ms", "connect_s", "wall_s", "batch_s",
//! "missing_events", …}`:
//! - `delay_ms_steady` counts only events stored after the last subscriber had its snapshot (no
//!   connection set-up in the way); `connect_s` is when that was, from the batch's acceptance.
//! - `time_to_snapshot_ms`: per subscriber, from sending the request to the snapshot event.
//! - Memory is MiB of the server's `VmRSS`: 1 s after it is ready (`rss_idle_mb`), sampled every
//!   50 ms under load (`rss_peak_mb`, `rss_mean_mb`), 5 s after the last stream closed
//!   (`rss_after_mb`). `startup_ms` is from spawning the process to the first 200 from
//!   `/readyz`.
//! - `wall_s`: from the batch's acceptance until every subscriber had `end`; `batch_s` until the
//!   last event of the batch was stored.
//!
//! `--stream job` instead has subscriber `i` follow job `i mod batch`'s own stream from its
//! first event (what the job page does); its snapshot time is when the response arrived.
//!
//! `sse-bench [--subscribers 500] [--batch 200] [--stream batch|job]
//!            [--binary target/release/azure-cortex] [--timeout-secs 600]`

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use cortex_bench::{Args, Process, cpu_seconds, percentile, round, rss_kib};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const DEFAULT_GROUP: &str = "00000000-0000-4000-8000-00000000d0a9";

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    round(kib as f64 / 1024.0)
}

/// One Server-Sent Event: its `event` name (empty for `message`), its `id` and its data lines
/// joined.
#[derive(Debug, Default, PartialEq)]
struct Frame {
    event: String,
    id: String,
    data: String,
}

/// An incremental `text/event-stream` parser: feed it chunks, it hands out complete events.
#[derive(Default)]
struct SseParser {
    buf: Vec<u8>,
    frame: Frame,
    has_data: bool,
}

impl SseParser {
    fn push(&mut self, chunk: &[u8], mut on_frame: impl FnMut(Frame)) {
        self.buf.extend_from_slice(chunk);
        let mut consumed = 0;
        // memchr: the bench reads every byte of a million events per subscriber batch, on the
        // server's two cores, so its own CPU is kept low.
        while let Some(nl) = memchr::memchr(b'\n', &self.buf[consumed..]) {
            let mut line = &self.buf[consumed..consumed + nl];
            consumed += nl + 1;
            if let [rest @ .., b'\r'] = line {
                line = rest;
            }
            if line.is_empty() {
                let frame = std::mem::take(&mut self.frame);
                if std::mem::take(&mut self.has_data) {
                    on_frame(frame);
                }
                continue;
            }
            if line[0] == b':' {
                continue; // a comment (keep-alive)
            }
            let (field, value) = match line.iter().position(|b| *b == b':') {
                Some(i) => {
                    let v = &line[i + 1..];
                    (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
                }
                None => (line, &[][..]),
            };
            // Our server sends UTF-8; the checked conversion has an ASCII fast path that the
            // lossy one lacks.
            let value = match std::str::from_utf8(value) {
                Ok(text) => std::borrow::Cow::Borrowed(text),
                Err(_) => String::from_utf8_lossy(value),
            };
            match field {
                b"event" => self.frame.event = value.into_owned(),
                b"id" => self.frame.id = value.into_owned(),
                b"data" => {
                    if self.has_data {
                        self.frame.data.push('\n');
                    }
                    self.frame.data.push_str(&value);
                    self.has_data = true;
                }
                _ => {} // id, retry
            }
        }
        self.buf.drain(..consumed);
    }
}

/// The data of an unnamed event of a job or batch stream (`event` is skipped, not built).
#[derive(serde::Deserialize)]
struct DataFrame<'a> {
    job_id: &'a str,
    seq: i64,
    at: &'a str,
}

impl<'a> DataFrame<'a> {
    /// Reads what the bench needs of an event: its job and seq from the frame's id
    /// (`<job_id>:<seq>`, the stream's resume point) and its `at` from the start of the data
    /// (`{"at":"…"`: the server writes the keys in order). Any other shape is parsed whole.
    fn read(frame: &'a Frame) -> serde_json::Result<DataFrame<'a>> {
        let quick = || {
            let (job_id, seq) = frame.id.rsplit_once(':')?;
            let rest = frame.data.strip_prefix("{\"at\":\"")?;
            let at = &rest[..memchr::memchr(b'"', rest.as_bytes())?];
            Some(DataFrame {
                job_id,
                seq: seq.parse().ok()?,
                at,
            })
        };
        match quick() {
            Some(data) => Ok(data),
            None => serde_json::from_str(&frame.data),
        }
    }
}

fn parse_at(at: &str) -> anyhow::Result<i64> {
    let t = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
        .with_context(|| format!("`at` is not RFC 3339: {at}"))?;
    Ok((t.unix_timestamp_nanos() / 1000) as i64)
}

/// A job id as a map key held inline: a subscriber looks one up per event, and a `String`
/// key costs a second cache miss (its heap bytes) on every lookup across a thousand
/// subscribers' maps.
#[derive(Clone, Copy, PartialEq, Eq)]
struct JobKey([u8; 36]);

impl JobKey {
    /// `None` for anything but a 36-byte id (the server's job ids are hyphenated UUIDs).
    fn of(id: &str) -> Option<Self> {
        id.as_bytes().try_into().ok().map(JobKey)
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::hash::Hash for JobKey {
    /// The last 8 characters: random in a UUID v7 (the first ones are its timestamp, nearly
    /// the same for every job of a batch).
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let tail: [u8; 8] = self.0[28..].try_into().unwrap_or_default();
        state.write_u64(u64::from_le_bytes(tail));
    }
}

/// Mixes the one `u64` a [`JobKey`] writes (SipHash, then FNV over 36 bytes, were each a large
/// share of the bench's CPU; the keys are the server's job ids, nothing adversarial).
#[derive(Default)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// What one subscriber saw.
#[derive(Default)]
struct Seen {
    /// `(at, delay)` in µs of every data event.
    samples: Vec<(i64, i64)>,
    /// Each job's last seq seen (from the snapshot's cursor on).
    jobs: HashMap<JobKey, i64, BuildHasherDefault<KeyHasher>>,
    /// Wall clock (µs) when the snapshot arrived.
    snapshot_us: i64,
    /// From sending the request to the snapshot.
    time_to_snapshot: Duration,
    events: u64,
    duplicates: u64,
    gaps: u64,
    ended: bool,
    sub_second_at: bool,
}

/// What the subscribers follow.
#[derive(Clone, Copy, PartialEq)]
enum Follow {
    /// All of them the batch's stream (a snapshot, then every job's events).
    Batch,
    /// Subscriber `i` the stream of job `i mod batch`, from its first event.
    Job,
}

/// One subscriber: follows `url` to its `end`. A job stream (`job: Some`) starts from seq 0.
async fn subscribe(
    client: reqwest::Client,
    url: String,
    job: Option<String>,
    token: String,
    deadline: tokio::time::Instant,
) -> anyhow::Result<Seen> {
    let mut seen = Seen::default();
    let asked = Instant::now();
    let response = tokio::time::timeout_at(
        deadline,
        client
            .get(&url)
            .bearer_auth(&token)
            .header("accept", "text/event-stream")
            .send(),
    )
    .await
    .context("timed out connecting")??;
    if response.status() != 200 {
        bail!("{url}: {}", response.status());
    }
    let mut response = response;
    if let Some(job) = job {
        seen.snapshot_us = now_us();
        seen.time_to_snapshot = asked.elapsed();
        let key = JobKey::of(&job).with_context(|| format!("job id {job:?}"))?;
        seen.jobs.insert(key, 0);
    }
    let mut parser = SseParser::default();
    let mut error = None;
    while !seen.ended {
        let chunk = match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => chunk,
            Ok(Ok(None)) => bail!("the stream closed before `end`"),
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => bail!("timed out before `end`"),
        };
        let received = now_us();
        parser.push(&chunk, |frame| {
            if error.is_some() {
                return;
            }
            match frame.event.as_str() {
                "snapshot" => {
                    seen.snapshot_us = received;
                    seen.time_to_snapshot = asked.elapsed();
                    let snapshot: Value = match serde_json::from_str(&frame.data) {
                        Ok(v) => v,
                        Err(e) => return error = Some(anyhow::anyhow!("snapshot: {e}")),
                    };
                    if let Some(cursors) = snapshot["cursors"].as_object() {
                        for (job, seq) in cursors {
                            let Some(key) = JobKey::of(job) else {
                                return error = Some(anyhow::anyhow!("snapshot: job id {job:?}"));
                            };
                            seen.jobs.insert(key, seq.as_i64().unwrap_or(0));
                        }
                    }
                }
                "end" => seen.ended = true,
                "" | "message" => {
                    let data = match DataFrame::read(&frame) {
                        Ok(d) => d,
                        Err(e) => return error = Some(anyhow::anyhow!("data: {e}")),
                    };
                    let at = match parse_at(data.at) {
                        Ok(at) => at,
                        Err(e) => return error = Some(e),
                    };
                    seen.sub_second_at |= data.at.contains('.');
                    seen.samples.push((at, received - at));
                    seen.events += 1;
                    let Some(last) = JobKey::of(data.job_id).and_then(|k| seen.jobs.get_mut(&k))
                    else {
                        return error = Some(anyhow::anyhow!("event of a job not in the snapshot"));
                    };
                    if data.seq <= *last {
                        seen.duplicates += 1;
                    } else {
                        seen.gaps += (data.seq - *last - 1) as u64;
                        *last = data.seq;
                    }
                }
                other => error = Some(anyhow::anyhow!("unexpected event `{other}`")),
            }
        });
        if let Some(e) = error.take() {
            return Err(e);
        }
    }
    Ok(seen)
}

/// The last stored seq of a finished job and when it was stored (µs): its own stream, read to
/// its `end`.
async fn last_event(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    job: &str,
) -> anyhow::Result<(i64, i64)> {
    let body = client
        .get(format!("{base}/api/v1/jobs/{job}/events"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(30))
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    let (mut last, mut at) = (0, String::new());
    let mut ended = false;
    SseParser::default().push(&body, |frame| match frame.event.as_str() {
        "end" => ended = true,
        _ => {
            if let Ok(d) = serde_json::from_str::<DataFrame>(&frame.data)
                && d.seq > last
            {
                (last, at) = (d.seq, d.at.to_owned());
            }
        }
    });
    if !ended {
        bail!("job {job}: its stream closed before `end` (is it still running?)");
    }
    Ok((last, if last > 0 { parse_at(&at)? } else { 0 }))
}

/// A random GUID-shaped id per run (a fresh tag from the standard library's hasher seed), so
/// reruns against a kept sandbox never collide.
fn run_tag() -> u32 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(now_us()) as u32
}

fn row(tag: u32, n: u32) -> Value {
    let guid = |kind: u16| format!("{tag:08x}-{kind:04x}-4000-8000-{n:012x}");
    json!({
        "subscription_id": guid(0x5b),
        "tenant_id": format!("{tag:08x}-7e4a-4000-8000-000000000001"),
        "name": format!("sse-bench-{n:05}"),
        "groups": [DEFAULT_GROUP],
        "identity": "existing",
        "client_id": guid(0xc1d),
        "service_principal_id": guid(0x5e0),
        "client_secret": format!("sse-bench-client-secret-{n:06}"),
    })
}

/// n, p50, p95, p99 and max of `ms`, in ms.
fn distribution(mut ms: Vec<f64>) -> Value {
    ms.sort_unstable_by(f64::total_cmp);
    json!({
        "n": ms.len(),
        "p50": round(percentile(&ms, 50.0)),
        "p95": round(percentile(&ms, 95.0)),
        "p99": round(percentile(&ms, 99.0)),
        "max": round(ms.last().copied().unwrap_or(0.0)),
    })
}

const HELP: &str = "\
sse-bench: many subscribers following a batch's event stream on the real server.

Usage: sse-bench [OPTIONS]

Options:
  --subscribers N     concurrent event streams (default 500)
  --batch N           subscriptions in the batch, existing identity (default 200)
  --stream KIND       batch (one batch stream each, default) or job (one job stream each)
  --binary PATH       the azure-cortex binary (default target/release/azure-cortex)
  --timeout-secs S    give up after this long (default 600)
  --help              this text

Prints one JSON object; see docs/benchmarks.md.";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::from_env();
    if args.flag("--help") || args.flag("-h") {
        println!("{HELP}");
        return Ok(());
    }
    let subscribers: usize = args.parsed("--subscribers", 500)?;
    let batch: u32 = args.parsed("--batch", 200)?;
    let binary = args
        .value("--binary")
        .unwrap_or_else(|| "target/release/azure-cortex".to_owned());
    let timeout = Duration::from_secs(args.parsed("--timeout-secs", 600)?);
    let follow = match args.value("--stream").as_deref() {
        None | Some("batch") => Follow::Batch,
        Some("job") => Follow::Job,
        Some(other) => bail!("--stream {other}: expected batch or job"),
    };

    // Start-up: spawn to the first 200 from /readyz.
    let dir = tempfile::tempdir()?;
    let log_path = dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path)?;
    let spawned = Instant::now();
    let (server, first) = Process::spawn_announcing(
        Command::new(&binary)
            .arg("--sandbox")
            .args(["--output", "json", "--data-dir"])
            .arg(dir.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stderr(Stdio::from(log)),
    )?;
    let announced: Value =
        serde_json::from_str(&first).with_context(|| format!("serve printed: {first}"))?;
    let (Some(base), Some(name), Some(password)) = (
        announced["url"].as_str(),
        announced["admin"]["name"].as_str(),
        announced["admin"]["password"].as_str(),
    ) else {
        bail!("serve announced no URL or admin: {first}");
    };
    let base = base.to_owned();
    let pid = server.id();
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()?;
    loop {
        let ready = client.get(format!("{base}/readyz")).send().await;
        if matches!(&ready, Ok(r) if r.status() == 200) {
            break;
        }
        if spawned.elapsed() > Duration::from_secs(60) {
            bail!("/readyz not 200 after 60 s");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let startup = spawned.elapsed();
    let rss_ready = rss_kib(pid).unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_idle = rss_kib(pid).unwrap_or(0);

    // Sign in, then an API token (created with the session and its CSRF token).
    let login = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"name": name, "password": password}))
        .send()
        .await?
        .error_for_status()?;
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .context("login set no cookie")?
        .to_owned();
    let session: Value = login.json().await?;
    let csrf = session["csrf_token"].as_str().context("no CSRF token")?;
    let created: Value = client
        .post(format!("{base}/api/v1/tokens"))
        .header("cookie", &cookie)
        .header("x-csrf-token", csrf)
        .json(&json!({"name": "sse-bench"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = created["token"].as_str().context("no token")?.to_owned();

    // Memory while the batch runs and the streams follow it.
    let stop_sampling = CancellationToken::new();
    let sampler = tokio::spawn({
        let stop = stop_sampling.clone();
        async move {
            let mut samples = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            while !stop.is_cancelled() {
                tick.tick().await;
                if let Some(kib) = rss_kib(pid) {
                    samples.push(kib);
                }
            }
            samples
        }
    });
    let server_cpu_before = cpu_seconds(pid).unwrap_or(0.0);
    let bench_cpu_before = cpu_seconds(std::process::id()).unwrap_or(0.0);

    let tag = run_tag();
    let accepted: Value = client
        .post(format!("{base}/api/v1/batches"))
        .bearer_auth(&token)
        .json(&json!({
            "label": format!("sse-bench-{tag:08x}"),
            "rows": (0..batch).map(|n| row(tag, n)).collect::<Vec<_>>(),
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let submitted = Instant::now();
    let submitted_us = now_us();
    let batch_id = accepted["id"].as_str().context("no batch id")?.to_owned();
    let jobs: Vec<String> = accepted["jobs"]
        .as_array()
        .context("no jobs")?
        .iter()
        .filter_map(|j| j.as_str().map(str::to_owned))
        .collect();
    let deadline = tokio::time::Instant::now() + timeout;
    let handles: Vec<_> = (0..subscribers)
        .map(|i| {
            let (url, job) = match follow {
                Follow::Batch => (format!("{base}/api/v1/batches/{batch_id}/events"), None),
                Follow::Job => {
                    let job = &jobs[i % jobs.len()];
                    (
                        format!("{base}/api/v1/jobs/{job}/events"),
                        Some(job.clone()),
                    )
                }
            };
            tokio::spawn(subscribe(client.clone(), url, job, token.clone(), deadline))
        })
        .collect();
    let mut results = Vec::with_capacity(subscribers);
    for h in handles {
        results.push(h.await?);
    }
    let wall = submitted.elapsed();
    // When the batch finished (the streams' `end` says so too; this also covers no subscribers).
    let batch_view = loop {
        let view: Value = client
            .get(format!("{base}/api/v1/batches/{batch_id}"))
            .bearer_auth(&token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        if view["pending"] == 0 {
            break view;
        }
        if tokio::time::Instant::now() > deadline {
            bail!("the batch did not finish in time");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let server_cpu = cpu_seconds(pid).unwrap_or(0.0) - server_cpu_before;
    let bench_cpu = cpu_seconds(std::process::id()).unwrap_or(0.0) - bench_cpu_before;
    stop_sampling.cancel();
    let rss = sampler.await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss_after = rss_kib(pid).unwrap_or(0);

    // Every job's last seq, from its own stream; the batch ended with the last of them.
    let lasts: Vec<(String, (i64, i64))> = futures::stream::iter(jobs.iter())
        .map(|job| {
            let (client, base, token) = (&client, &base, &token);
            async move {
                Ok::<_, anyhow::Error>((job.clone(), last_event(client, base, token, job).await?))
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let batch_s =
        (lasts.iter().map(|(_, (_, at))| *at).max().unwrap_or(0) - submitted_us) as f64 / 1e6;
    let finals: HashMap<String, i64> = lasts
        .into_iter()
        .map(|(job, (seq, _))| (job, seq))
        .collect();

    let mut failed_subscribers = 0usize;
    let (mut missing, mut duplicates, mut gaps) = (0i64, 0u64, 0u64);
    let mut per_subscriber = Vec::new();
    let mut sub_second = true;
    let mut connected_us = 0i64;
    let mut all = Vec::new();
    let mut to_snapshot = Vec::new();
    let seen: Vec<Seen> = results
        .into_iter()
        .filter_map(|r| match r {
            Ok(s) => Some(s),
            Err(e) => {
                if failed_subscribers == 0 {
                    eprintln!("first failed subscriber: {e:#}");
                }
                failed_subscribers += 1;
                None
            }
        })
        .collect();
    for s in &seen {
        connected_us = connected_us.max(s.snapshot_us);
        sub_second &= s.samples.is_empty() || s.sub_second_at;
        duplicates += s.duplicates;
        gaps += s.gaps;
        per_subscriber.push(s.events);
        to_snapshot.push(s.time_to_snapshot.as_secs_f64() * 1000.0);
        // Batch: every job (one absent from the snapshot counts in full); job: its one job.
        let followed: Vec<&str> = match follow {
            Follow::Batch => jobs.iter().map(String::as_str).collect(),
            Follow::Job => s.jobs.keys().map(JobKey::as_str).collect(),
        };
        for job in followed {
            let last_stored = finals.get(job).copied().unwrap_or(0);
            let last_seen = JobKey::of(job).and_then(|k| s.jobs.get(&k).copied());
            missing += (last_stored - last_seen.unwrap_or(0)).max(0);
        }
        missing += s.gaps as i64;
    }
    let steady: Vec<f64> = seen
        .iter()
        .flat_map(|s| s.samples.iter())
        .filter(|(at, _)| *at >= connected_us)
        .map(|(_, d)| *d as f64 / 1000.0)
        .collect();
    for s in seen {
        all.extend(s.samples.into_iter().map(|(_, d)| d as f64 / 1000.0));
    }
    if !sub_second {
        eprintln!("warning: `at` has no fraction of a second; the delays are meaningless");
    }
    // From the batch's acceptance until the last subscriber had its snapshot.
    let connect = ((connected_us - submitted_us) as f64 / 1e6).max(0.0);
    let stored: i64 = finals.values().sum();
    drop(server);
    // The server's log: warnings that the store's connection pool kept callers waiting (sqlx
    // logs each acquire slower than 2 s) are counted; anything else is shown.
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let slow_acquires = log.lines().filter(|l| l.contains("slow_acquire")).count();
    for line in log
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.contains("slow_acquire"))
        .take(20)
    {
        eprintln!("serve: {line}");
    }
    let n = per_subscriber.len().max(1) as f64;
    println!(
        "{}",
        json!({
            "scenario": if follow == Follow::Batch { "sse" } else { "sse-job-streams" },
            "client": "azure-cortex",
            "latency_ms": 0,
            "subscribers": subscribers,
            "batch": batch,
            "identity": "existing",
            "events_stored": stored,
            "events_per_subscriber": round(per_subscriber.iter().sum::<u64>() as f64 / n),
            "events_per_subscriber_min": per_subscriber.iter().min(),
            "events_per_subscriber_max": per_subscriber.iter().max(),
            "events_delivered": all.len(),
            "delay_ms": distribution(all),
            "delay_ms_steady": distribution(steady),
            "time_to_snapshot_ms": distribution(to_snapshot),
            "rss_ready_mb": mib(rss_ready),
            "rss_idle_mb": mib(rss_idle),
            "rss_peak_mb": mib(rss.iter().copied().max().unwrap_or(0)),
            "rss_mean_mb": mib(rss.iter().sum::<u64>() / rss.len().max(1) as u64),
            "rss_after_mb": mib(rss_after),
            "startup_ms": round(startup.as_secs_f64() * 1000.0),
            "connect_s": round(connect),
            "wall_s": round(wall.as_secs_f64()),
            "batch_s": round(batch_s),
            "server_cpu_s": round(server_cpu),
            "bench_cpu_s": round(bench_cpu),
            "jobs_onboarded": batch_view["onboarded"],
            "jobs_adopted": batch_view["adopted"],
            "jobs_failed": batch_view["failed"],
            "failed_subscribers": failed_subscribers,
            "missing_events": missing,
            "duplicates": duplicates,
            "gaps": gaps,
            "store_slow_acquires": slow_acquires,
        })
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_keys_tell_apart_ids_of_one_instant_and_refuse_other_shapes() {
        // Two UUID v7 of the same millisecond: the same first characters.
        let a = "019a7c3e-1f00-7000-8000-00000000000a";
        let b = "019a7c3e-1f00-7000-8000-00000000000b";
        let mut map: HashMap<JobKey, i64, BuildHasherDefault<KeyHasher>> = HashMap::default();
        map.insert(JobKey::of(a).unwrap(), 1);
        map.insert(JobKey::of(b).unwrap(), 2);
        assert_eq!(map.len(), 2);
        assert_eq!(map.get(&JobKey::of(b).unwrap()), Some(&2));
        assert_eq!(JobKey::of(a).unwrap().as_str(), a);
        assert!(JobKey::of("019a7c3e").is_none());
        assert!(JobKey::of(&format!("{a}0")).is_none());
    }

    #[test]
    fn frames_split_across_chunks_and_comments_are_skipped() {
        let mut p = SseParser::default();
        let mut got = Vec::new();
        p.push(b": keep-alive\n\nevent: snap", |f| got.push(f));
        assert!(got.is_empty());
        p.push(b"shot\r\ndata: {\"a\":\n", |f| got.push(f));
        p.push(b"data: 1}\n\nid: x:1\ndata:{}\n\n", |f| got.push(f));
        assert_eq!(
            got,
            vec![
                Frame {
                    event: "snapshot".into(),
                    id: String::new(),
                    data: "{\"a\":\n1}".into()
                },
                Frame {
                    event: String::new(),
                    id: "x:1".into(),
                    data: "{}".into()
                },
            ]
        );
    }

    #[test]
    fn an_event_is_read_from_its_id_and_the_start_of_its_data_or_else_whole() {
        let data =
            r#"{"at":"2026-11-22T12:00:00.5Z","event":{"type":"log"},"job_id":"j-1","seq":7}"#;
        let quick = Frame {
            event: String::new(),
            id: "j-1:7".into(),
            data: data.into(),
        };
        let other_order = Frame {
            event: String::new(),
            id: String::new(),
            data: r#"{"seq":8,"job_id":"j-2","at":"2026-11-22T12:00:01Z","event":{}}"#.into(),
        };
        for (frame, want) in [
            (&quick, ("j-1", 7, "2026-11-22T12:00:00.5Z")),
            (&other_order, ("j-2", 8, "2026-11-22T12:00:01Z")),
        ] {
            let d = DataFrame::read(frame).unwrap();
            assert_eq!((d.job_id, d.seq, d.at), want);
        }
        let broken = Frame {
            data: "{\"seq\":".into(),
            ..Frame::default()
        };
        assert!(DataFrame::read(&broken).is_err());
    }

    #[test]
    fn at_keeps_microseconds() {
        let a = parse_at("2026-11-22T12:00:00.123456Z").unwrap();
        let b = parse_at("2026-11-22T12:00:00Z").unwrap();
        assert_eq!(a - b, 123_456);
    }
}
