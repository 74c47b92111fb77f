//! The client's one error type.
//!
//! It separates what a caller decides on differently: bad configuration or input (fix and run
//! again), transport failures (with whether the request may have been processed), documented
//! API errors (status, every i18n key, request id, and a readable sentence), undecodable
//! bodies (raw text kept, truncated, JWT-shaped text removed), authentication, and retries
//! exhausted. No variant can hold a secret: bodies we send are never kept, and `Display` of
//! every variant is safe to log.

use std::fmt;
use std::time::Duration;

use prisma_types::ValidationError;

use crate::messages::{KeyHelp, describe};
use crate::retry::proves_not_processed;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Configuration that cannot work (names the setting).
    #[error("configuration: {setting} {message}")]
    Config { setting: String, message: String },

    /// Input refused before anything was sent.
    #[error("invalid input: {0}")]
    Invalid(#[from] ValidationError),

    /// The request failed on the network (with whether it may have been processed).
    #[error(transparent)]
    Transport(TransportFailure),

    /// The API answered with an error status (boxed: it is the largest variant).
    #[error("{0}")]
    Api(Box<ApiError>),

    /// The API answered 2xx with a body we could not decode.
    #[error(
        "{endpoint}: answered {status} with a body that is not the expected JSON ({message}); body starts: {raw}"
    )]
    Decode {
        endpoint: String,
        status: u16,
        message: String,
        raw: String,
    },

    #[error("authentication: {0}")]
    Auth(AuthError),

    /// The call's own attempt budget or deadline ran out.
    #[error("{endpoint}: gave up after {attempts} attempts in {elapsed:?}: {last}")]
    RetriesExhausted {
        endpoint: String,
        attempts: u32,
        elapsed: Duration,
        last: Box<Error>,
    },
}

pub use platform_http::{TransportFailure, TransportKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// `invalid_credentials` and friends, with the key.
    Rejected { i18n_key: String },
    /// The login belongs to several tenants; choose one.
    NeedsCustomerName { choices: Vec<String> },
    /// The login answered 200 without a token and without saying why.
    NoToken,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Rejected { i18n_key } => match describe(i18n_key) {
                Some(help) => write!(f, "{} ({i18n_key}); fix: {}", help.meaning, help.fix),
                None => write!(f, "login refused ({i18n_key})"),
            },
            AuthError::NeedsCustomerName { choices } => write!(
                f,
                "this access key belongs to several tenants; set PRISMA_CUSTOMER_NAME to one of: {}",
                choices.join(", ")
            ),
            AuthError::NoToken => f.write_str("the login answer carried no token"),
        }
    }
}

/// A documented error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub endpoint: String,
    pub status: u16,
    /// Every i18n key, from `x-redlock-status` or a JSON error body, in order.
    pub i18n_keys: Vec<String>,
    /// `subject` of the first key, when the server named a field.
    pub subject: Option<String>,
    /// The server's message from a JSON error body, if any.
    pub server_message: Option<String>,
    pub request_id: Option<String>,
    /// True for a non-JSON body (e.g. the gateway's HTML 429).
    pub html: bool,
    /// Seconds from `Retry-After`, when sent.
    pub retry_after: Option<Duration>,
}

impl ApiError {
    pub fn has_key(&self, key: &str) -> bool {
        self.i18n_keys.iter().any(|k| k == key)
    }

    /// The help for the first key we know.
    pub fn help(&self) -> Option<KeyHelp> {
        self.i18n_keys.iter().find_map(|k| describe(k))
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} answered {}", self.endpoint, self.status)?;
        match (self.help(), self.i18n_keys.is_empty()) {
            (Some(help), _) => write!(f, ": {}; fix: {}", help.meaning, help.fix)?,
            (None, false) => {}
            (None, true) if self.status == 429 => f.write_str(": too many requests")?,
            (None, true) => {}
        }
        if let Some(subject) = &self.subject {
            write!(f, " [field: {subject}]")?;
        }
        if let Some(m) = &self.server_message {
            write!(f, " — {m}")?;
        }
        if !self.i18n_keys.is_empty() {
            write!(f, " (i18n: {})", self.i18n_keys.join(", "))?;
        }
        if self.html {
            f.write_str(" (HTML answer without x-redlock-status)")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
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

    pub fn has_key(&self, key: &str) -> bool {
        self.api().is_some_and(|e| e.has_key(key))
    }

    pub fn status(&self) -> Option<u16> {
        self.api().map(|e| e.status)
    }

    /// Might the server have processed the request? (Timeouts, broken connections after
    /// sending, a 5xx other than 503.) Creates that fail this way must be reconciled, never
    /// blindly re-sent.
    pub fn is_ambiguous(&self) -> bool {
        match self {
            Error::Transport(failure) => failure.maybe_processed,
            Error::Api(e) => e.status >= 500 && !proves_not_processed(e.status),
            Error::RetriesExhausted { last, .. } => last.is_ambiguous(),
            _ => false,
        }
    }

    /// A stable code for the HTTP edge and for JSON output.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Config { .. } => "config",
            Error::Invalid(_) => "invalid_input",
            Error::Transport { .. } => "transport",
            Error::Api(_) => "api_error",
            Error::Decode { .. } => "undecodable_response",
            Error::Auth(_) => "authentication",
            Error::RetriesExhausted { .. } => "retries_exhausted",
        }
    }
}

/// Keeps at most `max` characters of a body, with JWT-shaped runs removed: an error must never
/// carry a token even if a server echoed one.
pub(crate) fn safe_snippet(raw: &str, max: usize) -> String {
    let cleaned = redact_jwts(raw);
    if cleaned.chars().count() <= max {
        cleaned
    } else {
        format!(
            "{}… ({} bytes)",
            cleaned.chars().take(max).collect::<String>(),
            raw.len()
        )
    }
}

/// Replaces `eyJ….….…` runs (base64url JWTs) with `[REDACTED-JWT]`.
pub(crate) fn redact_jwts(s: &str) -> String {
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find("eyJ") {
        out.push_str(&rest[..pos]);
        let candidate = &rest[pos..];
        let end = candidate
            .find(|c: char| !(is_b64(c) || c == '.'))
            .unwrap_or(candidate.len());
        let run = &candidate[..end];
        if run.matches('.').count() >= 2 && run.len() > 20 {
            out.push_str("[REDACTED-JWT]");
        } else {
            out.push_str(run);
        }
        rest = &candidate[end..];
        if end == 0 {
            out.push_str(&rest[..1]);
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_read_like_sentences() {
        let e = ApiError {
            endpoint: "POST /cas/v1/azure_account".into(),
            status: 400,
            i18n_keys: vec!["invalid_account_group_ids".into()],
            subject: Some("cloudAccount.groupIds".into()),
            server_message: None,
            request_id: Some("r-1".into()),
            html: false,
            retry_after: None,
        };
        let text = e.to_string();
        assert!(text.contains("an account group does not exist"), "{text}");
        assert!(text.contains("groups list"), "{text}");
        assert!(text.contains("request id r-1"), "{text}");
        assert!(text.contains("field: cloudAccount.groupIds"), "{text}");
    }

    #[test]
    fn jwts_are_removed_from_snippets() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXZhbHVl";
        let s = safe_snippet(&format!("{{\"token\":\"{jwt}\",\"x\":\"eyJ\"}}"), 200);
        assert!(!s.contains(jwt), "{s}");
        assert!(s.contains("[REDACTED-JWT]"));
        assert!(s.contains("eyJ\"}"), "{s}");
        assert_eq!(safe_snippet(&"a".repeat(10), 4), "aaaa… (10 bytes)");
    }
}
