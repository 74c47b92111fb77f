//! Error answers in the two styles the real API uses.
//!
//! Most CSPM endpoints put the error in the `x-redlock-status` header as a JSON array of
//! `{i18nKey, severity, subject}` and send no body. The CAS template and features services send
//! a Spring-style JSON body (`{status, timestamp, message, debugMessage}`) instead.

use axum::Json;
use axum::extract::FromRequest;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use prisma_types::wire::{ApiErrorBody, REDLOCK_STATUS_HEADER, RedlockStatus};
use serde::de::DeserializeOwned;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorStyle {
    /// `x-redlock-status` header, empty body.
    Redlock,
    /// `ApiError` JSON body (CAS template / features).
    ApiErrorBody,
}

/// An error answer. `subject` names the offending field where there is one.
#[derive(Debug, Clone)]
pub struct ApiFailure {
    pub status: StatusCode,
    pub i18n_key: &'static str,
    pub subject: Option<String>,
    pub message: String,
    pub style: ErrorStyle,
}

impl ApiFailure {
    pub fn new(status: StatusCode, i18n_key: &'static str) -> Self {
        Self {
            status,
            i18n_key,
            subject: None,
            message: i18n_key.to_owned(),
            style: ErrorStyle::Redlock,
        }
    }

    pub fn bad_request(subject: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request")
            .subject(subject)
            .message(message)
    }

    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    pub fn styled(mut self, style: ErrorStyle) -> Self {
        self.style = style;
        self
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        match self.style {
            ErrorStyle::Redlock => {
                let entry = RedlockStatus {
                    i18n_key: self.i18n_key.to_owned(),
                    severity: "error".to_owned(),
                    subject: self.subject,
                };
                let header = serde_json::to_string(&[entry]).unwrap_or_default();
                let mut response = self.status.into_response();
                if let Ok(value) = HeaderValue::from_str(&header) {
                    response.headers_mut().insert(REDLOCK_STATUS_HEADER, value);
                }
                response
            }
            ErrorStyle::ApiErrorBody => {
                let body = ApiErrorBody {
                    status: format!(
                        "{} {}",
                        self.status.as_u16(),
                        self.status
                            .canonical_reason()
                            .unwrap_or("ERROR")
                            .to_ascii_uppercase()
                            .replace(' ', "_")
                    ),
                    timestamp: crate::clock::rfc3339_now(),
                    message: self.message,
                    debug_message: self.i18n_key.to_owned(),
                };
                (self.status, Json(body)).into_response()
            }
        }
    }
}

/// A JSON body extractor whose rejections are API errors: malformed or non-JSON bodies get 400
/// `bad_request`, oversized ones 413, never a 5xx or a plain-text axum message.
pub struct WireJson<T>(pub T);

impl<S, T> FromRequest<S> for WireJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiFailure;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || mime.ends_with("+json")
            });
        if !is_json {
            return Err(ApiFailure::bad_request(
                "body",
                "expected Content-Type: application/json",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiFailure::new(StatusCode::PAYLOAD_TOO_LARGE, "request_too_large")
                        .message("the request body is larger than the limit")
                } else {
                    ApiFailure::bad_request("body", "the body could not be read")
                }
            })?;
        // serde reads a JSON array into a struct positionally (["key", "secret"] would log in);
        // the real service only takes objects.
        if bytes.trim_ascii_start().first() != Some(&b'{') {
            return Err(ApiFailure::bad_request(
                "body",
                "the body must be a JSON object",
            ));
        }
        match Json::<T>::from_bytes(&bytes) {
            Ok(Json(value)) => Ok(WireJson(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiFailure {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiFailure::new(StatusCode::PAYLOAD_TOO_LARGE, "request_too_large")
            .message("the request body is larger than the limit");
    }
    // Only the JSON path of the problem goes back (as the subject): serde's own message can
    // quote input values, and input values may be secrets.
    let text = rejection.body_text();
    let subject = text
        .split_once("target type: ")
        .and_then(|(_, rest)| rest.split_once(": "))
        .map(|(path, _)| path)
        .filter(|path| !path.is_empty() && !path.contains(' '))
        .unwrap_or("body")
        .to_owned();
    let message = match rejection {
        JsonRejection::MissingJsonContentType(_) => "expected Content-Type: application/json",
        JsonRejection::JsonSyntaxError(_) => "the body is not valid JSON",
        _ => "the body does not have the expected fields and types",
    };
    ApiFailure::bad_request(subject, message)
}
