//! Cortex Cloud from the command line: `onboard cortex SCOPE` on the sandbox (its emulator's
//! Cortex face and the template's Terraform twin, whose callback is real) for every scope, a
//! warning scenario, the approval gate, bad input (exit 2, the field named); and
//! `instances list | show | accounts | enable | disable | delete` against a Cortex tenant that outlives the commands (an
//! emulator this test runs, saved as a connection in the data directory), paging included.

use std::time::Duration;

use cortex_cloud_types::{ApiKey, ApiUrl, KeyId, KeyType, SecretString};
use onboarding_engine::connections::RawConnection;
use onboarding_engine::cortex::RawCortexRequest;
use predicates::prelude::*;
use prisma_emulator::cortex::CortexConfig;
use prisma_emulator::cortex::config::DEMO_TENANT;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::common::*;

/// The sandbox's approved tenant and a hosting subscription no scenario matches.
const HOSTING: &str = "8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f";
/// A subscription whose marker makes Agentless Disk Scanning end in a warning.
const ADS_WARNING_SUB: &str = "0000ad50-7777-4888-9999-aaaaaaaaaaaa";

fn onboard_cortex(sb: &Sandbox, scope: &str, args: &[&str]) -> assert_cmd::assert::Assert {
    sb.cmd()
        .args(["onboard", "cortex", scope, "--tenant", DEMO_TENANT])
        .args(args)
        .assert()
}

/// The `cortex_result` of a `--output json` run that exits `code` (every event line checked
/// too).
fn cortex_result(assert: assert_cmd::assert::Assert, code: i32) -> Value {
    let out = assert.code(code).get_output().clone();
    check_job_stream_of(&out.stdout, 1, cortex_cli::schemas::CORTEX_RESULT)
}

/// `onboard cortex SCOPE --tenant <approved> ARGS --output json`, exit 0: its result.
fn onboarded(sb: &Sandbox, scope: &str, args: &[&str]) -> Value {
    let json = [args, &["--output", "json"]].concat();
    cortex_result(onboard_cortex(sb, scope, &json), 0)
}

fn capability<'a>(result: &'a Value, name: &str) -> &'a Value {
    result["capabilities"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("{name} not in {result}"))
}

#[test]
fn every_scope_onboards_into_the_sandbox_and_the_json_follows_its_schemas() {
    let sb = Sandbox::new();
    let result = onboarded(&sb, "tenant", &["--subscription", HOSTING]);
    assert_eq!(result["status"], "succeeded", "{result}");
    assert_eq!(result["scope"], "tenant");
    assert_eq!(result["connection"], "cortex-sandbox");
    assert_eq!(result["instance_status"], "CONNECTED");
    assert_ne!(result["instance_id"], result["pending_instance_id"]);
    assert!(result["template_md5"].as_str().unwrap().len() == 32);
    for c in result["capabilities"].as_array().unwrap() {
        assert!(
            ["connected", "disabled"].contains(&c["status"].as_str().unwrap()),
            "{c}"
        );
    }
    assert_eq!(capability(&result, "ADS")["status"], "connected");
    assert!(result["accounts_total"].as_u64().unwrap() > 1, "{result}");
    for step in [
        "create_instance",
        "download_template",
        "apply_template",
        "await_connection",
        "verify",
        "list_accounts",
    ] {
        assert!(
            result["durations"]["steps"][step].is_u64(),
            "{step}: {result}"
        );
    }

    // A management group with a subset of the capabilities, no audit logs, a tag.
    let result = onboarded(
        &sb,
        "management-group",
        &[
            "--subscription",
            HOSTING,
            "--management-group",
            "mg-production",
            "--capabilities",
            "ads,dspm",
            "--no-audit-logs",
            "--tag",
            "team=security",
        ],
    );
    assert_eq!(result["scope"], "management_group", "{result}");
    assert_eq!(result["target"], "management group mg-production");
    assert_eq!(capability(&result, "DSPM")["status"], "connected");
    for off in ["REGISTRY", "SERVERLESS", "AUDIT_LOGS"] {
        assert_eq!(capability(&result, off)["status"], "disabled", "{off}");
    }

    // One subscription, in words for people.
    onboard_cortex(&sb, "subscription", &["--subscription", HOSTING])
        .code(0)
        .stdout(
            predicate::str::contains("Onboarded subscription 8f2c1a3e")
                .and(predicate::str::contains("CONNECTED"))
                .and(predicate::str::contains("template MD5"))
                .and(predicate::str::contains(HOSTING)),
        );

    // `jobs list` names the Cortex jobs by scope and target.
    sb.cmd().args(["jobs", "list"]).assert().success().stdout(
        predicate::str::contains("management_group").and(predicate::str::contains("mg-production")),
    );
}

#[test]
fn a_warning_keeps_cortex_clouds_text_and_the_job_still_succeeds() {
    let sb = Sandbox::new();
    let result = onboarded(&sb, "subscription", &["--subscription", ADS_WARNING_SUB]);
    assert_eq!(result["status"], "succeeded", "{result}");
    assert_eq!(result["instance_status"], "WARNING");
    let ads = capability(&result, "ADS");
    assert_eq!(ads["status"], "warning");
    assert_eq!(ads["code"], 1);
    let message = ads["message"].as_str().unwrap();
    assert!(!message.is_empty() && !ads["remediation"].as_str().unwrap().is_empty());
    assert!(
        message.contains(prisma_emulator::cortex::callback::ADS_WARNING),
        "{message}"
    );
}

#[test]
fn require_approval_stops_at_the_plan_and_interactive_approves_it() {
    let sb = Sandbox::new();
    let result = onboarded(
        &sb,
        "tenant",
        &["--subscription", HOSTING, "--require-approval"],
    );
    assert_eq!(result["status"], "awaiting_approval", "{result}");
    assert!(result["pending_instance_id"].is_string(), "{result}");
    assert!(result["instance_id"].is_null(), "{result}");

    // Answered here: the plan is applied in this process and the instance connects.
    let out = sb
        .cmd()
        .args(["onboard", "cortex", "tenant", "--tenant", DEMO_TENANT])
        .args([
            "--subscription",
            HOSTING,
            "--require-approval",
            "--interactive",
        ])
        .write_stdin("y\n")
        .assert()
        .code(0)
        .get_output()
        .clone();
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Onboarded tenant"), "{stdout}");
    assert!(
        text(&out.stderr).contains("Apply the plan of job"),
        "{}",
        text(&out.stderr)
    );
}

/// The `{"type":"error"}` line of a refused command, which exits 2.
fn refused(assert: assert_cmd::assert::Assert) -> Value {
    let out = assert.code(2).get_output().clone();
    let lines = json_lines(&out.stdout);
    let error = lines.last().expect("an error line").clone();
    assert_valid(&validator(cortex_cli::schemas::ERROR), &error);
    error
}

fn fields(error: &Value) -> Vec<String> {
    error["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn bad_input_exits_2_naming_the_field_before_anything_is_created() {
    let sb = Sandbox::new();
    let json = ["--output", "json"];
    let refused_onboarding = |sb: &Sandbox, scope: &str, args: &[&str]| {
        refused(onboard_cortex(sb, scope, &[args, &json].concat()))
    };
    let e = refused_onboarding(&sb, "planet", &["--subscription", HOSTING]);
    assert_eq!(fields(&e), ["scope"], "{e}");
    let e = refused_onboarding(
        &sb,
        "subscription",
        &[
            "--subscription",
            HOSTING,
            "--include-subscription",
            HOSTING,
            "--capabilities",
            "telepathy",
        ],
    );
    assert_eq!(fields(&e), ["include_subscriptions", "capabilities"], "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("--include-subscription"),
        "{e}"
    );
    let e = refused_onboarding(&sb, "management-group", &["--subscription", HOSTING]);
    assert_eq!(fields(&e), ["management_group_id"], "{e}");
    // The Prisma Cloud connection is not a Cortex one.
    let e = refused_onboarding(
        &sb,
        "tenant",
        &["--subscription", HOSTING, "--connection", "default"],
    );
    assert_eq!(fields(&e), ["connection"], "{e}");
    // A tenant that has not approved Cortex Cloud's application: refused at prerequisites,
    // before any instance exists, naming the tenant.
    let out = sb
        .cmd()
        .args(["onboard", "cortex", "tenant", "--tenant", TENANT])
        .args(["--subscription", HOSTING, "--output", "json"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    let result = check_job_stream_of(&out.stdout, 1, cortex_cli::schemas::CORTEX_RESULT);
    assert_eq!(result["status"], "failed", "{result}");
    assert_eq!(result["error"]["step"], "prerequisites", "{result}");
    assert!(
        result["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tenant_id"),
        "{result}"
    );
    assert!(
        result["pending_instance_id"].is_null(),
        "nothing created: {result}"
    );
    // Nothing else was submitted.
    sb.cmd()
        .args(["jobs", "list", "--output", "json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("cortex_onboarding").count(1));

    for (args, field) in [
        (vec!["instances", "list", "--status", "sleepy"], "status"),
        (vec!["instances", "show", "not-an-id"], "id"),
        (vec!["instances", "accounts", "12345"], "id"),
        (
            vec!["instances", "list", "--connection", "default"],
            "connection",
        ),
        (
            vec!["instances", "list", "--connection", "nowhere"],
            "connection",
        ),
        (
            vec!["instances", "show", "0123456789abcdef0123456789abcdef"],
            "id",
        ),
    ] {
        let e = refused(sb.cmd().args(&args).args(json).assert());
        assert_eq!(fields(&e), [field], "{args:?}: {e}");
    }
}

/// A Cortex Cloud tenant that outlives each command: an emulator this test runs, saved as the
/// connection `ext` in the data directory's store (as the web UI's Connections page saves it).
struct Tenant {
    emulator: prisma_emulator::RunningEmulator,
    stop: CancellationToken,
}

const EXT_KEY: &str = "cli-cortex-key-ext-0123456789";

impl Tenant {
    async fn start(sb: &Sandbox) -> Self {
        let mut config = prisma_emulator::EmulatorConfig::new(
            "ext-access-key",
            SecretString::from("ext-secret"),
        );
        config.cortex = CortexConfig::new(
            KeyId::new(31).unwrap(),
            SecretString::from(EXT_KEY),
            KeyType::Standard,
        );
        config.cortex.capability_delay = Duration::from_millis(300);
        config.issuer = "http://127.0.0.1".into();
        let stop = CancellationToken::new();
        let emulator = prisma_emulator::spawn(
            "127.0.0.1:0".parse().unwrap(),
            config,
            None,
            stop.clone().cancelled_owned(),
        )
        .await
        .unwrap();
        let store = cortex_cli::open_store(sb.data_dir(), None).await.unwrap();
        let engine = onboarding_engine::Engine::new(
            store,
            prisma_client::ClientConfig::new(
                prisma_client::BaseUrl::parse(&emulator.base_url(), false).unwrap(),
                prisma_client::Credentials::new("ext-access-key", SecretString::from("ext-secret")),
            ),
            onboarding_engine::EngineConfig::new(
                sb.data_dir().to_path_buf(),
                onboarding_engine::TerraformMode::sandbox(),
            ),
        )
        .unwrap();
        let connection = RawConnection {
            platform: Some("cortex".into()),
            name: Some("ext".into()),
            api_url: Some(emulator.base_url()),
            key_id: Some("31".into()),
            key: Some(SecretString::from(EXT_KEY)),
            key_type: Some("standard".into()),
            ..RawConnection::default()
        }
        .validate()
        .unwrap();
        engine.save_connection(&connection, "test").await.unwrap();
        engine.store().close().await;
        Self { emulator, stop }
    }

    /// `n` pending instances straight through the client, as another tool would leave them.
    async fn leave_pending(&self, n: usize) {
        let client =
            cortex_cloud_client::CortexClient::new(cortex_cloud_client::ClientConfig::new(
                ApiUrl::parse(&self.emulator.base_url()).unwrap(),
                ApiKey::new(
                    KeyId::new(31).unwrap(),
                    SecretString::from(EXT_KEY),
                    KeyType::Standard,
                )
                .unwrap(),
            ))
            .unwrap();
        let template = RawCortexRequest {
            connection: Some("ext".into()),
            tenant_id: Some(DEMO_TENANT.into()),
            scope: Some("subscription".into()),
            subscription_id: Some(HOSTING.into()),
            ..RawCortexRequest::default()
        }
        .validate()
        .unwrap()
        .instance_template();
        for _ in 0..n {
            client.create_instance_template(&template).await.unwrap();
        }
    }
}

impl Drop for Tenant {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// `instances ARGS --connection ext --output json`: its one document, checked against the
/// schema.
fn instances_json(sb: &Sandbox, args: &[&str]) -> Value {
    let out = sb
        .cmd()
        .arg("instances")
        .args(args)
        .args(["--connection", "ext", "--output", "json"])
        .assert()
        .success()
        .get_output()
        .clone();
    let value: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_valid(&validator(cortex_cli::schemas::CORTEX_INSTANCES), &value);
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_list_show_accounts_and_toggle_the_connections_tenant_page_by_page() {
    let sb = Sandbox::new();
    let tenant = Tenant::start(&sb).await;
    // Onboarded through the saved connection (the sandbox's twin runs the template, whose
    // callback reaches this test's emulator).
    let result = onboarded(
        &sb,
        "tenant",
        &["--connection", "ext", "--subscription", HOSTING],
    );
    assert_eq!(result["connection"], "ext", "{result}");
    let id = result["instance_id"].as_str().unwrap().to_owned();
    let pending = result["pending_instance_id"].as_str().unwrap().to_owned();
    tenant.leave_pending(120).await;

    let listed = instances_json(&sb, &["list"]);
    assert_eq!(listed["type"], "cortex_instances");
    assert_eq!(listed["total"], 1, "pending ones are left out: {listed}");
    let row = &listed["instances"][0];
    assert_eq!(row["id"], id.as_str());
    assert_eq!(row["scope"], "ORGANIZATION");
    assert_eq!(row["tenant_id"], DEMO_TENANT);
    assert!(
        row["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "ADS"),
        "{row}"
    );

    // More than one page of the API (100 a page): every one is listed.
    let pendings = instances_json(&sb, &["list", "--status", "pending"]);
    assert_eq!(pendings["total"], 121, "120 left + the onboarding's own");
    assert_eq!(pendings["instances"].as_array().unwrap().len(), 121);
    let ids: std::collections::BTreeSet<&str> = pendings["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 121, "no row twice");
    assert!(ids.contains(pending.as_str()));

    let shown = instances_json(&sb, &["show", &id]);
    assert_eq!(shown["type"], "cortex_instance");
    assert_eq!(shown["status"], "CONNECTED");
    assert!(
        shown["capabilities"].as_array().unwrap().len() >= 8,
        "{shown}"
    );
    sb.cmd()
        .args([
            "instances",
            "show",
            &id.to_ascii_uppercase(),
            "--connection",
            "ext",
        ])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("IDENTITY_SECURITY")
                .and(predicate::str::contains("connected")),
        );

    let accounts = instances_json(&sb, &["accounts", &id]);
    assert_eq!(accounts["total"], result["accounts_total"], "{accounts}");
    assert!(
        accounts["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["account_id"] == HOSTING),
        "{accounts}"
    );
    // The key is in no output.
    for args in [
        vec!["instances", "list", "--connection", "ext"],
        vec!["instances", "accounts", &id, "--connection", "ext", "-v"],
    ] {
        let out = sb.cmd().args(&args).assert().success().get_output().clone();
        assert!(!text(&out.stdout).contains(EXT_KEY) && !text(&out.stderr).contains(EXT_KEY));
    }
    // Disabled, enabled again, then deleted (asked first with --interactive).
    let done = instances_json(&sb, &["disable", &id]);
    assert_eq!(
        (done["type"].as_str(), done["action"].as_str()),
        (Some("cortex_instance_action"), Some("disable"))
    );
    assert_eq!(instances_json(&sb, &["show", &id])["status"], "DISABLED");
    instances_json(&sb, &["enable", &id]);
    assert_eq!(instances_json(&sb, &["show", &id])["status"], "CONNECTED");
    let delete = || {
        let mut c = sb.cmd();
        c.args([
            "instances",
            "delete",
            &id,
            "--connection",
            "ext",
            "--interactive",
        ]);
        c
    };
    delete()
        .write_stdin("not-its-id\n")
        .assert()
        .code(4)
        .stderr(predicate::str::contains("not deleted"));
    assert_eq!(instances_json(&sb, &["list"])["total"], 1, "still there");
    delete()
        .write_stdin(format!("{id}\n"))
        .assert()
        .success()
        .stdout(predicate::str::contains("deleted from Cortex Cloud"));
    assert_eq!(instances_json(&sb, &["list"])["total"], 0, "deleted");
    // An instance id this tenant does not know.
    let e = refused(
        sb.cmd()
            .args(["instances", "accounts", "0123456789abcdef0123456789abcdef"])
            .args(["--connection", "ext", "--output", "json"])
            .assert(),
    );
    assert_eq!(fields(&e), ["id"], "{e}");
    let e = refused(
        sb.cmd()
            .args(["instances", "disable", "0123456789abcdef0123456789abcdef"])
            .args(["--connection", "ext", "--output", "json"])
            .assert(),
    );
    assert_eq!(fields(&e), ["id"], "{e}");
    drop(tenant);
}
