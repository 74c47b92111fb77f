//! Exit codes and the one error type every command returns.
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | success (also: a job stopped at its approval gate, `--no-wait` submissions) |
//! | 1 | failed (a job failed, Prisma or the store refused, a doctor check failed) |
//! | 2 | bad input or usage (clap usage errors, invalid fields, missing configuration) |
//! | 3 | a batch partly failed (some rows onboarded, some not) |
//! | 4 | cancelled (Ctrl-C / SIGTERM, or the job was cancelled) |

use std::fmt;
use std::process::ExitCode;

use onboarding_engine::EngineError;
use onboarding_engine::request::{FieldError, RequestErrors};

/// How the process ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Success,
    Failed,
    Usage,
    Partial,
    Cancelled,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::Partial => 3,
            Exit::Cancelled => 4,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e.code())
    }
}

/// A command's failure: how to exit, a stable code, a message, and (for bad input) every field
/// that was wrong.
#[derive(Debug, Clone)]
pub struct CliError {
    pub exit: Exit,
    pub code: String,
    pub message: String,
    pub fields: Vec<FieldError>,
}

impl CliError {
    pub fn new(exit: Exit, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            exit,
            code: code.into(),
            message: message.into(),
            fields: Vec::new(),
        }
    }

    /// Bad input or usage (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, "usage", message)
    }

    /// One bad field (exit 2).
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::invalid(vec![FieldError {
            field: field.to_owned(),
            message: message.into(),
        }])
    }

    /// Bad fields (exit 2); the message lists them all.
    pub fn invalid(fields: Vec<FieldError>) -> Self {
        let message = fields
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            exit: Exit::Usage,
            code: "invalid_request".into(),
            message,
            fields,
        }
    }

    /// A failure that is not the input's fault (exit 1).
    pub fn failed(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Exit::Failed, code, message)
    }

    /// The error as the JSON error object documented in `docs/cli.md`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "type": "error",
            "exit_code": self.exit.code(),
            "code": self.code,
            "message": self.message,
            "errors": self.fields.iter().map(|f| serde_json::json!({
                "field": f.field, "message": f.message,
            })).collect::<Vec<_>>(),
        })
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

impl From<RequestErrors> for CliError {
    fn from(e: RequestErrors) -> Self {
        CliError::invalid(e.errors)
    }
}

impl From<EngineError> for CliError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Invalid(errors) => errors.into(),
            other => CliError::failed(other.code(), other.to_string()),
        }
    }
}

impl From<prisma_client::Error> for CliError {
    fn from(e: prisma_client::Error) -> Self {
        match &e {
            prisma_client::Error::Invalid(v) => CliError::field(&v.field, v.message.clone()),
            prisma_client::Error::Config { setting, message } => {
                CliError::new(Exit::Usage, "config", format!("{setting}: {message}"))
            }
            _ => CliError::failed(format!("prisma_{}", e.code()), e.to_string()),
        }
    }
}

impl From<cortex_store::StoreError> for CliError {
    fn from(e: cortex_store::StoreError) -> Self {
        CliError::failed(format!("store_{}", e.code()), e.to_string())
    }
}

impl From<prisma_types::ValidationError> for CliError {
    fn from(e: prisma_types::ValidationError) -> Self {
        CliError::field(&e.field, e.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_ones() {
        let codes: Vec<u8> = [
            Exit::Success,
            Exit::Failed,
            Exit::Usage,
            Exit::Partial,
            Exit::Cancelled,
        ]
        .into_iter()
        .map(Exit::code)
        .collect();
        assert_eq!(codes, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn invalid_fields_are_named_in_message_and_json() {
        let e = CliError::invalid(vec![FieldError {
            field: "subscription_id".into(),
            message: "is not a GUID".into(),
        }]);
        assert_eq!(e.exit, Exit::Usage);
        assert!(e.message.contains("subscription_id"));
        assert_eq!(e.to_json()["errors"][0]["field"], "subscription_id");
    }
}
