//! The engine on PostgreSQL, as several replicas run it: two engines share one database and a
//! batch; a job claimed by a worker that died is taken over when its lease expires; and a
//! `pg_dump` after a full run (through a saved connection) holds neither the Azure client
//! secret nor the Prisma secret key.
//! The cluster is a throwaway one these tests start themselves (never skipped).

use std::time::Duration;

use cortex_store::{JobState, Keyring, Store};
use onboarding_engine::{Engine, EngineConfig, RawRequest, TerraformMode};
use prisma_client::{BaseUrl, ClientConfig, Credentials};
use prisma_emulator::{EmulatorConfig, RunningEmulator};
use prisma_types::SecretString;
use tokio_util::sync::CancellationToken;

const KEY: &str = "pg-key";
const PRISMA_SECRET: &str = "CANARY-PG-PRISMA-SECRET-7f";

async fn emulator() -> (RunningEmulator, CancellationToken) {
    let mut config = EmulatorConfig::new(KEY, SecretString::from(PRISMA_SECRET));
    config.read_delay = Duration::from_millis(20);
    let stop = CancellationToken::new();
    let emu = prisma_emulator::spawn(
        "127.0.0.1:0".parse().unwrap(),
        config,
        None,
        stop.clone().cancelled_owned(),
    )
    .await
    .unwrap();
    (emu, stop)
}

async fn engine(url: &str, emu: &RunningEmulator, key: [u8; 32], dir: &std::path::Path) -> Engine {
    let store = Store::open(url, Keyring::from_key("k1", key))
        .await
        .unwrap();
    assert_eq!(store.backend(), "postgres");
    let client = ClientConfig::new(
        BaseUrl::parse(&emu.base_url(), false).unwrap(),
        Credentials::new(KEY, PRISMA_SECRET),
    );
    let mut config = EngineConfig::new(
        dir.to_path_buf(),
        TerraformMode::Replay {
            pace: Duration::from_millis(1),
        },
    );
    config.lease = Duration::from_secs(2);
    config.verify_timeout = Duration::from_secs(5);
    Engine::new(store, client, config).unwrap()
}

fn request(n: u32, secret: &str) -> (onboarding_engine::OnboardingRequest, Option<SecretString>) {
    let raw = RawRequest {
        scope: Some("subscription".into()),
        subscription_id: Some(format!("9a000000-0000-4000-8000-{n:012x}")),
        tenant_id: Some("9affffff-0000-4000-8000-000000000001".into()),
        name: Some(format!("pg-{n}")),
        groups: vec!["Default Account Group".into()],
        identity: Some("existing".into()),
        client_id: Some(format!("c11e0000-0000-4000-8000-{n:012x}")),
        service_principal_id: Some(format!("5e000000-0000-4000-8000-{n:012x}")),
        ..RawRequest::default()
    };
    (
        raw.validate().unwrap(),
        Some(SecretString::from(format!("{secret}-{n:04}"))),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_a_batch_on_postgres() {
    let url = cortex_store::testing::fresh_database("two_replicas").await;
    let (emu, stop) = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let key = [9u8; 32];
    let a = engine(&url, &emu, key, dir.path()).await;
    let b = engine(&url, &emu, key, dir.path()).await;
    let items = (0..30).map(|n| request(n, "client-secret-value")).collect();
    let (batch, jobs) = a.submit_batch("replicas", items, "t").await.unwrap();
    let (ra, rb) = tokio::join!(
        a.run_worker(CancellationToken::new(), true),
        b.run_worker(CancellationToken::new(), true)
    );
    ra.unwrap();
    rb.unwrap();
    let summary = a.batch_summary(batch).await.unwrap().unwrap();
    assert_eq!(
        summary.by_state.get(&JobState::Succeeded).copied(),
        Some(30),
        "{summary:?}"
    );
    assert_eq!(
        prisma_emulator::admin::stats_report(&emu.state).accounts_created,
        30
    );
    let mut workers = std::collections::HashSet::new();
    for job in jobs {
        for e in a.store().events_after(job, 0, 1000).await.unwrap() {
            if e.event["type"] == "job_started" {
                workers.insert(e.event["worker"].as_str().unwrap().to_owned());
            }
        }
    }
    assert_eq!(workers.len(), 2, "both replicas took jobs: {workers:?}");
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_replicas_job_is_taken_over_after_its_lease() {
    let url = cortex_store::testing::fresh_database("takeover").await;
    let (emu, stop) = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let live = engine(&url, &emu, [3u8; 32], dir.path()).await;
    let (req, secret) = request(100, "client-secret-value");
    let job = live.submit(&req, secret, "t").await.unwrap();
    // A replica claims the job and dies without a word.
    let claimed = live
        .store()
        .claim_job("replica-that-died", Duration::from_secs(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, job);
    live.run_worker(CancellationToken::new(), true)
        .await
        .unwrap();
    let record = live.store().get_job(job).await.unwrap().unwrap();
    assert_eq!(record.state, JobState::Succeeded, "{:?}", record.error);
    assert_eq!(
        record.attempts, 2,
        "claimed by the dead replica, then by the live one"
    );
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_dump_holds_no_secret_in_plaintext() {
    let url = cortex_store::testing::fresh_database("dump_canary").await;
    let (emu, stop) = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&url, &emu, [5u8; 32], dir.path()).await;
    let azure_secret = "CANARY-PG-AZURE-CLIENT-SECRET";
    // The job goes through a saved connection (the same emulator and key under a name), whose
    // secret key is stored encrypted too.
    let connection = onboarding_engine::RawConnection {
        name: Some("pg-conn".into()),
        api_url: Some(emu.base_url()),
        access_key_id: Some(KEY.into()),
        secret_key: Some(SecretString::from(PRISMA_SECRET)),
        ..Default::default()
    }
    .validate()
    .unwrap();
    e.save_connection(&connection, "t").await.unwrap();
    let (mut req, secret) = request(200, azure_secret);
    req.connection = Some(connection.name.clone());
    let job = e.submit(&req, secret, "t").await.unwrap();
    e.run_worker(CancellationToken::new(), true).await.unwrap();
    assert_eq!(
        e.store().get_job(job).await.unwrap().unwrap().state,
        JobState::Succeeded
    );
    // The secret is in the database — encrypted.
    assert!(
        e.store()
            .get_secret(&job.to_string(), "azure_client_secret")
            .await
            .unwrap()
            .unwrap()
            .expose()
            .starts_with(azure_secret)
    );
    let database = url.split('/').nth(3).unwrap().split('?').next().unwrap();
    let dump = cortex_store::testing::cluster()
        .dump(database)
        .expect("pg_dump");
    assert!(
        dump.contains("job_events") && dump.contains("secrets"),
        "a real dump"
    );
    assert!(dump.contains("v1:k1:"), "the encrypted value is there");
    assert!(
        !dump.contains(azure_secret),
        "Azure client secret in the dump"
    );
    assert!(
        !dump.contains(PRISMA_SECRET),
        "Prisma secret key (the connection's) in the dump"
    );
    assert!(dump.contains("prisma-connection"), "the connection's row");
    stop.cancel();
}
