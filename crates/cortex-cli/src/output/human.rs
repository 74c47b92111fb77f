//! `--output human`: progress on stderr while jobs run, a summary on stdout at the end.
//!
//! On a terminal each running step and each Terraform resource being applied has a spinner
//! (indicatif); finished ones turn into a line above the spinners. Without a terminal the same
//! lines are printed plainly, each with a UTC timestamp. A batch shows one overall bar and a
//! line per finished row (every step too with `-v`). `-v` adds API calls and retries, `-vv`
//! Terraform's own log lines; `-q` shows nothing until the summary.

use std::collections::HashMap;
use std::time::Duration;

use cortex_store::{JobId, StoredEvent};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use super::{EventSink, Followed, Out, Style};
use crate::report::cortex::{AnyResult, CortexResult};
use crate::report::{BatchResult, JobResult};

/// What one event looks like.
enum Shown {
    /// Something starts: a spinner (terminal) or a line.
    Start {
        key: String,
        text: String,
    },
    /// A running thing's new message (terminal only).
    Progress {
        key: String,
        text: String,
    },
    /// Something ended: its spinner goes, the line stays.
    End {
        key: String,
        line: String,
    },
    Line(String),
    Nothing,
}

struct BatchBar {
    bar: ProgressBar,
    total: usize,
    done: usize,
    failed: usize,
}

/// Human progress for one job or a batch.
pub struct HumanProgress {
    style: Style,
    tty: bool,
    verbose: u8,
    quiet: bool,
    mp: MultiProgress,
    active: HashMap<(JobId, String), ProgressBar>,
    batch: Option<BatchBar>,
}

fn text<'a>(e: &'a Value, key: &str) -> &'a str {
    e[key].as_str().unwrap_or_default()
}

fn number(e: &Value, key: &str) -> String {
    match &e[key] {
        Value::Number(n) => n.to_string(),
        _ => "?".into(),
    }
}

fn seconds(e: &Value, key: &str) -> String {
    format!("{:.1} s", e[key].as_f64().unwrap_or_default())
}

impl HumanProgress {
    pub fn new(out: &Out, batch_total: Option<usize>) -> Self {
        let target = if out.quiet || !out.tty {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let mp = MultiProgress::with_draw_target(target);
        let batch = batch_total.map(|total| {
            let bar = mp.add(ProgressBar::new(total as u64));
            let template = if out.err_style.color {
                "{bar:32.green/dim} {pos}/{len} {msg} {elapsed:.dim}"
            } else {
                "{bar:32} {pos}/{len} {msg} {elapsed}"
            };
            bar.set_style(
                ProgressStyle::with_template(template)
                    .expect("static template")
                    .progress_chars("=> "),
            );
            bar.set_message("onboarded");
            bar.enable_steady_tick(Duration::from_millis(200));
            BatchBar {
                bar,
                total,
                done: 0,
                failed: 0,
            }
        });
        Self {
            style: out.err_style,
            tty: out.tty,
            verbose: out.verbose,
            quiet: out.quiet,
            mp,
            active: HashMap::new(),
            batch,
        }
    }

    fn spinner(&self, text: &str) -> ProgressBar {
        let template = if self.style.color {
            "{spinner:.cyan} {msg} {elapsed:.dim}"
        } else {
            "{spinner} {msg} {elapsed}"
        };
        let bar = self.mp.add(ProgressBar::new_spinner());
        bar.set_style(ProgressStyle::with_template(template).expect("static template"));
        bar.set_message(text.to_owned());
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    }

    fn print(&self, job: &Followed, at: time::OffsetDateTime, line: &str) {
        self.print_with(job, at, "", line);
    }

    /// A line: above the bars on a terminal, else timestamped on stderr. In a batch the job's
    /// label (`row 7 name`) comes first, after `prefix`.
    fn print_with(&self, job: &Followed, at: time::OffsetDateTime, prefix: &str, line: &str) {
        if self.quiet {
            return;
        }
        let label = if self.batch.is_some() {
            format!("{prefix}{} ", self.style.bold(&job.label))
        } else {
            prefix.to_owned()
        };
        if self.tty {
            let _ = self.mp.println(format!("{label}{line}"));
        } else {
            let stamp = at
                .format(time::macros::format_description!(
                    "[hour]:[minute]:[second].[subsecond digits:3]Z"
                ))
                .unwrap_or_default();
            eprintln!("{} {label}{line}", self.style.dim(&stamp));
        }
    }

    /// How an event is shown; `None` for events this verbosity hides.
    fn present(&self, e: &Value) -> Shown {
        let s = self.style;
        let v = self.verbose;
        match text(e, "type") {
            "job_started" => {
                let resumed = match e["resumed_from"].as_str() {
                    Some(step) => format!(", resuming at {step}"),
                    None => String::new(),
                };
                Shown::Line(s.dim(&format!(
                    "▶ started (attempt {}{resumed})",
                    number(e, "attempt")
                )))
            }
            "step_started" => Shown::Start {
                key: format!("step:{}", text(e, "step")),
                text: text(e, "step").to_owned(),
            },
            "step_finished" => Shown::End {
                key: format!("step:{}", text(e, "step")),
                line: format!(
                    "{} {:<15} {}",
                    s.green("✓"),
                    text(e, "step"),
                    s.dim(&format!("{} ms", number(e, "elapsed_ms")))
                ),
            },
            "step_skipped" => Shown::End {
                key: format!("step:{}", text(e, "step")),
                line: s.dim(&format!("↷ {:<15} {}", text(e, "step"), text(e, "reason"))),
            },
            "step_failed" => Shown::End {
                key: format!("step:{}", text(e, "step")),
                line: format!(
                    "{} {:<15} {}: {}",
                    s.red("✗"),
                    text(e, "step"),
                    text(e, "code"),
                    text(e, "message")
                ),
            },
            "approval_required" => Shown::Line(s.yellow(&format!(
                "⏸ plan ready: {} to add, {} to change, {} to destroy — waiting for approval",
                number(e, "add"),
                number(e, "change"),
                number(e, "destroy")
            ))),
            "terraform_planned_change" if v >= 1 => Shown::Line(s.dim(&format!(
                "  plan: {} {}",
                text(e, "action"),
                text(e, "address")
            ))),
            "terraform_apply_start" => Shown::Start {
                key: format!("tf:{}", text(e, "address")),
                text: format!("  {} ({})", text(e, "address"), text(e, "action")),
            },
            "terraform_apply_progress" => Shown::Progress {
                key: format!("tf:{}", text(e, "address")),
                text: format!(
                    "  {} (still working, {})",
                    text(e, "address"),
                    seconds(e, "elapsed_s")
                ),
            },
            "terraform_apply_complete" => Shown::End {
                key: format!("tf:{}", text(e, "address")),
                line: format!(
                    "  {} {} {}",
                    s.green("✓"),
                    text(e, "address"),
                    s.dim(&format!(
                        "{} in {}",
                        text(e, "action"),
                        seconds(e, "elapsed_s")
                    ))
                ),
            },
            "terraform_apply_errored" => Shown::End {
                key: format!("tf:{}", text(e, "address")),
                line: format!(
                    "  {} {} {} failed",
                    s.red("✗"),
                    text(e, "address"),
                    text(e, "action")
                ),
            },
            "terraform_diagnostic" => {
                let line = format!(
                    "  terraform {}: {} {}",
                    text(e, "severity"),
                    text(e, "summary"),
                    text(e, "detail")
                );
                Shown::Line(if text(e, "severity") == "error" {
                    s.red(&line)
                } else {
                    s.yellow(&line)
                })
            }
            "terraform_phase" => Shown::Line(s.dim(&format!(
                "  terraform {} done in {:.1} s",
                text(e, "phase"),
                e["elapsed_ms"].as_u64().unwrap_or(0) as f64 / 1000.0
            ))),
            "terraform_change_summary" => Shown::Line(s.dim(&format!(
                "  terraform {}: {} to add, {} to change, {} to remove",
                text(e, "operation"),
                number(e, "add"),
                number(e, "change"),
                number(e, "remove")
            ))),
            "terraform_message" if v >= 1 => {
                Shown::Line(s.dim(&format!("  terraform: {}", text(e, "message"))))
            }
            "terraform_log" if v >= 2 => {
                Shown::Line(s.dim(&format!("  terraform: {}", text(e, "line"))))
            }
            "api_call" if v >= 1 => Shown::Line(s.dim(&format!(
                "  {} → {} ({} ms)",
                text(e, "endpoint"),
                number(e, "status"),
                number(e, "elapsed_ms")
            ))),
            "api_retry" if v >= 1 => Shown::Line(s.yellow(&format!(
                "  retrying {}: {} (in {} ms)",
                text(e, "endpoint"),
                text(e, "reason"),
                number(e, "delay_ms")
            ))),
            "rate_limited" if v >= 1 => Shown::Line(s.yellow(&format!(
                "  rate limited on {}: waiting {} ms",
                text(e, "endpoint"),
                number(e, "delay_ms")
            ))),
            "api_session" if v >= 1 => {
                Shown::Line(s.dim(&format!("  session: {}", text(e, "what"))))
            }
            "capability_status" => {
                let mark = capability_mark(s, text(e, "status"));
                let mut line = format!("  {mark} {}: {}", text(e, "capability"), text(e, "status"));
                if !text(e, "message").is_empty() {
                    line.push_str(&format!(" — {}", text(e, "message")));
                }
                if !text(e, "remediation").is_empty() {
                    line.push_str(&format!(" (fix: {})", text(e, "remediation")));
                }
                Shown::Line(line)
            }
            "cortex_instance" => Shown::Line(format!(
                "  Cortex Cloud instance {}: {}",
                text(e, "instance_id"),
                text(e, "status").to_ascii_lowercase()
            )),
            "log" => match text(e, "level") {
                "warn" | "error" => Shown::Line(s.yellow(&format!("! {}", text(e, "message")))),
                _ => Shown::Line(s.dim(&format!("  {}", text(e, "message")))),
            },
            "job_succeeded" => Shown::Line(format!(
                "{} onboarded {} ({})",
                s.green("✓"),
                text(e, "account_id"),
                text(e, "outcome")
            )),
            "job_failed" => Shown::Line(format!(
                "{} failed{}: {}: {}",
                s.red("✗"),
                e["step"]
                    .as_str()
                    .map(|st| format!(" at {st}"))
                    .unwrap_or_default(),
                text(e, "code"),
                text(e, "message")
            )),
            "job_cancelled" => Shown::Line(s.yellow("■ cancelled")),
            _ => Shown::Nothing,
        }
    }

    fn batch_event(&mut self, job: &Followed, event: &StoredEvent) {
        let kind = text(&event.event, "type");
        let ended = matches!(kind, "job_succeeded" | "job_failed" | "job_cancelled");
        if ended && let Some(b) = &mut self.batch {
            b.done += 1;
            if kind != "job_succeeded" {
                b.failed += 1;
            }
            b.bar.set_position(b.done as u64);
            b.bar.set_message(if b.failed > 0 {
                format!("done · {} failed", b.failed)
            } else {
                "onboarded".to_owned()
            });
        }
        if ended || kind == "approval_required" {
            let counter = self
                .batch
                .as_ref()
                .map(|b| format!("[{}/{}] ", b.done, b.total))
                .unwrap_or_default();
            if let Shown::Line(line) = self.present(&event.event) {
                let prefix = if self.tty { "" } else { counter.as_str() };
                self.print_with(job, event.at, prefix, &line);
            }
            return;
        }
        if self.verbose >= 1 {
            match self.present(&event.event) {
                Shown::Start { text, .. } => self.print(job, event.at, &format!("· {text}")),
                Shown::End { line, .. } | Shown::Line(line) => self.print(job, event.at, &line),
                Shown::Progress { .. } | Shown::Nothing => {}
            }
        }
    }
}

impl EventSink for HumanProgress {
    fn event(&mut self, job: &Followed, event: &StoredEvent) {
        if self.batch.is_some() {
            self.batch_event(job, event);
            return;
        }
        match self.present(&event.event) {
            Shown::Start { key, text } => {
                if self.tty && !self.quiet {
                    let bar = self.spinner(&text);
                    if let Some(old) = self.active.insert((job.job, key), bar) {
                        old.finish_and_clear();
                    }
                } else {
                    self.print(job, event.at, &format!("· {text}"));
                }
            }
            Shown::Progress { key, text } => {
                if let Some(bar) = self.active.get(&(job.job, key)) {
                    bar.set_message(text);
                }
            }
            Shown::End { key, line } => {
                if let Some(bar) = self.active.remove(&(job.job, key)) {
                    bar.finish_and_clear();
                }
                self.print(job, event.at, &line);
            }
            Shown::Line(line) => {
                // A job's end clears whatever it left spinning.
                if matches!(
                    text(&event.event, "type"),
                    "job_succeeded" | "job_failed" | "job_cancelled"
                ) {
                    let keys: Vec<_> = self
                        .active
                        .keys()
                        .filter(|(j, _)| *j == job.job)
                        .cloned()
                        .collect();
                    for k in keys {
                        if let Some(bar) = self.active.remove(&k) {
                            bar.finish_and_clear();
                        }
                    }
                }
                self.print(job, event.at, &line);
            }
            Shown::Nothing => {}
        }
    }

    fn finish(&mut self) {
        for (_, bar) in self.active.drain() {
            bar.finish_and_clear();
        }
        if let Some(b) = &self.batch {
            b.bar.finish_and_clear();
        }
        let _ = self.mp.clear();
    }
}

/// A capability status's mark: Prisma Cloud's `ok` and Cortex Cloud's `connected` and
/// `disabled` (not chosen) are fine, Cortex's `retrieving` is still on its way, the rest
/// (`warning`, `error`) need a look.
fn capability_mark(s: Style, status: &str) -> String {
    match status {
        "ok" | "connected" | "disabled" => s.green("✓"),
        "retrieving" => s.dim("…"),
        _ => s.red("✗"),
    }
}

fn ms(ms: u64) -> String {
    if ms >= 10_000 {
        format!("{:.0} s", ms as f64 / 1000.0)
    } else if ms >= 1000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{ms} ms")
    }
}

/// The first lines of a job's summary, whichever platform: what happened to `what`, and for
/// a failure the step, the error and how to resume; then the job id.
struct Headline<'a> {
    what: &'a str,
    /// After "Onboarded {what} " when it succeeded.
    done: &'a str,
    /// What waits for approval ("Plan", "Template plan").
    plan: &'a str,
    status: &'a str,
    interrupted: bool,
    job_id: &'a str,
    error: Option<&'a crate::report::ErrorInfo>,
}

impl Headline<'_> {
    fn print(&self, out: &Out) {
        let s = out.style;
        let (what, job_id) = (self.what, self.job_id);
        match self.status {
            "succeeded" => out.line(&format!("{} Onboarded {what} {}", s.green("✓"), self.done)),
            "awaiting_approval" => out.line(&format!(
                "{} {} ready for {what}; approve it with: azure-cortex jobs approve {job_id}",
                s.yellow("⏸"),
                self.plan
            )),
            "cancelled" if self.interrupted => out.line(&format!(
                "{} Interrupted onboarding of {what}; the job is queued again — continue with: \
                 azure-cortex jobs resume {job_id}",
                s.yellow("■")
            )),
            "cancelled" => out.line(&format!(
                "{} Cancelled onboarding of {what}; start it again with: azure-cortex jobs \
                 resume {job_id}",
                s.yellow("■")
            )),
            _ => {
                out.line(&format!("{} Onboarding of {what} failed", s.red("✗")));
                if let Some(e) = self.error {
                    let step = e.step.as_deref().unwrap_or("-");
                    out.line(&format!("  step     {step}"));
                    out.line(&format!("  error    {}: {}", e.code, e.message));
                }
                out.line(&format!(
                    "  resume   azure-cortex jobs resume {job_id} (after fixing the cause)"
                ));
            }
        }
        out.line(&format!("  job      {job_id}"));
    }
}

/// How long the job and each of its finished `steps` took (nothing when none finished).
fn print_took(out: &Out, durations: &crate::report::Durations, steps: &[onboarding_engine::Step]) {
    if durations.steps.is_empty() {
        return;
    }
    let steps: Vec<String> = steps
        .iter()
        .filter_map(|st| {
            durations
                .steps
                .get(st.name())
                .map(|m| format!("{} {}", st.name(), ms(*m)))
        })
        .collect();
    out.line(&format!(
        "  took     {} ({})",
        ms(durations.total_ms),
        steps.join(", ")
    ));
}

/// The summary of one job, on stdout.
pub fn print_job_result(out: &Out, r: &JobResult) {
    let s = out.style;
    let what = format!("{} {} ({})", r.scope, r.name, r.account_id);
    let done = format!("— {}", r.outcome.as_deref().unwrap_or("done"));
    let head = Headline {
        what: &what,
        done: &done,
        plan: "Plan",
        status: r.status,
        interrupted: r.interrupted(),
        job_id: &r.job_id,
        error: r.error.as_ref(),
    };
    head.print(out);
    if !r.capabilities.is_empty() {
        out.line("  capabilities");
        for c in &r.capabilities {
            let mark = if c.status == "ok" {
                s.green("✓")
            } else {
                s.red("✗")
            };
            let mut line = format!("    {mark} {}", c.name);
            if c.status != "ok" {
                line.push_str(&format!(": {} {}", c.status, c.message));
                if !c.remediation.is_empty() {
                    line.push_str(&format!(" (fix: {})", c.remediation));
                }
            }
            out.line(&line);
        }
    }
    print_took(out, &r.durations, &onboarding_engine::Step::ALL);
}

/// The summary of any job, by its platform.
pub fn print_any_result(out: &Out, r: &AnyResult) {
    match r {
        AnyResult::Prisma(r) => print_job_result(out, r),
        AnyResult::Cortex(r) => print_cortex_result(out, r),
    }
}

/// The summary of one Cortex Cloud job, on stdout: the instance, each capability with
/// Cortex's text for a warning or an error, the accounts.
pub fn print_cortex_result(out: &Out, r: &CortexResult) {
    let s = out.style;
    let what = format!("{} into Cortex Cloud ({})", r.target, r.connection);
    let done = format!(
        "— instance {} {}",
        r.instance_id.as_deref().unwrap_or("-"),
        r.instance_status.as_deref().unwrap_or_default()
    );
    let head = Headline {
        what: &what,
        done: &done,
        plan: "Template plan",
        status: r.status,
        interrupted: r.interrupted(),
        job_id: &r.job_id,
        error: r.error.as_ref(),
    };
    head.print(out);
    if let Some(p) = &r.pending_instance_id {
        out.line(&format!("  pending  {p}"));
    }
    if let Some(md5) = &r.template_md5 {
        out.line(&format!("  template MD5 {md5} (checked)"));
    }
    if !r.capabilities.is_empty() {
        out.line("  capabilities");
        for c in &r.capabilities {
            let mark = capability_mark(s, &c.status);
            let mut line = format!("    {mark} {} {}", c.name, c.status);
            if !c.message.is_empty() {
                line.push_str(&format!(": {}", c.message));
            }
            if !c.remediation.is_empty() {
                line.push_str(&format!(" (fix: {})", c.remediation));
            }
            out.line(&line);
        }
    }
    if r.accounts_total > 0 {
        out.line(&format!("  accounts {}", r.accounts_total));
        for a in &r.accounts {
            out.line(&format!("    {}  {}  {}", a.account_id, a.status, a.name));
        }
    }
    print_took(out, &r.durations, &onboarding_engine::Step::CORTEX);
}

/// The summary of a batch, on stdout: counts, then every row that did not onboard.
pub fn print_batch_result(out: &Out, r: &BatchResult) {
    let s = out.style;
    let head = format!(
        "Batch {} ({}): {} of {} onboarded ({} adopted), {} failed",
        r.batch_id,
        r.label,
        r.succeeded,
        r.total,
        r.adopted,
        r.failed.len()
    );
    let mark = match r.status {
        "succeeded" => s.green("✓"),
        "cancelled" => s.yellow("■"),
        _ => s.red("✗"),
    };
    out.line(&format!("{mark} {head}"));
    if r.cancelled > 0 {
        out.line(&format!(
            "  {} cancelled or interrupted (queued again: `azure-cortex jobs list --batch {}` \
             and `jobs resume`)",
            r.cancelled, r.batch_id
        ));
    }
    if r.awaiting_approval > 0 {
        out.line(&format!(
            "  {} waiting for approval (`azure-cortex jobs approve <JOB>`)",
            r.awaiting_approval
        ));
    }
    for f in &r.failed {
        let row = f.row.map(|n| format!("row {n}")).unwrap_or_default();
        out.line(&format!(
            "  {} {row}  {}  {}  {}: {}",
            s.red("✗"),
            f.account_id,
            f.name,
            f.code,
            f.message
        ));
        out.line(&format!("      job {}", f.job_id));
    }
    out.line(&format!("  took {}", ms(r.durations.total_ms)));
}
