//! Input parsed at the edge: JSON bodies (content type, size, shape — with the bad field named
//! and no value echoed), ids in paths, query strings, the client's address.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, redact_serde_message};

/// A JSON body of type `T`. Refuses other content types (415), bodies over the limit (413),
/// malformed JSON (400 `invalid_json`) and the wrong shape (400 `invalid_body`, naming the
/// field).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(ApiError::for_status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::for_status(StatusCode::PAYLOAD_TOO_LARGE)
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    "the body could not be read",
                )
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses JSON, naming the field at fault.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let result: Result<T, _> = serde_path_to_error::deserialize(de);
    result.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_json",
                    format!(
                        "the body is not valid JSON (line {}, column {})",
                        inner.line(),
                        inner.column()
                    ),
                )
            }
            _ => {
                let message = redact_serde_message(&inner.to_string());
                let mut err = ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    if path == "." {
                        message.clone()
                    } else {
                        format!("{path}: {message}")
                    },
                );
                let field = field_of(&path, &message);
                if let Some(field) = field {
                    err = err.field(field);
                }
                err
            }
        }
    })
}

/// The field of a serde error: its path, or (for unknown/missing fields at the top) the name
/// serde quotes.
fn field_of(path: &str, message: &str) -> Option<String> {
    let quoted = || {
        let start = message.find('`')? + 1;
        let len = message[start..].find('`')?;
        Some(message[start..start + len].to_owned())
    };
    if message.starts_with("unknown field") && path != "." {
        // serde_path_to_error's path already ends with the unknown key.
        return Some(path.to_owned());
    }
    if message.starts_with("unknown field") || message.starts_with("missing field") {
        let name = quoted()?;
        return Some(if path == "." {
            name
        } else {
            format!("{path}.{name}")
        });
    }
    (path != ".").then(|| path.to_owned())
}

/// Parses an id from a path segment (`JobId`, `BatchId`, …: UUIDs).
pub fn parse_id<T: std::str::FromStr>(field: &str, raw: &str) -> Result<T, ApiError> {
    raw.parse::<T>()
        .map_err(|_| ApiError::bad_parameter(field, format!("{field} must be a UUID")))
}

/// Parses a query string into `T` (400 `invalid_parameter` otherwise).
pub fn parse_query<T: DeserializeOwned>(raw: Option<&str>) -> Result<T, ApiError> {
    let raw = raw.unwrap_or("");
    let pairs = form_pairs(raw);
    let map: serde_json::Map<String, serde_json::Value> = pairs
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    let result: Result<T, _> = serde_path_to_error::deserialize(serde_json::Value::Object(map));
    result.map_err(|e| {
        let path = e.path().to_string();
        let message = redact_serde_message(&e.into_inner().to_string());
        let field = field_of(&path, &message).unwrap_or_else(|| "query".into());
        ApiError::bad_parameter(&field, format!("query string: {message}"))
    })
}

/// A form body or query string, decoded once; what the pages read their fields from.
pub struct FormFields(Vec<(String, String)>);

impl FormFields {
    pub fn parse(raw: &str) -> Self {
        FormFields(form_pairs(raw))
    }

    /// The first value of `name`, as sent (empty when absent).
    pub fn raw(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// The first value of `name`, trimmed (empty when absent).
    pub fn get(&self, name: &str) -> String {
        self.raw(name).trim().to_owned()
    }

    /// Every value of `name` (ticked checkboxes), in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// `a=1&b=x+y` → pairs, percent-decoded (invalid escapes are kept as they are).
pub fn form_pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Numbers from query strings arrive as strings: these accept both.
pub mod lenient {
    use serde::{Deserialize, Deserializer};

    pub fn opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u32),
            S(String),
        }
        match Option::<Raw>::deserialize(d)? {
            None => Ok(None),
            Some(Raw::N(n)) => Ok(Some(n)),
            Some(Raw::S(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| serde::de::Error::custom("expected a non-negative integer")),
        }
    }

    pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            B(bool),
            S(String),
        }
        match Option::<Raw>::deserialize(d)? {
            None => Ok(None),
            Some(Raw::B(b)) => Ok(Some(b)),
            Some(Raw::S(s)) => match s.trim() {
                "true" | "1" => Ok(Some(true)),
                "false" | "0" => Ok(Some(false)),
                _ => Err(serde::de::Error::custom("expected true or false")),
            },
        }
    }
}

/// The client's address (the TCP peer; forwarded headers are not trusted), or unspecified
/// when the server runs without connect info.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
                .unwrap_or(IpAddr::from([0, 0, 0, 0])),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        enabled: Option<bool>,
    }

    #[test]
    fn shape_errors_name_the_field_and_hide_the_value() {
        let e = parse_json::<Body>(br#"{"name":"a","enabled":"CANARY-X"}"#).unwrap_err();
        assert_eq!(e.code(), "invalid_body");
        assert_eq!(e.body.field.as_deref(), Some("enabled"));
        assert!(!e.body.message.contains("CANARY"), "{}", e.body.message);
        let e = parse_json::<Body>(br#"{"name":"a","bogus":1}"#).unwrap_err();
        assert_eq!(e.body.field.as_deref(), Some("bogus"));
        let e = parse_json::<Body>(br#"{}"#).unwrap_err();
        assert_eq!(e.body.field.as_deref(), Some("name"));
        let e = parse_json::<Body>(b"{nope").unwrap_err();
        assert_eq!(e.code(), "invalid_json");
    }

    #[test]
    fn form_pairs_decode() {
        assert_eq!(
            form_pairs("a=1&b=x+y%21&c"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y!".into()),
                ("c".into(), String::new())
            ]
        );
        assert_eq!(form_pairs("x=%zz%4"), vec![("x".into(), "%zz%4".into())]);
    }
}
