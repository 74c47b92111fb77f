//! Running the terraform binary, one phase at a time.
//!
//! Why it works this way:
//!
//! * **Streams, not buffers.** stdout and stderr are piped and read line by line in the same
//!   `select!` loop as the exit status, the cancel token and the deadline, so neither pipe can
//!   fill and block terraform, and the caller's `on_event` sees each line as it is written.
//! * **stdout is the contract, stderr is log text.** Each stdout line of a streaming phase is
//!   parsed ([`crate::stream::parse_line`]); a line that does not parse is passed on as
//!   [`RunnerEvent::Unparsed`], never fatal. stderr (e.g. the "Unable to open CLI configuration
//!   file" warning box) is passed on as [`RunnerEvent::Stderr`] and never parsed. The one fatal
//!   stream error is an unsupported UI schema major version ([`RunError::Stream`]).
//! * **Document phases are not streamed.** `version`, `validate` and `output` print one JSON
//!   document; their stdout is collected and parsed whole. For `output` that is also the secret
//!   boundary: `output -json` prints sensitive values in plain text, so its stdout never reaches
//!   `on_event`.
//! * **Secrets only through the environment.** [`RunnerConfig::env`] values are
//!   [`SecretString`]s, exposed only into the child's environment; they are never in argv (which
//!   `ps` shows) and never in tracing fields. Arguments *are* logged, so never put a secret in
//!   `extra_args`.
//! * **Stopping politely, then firmly.** On cancel or on the phase timeout terraform gets SIGINT
//!   (sent with the `kill(1)` utility: the workspace forbids `unsafe`, so no `libc`) so it can
//!   stop providers, persist state and release the state lock; after
//!   [`RunnerConfig::kill_grace`] its process group gets SIGKILL. `kill_on_drop` covers a
//!   dropped future (SIGKILL to terraform only).
//! * **Non-interactive always:** `TF_IN_AUTOMATION=1`, `CHECKPOINT_DISABLE=1` (no call home),
//!   `TF_INPUT=0`, `-input=false`, `-no-color`, stdin is `/dev/null`.

use std::collections::{BTreeMap, VecDeque};
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use prisma_types::SecretString;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::collect::Collector;
use crate::signal;
use crate::stream::{self, Diagnostic, OutputValue, StreamError, UiMessage};

/// Keep at most this many stderr lines in [`PhaseOutcome::stderr`] (the last ones); every line
/// still reaches `on_event`. `TF_LOG=trace` can print hundreds of thousands.
pub const MAX_KEPT_STDERR_LINES: usize = 1000;

/// After terraform exits, how long to wait for its pipes to reach EOF. A grandchild that
/// inherited them (it should not: Go sets close-on-exec) could otherwise hold the run open.
const PIPE_DRAIN: Duration = Duration::from_secs(2);

/// A terraform subcommand the runner knows how to drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Version,
    Init,
    Plan,
    Apply,
    Output,
    Destroy,
    Validate,
}

impl Phase {
    pub fn subcommand(self) -> &'static str {
        match self {
            Phase::Version => "version",
            Phase::Init => "init",
            Phase::Plan => "plan",
            Phase::Apply => "apply",
            Phase::Output => "output",
            Phase::Destroy => "destroy",
            Phase::Validate => "validate",
        }
    }

    /// Arguments that always follow the subcommand.
    fn fixed_args(self) -> &'static [&'static str] {
        match self {
            Phase::Version => &["-json"],
            Phase::Init | Phase::Plan | Phase::Apply | Phase::Destroy => {
                &["-json", "-input=false", "-no-color"]
            }
            Phase::Output | Phase::Validate => &["-json", "-no-color"],
        }
    }

    /// Whether stdout is an NDJSON UI stream (else: one JSON document, collected whole).
    pub fn is_streaming(self) -> bool {
        matches!(
            self,
            Phase::Init | Phase::Plan | Phase::Apply | Phase::Destroy
        )
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.subcommand())
    }
}

/// Wall-clock limit per phase; on expiry the phase is interrupted and fails with
/// [`RunError::TimedOut`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseTimeouts {
    pub init: Duration,
    pub plan: Duration,
    /// Also used for `destroy`.
    pub apply: Duration,
    /// `version`, `output`, `validate`.
    pub other: Duration,
}

impl Default for PhaseTimeouts {
    /// init 5 min (provider downloads), plan 10 min, apply 30 min (Azure role assignments and
    /// Graph consent can be slow), others 2 min.
    fn default() -> Self {
        Self {
            init: Duration::from_secs(5 * 60),
            plan: Duration::from_secs(10 * 60),
            apply: Duration::from_secs(30 * 60),
            other: Duration::from_secs(2 * 60),
        }
    }
}

impl PhaseTimeouts {
    pub fn for_phase(&self, phase: Phase) -> Duration {
        match phase {
            Phase::Init => self.init,
            Phase::Plan => self.plan,
            Phase::Apply | Phase::Destroy => self.apply,
            Phase::Version | Phase::Output | Phase::Validate => self.other,
        }
    }
}

/// How to run terraform. `Debug` is safe: env values are [`SecretString`]s.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// A path, or a bare name looked up on `PATH` (e.g. `terraform`).
    pub binary: PathBuf,
    /// The directory holding the configuration; terraform runs with it as its cwd.
    pub workdir: PathBuf,
    /// Extra environment (ARM_CLIENT_SECRET, TF_VAR_…); applied after the automation defaults,
    /// so an entry here overrides them.
    pub env: Vec<(String, SecretString)>,
    pub timeouts: PhaseTimeouts,
    /// Time between SIGINT and SIGKILL when cancelling or timing out.
    pub kill_grace: Duration,
    /// A provider plugin cache shared by every workspace ([`crate::plugin_cache`]): each
    /// provider build is installed once per machine and linked into the workspaces. `None`:
    /// terraform's own default (a copy per workspace), unless `TF_PLUGIN_CACHE_DIR` is set.
    pub plugin_cache: Option<PathBuf>,
}

impl RunnerConfig {
    /// Defaults: no extra env, [`PhaseTimeouts::default`], 10 s kill grace.
    pub fn new(binary: impl Into<PathBuf>, workdir: impl Into<PathBuf>) -> Self {
        Self {
            binary: binary.into(),
            workdir: workdir.into(),
            env: Vec::new(),
            timeouts: PhaseTimeouts::default(),
            kill_grace: Duration::from_secs(10),
            plugin_cache: None,
        }
    }
}

/// What a successful phase produced. Events were delivered as they happened; this is the summary.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseOutcome {
    pub phase: Phase,
    pub exit_code: Option<i32>,
    /// Every diagnostic (warnings too) in stream order.
    pub diagnostics: Vec<Diagnostic>,
    /// stderr lines, at most [`MAX_KEPT_STDERR_LINES`] (the last ones).
    pub stderr: Vec<String>,
    /// (add, change, remove) of the last `change_summary` (the apply/destroy one when a plan one
    /// came first).
    pub changes: Option<(u64, u64, u64)>,
    pub elapsed: Duration,
}

/// One thing that happened while a phase ran.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
#[expect(
    clippy::large_enum_variant,
    reason = "nearly every event is a Message; boxing it would add an allocation per event and save no memory"
)]
pub enum RunnerEvent {
    /// A parsed stdout line.
    Message(UiMessage),
    /// A stderr line: log text, never parsed.
    Stderr(String),
    /// A stdout line that did not parse as a UI message: log text.
    Unparsed(String),
}

/// `terraform version -json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerraformVersion {
    pub version: String,
    pub platform: String,
}

#[derive(thiserror::Error, Debug)]
pub enum RunError {
    #[error("terraform binary not found: {}", binary.display())]
    NotFound { binary: PathBuf },
    #[error("could not start terraform: {0}")]
    Spawn(#[source] io::Error),
    #[error("terraform {phase} timed out after {after:?}")]
    TimedOut { phase: Phase, after: Duration },
    #[error("terraform {phase} was cancelled")]
    Cancelled { phase: Phase },
    #[error("terraform {phase} failed ({}){}", describe_exit(*exit_code), describe_diags(diagnostics))]
    Failed {
        phase: Phase,
        exit_code: Option<i32>,
        /// The error-severity diagnostics of the phase (their `address` names the resource).
        diagnostics: Vec<Diagnostic>,
    },
    #[error(transparent)]
    Stream(#[from] StreamError),
    #[error("I/O error talking to terraform: {0}")]
    Io(#[from] io::Error),
}

fn describe_exit(code: Option<i32>) -> String {
    match code {
        Some(c) => format!("exit code {c}"),
        None => "killed by a signal".to_owned(),
    }
}

fn describe_diags(d: &[Diagnostic]) -> String {
    if d.is_empty() {
        return String::new();
    }
    let s: Vec<&str> = d.iter().map(|d| d.summary.as_str()).collect();
    format!(": {}", s.join("; "))
}

impl RunError {
    /// A stable machine-readable code for APIs and the UI.
    pub fn code(&self) -> &'static str {
        match self {
            RunError::NotFound { .. } => "terraform_not_found",
            RunError::Spawn(_) => "terraform_spawn_failed",
            RunError::TimedOut { .. } => "terraform_timed_out",
            RunError::Cancelled { .. } => "terraform_cancelled",
            RunError::Failed { .. } => "terraform_failed",
            RunError::Stream(StreamError::UnsupportedUi { .. }) => "terraform_unsupported_ui",
            RunError::Stream(_) => "terraform_bad_output",
            RunError::Io(_) => "terraform_io_error",
        }
    }
}

/// Runs terraform phases in one working directory.
#[derive(Debug, Clone)]
pub struct TerraformRunner {
    cfg: RunnerConfig,
}

enum Stop {
    Cancelled,
    TimedOut,
    Fatal(StreamError),
}

impl TerraformRunner {
    pub fn new(cfg: RunnerConfig) -> Self {
        Self { cfg }
    }

    pub fn config(&self) -> &RunnerConfig {
        &self.cfg
    }

    /// `terraform version -json`.
    pub async fn version(&self) -> Result<TerraformVersion, RunError> {
        #[derive(Deserialize)]
        struct Raw {
            terraform_version: String,
            #[serde(default)]
            platform: String,
        }
        let (_, doc) = self
            .exec(
                Phase::Version,
                Vec::new(),
                &CancellationToken::new(),
                &mut log_stderr,
            )
            .await?;
        let raw: Raw = serde_json::from_str(&doc).map_err(|e| StreamError::BadDocument {
            what: "version",
            reason: stream::redact_quoted(&e.to_string()),
        })?;
        Ok(TerraformVersion {
            version: raw.terraform_version,
            platform: raw.platform,
        })
    }

    /// Runs one phase: `terraform <phase> <fixed flags> <extra_args>`, with `-json` where
    /// supported, `-input=false`, `-no-color` and the automation environment. Calls `on_event`
    /// for each parsed stdout line, each unparseable stdout line and each stderr line. For the
    /// document phases (`version`, `output`, `validate`) stdout is not passed to `on_event`.
    ///
    /// Errors: [`RunError::Failed`] on a non-zero exit (exit 2 of `plan -detailed-exitcode`
    /// counts as success), [`RunError::Cancelled`] / [`RunError::TimedOut`] after interrupting
    /// terraform, [`RunError::Stream`] for an unsupported UI schema.
    pub async fn run(
        &self,
        phase: Phase,
        extra_args: &[&str],
        cancel: &CancellationToken,
        on_event: &mut (dyn FnMut(RunnerEvent) + Send),
    ) -> Result<PhaseOutcome, RunError> {
        let extra = extra_args.iter().map(OsString::from).collect();
        self.exec(phase, extra, cancel, on_event)
            .await
            .map(|(o, _)| o)
    }

    /// `terraform init -json -input=false`.
    pub async fn init(
        &self,
        cancel: &CancellationToken,
        on_event: &mut (dyn FnMut(RunnerEvent) + Send),
    ) -> Result<PhaseOutcome, RunError> {
        // Held while init installs into the shared cache (see `plugin_cache`).
        let _cache = match &self.cfg.plugin_cache {
            Some(dir) => Some(crate::plugin_cache::lock(dir, cancel).await?),
            None => None,
        };
        self.run(Phase::Init, &[], cancel, on_event).await
    }

    /// `terraform plan -json -input=false -out=FILE`. The plan file holds every variable value
    /// in plain text: keep it somewhere private and delete it after apply.
    pub async fn plan(
        &self,
        out: &Path,
        cancel: &CancellationToken,
        on_event: &mut (dyn FnMut(RunnerEvent) + Send),
    ) -> Result<PhaseOutcome, RunError> {
        let mut arg = OsString::from("-out=");
        arg.push(out.as_os_str());
        self.exec(Phase::Plan, vec![arg], cancel, on_event)
            .await
            .map(|(o, _)| o)
    }

    /// `terraform apply -json -input=false FILE` (a saved plan, so no approval is needed).
    pub async fn apply(
        &self,
        plan: &Path,
        cancel: &CancellationToken,
        on_event: &mut (dyn FnMut(RunnerEvent) + Send),
    ) -> Result<PhaseOutcome, RunError> {
        self.exec(
            Phase::Apply,
            vec![plan.as_os_str().to_owned()],
            cancel,
            on_event,
        )
        .await
        .map(|(o, _)| o)
    }

    /// `terraform destroy -json -auto-approve -input=false`.
    pub async fn destroy(
        &self,
        cancel: &CancellationToken,
        on_event: &mut (dyn FnMut(RunnerEvent) + Send),
    ) -> Result<PhaseOutcome, RunError> {
        self.run(Phase::Destroy, &["-auto-approve"], cancel, on_event)
            .await
    }

    /// `terraform validate -json`. Diagnostics come from the document; an invalid configuration
    /// exits 1 and so is [`RunError::Failed`] with the error diagnostics.
    pub async fn validate(
        &self,
        cancel: &CancellationToken,
        on_event: &mut (dyn FnMut(RunnerEvent) + Send),
    ) -> Result<PhaseOutcome, RunError> {
        self.run(Phase::Validate, &[], cancel, on_event).await
    }

    /// `terraform output -json`: every output with its value, sensitive ones in plain text.
    /// Nothing of stdout is streamed or logged; stderr goes to `tracing` at debug level.
    pub async fn output(&self) -> Result<BTreeMap<String, OutputValue>, RunError> {
        let (_, doc) = self
            .exec(
                Phase::Output,
                Vec::new(),
                &CancellationToken::new(),
                &mut log_stderr,
            )
            .await?;
        Ok(stream::parse_outputs(&doc)?)
    }

    /// The one place a child process is started. Returns the outcome and, for document phases,
    /// the collected stdout.
    async fn exec(
        &self,
        phase: Phase,
        extra: Vec<OsString>,
        cancel: &CancellationToken,
        on_event: &mut (dyn FnMut(RunnerEvent) + Send),
    ) -> Result<(PhaseOutcome, String), RunError> {
        let cfg = &self.cfg;
        if cancel.is_cancelled() {
            return Err(RunError::Cancelled { phase });
        }
        if !cfg.workdir.is_dir() {
            return Err(RunError::Spawn(io::Error::new(
                io::ErrorKind::NotFound,
                format!("working directory {} does not exist", cfg.workdir.display()),
            )));
        }
        let timeout = cfg.timeouts.for_phase(phase);
        let detailed_exitcode =
            phase == Phase::Plan && extra.iter().any(|a| a == "-detailed-exitcode");

        let mut cmd = tokio::process::Command::new(&cfg.binary);
        cmd.arg(phase.subcommand())
            .args(phase.fixed_args())
            .args(&extra)
            .current_dir(&cfg.workdir)
            .env("TF_IN_AUTOMATION", "1")
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_INPUT", "0")
            .envs(
                cfg.plugin_cache
                    .iter()
                    .map(|dir| ("TF_PLUGIN_CACHE_DIR", dir.as_os_str())),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        #[cfg(unix)]
        cmd.process_group(0);
        for (k, v) in &cfg.env {
            cmd.env(k, v.expose());
        }
        let env_names: Vec<&str> = cfg.env.iter().map(|(k, _)| k.as_str()).collect();
        tracing::info!(
            %phase,
            binary = %cfg.binary.display(),
            workdir = %cfg.workdir.display(),
            args = ?extra,
            env_names = ?env_names,
            "terraform phase starting"
        );

        let mut child = cmd.spawn().map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => RunError::NotFound {
                binary: cfg.binary.clone(),
            },
            _ => RunError::Spawn(e),
        })?;
        let pid = child.id();
        let mut out = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut err = BufReader::new(child.stderr.take().expect("stderr is piped"));

        let started = Instant::now();
        let deadline = started + timeout;
        let far = started + timeout + Duration::from_secs(86_400);
        let (mut out_buf, mut err_buf) = (Vec::new(), Vec::new());
        let (mut out_open, mut err_open) = (true, true);
        let mut status: Option<ExitStatus> = None;
        let mut stop: Option<Stop> = None;
        let mut kill_at: Option<Instant> = None;
        let mut drain_until: Option<Instant> = None;
        let mut collector = Collector::default();
        let mut stderr_kept: VecDeque<String> = VecDeque::new();
        let mut doc = String::new();

        while status.is_none() || out_open || err_open {
            tokio::select! {
                r = out.read_until(b'\n', &mut out_buf), if out_open => {
                    // At EOF a last line without '\n' may already sit in the buffer (appended
                    // by an earlier, cancelled read): it still counts.
                    if r? == 0 {
                        out_open = false;
                        if out_buf.is_empty() {
                            continue;
                        }
                    }
                    let line = decode_line(&out_buf);
                    out_buf.clear();
                    if !phase.is_streaming() {
                        doc.push_str(&line);
                        doc.push('\n');
                    } else if matches!(stop, Some(Stop::Fatal(_))) {
                        on_event(RunnerEvent::Unparsed(line));
                    } else if let Err(e) = collector.stdout_line(&line, on_event) {
                        tracing::error!(%phase, error = %e, "fatal terraform stream error; stopping");
                        if stop.is_none() {
                            kill_at = Some(Self::interrupt(pid, cfg.kill_grace).await);
                        }
                        stop = Some(Stop::Fatal(e));
                    }
                }
                r = err.read_until(b'\n', &mut err_buf), if err_open => {
                    // At EOF a last line without '\n' may already sit in the buffer (appended
                    // by an earlier, cancelled read): it still counts.
                    if r? == 0 {
                        err_open = false;
                        if err_buf.is_empty() {
                            continue;
                        }
                    }
                    let line = decode_line(&err_buf);
                    err_buf.clear();
                    if stderr_kept.len() == MAX_KEPT_STDERR_LINES {
                        stderr_kept.pop_front();
                    }
                    stderr_kept.push_back(line.clone());
                    on_event(RunnerEvent::Stderr(line));
                }
                st = child.wait(), if status.is_none() => {
                    status = Some(st?);
                    drain_until = Some(Instant::now() + PIPE_DRAIN);
                    if stop.is_some() {
                        // Reap what an interrupted run may have left (provisioner children).
                        if let Some(pid) = pid {
                            signal::kill_group(pid).await;
                        }
                    }
                }
                () = cancel.cancelled(), if stop.is_none() && status.is_none() => {
                    tracing::info!(%phase, "cancelling terraform: sending SIGINT");
                    kill_at = Some(Self::interrupt(pid, cfg.kill_grace).await);
                    stop = Some(Stop::Cancelled);
                }
                () = sleep_until(deadline), if stop.is_none() && status.is_none() => {
                    tracing::warn!(%phase, ?timeout, "terraform phase timed out: sending SIGINT");
                    kill_at = Some(Self::interrupt(pid, cfg.kill_grace).await);
                    stop = Some(Stop::TimedOut);
                }
                () = sleep_until(kill_at.unwrap_or(far)), if kill_at.is_some() && status.is_none() => {
                    tracing::warn!(%phase, "terraform still running after the grace period: SIGKILL");
                    if let Some(pid) = pid {
                        signal::kill_group(pid).await;
                    }
                    let _ = child.start_kill();
                    kill_at = None;
                }
                () = sleep_until(drain_until.unwrap_or(far)), if drain_until.is_some() => {
                    tracing::warn!(%phase, "terraform exited but its output pipes stayed open; not waiting");
                    break;
                }
            }
        }
        let status = status.expect("the loop ends only after the child exited");
        let elapsed = started.elapsed();

        if phase == Phase::Validate
            && let Ok(report) = stream::parse_validate(&doc)
        {
            collector.diagnostics = report.diagnostics;
        }
        let exit_code = status.code();
        tracing::info!(%phase, ?exit_code, ?elapsed, "terraform phase ended");
        match stop {
            Some(Stop::Fatal(e)) => return Err(RunError::Stream(e)),
            Some(Stop::Cancelled) => return Err(RunError::Cancelled { phase }),
            Some(Stop::TimedOut) => {
                return Err(RunError::TimedOut {
                    phase,
                    after: timeout,
                });
            }
            None => {}
        }
        let ok = exit_code == Some(0) || (detailed_exitcode && exit_code == Some(2));
        if !ok {
            return Err(RunError::Failed {
                phase,
                exit_code,
                diagnostics: collector.error_diagnostics(),
            });
        }
        let outcome = PhaseOutcome {
            phase,
            exit_code,
            diagnostics: collector.diagnostics,
            stderr: stderr_kept.into(),
            changes: collector.changes,
            elapsed,
        };
        Ok((outcome, doc))
    }

    /// Sends SIGINT and returns when to escalate to SIGKILL.
    async fn interrupt(pid: Option<u32>, grace: Duration) -> Instant {
        if let Some(pid) = pid
            && !signal::interrupt(pid).await
        {
            tracing::warn!(
                pid,
                "SIGINT could not be delivered; will SIGKILL after the grace period"
            );
        }
        Instant::now() + grace
    }
}

fn decode_line(buf: &[u8]) -> String {
    let mut end = buf.len();
    while end > 0 && matches!(buf[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn log_stderr(ev: RunnerEvent) {
    if let RunnerEvent::Stderr(line) = ev {
        tracing::debug!(line = %line, "terraform stderr");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_args_are_non_interactive() {
        for p in [Phase::Init, Phase::Plan, Phase::Apply, Phase::Destroy] {
            assert!(p.fixed_args().contains(&"-json"));
            assert!(p.fixed_args().contains(&"-input=false"));
            assert!(p.is_streaming());
        }
        for p in [Phase::Version, Phase::Output, Phase::Validate] {
            assert!(!p.is_streaming());
        }
    }

    #[test]
    fn timeouts_by_phase() {
        let t = PhaseTimeouts::default();
        assert_eq!(t.for_phase(Phase::Destroy), t.apply);
        assert_eq!(t.for_phase(Phase::Output), t.other);
        assert!(t.init < t.apply);
    }

    #[test]
    fn decode_strips_line_endings_and_tolerates_bad_utf8() {
        assert_eq!(decode_line(b"abc\r\n"), "abc");
        assert_eq!(decode_line(b"a\xffb\n"), "a\u{FFFD}b");
    }

    #[test]
    fn failed_display_lists_summaries() {
        let e = RunError::Failed {
            phase: Phase::Apply,
            exit_code: Some(1),
            diagnostics: vec![Diagnostic {
                severity: "error".into(),
                summary: "boom".into(),
                detail: String::new(),
                address: None,
                range: None,
            }],
        };
        assert_eq!(e.to_string(), "terraform apply failed (exit code 1): boom");
        assert_eq!(e.code(), "terraform_failed");
    }

    #[test]
    fn config_debug_redacts_env() {
        let mut cfg = RunnerConfig::new("terraform", "/tmp");
        cfg.env
            .push(("ARM_CLIENT_SECRET".into(), SecretString::from("canary-9d1")));
        assert!(!format!("{cfg:?}").contains("canary-9d1"));
    }

    #[test]
    fn run_future_is_send() {
        fn assert_send<T: Send>(_: T) {}
        let r = TerraformRunner::new(RunnerConfig::new("terraform", "/tmp"));
        let c = CancellationToken::new();
        let mut cb = |_ev: RunnerEvent| {};
        assert_send(r.run(Phase::Plan, &[], &c, &mut cb));
    }
}
