//! Cortex Cloud onboarding through the engine, end to end on the emulator's Cortex face and
//! the template's `terraform_data` twin (the real `terraform` binary; its callback really calls
//! the emulator): every scope, a crash mid-flow and the resume, an expired template link
//! issued again, a callback that never arrives, a capability in error and one in warning, and
//! the canary (the key and the signed URLs in no event, job view or file).
//!
//! Without `terraform` or `curl` on PATH each test prints `SKIPPED: ...` and passes.

#[allow(dead_code)]
#[path = "engine/common.rs"]
mod common;

use std::time::Duration;

use cortex_cloud_types::{ApiKey, ApiUrl, KeyId, KeyType};
use cortex_store::{JobId, JobState};
use onboarding_engine::cortex::{CortexJobResult, RawCortexRequest};
use onboarding_engine::{Engine, EngineConfig, EngineError, TerraformMode};
use prisma_emulator::cortex::CortexConfig;
use prisma_emulator::cortex::config::DEMO_TENANT;
use prisma_emulator::{EmulatorConfig, RunningEmulator};
use prisma_types::SecretString;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

/// The canary: a standard key travels in `Authorization`, so it is the one most at risk.
const KEY: &str = "CANARY-CORTEX-KEY-c9eng-0123456789abcdef";
const KEY_ID: u64 = 31;
/// Hosting subscriptions: a healthy one, the audit-log warning and the discovery error markers
/// (docs/emulator.md §14).
const HOSTING: &str = "00c9e000-1111-4222-8333-000000000001";
const WARNING_HOSTING: &str = "0000a0d1-1111-4222-8333-000000000002";
const ERROR_HOSTING: &str = "0000dead-1111-4222-8333-000000000003";

fn tools_available() -> bool {
    for tool in ["terraform", "curl"] {
        if onboarding_engine::identity::find_on_path(tool).is_none() {
            eprintln!("SKIPPED: {tool} not on PATH");
            return false;
        }
    }
    true
}

struct Cortex {
    emu: RunningEmulator,
    stop: CancellationToken,
    dir: TempDir,
    engine: Engine,
}

impl Drop for Cortex {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn twin() -> TerraformMode {
    TerraformMode::Twin {
        binary: onboarding_engine::identity::find_on_path("terraform").unwrap(),
        step_seconds: 0.0,
    }
}

fn engine_config(dir: &std::path::Path, emu: &RunningEmulator) -> EngineConfig {
    let mut config = EngineConfig::new(dir.to_path_buf(), twin());
    config.sandbox = true;
    config.verify_timeout = Duration::from_secs(20);
    config.concurrency = 4;
    config.lease = Duration::from_secs(3);
    config.poll_interval = Duration::from_millis(50);
    config.cortex_sandbox = Some(onboarding_engine::connections::CortexConnection {
        api_url: ApiUrl::parse(&emu.base_url()).unwrap(),
        key: ApiKey::new(
            KeyId::new(KEY_ID).unwrap(),
            SecretString::from(KEY),
            KeyType::Standard,
        )
        .unwrap(),
    });
    config
}

impl Cortex {
    async fn start(
        emulator: impl FnOnce(&mut EmulatorConfig),
        engine: impl FnOnce(&mut EngineConfig),
    ) -> Self {
        let mut config =
            EmulatorConfig::new(common::ACCESS_KEY, SecretString::from(common::SECRET_KEY));
        config.cortex = CortexConfig::new(
            KeyId::new(KEY_ID).unwrap(),
            SecretString::from(KEY),
            KeyType::Standard,
        );
        config.cortex.capability_delay = Duration::from_millis(600);
        // Plain http links (the listener has no TLS).
        config.issuer = "http://127.0.0.1".into();
        emulator(&mut config);
        let stop = CancellationToken::new();
        let emu = prisma_emulator::spawn(
            "127.0.0.1:0".parse().unwrap(),
            config,
            None,
            stop.clone().cancelled_owned(),
        )
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = common::open_store(dir.path()).await;
        let mut config = engine_config(dir.path(), &emu);
        engine(&mut config);
        let engine = Engine::new(store, common::client_config(&emu), config).unwrap();
        Cortex {
            emu,
            stop,
            dir,
            engine,
        }
    }

    async fn submit(&self, raw: RawCortexRequest) -> Result<JobId, EngineError> {
        let request = raw.validate().map_err(EngineError::Invalid)?;
        self.engine.submit_cortex(&request, "tester").await
    }

    async fn run(&self) {
        tokio::time::timeout(
            Duration::from_secs(240),
            self.engine.run_worker(CancellationToken::new(), true),
        )
        .await
        .expect("the worker finished in time")
        .unwrap();
    }

    async fn job(&self, id: JobId) -> cortex_store::JobRecord {
        self.engine.store().get_job(id).await.unwrap().unwrap()
    }

    async fn events(&self, id: JobId) -> Vec<serde_json::Value> {
        self.engine
            .store()
            .events_after(id, 0, 100_000)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event)
            .collect()
    }

    /// (pending, connected) instances the emulator holds.
    fn instances(&self) -> (usize, usize) {
        let s = self.emu.state.cortex.lock();
        let pending = s.all().filter(|i| i.is_pending()).count();
        (pending, s.all().count() - pending)
    }
}

fn request(scope: &str, hosting: &str) -> RawCortexRequest {
    RawCortexRequest {
        connection: Some("cortex-sandbox".into()),
        tenant_id: Some(DEMO_TENANT.into()),
        scope: Some(scope.into()),
        subscription_id: Some(hosting.into()),
        management_group_id: (scope == "management_group").then(|| "mg-production".into()),
        capabilities: Some(vec!["agentless_disk_scanning".into(), "dspm".into()]),
        ..RawCortexRequest::default()
    }
}

fn failed_code(job: &cortex_store::JobRecord) -> (String, String) {
    let e = job.error.as_ref().expect("the job has an error");
    (
        e["code"].as_str().unwrap_or_default().to_owned(),
        e["message"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scope_is_onboarded_through_the_template_and_its_callback() {
    if !tools_available() {
        return;
    }
    let c = Cortex::start(|_| {}, |_| {}).await;
    let mut jobs = Vec::new();
    for scope in ["tenant", "management_group", "subscription"] {
        jobs.push((scope, c.submit(request(scope, HOSTING)).await.unwrap()));
    }
    c.run().await;
    for (scope, id) in &jobs {
        let job = c.job(*id).await;
        assert_eq!(job.kind, "cortex_onboarding");
        assert_eq!(job.state, JobState::Succeeded, "{scope}: {:?}", job.error);
        let result = CortexJobResult::of(job.result.as_ref()).expect("a Cortex result");
        assert_eq!(result.scope, *scope);
        assert_eq!(result.status, "CONNECTED", "{scope}: {result:?}");
        assert_ne!(result.instance_id, result.pending_instance_id);
        assert_eq!(result.template_md5.len(), 32);
        assert!(result.accounts_total >= 1, "{scope}: {result:?}");
        assert!(
            result.accounts.iter().any(|a| a.account_id == HOSTING),
            "{scope}: the hosting subscription is covered: {:?}",
            result.accounts
        );
        let ads = result
            .capabilities
            .iter()
            .find(|c| c.name == "ADS")
            .unwrap();
        assert_eq!(ads.status, "connected");
        assert!(
            result
                .capabilities
                .iter()
                .all(|c| matches!(c.status.as_str(), "connected" | "disabled")),
            "{:?}",
            result.capabilities
        );
        let events = c.events(*id).await;
        let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
        for wanted in [
            "terraform_apply_complete",
            "cortex_instance",
            "capability_status",
            "api_call",
        ] {
            assert!(kinds.contains(&wanted), "{scope}: no {wanted} in {kinds:?}");
        }
        let steps: Vec<&str> = events
            .iter()
            .filter(|e| e["type"] == "step_finished")
            .filter_map(|e| e["step"].as_str())
            .collect();
        assert_eq!(
            steps,
            [
                "validate",
                "prerequisites",
                "create_instance",
                "download_template",
                "apply_template",
                "await_connection",
                "verify",
                "list_accounts"
            ]
        );
    }
    assert_eq!(
        c.instances(),
        (3, 3),
        "one pending and one connected instance per job"
    );
}

/// Runs a fresh engine (another process's: same store and data directory, its own worker
/// id) on a runtime of its own until `stop_when` holds for one of the job's events, then
/// drops that runtime with every task on it — mid-step, its lease still held, its Terraform
/// killed — as a SIGKILL would.
async fn crash_when(c: &Cortex, id: JobId, stop_when: impl Fn(&serde_json::Value) -> bool) {
    let (crash, crashed) = tokio::sync::oneshot::channel::<()>();
    let dir = c.dir.path().to_path_buf();
    let (prisma, engine_config) = (
        common::client_config(&c.emu),
        engine_config(c.dir.path(), &c.emu),
    );
    let process = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let store = common::open_store(&dir).await;
            let engine = Engine::new(store, prisma, engine_config).unwrap();
            tokio::select! {
                _ = engine.run_worker(CancellationToken::new(), true) => {}
                _ = crashed => {}
            }
        });
        runtime.shutdown_background();
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !c.events(id).await.iter().any(&stop_when) {
        assert!(
            std::time::Instant::now() < deadline,
            "never reached the crash point"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = crash.send(());
    tokio::task::spawn_blocking(move || process.join().unwrap())
        .await
        .unwrap();
}

/// Another process's engine on the same store and data directory (a new worker id).
async fn another_engine(c: &Cortex) -> Engine {
    let store = common::open_store(c.dir.path()).await;
    Engine::new(
        store,
        common::client_config(&c.emu),
        engine_config(c.dir.path(), &c.emu),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_during_the_apply_or_the_wait_resumes_without_a_second_instance() {
    if !tools_available() {
        return;
    }
    // Slow capabilities: the second crash lands while the job polls them.
    let c = Cortex::start(
        |e| e.cortex.capability_delay = Duration::from_secs(4),
        |_| {},
    )
    .await;
    let id = c
        .submit(request("management_group", HOSTING))
        .await
        .unwrap();
    crash_when(&c, id, |e| e["type"] == "terraform_apply_start").await;
    assert_eq!(c.instances(), (1, 0), "one pending instance so far");

    crash_when(&c, id, |e| {
        e["type"] == "capability_status" && e["status"] == "retrieving"
    })
    .await;

    let third = another_engine(&c).await;
    tokio::time::timeout(
        Duration::from_secs(120),
        third.run_worker(CancellationToken::new(), true),
    )
    .await
    .unwrap()
    .unwrap();

    let job = c.job(id).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let events = c.events(id).await;
    let starts = events.iter().filter(|e| e["type"] == "job_started").count();
    assert_eq!(starts, 3, "claimed three times");
    assert_eq!(
        c.instances(),
        (1, 1),
        "one pending instance, one deployment's instance"
    );
    let creates = events
        .iter()
        .filter(|e| e["type"] == "api_call" && e["endpoint"] == "POST create_instance_template")
        .count();
    assert_eq!(creates, 1, "create_instance_template sent once");
    let skipped: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "step_skipped")
        .filter_map(|e| e["step"].as_str())
        .collect();
    assert!(
        skipped.contains(&"create_instance") && skipped.contains(&"apply_template"),
        "{skipped:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capability_error_fails_the_job_naming_it_and_a_warning_keeps_its_text() {
    if !tools_available() {
        return;
    }
    let c = Cortex::start(|_| {}, |_| {}).await;
    let mut warned = request("tenant", WARNING_HOSTING);
    warned.audit_logs = Some(true);
    let warned = c.submit(warned).await.unwrap();
    let broken = c.submit(request("tenant", ERROR_HOSTING)).await.unwrap();
    c.run().await;

    let job = c.job(broken).await;
    assert_eq!(job.state, JobState::Failed);
    let (code, message) = failed_code(&job);
    assert_eq!(code, "capabilities_failing");
    assert!(
        message.contains("DISCOVERY:") && message.contains("fix:"),
        "{message}"
    );
    assert_eq!(job.error.as_ref().unwrap()["step"], "verify");
    let events = c.events(broken).await;
    assert!(
        events.iter().any(|e| e["type"] == "capability_status"
            && e["capability"] == "DISCOVERY"
            && e["status"] == "error"
            && !e["message"].as_str().unwrap_or_default().is_empty()
            && !e["remediation"].as_str().unwrap_or_default().is_empty()),
        "the error's event keeps Cortex's text and our fix"
    );

    let job = c.job(warned).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let result = CortexJobResult::of(job.result.as_ref()).unwrap();
    assert_eq!(result.status, "WARNING");
    let audit = result
        .capabilities
        .iter()
        .find(|c| c.name == "AUDIT_LOGS")
        .unwrap();
    assert_eq!((audit.status.as_str(), audit.code), ("warning", 1));
    assert!(audit.message.starts_with("Audit logs:"), "{audit:?}");
    assert!(!audit.remediation.is_empty());
    let events = c.events(warned).await;
    let warning = events
        .iter()
        .find(|e| e["type"] == "step_finished" && e["step"] == "verify")
        .and_then(|e| e["warning"].as_str())
        .expect("verify finished with a warning");
    assert!(warning.contains("AUDIT_LOGS: Audit logs:"), "{warning}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_template_link_is_issued_again_and_fetched() {
    if !tools_available() {
        return;
    }
    // Links live 2 s; the job stops at its approval gate (after the download) for longer.
    let c = Cortex::start(|e| e.cortex.link_ttl = Duration::from_secs(2), |_| {}).await;
    let mut raw = request("subscription", HOSTING);
    raw.require_approval = Some(true);
    let id = c.submit(raw).await.unwrap();
    c.run().await;
    assert_eq!(c.job(id).await.state, JobState::AwaitingApproval);
    // The workspace is gone (another machine resumes, say): the apply downloads again.
    let workspace = c.dir.path().join("workspaces").join(id.to_string());
    std::fs::remove_file(workspace.join("main.tf.json")).unwrap();
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert!(c.engine.approve(id, "tester").await.unwrap());
    c.run().await;
    let job = c.job(id).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let events = c.events(id).await;
    assert!(
        events.iter().any(|e| e["type"] == "log"
            && e["message"]
                .as_str()
                .unwrap_or_default()
                .contains("template link has expired")),
        "the expiry is said"
    );
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "api_call" && e["endpoint"] == "POST edit_instance"),
        "a new link was issued"
    );
    assert_eq!(c.instances(), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_that_never_arrives_times_out_with_the_fix() {
    if !tools_available() {
        return;
    }
    // An upload URL that answers 200 and tells Cortex nothing: the callback is lost.
    let sink = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sink_url = format!("http://{}/lost", sink.local_addr().unwrap());
    tokio::spawn(async move {
        let app = axum::Router::new().fallback(|| async { "ok" });
        let _ = axum::serve(sink, app).await;
    });
    let c = Cortex::start(|_| {}, |e| e.verify_timeout = Duration::from_secs(3)).await;
    let mut raw = request("subscription", HOSTING);
    raw.require_approval = Some(true);
    let id = c.submit(raw).await.unwrap();
    c.run().await;
    assert_eq!(c.job(id).await.state, JobState::AwaitingApproval);
    c.engine
        .store()
        .put_secret(
            &id.to_string(),
            "cortex_upload_url",
            &SecretString::from(sink_url),
        )
        .await
        .unwrap();
    // The parked plan holds the real URL: without it the approved run plans again.
    assert!(
        c.engine
            .store()
            .delete_secret(&id.to_string(), "terraform_plan")
            .await
            .unwrap()
    );
    assert!(c.engine.approve(id, "tester").await.unwrap());
    c.run().await;
    let job = c.job(id).await;
    assert_eq!(job.state, JobState::Failed);
    let (code, message) = failed_code(&job);
    assert_eq!(code, "cortex_callback_timeout");
    assert_eq!(job.error.as_ref().unwrap()["step"], "await_connection");
    assert!(
        message.contains("resume the job") && message.contains("Manually connect"),
        "{message}"
    );
    assert_eq!(c.instances(), (1, 0), "nothing connected, nothing extra");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_before_anything_is_created() {
    if !tools_available() {
        return;
    }
    let c = Cortex::start(|_| {}, |_| {}).await;
    // An unapproved tenant: refused at prerequisites, naming tenant_id; nothing created.
    let mut raw = request("tenant", HOSTING);
    raw.tenant_id = Some("11111111-2222-4333-8444-555555555555".into());
    let id = c.submit(raw).await.unwrap();
    c.run().await;
    let job = c.job(id).await;
    assert_eq!(job.state, JobState::Failed);
    let (code, message) = failed_code(&job);
    assert_eq!(code, "invalid_request");
    assert!(message.starts_with("tenant_id: "), "{message}");
    assert_eq!(c.instances(), (0, 0));
    // A connection that does not exist: refused at submit, naming the field.
    let mut raw = request("tenant", HOSTING);
    raw.connection = Some("no-such-connection".into());
    match c.submit(raw).await {
        Err(EngineError::Invalid(e)) => assert_eq!(e.errors[0].field, "connection"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_and_the_signed_urls_appear_in_no_event_view_or_file() {
    if !tools_available() {
        return;
    }
    let c = Cortex::start(|_| {}, |_| {}).await;
    let mut approval = request("management_group", HOSTING);
    approval.require_approval = Some(true);
    let gated = c.submit(approval).await.unwrap();
    let id = c.submit(request("tenant", HOSTING)).await.unwrap();
    c.run().await;
    // While the plan waits for approval, and after both jobs ended.
    let check = |when: &str, text: &str| {
        for canary in [KEY, "Signature=", "/_cortex/upload/"] {
            assert!(!text.contains(canary), "{canary} in {when}");
        }
    };
    let scan_files = |when: &str| {
        for entry in walk(c.dir.path()) {
            let bytes = std::fs::read(&entry).unwrap_or_default();
            check(
                &format!("{when}: {}", entry.display()),
                &String::from_utf8_lossy(&bytes),
            );
        }
    };
    scan_files("awaiting approval");
    assert!(c.engine.approve(gated, "tester").await.unwrap());
    c.run().await;
    for job in [id, gated] {
        let record = c.job(job).await;
        assert_eq!(record.state, JobState::Succeeded, "{:?}", record.error);
        check(
            "the job view",
            &serde_json::json!({
                "request": record.request, "result": record.result, "error": record.error,
            })
            .to_string(),
        );
        check(
            "the events",
            &serde_json::to_string(&c.events(job).await).unwrap(),
        );
    }
    scan_files("done");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
