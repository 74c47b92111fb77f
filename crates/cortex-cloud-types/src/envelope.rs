//! The envelopes every onboarding endpoint uses: `{"request_data": …}` in, `{"reply": …}` out,
//! errors as `{"reply": {"err_code", "err_msg", "err_extra"}}`.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request<T> {
    pub request_data: T,
}

impl<T> Request<T> {
    pub fn new(request_data: T) -> Self {
        Self { request_data }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply<T> {
    pub reply: T,
}

/// `err_code`: an integer on real tenants, a string in the documented schema. Kept as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ErrCode {
    Int(i64),
    Text(String),
}

impl fmt::Display for ErrCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrCode::Int(i) => write!(f, "{i}"),
            ErrCode::Text(s) => f.write_str(s),
        }
    }
}

/// One validation item of `err_extra` (pydantic style). `loc` is the path to the field,
/// e.g. `["request_data", "account_details", "organization_id"]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct FieldError {
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loc: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl FieldError {
    pub fn new(loc: &[&str], kind: &str, msg: impl Into<String>, input: Option<Value>) -> Self {
        Self {
            kind: Some(kind.to_owned()),
            loc: loc.iter().map(|s| Value::String((*s).to_owned())).collect(),
            msg: Some(msg.into()),
            input,
            field: None,
            message: None,
        }
    }

    /// The field the item names: `field`, else `loc` without the `request_data`/`body` prefix,
    /// joined with dots.
    pub fn field_path(&self) -> Option<String> {
        if let Some(f) = self.field.as_ref().filter(|f| !f.is_empty()) {
            return Some(f.clone());
        }
        let parts: Vec<String> = self
            .loc
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .skip_while(|p| p == "body" || p == "request_data")
            .collect();
        (!parts.is_empty()).then(|| parts.join("."))
    }

    pub fn text(&self) -> Option<&str> {
        self.msg.as_deref().or(self.message.as_deref())
    }
}

/// `err_extra`: `null`, a string, or a list of validation items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(untagged)]
pub enum ErrExtra {
    #[default]
    None,
    Fields(Vec<FieldError>),
    Text(String),
    Other(Value),
}

impl ErrExtra {
    pub fn fields(&self) -> &[FieldError] {
        match self {
            ErrExtra::Fields(f) => f,
            _ => &[],
        }
    }
}

/// The error body of an onboarding endpoint (inside `reply`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorReply {
    pub err_code: ErrCode,
    #[serde(default)]
    pub err_msg: String,
    #[serde(default, deserialize_with = "extra_or_none")]
    pub err_extra: ErrExtra,
}

fn extra_or_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ErrExtra, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(match v {
        Value::Null => ErrExtra::None,
        Value::String(s) => ErrExtra::Text(s),
        Value::Array(_) => serde_json::from_value(v.clone())
            .map(ErrExtra::Fields)
            .unwrap_or(ErrExtra::Other(v)),
        other => ErrExtra::Other(other),
    })
}

impl ErrorReply {
    pub fn new(code: i64, msg: impl Into<String>) -> Self {
        Self {
            err_code: ErrCode::Int(code),
            err_msg: msg.into(),
            err_extra: ErrExtra::None,
        }
    }

    pub fn with_fields(mut self, fields: Vec<FieldError>) -> Self {
        self.err_extra = ErrExtra::Fields(fields);
        self
    }

    /// The body the emulator sends, `{"reply": {...}}`.
    pub fn to_body(&self) -> Value {
        serde_json::json!({ "reply": self })
    }

    /// Reads an error from a body: the `reply.err_*` shape, or the root-level
    /// `{"err_code", "err_msg", "metadata": {...}}` other Cortex modules use.
    pub fn from_body(body: &[u8]) -> Option<Self> {
        let v: Value = serde_json::from_slice(body).ok()?;
        let inner = v
            .get("reply")
            .filter(|r| r.get("err_code").is_some())
            .unwrap_or(&v);
        if inner.get("err_code").is_none() && inner.get("err_msg").is_none() {
            return None;
        }
        let mut obj = inner.clone();
        if obj.get("err_code").is_none() {
            obj["err_code"] = Value::from(0);
        }
        if obj.get("err_extra").is_none()
            && let Some(extra) = inner.pointer("/metadata/err_extra")
        {
            obj["err_extra"] = extra.clone();
        }
        serde_json::from_value(obj).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_every_shape_decode() {
        let real = br#"{"reply": {"err_code": 401, "err_msg": "Public API request unauthorized", "err_extra": null}}"#;
        let e = ErrorReply::from_body(real).unwrap();
        assert_eq!(e.err_code, ErrCode::Int(401));
        assert_eq!(e.err_extra, ErrExtra::None);
        let doc = br#"{"reply": {"err_code": "422", "err_msg": "bad", "err_extra": [{"type": "missing", "loc": ["body", "request_data", "scope"], "msg": "Field required", "input": {}}]}}"#;
        let e = ErrorReply::from_body(doc).unwrap();
        assert_eq!(e.err_code.to_string(), "422");
        assert_eq!(
            e.err_extra.fields()[0].field_path().as_deref(),
            Some("scope")
        );
        let root = br#"{"err_code": 500, "err_msg": "boom", "metadata": {"err_extra": "detail"}}"#;
        assert_eq!(
            ErrorReply::from_body(root).unwrap().err_extra,
            ErrExtra::Text("detail".into())
        );
        assert!(ErrorReply::from_body(b"<html>").is_none());
        assert!(ErrorReply::from_body(br#"{"reply": {}}"#).is_none());
        let indexed = FieldError {
            loc: vec!["request_data".into(), "ids".into(), 0.into()],
            ..Default::default()
        };
        assert_eq!(indexed.field_path().as_deref(), Some("ids.0"));
    }
}
