//! `groups`, `template`, `doctor`, and `--help`.

use predicates::prelude::*;
use serde_json::Value;

use crate::common::*;

#[test]
fn groups_are_created_once_and_persist() {
    let sb = Sandbox::new();
    sb.cmd()
        .args(["groups", "create", "Production"])
        .assert()
        .success()
        .stdout(predicate::str::contains("created"));
    sb.cmd()
        .args(["groups", "create", "production"])
        .assert()
        .success()
        .stdout(predicate::str::contains("existed"));
    let out = sb
        .cmd()
        .args(["groups", "list", "--output", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let groups: Value = serde_json::from_slice(&out).unwrap();
    let names: Vec<&str> = groups
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    assert!(
        names.contains(&"Production") && names.contains(&"Default Account Group"),
        "{names:?}"
    );
    sb.cmd()
        .args(["groups", "create", ""])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("group_name"));
}

#[test]
fn template_writes_the_configuration_for_review() {
    let sb = Sandbox::new();
    let dir = sb.data_dir().join("tf-sub");
    let id = sub(20, 1);
    sb.cmd()
        .args([
            "template",
            "subscription",
            "--tenant",
            TENANT,
            "--subscription",
            &id,
        ])
        .args(["--features", "agentless", "--out"])
        .arg(&dir)
        .assert()
        .success()
        .stdout(predicate::str::contains("main.tf.json"));
    let main: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("main.tf.json")).unwrap()).unwrap();
    assert!(main["resource"].is_object(), "{main}");
    let vars = std::fs::read_to_string(dir.join("terraform.tfvars.json")).unwrap();
    assert!(
        vars.contains(&id) && vars.contains(TENANT),
        "user values are data: {vars}"
    );
    // Kept unless --force; the same input gives the same files.
    sb.cmd()
        .args([
            "template",
            "subscription",
            "--tenant",
            TENANT,
            "--subscription",
            &id,
            "--out",
        ])
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--force"));
    let before = std::fs::read(dir.join("terraform.tfvars.json")).unwrap();
    sb.cmd()
        .args([
            "template",
            "subscription",
            "--tenant",
            TENANT,
            "--subscription",
            &id,
        ])
        .args(["--features", "agentless", "--force", "--out"])
        .arg(&dir)
        .assert()
        .success();
    assert_eq!(
        before,
        std::fs::read(dir.join("terraform.tfvars.json")).unwrap()
    );
    // Prisma's template, from the (sandbox) API.
    let prisma = sb.data_dir().join("tf-prisma");
    let out = sb
        .cmd()
        .args([
            "template", "tenant", "--tenant", TENANT, "--source", "prisma", "--output", "json",
            "--out",
        ])
        .arg(&prisma)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let report: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(report["source"], "prisma");
    assert!(prisma.join("main.tf.json").exists());
    assert!(!prisma.join("terraform.tfvars.json").exists());
    // Bad input names the field.
    sb.cmd()
        .args(["template", "subscription", "--tenant", TENANT, "--out"])
        .arg(sb.data_dir().join("x"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("subscription_id"));
    sb.cmd()
        .args([
            "template",
            "entra",
            "--tenant",
            TENANT,
            "--features",
            "remediation",
            "--out",
        ])
        .arg(sb.data_dir().join("y"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("features"));
}

#[test]
fn doctor_passes_in_the_sandbox() {
    let sb = Sandbox::new();
    let out = sb
        .cmd()
        .args(["doctor", "--output", "json"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let report: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    let checks = report["checks"].as_array().unwrap();
    let names: Vec<&str> = checks.iter().filter_map(|c| c["name"].as_str()).collect();
    for name in [
        "terraform",
        "azure_credentials",
        "prisma",
        "clock_skew",
        "data_dir",
        "key_file",
    ] {
        assert!(names.contains(&name), "{name} not checked: {names:?}");
    }
    for c in checks {
        assert_ne!(c["status"], "fail", "{c}");
        if c["name"] == "prisma" || c["name"] == "clock_skew" {
            assert_eq!(c["status"], "ok", "{c}");
        }
        if c["name"] == "terraform"
            && onboarding_engine::identity::find_on_path("terraform").is_some()
        {
            assert_eq!(c["status"], "ok", "{c}");
        }
    }
    sb.cmd()
        .arg("doctor")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("ok    prisma"));
}

#[test]
fn doctor_fails_without_a_prisma_configuration() {
    let dir = tempfile::tempdir().unwrap();
    assert_cmd::Command::new(env!("CARGO_BIN_EXE_azure-cortex"))
        .arg("--data-dir")
        .arg(dir.path())
        .arg("doctor")
        .env_remove("PRISMA_API_URL")
        .env_remove("PRISMACLOUD_URL")
        .env("NO_COLOR", "1")
        .assert()
        .code(1)
        .stdout(predicate::str::contains("fail  prisma").and(predicate::str::contains("fix:")));
}

#[test]
fn help_lists_the_commands_with_examples() {
    let help = |args: &[&str]| {
        let out = assert_cmd::Command::new(env!("CARGO_BIN_EXE_azure-cortex"))
            .args(args)
            .arg("--help")
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        text(&out)
    };
    let top = help(&[]);
    for c in [
        "onboard",
        "accounts",
        "groups",
        "jobs",
        "template",
        "doctor",
        "emulator",
        "worker",
        "Exit codes",
    ] {
        assert!(top.contains(c), "{c} not in --help:\n{top}");
    }
    assert!(!top.contains("sandbox-faults"), "hidden flags stay hidden");
    let onboard = help(&["onboard", "subscription"]);
    for flag in [
        "--tenant",
        "--name",
        "--groups",
        "--features",
        "--identity",
        "--sp-object-id",
        "--client-secret-file",
        "--no-wait",
        "Examples:",
    ] {
        assert!(
            onboard.contains(flag),
            "{flag} not in onboard subscription --help"
        );
    }
    assert!(
        !onboard.contains("--client-secret "),
        "no flag takes the secret itself"
    );
    assert!(help(&["onboard", "batch"]).contains("subscription_id,name,groups"));
}

#[test]
fn log_format_json_writes_one_object_per_stderr_line() {
    let sb = Sandbox::new();
    let out = sb
        .cmd()
        .args(["--log-format", "json", "-v", "groups", "list"])
        .assert()
        .success();
    let stderr = text(&out.get_output().stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "-v logs something");
    for line in lines {
        let log: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            log["timestamp"].is_string() && log["level"].is_string(),
            "{log}"
        );
        assert!(log["fields"]["message"].is_string(), "{log}");
    }
    sb.cmd()
        .args(["--log-format", "yaml", "groups", "list"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("possible values"));
}
