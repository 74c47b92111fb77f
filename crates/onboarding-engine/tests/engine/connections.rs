//! Prisma Cloud connections: saved encrypted, listed masked, tested, chosen per job (the job's
//! calls go to that connection's Prisma Cloud and still appear as job events), refused at
//! submit when unknown, and a job whose connection was deleted after submit fails at
//! `prerequisites` with `unknown_connection`.

use std::time::Duration;

use cortex_store::JobState;
use onboarding_engine::connections::{CONNECTION_OWNER, SECRET_PLACEHOLDER};
use onboarding_engine::{ConnectionName, EngineError, RawConnection, TerraformMode};
use prisma_emulator::{EmulatorConfig, RunningEmulator};
use prisma_types::SecretString;
use tokio_util::sync::CancellationToken;

use crate::common::*;

const OTHER_KEY: &str = "second-tenant-key-7781";
const OTHER_SECRET: &str = "CANARY-SECOND-TENANT-SECRET-q7";

/// A second Prisma Cloud (another tenant) with its own key.
async fn second_prisma() -> (RunningEmulator, CancellationToken) {
    let stop = CancellationToken::new();
    let emu = prisma_emulator::spawn(
        "127.0.0.1:0".parse().unwrap(),
        EmulatorConfig::new(OTHER_KEY, SecretString::from(OTHER_SECRET)),
        None,
        stop.clone().cancelled_owned(),
    )
    .await
    .unwrap();
    (emu, stop)
}

fn connection(name: &str, url: &str, key: &str, secret: &str) -> onboarding_engine::Connection {
    RawConnection {
        name: Some(name.into()),
        api_url: Some(url.into()),
        access_key_id: Some(key.into()),
        secret_key: Some(SecretString::from(secret)),
        ..Default::default()
    }
    .validate()
    .unwrap()
}

fn replay() -> TerraformMode {
    TerraformMode::Replay {
        pace: Duration::from_millis(1),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_saved_encrypted_listed_masked_and_deleted() {
    let sb = Sandbox::start(replay()).await;
    let engine = &sb.engine;
    let listed = engine.list_connections().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "default");
    assert!(listed[0].default);
    assert_eq!(listed[0].description, "sandbox emulator");
    assert_eq!(listed[0].api_url, sb.emu.base_url().trim_end_matches('/'));
    assert_eq!(listed[0].access_key_id, "engi…");

    let eu = connection("eu-prod", "app2.eu.prismacloud.io", OTHER_KEY, OTHER_SECRET);
    assert!(!engine.save_connection(&eu, "web:alice").await.unwrap());
    let b = connection("b-lab", &sb.emu.base_url(), ACCESS_KEY, SECRET_KEY);
    assert!(!engine.save_connection(&b, "web:alice").await.unwrap());
    let listed = engine.list_connections().await.unwrap();
    let names: Vec<_> = listed.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["default", "b-lab", "eu-prod"]);
    let eu_view = &listed[2];
    assert_eq!(eu_view.api_url, "https://api2.eu.prismacloud.io");
    assert_eq!(eu_view.access_key_id, "seco…");
    assert_eq!(eu_view.secret_key, SECRET_PLACEHOLDER);
    assert!(eu_view.description.starts_with("saved by web:alice at "));
    let json = serde_json::to_string(&listed).unwrap();
    assert!(
        !json.contains(OTHER_SECRET) && !json.contains(OTHER_KEY),
        "{json}"
    );
    assert!(!format!("{listed:?}{eu:?}").contains(OTHER_SECRET));

    // Encrypted at rest: one secret per connection; neither the secret key nor the whole
    // access key id is in the database files (the audit log has the URL and the masked id).
    let store = engine.store();
    assert_eq!(
        store.list_secret_names(CONNECTION_OWNER).await.unwrap(),
        ["b-lab", "eu-prod"]
    );
    let db = std::fs::read(sb.dir.path().join("cortex.db")).unwrap();
    let wal = std::fs::read(sb.dir.path().join("cortex.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        for needle in [OTHER_SECRET, OTHER_KEY] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} in plaintext"
            );
        }
    }

    // Saving again replaces.
    let eu2 = connection("eu-prod", "eu", OTHER_KEY, OTHER_SECRET);
    assert!(engine.save_connection(&eu2, "web:bob").await.unwrap());
    let view = engine.connection("eu-prod").await.unwrap().unwrap();
    assert_eq!(view.api_url, "https://api.eu.prismacloud.io");
    assert!(view.description.starts_with("saved by web:bob"));
    assert!(engine.connection("default").await.unwrap().unwrap().default);
    assert!(engine.connection("nope").await.unwrap().is_none());
    assert!(engine.connection("Not A Name").await.unwrap().is_none());

    let name = ConnectionName::parse("eu-prod").unwrap();
    assert!(engine.delete_connection(&name, "web:bob").await.unwrap());
    assert!(!engine.delete_connection(&name, "web:bob").await.unwrap());
    assert_eq!(engine.list_connections().await.unwrap().len(), 2);

    let actions: Vec<_> = store
        .list_audit(20)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action.starts_with("connection."))
        .map(|a| (a.action, a.target))
        .collect();
    assert_eq!(
        actions,
        [
            ("connection.deleted".to_owned(), "eu-prod".to_owned()),
            ("connection.replaced".into(), "eu-prod".into()),
            ("connection.saved".into(), "b-lab".into()),
            ("connection.saved".into(), "eu-prod".into()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn testing_a_connection_logs_in_and_reports_the_clients_message() {
    let sb = Sandbox::start(replay()).await;
    let engine = &sb.engine;
    let ok = engine.test_connection(None, "t").await.unwrap();
    assert!(ok.ok, "{}", ok.message);
    assert!(ok.message.contains("engi…"), "{}", ok.message);

    let (other, _stop) = second_prisma().await;
    let good = connection("tenant-b", &other.base_url(), OTHER_KEY, OTHER_SECRET);
    engine.save_connection(&good, "t").await.unwrap();
    let name = ConnectionName::parse("tenant-b").unwrap();
    let r = engine.test_connection(Some(&name), "t").await.unwrap();
    assert!(r.ok, "{}", r.message);

    let wrong = connection(
        "tenant-b",
        &other.base_url(),
        OTHER_KEY,
        "CANARY-WRONG-SECRET",
    );
    engine.save_connection(&wrong, "t").await.unwrap();
    let r = engine.test_connection(Some(&name), "t").await.unwrap();
    assert!(!r.ok);
    assert!(r.message.contains("authentication"), "{}", r.message);
    assert!(!r.message.contains("CANARY"), "{}", r.message);

    // Nothing listens there: a clear failure, within the test budget.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let gone = connection("gone", &format!("http://{closed}"), OTHER_KEY, OTHER_SECRET);
    engine.save_connection(&gone, "t").await.unwrap();
    let started = std::time::Instant::now();
    let r = engine
        .test_connection(Some(&ConnectionName::parse("gone").unwrap()), "t")
        .await
        .unwrap();
    assert!(!r.ok);
    assert!(r.message.contains("could not connect"), "{}", r.message);
    assert!(started.elapsed() < Duration::from_secs(30));

    let err = engine
        .test_connection(Some(&ConnectionName::parse("missing").unwrap()), "t")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "unknown_connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_onboards_into_its_connections_prisma_cloud() {
    let sb = Sandbox::start(replay()).await;
    let (other, _stop) = second_prisma().await;
    let engine = &sb.engine;
    engine
        .save_connection(
            &connection("tenant-b", &other.base_url(), OTHER_KEY, OTHER_SECRET),
            "t",
        )
        .await
        .unwrap();
    let there = guid(0xc0e0, 1);
    let here = guid(0xc0e0, 2);
    let mut raw = existing(&there, "to tenant b", 1);
    raw.connection = Some("tenant-b".into());
    let to_b = engine
        .submit(&raw.validate().unwrap(), Some(secret(1)), "t")
        .await
        .unwrap();
    let to_default = engine
        .submit(
            &existing(&here, "to default", 2).validate().unwrap(),
            Some(secret(2)),
            "t",
        )
        .await
        .unwrap();
    sb.run().await;
    for job in [to_b, to_default] {
        let record = sb.job(job).await;
        assert_eq!(record.state, JobState::Succeeded, "{:?}", record.error);
    }
    assert!(other.state.store().accounts.contains_key(&there));
    assert!(!other.state.store().accounts.contains_key(&here));
    assert!(sb.emu.state.store().accounts.contains_key(&here));
    assert!(!sb.emu.state.store().accounts.contains_key(&there));

    // The other connection's calls are job events too, and the job says which connection.
    let events = sb.events(to_b).await;
    let text: String = events.iter().map(|e| e.event.to_string()).collect();
    assert!(
        events.iter().any(|e| e.event["type"] == "api_call"
            && e.event["endpoint"]
                .as_str()
                .is_some_and(|p| p.contains("azure_account"))),
        "{text}"
    );
    assert!(
        text.contains("Prisma Cloud connection 'tenant-b'"),
        "{text}"
    );
    assert!(!text.contains(OTHER_SECRET));
    let stored = sb.job(to_b).await.request;
    assert_eq!(stored["connection"], "tenant-b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_connections_are_refused_at_submit_and_fail_a_job_at_prerequisites() {
    let sb = Sandbox::start(replay()).await;
    let engine = &sb.engine;
    let mut raw = existing(&guid(0xc0e1, 1), "nowhere", 1);
    raw.connection = Some("nowhere".into());
    let err = engine
        .submit(&raw.validate().unwrap(), Some(secret(1)), "t")
        .await
        .unwrap_err();
    let EngineError::Invalid(errors) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(errors.errors[0].field, "connection");
    assert!(errors.errors[0].message.contains("known: default"), "{err}");
    // A batch names the row.
    let err = engine
        .submit_batch(
            "b",
            vec![
                (
                    existing(&guid(0xc0e1, 2), "ok", 2).validate().unwrap(),
                    Some(secret(2)),
                ),
                (raw.validate().unwrap(), Some(secret(1))),
            ],
            "t",
        )
        .await
        .unwrap_err();
    let EngineError::Invalid(errors) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(errors.errors[0].field, "rows[1].connection");
    assert!(engine.store().list_jobs(None, 10).await.unwrap().is_empty());

    // Accepted while it existed, deleted before the job ran.
    engine
        .save_connection(
            &connection("nowhere", &sb.emu.base_url(), ACCESS_KEY, SECRET_KEY),
            "t",
        )
        .await
        .unwrap();
    let job = engine
        .submit(&raw.validate().unwrap(), Some(secret(1)), "t")
        .await
        .unwrap();
    engine
        .delete_connection(&ConnectionName::parse("nowhere").unwrap(), "t")
        .await
        .unwrap();
    sb.run().await;
    let record = sb.job(job).await;
    assert_eq!(record.state, JobState::Failed);
    let error = record.error.unwrap();
    assert_eq!(error["step"], "prerequisites");
    assert_eq!(error["code"], "unknown_connection");
    assert!(
        error["message"].as_str().unwrap().contains("'nowhere'"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_connection_is_used_by_the_next_job_not_the_cached_client() {
    let sb = Sandbox::start(replay()).await;
    let (other, _stop) = second_prisma().await;
    let engine = &sb.engine;
    engine
        .save_connection(
            &connection("tenant-b", &other.base_url(), OTHER_KEY, OTHER_SECRET),
            "t",
        )
        .await
        .unwrap();
    let mut raw = existing(&guid(0xc0e2, 1), "first", 1);
    raw.connection = Some("tenant-b".into());
    let first = engine
        .submit(&raw.validate().unwrap(), Some(secret(1)), "t")
        .await
        .unwrap();
    sb.run().await;
    sb.succeeded(first).await;

    // Another replica (same store) replaces the key with a wrong one. This engine's cached
    // client was built from the old key: the next job here must notice and use the new one.
    let replica = onboarding_engine::Engine::new(
        engine.store().clone(),
        client_config(&sb.emu),
        engine.config().clone(),
    )
    .unwrap();
    let wrong = connection(
        "tenant-b",
        &other.base_url(),
        OTHER_KEY,
        "CANARY-WRONG-SECRET",
    );
    replica.save_connection(&wrong, "t").await.unwrap();
    let mut raw = existing(&guid(0xc0e2, 2), "second", 2);
    raw.connection = Some("tenant-b".into());
    let second = engine
        .submit(&raw.validate().unwrap(), Some(secret(2)), "t")
        .await
        .unwrap();
    sb.run().await;
    let record = sb.job(second).await;
    assert_eq!(record.state, JobState::Failed);
    let error = record.error.unwrap();
    assert_eq!(error["step"], "prerequisites");
    assert_eq!(error["code"], "prisma_authentication");
    assert!(!error.to_string().contains("CANARY"));
}
