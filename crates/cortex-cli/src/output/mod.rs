//! Where output goes and how it looks.
//!
//! * `--output human` (default): progress on stderr — spinners and bars ([`human`]) on a
//!   terminal, plain timestamped lines otherwise — and a summary on stdout.
//! * `--output json` ([`json`]): on stdout, one stored engine event per line as it happens,
//!   then one result object. The shapes are in `docs/cli.md` and `schemas/*.json`.
//!
//! Colours only on a terminal and never with `NO_COLOR` (or `TERM=dumb`). Errors always go to
//! stderr; with `--output json` they are also written to stdout as an error object.

pub mod human;
pub mod json;

use std::io::{IsTerminal, Write};

use cortex_store::StoredEvent;

use crate::exit::CliError;

/// `--output`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Progress bars on a terminal, timestamped lines otherwise; a summary at the end.
    #[default]
    Human,
    /// One JSON event per line as it happens, then one result object.
    Json,
}

fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
        || std::env::var("TERM").is_ok_and(|t| t == "dumb")
}

/// Colours for stderr: a terminal, and no `NO_COLOR`.
pub fn colors_enabled_for_stderr() -> bool {
    !no_color_env() && std::io::stderr().is_terminal()
}

/// Colours for stdout: a terminal, and no `NO_COLOR`.
pub fn colors_enabled_for_stdout() -> bool {
    !no_color_env() && std::io::stdout().is_terminal()
}

/// ANSI styling that is a no-op without colours.
#[derive(Clone, Copy, Debug, Default)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
    pub fn green(self, s: &str) -> String {
        self.paint("32", s)
    }
    pub fn red(self, s: &str) -> String {
        self.paint("31", s)
    }
    pub fn yellow(self, s: &str) -> String {
        self.paint("33", s)
    }
    pub fn dim(self, s: &str) -> String {
        self.paint("2", s)
    }
    pub fn bold(self, s: &str) -> String {
        self.paint("1", s)
    }
}

/// A job being followed, and how the human output names it.
#[derive(Clone, Debug)]
pub struct Followed {
    pub job: cortex_store::JobId,
    /// `row 7 prod-sub` in a batch, the short job id otherwise.
    pub label: String,
}

/// Receives the events of followed jobs, in order per job.
pub trait EventSink: Send {
    fn event(&mut self, job: &Followed, event: &StoredEvent);
    /// No more events will come.
    fn finish(&mut self) {}
}

/// The output settings of this invocation.
#[derive(Clone, Debug)]
pub struct Out {
    pub format: Format,
    pub verbose: u8,
    pub quiet: bool,
    /// Styling for stdout.
    pub style: Style,
    /// Styling for stderr.
    pub err_style: Style,
    /// stderr is a terminal: draw spinners and bars.
    pub tty: bool,
}

impl Out {
    pub fn new(format: Format, verbose: u8, quiet: bool) -> Self {
        Self {
            format,
            verbose,
            quiet,
            style: Style {
                color: colors_enabled_for_stdout(),
            },
            err_style: Style {
                color: colors_enabled_for_stderr(),
            },
            tty: std::io::stderr().is_terminal(),
        }
    }

    pub fn json(&self) -> bool {
        self.format == Format::Json
    }

    /// A line of the command's output (stdout).
    pub fn line(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    /// One JSON document on one line (stdout).
    pub fn json_line(&self, value: &serde_json::Value) {
        self.line(&value.to_string());
    }

    /// A note for the person at the terminal (stderr; not with `-q`).
    pub fn note(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    /// Reports an error: on stderr, and with `--output json` as an error object on stdout.
    pub fn error(&self, e: &CliError) {
        let s = self.err_style;
        if e.fields.is_empty() {
            eprintln!("{} {}", s.red("error:"), e.message);
        } else {
            eprintln!("{} the request is invalid:", s.red("error:"));
            for f in &e.fields {
                eprintln!("  {}: {}", s.bold(&f.field), f.message);
            }
        }
        if self.json() {
            self.json_line(&e.to_json());
        }
    }

    /// The sink for followed jobs' events: JSON lines, or human progress.
    pub fn sink(&self, batch_total: Option<usize>) -> Box<dyn EventSink> {
        match self.format {
            Format::Json => Box::new(json::JsonEvents),
            Format::Human => Box::new(human::HumanProgress::new(self, batch_total)),
        }
    }
}
