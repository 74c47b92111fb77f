//! Test harness: a real emulator on 127.0.0.1:0 and a real client pointed at it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prisma_client::{BaseUrl, ClientConfig, ClientEvent, Credentials, PrismaClient, RetryPolicy};
use prisma_emulator::{EmulatorConfig, RunningEmulator, StatsReport};
use prisma_types::account::{AccountScope, AzureCredentials, Subscription};
use prisma_types::{
    AccountGroupId, AccountName, AzureAccount, Environment, FeatureSet, ObjectId, SecretString,
    SubscriptionId, TenantId,
};
use tokio_util::sync::CancellationToken;

pub const ACCESS_KEY: &str = "test-access-key";
pub const SECRET_KEY: &str = "test-secret-key-0123456789";
pub const DEFAULT_GROUP: &str = "00000000-0000-4000-8000-00000000d0a9";

pub struct TestEmulator {
    pub emu: RunningEmulator,
    stop: CancellationToken,
}

impl Drop for TestEmulator {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl TestEmulator {
    pub async fn start(tweak: impl FnOnce(&mut EmulatorConfig)) -> Self {
        let mut config = EmulatorConfig::new(ACCESS_KEY, SecretString::from(SECRET_KEY));
        tweak(&mut config);
        let stop = CancellationToken::new();
        let emu = prisma_emulator::spawn(
            "127.0.0.1:0".parse().unwrap(),
            config,
            None,
            stop.clone().cancelled_owned(),
        )
        .await
        .expect("emulator starts");
        Self { emu, stop }
    }

    pub fn stats(&self) -> StatsReport {
        prisma_emulator::admin::stats_report(&self.emu.state)
    }

    pub fn set_faults(&self, faults: prisma_emulator::Faults) {
        self.emu.state.faults.lock().unwrap().reseed(faults, 1);
    }

    /// A session token from a plain HTTP login, for tests that speak raw HTTP.
    pub async fn raw_login(&self) -> String {
        let login: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/login", self.emu.base_url()))
            .json(&serde_json::json!({"username": ACCESS_KEY, "password": SECRET_KEY}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        login["token"].as_str().expect("a token").to_owned()
    }

    pub fn client(&self) -> TestClient {
        self.client_with(|_| {})
    }

    pub fn client_with(&self, tweak: impl FnOnce(&mut ClientConfig)) -> TestClient {
        let base = BaseUrl::parse(&self.emu.base_url(), false).unwrap();
        let mut config = ClientConfig::new(base, Credentials::new(ACCESS_KEY, SECRET_KEY));
        config.retry = RetryPolicy {
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(500),
            ..RetryPolicy::default()
        };
        tweak(&mut config);
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let client = PrismaClient::with_hook(
            config,
            Some(Arc::new(move |e: &ClientEvent| {
                sink.lock().unwrap().push(e.clone())
            })),
        )
        .unwrap();
        TestClient { client, events }
    }
}

pub struct TestClient {
    pub client: PrismaClient,
    pub events: Arc<Mutex<Vec<ClientEvent>>>,
}

impl TestClient {
    pub fn events(&self) -> Vec<ClientEvent> {
        self.events.lock().unwrap().clone()
    }
}

/// A stable, valid GUID for test object number `n` in namespace `ns` (4 hex digits).
pub fn guid(ns: u16, n: u32) -> String {
    format!(
        "{ns:04x}{:04x}-1111-4222-8333-{:012x}",
        n >> 16,
        n as u64 & 0xffff_ffff
    )
}

pub fn client_secret(n: u32) -> SecretString {
    SecretString::from(format!("CANARY-CLIENT-SECRET-{n:08}-x~Q"))
}

/// A subscription account with healthy credentials.
pub fn subscription(n: u32) -> AzureAccount {
    subscription_with(&guid(0x5ab5, n), n)
}

pub fn subscription_with(subscription_id: &str, n: u32) -> AzureAccount {
    let scope = AccountScope::Subscription(Subscription {
        subscription_id: SubscriptionId::parse(subscription_id).unwrap(),
        tenant_id: TenantId::parse(&guid(0x7e4a, 1)).unwrap(),
        name: AccountName::parse(&format!("subscription {n}")).unwrap(),
        group_ids: vec![AccountGroupId::parse(DEFAULT_GROUP).unwrap()],
        features: FeatureSet::default(),
        monitor_flow_logs: false,
        environment: Environment::Azure,
        enabled: true,
    });
    let creds = AzureCredentials::new(
        ObjectId::parse(&guid(0xc1d0, n)).unwrap(),
        client_secret(n),
        ObjectId::parse(&guid(0x5e00, n)).unwrap(),
    )
    .unwrap();
    AzureAccount::new(scope, creds).unwrap()
}
