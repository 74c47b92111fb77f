//! Secret canary: a recognisable Azure client secret (existing identity) and Prisma secret key
//! go through full runs, with a Terraform twin run beside them. Afterwards the SQLite files,
//! every log line at trace level, every event and every file in the data directory contain
//! neither — nor the twin's client secret, nor any JWT.
//!
//! Its own test binary: it installs the process-wide tracing subscriber.

use std::time::Duration;

use cortex_store::{JobState, Keyring, Store};
use onboarding_engine::{Engine, EngineConfig, RawRequest, TerraformMode};
use prisma_client::{BaseUrl, ClientConfig, Credentials};
use prisma_emulator::EmulatorConfig;
use prisma_types::SecretString;
use prisma_types::testing::{LogCapture, contains_bytes, files_under, find_jwt};
use tokio_util::sync::CancellationToken;

const PRISMA_SECRET: &str = "CANARY-PRISMA-SECRET-KEY-Zq81";
const AZURE_SECRET: &str = "CANARY-AZURE-CLIENT-SECRET-9xQ~";

#[test]
fn no_secret_reaches_the_database_logs_events_or_workspace() {
    let capture = LogCapture::install_global();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut emulator = EmulatorConfig::new("canary-key", SecretString::from(PRISMA_SECRET));
        emulator.read_delay = Duration::from_millis(50);
        let stop = CancellationToken::new();
        let emu = prisma_emulator::spawn(
            "127.0.0.1:0".parse().unwrap(),
            emulator,
            None,
            stop.clone().cancelled_owned(),
        )
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &format!("sqlite://{}", dir.path().join("cortex.db").display()),
            Keyring::load_or_create(dir.path()).unwrap(),
        )
        .await
        .unwrap();
        let client = ClientConfig::new(
            BaseUrl::parse(&emu.base_url(), false).unwrap(),
            Credentials::new("canary-key", PRISMA_SECRET),
        );
        let mode = match TerraformMode::sandbox() {
            TerraformMode::Twin { binary, .. } => TerraformMode::Twin {
                binary,
                step_seconds: 0.05,
            },
            other => other,
        };
        let mut config = EngineConfig::new(dir.path().to_path_buf(), mode);
        config.verify_timeout = Duration::from_secs(5);
        let engine = Engine::new(store.clone(), client, config).unwrap();

        let base = RawRequest {
            scope: Some("subscription".into()),
            tenant_id: Some("7e4a0000-aaaa-4bbb-8ccc-000000000001".into()),
            groups: vec!["Default Account Group".into()],
            ..RawRequest::default()
        };
        let existing = RawRequest {
            subscription_id: Some("ca9a0000-0000-4000-8000-000000000001".into()),
            name: Some("canary existing".into()),
            identity: Some("existing".into()),
            client_id: Some("c11e0000-0000-4000-8000-000000000001".into()),
            service_principal_id: Some("5e000000-0000-4000-8000-000000000001".into()),
            ..base.clone()
        };
        let twin = RawRequest {
            subscription_id: Some("ca9a0000-0000-4000-8000-000000000002".into()),
            name: Some("canary twin".into()),
            ..base
        };
        let a = engine
            .submit(
                &existing.validate().unwrap(),
                Some(SecretString::from(AZURE_SECRET)),
                "t",
            )
            .await
            .unwrap();
        let b = engine
            .submit(&twin.validate().unwrap(), None, "t")
            .await
            .unwrap();
        engine
            .run_worker(CancellationToken::new(), true)
            .await
            .unwrap();
        for job in [a, b] {
            let record = store.get_job(job).await.unwrap().unwrap();
            assert_eq!(record.state, JobState::Succeeded, "{:?}", record.error);
        }
        // The secrets really went through: Prisma holds both accounts with their keys.
        let stored = emu.state.store().accounts["ca9a0000-0000-4000-8000-000000000001"]
            .request
            .key
            .clone();
        assert_eq!(stored.expose(), AZURE_SECRET);
        let twin_secret = store
            .get_secret(&b.to_string(), "azure_client_secret")
            .await
            .unwrap()
            .expect("twin secret");
        assert!(twin_secret.expose().len() >= 16);

        let mut events = String::new();
        for job in [a, b] {
            for e in store.events_after(job, 0, 100_000).await.unwrap() {
                events.push_str(&e.event.to_string());
            }
        }
        assert!(events.contains("terraform_apply_complete") || events.contains("api_call"));
        store.close().await;
        let logs = capture.text();
        assert!(
            logs.len() > 10_000,
            "trace logs captured: {} bytes",
            logs.len()
        );
        let files = files_under(dir.path());
        assert!(files.iter().any(|(p, _)| p.ends_with("cortex.db")));
        for secret in [PRISMA_SECRET, AZURE_SECRET, twin_secret.expose()] {
            assert!(!logs.contains(secret), "secret in the logs");
            assert!(!events.contains(secret), "secret in the events");
            for (path, bytes) in &files {
                assert!(
                    !contains_bytes(bytes, secret.as_bytes()),
                    "secret in plaintext in {}",
                    path.display()
                );
            }
        }
        assert_eq!(find_jwt(&logs), None, "a JWT in the logs");
        assert_eq!(find_jwt(&events), None, "a JWT in the events");
        stop.cancel();
    });
}
