//! `onboard subscription | tenant | entra`: success paths, the JSON stream against its
//! schema, bad input (exit 2, the field named), approval, `--no-wait` and resume.

use predicates::prelude::*;

use crate::common::*;

#[test]
fn subscription_json_stream_matches_the_schema_and_the_account_persists() {
    let sb = Sandbox::new();
    let id = sub(1, 1);
    let out = sb
        .cmd()
        .args(["onboard", "subscription", &id, "--tenant", TENANT])
        .args([
            "--name",
            "prod",
            "--features",
            "agentless,remediation",
            "--output",
            "json",
        ])
        .assert()
        .code(0)
        .get_output()
        .clone();
    let result = check_job_stream(&out.stdout, 1);
    assert_eq!(result["status"], "succeeded", "{result}");
    assert_eq!(result["outcome"], "created");
    assert_eq!(result["account_id"], id.as_str());
    assert!(
        result["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "Agentless Scanning" && c["status"] == "ok"),
        "{result}"
    );
    let types: Vec<String> = json_lines(&out.stdout)
        .iter()
        .filter_map(|l| l["event"]["type"].as_str().map(str::to_owned))
        .collect();
    for t in [
        "job_started",
        "terraform_apply_complete",
        "capability_status",
        "job_succeeded",
    ] {
        assert!(types.iter().any(|x| x == t), "{t} missing from {types:?}");
    }

    // A later invocation (a new emulator process) still has it.
    let accounts = sb.accounts();
    let account = accounts
        .iter()
        .find(|a| a["account_id"] == id.as_str())
        .unwrap_or_else(|| panic!("{id} not in {accounts:?}"));
    assert_eq!(account["name"], "prod");
    assert_eq!(account["enabled"], true);

    sb.cmd()
        .args(["accounts", "show", &id])
        .assert()
        .success()
        .stdout(predicate::str::contains("prod").and(predicate::str::contains(TENANT)));
    sb.cmd()
        .args(["accounts", "status", &id])
        .assert()
        .success()
        .stdout(predicate::str::contains("ok"));
    sb.cmd()
        .args(["accounts", "disable", &id])
        .assert()
        .success();
    let enabled = |sb: &Sandbox| {
        sb.accounts()
            .iter()
            .find(|a| a["account_id"] == id.as_str())
            .map(|a| a["enabled"] == true)
    };
    assert_eq!(enabled(&sb), Some(false));
    sb.cmd()
        .args(["accounts", "enable", &id])
        .assert()
        .success();
    assert_eq!(enabled(&sb), Some(true));
    // offboard disables by default ...
    sb.cmd()
        .args(["accounts", "offboard", &id])
        .assert()
        .success()
        .stdout(predicate::str::contains("disabled"));
    assert_eq!(enabled(&sb), Some(false));
    // ... and deletes with --delete.
    sb.cmd()
        .args(["accounts", "offboard", &id, "--delete"])
        .assert()
        .success();
    assert_eq!(enabled(&sb), None);
    sb.cmd()
        .args(["accounts", "show", &id])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("does not exist"));
    sb.cmd()
        .args(["accounts", "status", "{not-a-guid}"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("account_id"));
}

#[test]
fn human_output_has_timestamped_progress_a_summary_and_no_colour() {
    let sb = Sandbox::new();
    let id = sub(2, 1);
    let out = sb
        .cmd()
        .args([
            "onboard",
            "subscription",
            &id,
            "--tenant",
            TENANT,
            "--name",
            "human",
        ])
        .assert()
        .code(0)
        .get_output()
        .clone();
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(
        stdout.contains("✓ Onboarded subscription human"),
        "{stdout}"
    );
    assert!(stdout.contains("took"), "{stdout}");
    assert!(stderr.contains("azure_identity"), "{stderr}");
    assert!(
        stderr.contains("terraform apply"),
        "the Terraform summary: {stderr}"
    );
    // Not a terminal: plain lines, each with a timestamp; no escape sequences anywhere.
    let progress = stderr
        .lines()
        .find(|l| l.contains("✓ verify"))
        .expect("verify line");
    assert!(
        progress.chars().nth(2) == Some(':') && progress.contains('Z'),
        "timestamped: {progress}"
    );
    assert!(!stdout.contains('\x1b') && !stderr.contains('\x1b'));
}

#[test]
fn tenant_and_entra_onboard() {
    let sb = Sandbox::new();
    let tenant = "7e4a0000-aaaa-4bbb-8ccc-0000000000f2";
    let out = sb
        .cmd()
        .args(["onboard", "tenant", tenant, "--name", "whole-tenant"])
        .args([
            "--exclude-mg",
            "mg-sandbox",
            "--groups",
            "Default Account Group",
        ])
        .args(["--output", "json"])
        .assert()
        .code(0)
        .get_output()
        .clone();
    let result = check_job_stream(&out.stdout, 1);
    assert_eq!(result["scope"], "tenant");
    assert_eq!(result["status"], "succeeded");
    let entra = "7e4a0000-aaaa-4bbb-8ccc-0000000000e3";
    sb.cmd()
        .args(["onboard", "entra", entra, "--name", "directory", "-q"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Onboarded entra directory"));
    let ids: Vec<Value> = sb
        .accounts()
        .iter()
        .map(|a| a["account_id"].clone())
        .collect();
    assert!(
        ids.contains(&tenant.into()) && ids.contains(&entra.into()),
        "{ids:?}"
    );
}

use serde_json::Value;

#[test]
fn bad_input_exits_2_and_names_the_field() {
    let sb = Sandbox::new();
    let good = sub(3, 1);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "{8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f}".into(),
                "--tenant".into(),
                TENANT.into(),
                "--name".into(),
                "x".into(),
            ],
            "subscription_id",
        ),
        (vec![good.clone(), "--tenant".into(), TENANT.into()], "name"),
        (vec![good.clone(), "--name".into(), "x".into()], "tenant_id"),
        (
            vec![
                good.clone(),
                "--tenant".into(),
                TENANT.into(),
                "--name".into(),
                "x".into(),
                "--features".into(),
                "telepathy".into(),
            ],
            "features",
        ),
        (
            vec![
                good.clone(),
                "--tenant".into(),
                TENANT.into(),
                "--name".into(),
                "x".into(),
                "--identity".into(),
                "existing".into(),
                "--client-id".into(),
                CLIENT_ID.into(),
                "--sp-object-id".into(),
                SP_OBJECT_ID.into(),
            ],
            "client_secret",
        ),
        (
            vec![
                good.clone(),
                "--tenant".into(),
                TENANT.into(),
                "--name".into(),
                "x".into(),
                "--identity".into(),
                "existing".into(),
            ],
            "service_principal_id",
        ),
        (
            vec![
                good.clone(),
                "--tenant".into(),
                TENANT.into(),
                "--name".into(),
                "x".into(),
                "--connection".into(),
                "no-such-connection".into(),
            ],
            "connection",
        ),
        (
            vec![
                good.clone(),
                "--tenant".into(),
                TENANT.into(),
                "--name".into(),
                "x".into(),
                "--connection".into(),
                "Not A Name".into(),
            ],
            "connection",
        ),
    ];
    for (args, field) in cases {
        sb.cmd()
            .args(["onboard", "subscription"])
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(field));
    }
    sb.cmd()
        .args([
            "onboard",
            "tenant",
            TENANT,
            "--name",
            "t",
            "--exclude-mg",
            "bad name!",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("exclude_management_groups"));
    sb.cmd()
        .args([
            "onboard",
            "entra",
            TENANT,
            "--name",
            "e",
            "--features",
            "remediation",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("features"));
    // JSON mode: the error object on stdout, every field listed.
    let out = sb
        .cmd()
        .args([
            "onboard",
            "subscription",
            "nope",
            "--name",
            "x",
            "--output",
            "json",
        ])
        .assert()
        .code(2)
        .get_output()
        .clone();
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 1);
    assert_valid(&validator(cortex_cli::schemas::ERROR), &lines[0]);
    let fields: Vec<&str> = lines[0]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert!(
        fields.contains(&"subscription_id") && fields.contains(&"tenant_id"),
        "{fields:?}"
    );
    // Usage errors from the parser exit 2 too.
    for args in [
        vec!["onboard", "subscription"],
        vec!["onboard", "subscription", &good, "--identity", "magic"],
        vec!["onboard", "subscription", &good, "--client-secret", "x"],
        vec!["--output", "yaml", "doctor"],
        vec!["frobnicate"],
    ] {
        sb.cmd().args(&args).assert().code(2);
    }
    // Nothing was submitted.
    sb.cmd()
        .args(["jobs", "list", "--output", "json"])
        .assert()
        .success()
        .stdout("[]\n");
}

#[test]
fn approval_gate_then_jobs_approve_applies_the_plan() {
    let sb = Sandbox::new();
    let id = sub(4, 1);
    let out = sb
        .cmd()
        .args([
            "onboard",
            "subscription",
            &id,
            "--tenant",
            TENANT,
            "--name",
            "gated",
        ])
        .args(["--require-approval", "--output", "json"])
        .assert()
        .code(0)
        .get_output()
        .clone();
    let result = check_job_stream(&out.stdout, 1);
    assert_eq!(result["status"], "awaiting_approval", "{result}");
    let job = result["job_id"].as_str().unwrap().to_owned();
    assert!(
        sb.accounts().is_empty(),
        "nothing registered before approval"
    );
    sb.cmd()
        .args(["jobs", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("awaiting_approval"));
    let out = sb
        .cmd()
        .args(["jobs", "approve", &job, "--output", "json"])
        .assert()
        .code(0)
        .get_output()
        .clone();
    let lines = json_lines(&out.stdout);
    let first = lines[0]["seq"].as_i64().unwrap();
    assert!(first > 1, "approve follows the new events only");
    let result = check_job_stream(&out.stdout, first);
    assert_eq!(result["status"], "succeeded", "{result}");
    // Approving again is refused: the job is not waiting.
    sb.cmd()
        .args(["jobs", "approve", &job])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("succeeded"));
}

#[test]
fn no_wait_submits_only_and_jobs_commands_take_over() {
    let sb = Sandbox::new();
    let id = sub(5, 1);
    let out = sb
        .cmd()
        .args([
            "onboard",
            "subscription",
            &id,
            "--tenant",
            TENANT,
            "--name",
            "later",
        ])
        .args([
            "--identity",
            "existing",
            "--client-id",
            CLIENT_ID,
            "--sp-object-id",
            SP_OBJECT_ID,
        ])
        .arg("--no-wait")
        .env("AZURE_CLIENT_SECRET", "a-client-secret-for-later-0123")
        .assert()
        .code(0)
        .get_output()
        .clone();
    let job = text(&out.stdout).trim().to_owned();
    assert_eq!(job.len(), 36, "prints the job id: {job}");
    sb.cmd()
        .args(["jobs", "show", &job, "--output", "json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"state\":\"queued\""));
    sb.cmd()
        .args(["jobs", "resume", &job])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Onboarded subscription later"));
    sb.cmd()
        .args(["jobs", "show", &job])
        .assert()
        .success()
        .stdout(predicate::str::contains("state      succeeded"));
    sb.cmd()
        .args(["jobs", "follow", &job, "--output", "json"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("\"type\":\"result\""));
    sb.cmd()
        .args(["jobs", "cancel", &job])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nothing to cancel"));
    sb.cmd()
        .args(["jobs", "show", "not-a-job"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("job_id"));
}

#[test]
fn jobs_cancel_and_follow_a_job_another_process_runs() {
    let sb = Sandbox::new();
    let submit = |n: u32| {
        let out = sb
            .cmd()
            .args(["onboard", "subscription", &sub(6, n), "--tenant", TENANT])
            .args([
                "--name",
                &format!("queued-{n}"),
                "--no-wait",
                "--output",
                "json",
            ])
            .assert()
            .code(0)
            .get_output()
            .stdout
            .clone();
        let line = json_lines(&out).remove(0);
        assert_eq!(line["type"], "submitted");
        line["job_id"].as_str().unwrap().to_owned()
    };
    let cancelled = submit(1);
    sb.cmd()
        .args(["jobs", "cancel", &cancelled])
        .assert()
        .success()
        .stdout(predicate::str::contains("Cancelled job"));
    let job = submit(2);
    // `azure-cortex worker` runs it (its own in-process sandbox emulator) ...
    let mut worker = std::process::Command::new(env!("CARGO_BIN_EXE_azure-cortex"))
        .arg("--sandbox")
        .arg("--data-dir")
        .arg(sb.data_dir())
        .args(["--sandbox-step-secs", "0.3", "worker", "--until-done"])
        .env_remove("PRISMA_API_URL")
        .env_remove("PRISMACLOUD_URL")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // ... while `jobs follow` (store only) prints its events.
    let out = sb
        .cmd()
        .args(["jobs", "follow", &job, "--output", "json"])
        .assert()
        .code(0)
        .get_output()
        .clone();
    assert!(worker.wait().unwrap().success());
    let result = check_job_stream(&out.stdout, 1);
    assert_eq!(result["status"], "succeeded", "{result}");
    let out = sb
        .cmd()
        .args(["jobs", "list", "--output", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let jobs: Value = serde_json::from_slice(&out).unwrap();
    let state = |id: &str| {
        jobs.as_array()
            .unwrap()
            .iter()
            .find(|j| j["job_id"] == id)
            .map(|j| j["state"].clone())
    };
    assert_eq!(state(&cancelled), Some("cancelled".into()));
    assert_eq!(state(&job), Some("succeeded".into()));
    assert!(
        sb.accounts()
            .iter()
            .any(|a| a["account_id"] == sub(6, 2).as_str())
    );
}

#[test]
fn a_failing_preflight_stops_before_registering_unless_register_anyway() {
    let sb = Sandbox::new();
    for (n, anyway) in [(1u32, false), (2, true)] {
        // The emulator's marker 0000f10e fails the flow-logs check.
        let id = format!("0000f10e-{n:04x}-4000-8000-000000000013");
        let mut cmd = sb.cmd();
        cmd.args(["onboard", "subscription", &id, "--tenant", TENANT])
            .args(["--name", &format!("preflight-{n}"), "--flow-logs"])
            .args(["--output", "json"]);
        if anyway {
            cmd.arg("--register-anyway");
        }
        let out = cmd.assert().get_output().clone();
        let result = check_job_stream(&out.stdout, 1);
        assert_eq!(result["status"], "failed", "{result}");
        let registered = sb.accounts().iter().any(|a| a.to_string().contains(&id));
        if anyway {
            assert_eq!(result["error"]["code"], "capabilities_failing", "{result}");
            assert!(registered, "registered as asked");
        } else {
            assert_eq!(result["error"]["code"], "preflight_failed", "{result}");
            assert_eq!(result["error"]["step"], "preflight");
            assert!(!registered, "nothing registered");
        }
    }
}
