//! The Cortex Cloud client's CPU per request at saturation, advanced-key hashing included.
//!
//! Starts `azure-cortex emulator` as a separate process (so this process's CPU time is the
//! client's alone: request building, key headers with a fresh nonce and SHA-256 per attempt,
//! the shared attempt loop, TLS-less HTTP/1.1, reply decoding), rate limits off, then sends
//! `--requests` calls with `--concurrency` in flight through one `CortexClient`, for each key
//! type and two endpoints (`get_instances` over a page of rows, `get_azure_approved_tenants`).
//! Prints one JSON object per scenario:
//!
//! `{"scenario": "cortex_client_cpu", "key_type", "endpoint", "requests", "concurrency",
//!   "wall_s", "rps", "client_cpu_us_per_request", "target_us": 50}`
//!
//! CPU comes from `/proc/self/stat` (user + system, 10 ms ticks): with the default 20,000
//! requests the resolution is 0.5 µs per request.
//!
//! One more line per key type, `"scenario": "cortex_reply_decode"`: the CPU of decoding one
//! `get_instances` reply (the same 20 rows, fetched once) into the client's typed page, the
//! way every call decodes it, without the exchange — what the request path costs apart from
//! decoding is the difference.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use cortex_bench::{Args, Process, cpu_seconds, round};
use cortex_cloud_client::{ClientConfig, CortexClient, PacingConfig};
use cortex_cloud_types::filter::FilterData;
use cortex_cloud_types::{ApiKey, ApiUrl, KeyId, KeyType, SecretString};
use futures::StreamExt;

const KEY: &str = "BenchCortexKey0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN";

const HELP: &str = "\
cortex-client-bench: the Cortex Cloud client's CPU per request at saturation.

Usage: cortex-client-bench [OPTIONS]

Options:
  --emulator PATH      the azure-cortex binary (default target/release/azure-cortex)
  --requests N         requests per scenario (default 20000)
  --concurrency N      requests in flight (default 64)
  --key-types LIST     standard,advanced (default both)";

struct Emulator {
    _process: Process,
    url: String,
}

fn start_emulator(
    binary: &str,
    kind: KeyType,
    key_file: &std::path::Path,
) -> anyhow::Result<Emulator> {
    let (process, first) = Process::spawn_announcing(
        std::process::Command::new(binary)
            .args([
                "emulator",
                "--listen",
                "127.0.0.1:0",
                "--no-rate-limit",
                "--cortex-key-id",
                "7",
            ])
            .arg("--cortex-key-file")
            .arg(key_file)
            .args(["--cortex-key-type", kind.as_str()]),
    )?;
    let Some(url) = first.strip_prefix("Prisma Cloud API emulator listening on ") else {
        bail!("unexpected emulator output: {first}");
    };
    Ok(Emulator {
        url: url.trim().to_owned(),
        _process: process,
    })
}

/// Seeds a page of pending instances so `get_instances` decodes real rows.
async fn seed(client: &CortexClient) -> anyhow::Result<()> {
    let request: cortex_cloud_types::wire::CreateInstanceTemplate = serde_json::from_value(
        serde_json::json!({
            "cloud_provider": "AZURE", "scope": "ACCOUNT_GROUP", "scan_mode": "MANAGED",
            "account_details": {"organization_id": "0091a7ea-5021-42d3-a276-18004980b42b"},
            "instance_name": "bench", "custom_resources_tags": [], "collection_configuration": {"audit_logs": {"enabled": true}},
            "scope_modifications": {}, "additional_capabilities": {"registry_scanning": true}
        }),
    )?;
    for _ in 0..20 {
        client.create_instance_template(&request).await?;
    }
    Ok(())
}

// One thread, as client-bench: the client needs no more, and cross-thread wake-ups cost more
// CPU than the work.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::from_env();
    if args.flag("--help") {
        println!("{HELP}");
        return Ok(());
    }
    let binary = args
        .value("--emulator")
        .unwrap_or_else(|| "target/release/azure-cortex".into());
    let requests: usize = args.parsed("--requests", 20_000)?;
    let concurrency: usize = args.parsed("--concurrency", 64)?;
    let kinds: Vec<KeyType> = args
        .value("--key-types")
        .unwrap_or_else(|| "standard,advanced".into())
        .split(',')
        .map(|k| k.parse().map_err(|e| anyhow::anyhow!("--key-types: {e}")))
        .collect::<anyhow::Result<_>>()?;
    let dir = tempfile::tempdir()?;
    let key_file = dir.path().join("cortex-key");
    std::fs::write(&key_file, KEY)?;
    for kind in kinds {
        let emu = start_emulator(&binary, kind, &key_file)?;
        let key = ApiKey::new(KeyId::new(7)?, SecretString::from(KEY), kind)?;
        let mut config = ClientConfig::new(ApiUrl::parse(&emu.url)?, key);
        config.pacing = PacingConfig::disabled();
        let client = Arc::new(CortexClient::new(config)?);
        seed(&client).await.context("seeding instances")?;
        for endpoint in ["get_instances", "get_azure_approved_tenants"] {
            let pending = FilterData::new().all(vec![cortex_cloud_types::FilterNode::eq(
                "STATUS", "PENDING",
            )]);
            // Warm the connection pool.
            client.get_instances(&pending).await?;
            let cpu_before = cpu_seconds(std::process::id()).unwrap_or(0.0);
            let started = Instant::now();
            let results: Vec<anyhow::Result<()>> = futures::stream::iter(0..requests)
                .map(|_| {
                    let (client, pending) = (client.clone(), pending.clone());
                    async move {
                        match endpoint {
                            "get_instances" => client.get_instances(&pending).await.map(|_| ())?,
                            _ => client.approved_tenants(None).await.map(|_| ())?,
                        }
                        Ok(())
                    }
                })
                .buffer_unordered(concurrency)
                .collect()
                .await;
            let wall = started.elapsed().as_secs_f64();
            let cpu = cpu_seconds(std::process::id()).unwrap_or(0.0) - cpu_before;
            let failures = results.iter().filter(|r| r.is_err()).count();
            let line = serde_json::json!({
                "scenario": "cortex_client_cpu",
                "key_type": kind.as_str(),
                "endpoint": endpoint,
                "requests": requests,
                "concurrency": concurrency,
                "failures": failures,
                "wall_s": round(wall),
                "rps": round(requests as f64 / wall),
                "client_cpu_us_per_request": round(cpu * 1e6 / requests as f64),
                "target_us": 50,
            });
            println!("{line}");
        }
        println!("{}", decode_line(&emu.url, kind, requests).await?);
    }
    Ok(())
}

/// Fetches one `get_instances` reply body and decodes it `n` times as the client does.
async fn decode_line(url: &str, kind: KeyType, n: usize) -> anyhow::Result<serde_json::Value> {
    use cortex_cloud_types::wire::{InstanceRow, Page};
    let body = serde_json::json!({"request_data": {"filter_data": {
        "filter": {"AND": [{"SEARCH_FIELD": "STATUS", "SEARCH_TYPE": "EQ", "SEARCH_VALUE": "PENDING"}]}}}});
    let mut request = reqwest::Client::new()
        .post(format!(
            "{url}{}",
            cortex_cloud_types::wire::paths::GET_INSTANCES
        ))
        .json(&body);
    request = match kind {
        KeyType::Standard => request.header("authorization", KEY),
        KeyType::Advanced => {
            let nonce = "N".repeat(64);
            let ts = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_millis()
                .to_string();
            let hash = cortex_cloud_client::auth::advanced_hash(KEY, &nonce, &ts);
            request
                .header("authorization", hash)
                .header("x-xdr-nonce", nonce)
                .header("x-xdr-timestamp", ts)
        }
    };
    let reply = request.header("x-xdr-auth-id", "7").send().await?;
    anyhow::ensure!(
        reply.status().is_success(),
        "get_instances: {}",
        reply.status()
    );
    let bytes = reply.bytes().await?;
    let cpu_before = cpu_seconds(std::process::id()).unwrap_or(0.0);
    let mut rows = 0;
    for _ in 0..n {
        let page: cortex_cloud_types::Reply<Page<InstanceRow>> =
            platform_http::body::decode_json(&bytes)?;
        rows = page.reply.data.len();
    }
    let cpu = cpu_seconds(std::process::id()).unwrap_or(0.0) - cpu_before;
    Ok(serde_json::json!({
        "scenario": "cortex_reply_decode",
        "key_type": kind.as_str(),
        "endpoint": "get_instances",
        "rows": rows,
        "reply_bytes": bytes.len(),
        "decodes": n,
        "cpu_us_per_decode": round(cpu * 1e6 / n as f64),
    }))
}
