//! The client's one error type. `Display` of every variant is a sentence safe to log and to
//! show: what went wrong, and for API errors the fix. No variant can hold the key: request
//! headers and bodies are never kept, answers are kept only as the server's own message.

use std::fmt;
use std::time::Duration;

use cortex_cloud_types::{ErrorReply, ValidationError};
use platform_http::retry::proves_not_processed;
pub use platform_http::{TransportFailure, TransportKind};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configuration: {setting} {message}")]
    Config { setting: String, message: String },

    /// Input refused before anything was sent (names the field).
    #[error("invalid input: {0}")]
    Invalid(#[from] ValidationError),

    /// The request failed on the network (with whether it may have been processed).
    #[error(transparent)]
    Transport(TransportFailure),

    #[error("{0}")]
    Api(Box<ApiError>),

    #[error("{endpoint}: answered {status} with a body that is not the expected JSON ({message})")]
    Decode {
        endpoint: String,
        status: u16,
        message: String,
    },

    #[error("{endpoint}: gave up after {attempts} attempts in {elapsed:?}: {last}")]
    RetriesExhausted {
        endpoint: String,
        attempts: u32,
        elapsed: Duration,
        last: Box<Error>,
    },
}

/// One field a 422 named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub endpoint: String,
    pub status: u16,
    /// `reply.err_code` as text (an integer on real tenants).
    pub err_code: Option<String>,
    /// `reply.err_msg`, trimmed to 300 characters.
    pub err_msg: Option<String>,
    /// The fields `err_extra` named (422).
    pub fields: Vec<FieldProblem>,
    /// `err_extra` when it was text.
    pub detail: Option<String>,
    pub retry_after: Option<Duration>,
}

impl ApiError {
    pub fn from_answer(
        endpoint: &str,
        status: u16,
        body: &[u8],
        retry_after: Option<Duration>,
    ) -> Self {
        let reply = ErrorReply::from_body(body);
        let fields = reply
            .as_ref()
            .map(|r| {
                r.err_extra
                    .fields()
                    .iter()
                    .map(|f| FieldProblem {
                        field: f.field_path().unwrap_or_else(|| "request".into()),
                        message: f.text().unwrap_or("is invalid").to_owned(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let detail = reply.as_ref().and_then(|r| match &r.err_extra {
            cortex_cloud_types::ErrExtra::Text(t) => Some(trim(t)),
            _ => None,
        });
        Self {
            endpoint: endpoint.to_owned(),
            status,
            err_code: reply.as_ref().map(|r| r.err_code.to_string()),
            err_msg: reply
                .as_ref()
                .map(|r| trim(&r.err_msg))
                .filter(|m| !m.is_empty()),
            fields,
            detail,
            retry_after,
        }
    }

    /// What the status means and how to fix it.
    pub fn help(&self) -> (&'static str, &'static str) {
        match self.status {
            400 => (
                "the request was malformed",
                "this is a client bug; report it with the request id",
            ),
            401 => (
                "the API key was refused",
                "check the key ID, the key and its security level (standard or advanced) in Settings > Configurations > API Keys; an expired or deleted key must be replaced",
            ),
            402 => (
                "the tenant's license does not include this API",
                "Cloud Onboarding needs Cortex Cloud Posture Management (or the XSIAM posture add-on)",
            ),
            403 => (
                "the API key's role lacks the permission",
                "give the key a role with Cloud Onboarding (data sources) permissions",
            ),
            404 => (
                "the path does not exist on this host",
                "check the API URL: it is https://api-<your tenant's console host>",
            ),
            422 => (
                "the request was refused",
                "correct the field named and retry",
            ),
            429 => (
                "too many requests",
                "the client backs off and retries; lower the concurrency if this persists",
            ),
            500..=599 => (
                "the service failed",
                "retry later; if it persists, contact Palo Alto Networks support",
            ),
            _ => ("unexpected answer", "retry; if it persists, report it"),
        }
    }
}

fn trim(s: &str) -> String {
    if s.chars().count() <= 300 {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(300).collect::<String>())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (meaning, fix) = self.help();
        write!(f, "{} answered {}: {meaning}", self.endpoint, self.status)?;
        for p in &self.fields {
            write!(f, "; field {}: {}", p.field, p.message)?;
        }
        if let Some(m) = &self.err_msg
            && self.fields.is_empty()
        {
            write!(f, " — {m}")?;
        }
        if let Some(d) = &self.detail {
            write!(f, " ({d})")?;
        }
        write!(f, "; fix: {fix}")
    }
}

impl Error {
    pub(crate) fn config(setting: &str, message: impl Into<String>) -> Self {
        Error::Config {
            setting: setting.to_owned(),
            message: message.into(),
        }
    }

    /// The API error inside, looking through exhausted retries.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            Error::RetriesExhausted { last, .. } => last.api(),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        self.api().map(|e| e.status)
    }

    /// The first field a 422 named.
    pub fn field(&self) -> Option<&str> {
        self.api()
            .and_then(|e| e.fields.first())
            .map(|p| p.field.as_str())
    }

    /// Might the server have acted on the request (timeouts, broken connections, a 5xx other
    /// than 503)?
    pub fn is_ambiguous(&self) -> bool {
        match self {
            Error::Transport(failure) => failure.maybe_processed,
            Error::Api(e) => e.status >= 500 && !proves_not_processed(e.status),
            Error::RetriesExhausted { last, .. } => last.is_ambiguous(),
            _ => false,
        }
    }

    /// A stable code for the HTTP edge and JSON output.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Config { .. } => "config",
            Error::Invalid(_) => "invalid_input",
            Error::Transport { .. } => "transport",
            Error::Api(e) if e.status == 401 => "authentication",
            Error::Api(e) if e.status == 422 => "invalid_request",
            Error::Api(_) => "api_error",
            Error::Decode { .. } => "undecodable_response",
            Error::RetriesExhausted { .. } => "retries_exhausted",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_422_names_its_field_and_the_fix() {
        let body = br#"{"reply":{"err_code":422,"err_msg":"Invalid Client Request Error","err_extra":[{"type":"value_error","loc":["body","request_data","account_details","organization_id"],"msg":"this Azure tenant has not approved the Cortex Cloud application","input":"x"}]}}"#;
        let e = Error::Api(Box::new(ApiError::from_answer("POST /x", 422, body, None)));
        let text = e.to_string();
        assert!(
            text.contains("field account_details.organization_id: this Azure tenant"),
            "{text}"
        );
        assert!(text.contains("fix: correct the field"), "{text}");
        assert_eq!(e.field(), Some("account_details.organization_id"));
        assert_eq!(e.code(), "invalid_request");
        let e = ApiError::from_answer("POST /x", 401, br#"{"reply":{"err_code":401,"err_msg":"Public API request unauthorized","err_extra":null}}"#, None);
        let text = e.to_string();
        assert!(text.contains("security level (standard or advanced)"));
        // Pages render this fix: ASCII plus the marks every common font has (see
        // cortex-web's glyph test), so the console's menu path is written with `>`.
        assert!(
            text.contains("Settings > Configurations > API Keys"),
            "{text}"
        );
        assert!(
            text.chars()
                .all(|c| c.is_ascii() || ['\u{2014}', '\u{00B7}', '\u{2026}'].contains(&c)),
            "{text}"
        );
        let e = ApiError::from_answer("POST /x", 502, b"<html>bad gateway</html>", None);
        assert_eq!(e.err_msg, None);
        assert!(e.to_string().contains("the service failed"));
    }
}
