//! What the runner and the replayer both do with each stdout line: parse it, hand the caller an
//! event, and remember what the phase outcome needs (diagnostics, the last change summary).
//! Sharing this keeps a replayed run indistinguishable from a real one for the engine.

use crate::runner::RunnerEvent;
use crate::stream::{self, Diagnostic, MessageKind, StreamError};

#[derive(Debug, Default)]
pub(crate) struct Collector {
    pub diagnostics: Vec<Diagnostic>,
    /// (add, change, remove) of the last `change_summary`: the apply/destroy one comes after the
    /// plan one when both are present.
    pub changes: Option<(u64, u64, u64)>,
    /// `operation` of the last `change_summary`.
    pub last_operation: Option<String>,
    pub saw_init_output: bool,
}

impl Collector {
    /// Handles one stdout line. Blank lines are skipped; unparseable lines become
    /// [`RunnerEvent::Unparsed`]. Returns `Err` only for a fatal stream error (unsupported UI
    /// schema), after which the caller must stop the run.
    pub fn stdout_line(
        &mut self,
        line: &str,
        on_event: &mut (dyn FnMut(RunnerEvent) + Send),
    ) -> Result<(), StreamError> {
        if line.trim().is_empty() {
            return Ok(());
        }
        match stream::parse_line(line) {
            Ok(msg) => {
                match &msg.kind {
                    MessageKind::Diagnostic(d) => self.diagnostics.push(d.clone()),
                    MessageKind::ChangeSummary {
                        add,
                        change,
                        remove,
                        operation,
                        ..
                    } => {
                        self.changes = Some((*add, *change, *remove));
                        self.last_operation = Some(operation.clone());
                    }
                    MessageKind::InitOutput { .. } => self.saw_init_output = true,
                    _ => {}
                }
                on_event(RunnerEvent::Message(msg));
                Ok(())
            }
            Err(e) if e.is_fatal() => Err(e),
            Err(e) => {
                tracing::debug!(error = %e, "unparsed terraform stdout line");
                on_event(RunnerEvent::Unparsed(line.to_owned()));
                Ok(())
            }
        }
    }

    pub fn error_diagnostics(&self) -> Vec<Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.is_error())
            .cloned()
            .collect()
    }
}
