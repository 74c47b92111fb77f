//! The onboarding engine on a batch of subscriptions (5,000 by default) with the `existing`
//! identity against the in-process emulator at 50 requests/s per endpoint.
//!
//! Prints one JSON object: `{"scenario", "client", "latency_ms", "jobs", "rate_limit_rps",
//! "wall_s", "bound_s", "efficiency", "failures", "duplicates", "events", "events_per_s",
//! "db_bytes_per_job", "rss_…", "concurrency", …}`. Memory: this process's resident set (engine,
//! store and emulator together) before the batch and at its peak (sampled every 100 ms); the
//! growth divided by the jobs is `rss_growth_kib_per_job`.
//! `bound_s` is the least time the emulator's per-endpoint token buckets allow for the calls
//! they admitted (max over endpoints of `(admitted − burst) / rate`); `efficiency = bound / wall`.

use std::time::{Duration, Instant};

use cortex_bench::common::{EngineBench, Setup};
use cortex_bench::{Args, round, rss_kib};
use onboarding_engine::{Concurrency, RawRequest, TerraformMode};
use prisma_types::SecretString;
use tokio_util::sync::CancellationToken;

const HELP: &str = "\
engine-bench: one batch through the onboarding engine against the in-process emulator.

Usage: engine-bench [OPTIONS]

Options:
  --jobs N              subscriptions in the batch (default 5000)
  --rate RPS            the emulator's limit per endpoint, req/s (default 50)
  --latency-ms MS       latency the emulator adds to every request (default 0)
  --concurrency N       run exactly N jobs at once (default: sized by the engine)
  --max-concurrency N   the most the engine's sizing may choose (default 256)
  --help                this text

Prints one JSON object; see docs/benchmarks.md.";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::from_env();
    if args.flag("--help") || args.flag("-h") {
        println!("{HELP}");
        return Ok(());
    }
    let jobs: u32 = args.parsed("--jobs", 5000)?;
    let rps: u32 = args.parsed("--rate", 50)?;
    let latency_ms: u64 = args.parsed("--latency-ms", 0)?;
    let fixed: Option<usize> = args.value("--concurrency").map(|v| v.parse()).transpose()?;
    let max_concurrency: usize = args.parsed("--max-concurrency", 256)?;

    let bench = EngineBench::start(
        Setup {
            rps,
            latency_ms,
            terraform: TerraformMode::sandbox(),
        },
        |config| {
            config.concurrency = fixed.unwrap_or(max_concurrency);
            config.adaptive_concurrency = fixed.is_none();
        },
    )
    .await?;
    let engine = bench.engine.clone();
    let items = (0..jobs)
        .map(|n| {
            let raw = RawRequest {
                scope: Some("subscription".into()),
                subscription_id: Some(format!("be4c0000-0000-4000-8000-{n:012x}")),
                tenant_id: Some("be4cffff-0000-4000-8000-000000000001".into()),
                name: Some(format!("bench-{n:05}")),
                groups: vec!["00000000-0000-4000-8000-00000000d0a9".into()],
                identity: Some("existing".into()),
                client_id: Some(format!("c11e0000-0000-4000-8000-{n:012x}")),
                service_principal_id: Some(format!("5e000000-0000-4000-8000-{n:012x}")),
                ..RawRequest::default()
            };
            (
                raw.validate().expect("valid"),
                Some(SecretString::from(format!("bench-client-secret-{n:06}"))),
            )
        })
        .collect();
    let (batch, job_ids) = engine.submit_batch("bench", items, "bench").await?;
    let pid = std::process::id();
    let rss_before = rss_kib(pid).unwrap_or(0);
    let sampling = CancellationToken::new();
    let sampler = tokio::spawn({
        let (sampling, engine) = (sampling.clone(), engine.clone());
        async move {
            let (mut peak, mut most_jobs) = (0u64, 0usize);
            while !sampling.is_cancelled() {
                peak = peak.max(rss_kib(pid).unwrap_or(0));
                most_jobs = most_jobs.max(engine.concurrency_limit());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (peak, most_jobs)
        }
    });
    let started = Instant::now();
    engine.run_worker(CancellationToken::new(), true).await?;
    let wall = started.elapsed();
    sampling.cancel();
    let (rss_peak, most_jobs) = sampler.await?;

    let failures = bench.failures(batch).await?;
    let stats = bench.stats();
    let bound = bench.bound_s(&stats);
    let mut events = 0usize;
    for job in &job_ids {
        events += bench.store.events_after(*job, 0, 1_000_000).await?.len();
    }
    println!(
        "{}",
        serde_json::json!({
            "scenario": format!("engine-batch-{jobs}-existing-at-{rps}rps"),
            "client": "azure-cortex",
            "path": "engine",
            "latency_ms": latency_ms,
            "jobs": jobs,
            "rate_limit_rps": rps,
            "concurrency": match engine.concurrency_mode() {
                Concurrency::Fixed(n) => format!("fixed {n}"),
                Concurrency::Adaptive { max } => format!("adaptive (max {max}): most {most_jobs}, last {}", engine.concurrency_limit()),
            },
            "rss_before_mib": round(rss_before as f64 / 1024.0),
            "rss_peak_mib": round(rss_peak as f64 / 1024.0),
            "rss_growth_kib_per_job": round(rss_peak.saturating_sub(rss_before) as f64 / f64::from(jobs.max(1))),
            "wall_s": round(wall.as_secs_f64()),
            "bound_s": round(bound),
            "efficiency": round(bound / wall.as_secs_f64()),
            "failures": failures,
            "duplicates": stats.accounts.saturating_sub(jobs as usize),
            "events": events,
            "events_per_s": round(events as f64 / wall.as_secs_f64()),
            "db_bytes_per_job": bench.db_bytes() / u64::from(jobs.max(1)),
            "calls_per_endpoint": EngineBench::calls_per_endpoint(&stats),
        })
    );
    bench.close().await;
    Ok(())
}
