//! Drift: a change made through the emulator's own Prisma API (a person in the console) is
//! found field by field, recorded by the watch and notified once; a reconcile with a review
//! puts the desired state back without handling the secret; *adopt current* clears it; an
//! account onboarded elsewhere is listed, adopted, watched, and refused rotation and destroy.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::StatusCode;
use cortex_store::JobState;
use onboarding_engine::TerraformMode;
use onboarding_engine::drift::{self, NO_TERRAFORM_STATE, Origin};
use onboarding_engine::watch::{HealthWatch, prisma_key};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::common::{ACCESS_KEY, SECRET_KEY, Sandbox, TENANT, guid, secret};
use crate::watch::{Receiver, fast_watch, onboard, save_sink, test_clock};

const DEFAULT_GROUP: &str = "00000000-0000-4000-8000-00000000d0a9";
const ELSEWHERE_SECRET: &str = "CANARY-ELSEWHERE-SECRET-51c0~q";

/// A person in the console: the emulator's own Prisma API with a session of its own.
struct Console {
    base: String,
    http: reqwest::Client,
    token: String,
}

impl Console {
    async fn open(sb: &Sandbox) -> Console {
        let base = sb.emu.base_url();
        let http = reqwest::Client::new();
        let login: Value = http
            .post(format!("{base}/login"))
            .json(&json!({"username": ACCESS_KEY, "password": SECRET_KEY}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Console {
            base,
            http,
            token: login["token"].as_str().unwrap().to_owned(),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("x-redlock-auth", &self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.unwrap();
        assert!(answer.status().is_success(), "{path}: {}", answer.status());
        answer.json().await.unwrap_or(Value::Null)
    }

    async fn create_group(&self, name: &str) -> String {
        let group = self
            .call(
                reqwest::Method::POST,
                "/cloud/group",
                Some(json!({"name": name, "accountIds": []})),
            )
            .await;
        group["id"].as_str().unwrap().to_owned()
    }

    /// `GET /cloud/azure/{id}`, changed by `edit`, sent back with `PUT /cloud/azure/{id}`
    /// (the key as read: asterisks).
    async fn edit(&self, id: &str, edit: impl FnOnce(&mut Value)) {
        let read = self
            .call(reqwest::Method::GET, &format!("/cloud/azure/{id}"), None)
            .await;
        let account = &read["cloudAccount"];
        let mut body = json!({
            "cloudAccount": {
                "accountId": id,
                "accountType": "account",
                "enabled": account["enabled"],
                "name": account["name"],
                "groupIds": account["groupIds"],
            },
            "clientId": read["clientId"],
            "key": read["key"],
            "tenantId": read["tenantId"],
            "servicePrincipalId": read["servicePrincipalId"],
            "monitorFlowLogs": read["monitorFlowLogs"],
            "environmentType": read["environmentType"],
            "features": read["features"],
        });
        edit(&mut body);
        self.call(
            reqwest::Method::PUT,
            &format!("/cloud/azure/{id}?skipStatusChecks=true"),
            Some(body),
        )
        .await;
    }

    async fn view(&self, id: &str) -> Value {
        self.call(
            reqwest::Method::GET,
            &format!("/v1/cloudAccounts/azureAccounts/{id}"),
            None,
        )
        .await
    }
}

fn fields(report: &drift::DriftReport) -> Vec<&str> {
    report
        .differences
        .iter()
        .map(|d| d.field.as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_after_a_console_change_is_found_notified_once_and_reconciled_after_review() {
    let sb = Sandbox::start(TerraformMode::Replay {
        pace: Duration::from_millis(1),
    })
    .await;
    let subs = onboard(&sb, 0xd41f, 1).await;
    let hook = Receiver::start(StatusCode::OK).await;
    save_sink(
        &sb.engine,
        "ops-hook",
        "webhook",
        &hook.url,
        Some("CANARY-DRIFT-SIGNING-KEY-1"),
    )
    .await;
    let (offset, clock) = test_clock(OffsetDateTime::now_utc());
    let watch = HealthWatch::new(sb.engine.clone(), fast_watch())
        .unwrap()
        .with_clock(clock);

    // What onboarding set is the desired state.
    let managed = drift::managed_account(&sb.engine, &subs[0], None)
        .await
        .unwrap();
    assert_eq!(managed.origin, Origin::Onboarded);
    assert_eq!(managed.desired_source, "onboarding");
    assert!(managed.desired.enabled && managed.desired.flow_logs);
    assert_eq!(managed.desired.account_groups, [DEFAULT_GROUP]);
    assert!(managed.lifecycle.unavailable.is_none());
    let clean = drift::check(&watch, &managed).await.unwrap();
    assert!(!clean.drifted, "{:?}", clean.differences);

    // Someone in the console disables the account, turns flow logs off, moves it to another
    // group and turns Remediation on.
    let console = Console::open(&sb).await;
    let other = console.create_group("Moved by hand").await;
    console
        .edit(&subs[0], |b| {
            b["cloudAccount"]["enabled"] = json!(false);
            b["cloudAccount"]["groupIds"] = json!([other]);
            b["monitorFlowLogs"] = json!(false);
            b["features"] = json!([{"name": "Remediation", "state": "enabled"}]);
        })
        .await;

    // The watch's round finds it, records it and notifies once.
    assert_eq!(watch.run_round().await.unwrap().checked, 1);
    let found = drift::recorded(&sb.engine).await.unwrap();
    assert_eq!(found.len(), 1);
    assert!(!found[0].fingerprint.is_empty());
    let diffs = found[0].differences.as_array().unwrap();
    let by_field = |f: &str| diffs.iter().find(|d| d["field"] == f).unwrap().clone();
    assert_eq!(
        [
            by_field("enabled")["desired"].clone(),
            by_field("enabled")["current"].clone()
        ],
        [json!(true), json!(false)]
    );
    assert_eq!(by_field("account_groups")["current"], json!([other]));
    assert_eq!(by_field("features")["current"], json!(["Remediation"]));
    assert_eq!(by_field("flow_logs")["current"], json!(false));
    offset.fetch_add(60, Ordering::SeqCst);
    watch.run_round().await.unwrap();
    let notes: Vec<Value> = hook
        .bodies()
        .into_iter()
        .filter(|b| b["kind"] == "drift_found")
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["account"]["account_id"], subs[0].as_str());
    assert!(
        notes[0]["summary"]
            .as_str()
            .unwrap()
            .contains("enabled: desired true, now false"),
        "{}",
        notes[0]["summary"]
    );
    let audit = sb.engine.store().list_audit(100).await.unwrap();
    assert_eq!(
        audit.iter().filter(|a| a.action == "drift.found").count(),
        1
    );

    // On demand: the same differences, field by field.
    let report = drift::check(&watch, &managed).await.unwrap();
    assert_eq!(
        fields(&report),
        ["enabled", "features", "account_groups", "flow_logs"]
    );

    // Reconcile with a review: it stops at the gate with what it will change.
    let job = drift::submit_reconcile(&sb.engine, &subs[0], None, true, "alice")
        .await
        .unwrap();
    sb.run().await;
    assert_eq!(sb.job(job).await.state, JobState::AwaitingApproval);
    let events = sb.events(job).await;
    let review: Vec<String> = events
        .iter()
        .filter_map(|e| e.event["message"].as_str().map(str::to_owned))
        .filter(|m| m.starts_with("will change"))
        .collect();
    assert_eq!(review.len(), 4, "{review:?}");
    // The gate is announced as a plan's is, so the live job page shows the review.
    let gate = events
        .iter()
        .find(|e| e.event["type"] == "approval_required")
        .expect("an approval_required event");
    assert_eq!(
        (
            &gate.event["add"],
            &gate.event["change"],
            &gate.event["destroy"]
        ),
        (&json!(0), &json!(4), &json!(0))
    );
    assert!(
        !console.view(&subs[0]).await["cloudAccount"]["enabled"]
            .as_bool()
            .unwrap()
    );
    assert!(sb.engine.approve(job, "alice").await.unwrap());
    sb.run().await;
    let done = sb.succeeded(job).await;
    assert_eq!(
        done.result.as_ref().unwrap()["changed"]
            .as_array()
            .unwrap()
            .len(),
        4
    );

    // The emulator shows the desired state again, and kept the secret it had.
    let view = console.view(&subs[0]).await;
    assert_eq!(view["cloudAccount"]["enabled"], true);
    assert_eq!(view["monitorFlowLogs"], true);
    assert_eq!(view["groupIds"], json!([DEFAULT_GROUP]));
    assert_eq!(view["cloudAccount"]["features"], json!([]));
    {
        let store = sb.emu.state.store();
        let stored = &store.accounts[&subs[0]].request.key;
        assert_eq!(stored.expose(), secret(0).expose());
    }
    let after = drift::check(&watch, &managed).await.unwrap();
    assert!(!after.drifted, "{:?}", after.differences);
    assert!(
        drift::recorded(&sb.engine).await.unwrap()[0]
            .fingerprint
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopt_current_makes_the_current_configuration_desired_and_clears_the_drift() {
    let sb = Sandbox::start(TerraformMode::Replay {
        pace: Duration::from_millis(1),
    })
    .await;
    let subs = onboard(&sb, 0xd42f, 1).await;
    let watch = HealthWatch::new(sb.engine.clone(), fast_watch()).unwrap();
    let console = Console::open(&sb).await;
    console
        .edit(&subs[0], |b| b["monitorFlowLogs"] = json!(false))
        .await;
    let managed = drift::managed_account(&sb.engine, &subs[0], None)
        .await
        .unwrap();
    assert_eq!(
        fields(&drift::check(&watch, &managed).await.unwrap()),
        ["flow_logs"]
    );

    let report = drift::adopt_current(&watch, &subs[0], None, "alice")
        .await
        .unwrap();
    assert!(!report.drifted);
    let now = drift::managed_account(&sb.engine, &subs[0], None)
        .await
        .unwrap();
    assert_eq!(now.desired_source, "adopt_current");
    assert!(!now.desired.flow_logs);
    assert!(!drift::check(&watch, &now).await.unwrap().drifted);
    let audit = sb.engine.store().list_audit(100).await.unwrap();
    let entry = audit
        .iter()
        .find(|a| a.action == "drift.adopted_current")
        .expect("audited");
    assert_eq!(entry.actor, "alice");
    assert_eq!(
        entry.detail["previous_differences"][0]["field"],
        "flow_logs"
    );

    // A reconcile now has nothing to change.
    let job = drift::submit_reconcile(&sb.engine, &subs[0], None, false, "alice")
        .await
        .unwrap();
    sb.run().await;
    let done = sb.succeeded(job).await;
    assert_eq!(done.result.unwrap()["changed"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_onboarded_elsewhere_is_listed_adopted_watched_and_refused_rotation() {
    let sb = Sandbox::start(TerraformMode::Replay {
        pace: Duration::from_millis(1),
    })
    .await;
    onboard(&sb, 0xd43f, 1).await;
    let console = Console::open(&sb).await;
    let elsewhere = guid(0xe15e, 1);
    console
        .call(
            reqwest::Method::POST,
            "/cas/v1/azure_account?skipStatusChecks=true",
            Some(json!({
                "cloudAccount": {"accountId": elsewhere, "accountType": "account",
                                 "enabled": true, "name": "made-by-hand",
                                 "groupIds": [DEFAULT_GROUP]},
                "clientId": guid(0xc1d0, 77), "key": ELSEWHERE_SECRET, "tenantId": TENANT,
                "servicePrincipalId": guid(0x5e00, 77), "environmentType": "azure",
                "monitorFlowLogs": false,
                "features": [{"name": "Remediation", "state": "enabled"}],
            })),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(150)).await; // the emulator's read delay

    let listed = drift::adoptable(&sb.engine, None).await.unwrap();
    assert_eq!(listed.len(), 1, "only the unmanaged account: {listed:?}");
    assert_eq!(listed[0].account_id, elsewhere);
    assert_eq!(listed[0].name, "made-by-hand");

    let watch = HealthWatch::new(sb.engine.clone(), fast_watch()).unwrap();
    // Bad input names the field; an unknown account is refused; nothing is adopted then.
    let bad = drift::adopt(&watch, &["not-a-guid".to_owned()], None, "alice")
        .await
        .unwrap_err();
    assert_eq!(bad.code(), "invalid_request");
    assert!(bad.to_string().contains("account_ids"), "{bad}");
    let missing = drift::adopt(&watch, &[elsewhere.clone(), guid(0xe15e, 2)], None, "alice")
        .await
        .unwrap_err();
    assert_eq!(missing.code(), "account_not_found");
    assert_eq!(drift::adoptable(&sb.engine, None).await.unwrap().len(), 1);

    let adopted = drift::adopt(&watch, std::slice::from_ref(&elsewhere), None, "alice")
        .await
        .unwrap();
    assert_eq!(adopted[0].origin, Origin::Adopted);
    assert_eq!(adopted[0].desired.features, ["Remediation"]);
    let unavailable = adopted[0].lifecycle.unavailable.as_ref().unwrap();
    assert_eq!(unavailable.code, NO_TERRAFORM_STATE);
    assert!(!adopted[0].lifecycle.rotate_secret && !adopted[0].lifecycle.destroy_identity);
    assert_eq!(
        drift::lifecycle_block(&sb.engine, &elsewhere)
            .await
            .unwrap()
            .map(|u| u.code),
        Some(NO_TERRAFORM_STATE)
    );
    assert!(drift::adoptable(&sb.engine, None).await.unwrap().is_empty());
    let again = drift::adopt(&watch, std::slice::from_ref(&elsewhere), None, "alice")
        .await
        .unwrap_err();
    assert_eq!(again.code(), "already_managed");

    // Watched (health) and compared (drift) from now on.
    let round = watch.run_round().await.unwrap();
    assert_eq!(round.accounts, 2);
    let key = prisma_key(None, &elsewhere);
    let history = sb.engine.store().health_history(&key, 5).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].check.status, "ok");
    console
        .edit(&elsewhere, |b| b["cloudAccount"]["enabled"] = json!(false))
        .await;
    let managed = drift::managed_account(&sb.engine, &elsewhere, None)
        .await
        .unwrap();
    assert_eq!(
        fields(&drift::check(&watch, &managed).await.unwrap()),
        ["enabled"]
    );

    // Nothing the product stored or recorded holds the other tool's secret.
    let dump = format!(
        "{:?}{:?}{:?}",
        sb.engine.store().desired_states().await.unwrap(),
        sb.engine.store().drift_findings().await.unwrap(),
        sb.engine.store().list_audit(100).await.unwrap()
    );
    assert!(!dump.contains(ELSEWHERE_SECRET));
}
