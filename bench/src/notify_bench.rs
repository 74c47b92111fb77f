//! Cross-replica event delivery on PostgreSQL: how soon replica A sees an event that replica B
//! stored.
//!
//! Starts a throwaway PostgreSQL cluster (the store's test harness, `cortex_store::testing`),
//! opens two stores on one database (two pools: two replicas), inserts a job, and has replica
//! B append `--events N` events `--gap-ms` apart, as a worker's event writer does. Replica A
//! follows the job the way a job stream does for a job another process runs
//! (`cortex-web/src/sse.rs`): in mode `notify` it waits on `Store::watch_job` (LISTEN/NOTIFY)
//! and then reads `events_after`; in mode `poll` it reads `events_after` every `--poll-ms`
//! (what streams do on SQLite, and what PostgreSQL replicas did before notices). For each
//! event, `delay = when A has read it − just before B's append started` (one process, one
//! monotonic clock).
//!
//! Prints one JSON object per mode: `{"scenario": "replica_events", "mode", "events",
//! "gap_ms", "delay_ms": {p50, p95, p99, max, mean}}`.
//!
//! `notify-bench [--events 500] [--gap-ms 20] [--poll-events 20] [--poll-ms 1000]`

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use cortex_bench::{Args, percentile, round};
use cortex_store::{JobId, Keyring, NewJob, Store};
use serde_json::json;

const HELP: &str = "\
notify-bench: how soon replica A sees an event replica B stored (PostgreSQL LISTEN/NOTIFY
against polling), on a throwaway PostgreSQL cluster.

Usage: notify-bench [OPTIONS]

Options:
  --events N       events in the notify mode (default 500; 0 skips it)
  --gap-ms MS      time between two appends (default 20)
  --poll-events N  events in the poll mode (default 20; 0 skips it)
  --poll-ms MS     the poll mode's interval (default 1000)
  --help           this text

Prints one JSON object per mode; see the module docs and docs/benchmarks.md.";

#[derive(Clone, Copy)]
enum Mode {
    Notify,
    Poll(Duration),
}

async fn run(url: &str, mode: Mode, events: i64, gap: Duration) -> anyhow::Result<Vec<f64>> {
    let key: [u8; 32] = rand_key();
    let a = Store::open(url, Keyring::from_key("bench", key)).await?;
    let b = Store::open(url, Keyring::from_key("bench", key)).await?;
    let job = NewJob {
        id: JobId::new(),
        batch_id: None,
        kind: "bench".into(),
        request: json!({}),
        created_by: "bench".into(),
    };
    a.insert_job(&job).await?;
    let sent: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
    let reader = {
        let (a, sent) = (a.clone(), sent.clone());
        tokio::spawn(async move {
            let mut watch = a.watch_job(job.id).await;
            anyhow::ensure!(
                matches!(mode, Mode::Poll(_)) || watch.pushed(),
                "replica A gets no change notices"
            );
            let mut last = 0;
            let mut delays = Vec::new();
            while last < events {
                match mode {
                    Mode::Notify => {
                        watch.changed().await;
                    }
                    Mode::Poll(every) => tokio::time::sleep(every).await,
                }
                for e in a.events_after(job.id, last, 500).await? {
                    let now = Instant::now();
                    last = e.seq;
                    let start = sent.lock().unwrap().get(&e.seq).copied();
                    if let Some(start) = start {
                        delays.push(now.duration_since(start).as_secs_f64() * 1000.0);
                    }
                }
            }
            Ok::<_, anyhow::Error>(delays)
        })
    };
    // The reader's watch is set before the first append.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for n in 1..=events {
        // Noted before the append: its seq is n (the only writer), and A may read it before
        // the append returns to B.
        sent.lock().unwrap().insert(n, Instant::now());
        let stored = b
            .append_event(job.id, &json!({"type": "progress", "n": n}))
            .await?;
        anyhow::ensure!(stored.seq == n, "seq {} for event {n}", stored.seq);
        tokio::time::sleep(gap).await;
    }
    let delays = tokio::time::timeout(Duration::from_secs(120), reader)
        .await
        .context("replica A did not see every event")???;
    a.close().await;
    b.close().await;
    Ok(delays)
}

fn rand_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    for (i, b) in key.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37).wrapping_add(11);
    }
    key
}

fn summary(mut delays: Vec<f64>) -> serde_json::Value {
    delays.sort_by(f64::total_cmp);
    let mean = delays.iter().sum::<f64>() / delays.len().max(1) as f64;
    json!({
        "n": delays.len(),
        "p50": round(percentile(&delays, 50.0)),
        "p95": round(percentile(&delays, 95.0)),
        "p99": round(percentile(&delays, 99.0)),
        "max": round(delays.last().copied().unwrap_or(0.0)),
        "mean": round(mean),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::from_env();
    if args.flag("--help") || args.flag("-h") {
        println!("{HELP}");
        return Ok(());
    }
    let events: i64 = args.parsed("--events", 500)?;
    let gap = Duration::from_millis(args.parsed("--gap-ms", 20)?);
    let poll_events: i64 = args.parsed("--poll-events", 20)?;
    let poll = Duration::from_millis(args.parsed("--poll-ms", 1000)?);
    let url = cortex_store::testing::fresh_database("notify_bench").await;
    for (mode, n, name) in [
        (Mode::Notify, events, "notify"),
        (Mode::Poll(poll), poll_events, "poll"),
    ] {
        if n == 0 {
            continue;
        }
        let delays = run(&url, mode, n, gap).await?;
        println!(
            "{}",
            json!({
                "scenario": "replica_events",
                "mode": name,
                "events": n,
                "gap_ms": gap.as_millis() as u64,
                "poll_ms": matches!(mode, Mode::Poll(_)).then_some(poll.as_millis() as u64),
                "delay_ms": summary(delays),
            })
        );
    }
    Ok(())
}
