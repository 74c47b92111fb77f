//! Bulk with one identity per tenant, end to end: a batch of subscriptions in one tenant (500
//! by default) with the builtin identity, through the engine, the real `terraform` on the
//! offline twin and the in-process emulator at 50 requests/s per endpoint.
//!
//! Prints one JSON object: `{"scenario", "jobs", "identity_per", "rate_limit_rps", "wall_s",
//! "bound_s", "efficiency", "failures", "duplicates", "terraform_runs", "app_registrations",
//! "client_ids", "workspace_bytes_peak", "workspace_bytes_after", "workspace_bytes_per_job_…",
//! "plugin_cache_bytes", "db_bytes_per_job"}`.
//! * `bound_s`: the least time the emulator's per-endpoint token buckets allow for the calls
//!   they admitted (max over endpoints of `(admitted − burst) / rate`), as in `engine-bench`;
//!   `efficiency = bound / wall`.
//! * `terraform_runs`: jobs that ran `terraform apply`; `app_registrations`: app registrations
//!   those runs planned to create; `client_ids`: distinct identities the accounts got;
//!   `terraform_phases`: per phase (`init`, `plan`, `apply`), how many runs and their seconds
//!   (the identity's state and each role-set chunk's state are runs of their own).
//! * Disk: the data directory's `workspaces/` sampled every 100 ms (peak) and at the end, and
//!   the provider plugin cache. The twin has no providers, so these bytes are configuration,
//!   lock and state files only (see docs/benchmarks.md for what that does and does not show).
//!
//! `--identity-per subscription` runs the same batch with one identity per subscription (the
//! "before").

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use cortex_bench::common::{EngineBench, Setup};
use cortex_bench::{Args, round};
use onboarding_engine::{IdentityPer, RawRequest, TerraformMode};
use tokio_util::sync::CancellationToken;

const HELP: &str = "\
bulk-identity-bench: one batch of subscriptions in one tenant with the builtin identity,
through the engine, terraform on the offline twin and the in-process emulator.

Usage: bulk-identity-bench [OPTIONS]

Options:
  --jobs N                subscriptions in the batch (default 500)
  --rate RPS              the emulator's limit per endpoint, req/s (default 50)
  --identity-per PER      shared-tenant (default) or subscription
  --step-seconds S        the twin's pause per resource (default 0)
  --concurrency N         the most jobs at once (default 32, sized by the engine)
  --chunk N               subscriptions per role-set state (default 50)
  --help                  this text

Needs terraform on PATH. Prints one JSON object; see docs/benchmarks.md.";

/// Bytes of every file under `path` (0 if it does not exist).
fn tree_bytes(path: &Path) -> u64 {
    terraform_runner::plugin_cache::disk_usage(path).unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::from_env();
    if args.flag("--help") || args.flag("-h") {
        println!("{HELP}");
        return Ok(());
    }
    let jobs: u32 = args.parsed("--jobs", 500)?;
    let rps: u32 = args.parsed("--rate", 50)?;
    let step_seconds: f64 = args.parsed("--step-seconds", 0.0)?;
    let concurrency: usize = args.parsed("--concurrency", 32)?;
    let chunk: usize = args.parsed("--chunk", azure_config::tenant_identity::ROLE_SET_CHUNK)?;
    let per = IdentityPer::parse(&args.value("--identity-per").unwrap_or_default())
        .map_err(anyhow::Error::msg)?;
    let binary = onboarding_engine::identity::find_on_path("terraform")
        .ok_or_else(|| anyhow::anyhow!("terraform is not on PATH"))?;

    let bench = EngineBench::start(
        Setup {
            rps,
            latency_ms: 0,
            terraform: TerraformMode::Twin {
                binary,
                step_seconds,
            },
        },
        |config| {
            config.sandbox = true;
            config.concurrency = concurrency;
            config.role_set_chunk = chunk;
        },
    )
    .await?;
    let (engine, store, dir) = (&bench.engine, &bench.store, bench.dir.path());
    let mut items = Vec::new();
    for n in 0..jobs {
        let mut request = RawRequest {
            scope: Some("subscription".into()),
            subscription_id: Some(format!("b01c0000-0000-4000-8000-{n:012x}")),
            tenant_id: Some("b01cffff-0000-4000-8000-000000000001".into()),
            name: Some(format!("bulk-{n:05}")),
            groups: vec!["00000000-0000-4000-8000-00000000d0a9".into()],
            ..RawRequest::default()
        }
        .validate()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        per.apply(&mut request)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        items.push((request, None));
    }
    let (batch, job_ids) = engine.submit_batch("bench", items, "bench").await?;

    let workspaces = dir.join("workspaces");
    let sampling = CancellationToken::new();
    let sampler = tokio::spawn({
        let (sampling, workspaces) = (sampling.clone(), workspaces.clone());
        async move {
            let mut peak = 0u64;
            while !sampling.is_cancelled() {
                peak = peak.max(tree_bytes(&workspaces));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            peak
        }
    });
    let started = Instant::now();
    let started_at = time::OffsetDateTime::now_utc();
    engine.run_worker(CancellationToken::new(), true).await?;
    let wall = started.elapsed();
    sampling.cancel();
    let peak = sampler.await?;

    let failures = bench.failures(batch).await?;
    let stats = bench.stats();
    let bound = bench.bound_s(&stats);
    let (mut terraform_runs, mut app_registrations) = (0u32, BTreeSet::new());
    let mut client_ids = BTreeSet::new();
    // Terraform phase → (runs, seconds in them), over every job.
    let mut phases: std::collections::BTreeMap<String, (u32, u64)> = Default::default();
    for job in &job_ids {
        let mut applied = false;
        for e in store.events_after(*job, 0, 1_000_000).await? {
            let event = &e.event;
            if event["type"] == "terraform_phase" {
                let phase = event["phase"].as_str().unwrap_or("").to_owned();
                let ms = event["elapsed_ms"].as_u64().unwrap_or(0);
                let entry = phases.entry(phase.clone()).or_insert((0u32, 0u64));
                *entry = (entry.0 + 1, entry.1 + ms);
                applied |= phase == "apply";
            }
            if event["type"] == "terraform_planned_change"
                && event["action"] == "create"
                && event["address"] == "terraform_data.azuread_application__prisma_cloud"
            {
                app_registrations.insert(*job);
            }
        }
        terraform_runs += u32::from(applied);
        if let Some(result) = store.get_job(*job).await?.and_then(|j| j.result) {
            client_ids.insert(result["client_id"].as_str().unwrap_or("").to_owned());
        }
    }
    let timing = cortex_bench::common::step_times(store, &job_ids, started_at, &[]).await?;
    let after = tree_bytes(&workspaces);
    let db = bench.db_bytes();
    let per_job = |bytes: u64| bytes / u64::from(jobs.max(1));
    println!(
        "{}",
        serde_json::json!({
            "scenario": format!("bulk-{jobs}-builtin-{}-twin-at-{rps}rps", per.as_str()),
            "client": "azure-cortex",
            "path": "engine",
            "jobs": jobs,
            "identity_per": per.as_str(),
            "rate_limit_rps": rps,
            "step_seconds": step_seconds,
            "role_set_chunk": chunk,
            "wall_s": round(wall.as_secs_f64()),
            "bound_s": round(bound),
            "efficiency": round(bound / wall.as_secs_f64()),
            "failures": failures,
            "duplicates": stats.accounts.saturating_sub(jobs as usize),
            "terraform_runs": terraform_runs,
            "app_registrations": app_registrations.len(),
            "terraform_phases": phases
                .iter()
                .map(|(phase, (runs, ms))| (phase.clone(), serde_json::json!({ "runs": runs, "s": round(*ms as f64 / 1000.0) })))
                .collect::<serde_json::Map<_, _>>(),
            "client_ids": client_ids.len(),
            "workspace_bytes_peak": peak,
            "workspace_bytes_after": after,
            "workspace_bytes_per_job_peak": per_job(peak),
            "workspace_bytes_per_job_after": per_job(after),
            "plugin_cache_bytes": tree_bytes(&dir.join("terraform-plugins")),
            "db_bytes_per_job": per_job(db),
            "calls_per_endpoint": EngineBench::calls_per_endpoint(&stats),
            "steps": timing["steps"],
            "first_job_done_s": timing["first_job_done_s"],
            "last_job_done_s": timing["last_job_done_s"],
        })
    );
    bench.close().await;
    Ok(())
}
