//! Connection canary: a saved Prisma Cloud connection with a recognisable secret key (and a
//! second one with a wrong, equally recognisable key) is saved, replaced, listed, tested, used
//! by a job and refused in bad input. Afterwards no log line at trace level, no event, no
//! audit entry, no view, no test message, no error and no file in the data directory holds
//! either secret key; the whole access key id appears nowhere either (but in the emulator's own
//! log of a login: it plays Prisma Cloud's side). A Cortex Cloud connection with a
//! recognisable API key is saved, listed, tested, refused for a Prisma job and given in bad
//! input beside them: its key appears nowhere either.
//!
//! Its own test binary: it installs the process-wide tracing subscriber.

use std::time::Duration;

use cortex_store::{JobState, Keyring, Store};
use onboarding_engine::{
    ConnectionName, Engine, EngineConfig, RawConnection, RawRequest, TerraformMode,
};
use prisma_client::{BaseUrl, ClientConfig, Credentials};
use prisma_emulator::EmulatorConfig;
use prisma_emulator::config::AccessKey;
use prisma_types::SecretString;
use prisma_types::testing::{LogCapture, contains_bytes, files_under, find_jwt};
use tokio_util::sync::CancellationToken;

const DEFAULT_SECRET: &str = "CANARY-DEFAULT-PRISMA-SECRET-m2";
const CONN_KEY_ID: &str = "CANARYKEYID-conn-5521";
const CONN_SECRET: &str = "CANARY-CONNECTION-SECRET-KEY-Pz4";
const WRONG_SECRET: &str = "CANARY-WRONG-CONNECTION-SECRET-j8";
const CORTEX_KEY: &str = "CANARY-CORTEX-API-KEY-standard-Wq7";

#[test]
fn no_connection_secret_reaches_logs_events_audit_views_or_files() {
    let capture = LogCapture::install_global();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut emulator = EmulatorConfig::new("default-key", SecretString::from(DEFAULT_SECRET));
        emulator.access_keys.push(AccessKey {
            id: CONN_KEY_ID.into(),
            secret: SecretString::from(CONN_SECRET),
        });
        emulator.read_delay = Duration::from_millis(20);
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
            Credentials::new("default-key", DEFAULT_SECRET),
        );
        let mut config = EngineConfig::new(
            dir.path().to_path_buf(),
            TerraformMode::Replay {
                pace: Duration::from_millis(1),
            },
        );
        config.verify_timeout = Duration::from_secs(5);
        let engine = Engine::new(store.clone(), client, config).unwrap();

        let raw = |name: &str, secret: &str| RawConnection {
            name: Some(name.into()),
            api_url: Some(emu.base_url()),
            access_key_id: Some(CONN_KEY_ID.into()),
            secret_key: Some(SecretString::from(secret)),
            ..Default::default()
        };
        let mut shown = String::new();
        // Bad input: the errors name fields, never values.
        let bad = RawConnection {
            api_url: Some(format!("{CONN_SECRET}://x")),
            ..raw("Bad Name", &format!("{CONN_SECRET}\u{7}"))
        };
        let err = bad.validate().unwrap_err();
        assert_eq!(err.errors.len(), 3, "{err}");
        shown.push_str(&format!("{err} {err:?} {bad:?}"));

        let good = raw("tenant-b", CONN_SECRET).validate().unwrap();
        let wrong = raw("wrong-key", WRONG_SECRET).validate().unwrap();
        shown.push_str(&format!("{good:?} {wrong:?}"));
        engine.save_connection(&wrong, "t").await.unwrap();
        engine.save_connection(&good, "t").await.unwrap();
        engine.save_connection(&good, "t").await.unwrap();
        let cortex_raw = RawConnection {
            platform: Some("cortex".into()),
            name: Some("cortex-a".into()),
            api_url: Some("https://acme.xdr.us.paloaltonetworks.com".into()),
            key_id: Some("17".into()),
            key: Some(SecretString::from(CORTEX_KEY)),
            key_type: Some("standard".into()),
            ..Default::default()
        };
        let cortex = cortex_raw.validate().unwrap();
        let bad_cortex = RawConnection {
            key_id: Some(CORTEX_KEY.into()),
            key_type: Some(CORTEX_KEY.into()),
            secret_key: Some(SecretString::from(CORTEX_KEY)),
            ..cortex_raw.clone()
        };
        let err = bad_cortex.validate().unwrap_err();
        assert_eq!(err.errors.len(), 3, "{err}");
        shown.push_str(&format!("{err} {err:?} {bad_cortex:?} {cortex:?}"));
        engine.save_connection(&cortex, "t").await.unwrap();
        let views = engine.list_connections().await.unwrap();
        assert_eq!(views.len(), 4);
        let cortex_view = views.iter().find(|v| v.name == "cortex-a").unwrap();
        assert_eq!(cortex_view.platform, onboarding_engine::Platform::Cortex);
        assert_eq!(cortex_view.key_id.as_deref(), Some("17"));
        shown.push_str(&serde_json::to_string(&views).unwrap());
        shown.push_str(&format!("{views:?}"));
        let name = |n: &str| ConnectionName::parse(n).unwrap();
        let ok = engine
            .test_connection(Some(&name("tenant-b")), "t")
            .await
            .unwrap();
        assert!(ok.ok, "{}", ok.message);
        let refused = engine
            .test_connection(Some(&name("wrong-key")), "t")
            .await
            .unwrap();
        assert!(!refused.ok);
        shown.push_str(&format!("{ok:?} {refused:?}"));
        let missing = engine
            .test_connection(Some(&name("nope")), "t")
            .await
            .unwrap_err();
        shown.push_str(&format!("{missing} {missing:?}"));
        let cortex_test = engine
            .test_connection(Some(&name("cortex-a")), "t")
            .await
            .unwrap();
        shown.push_str(&format!("{cortex_test:?}"));

        // A job through each: one succeeds, one fails on the refused key.
        let request = |n: u32, connection: &str| {
            RawRequest {
                scope: Some("subscription".into()),
                subscription_id: Some(format!("ca9a0000-0000-4000-8000-{n:012x}")),
                tenant_id: Some("7e4a0000-aaaa-4bbb-8ccc-000000000001".into()),
                name: Some(format!("canary {n}")),
                groups: vec!["Default Account Group".into()],
                identity: Some("existing".into()),
                client_id: Some(format!("c11e0000-0000-4000-8000-{n:012x}")),
                service_principal_id: Some(format!("5e000000-0000-4000-8000-{n:012x}")),
                connection: Some(connection.into()),
                ..RawRequest::default()
            }
            .validate()
            .unwrap()
        };
        let azure = || Some(SecretString::from("azure-client-secret-value-0001"));
        // A Prisma Cloud request naming the Cortex Cloud connection is refused at submit.
        let refused = engine
            .submit(&request(3, "cortex-a"), azure(), "t")
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("Cortex Cloud"), "{refused}");
        shown.push_str(&format!("{refused} {refused:?}"));
        let a = engine
            .submit(&request(1, "tenant-b"), azure(), "t")
            .await
            .unwrap();
        let b = engine
            .submit(&request(2, "wrong-key"), azure(), "t")
            .await
            .unwrap();
        engine
            .run_worker(CancellationToken::new(), true)
            .await
            .unwrap();
        let done = store.get_job(a).await.unwrap().unwrap();
        assert_eq!(done.state, JobState::Succeeded, "{:?}", done.error);
        let failed = store.get_job(b).await.unwrap().unwrap();
        assert_eq!(failed.state, JobState::Failed);
        assert_eq!(
            failed.error.as_ref().unwrap()["code"],
            "prisma_authentication"
        );
        shown.push_str(&format!("{done:?} {failed:?}"));

        let mut events = String::new();
        for job in [a, b] {
            for e in store.events_after(job, 0, 100_000).await.unwrap() {
                events.push_str(&e.event.to_string());
            }
        }
        assert!(events.contains("api_call"), "{events}");
        let audit = format!("{:?}", store.list_audit(1000).await.unwrap());
        assert!(audit.contains("connection.saved") && audit.contains("connection.tested"));
        engine
            .delete_connection(&name("wrong-key"), "t")
            .await
            .unwrap();
        store.close().await;
        let logs = capture.text();
        // The emulator stands for Prisma Cloud's side, which logs the key id of a login; only
        // our own lines must not.
        let ours: String = logs
            .lines()
            .filter(|l| !l.contains(" prisma_emulator::"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            logs.len() > 5_000,
            "trace logs captured: {} bytes",
            logs.len()
        );
        let files = files_under(dir.path());
        assert!(files.iter().any(|(p, _)| p.ends_with("cortex.db")));
        for secret in [CONN_SECRET, WRONG_SECRET, DEFAULT_SECRET, CORTEX_KEY] {
            assert!(!logs.contains(secret), "{secret} in the logs");
        }
        for secret in [
            CONN_SECRET,
            WRONG_SECRET,
            DEFAULT_SECRET,
            CONN_KEY_ID,
            CORTEX_KEY,
        ] {
            assert!(!ours.contains(secret), "{secret} in our logs");
            assert!(!events.contains(secret), "{secret} in the events");
            assert!(!audit.contains(secret), "{secret} in the audit log");
            assert!(
                !shown.to_lowercase().contains(&secret.to_lowercase()),
                "{secret} shown: {shown}"
            );
            for (path, bytes) in &files {
                assert!(
                    !contains_bytes(bytes, secret.as_bytes()),
                    "{secret} in plaintext in {}",
                    path.display()
                );
            }
        }
        assert_eq!(find_jwt(&logs), None, "a JWT in the logs");
        assert_eq!(find_jwt(&events), None, "a JWT in the events");
        stop.cancel();
    });
}
