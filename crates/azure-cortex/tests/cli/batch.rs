//! `onboard batch`: 100 subscriptions under injected faults; rows that fail are named (row and
//! ID) with exit 3; every row is validated before anything starts.

use std::fmt::Write as _;

use predicates::prelude::*;

use crate::common::*;

fn csv(rows: impl IntoIterator<Item = (String, String)>) -> String {
    let mut text = String::from("subscription_id,name,groups\n");
    for (id, name) in rows {
        writeln!(text, "{id},{name},Default Account Group").unwrap();
    }
    text
}

fn existing_identity(cmd: &mut assert_cmd::Command) -> &mut assert_cmd::Command {
    cmd.args(["--identity", "existing", "--client-id", CLIENT_ID])
        .args(["--sp-object-id", SP_OBJECT_ID])
        .env("AZURE_CLIENT_SECRET", "batch-client-secret-0123456789")
}

#[test]
fn a_hundred_subscriptions_under_faults_all_onboard() {
    let sb = Sandbox::new();
    let path = sb.data_dir().join("batch-100.csv");
    std::fs::write(
        &path,
        csv((0..100).map(|n| (sub(10, n), format!("batch-{n:03}")))),
    )
    .unwrap();
    // Our Terraform configuration (the twin) for each of them, as a real run would.
    let mut cmd = sb.cmd();
    cmd.args(["--sandbox-faults", "mix", "onboard", "batch"])
        .arg(&path)
        .args(["--tenant", TENANT, "--output", "json"]);
    let out = cmd.assert().get_output().clone();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let lines = json_lines(&out.stdout);
    let (result, events) = lines.split_last().unwrap();
    assert_valid(&validator(cortex_cli::schemas::BATCH_RESULT), result);
    assert_eq!(result["total"], 100);
    assert_eq!(result["succeeded"], 100, "{result}");
    assert_eq!(result["failed"].as_array().unwrap().len(), 0);
    assert_eq!(result["status"], "succeeded");
    let schema = validator(cortex_cli::schemas::EVENT);
    let mut jobs = std::collections::HashSet::new();
    for line in events {
        assert_valid(&schema, line);
        jobs.insert(line["job"].as_str().unwrap().to_owned());
    }
    assert_eq!(jobs.len(), 100, "events of every job");
    assert!(
        events.iter().any(|l| matches!(
            l["event"]["type"].as_str(),
            Some("api_retry" | "rate_limited")
        )),
        "the faults were felt"
    );
    assert_eq!(sb.accounts().len(), 100);
}

/// A CSV of `n` rows, three of them (rows 3, 5 and 7) with `0000dead` IDs, which the emulator
/// reports as subscriptions that do not exist.
fn with_dead_rows(test: u16, n: u32) -> (String, Vec<String>) {
    let mut dead = Vec::new();
    let rows = (0..n).map(|i| {
        let id = if [1, 3, 5].contains(&i) {
            let id = format!("0000dead-{test:04x}-4000-8000-{i:012x}");
            dead.push(id.clone());
            id
        } else {
            sub(test, i)
        };
        (id, format!("row-{i}"))
    });
    let text = csv(rows.collect::<Vec<_>>());
    (text, dead)
}

#[test]
fn three_dead_rows_exit_3_and_are_named_human_and_json() {
    for json in [false, true] {
        let sb = Sandbox::new();
        let (text_csv, dead) = with_dead_rows(if json { 12 } else { 11 }, 8);
        let path = sb.dir.path().join("subs.csv");
        std::fs::write(&path, text_csv).unwrap();
        let mut cmd = sb.cmd();
        cmd.args(["onboard", "batch"])
            .arg(&path)
            .args(["--tenant", TENANT]);
        existing_identity(&mut cmd);
        if json {
            cmd.args(["--output", "json"]);
        }
        let out = cmd.assert().get_output().clone();
        assert_eq!(out.status.code(), Some(3), "stderr: {}", text(&out.stderr));
        if json {
            let lines = json_lines(&out.stdout);
            let result = lines.last().unwrap();
            assert_valid(&validator(cortex_cli::schemas::BATCH_RESULT), result);
            assert_eq!(result["status"], "partial");
            assert_eq!(result["succeeded"], 5);
            let failed = result["failed"].as_array().unwrap();
            let named: Vec<(i64, &str)> = failed
                .iter()
                .map(|f| {
                    (
                        f["row"].as_i64().unwrap(),
                        f["account_id"].as_str().unwrap(),
                    )
                })
                .collect();
            assert_eq!(
                named,
                [
                    (3, dead[0].as_str()),
                    (5, dead[1].as_str()),
                    (7, dead[2].as_str())
                ],
                "{result}"
            );
            // The emulator's pre-flight checks fail for them: stopped before registering.
            assert!(failed.iter().all(|f| f["code"] == "preflight_failed"));
        } else {
            let stdout = text(&out.stdout);
            assert!(stdout.contains("5 of 8 onboarded"), "{stdout}");
            for (row, id) in [(3, &dead[0]), (5, &dead[1]), (7, &dead[2])] {
                let line = stdout
                    .lines()
                    .find(|l| l.contains(id.as_str()))
                    .unwrap_or_else(|| panic!("{id} not named: {stdout}"));
                assert!(line.contains(&format!("row {row} ")), "{line}");
            }
        }
    }
}

#[test]
fn every_row_is_checked_before_anything_starts() {
    let sb = Sandbox::new();
    let path = sb.dir.path().join("bad.csv");
    let text_csv = format!(
        "subscription_id,name,groups\n{},ok,\n{{not-a-guid}},bad,\n{},,\n{},dup,\n",
        sub(13, 1),
        sub(13, 2),
        sub(13, 1)
    );
    std::fs::write(&path, text_csv).unwrap();
    sb.cmd()
        .args(["onboard", "batch"])
        .arg(&path)
        .args(["--tenant", TENANT])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("row 3 subscription_id")
                .and(predicate::str::contains("row 4 name"))
                .and(predicate::str::contains("row 5 subscription_id"))
                .and(predicate::str::contains("already in row 2")),
        );
    // No tenant anywhere: every row says so.
    std::fs::write(&path, csv([(sub(13, 1), "a".into())])).unwrap();
    sb.cmd()
        .args(["onboard", "batch"])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("row 2 tenant_id"));
    // A header problem names row 1.
    std::fs::write(&path, "subscription,name\nx,y\n").unwrap();
    sb.cmd()
        .args(["onboard", "batch"])
        .arg(&path)
        .args(["--tenant", TENANT])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("row 1").and(predicate::str::contains("subscription")));
    sb.cmd()
        .args(["jobs", "list", "--output", "json"])
        .assert()
        .success()
        .stdout("[]\n");
}
