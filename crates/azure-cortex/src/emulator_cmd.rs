//! `azure-cortex emulator`: flags → [`prisma_emulator::EmulatorConfig`], then serve until
//! Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::parser::ValueSource;
use cortex_cloud_types::{ApiKey, KeyId, KeyType};
use prisma_emulator::capabilities::ScenarioBook;
use prisma_emulator::config::AccessKey;
use prisma_emulator::cortex::CortexConfig;
use prisma_emulator::{EmulatorConfig, Faults, RateLimits};
use prisma_types::SecretString;
use rand::Rng;
use serde::Deserialize;

pub const EXAMPLES: &str = "\
Examples:
  azure-cortex emulator
  azure-cortex emulator --listen 127.0.0.1:8443 --tls --ca-cert-out /tmp/emulator-ca.pem
  AZURE_CORTEX_EMULATOR_SECRET_KEY=s3cret azure-cortex emulator --access-key demo
  azure-cortex emulator --rate-limit 10 --p-429 0.1 --p-503 0.03 --seed 7 --token-ttl 20
  azure-cortex emulator --tls --tls-name api.sandbox.prismacloud.io --ca-cert-out ca.pem \
      --connect-proxy 127.0.0.1:3128 --state-file emulator-state.json
    then: HTTPS_PROXY=http://127.0.0.1:3128 REQUESTS_CA_BUNDLE=ca.pem pc ... (docs/emulator.md)

Status-check failures are triggered by the first 8 hex digits of a subscription (or tenant) ID:
  0000dead not found · 0000bad5 wrong service principal · 00000c0c missing Graph consent
  0000f10e flow-log role · 00000a9e agentless role · 00005e1f serverless role
  00000fed remediation role · 00000a7e Key Vault data actions (see docs/emulator.md)";

#[derive(clap::Args, Debug)]
pub struct EmulatorArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// Serve https with a certificate generated at start.
    #[arg(long)]
    tls: bool,
    /// Write the generating CA certificate (PEM) here, for clients to trust.
    #[arg(long, value_name = "PATH", requires = "tls")]
    ca_cert_out: Option<PathBuf>,
    /// Access key ID to accept (default: generated and printed).
    #[arg(long)]
    access_key: Option<String>,
    /// Secret key for --access-key. Prefer the environment variable or --secret-key-file:
    /// a value on the command line is visible to every user of the machine.
    #[arg(
        long,
        env = "AZURE_CORTEX_EMULATOR_SECRET_KEY",
        hide_env_values = true,
        requires = "access_key"
    )]
    secret_key: Option<String>,
    /// File holding the secret key for --access-key.
    #[arg(
        long,
        value_name = "PATH",
        conflicts_with = "secret_key",
        requires = "access_key"
    )]
    secret_key_file: Option<PathBuf>,
    /// More access keys: a JSON file `[{"id": "...", "secret": "..."}]`.
    #[arg(long, value_name = "PATH")]
    keys_file: Option<PathBuf>,
    /// Tenant names the keys can see (repeat for a multi-tenant login).
    #[arg(long = "customer", default_value = "sandbox")]
    customers: Vec<String>,
    /// JWT lifetime in seconds (the real service: 600).
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    token_ttl: u64,
    /// Requests per second per user and endpoint (token bucket); default: published or 50/s.
    #[arg(long, value_name = "RPS")]
    rate_limit: Option<f64>,
    /// Bucket size with --rate-limit (default: the rate, at least 1).
    #[arg(long, requires = "rate_limit")]
    burst: Option<u32>,
    /// Turn rate limiting off.
    #[arg(long, conflicts_with = "rate_limit")]
    no_rate_limit: bool,
    /// Probability of an injected 429.
    #[arg(long, default_value_t = 0.0)]
    p_429: f64,
    /// Probability of an injected 500.
    #[arg(long, default_value_t = 0.0)]
    p_500: f64,
    /// Probability of an injected 503 (with Retry-After).
    #[arg(long, default_value_t = 0.0)]
    p_503: f64,
    /// Probability of a connection reset.
    #[arg(long, default_value_t = 0.0)]
    p_reset: f64,
    /// Probability that a create is committed and its answer dropped.
    #[arg(long, default_value_t = 0.0)]
    p_commit_drop: f64,
    /// Send 429s as the gateway's HTML page without x-redlock-status.
    #[arg(long)]
    html_429: bool,
    /// Added latency per request, milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Extra random latency per request, 0..=N milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_jitter_ms: u64,
    /// Seed for the fault generator.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Milliseconds before a new account becomes readable.
    #[arg(long, default_value_t = 1000)]
    read_delay_ms: u64,
    /// Milliseconds add/update take when they run the status checks (no skipStatusChecks).
    #[arg(long, default_value_t = 0)]
    status_check_delay_ms: u64,
    /// Extra host names for the generated certificate (repeatable).
    #[arg(long = "tls-name", requires = "tls")]
    tls_names: Vec<String>,
    /// Status-check scenario file: `{"by_id": {"<guid>": "missing_graph_consent"}}`.
    #[arg(long, value_name = "PATH")]
    scenarios: Option<PathBuf>,
    /// Also serve an HTTP CONNECT proxy here that tunnels the --tls-name hosts (port 443) to
    /// the emulator, so clients that accept only *.prismacloud.io reach it via HTTPS_PROXY.
    #[arg(long, value_name = "ADDR", requires = "tls_names")]
    connect_proxy: Option<SocketAddr>,
    /// Keep accounts and groups in this file: loaded at start, saved before every write
    /// answers (never a client secret).
    #[arg(long, value_name = "PATH")]
    state_file: Option<PathBuf>,
    /// File with the bearer token /_emulator/* requires. Without it, a token is generated
    /// and printed when --listen is not a loopback address; on loopback none is required.
    #[arg(long, value_name = "PATH")]
    admin_token_file: Option<PathBuf>,
    /// Cortex Cloud API key ID to accept (a positive integer; default: generated and printed).
    #[arg(long, value_name = "ID")]
    cortex_key_id: Option<String>,
    /// Cortex Cloud API key for --cortex-key-id. Prefer the environment variable or
    /// --cortex-key-file: a value on the command line is visible to every user of the machine.
    #[arg(
        long,
        env = "AZURE_CORTEX_EMULATOR_CORTEX_KEY",
        hide_env_values = true,
        requires = "cortex_key_id"
    )]
    cortex_key: Option<String>,
    /// File holding the Cortex Cloud API key for --cortex-key-id.
    #[arg(
        long,
        value_name = "PATH",
        conflicts_with = "cortex_key",
        requires = "cortex_key_id"
    )]
    cortex_key_file: Option<PathBuf>,
    /// Security level of the Cortex Cloud key: standard or advanced (hash of key + nonce +
    /// timestamp).
    #[arg(long, default_value = "advanced", value_name = "standard|advanced")]
    cortex_key_type: String,
    /// Azure tenant IDs that approved the Cortex Cloud application (repeatable; default: the
    /// demo tenant 0091a7ea-5021-42d3-a276-18004980b42b).
    #[arg(long = "cortex-approved-tenant", value_name = "TENANT_ID")]
    cortex_approved_tenants: Vec<String>,
    /// Milliseconds from a template's callback until the last chosen capability reports its
    /// final status (they turn one after another; Cortex itself takes minutes).
    #[arg(long, default_value_t = 8000, value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    cortex_capability_delay_ms: u64,
}

/// The Cortex face's key from the flags, or a generated demo key (printed).
fn cortex_config(args: &EmulatorArgs) -> anyhow::Result<(CortexConfig, bool)> {
    let kind: KeyType = args
        .cortex_key_type
        .parse()
        .map_err(|e| anyhow::anyhow!("--cortex-key-type: {e}"))?;
    let (id, key, generated_key) = match (
        &args.cortex_key_id,
        &args.cortex_key,
        &args.cortex_key_file,
    ) {
        (Some(id), key, file) => {
            let id: KeyId = id
                .parse()
                .map_err(|e| anyhow::anyhow!("--cortex-key-id: {e}"))?;
            let key = match (key, file) {
                (Some(k), _) => k.clone(),
                (None, Some(path)) => std::fs::read_to_string(path)
                    .with_context(|| format!("--cortex-key-file: cannot read {}", path.display()))?
                    .trim()
                    .to_owned(),
                (None, None) => {
                    bail!(
                        "--cortex-key-id needs AZURE_CORTEX_EMULATOR_CORTEX_KEY or --cortex-key-file"
                    )
                }
            };
            (id, key, false)
        }
        (None, _, _) => {
            let id = KeyId::new(rand::rng().random_range(1..10_000)).expect("positive");
            (id, generated("", 64), true)
        }
    };
    let key = ApiKey::new(id, SecretString::from(key), kind)
        .map_err(|e| anyhow::anyhow!("--cortex-key: {}", e.message))?;
    let mut config = CortexConfig::new(key.id, key.key, key.kind);
    if !args.cortex_approved_tenants.is_empty() {
        config.approved_tenants = Vec::new();
        for t in &args.cortex_approved_tenants {
            let tenant = prisma_types::TenantId::parse(t)
                .map_err(|e| anyhow::anyhow!("--cortex-approved-tenant {t}: {}", e.message))?;
            config.approved_tenants.push(tenant.to_string());
        }
    }
    Ok((config, generated_key))
}

#[derive(Deserialize)]
struct KeyEntry {
    id: String,
    secret: String,
}

fn generated(prefix: &str, len: usize) -> String {
    let mut rng = rand::rng();
    let body: String = (0..len)
        .map(|_| char::from(b"abcdefghijkmnpqrstuvwxyz23456789"[rng.random_range(0..32)]))
        .collect();
    format!("{prefix}{body}")
}

pub async fn run(args: EmulatorArgs, matches: &clap::ArgMatches) -> anyhow::Result<()> {
    if matches.value_source("secret_key") == Some(ValueSource::CommandLine) {
        eprintln!(
            "warning: --secret-key on the command line is visible to other users (ps); \
             prefer AZURE_CORTEX_EMULATOR_SECRET_KEY or --secret-key-file"
        );
    }
    let faults = Faults {
        p_429: args.p_429,
        p_500: args.p_500,
        p_503: args.p_503,
        p_reset: args.p_reset,
        p_commit_then_drop: args.p_commit_drop,
        html_429: args.html_429,
        latency_ms: args.latency_ms,
        latency_jitter_ms: args.latency_jitter_ms,
        retry_after_secs: 1,
    };
    if let Err(m) = faults.validate() {
        bail!("fault flags: {m}");
    }
    let (key_id, secret, printed) =
        match (&args.access_key, &args.secret_key, &args.secret_key_file) {
            (Some(id), Some(secret), _) => (id.clone(), secret.clone(), false),
            (Some(id), None, Some(path)) => {
                let secret = std::fs::read_to_string(path).with_context(|| {
                    format!("--secret-key-file: cannot read {}", path.display())
                })?;
                (id.clone(), secret.trim().to_owned(), false)
            }
            (Some(_), None, None) => {
                bail!("--access-key needs AZURE_CORTEX_EMULATOR_SECRET_KEY or --secret-key-file")
            }
            (None, _, _) => (generated("emu-", 12), generated("", 32), true),
        };
    let mut config = EmulatorConfig::new(key_id.clone(), SecretString::from(secret.clone()));
    let (cortex, cortex_printed) = cortex_config(&args)?;
    let cortex_key = cortex.keys[0].clone();
    config.cortex = cortex;
    config.cortex.capability_delay = Duration::from_millis(args.cortex_capability_delay_ms);
    if let Some(path) = &args.keys_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--keys-file: cannot read {}", path.display()))?;
        let entries: Vec<KeyEntry> = serde_json::from_str(&text).with_context(|| {
            format!(
                "--keys-file {}: expected [{{\"id\": ..., \"secret\": ...}}]",
                path.display()
            )
        })?;
        config
            .access_keys
            .extend(entries.into_iter().map(|e| AccessKey {
                id: e.id,
                secret: SecretString::from(e.secret),
            }));
    }
    config.customer_names = args.customers.clone();
    config.token_ttl = Duration::from_secs(args.token_ttl);
    config.faults = faults;
    config.seed = args.seed;
    config.read_delay = Duration::from_millis(args.read_delay_ms);
    config.status_check_delay = Duration::from_millis(args.status_check_delay_ms);
    config.rate_limits = match (args.no_rate_limit, args.rate_limit) {
        (true, _) => RateLimits::disabled(),
        (false, Some(rps)) => {
            if !(rps > 0.0 && rps.is_finite()) {
                bail!("--rate-limit must be a positive number");
            }
            RateLimits::uniform(rps, args.burst.unwrap_or(rps.ceil().max(1.0) as u32))
        }
        (false, None) => RateLimits::default(),
    };
    if let Some(path) = &args.scenarios {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--scenarios: cannot read {}", path.display()))?;
        config.scenarios = ScenarioBook::from_json(&text)
            .map_err(|m| anyhow::anyhow!("--scenarios {}: {m}", path.display()))?;
    }
    let tls = if args.tls {
        let generated = prisma_emulator::tls::generate(&args.tls_names)?;
        if let Some(path) = &args.ca_cert_out {
            std::fs::write(path, &generated.ca_cert_pem)
                .with_context(|| format!("--ca-cert-out: cannot write {}", path.display()))?;
        }
        Some(generated.acceptor)
    } else {
        None
    };
    config.issuer = format!(
        "{}://{}",
        if args.tls { "https" } else { "http" },
        args.listen
    );
    let mut printed_admin_token = None;
    config.admin_token = match &args.admin_token_file {
        Some(path) => {
            let token = std::fs::read_to_string(path)
                .with_context(|| format!("--admin-token-file: cannot read {}", path.display()))?;
            let token = token.trim();
            if token.is_empty() {
                bail!("--admin-token-file {} is empty", path.display());
            }
            Some(SecretString::from(token.to_owned()))
        }
        None if !args.listen.ip().is_loopback() => {
            let token = generated("", 40);
            printed_admin_token = Some(token.clone());
            Some(SecretString::from(token))
        }
        None => None,
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let running = prisma_emulator::spawn(args.listen, config, tls, stop.clone().cancelled_owned())
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    if let Some(path) = &args.state_file {
        prisma_emulator::snapshot::load(&running.state, path)
            .with_context(|| format!("--state-file: cannot read {}", path.display()))?;
        running.state.persist_to(path.clone());
    }
    println!(
        "Prisma Cloud API emulator listening on {}",
        running.base_url()
    );
    println!(
        "Cortex Cloud API emulator listening on {} (/public_api/v1/cloud_onboarding/*)",
        running.base_url()
    );
    if let Some(proxy_addr) = args.connect_proxy {
        let listener = tokio::net::TcpListener::bind(proxy_addr)
            .await
            .with_context(|| format!("--connect-proxy: cannot listen on {proxy_addr}"))?;
        let routes = prisma_emulator::connect_proxy::ProxyRoutes {
            hosts: args.tls_names.clone(),
            upstream: running.addr,
        };
        println!(
            "CONNECT proxy on http://{} for {} (port 443)",
            listener.local_addr()?,
            args.tls_names.join(", ")
        );
        tokio::spawn(prisma_emulator::connect_proxy::serve(
            listener,
            routes,
            stop.clone().cancelled_owned(),
        ));
    }
    if let Some(token) = &printed_admin_token {
        println!("Admin endpoints (/_emulator/*) need: Authorization: Bearer {token}");
    }
    if let Some(path) = &args.ca_cert_out {
        println!("CA certificate written to {}", path.display());
    }
    if printed {
        println!("Demo credentials (generated for this run):");
        println!("  PRISMA_API_URL={}", running.base_url());
        println!("  PRISMA_ACCESS_KEY_ID={key_id}");
        println!("  PRISMA_SECRET_KEY={secret}");
    } else {
        println!("Access key: {key_id} (secret as configured)");
    }
    if cortex_printed {
        println!("Cortex Cloud demo key (generated for this run):");
        println!("  CORTEXCLOUD_API_URL={}", running.base_url());
        println!("  CORTEXCLOUD_API_KEY_ID={}", cortex_key.id);
        println!("  CORTEXCLOUD_API_KEY={}", cortex_key.key.expose());
        println!("  CORTEXCLOUD_API_KEY_TYPE={}", cortex_key.kind);
    } else {
        println!(
            "Cortex Cloud key: {} ({}, key as configured)",
            cortex_key.id, cortex_key.kind
        );
    }
    println!("Press Ctrl-C to stop.");
    cortex_cli::logging::shutdown_signal().await;
    println!("Shutting down.");
    stop.cancel();
    // Open requests get a few seconds to finish; then we exit regardless.
    let _ = tokio::time::timeout(Duration::from_secs(5), running.task).await;
    Ok(())
}
