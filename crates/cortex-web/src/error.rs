//! Every error the API returns: `{code, message, field?, errors?}` with a stable `code`.
//!
//! Codes (stable; clients and the pages match on them):
//!
//! | status | code | when |
//! | --- | --- | --- |
//! | 400 | `invalid_json` | the body is not JSON |
//! | 400 | `invalid_body` | JSON of the wrong shape (unknown field, wrong type); `field` names it |
//! | 400 | `invalid_request` | the onboarding request is refused; `errors` lists every field |
//! | 400 | `invalid_parameter` | a path, query or header value is malformed; `field` names it |
//! | 401 | `unauthenticated` | no session cookie or API token, or an expired/unknown one |
//! | 401 | `invalid_credentials` | login with a wrong name or password |
//! | 403 | `forbidden` | the role does not allow the action (viewer doing operator things) |
//! | 403 | `csrf_failed` | a cookie-authenticated state change without the session's CSRF token |
//! | 403 | `session_required` | the action needs an interactive session (not an API token) |
//! | 404 | `not_found` | unknown job, batch, account, token or connection |
//! | 404 | `route_not_found` | no such route |
//! | 405 | `method_not_allowed` | the route exists, the method does not |
//! | 409 | `invalid_state` | the job is not in a state that allows the action |
//! | 409 | `conflict` | the thing already exists (a user name) |
//! | 409 | `connection_unreadable` | a saved connection's stored value cannot be used (save it again) |
//! | 413 | `payload_too_large` | the body is over the limit |
//! | 415 | `unsupported_media_type` | a body that is not `application/json` |
//! | 429 | `login_throttled` | too many failed logins for this user from this address |
//! | 502 | `prisma_rejected` | Prisma Cloud refused the call (its message says why) |
//! | 503 | `prisma_unavailable` | Prisma Cloud could not be reached (after retries) |
//! | 503 | `storage_unavailable` | the job store or the users database failed |
//! | 500 | `internal` | a bug; details are in the server log, never in the answer |
//!
//! Messages never carry secrets: request bodies are not echoed (serde's messages are
//! redacted of values), and storage errors are logged, not returned.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use onboarding_engine::EngineError;
use onboarding_engine::request::FieldError;
use serde::Serialize;
use utoipa::ToSchema;

/// One bad field of a refused request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

/// The body of every error answer.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable, snake_case; see the table in the crate docs.
    pub code: String,
    /// A sentence for a person.
    pub message: String,
    /// The field, parameter or header at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every bad field of a refused onboarding request (`invalid_request`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

#[derive(Clone, Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                code: code.to_owned(),
                message: message.into(),
                field: None,
                errors: Vec::new(),
            },
            retry_after: None,
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.body.field = Some(field.into());
        self
    }

    pub fn with_code(mut self, code: &str) -> Self {
        self.body.code = code.to_owned();
        self
    }

    pub fn code(&self) -> &str {
        &self.body.code
    }

    pub fn bad_parameter(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_parameter", message).field(field)
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn invalid_state(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "invalid_state", message)
    }

    pub fn internal(context: &str, error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, context, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an internal error occurred; the server log has the details",
        )
    }

    pub fn storage(context: &str, error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, context, "storage error");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_unavailable",
            format!("{context}: the store is unavailable; try again (details in the server log)"),
        )
    }

    /// A refused onboarding request: every field named.
    pub fn invalid_request(errors: Vec<FieldError>) -> Self {
        let message = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        let mut e = Self::new(StatusCode::BAD_REQUEST, "invalid_request", message);
        e.body.field = errors.first().map(|f| f.field.clone());
        e.body.errors = errors
            .into_iter()
            .map(|f| FieldProblem {
                field: f.field,
                message: f.message,
            })
            .collect();
        e
    }

    /// The canonical error for a status the framework produced (405, 413, …).
    pub fn for_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => ("route_not_found", "no such route"),
            StatusCode::METHOD_NOT_ALLOWED => (
                "method_not_allowed",
                "this route does not accept that method",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the body is too large"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "unsupported_media_type",
                "send the body as application/json",
            ),
            StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long"),
            s if s.is_client_error() => ("invalid_request", "the request was refused"),
            _ => (
                "internal",
                "an internal error occurred; the server log has the details",
            ),
        };
        Self::new(status, code, message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status, self.body.code, self.body.message
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<cortex_store::StoreError> for ApiError {
    fn from(e: cortex_store::StoreError) -> Self {
        use cortex_store::StoreError as S;
        match &e {
            S::NotFound { what } => ApiError::not_found(format!("{what} not found")),
            S::Conflict { what } => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{what} already exists"),
            ),
            S::Invalid { message } => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message.clone())
            }
            _ => ApiError::storage("job store", &e),
        }
    }
}

impl From<prisma_client::Error> for ApiError {
    fn from(e: prisma_client::Error) -> Self {
        use prisma_client::Error as P;
        match &e {
            P::Invalid(v) => ApiError::bad_parameter(&v.field, v.message.clone()),
            P::Api(api) if api.status == 404 => ApiError::not_found(e.to_string()),
            P::Api(_) => ApiError::new(StatusCode::BAD_GATEWAY, "prisma_rejected", e.to_string()),
            P::Auth(_) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "prisma_authentication",
                e.to_string(),
            ),
            P::Transport { .. } | P::RetriesExhausted { .. } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "prisma_unavailable",
                e.to_string(),
            ),
            P::Decode {
                endpoint, status, ..
            } => {
                tracing::warn!(error = %e, "undecodable Prisma Cloud answer");
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "prisma_bad_response",
                    format!(
                        "{endpoint}: answered {status} with a body that is not the expected JSON"
                    ),
                )
            }
            _ => ApiError::internal("prisma client", &e),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Invalid(errors) => ApiError::invalid_request(errors.errors),
            EngineError::Store(s) => s.into(),
            EngineError::Prisma(p) => p.into(),
            EngineError::UnknownConnection { name } => {
                ApiError::not_found(format!("connection {name} not found"))
            }
            e @ (EngineError::NotManaged { .. } | EngineError::PlatformAccountMissing { .. }) => {
                let code = e.code();
                ApiError::new(StatusCode::NOT_FOUND, code, e.to_string())
            }
            e @ EngineError::AlreadyManaged { .. } => {
                ApiError::new(StatusCode::CONFLICT, "already_managed", e.to_string())
            }
            e @ EngineError::ConnectionUnreadable { .. } => {
                ApiError::new(StatusCode::CONFLICT, "connection_unreadable", e.to_string())
            }
            e @ EngineError::AccountNotFound { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, "account_not_found", e.to_string())
            }
            e @ EngineError::NotPossible { .. } => {
                ApiError::new(StatusCode::CONFLICT, "not_possible", e.to_string())
            }
            e @ EngineError::WrongPlatform { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "wrong_platform", e.to_string())
                    .field("connection")
            }
            other => ApiError::internal("engine", &other),
        }
    }
}

impl From<crate::auth::AuthError> for ApiError {
    fn from(e: crate::auth::AuthError) -> Self {
        use crate::auth::AuthError as A;
        match e {
            A::Invalid { field, message } => ApiError::bad_parameter(field, message),
            A::Conflict(what) => ApiError::new(StatusCode::CONFLICT, "conflict", what),
            A::NotFound(what) => ApiError::not_found(what),
            other => ApiError::storage("users database", &other),
        }
    }
}

/// serde's message for a body of the wrong shape, without the values it quotes (a secret
/// typed into the wrong field must not come back). Field names are kept.
pub(crate) fn redact_serde_message(message: &str) -> String {
    let message = message.split(" at line ").next().unwrap_or(message);
    let keep_backticks = ["unknown field", "missing field", "duplicate field"]
        .iter()
        .any(|p| message.starts_with(p));
    let mut out = String::with_capacity(message.len());
    let mut quote: Option<char> = None;
    for c in message.chars() {
        match quote {
            Some(q) if c == q => {
                out.push(c);
                quote = None;
            }
            Some('`') if keep_backticks => out.push(c),
            Some(_) => {}
            None => {
                if c == '"' || c == '`' {
                    quote = Some(c);
                    out.push(c);
                    if c == '"' || !keep_backticks {
                        out.push('…');
                    }
                } else {
                    out.push(c);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_lose_their_values_but_keep_field_names() {
        assert_eq!(
            redact_serde_message(
                r#"invalid type: string "CANARY-1", expected a boolean at line 1 column 9"#
            ),
            r#"invalid type: string "…", expected a boolean"#
        );
        assert_eq!(
            redact_serde_message("unknown field `clientsecret`, expected one of `scope`, `name`"),
            "unknown field `clientsecret`, expected one of `scope`, `name`"
        );
        assert_eq!(
            redact_serde_message("unknown variant `CANARY`, expected `viewer`"),
            "unknown variant `…`, expected `…`"
        );
    }
}
