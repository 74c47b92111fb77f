//! After onboarding, on the real `terraform` with the twin: a client-secret rotation (the
//! emulator ends up with the new key, the state with only the new password, capabilities
//! green throughout), a rotation the emulator refuses in the middle (the old secret stays in
//! place and working; resume finishes), offboarding with `terraform destroy` behind the plan
//! review, refused for a shared identity, and the platform-side-only cases. Canary: neither
//! secret in any event, job record, audit entry or file.

use cortex_store::{JobId, JobState};
use onboarding_engine::identity::{CLIENT_SECRET, TERRAFORM_STATE};
use onboarding_engine::lifecycle::{OffboardOptions, RotateOptions};
use onboarding_engine::watch::onboarded_accounts;
use onboarding_engine::{EngineError, IdentityPer};
use serde_json::{Value, json};

use crate::common::*;

/// Onboards one builtin subscription; its onboarding job.
async fn onboard(sb: &Sandbox, sub: &str) -> JobId {
    let job = sb
        .engine
        .submit(
            &subscription(sub, &format!("life-{sub}"))
                .validate()
                .unwrap(),
            None,
            "tester",
        )
        .await
        .unwrap();
    sb.run().await;
    sb.succeeded(job).await;
    job
}

async fn secret_of(sb: &Sandbox, owner: JobId) -> Option<String> {
    sb.engine
        .store()
        .get_secret(&owner.to_string(), CLIENT_SECRET)
        .await
        .unwrap()
        .map(|s| s.expose().to_owned())
}

async fn state_of(sb: &Sandbox, owner: JobId) -> Value {
    let text = sb
        .engine
        .store()
        .get_secret(&owner.to_string(), TERRAFORM_STATE)
        .await
        .unwrap()
        .expect("state kept");
    serde_json::from_str(text.expose()).unwrap()
}

/// The managed resource instances of a state, by address.
fn resources(state: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for r in state["resources"].as_array().into_iter().flatten() {
        if r["mode"] != "managed" {
            continue;
        }
        for i in r["instances"].as_array().into_iter().flatten() {
            let key = i["index_key"]
                .as_str()
                .map(|k| format!("[\"{k}\"]"))
                .unwrap_or_default();
            out.push(format!(
                "{}.{}{key}",
                r["type"].as_str().unwrap(),
                r["name"].as_str().unwrap()
            ));
        }
    }
    out
}

fn emulator_key(sb: &Sandbox, account: &str) -> String {
    sb.emu.state.store().accounts[account]
        .request
        .key
        .expose()
        .to_owned()
}

async fn refuse_updates(sb: &Sandbox, account: &str, refuse: bool) {
    let answer = reqwest::Client::new()
        .put(format!(
            "{}/_emulator/accounts/{account}/updates",
            sb.emu.base_url()
        ))
        .json(&json!({ "refuse": refuse }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 204);
}

/// Every capability status the job reported, as `(capability, status)`.
async fn capability_statuses(sb: &Sandbox, job: JobId) -> Vec<(String, String)> {
    sb.events(job)
        .await
        .iter()
        .filter(|e| e.event["type"] == "capability_status")
        .map(|e| {
            (
                e.event["capability"].as_str().unwrap().to_owned(),
                e.event["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Neither secret in any job's record or event, any audit entry, or any file of the data dir.
async fn assert_nowhere(sb: &Sandbox, secrets: &[&str]) {
    let store = sb.engine.store();
    let mut texts = Vec::new();
    for job in store.list_jobs(None, u32::MAX).await.unwrap() {
        texts.push(serde_json::to_string(&job).unwrap());
        for e in sb.events(job.id).await {
            texts.push(e.event.to_string());
        }
    }
    for a in store.list_audit(10_000).await.unwrap() {
        texts.push(serde_json::to_string(&a).unwrap());
    }
    for path in walk(sb.dir.path()) {
        texts.push(String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned());
    }
    for secret in secrets {
        assert!(secret.len() >= 16, "a real secret: {secret:?}");
        assert!(
            texts.iter().all(|t| !t.contains(secret)),
            "a secret appears in plaintext"
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_switches_the_account_to_a_new_secret_then_removes_the_old_one() {
    let Some(mode) = twin() else { return };
    let sb = Sandbox::start(mode).await;
    let sub = guid(0x2071, 1);
    let onboarding = onboard(&sb, &sub).await;
    let old = secret_of(&sb, onboarding).await.unwrap();
    assert_eq!(emulator_key(&sb, &sub), old);
    let before = resources(&state_of(&sb, onboarding).await);
    assert!(before.contains(&"terraform_data.azuread_application_password__prisma_cloud".into()));

    let job = sb
        .engine
        .submit_rotation(&sub, RotateOptions::default(), "tester")
        .await
        .unwrap();
    sb.run().await;
    let record = sb.succeeded(job).await;
    assert_eq!(record.kind, "rotate_secret");
    let result = record.result.unwrap();
    let key = result["password_key"].as_str().unwrap();

    let new = secret_of(&sb, onboarding).await.unwrap();
    assert_ne!(new, old);
    assert_eq!(emulator_key(&sb, &sub), new, "the emulator has the new key");
    let after = resources(&state_of(&sb, onboarding).await);
    assert!(
        !after.iter().any(|a| a.contains("password__prisma_cloud")),
        "the old password is gone from the state: {after:?}"
    );
    assert!(after.contains(&format!(
        "terraform_data.azuread_application_password__rotated[\"{key}\"]"
    )));
    assert_eq!(after.len(), before.len(), "one password for another");

    let statuses = capability_statuses(&sb, job).await;
    assert!(!statuses.is_empty());
    assert!(
        statuses.iter().all(|(_, s)| s == "ok"),
        "green throughout: {statuses:?}"
    );
    let steps: Vec<String> = sb
        .engine
        .store()
        .steps(job)
        .await
        .unwrap()
        .iter()
        .filter(|s| s.state == "succeeded")
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(
        steps,
        [
            "prerequisites",
            "add_password",
            "update_account",
            "verify",
            "remove_old_password"
        ]
    );
    // The watch now knows the new secret's end date.
    let watched = onboarded_accounts(sb.engine.store()).await.unwrap();
    assert_eq!(
        watched[0].secret_expiry.as_deref(),
        result["secret_expiry"].as_str()
    );
    assert!(result["secret_expiry"].is_string());

    // A second rotation starts from the rotated password.
    let again = sb
        .engine
        .submit_rotation(&sub, RotateOptions::default(), "tester")
        .await
        .unwrap();
    sb.run().await;
    let record = sb.succeeded(again).await;
    let second_key = record.result.unwrap()["password_key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(second_key, key);
    let state = resources(&state_of(&sb, onboarding).await);
    assert_eq!(state.len(), before.len(), "{state:?}");
    assert!(state.iter().any(|a| a.contains(&second_key)));
    let newest = secret_of(&sb, onboarding).await.unwrap();
    assert_nowhere(&sb, &[&old, &new, &newest]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_refused_in_the_middle_keeps_the_old_secret_working_until_resumed() {
    let Some(mode) = twin() else { return };
    let sb = Sandbox::start(mode).await;
    let sub = guid(0x2071, 2);
    let onboarding = onboard(&sb, &sub).await;
    let old = secret_of(&sb, onboarding).await.unwrap();
    refuse_updates(&sb, &sub, true).await;

    let job = sb
        .engine
        .submit_rotation(&sub, RotateOptions::default(), "tester")
        .await
        .unwrap();
    sb.run().await;
    let record = sb.job(job).await;
    assert_eq!(record.state, JobState::Failed);
    let error = record.error.unwrap();
    assert_eq!(error["step"], "update_account");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("old secret, which keeps working") && message.contains("resume"),
        "{message}"
    );
    assert_eq!(
        emulator_key(&sb, &sub),
        old,
        "the account keeps the old key"
    );
    assert_eq!(secret_of(&sb, onboarding).await.unwrap(), old);
    let state = resources(&state_of(&sb, onboarding).await);
    assert!(
        state.iter().any(|a| a.contains("password__prisma_cloud")),
        "the old password still exists: {state:?}"
    );
    let items = sb.engine.client().config_status(&sub).await.unwrap();
    assert!(items.iter().all(|i| i.status == "ok"), "{items:?}");

    refuse_updates(&sb, &sub, false).await;
    assert!(sb.engine.resume(job, "tester").await.unwrap());
    sb.run().await;
    sb.succeeded(job).await;
    let new = secret_of(&sb, onboarding).await.unwrap();
    assert_ne!(new, old);
    assert_eq!(emulator_key(&sb, &sub), new);
    let state = resources(&state_of(&sb, onboarding).await);
    assert!(!state.iter().any(|a| a.contains("password__prisma_cloud")));
    assert_nowhere(&sb, &[&old, &new]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offboarding_destroys_every_identity_resource_after_the_plan_review() {
    let Some(mode) = twin() else { return };
    let sb = Sandbox::start(mode).await;
    let sub = guid(0x2071, 3);
    let onboarding = onboard(&sb, &sub).await;
    let secret = secret_of(&sb, onboarding).await.unwrap();
    let before = resources(&state_of(&sb, onboarding).await);
    assert!(before.len() > 3, "{before:?}");

    let options = OffboardOptions {
        require_approval: true,
        ..OffboardOptions::default()
    };
    let job = sb
        .engine
        .submit_offboard(&sub, options, "tester")
        .await
        .unwrap();
    sb.run().await;
    assert_eq!(sb.job(job).await.state, JobState::AwaitingApproval);
    let events = sb.events(job).await;
    let planned: Vec<&Value> = events
        .iter()
        .filter(|e| e.event["type"] == "terraform_planned_change")
        .map(|e| &e.event)
        .collect();
    assert_eq!(
        planned.len(),
        before.len(),
        "the review lists every resource"
    );
    assert!(
        planned.iter().all(|p| p["action"] == "delete"),
        "{planned:?}"
    );
    let approval = events
        .iter()
        .find(|e| e.event["type"] == "approval_required")
        .unwrap();
    assert_eq!(approval.event["destroy"], before.len() as u64);
    assert!(
        sb.emu.state.store().accounts[&sub].enabled,
        "nothing done before approval"
    );
    assert_eq!(resources(&state_of(&sb, onboarding).await), before);

    assert!(sb.engine.approve(job, "tester").await.unwrap());
    sb.run().await;
    let record = sb.succeeded(job).await;
    let result = record.result.unwrap();
    assert_eq!(result["outcome"], "disabled");
    assert_eq!(result["identity"], "destroyed");
    assert_eq!(result["destroyed_resources"], before.len() as u64);
    assert!(
        resources(&state_of(&sb, onboarding).await).is_empty(),
        "every identity resource is gone from the state"
    );
    assert_eq!(secret_of(&sb, onboarding).await, None);
    assert!(!sb.emu.state.store().accounts[&sub].enabled);
    assert!(
        onboarded_accounts(sb.engine.store())
            .await
            .unwrap()
            .is_empty(),
        "the watch stops watching it"
    );
    assert!(matches!(
        sb.engine
            .submit_rotation(&sub, RotateOptions::default(), "tester")
            .await,
        Err(EngineError::AccountNotFound { .. })
    ));
    assert_nowhere(&sb, &[&secret]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_identity_still_in_use_is_never_destroyed() {
    let Some(mode) = twin() else { return };
    let sb = Sandbox::start(mode).await;
    let subs = [guid(0x2071, 4), guid(0x2071, 5)];
    let items = subs
        .iter()
        .map(|s| {
            let mut r = subscription(s, &format!("shared-{s}")).validate().unwrap();
            IdentityPer::SharedTenant.apply(&mut r).unwrap();
            (r, None)
        })
        .collect();
    sb.engine
        .submit_batch("shared", items, "tester")
        .await
        .unwrap();
    sb.run().await;

    let asked = OffboardOptions {
        destroy_identity: Some(true),
        ..OffboardOptions::default()
    };
    let refused = sb
        .engine
        .submit_offboard(&subs[0], asked, "tester")
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "not_possible");
    let message = refused.to_string();
    assert!(
        message.contains("shared identity") && message.contains(&subs[1]),
        "{message}"
    );
    let rotation = sb
        .engine
        .submit_rotation(&subs[0], RotateOptions::default(), "tester")
        .await
        .unwrap_err();
    assert_eq!(rotation.code(), "not_possible");

    // By default the shared identity is kept, and the job says why.
    let job = sb
        .engine
        .submit_offboard(&subs[0], OffboardOptions::default(), "tester")
        .await
        .unwrap();
    sb.run().await;
    let record = sb.succeeded(job).await;
    let result = record.result.unwrap();
    assert_eq!(result["identity"], "kept");
    assert!(
        result["identity_kept_because"]
            .as_str()
            .unwrap()
            .contains("still used by 1 other account")
    );
    assert!(!sb.emu.state.store().accounts[&subs[0]].enabled);
    assert!(sb.emu.state.store().accounts[&subs[1]].enabled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_identity_is_rotated_with_a_supplied_secret_and_offboarded_platform_side() {
    let sb = Sandbox::start(sandbox_mode()).await;
    let sub = guid(0x2071, 6);
    sb.onboard(existing(&sub, "existing-life", 6), Some(secret(6)))
        .await;

    let missing = sb
        .engine
        .submit_rotation(&sub, RotateOptions::default(), "tester")
        .await
        .unwrap_err();
    assert!(missing.to_string().contains("client_secret"), "{missing}");
    let bad_date = RotateOptions {
        client_secret: Some(secret(7)),
        secret_expiry: Some("next tuesday".into()),
        ..RotateOptions::default()
    };
    let refused = sb.engine.submit_rotation(&sub, bad_date, "tester").await;
    assert!(refused.unwrap_err().to_string().contains("secret_expiry"));

    let options = RotateOptions {
        client_secret: Some(secret(7)),
        secret_expiry: Some("2027-06-30T00:00:00Z".into()),
        ..RotateOptions::default()
    };
    let rotation = sb
        .engine
        .submit_rotation(&sub, options, "tester")
        .await
        .unwrap();
    sb.run().await;
    sb.succeeded(rotation).await;
    assert_eq!(emulator_key(&sb, &sub), secret(7).expose());
    assert_eq!(
        onboarded_accounts(sb.engine.store()).await.unwrap()[0]
            .secret_expiry
            .as_deref(),
        Some("2027-06-30T00:00:00Z"),
        "the watch warns ahead of the given end date"
    );

    let asked = OffboardOptions {
        destroy_identity: Some(true),
        ..OffboardOptions::default()
    };
    let refused = sb.engine.submit_offboard(&sub, asked, "tester").await;
    assert!(
        refused
            .unwrap_err()
            .to_string()
            .contains("not ours to destroy")
    );
    let options = OffboardOptions {
        delete: true,
        ..OffboardOptions::default()
    };
    let offboard = sb
        .engine
        .submit_offboard(&sub, options, "tester")
        .await
        .unwrap();
    sb.run().await;
    let record = sb.succeeded(offboard).await;
    let result = record.result.unwrap();
    assert_eq!(result["outcome"], "deleted");
    assert_eq!(result["identity"], "kept");
    assert!(
        result["identity_kept_because"]
            .as_str()
            .unwrap()
            .contains("platform side only")
    );
    assert!(!sb.emu.state.store().accounts.contains_key(&sub), "deleted");
    assert_nowhere(&sb, &[secret(6).expose(), secret(7).expose()]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watch_rotates_a_secret_at_the_lead_time_once() {
    use onboarding_engine::watch::{HealthWatch, WatchConfig};
    let Some(mode) = twin() else { return };
    let sb = Sandbox::start(mode).await;
    let sub = guid(0x2071, 8);
    onboard(&sb, &sub).await;
    let rotations = |jobs: &[cortex_store::JobRecord]| {
        jobs.iter()
            .filter(|j| j.kind == "rotate_secret")
            .map(|j| j.id)
            .collect::<Vec<_>>()
    };
    // The builtin secret lasts 180 days: a 30-day lead is not reached at once; 170 days on it
    // is, once. A 200-day lead, as long as the lifetime, is refused: every new secret would be
    // due at once (a rotation each round).
    for (lead_days, days_on, expected) in [
        (30u64, 0i64, 0usize),
        (200, 170, 0),
        (30, 170, 1),
        (30, 170, 1),
    ] {
        let config = WatchConfig {
            interval: std::time::Duration::from_secs(1),
            rotate_before: Some(std::time::Duration::from_secs(lead_days * 86_400)),
            ..WatchConfig::default()
        };
        let watch = HealthWatch::new(sb.engine.clone(), config)
            .unwrap()
            .with_clock(move || time::OffsetDateTime::now_utc() + time::Duration::days(days_on));
        watch.run_round().await.unwrap();
        let jobs = sb.engine.store().list_jobs(None, 100).await.unwrap();
        assert_eq!(
            rotations(&jobs).len(),
            expected,
            "lead {lead_days} days, {days_on} days on"
        );
        // The next round is another one (rounds are seconds apart here).
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }
    let jobs = sb.engine.store().list_jobs(None, 100).await.unwrap();
    let job = rotations(&jobs)[0];
    assert_eq!(sb.job(job).await.request["trigger"], "automatic");
    sb.run().await;
    sb.succeeded(job).await;
}
