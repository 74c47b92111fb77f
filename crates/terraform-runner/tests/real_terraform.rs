//! End-to-end runs of the real terraform binary on `terraform_data` configs (built-in provider,
//! works offline). Each test returns early with a "SKIPPED" line when terraform is not on PATH.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use prisma_types::SecretString;
use terraform_runner::runner::{
    Phase, PhaseTimeouts, RunError, RunnerConfig, RunnerEvent, TerraformRunner,
};
use terraform_runner::stream::MessageKind;
use tokio_util::sync::CancellationToken;

const SECRET_SEED: &str = "canary-seed-5f7e2b";

/// `Some(path)` of `terraform` on PATH; otherwise prints the skip line and returns `None`.
fn terraform_or_skip(test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("terraform"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        eprintln!("SKIPPED: terraform not on PATH ({test})");
    }
    found
}

/// N resources with a `sleep 1` provisioner, a sensitive output fed from TF_VAR_secret_seed.
const OK_CONFIG: &str = r#"
variable "secret_seed" {
  type      = string
  sensitive = true
}

resource "terraform_data" "app" {
  input = "prisma-app"
  provisioner "local-exec" {
    command = "sleep 1"
  }
}

resource "terraform_data" "role" {
  count = 2
  input = terraform_data.app.output
  provisioner "local-exec" {
    command = "sleep 1"
  }
}

output "client_secret" {
  value     = "secret-${var.secret_seed}"
  sensitive = true
}

output "app" {
  value = terraform_data.app.output
}
"#;

const OK_ADDRESSES: [&str; 3] = [
    "terraform_data.app",
    "terraform_data.role[0]",
    "terraform_data.role[1]",
];

fn provisioner_config(command: &str) -> String {
    format!(
        r#"
resource "terraform_data" "ok" {{
  input = "fine"
}}

resource "terraform_data" "bad" {{
  input = terraform_data.ok.output
  provisioner "local-exec" {{
    command = "{command}"
  }}
}}
"#
    )
}

fn runner(tf: &Path, dir: &Path, timeouts: PhaseTimeouts) -> TerraformRunner {
    let mut cfg = RunnerConfig::new(tf, dir);
    cfg.env.push((
        "TF_VAR_secret_seed".to_owned(),
        SecretString::from(SECRET_SEED),
    ));
    cfg.timeouts = timeouts;
    cfg.kill_grace = Duration::from_secs(5);
    TerraformRunner::new(cfg)
}

fn workdir(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.tf"), config).unwrap();
    dir
}

struct Recorder(Vec<RunnerEvent>);

impl Recorder {
    fn cb(&mut self) -> impl FnMut(RunnerEvent) + Send + '_ {
        |e| self.0.push(e)
    }
    fn kinds(&self) -> impl Iterator<Item = &MessageKind> {
        self.0.iter().filter_map(|e| match e {
            RunnerEvent::Message(m) => Some(&m.kind),
            _ => None,
        })
    }
}

async fn init_and_plan(r: &TerraformRunner, dir: &Path) -> PathBuf {
    let cancel = CancellationToken::new();
    let mut rec = Recorder(Vec::new());
    let init = r.init(&cancel, &mut rec.cb()).await.expect("init");
    assert_eq!(init.exit_code, Some(0));
    assert!(
        rec.kinds().any(|k| matches!(k,
        MessageKind::InitOutput { message_code } if message_code == "output_init_success_message"))
    );
    let plan_file = dir.join("tfplan");
    let mut rec = Recorder(Vec::new());
    r.plan(&plan_file, &cancel, &mut rec.cb())
        .await
        .expect("plan");
    assert!(plan_file.is_file());
    plan_file
}

#[tokio::test]
async fn init_plan_apply_output_end_to_end() {
    let Some(tf) = terraform_or_skip("init_plan_apply_output_end_to_end") else {
        return;
    };
    let dir = workdir(OK_CONFIG);
    let r = runner(&tf, dir.path(), PhaseTimeouts::default());

    let v = r.version().await.expect("version");
    assert!(v.version.starts_with("1."), "{v:?}");
    assert!(!v.platform.is_empty());

    let cancel = CancellationToken::new();
    let mut all = Recorder(Vec::new());
    let init = r.init(&cancel, &mut all.cb()).await.expect("init");
    assert_eq!(init.phase, Phase::Init);

    let plan_file = dir.path().join("tfplan");
    let plan = r
        .plan(&plan_file, &cancel, &mut all.cb())
        .await
        .expect("plan");
    assert_eq!(plan.changes, Some((3, 0, 0)));

    let mut rec = Recorder(Vec::new());
    let apply = r
        .apply(&plan_file, &cancel, &mut rec.cb())
        .await
        .expect("apply");
    assert_eq!(apply.exit_code, Some(0));
    assert_eq!(apply.changes, Some((3, 0, 0)));
    assert!(apply.diagnostics.iter().all(|d| !d.is_error()));

    let mut started = BTreeSet::new();
    let mut completed = BTreeSet::new();
    let mut summary = None;
    for k in rec.kinds() {
        match k {
            MessageKind::ApplyStart {
                resource, action, ..
            } => {
                assert_eq!(action, "create");
                started.insert(resource.addr.clone());
            }
            MessageKind::ApplyComplete {
                resource,
                id_key,
                id_value,
                elapsed_seconds,
                ..
            } => {
                assert!(started.contains(&resource.addr), "start before complete");
                assert_eq!(id_key.as_deref(), Some("id"));
                assert!(id_value.is_some());
                assert!(*elapsed_seconds >= 0.0);
                completed.insert(resource.addr.clone());
            }
            MessageKind::ChangeSummary { add, operation, .. } => {
                summary = Some((*add, operation.clone()));
            }
            _ => {}
        }
    }
    let expected: BTreeSet<String> = OK_ADDRESSES.iter().map(|s| s.to_string()).collect();
    assert_eq!(started, expected);
    assert_eq!(completed, expected);
    assert_eq!(summary, Some((3, "apply".to_owned())));
    assert!(rec.kinds().any(|k| matches!(k,
        MessageKind::ProvisionComplete { provisioner, .. } if provisioner == "local-exec")));
    assert!(rec.kinds().any(|k| matches!(k,
        MessageKind::Outputs { names } if names.contains(&"client_secret".to_owned()))));

    let outs = r.output().await.expect("output");
    let secret = &outs["client_secret"];
    assert!(secret.sensitive);
    assert_eq!(
        secret.value,
        serde_json::json!(format!("secret-{SECRET_SEED}"))
    );
    assert!(!format!("{outs:?}").contains(SECRET_SEED));
    assert_eq!(outs["app"].value, serde_json::json!("prisma-app"));

    // The secret reached terraform (the output proves it) but no event carried it.
    all.0.extend(rec.0);
    for ev in &all.0 {
        let dbg = format!("{ev:?}");
        let json = serde_json::to_string(ev).unwrap();
        assert!(!dbg.contains(SECRET_SEED), "{dbg}");
        assert!(!json.contains(SECRET_SEED), "{json}");
    }

    // Destroy deletes every address and summarises as destroy.
    let mut rec = Recorder(Vec::new());
    let destroy = r.destroy(&cancel, &mut rec.cb()).await.expect("destroy");
    assert_eq!(destroy.changes, Some((0, 0, 3)));
    assert!(rec.kinds().any(|k| matches!(k,
        MessageKind::ChangeSummary { operation, remove: 3, .. } if operation == "destroy")));
    assert!(rec.kinds().all(|k| match k {
        MessageKind::ApplyStart { action, .. } => action == "delete",
        _ => true,
    }));
}

#[tokio::test]
async fn failing_provisioner_fails_with_addressed_diagnostic() {
    let Some(tf) = terraform_or_skip("failing_provisioner_fails_with_addressed_diagnostic") else {
        return;
    };
    let dir = workdir(&provisioner_config("echo boom >&2; exit 3"));
    let r = runner(&tf, dir.path(), PhaseTimeouts::default());
    let plan = init_and_plan(&r, dir.path()).await;
    let mut rec = Recorder(Vec::new());
    let err = r
        .apply(&plan, &CancellationToken::new(), &mut rec.cb())
        .await
        .unwrap_err();
    let RunError::Failed {
        phase,
        exit_code,
        diagnostics,
    } = &err
    else {
        panic!("expected Failed, got {err:?}");
    };
    assert_eq!(*phase, Phase::Apply);
    assert_eq!(*exit_code, Some(1));
    assert!(
        diagnostics
            .iter()
            .any(|d| d.is_error() && d.address.as_deref() == Some("terraform_data.bad")),
        "{diagnostics:?}"
    );
    assert_eq!(err.code(), "terraform_failed");
    assert!(rec.kinds().any(|k| matches!(k,
        MessageKind::ApplyErrored { resource, .. } if resource.addr == "terraform_data.bad")));
    assert!(rec.kinds().any(|k| matches!(k,
        MessageKind::ApplyComplete { resource, .. } if resource.addr == "terraform_data.ok")));
    assert!(!rec.kinds().any(|k| matches!(k,
        MessageKind::ChangeSummary { operation, .. } if operation == "apply")));
}

#[tokio::test]
async fn cancel_interrupts_apply() {
    let Some(tf) = terraform_or_skip("cancel_interrupts_apply") else {
        return;
    };
    let dir = workdir(&provisioner_config("sleep 30"));
    let r = runner(&tf, dir.path(), PhaseTimeouts::default());
    let plan = init_and_plan(&r, dir.path()).await;
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        trigger.cancel();
    });
    let t0 = Instant::now();
    let mut rec = Recorder(Vec::new());
    let err = r.apply(&plan, &cancel, &mut rec.cb()).await.unwrap_err();
    let took = t0.elapsed();
    assert!(
        matches!(
            err,
            RunError::Cancelled {
                phase: Phase::Apply
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.code(), "terraform_cancelled");
    // Well under the 5 s kill grace: terraform honoured SIGINT itself.
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(
        rec.kinds().any(|k| matches!(k, MessageKind::Log))
            && rec.0.iter().any(|e| matches!(e,
                RunnerEvent::Message(m) if m.message.contains("Interrupt received"))),
        "terraform reported the interrupt: {:?}",
        rec.0
    );
    // Graceful stop released the state lock: a new plan works right away.
    let mut rec = Recorder(Vec::new());
    r.run(
        Phase::Plan,
        &["-lock-timeout=0s"],
        &CancellationToken::new(),
        &mut rec.cb(),
    )
    .await
    .expect("state lock was released");
}

#[tokio::test]
async fn apply_timeout_interrupts_with_timed_out() {
    let Some(tf) = terraform_or_skip("apply_timeout_interrupts_with_timed_out") else {
        return;
    };
    let dir = workdir(&provisioner_config("sleep 30"));
    let timeouts = PhaseTimeouts {
        apply: Duration::from_secs(1),
        ..PhaseTimeouts::default()
    };
    let r = runner(&tf, dir.path(), timeouts);
    let plan = init_and_plan(&r, dir.path()).await;
    let t0 = Instant::now();
    let mut rec = Recorder(Vec::new());
    let err = r
        .apply(&plan, &CancellationToken::new(), &mut rec.cb())
        .await
        .unwrap_err();
    assert!(
        matches!(err, RunError::TimedOut { phase: Phase::Apply, after } if after == Duration::from_secs(1)),
        "{err:?}"
    );
    assert_eq!(err.code(), "terraform_timed_out");
    assert!(t0.elapsed() < Duration::from_secs(6), "{:?}", t0.elapsed());
}

#[tokio::test]
async fn missing_binary_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-terraform");
    let r = TerraformRunner::new(RunnerConfig::new(&missing, dir.path()));
    let err = r
        .init(&CancellationToken::new(), &mut |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RunError::NotFound { binary } if *binary == missing),
        "{err:?}"
    );
    assert_eq!(err.code(), "terraform_not_found");
    let err = r.version().await.unwrap_err();
    assert_eq!(err.code(), "terraform_not_found");
}

#[tokio::test]
async fn syntax_error_fails_plan_and_validate_with_ranges() {
    let Some(tf) = terraform_or_skip("syntax_error_fails_plan_and_validate_with_ranges") else {
        return;
    };
    let dir = workdir("resource \"terraform_data\" \"x\" {\n  input = \n}\n");
    let r = runner(&tf, dir.path(), PhaseTimeouts::default());
    let cancel = CancellationToken::new();
    let mut rec = Recorder(Vec::new());
    let err = r
        .run(Phase::Validate, &[], &cancel, &mut rec.cb())
        .await
        .unwrap_err();
    let RunError::Failed { diagnostics, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(diagnostics[0].summary, "Invalid expression");
    assert_eq!(diagnostics[0].range.as_deref(), Some("main.tf:2:11"));
    // validate's stdout is a document, never streamed line by line.
    assert!(
        !rec.0
            .iter()
            .any(|e| matches!(e, RunnerEvent::Unparsed(_) | RunnerEvent::Message(_)))
    );
}

#[tokio::test]
async fn stderr_is_log_text_and_flag_errors_are_diagnostics() {
    let Some(tf) = terraform_or_skip("stderr_is_log_text_and_flag_errors_are_diagnostics") else {
        return;
    };
    let dir = workdir(OK_CONFIG);
    let mut cfg = RunnerConfig::new(&tf, dir.path());
    // A CLI config file that does not exist: terraform warns in a text box on stderr.
    let missing = dir.path().join("missing.tfrc");
    cfg.env.push((
        "TF_CLI_CONFIG_FILE".to_owned(),
        SecretString::from(missing.to_str().unwrap()),
    ));
    let r = TerraformRunner::new(cfg);
    let mut rec = Recorder(Vec::new());
    let err = r
        .run(
            Phase::Init,
            &["-no-such-flag"],
            &CancellationToken::new(),
            &mut rec.cb(),
        )
        .await
        .unwrap_err();
    let RunError::Failed {
        exit_code: Some(1),
        diagnostics,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert!(
        diagnostics
            .iter()
            .any(|d| d.summary == "Failed to parse command-line flags"
                && d.detail.contains("-no-such-flag")),
        "{diagnostics:?}"
    );
    assert!(
        rec.0.iter().any(|e| matches!(e,
            RunnerEvent::Stderr(l) if l.contains("Unable to open CLI configuration file"))),
        "{:?}",
        rec.0
    );
    // The warning box is log text, never parsed and never a diagnostic.
    assert!(!rec.0.iter().any(|e| matches!(e, RunnerEvent::Unparsed(_))));
    assert!(
        diagnostics
            .iter()
            .all(|d| !d.summary.contains("CLI configuration"))
    );
}
