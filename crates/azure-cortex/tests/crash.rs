//! Crash test: a batch of 200 subscriptions; the worker process is killed with SIGKILL at
//! random moments 10 times and restarted. At the end the emulator holds exactly 200 accounts
//! (none created twice), every job has finished, and every job's event history is gapless.
//!
//! The emulator runs in this test process (it survives the kills, as Prisma Cloud would); the
//! engine runs in the real `azure-cortex worker` binary on the same SQLite file.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cortex_store::{JobState, Keyring, Store};
use onboarding_engine::{Engine, EngineConfig, RawRequest, TerraformMode};
use prisma_client::{BaseUrl, ClientConfig, Credentials};
use prisma_emulator::{EmulatorConfig, RateLimits};
use prisma_types::SecretString;
use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;

const JOBS: u32 = 200;
const KILLS: u32 = 10;
const KEY: &str = "crash-key";
const SECRET: &str = "crash-secret-0123456789";

fn worker(data_dir: &std::path::Path, url: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_azure-cortex"))
        .args([
            "worker",
            "--until-done",
            "--sandbox",
            "--concurrency",
            "16",
            "--lease-secs",
            "2",
            "--verify-timeout-secs",
            "30",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .env("PRISMA_API_URL", url)
        .env("PRISMA_ACCESS_KEY_ID", KEY)
        .env("PRISMA_SECRET_KEY", SECRET)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the azure-cortex binary starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_ten_times_then_every_job_finishes_once() {
    let mut emulator = EmulatorConfig::new(KEY, SecretString::from(SECRET));
    // Slow enough that the kills land in the middle of the work: 20 requests/s per endpoint
    // and 20-50 ms per answer make the batch take well over the ~15 s of kill cycles.
    emulator.rate_limits = RateLimits::uniform(20.0, 20);
    emulator.read_delay = Duration::from_millis(50);
    emulator.faults.latency_ms = 20;
    emulator.faults.latency_jitter_ms = 30;
    let stop = CancellationToken::new();
    let emu = prisma_emulator::spawn(
        "127.0.0.1:0".parse().unwrap(),
        emulator,
        None,
        stop.clone().cancelled_owned(),
    )
    .await
    .unwrap();
    let url = emu.base_url();

    let dir = tempfile::tempdir().unwrap();
    let keyring = Keyring::load_or_create(dir.path()).unwrap();
    let db = format!("sqlite://{}", dir.path().join("azure-cortex.db").display());
    let store = Store::open(&db, keyring).await.unwrap();
    let client = ClientConfig::new(
        BaseUrl::parse(&url, false).unwrap(),
        Credentials::new(KEY, SECRET),
    );
    let engine = Engine::new(
        store.clone(),
        client,
        EngineConfig::new(dir.path().to_path_buf(), TerraformMode::sandbox()),
    )
    .unwrap();
    let items = (0..JOBS)
        .map(|n| {
            let raw = RawRequest {
                scope: Some("subscription".into()),
                subscription_id: Some(format!("c4a50000-0000-4000-8000-{n:012x}")),
                tenant_id: Some("c4a5ffff-0000-4000-8000-000000000001".into()),
                name: Some(format!("crash-{n:03}")),
                groups: vec!["Default Account Group".into()],
                identity: Some("existing".into()),
                client_id: Some(format!("c11e0000-0000-4000-8000-{n:012x}")),
                service_principal_id: Some(format!("5e000000-0000-4000-8000-{n:012x}")),
                ..RawRequest::default()
            };
            (
                raw.validate().unwrap(),
                Some(SecretString::from(format!("crash-client-secret-{n:05}"))),
            )
        })
        .collect();
    let (batch, jobs) = engine
        .submit_batch("crash test", items, "test")
        .await
        .unwrap();

    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let started = Instant::now();
    for kill in 0..KILLS {
        let mut child = worker(dir.path(), &url);
        let after = Duration::from_millis(rng.random_range(300..2500));
        tokio::time::sleep(after).await;
        let finished = child.try_wait().unwrap().is_some();
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        eprintln!(
            "kill {kill}: after {after:?}{}",
            if finished {
                " (worker had already finished)"
            } else {
                ""
            }
        );
    }
    let mut last = worker(dir.path(), &url);
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        if let Some(status) = last.try_wait().unwrap() {
            assert!(status.success(), "final worker: {status}");
            break;
        }
        assert!(Instant::now() < deadline, "the final worker did not finish");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("all done after {:?}", started.elapsed());

    let summary = engine.batch_summary(batch).await.unwrap().unwrap();
    let succeeded: u64 = summary
        .by_state
        .iter()
        .filter(|(s, _)| **s == JobState::Succeeded)
        .map(|(_, n)| *n)
        .sum();
    assert_eq!(succeeded, u64::from(JOBS), "{summary:?}");
    let stats = prisma_emulator::admin::stats_report(&emu.state);
    assert_eq!(stats.accounts, JOBS as usize, "exactly one account per job");
    assert_eq!(
        stats.accounts_created,
        u64::from(JOBS),
        "no account was created twice"
    );
    let mut attempts_over_one = 0;
    for job in &jobs {
        let record = store.get_job(*job).await.unwrap().unwrap();
        if record.attempts > 1 {
            attempts_over_one += 1;
        }
        let events = store.events_after(*job, 0, 100_000).await.unwrap();
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e.seq, i as i64 + 1, "job {job}: gap in the event history");
        }
        assert!(
            events.iter().any(|e| e.event["type"] == "job_succeeded"),
            "job {job} has its ending"
        );
    }
    eprintln!(
        "{attempts_over_one} jobs were taken over after a kill; duplicates refused by Prisma: {}",
        stats.duplicates_refused
    );
    assert!(attempts_over_one > 0, "the kills interrupted running jobs");
    stop.cancel();
}
