//! Deserializers for the places where sources disagree (fact sheet §3.3, §13).
//!
//! * Configuration fields (`collection_configuration`, `additional_capabilities`,
//!   `custom_resources_tags`) arrive as JSON-encoded strings (the SDK, real tenants) or as
//!   objects (a documentation example): [`json_or_string`] reads both.
//! * Timestamps arrive in seconds or milliseconds, as numbers or numeric strings:
//!   [`Millis`] reads all four and normalizes to milliseconds.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

// Each reader below is a `Visitor` over the value as the parser meets it, never a
// `serde_json::Value` first: a page of instance rows holds several of these fields per row,
// and building (then converting) a tree for each was most of the client's decoding time.

/// Reads `T` from the value itself or from a string holding its JSON. `null` and `""` read as
/// `T::default()`.
pub fn json_or_string<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    d.deserialize_any(JsonOrString(PhantomData))
}

struct JsonOrString<T>(PhantomData<T>);

impl<'de, T: DeserializeOwned + Default> Visitor<'de> for JsonOrString<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object, a list, or a string holding one as JSON")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<T, E> {
        if s.trim().is_empty() {
            return Ok(T::default());
        }
        serde_json::from_str(s).map_err(E::custom)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
        T::deserialize(SeqAccessDeserializer::new(seq))
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
        struct MillisVisitor;
        impl Visitor<'_> for MillisVisitor {
            type Value = Millis;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a timestamp: a number, or a string holding one")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Millis, E> {
                Ok(Millis::from_any(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Millis, E> {
                Ok(Millis::from_any(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Millis, E> {
                Ok(Millis::from_any(v as i64))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Millis, E> {
                s.trim()
                    .parse::<i64>()
                    .map(Millis::from_any)
                    .map_err(|_| E::custom(format!("timestamp {s:?} is not a number")))
            }
        }
        d.deserialize_any(MillisVisitor)
    }
}

/// A field that is sometimes a number and sometimes a numeric string, read as a string.
pub fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct Text;
    impl<'de> Visitor<'de> for Text {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string (or a number or boolean, read as text)")
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<String, E> {
            Ok(String::new())
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<String, E> {
            Ok(String::new())
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<String, E> {
            Ok(s.to_owned())
        }
        fn visit_string<E: serde::de::Error>(self, s: String) -> Result<String, E> {
            Ok(s)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<String, E> {
            // As serde_json writes it (`1.0`, not `1`).
            Ok(serde_json::Number::from_f64(v)
                .map(|n| n.to_string())
                .unwrap_or_default())
        }
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    d.deserialize_any(Text)
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
        assert!(serde_json::from_str::<Holder>(r#"{"cfg":7,"at":0}"#).is_err());
        assert!(serde_json::from_str::<Holder>(r#"{"at":[1]}"#).is_err());
        // The same from a `Value` (the emulator parses request bodies that way).
        let v = serde_json::json!({"cfg": "{\"enabled\": true}", "at": "1709903622"});
        let h: Holder = serde_json::from_value(v).unwrap();
        assert_eq!((h.cfg, h.at.0), (Cfg { enabled: true }, 1_709_903_622_000));
    }

    #[test]
    fn numbers_and_booleans_read_as_text() {
        #[derive(Deserialize)]
        struct T {
            #[serde(deserialize_with = "string_or_number")]
            s: String,
        }
        for (body, want) in [
            (r#"{"s":"x"}"#, "x"),
            (r#"{"s":12}"#, "12"),
            (r#"{"s":-3}"#, "-3"),
            (r#"{"s":1.5}"#, "1.5"),
            (r#"{"s":true}"#, "true"),
            (r#"{"s":null}"#, ""),
        ] {
            assert_eq!(serde_json::from_str::<T>(body).unwrap().s, want, "{body}");
        }
        assert!(serde_json::from_str::<T>(r#"{"s":{}}"#).is_err());
    }
}
