//! Process handling against shell scripts standing in for terraform: behaviour real terraform
//! will not show on demand (ignoring SIGINT, a UI schema 2.0, huge stderr). Needs only /bin/sh.
//!
//! All scripts are written once, before any test of this binary spawns a process: writing an
//! executable while another thread forks can make exec fail with ETXTBSY.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use prisma_types::SecretString;
use terraform_runner::runner::{
    MAX_KEPT_STDERR_LINES, Phase, RunError, RunnerConfig, RunnerEvent, TerraformRunner,
};
use terraform_runner::stream::MessageKind;
use tokio_util::sync::CancellationToken;

const VERSION_LINE: &str = r#"{"@level":"info","@message":"Terraform 1.11.4","@module":"terraform.ui","@timestamp":"2026-11-22T06:00:37Z","terraform":"1.11.4","type":"version","ui":"1.2"}"#;
const SECRET: &str = "env-only-canary-31c9";

struct Scripts {
    _dir: tempfile::TempDir,
    dir: PathBuf,
}

fn scripts() -> &'static Scripts {
    static S: OnceLock<Scripts> = OnceLock::new();
    S.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().to_owned();
        let write = |name: &str, body: &str| {
            use std::os::unix::fs::PermissionsExt;
            let path = p.join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        // Ignores SIGINT (so does its child); only SIGKILL of the group stops it. Each script
        // records its child's pid before its first stdout line, so the pid is known whenever
        // the runner reacts to that line.
        write(
            "stubborn",
            &format!(
                "trap '' INT\nsleep 30 &\necho $! > \"$PWD/child.pid\"\necho '{VERSION_LINE}'\nwait\nwait"
            ),
        );
        // A future schema; dies on SIGINT but leaves its `sleep` holding stdout open.
        write(
            "ui2",
            "sleep 30 &\necho $! > \"$PWD/child.pid\"\necho '{\"@level\":\"info\",\"@message\":\"Terraform 2.0.0\",\"@module\":\"terraform.ui\",\"@timestamp\":\"2030-01-01T00:00:00Z\",\"terraform\":\"2.0.0\",\"type\":\"version\",\"ui\":\"2.0\"}'\nwait",
        );
        // Far more stderr than a pipe buffer holds, then a stream with a summary.
        write(
            "chatty",
            &format!(
                "i=0\nwhile [ $i -lt 3000 ]; do echo \"noise $i ............................................................\" >&2; i=$((i+1)); done\n\
                 echo '{VERSION_LINE}'\n\
                 i=0\nwhile [ $i -lt 2000 ]; do echo '{{\"@level\":\"info\",\"@message\":\"log\",\"@module\":\"terraform.ui\",\"@timestamp\":\"t\",\"type\":\"log\"}}'; i=$((i+1)); done\n\
                 echo 'not json at all'\n\
                 printf '%s' '{{\"@level\":\"info\",\"@message\":\"Apply complete!\",\"@module\":\"terraform.ui\",\"@timestamp\":\"t\",\"type\":\"change_summary\",\"changes\":{{\"add\":4,\"change\":1,\"import\":0,\"remove\":2,\"operation\":\"apply\"}}}}'"
            ),
        );
        // Records argv and the automation/secret environment, then exits 2.
        write(
            "recorder",
            &format!(
                "printf '%s\\n' \"$@\" > \"$PWD/argv.txt\"\n\
                 echo \"$TF_IN_AUTOMATION $CHECKPOINT_DISABLE $TF_INPUT $TF_VAR_secret\" > \"$PWD/env.txt\"\n\
                 echo '{VERSION_LINE}'\nexit 2"
            ),
        );
        // `output -json` stand-in printing a sensitive value.
        write(
            "outputs",
            &format!(
                "echo '{{\"k\": {{\"sensitive\": true, \"type\": \"string\", \"value\": \"{SECRET}\"}}}}'\necho 'stderr note' >&2"
            ),
        );
        Scripts { dir: p, _dir: dir }
    })
}

fn runner(script: &str, workdir: &Path) -> TerraformRunner {
    let mut cfg = RunnerConfig::new(scripts().dir.join(script), workdir);
    cfg.kill_grace = Duration::from_millis(500);
    cfg.env
        .push(("TF_VAR_secret".to_owned(), SecretString::from(SECRET)));
    TerraformRunner::new(cfg)
}

/// The pid in `child.pid` no longer names a live (non-zombie) process.
async fn assert_child_gone(workdir: &Path) {
    let pid = std::fs::read_to_string(workdir.join("child.pid")).unwrap();
    assert!(pid.trim().parse::<u32>().is_ok(), "pid file: {pid:?}");
    let stat = format!("/proc/{}/stat", pid.trim());
    for _ in 0..50 {
        match std::fs::read_to_string(&stat) {
            Err(_) => return,
            Ok(s) if s.split_whitespace().nth(2) == Some("Z") => return,
            Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    panic!("child {} survived", pid.trim());
}

#[tokio::test]
async fn sigint_ignored_escalates_to_sigkill_of_the_group() {
    let wd = tempfile::tempdir().unwrap();
    let r = runner("stubborn", wd.path());
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        trigger.cancel();
    });
    let t0 = Instant::now();
    let mut events = Vec::new();
    let err = r
        .run(Phase::Apply, &[], &cancel, &mut |e| events.push(e))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RunError::Cancelled {
                phase: Phase::Apply
            }
        ),
        "{err:?}"
    );
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(5),
        "SIGKILL after the 500 ms grace, not before: {took:?}"
    );
    assert!(
        matches!(&events[0], RunnerEvent::Message(m) if matches!(m.kind, MessageKind::Version { .. }))
    );
    assert_child_gone(wd.path()).await;
}

#[tokio::test]
async fn timeout_with_stubborn_process_is_timed_out() {
    let wd = tempfile::tempdir().unwrap();
    let mut cfg = RunnerConfig::new(scripts().dir.join("stubborn"), wd.path());
    cfg.timeouts.plan = Duration::from_millis(300);
    cfg.kill_grace = Duration::from_millis(300);
    let r = TerraformRunner::new(cfg);
    let t0 = Instant::now();
    let err = r
        .run(Phase::Plan, &[], &CancellationToken::new(), &mut |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RunError::TimedOut {
                phase: Phase::Plan,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_child_gone(wd.path()).await;
}

#[tokio::test]
async fn unsupported_ui_is_fatal_and_stops_the_process() {
    let wd = tempfile::tempdir().unwrap();
    let r = runner("ui2", wd.path());
    let t0 = Instant::now();
    let mut events = Vec::new();
    let err = r
        .run(Phase::Plan, &[], &CancellationToken::new(), &mut |e| {
            events.push(e)
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), "terraform_unsupported_ui", "{err:?}");
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert!(events.iter().all(|e| !matches!(e, RunnerEvent::Message(_))));
    assert_child_gone(wd.path()).await;
}

#[tokio::test]
async fn large_stderr_never_blocks_and_is_capped() {
    let wd = tempfile::tempdir().unwrap();
    let r = runner("chatty", wd.path());
    let (mut stderr, mut logs, mut unparsed) = (0usize, 0usize, Vec::new());
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        r.run(
            Phase::Apply,
            &[],
            &CancellationToken::new(),
            &mut |e| match e {
                RunnerEvent::Stderr(_) => stderr += 1,
                RunnerEvent::Message(m) if m.kind == MessageKind::Log => logs += 1,
                RunnerEvent::Unparsed(l) => unparsed.push(l),
                RunnerEvent::Message(_) => {}
            },
        ),
    )
    .await
    .expect("pipes are drained concurrently")
    .unwrap();
    assert_eq!(stderr, 3000);
    assert_eq!(logs, 2000);
    assert_eq!(unparsed, ["not json at all"]);
    assert_eq!(out.stderr.len(), MAX_KEPT_STDERR_LINES);
    assert!(out.stderr.last().unwrap().starts_with("noise 2999 "));
    // The last line had no trailing newline and still counted.
    assert_eq!(out.changes, Some((4, 1, 2)));
}

#[tokio::test]
async fn secrets_go_through_env_never_argv_and_exit_codes_are_judged() {
    let wd = tempfile::tempdir().unwrap();
    let r = runner("recorder", wd.path());
    let cancel = CancellationToken::new();

    let ok = r
        .run(Phase::Plan, &["-detailed-exitcode"], &cancel, &mut |_| {})
        .await
        .expect("exit 2 with -detailed-exitcode means 'changes present'");
    assert_eq!(ok.exit_code, Some(2));
    let argv = std::fs::read_to_string(wd.path().join("argv.txt")).unwrap();
    let argv: Vec<&str> = argv.lines().collect();
    assert_eq!(
        argv,
        [
            "plan",
            "-json",
            "-input=false",
            "-no-color",
            "-detailed-exitcode"
        ]
    );
    let env = std::fs::read_to_string(wd.path().join("env.txt")).unwrap();
    assert_eq!(env.trim(), format!("1 1 0 {SECRET}"));

    let err = r
        .run(Phase::Plan, &[], &cancel, &mut |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(err, RunError::Failed { exit_code: Some(2), ref diagnostics, .. } if diagnostics.is_empty()),
        "{err:?}"
    );

    r.apply(Path::new("my plan.tfplan"), &cancel, &mut |_| {})
        .await
        .unwrap_err();
    let argv = std::fs::read_to_string(wd.path().join("argv.txt")).unwrap();
    assert_eq!(
        argv.lines().collect::<Vec<_>>(),
        [
            "apply",
            "-json",
            "-input=false",
            "-no-color",
            "my plan.tfplan"
        ]
    );
    r.destroy(&cancel, &mut |_| {}).await.unwrap_err();
    let argv = std::fs::read_to_string(wd.path().join("argv.txt")).unwrap();
    assert!(argv.lines().any(|a| a == "-auto-approve"));
    assert!(!argv.contains(SECRET));
}

#[tokio::test]
async fn output_stdout_is_never_streamed() {
    let wd = tempfile::tempdir().unwrap();
    let r = runner("outputs", wd.path());
    let mut events = Vec::new();
    r.run(Phase::Output, &[], &CancellationToken::new(), &mut |e| {
        events.push(e)
    })
    .await
    .unwrap();
    assert_eq!(events, [RunnerEvent::Stderr("stderr note".to_owned())]);
    let outs = r.output().await.unwrap();
    assert_eq!(outs["k"].value, serde_json::json!(SECRET));
    assert!(!format!("{outs:?}").contains(SECRET));
}

#[tokio::test]
async fn already_cancelled_token_spawns_nothing() {
    let wd = tempfile::tempdir().unwrap();
    let r = runner("recorder", wd.path());
    let cancel = CancellationToken::new();
    cancel.cancel();
    let err = r.init(&cancel, &mut |_| {}).await.unwrap_err();
    assert!(matches!(err, RunError::Cancelled { phase: Phase::Init }));
    assert!(!wd.path().join("argv.txt").exists());
}

#[tokio::test]
async fn missing_workdir_is_a_spawn_error_not_not_found() {
    let r = runner(
        "recorder",
        Path::new("/nonexistent/terraform-runner-workdir"),
    );
    let err = r
        .init(&CancellationToken::new(), &mut |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), "terraform_spawn_failed", "{err:?}");
    assert!(err.to_string().contains("working directory"));
}
