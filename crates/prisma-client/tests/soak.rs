//! Soak and secret canary: 1,000 onboardings (status check, add, read back) through the fault
//! mix — 10% 429, 3% 503, 1% connection reset, 1% commit-then-drop — with 20-second tokens,
//! while every log line of client and emulator is captured at trace level. Afterwards: 1,000
//! accounts, none created twice, no failure; and neither the Prisma secret key, nor any Azure
//! client secret, nor any JWT appears in the logs or the client's events.
//!
//! Its own test binary: it installs the process-wide tracing subscriber.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use prisma_client::{BaseUrl, ClientConfig, ClientEvent, Credentials, PrismaClient, RetryPolicy};
use prisma_emulator::{EmulatorConfig, Faults, RateLimits};
use prisma_types::account::{AccountScope, AzureCredentials, Subscription};
use prisma_types::testing::{LogCapture, find_jwt};
use prisma_types::{
    AccountGroupId, AccountName, AzureAccount, Environment, Feature, FeatureSet, ObjectId,
    SecretString, SubscriptionId, TenantId,
};
use tokio_util::sync::CancellationToken;

const SECRET_KEY: &str = "CANARY-PRISMA-SECRET-KEY-q7Zp";
const CLIENT_SECRET_PREFIX: &str = "CANARY-AZURE-CLIENT-SECRET-";
const ONBOARDINGS: u32 = 1000;

fn account(n: u32) -> AzureAccount {
    let g = |ns: u16| format!("{ns:04x}0000-aaaa-4bbb-8ccc-{n:012x}");
    let features = if n.is_multiple_of(2) {
        FeatureSet::new([Feature::AgentlessScanning])
    } else {
        FeatureSet::default()
    };
    AzureAccount::new(
        AccountScope::Subscription(Subscription {
            subscription_id: SubscriptionId::parse(&g(0x50b5)).unwrap(),
            tenant_id: TenantId::parse(&g(0x7e4a)).unwrap(),
            name: AccountName::parse(&format!("soak-{n:04}")).unwrap(),
            group_ids: vec![AccountGroupId::parse("00000000-0000-4000-8000-00000000d0a9").unwrap()],
            features,
            monitor_flow_logs: n.is_multiple_of(3),
            environment: Environment::Azure,
            enabled: true,
        }),
        AzureCredentials::new(
            ObjectId::parse(&g(0xc1d0)).unwrap(),
            SecretString::from(format!("{CLIENT_SECRET_PREFIX}{n:05}~x")),
            ObjectId::parse(&g(0x5e00)).unwrap(),
        )
        .unwrap(),
    )
    .unwrap()
}

#[test]
fn soak_thousand_onboardings_under_faults_without_leaking_secrets() {
    let capture = LogCapture::install_global();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut config = EmulatorConfig::new("soak-key", SecretString::from(SECRET_KEY));
        config.token_ttl = Duration::from_secs(20);
        config.faults = Faults::soak_mix();
        config.seed = 2026;
        config.rate_limits = RateLimits::uniform(40.0, 40);
        config.read_delay = Duration::from_millis(200);
        let stop = CancellationToken::new();
        let emu = prisma_emulator::spawn("127.0.0.1:0".parse().unwrap(), config, None, stop.clone().cancelled_owned())
            .await
            .unwrap();

        let mut client_config = ClientConfig::new(
            BaseUrl::parse(&emu.base_url(), false).unwrap(),
            Credentials::new("soak-key", SECRET_KEY),
        );
        client_config.retry = RetryPolicy { base_delay: Duration::from_millis(50), max_delay: Duration::from_secs(2), ..RetryPolicy::default() };
        client_config.pacing = prisma_client::PacingConfig::uniform(40.0, 40);
        let events = Arc::new(Mutex::new(Vec::<ClientEvent>::new()));
        let sink = events.clone();
        let client = PrismaClient::with_hook(client_config, Some(Arc::new(move |e: &ClientEvent| sink.lock().unwrap().push(e.clone())))).unwrap();

        let started = Instant::now();
        let results: Vec<_> = futures::stream::iter(0..ONBOARDINGS)
            .map(|n| {
                let client = client.clone();
                async move {
                    let account = account(n);
                    let checks = client.status_check(&account).await?;
                    assert!(checks.iter().all(|c| c.status == "ok"));
                    let registration = client.add_azure_account(&account, true).await?;
                    client.wait_until_readable(account.account_id(), Duration::from_secs(60)).await?;
                    Ok::<_, prisma_client::Error>(registration)
                }
            })
            .buffer_unordered(64)
            .collect()
            .await;
        let wall = started.elapsed();

        let failures: Vec<String> = results.iter().filter_map(|r| r.as_ref().err().map(|e| e.to_string())).collect();
        let stats = prisma_emulator::admin::stats_report(&emu.state);
        let events = events.lock().unwrap().clone();
        let retries = events.iter().filter(|e| matches!(e, ClientEvent::Retry { .. })).count();
        let reconciled = results.iter().filter(|r| r.as_ref().is_ok_and(|r| r.reconciled)).count();
        eprintln!(
            "soak: {ONBOARDINGS} onboardings in {wall:?}; {retries} retries; {reconciled} reconciled creates; \
             logins {} extends {}; stats {:?}",
            stats.logins, stats.extends, stats.endpoints
        );
        assert!(failures.is_empty(), "{} failures, first: {:?}", failures.len(), failures.first());
        assert_eq!(stats.accounts, ONBOARDINGS as usize, "one account per onboarding");
        assert_eq!(stats.accounts_created, u64::from(ONBOARDINGS), "no account was created twice");
        // The faults really happened, and the run really outlived a token.
        let add = &stats.endpoints["POST /cas/v1/azure_account"];
        assert!(add.commit_then_drop > 0 && reconciled > 0, "{add:?}");
        let injected: u64 = stats.endpoints.values().map(|e| e.injected_429 + e.injected_503 + e.injected_resets).sum();
        assert!(injected > 300, "fault mix active: {injected}");
        assert!(wall > Duration::from_secs(20) && stats.logins + stats.extends >= 2, "tokens renewed: {stats:?}");
        stop.cancel();

        // Canary: nothing secret in the logs or the events.
        let logs = capture.text();
        let events_json = serde_json::to_string(&events).unwrap();
        assert!(logs.len() > 100_000, "trace logs were captured ({} bytes)", logs.len());
        assert!(logs.contains("retrying") && logs.contains("emulator: account added"));
        for (what, text) in [("logs", &logs), ("events", &events_json)] {
            assert!(!text.contains(SECRET_KEY), "Prisma secret key in {what}");
            assert!(!text.contains(CLIENT_SECRET_PREFIX), "Azure client secret in {what}");
            assert_eq!(find_jwt(text), None, "JWT in {what}");
        }
    });
}
