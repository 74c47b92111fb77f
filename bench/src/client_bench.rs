//! Client throughput against the emulator's rate limits.
//!
//! For each scenario it starts `azure-cortex emulator` as a separate process (so this
//! process's CPU time is the client's alone), runs N onboardings — status check, add, read
//! back — all at once through one client, and prints one JSON object:
//!
//! `{"scenario", "accounts", "rate_limit_rps", "wall_s", "bound_s", "efficiency", "failures",
//!   "duplicates", "retries", …}`
//!
//! `bound_s` is the least time the emulator's per-endpoint token buckets allow for the calls
//! they admitted: `max over endpoints of (admitted - burst) / rate`. Injected faults (429, 503,
//! resets) are answered before the bucket and consume no token, so they do not raise the bound;
//! the time they cost shows in `wall_s`. `efficiency = bound_s / wall_s`.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cortex_bench::{Args, Process, round};
use futures::StreamExt;
use prisma_client::{
    BaseUrl, ClientConfig, ClientEvent, Credentials, Outcome, PacingConfig, PrismaClient,
    RetryPolicy,
};
use prisma_types::account::{AccountScope, AzureCredentials, Subscription};
use prisma_types::{
    AccountGroupId, AccountName, AzureAccount, Environment, FeatureSet, ObjectId, SecretString,
    SubscriptionId, TenantId,
};

const SECRET: &str = "bench-secret-key-not-a-real-one";

struct Emulator {
    _process: Process,
    url: String,
}

fn start_emulator(binary: &str, rps: u32, faults: bool, seed: u64) -> anyhow::Result<Emulator> {
    let mut cmd = Command::new(binary);
    cmd.args([
        "emulator",
        "--listen",
        "127.0.0.1:0",
        "--access-key",
        "bench",
        "--read-delay-ms",
        "0",
    ])
    .args([
        "--rate-limit",
        &rps.to_string(),
        "--burst",
        &rps.to_string(),
        "--seed",
        &seed.to_string(),
    ])
    .env("AZURE_CORTEX_EMULATOR_SECRET_KEY", SECRET)
    .env("RUST_LOG", "warn")
    .stderr(Stdio::inherit());
    if faults {
        cmd.args([
            "--p-429",
            "0.10",
            "--p-503",
            "0.03",
            "--p-reset",
            "0.01",
            "--p-commit-drop",
            "0.01",
        ]);
    }
    let (process, first) = Process::spawn_announcing(&mut cmd)?;
    let url = first.rsplit(' ').next().context("no URL")?.to_owned();
    if !url.starts_with("http") {
        bail!("unexpected emulator output: {first}");
    }
    Ok(Emulator {
        _process: process,
        url,
    })
}

fn account(n: u32) -> AzureAccount {
    let g = |ns: u16| format!("{ns:04x}0000-bbbb-4ccc-8ddd-{n:012x}");
    AzureAccount::new(
        AccountScope::Subscription(Subscription {
            subscription_id: SubscriptionId::parse(&g(0xbe4c)).unwrap(),
            tenant_id: TenantId::parse(&g(0x7e4a)).unwrap(),
            name: AccountName::parse(&format!("bench-{n:05}")).unwrap(),
            group_ids: vec![AccountGroupId::parse("00000000-0000-4000-8000-00000000d0a9").unwrap()],
            features: FeatureSet::default(),
            monitor_flow_logs: false,
            environment: Environment::Azure,
            enabled: true,
        }),
        AzureCredentials::new(
            ObjectId::parse(&g(0xc1d0)).unwrap(),
            SecretString::from(format!("bench-client-secret-{n:08}")),
            ObjectId::parse(&g(0x5e00)).unwrap(),
        )
        .unwrap(),
    )
    .unwrap()
}

/// CPU time this process's threads have used, in nanoseconds of run time from
/// `/proc/self/task/*/schedstat` (Linux; exact, unlike the 10 ms ticks of `/proc/self/stat`).
fn process_cpu() -> Duration {
    let mut total = 0u64;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) {
                total += text
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    Duration::from_nanos(total)
}

#[derive(serde::Deserialize)]
struct Stats {
    accounts: usize,
    endpoints: std::collections::BTreeMap<String, EndpointStats>,
}

#[derive(serde::Deserialize)]
struct EndpointStats {
    admitted: u64,
}

async fn scenario(
    binary: &str,
    label: &str,
    accounts: u32,
    rps: u32,
    faults: bool,
) -> anyhow::Result<serde_json::Value> {
    let emu = start_emulator(binary, rps, faults, 42)?;
    let mut config = ClientConfig::new(
        BaseUrl::parse(&emu.url, false)?,
        Credentials::new("bench", SECRET),
    );
    config.pacing = PacingConfig::uniform(f64::from(rps), rps);
    config.retry = RetryPolicy {
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_secs(2),
        ..RetryPolicy::default()
    };
    let requests = Arc::new(AtomicU64::new(0));
    let retries = Arc::new(AtomicU64::new(0));
    let (req, ret) = (requests.clone(), retries.clone());
    let hook = Arc::new(move |e: &ClientEvent| match e {
        ClientEvent::Call { .. } => {
            req.fetch_add(1, Ordering::Relaxed);
        }
        ClientEvent::Retry { .. } => {
            ret.fetch_add(1, Ordering::Relaxed);
        }
        _ => {}
    });
    let client = PrismaClient::with_hook(config, Some(hook))?;
    client.ensure_session().await?;
    let cpu_before = process_cpu();
    let requests_before = requests.load(Ordering::Relaxed);
    let started = Instant::now();
    let results: Vec<_> = futures::stream::iter(0..accounts)
        .map(|n| {
            let client = client.clone();
            async move {
                let account = account(n);
                client.status_check(&account).await?;
                let registration = client.add_azure_account(&account, true).await?;
                client
                    .wait_until_readable(account.account_id(), Duration::from_secs(120))
                    .await?;
                Ok::<_, prisma_client::Error>(registration)
            }
        })
        .buffer_unordered(accounts as usize)
        .collect()
        .await;
    let wall = started.elapsed();
    let cpu = process_cpu() - cpu_before;
    let calls = requests.load(Ordering::Relaxed) - requests_before;

    let stats: Stats = reqwest::get(format!("{}/_emulator/stats", emu.url))
        .await?
        .json()
        .await?;
    let burst = f64::from(rps);
    let bound = stats
        .endpoints
        .iter()
        .filter(|(name, _)| !name.contains("/login") && !name.contains("/auth_token"))
        .map(|(_, e)| ((e.admitted as f64 - burst).max(0.0)) / f64::from(rps))
        .fold(0.0, f64::max);
    let failures = results.iter().filter(|r| r.is_err()).count();
    if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
        eprintln!("first failure: {e}");
    }
    let adopted = results
        .iter()
        .filter(|r| matches!(r, Ok(reg) if reg.outcome == Outcome::Adopted))
        .count();
    let succeeded = accounts as usize - failures;
    Ok(serde_json::json!({
        "scenario": format!("{label}-{accounts}-at-{rps}rps-{}", if faults { "faults" } else { "clean" }),
        "accounts": accounts,
        "rate_limit_rps": rps,
        "faults": faults,
        "wall_s": round(wall.as_secs_f64()),
        "bound_s": round(bound),
        // No meaningful bound when the limit never binds (the saturation scenario).
        "efficiency": (bound > 0.0).then(|| round(bound / wall.as_secs_f64())),
        "failures": failures,
        "duplicates": stats.accounts.saturating_sub(succeeded),
        "adopted": adopted,
        "retries": retries.load(Ordering::Relaxed),
        "requests": calls,
        "client_cpu_us_per_request": round(cpu.as_secs_f64() * 1e6 / calls.max(1) as f64),
    }))
}

// One thread: the client needs no more, and cross-thread wake-ups cost more CPU than the work.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::from_env();
    let binary = args
        .value("--emulator")
        .unwrap_or_else(|| "target/release/azure-cortex".to_owned());
    let accounts: u32 = args.parsed("--accounts", 500)?;
    let rates: Vec<u32> = args
        .value("--rates")
        .unwrap_or_else(|| "10,50,200".to_owned())
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    for rps in rates {
        for faults in [false, true] {
            let line = scenario(&binary, "onboard", accounts, rps, faults).await?;
            println!("{line}");
        }
    }
    if !args.flag("--no-saturation") {
        // The client's own CPU per request when nothing holds it back (limits far above what
        // it can reach), separate from the idle wake-ups of a paced run.
        let line = scenario(&binary, "saturation", accounts, 100_000, false).await?;
        println!("{line}");
    }
    Ok(())
}
