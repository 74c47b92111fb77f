//! The pre-flight step: failing status checks stop the job before a known-broken account is
//! registered, unless the request says `register_anyway`.

use cortex_store::JobState;

use crate::common::*;

/// A subscription the emulator's marker `0000f10e` gives a failing flow-logs check.
fn flow_logs_broken(n: u32, name: &str) -> onboarding_engine::RawRequest {
    let mut raw = existing(&format!("0000f10e{}", &guid(0, n)[8..]), name, n);
    raw.flow_logs = true;
    raw
}

/// Submits `raw` (an existing identity with secret `n`), runs it to its end, and returns the
/// job with its record and events.
async fn run_one(
    sb: &Sandbox,
    raw: onboarding_engine::RawRequest,
    n: u32,
) -> (
    cortex_store::JobId,
    cortex_store::JobRecord,
    Vec<cortex_store::StoredEvent>,
) {
    let job = sb
        .engine
        .submit(&raw.validate().unwrap(), Some(secret(n)), "t")
        .await
        .unwrap();
    sb.run().await;
    (job, sb.job(job).await, sb.events(job).await)
}

fn capability_events(events: &[cortex_store::StoredEvent]) -> Vec<&serde_json::Value> {
    events
        .iter()
        .filter(|e| e.event["type"] == "capability_status")
        .map(|e| &e.event)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_preflight_fails_its_step_and_registers_nothing() {
    let sb = Sandbox::start(sandbox_mode()).await;
    let (job, record, events) = run_one(&sb, flow_logs_broken(40, "stopped"), 40).await;
    assert_eq!(record.state, JobState::Failed);
    let error = record.error.unwrap();
    assert_eq!(
        (error["step"].as_str(), error["code"].as_str()),
        (Some("preflight"), Some("preflight_failed")),
        "{error}"
    );
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("Flow Logs"), "{message}");
    assert!(message.contains("nothing was registered"), "{message}");
    // The step is recorded as failed, not succeeded.
    let steps = sb.engine.store().steps(job).await.unwrap();
    let preflight = steps.iter().find(|s| s.name == "preflight").unwrap();
    assert_eq!(preflight.state, "failed");
    assert!(!steps.iter().any(|s| s.name == "register"), "{steps:?}");
    assert!(events.iter().any(|e| e.event["type"] == "step_failed"
        && e.event["step"] == "preflight"
        && e.event["code"] == "preflight_failed"));
    // Nothing was sent to register the account.
    assert!(
        !sb.stats()
            .endpoints
            .contains_key("POST /cas/v1/azure_account")
    );
    assert_eq!(sb.stats().accounts_created, 0);
    // The failing capability says why, the fix (ours: the pre-flight check has none) and the docs.
    let caps = capability_events(&events);
    let flow = caps
        .iter()
        .find(|c| c["capability"] == "Flow Logs")
        .expect("flow logs reported");
    assert_eq!(flow["status"], "error");
    assert!(
        flow["message"]
            .as_str()
            .unwrap()
            .contains("queryFlowLogStatus")
    );
    assert!(
        flow["remediation"]
            .as_str()
            .unwrap()
            .contains("Reader and Data Access"),
        "{flow}"
    );
    assert!(
        flow["docs_url"]
            .as_str()
            .unwrap()
            .starts_with("https://docs.prismacloud.io/")
    );
    // The fix is not repeated in the job's error.
    assert!(!message.contains(flow["remediation"].as_str().unwrap()));
    let ok = caps
        .iter()
        .find(|c| c["status"] == "ok")
        .expect("an ok capability");
    assert!(ok.get("docs_url").is_none() && ok["remediation"] == "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_anyway_registers_with_a_warning_and_verify_reports_the_failure() {
    let sb = Sandbox::start(sandbox_mode()).await;
    let mut raw = flow_logs_broken(41, "anyway");
    raw.register_anyway = true;
    let (_, record, events) = run_one(&sb, raw, 41).await;
    assert_eq!(record.state, JobState::Failed);
    let error = record.error.unwrap();
    assert_eq!(
        (error["step"].as_str(), error["code"].as_str()),
        (Some("verify"), Some("capabilities_failing")),
        "{error}"
    );
    assert_eq!(sb.stats().accounts_created, 1, "registered as asked");
    let finished = events
        .iter()
        .find(|e| e.event["type"] == "step_finished" && e.event["step"] == "preflight")
        .expect("preflight finished");
    let warning = finished.event["warning"].as_str().expect("with a warning");
    assert!(warning.contains("Flow Logs") && warning.contains("registered anyway"));
    // Other steps finish without one.
    assert!(events.iter().any(|e| e.event["type"] == "step_finished"
        && e.event["step"] == "register"
        && e.event.get("warning").is_none()));
    // Verification's own remediation (Prisma Cloud's) is kept, not replaced by ours.
    let last_flow = capability_events(&events)
        .into_iter()
        .rev()
        .find(|c| c["capability"] == "Flow Logs")
        .unwrap();
    assert!(
        last_flow["remediation"]
            .as_str()
            .unwrap()
            .contains("re-apply the onboarding template"),
        "{last_flow}"
    );
    let message = error["message"].as_str().unwrap();
    assert!(
        !message.contains("fix:"),
        "the fix is not repeated: {message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_preflight_finishes_without_a_warning() {
    let sb = Sandbox::start(sandbox_mode()).await;
    let mut raw = existing(&guid(0x5ab5, 42), "healthy", 42);
    raw.flow_logs = true;
    let (_, record, events) = run_one(&sb, raw, 42).await;
    assert_eq!(record.state, JobState::Succeeded);
    let finished = events
        .iter()
        .find(|e| e.event["type"] == "step_finished" && e.event["step"] == "preflight")
        .unwrap();
    assert!(finished.event.get("warning").is_none(), "{finished:?}");
}
