//! Ctrl-C: SIGINT to a running onboarding stops it with exit 4 and leaves the job queued;
//! `jobs resume` then completes it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;

#[test]
fn sigint_exits_4_and_the_job_resumes_to_success() {
    let sb = Sandbox::new();
    let id = sub(30, 1);
    // The twin at 2 s a resource takes several seconds: time to interrupt it mid-apply.
    let mut child = Command::new(env!("CARGO_BIN_EXE_azure-cortex"))
        .arg("--sandbox")
        .arg("--data-dir")
        .arg(sb.data_dir())
        .args(["--sandbox-step-secs", "2"])
        .args([
            "onboard",
            "subscription",
            &id,
            "--tenant",
            TENANT,
            "--name",
            "interrupted",
        ])
        .args(["--output", "json"])
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let first: serde_json::Value = serde_json::from_str(&first).expect("an event line");
    let job = first["job"].as_str().unwrap().to_owned();
    std::thread::sleep(Duration::from_millis(1000));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut stdout, &mut rest).unwrap();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(4), "stderr: {stderr}");
    let lines = json_lines(&rest);
    let result = lines.last().expect("a result line");
    assert_valid(&validator(cortex_cli::schemas::RESULT), result);
    assert_eq!(result["status"], "cancelled", "{result}");
    assert_eq!(result["state"], "queued", "released for resume: {result}");
    assert_eq!(result["error"]["code"], "interrupted");
    assert!(
        !lines.iter().any(|l| l["event"]["type"] == "job_failed"),
        "an interrupted job is not a failed one"
    );

    let out = sb
        .cmd()
        .args(["jobs", "resume", &job, "--output", "json"])
        .assert()
        .code(0)
        .get_output()
        .clone();
    let lines = json_lines(&out.stdout);
    let first = lines[0]["seq"].as_i64().unwrap();
    let result = check_job_stream(&out.stdout, first);
    assert_eq!(result["status"], "succeeded", "{result}");
    assert!(result["attempts"].as_i64().unwrap() >= 2);
    assert!(sb.accounts().iter().any(|a| a["account_id"] == id.as_str()));
}
