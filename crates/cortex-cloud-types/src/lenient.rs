//! Deserializers for the places where sources disagree (fact sheet §3.3, §13).
//!
//! * Configuration fields (`collection_configuration`, `additional_capabilities`,
//!   `custom_resources_tags`) arrive as JSON-encoded strings (the SDK, real tenants) or as
//!   objects (a documentation example): [`json_or_string`] reads both.
//! * Timestamps arrive in seconds or milliseconds, as numbers or numeric strings:
//!   [`Millis`] reads all four and normalizes to milliseconds.

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Reads `T` from the value itself or from a string holding its JSON. `null` and `""` read as
/// `T::default()`.
pub fn json_or_string<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    match Value::deserialize(d)? {
        Value::Null => Ok(T::default()),
        Value::String(s) if s.trim().is_empty() => Ok(T::default()),
        Value::String(s) => serde_json::from_str(&s).map_err(D::Error::custom),
        other => serde_json::from_value(other).map_err(D::Error::custom),
    }
}

/// Serializes `T` as a JSON-encoded string, the way real tenants send these fields.
pub fn to_json_string<S: serde::Serializer, T: Serialize>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    let text = serde_json::to_string(v).map_err(serde::ser::Error::custom)?;
    s.serialize_str(&text)
}

/// Below this a timestamp is taken as seconds (10^11 s is the year 5138; 10^11 ms is 1973).
const SECONDS_BELOW: i64 = 100_000_000_000;

/// Milliseconds since the epoch, read from seconds or ms, number or numeric string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Default)]
#[serde(transparent)]
pub struct Millis(pub i64);

impl Millis {
    pub fn from_any(raw: i64) -> Self {
        if raw.abs() < SECONDS_BELOW {
            Millis(raw.saturating_mul(1000))
        } else {
            Millis(raw)
        }
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().map(|f| f as i64))
                .map(Millis::from_any)
                .ok_or_else(|| D::Error::custom("timestamp out of range")),
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .map(Millis::from_any)
                .map_err(|_| D::Error::custom(format!("timestamp {s:?} is not a number"))),
            other => Err(D::Error::custom(format!(
                "timestamp must be a number, got {other}"
            ))),
        }
    }
}

/// A field that is sometimes a number and sometimes a numeric string, read as a string.
pub fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(D::Error::custom(format!("expected a string, got {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Default, Debug, PartialEq)]
    struct Cfg {
        enabled: bool,
    }

    #[derive(Deserialize)]
    struct Holder {
        #[serde(deserialize_with = "json_or_string", default)]
        cfg: Cfg,
        at: Millis,
    }

    #[test]
    fn stringified_and_object_configuration_both_read() {
        for body in [
            r#"{"cfg":"{\"enabled\": true}","at":1709903622007}"#,
            r#"{"cfg":{"enabled":true},"at":1709903622}"#,
            r#"{"cfg":{"enabled":true},"at":"1709903622007"}"#,
        ] {
            let h: Holder = serde_json::from_str(body).unwrap();
            assert_eq!(h.cfg, Cfg { enabled: true }, "{body}");
            assert_eq!(h.at.0 / 1000, 1_709_903_622, "{body}");
        }
        let h: Holder = serde_json::from_str(r#"{"cfg":null,"at":0}"#).unwrap();
        assert_eq!(h.cfg, Cfg::default());
        assert!(serde_json::from_str::<Holder>(r#"{"cfg":"{not json","at":0}"#).is_err());
        assert!(serde_json::from_str::<Holder>(r#"{"at":"soon"}"#).is_err());
    }
}
