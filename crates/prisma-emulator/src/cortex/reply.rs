//! Answers in the Cortex shape: `{"reply": …}` for success and errors alike.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use cortex_cloud_types::{ErrorReply, FieldError, Reply, ValidationError};
use serde::Serialize;

/// `200 {"reply": value}`, serialised straight from `value` (a page of rows built as a
/// `serde_json::Value` tree first was half of the emulator's CPU per `get_instances`) into a
/// buffer that a page of rows fills without many regrowths (`axum::Json` starts at 128 bytes
/// and copied a 15 KB page six times).
pub fn ok(value: impl Serialize) -> Response {
    let mut body = Vec::with_capacity(8 * 1024);
    match serde_json::to_writer(&mut body, &Reply { reply: value }) {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(e) => Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the emulator could not serialise its reply: {e}"),
        )
        .into_response(),
    }
}

/// An error answer: the status and the `reply.err_*` body.
#[derive(Debug)]
pub struct Failure {
    pub status: StatusCode,
    pub body: ErrorReply,
}

impl Failure {
    pub fn new(status: StatusCode, msg: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorReply::new(i64::from(status.as_u16()), msg),
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Public API request unauthorized")
    }

    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, msg)
    }

    /// 422 with one validation item naming `loc` (under `request_data`).
    pub fn invalid(
        loc: &str,
        kind: &str,
        msg: impl Into<String>,
        input: Option<serde_json::Value>,
    ) -> Self {
        let msg = msg.into();
        let mut path = vec!["body", "request_data"];
        path.extend(loc.split('.').filter(|p| !p.is_empty()));
        let item = FieldError::new(&path, kind, msg.clone(), input);
        let mut f = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("Invalid Client Request Error: {loc}: {msg}"),
        );
        f.body = f.body.with_fields(vec![item]);
        f
    }

    pub fn not_found(what: &str, id: &str) -> Self {
        Self::invalid(
            "id",
            "value_error",
            format!("no {what} with id {id}"),
            Some(id.into()),
        )
    }
}

impl From<ValidationError> for Failure {
    fn from(e: ValidationError) -> Self {
        Failure::invalid(&e.field, "value_error", e.message, None)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body.to_body())).into_response()
    }
}
