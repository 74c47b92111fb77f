//! One emulator per test (port 0), a client for it, and a stand-in for the template callback.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cortex_cloud_client::{ClientConfig, CortexClient, HttpEvent, PacingConfig, RetryPolicy};
use cortex_cloud_types::wire::{
    AccountDetails, AdditionalCapabilities, AuditLogs, CollectionConfiguration,
    CreateInstanceTemplate, ScopeModifications, managed_by_tag,
};
use cortex_cloud_types::{
    ApiKey, ApiUrl, CloudProvider, KeyId, KeyType, ScanMode, Scope, SecretString,
};
use prisma_emulator::cortex::CortexConfig;
use prisma_emulator::cortex::state::Connection;
use prisma_emulator::{EmulatorConfig, Faults, RateLimits, RunningEmulator};
use tokio_util::sync::CancellationToken;

pub const TENANT: &str = "0091a7ea-5021-42d3-a276-18004980b42b";
pub const KEY_ID: u64 = 17;

pub struct Emu {
    pub running: RunningEmulator,
    stop: CancellationToken,
}

impl Drop for Emu {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub fn key(kind: KeyType, value: &str) -> ApiKey {
    ApiKey::new(KeyId::new(KEY_ID).unwrap(), SecretString::from(value), kind).unwrap()
}

pub async fn emulator(kind: KeyType, value: &str, faults: Faults) -> Emu {
    let mut config = EmulatorConfig::new("prisma-unused", SecretString::from("unused-secret"));
    let k = key(kind, value);
    config.cortex = CortexConfig::new(k.id, k.key, k.kind);
    config.rate_limits = RateLimits::disabled();
    config.faults = faults;
    config.seed = 7;
    let stop = CancellationToken::new();
    let running = prisma_emulator::spawn(
        "127.0.0.1:0".parse().unwrap(),
        config,
        None,
        stop.clone().cancelled_owned(),
    )
    .await
    .unwrap();
    Emu { running, stop }
}

pub type Events = Arc<Mutex<Vec<HttpEvent>>>;

pub fn client(emu: &Emu, key: ApiKey) -> (CortexClient, Events) {
    let mut config = ClientConfig::new(ApiUrl::parse(&emu.running.base_url()).unwrap(), key);
    config.pacing = PacingConfig::disabled();
    config.retry = RetryPolicy {
        max_attempts: 12,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        max_retry_after: Duration::from_millis(50),
        call_deadline: Duration::from_secs(60),
    };
    let events: Events = Arc::default();
    let sink = events.clone();
    let hook = Arc::new(move |e: &HttpEvent| sink.lock().unwrap().push(e.clone()));
    (CortexClient::with_hook(config, Some(hook)).unwrap(), events)
}

pub fn request(scope: Scope, tenant: &str) -> CreateInstanceTemplate {
    CreateInstanceTemplate {
        cloud_provider: CloudProvider::Azure,
        scope,
        scan_mode: ScanMode::Managed,
        account_details: Some(AccountDetails {
            organization_id: tenant.into(),
            ..Default::default()
        }),
        instance_name: Some(format!("azure {scope}")),
        custom_resources_tags: vec![managed_by_tag()],
        collection_configuration: CollectionConfiguration {
            audit_logs: AuditLogs {
                enabled: true,
                collection_method: None,
                data_events: false,
            },
        },
        scope_modifications: ScopeModifications::default(),
        additional_capabilities: AdditionalCapabilities::all(),
        scan_env_id: None,
        cloud_partition: None,
    }
}

/// What the template callback does: a connected instance with `n` subscriptions.
pub fn connect(emu: &Emu, pending: &str, n: usize) -> String {
    let subscriptions = (0..n)
        .map(|i| {
            (
                format!("{i:08x}-1111-4111-8111-111111111111"),
                format!("sub-{i}"),
            )
        })
        .collect();
    emu.running
        .state
        .cortex
        .lock()
        .connect(
            pending,
            Connection {
                organization_id: TENANT.into(),
                account_group: "mg-prod".into(),
                account_id: "00000000-1111-4111-8111-111111111111".into(),
                account_name: "hosting".into(),
                provisioning_method: "TF".into(),
                subscriptions,
            },
            1_760_000_000_000,
        )
        .unwrap()
}
