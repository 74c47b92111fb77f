//! Two `azure-cortex worker` processes (the real binary) on one PostgreSQL database with the
//! documented shared master key (`AZURE_CORTEX_MASTER_KEY`), each with its own data directory,
//! run one 200-subscription batch (existing identity) against one emulator together:
//! * every job succeeded and ran exactly once: one `job_started` per job, each step started
//!   once, 200 accounts created in the emulator and no create refused as a duplicate;
//! * both processes took jobs;
//! * a subscriber in a third process (this test), woken only by PostgreSQL `LISTEN/NOTIFY`
//!   notices (no timer), receives every event of every job once and in order — the events
//!   the store holds at the end.
//!
//! The cluster is the store tests' throwaway one (`cortex_store::testing`), never skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cortex_store::{JobId, JobState, Keyring, Store};
use onboarding_engine::{Engine, EngineConfig, OnboardingRequest, RawRequest, TerraformMode};
use prisma_client::{BaseUrl, ClientConfig, Credentials};
use prisma_emulator::{EmulatorConfig, RateLimits};
use prisma_types::SecretString;
use tokio_util::sync::CancellationToken;

const JOBS: u32 = 200;
const PRISMA_KEY: &str = "replicas-key";
const PRISMA_SECRET: &str = "replicas-secret-key";
/// The shared master key: base64 of 32 bytes of 0x07, id `env` (the variable's default id).
const MASTER_KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
/// A hang guard only: the batch takes about 20 s alone in debug.
const GUARD: Duration = Duration::from_secs(240);

fn request(n: u32) -> (OnboardingRequest, Option<SecretString>) {
    let raw = RawRequest {
        scope: Some("subscription".into()),
        subscription_id: Some(format!("2e900000-0000-4000-8000-{n:012x}")),
        tenant_id: Some("2e9fffff-0000-4000-8000-000000000001".into()),
        name: Some(format!("replica-{n:03}")),
        groups: vec!["Default Account Group".into()],
        identity: Some("existing".into()),
        client_id: Some(format!("c11e0000-0000-4000-8000-{n:012x}")),
        service_principal_id: Some(format!("5e000000-0000-4000-8000-{n:012x}")),
        ..RawRequest::default()
    };
    (
        raw.validate().expect("a valid row"),
        Some(SecretString::from(format!("replica-client-secret-{n:04}"))),
    )
}

/// A worker process, killed if the test ends early.
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn worker(database_url: &str, data_dir: &std::path::Path, prisma_url: &str) -> Worker {
    let child = Command::new(env!("CARGO_BIN_EXE_azure-cortex"))
        .args(["--sandbox", "--data-dir"])
        .arg(data_dir)
        .args([
            "worker",
            "--until-done",
            "--concurrency",
            "16",
            "--verify-timeout-secs",
            "20",
        ])
        .env("AZURE_CORTEX_DATABASE_URL", database_url)
        .env("AZURE_CORTEX_MASTER_KEY", MASTER_KEY)
        .env_remove("AZURE_CORTEX_MASTER_KEY_ID")
        .env_remove("AZURE_CORTEX_DATA_DIR")
        .env("PRISMA_API_URL", prisma_url)
        .env("PRISMA_ALLOW_HTTP", "1")
        .env("PRISMA_ACCESS_KEY_ID", PRISMA_KEY)
        .env("PRISMA_SECRET_KEY", PRISMA_SECRET)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start azure-cortex worker");
    Worker(child)
}

/// Follows `job` the way a stream on another replica does, woken only by change notices:
/// reads the events after the last one it has on each notice, until the job has ended and
/// its last event is read. Returns every event's seq and body, in the order received.
async fn follow(store: Store, job: JobId) -> Vec<(i64, serde_json::Value)> {
    let mut watch = store.watch_job(job).await;
    assert!(watch.pushed(), "a PostgreSQL watch is pushed");
    let mut received = Vec::new();
    let mut last = 0;
    loop {
        let ended = store
            .get_job(job)
            .await
            .unwrap()
            .is_some_and(|j| j.state.is_terminal());
        loop {
            let page = store.events_after(job, last, 500).await.unwrap();
            let Some(end) = page.last() else { break };
            last = end.seq;
            received.extend(page.into_iter().map(|e| (e.seq, e.event)));
        }
        if ended {
            return received;
        }
        let changes = watch.changed().await;
        assert!(!changes.missed, "notices were lost for job {job}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_worker_processes_on_postgres_run_a_200_job_batch_once_each() {
    let url = cortex_store::testing::fresh_database("two_worker_processes").await;
    let mut emulator = EmulatorConfig::new(PRISMA_KEY, SecretString::from(PRISMA_SECRET));
    emulator.rate_limits = RateLimits::uniform(200.0, 200);
    emulator.read_delay = Duration::from_millis(10);
    let stop = CancellationToken::new();
    let emu = prisma_emulator::spawn(
        "127.0.0.1:0".parse().unwrap(),
        emulator,
        None,
        stop.clone().cancelled_owned(),
    )
    .await
    .unwrap();

    // The batch is submitted (here, through the library on the same database and key) before
    // either worker starts, so `--until-done` finds it queued.
    let store = Store::open(&url, Keyring::from_key("env", [7u8; 32]))
        .await
        .unwrap();
    assert_eq!(store.backend(), "postgres");
    let submit_dir = tempfile::tempdir().unwrap();
    let submitter = Engine::new(
        store.clone(),
        ClientConfig::new(
            BaseUrl::parse(&emu.base_url(), false).unwrap(),
            Credentials::new(PRISMA_KEY, PRISMA_SECRET),
        ),
        EngineConfig::new(submit_dir.path().to_path_buf(), TerraformMode::sandbox()),
    )
    .unwrap();
    let (batch, jobs) = submitter
        .submit_batch("replicas", (0..JOBS).map(request).collect(), "t")
        .await
        .unwrap();
    assert_eq!(jobs.len(), JOBS as usize);

    // Every job followed from this process before any runs.
    let followers: Vec<_> = jobs
        .iter()
        .map(|job| tokio::spawn(follow(store.clone(), *job)))
        .collect();

    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let prisma_url = emu.base_url();
    let mut a = worker(&url, dir_a.path(), &prisma_url);
    let mut b = worker(&url, dir_b.path(), &prisma_url);
    let exits = tokio::time::timeout(
        GUARD,
        tokio::task::spawn_blocking(move || {
            let ea = a.0.wait().expect("worker a");
            let eb = b.0.wait().expect("worker b");
            (ea, eb)
        }),
    )
    .await
    .expect("the workers finished within the guard")
    .unwrap();
    assert!(exits.0.success() && exits.1.success(), "{exits:?}");

    let summary = store.batch_summary(batch).await.unwrap().unwrap();
    assert_eq!(
        summary.by_state.get(&JobState::Succeeded).copied(),
        Some(u64::from(JOBS)),
        "{summary:?}"
    );
    let stats = prisma_emulator::admin::stats_report(&emu.state);
    assert_eq!(stats.accounts_created, u64::from(JOBS));
    assert_eq!(stats.duplicates_refused, 0);
    assert_eq!(stats.accounts, JOBS as usize);

    let mut workers = BTreeMap::<String, usize>::new();
    for (job, follower) in jobs.iter().zip(followers) {
        let stored: Vec<(i64, serde_json::Value)> = store
            .events_after(*job, 0, 100_000)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.seq, e.event))
            .collect();
        let starts: Vec<&serde_json::Value> = stored
            .iter()
            .filter(|(_, e)| e["type"] == "job_started")
            .map(|(_, e)| e)
            .collect();
        assert_eq!(starts.len(), 1, "job {job} started {} times", starts.len());
        *workers
            .entry(starts[0]["worker"].as_str().unwrap().to_owned())
            .or_default() += 1;
        let mut steps = BTreeSet::new();
        for (_, e) in &stored {
            if e["type"] == "step_started" {
                let step = e["step"].as_str().unwrap().to_owned();
                assert!(steps.insert(step.clone()), "job {job} ran {step} twice");
            }
        }
        assert!(steps.contains("register"), "job {job}: {steps:?}");

        let received = tokio::time::timeout(Duration::from_secs(30), follower)
            .await
            .unwrap_or_else(|_| panic!("the follower of job {job} was never told the end"))
            .unwrap();
        let seqs: Vec<i64> = received.iter().map(|(s, _)| *s).collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "job {job}: out of order or repeated: {seqs:?}"
        );
        assert_eq!(
            received, stored,
            "job {job}: the stream is the stored events"
        );
    }
    assert_eq!(workers.len(), 2, "both processes took jobs: {workers:?}");
    assert!(workers.values().all(|n| *n > 0), "{workers:?}");
    store.close().await;
    stop.cancel();
}
