//! Cortex Cloud onboarding at scale, end to end: `--instances` management-group instances (200
//! by default) submitted to the engine at once and run in the sandbox set-up — the in-process
//! emulator's Cortex face, the real `terraform` applying each template's `terraform_data` twin
//! (whose callback really calls the emulator), the engine's shared Cortex client.
//!
//! Prints one JSON object: `{"scenario", "instances", "concurrency", "rate_limit_rps",
//! "capability_delay_ms", "key_type", "wall_s", "failures", "failed_codes", "steps",
//! "instances_pending", "instances_connected", "calls_per_endpoint"}`.
//! * `steps`: per step of the Cortex flow (`validate`, `prerequisites`, `create_instance`,
//!   `download_template`, `apply_template`, `await_connection`, `verify`, `list_accounts`), from
//!   each job's `step_finished` events: `runs`, `sum_s`, `p50_s`, `p95_s`, `max_s`.
//! * `failures`: jobs that did not succeed; `failed_codes`: their error codes, counted.
//! * `instances_pending` / `instances_connected`: what the emulator holds afterwards (one of
//!   each per job when nothing was created twice).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cortex_bench::common::{EngineBench, Setup};
use cortex_bench::{Args, round};
use cortex_cloud_types::{ApiKey, ApiUrl, KeyId, KeyType, SecretString};
use cortex_store::JobState;
use onboarding_engine::connections::CortexConnection;
use onboarding_engine::cortex::RawCortexRequest;
use onboarding_engine::{Step, TerraformMode};
use prisma_emulator::cortex::CortexConfig;
use prisma_emulator::cortex::config::DEMO_TENANT;
use tokio_util::sync::CancellationToken;

const HELP: &str = "\
cortex-onboarding-bench: management-group instances onboarded into Cortex Cloud through the
engine, terraform on each template's offline twin and the in-process emulator's Cortex face.

Usage: cortex-onboarding-bench [OPTIONS]

Options:
  --instances N             management-group instances (default 200)
  --concurrency N           the most jobs at once (default 32)
  --rate RPS                the emulator's limit per endpoint, req/s (default 50)
  --capability-delay-ms MS  callback to the last capability's final status (default 8000,
                            the sandbox's)
  --key-type TYPE           advanced (default, as the sandbox) or standard
  --help                    this text

Needs terraform and curl on PATH. Prints one JSON object; see docs/benchmarks.md.";

const KEY: &str = "BenchCortexOnboardingKey0123456789abcdefghijklmnopqrstuvwxyzABCD";
const KEY_ID: u64 = 9;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::from_env();
    if args.flag("--help") || args.flag("-h") {
        println!("{HELP}");
        return Ok(());
    }
    let instances: u32 = args.parsed("--instances", 200)?;
    let concurrency: usize = args.parsed("--concurrency", 32)?;
    let rps: u32 = args.parsed("--rate", 50)?;
    let delay_ms: u64 = args.parsed(
        "--capability-delay-ms",
        prisma_emulator::cortex::callback::DEFAULT_CAPABILITY_DELAY.as_millis() as u64,
    )?;
    let kind: KeyType = args
        .value("--key-type")
        .unwrap_or_else(|| "advanced".into())
        .parse()
        .map_err(|e: cortex_cloud_types::ValidationError| anyhow::anyhow!("--key-type: {e}"))?;
    let binary = onboarding_engine::identity::find_on_path("terraform")
        .ok_or_else(|| anyhow::anyhow!("terraform is not on PATH"))?;
    if onboarding_engine::identity::find_on_path("curl").is_none() {
        anyhow::bail!("curl is not on PATH (the twin's callback uses it)");
    }
    let key = ApiKey::new(KeyId::new(KEY_ID)?, SecretString::from(KEY), kind)?;

    let bench = EngineBench::start_with(
        Setup {
            rps,
            latency_ms: 0,
            terraform: TerraformMode::Twin {
                binary,
                step_seconds: 0.0,
            },
        },
        |emulator| {
            emulator.cortex = CortexConfig::new(key.id, key.key.clone(), key.kind);
            emulator.cortex.capability_delay = Duration::from_millis(delay_ms);
            // Plain http links: the listener has no TLS.
            emulator.issuer = "http://127.0.0.1".into();
        },
        |config, emulator| {
            config.sandbox = true;
            config.concurrency = concurrency;
            config.cortex_sandbox =
                ApiUrl::parse(&emulator.base_url())
                    .ok()
                    .map(|api_url| CortexConnection {
                        api_url,
                        key: key.clone(),
                    });
        },
    )
    .await?;
    let (engine, store) = (&bench.engine, &bench.store);
    let mut jobs = Vec::new();
    for n in 0..instances {
        let request = RawCortexRequest {
            connection: Some("cortex-sandbox".into()),
            instance_name: Some(format!("bench-mg-{n:04}")),
            tenant_id: Some(DEMO_TENANT.into()),
            scope: Some("management_group".into()),
            subscription_id: Some(format!("c9be0000-0000-4000-8000-{n:012x}")),
            management_group_id: Some(format!("mg-bench-{n:04}")),
            capabilities: Some(vec!["agentless_disk_scanning".into(), "registry".into()]),
            ..RawCortexRequest::default()
        }
        .validate()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        jobs.push(engine.submit_cortex(&request, "bench").await?);
    }

    let started = Instant::now();
    let started_at = time::OffsetDateTime::now_utc();
    engine.run_worker(CancellationToken::new(), true).await?;
    let wall = started.elapsed();

    let names: Vec<&str> = Step::CORTEX.iter().map(|s| s.name()).collect();
    let timing = cortex_bench::common::step_times(store, &jobs, started_at, &names).await?;
    let mut failed_codes: BTreeMap<String, u64> = BTreeMap::new();
    for job in &jobs {
        let record = store
            .get_job(*job)
            .await?
            .ok_or_else(|| anyhow::anyhow!("job {job} is gone"))?;
        if record.state != JobState::Succeeded {
            let code = record
                .error
                .as_ref()
                .and_then(|e| e["code"].as_str())
                .unwrap_or(record.state.as_str())
                .to_owned();
            *failed_codes.entry(code).or_default() += 1;
        }
    }
    let (pending, connected) = {
        let s = bench.emulator.state.cortex.lock();
        let pending = s.all().filter(|i| i.is_pending()).count();
        (pending, s.all().count() - pending)
    };
    let stats = bench.stats();
    println!(
        "{}",
        serde_json::json!({
            "scenario": format!("cortex-{instances}-management-groups-twin-at-{rps}rps"),
            "client": "azure-cortex",
            "path": "engine",
            "instances": instances,
            "concurrency": concurrency,
            "rate_limit_rps": rps,
            "capability_delay_ms": delay_ms,
            "key_type": kind.as_str(),
            "wall_s": round(wall.as_secs_f64()),
            "failures": failed_codes.values().sum::<u64>(),
            "failed_codes": failed_codes,
            "steps": timing["steps"],
            "instances_pending": pending,
            "instances_connected": connected,
            "calls_per_endpoint": EngineBench::calls_per_endpoint(&stats),
        })
    );
    bench.close().await;
    Ok(())
}
