//! Checking an API key the way Cortex does (fact sheet §2).
//!
//! * standard: `Authorization` is the key itself;
//! * advanced: `Authorization` is lower-case hex SHA-256 of key + `x-xdr-nonce` +
//!   `x-xdr-timestamp` (ms). The timestamp must be within [`CortexConfig::auth_window`] of
//!   the emulator's clock and a nonce is accepted once within that window (a replayed request
//!   is refused) — the emulator's choice, the real checks are unconfirmed.
//!
//! A key of the other type than the one sent, an unknown id, a wrong hash: all one 401
//! `Public API request unauthorized`, as the real service answers; the reason is logged
//! (never the key or the hash).

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::HeaderMap;
use cortex_cloud_types::{KeyId, KeyType};
use sha2::{Digest, Sha256};

use super::config::CortexConfig;

pub const AUTH_ID_HEADER: &str = "x-xdr-auth-id";
pub const NONCE_HEADER: &str = "x-xdr-nonce";
pub const TIMESTAMP_HEADER: &str = "x-xdr-timestamp";

/// Why a request was refused (for the log and the counters; the client sees one 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    MissingHeaders,
    UnknownKey,
    WrongKey,
    StaleTimestamp,
    ReplayedNonce,
    BadNonce,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::MissingHeaders => "missing Authorization or x-xdr-auth-id",
            Refusal::UnknownKey => "unknown key id",
            Refusal::WrongKey => "key or hash does not match (or the key is of the other type)",
            Refusal::StaleTimestamp => "x-xdr-timestamp outside the accepted window",
            Refusal::ReplayedNonce => "x-xdr-nonce already used within the window",
            Refusal::BadNonce => "x-xdr-nonce is not 16 to 128 letters and digits",
        }
    }
}

/// Nonces seen within the window, with their timestamps.
#[derive(Default)]
pub struct NonceBook {
    seen: Mutex<HashMap<String, i64>>,
}

impl NonceBook {
    /// Records `nonce`; false when it was already used within `window_ms` of `now_ms`.
    fn first_use(&self, nonce: &str, now_ms: i64, window_ms: i64) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() > 10_000 {
            seen.retain(|_, at| now_ms - *at <= window_ms);
        }
        match seen.get(nonce) {
            Some(at) if now_ms - *at <= window_ms => false,
            _ => {
                seen.insert(nonce.to_owned(), now_ms);
                true
            }
        }
    }
}

/// Lower-case hex SHA-256 of key + nonce + timestamp.
pub fn advanced_hash(key: &str, nonce: &str, timestamp: &str) -> String {
    let mut h = Sha256::new();
    h.update(key.as_bytes());
    h.update(nonce.as_bytes());
    h.update(timestamp.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

/// Checks a request's key headers; returns the key id it authenticated as.
pub fn verify(
    config: &CortexConfig,
    nonces: &NonceBook,
    headers: &HeaderMap,
    now_ms: i64,
) -> Result<KeyId, Refusal> {
    let (Some(authorization), Some(id)) = (
        header(headers, "authorization"),
        header(headers, AUTH_ID_HEADER),
    ) else {
        return Err(Refusal::MissingHeaders);
    };
    let id: KeyId = id.parse().map_err(|_| Refusal::UnknownKey)?;
    let key = config.key(id).ok_or(Refusal::UnknownKey)?;
    let nonce = header(headers, NONCE_HEADER);
    let timestamp = header(headers, TIMESTAMP_HEADER);
    match key.kind {
        KeyType::Standard => {
            if constant_time_eq(authorization.as_bytes(), key.key.expose().as_bytes()) {
                Ok(id)
            } else {
                Err(Refusal::WrongKey)
            }
        }
        KeyType::Advanced => {
            let (Some(nonce), Some(timestamp)) = (nonce, timestamp) else {
                return Err(Refusal::WrongKey);
            };
            let expected = advanced_hash(key.key.expose(), nonce, timestamp);
            if !constant_time_eq(
                authorization.to_ascii_lowercase().as_bytes(),
                expected.as_bytes(),
            ) {
                return Err(Refusal::WrongKey);
            }
            let ts: i64 = timestamp.parse().map_err(|_| Refusal::StaleTimestamp)?;
            let window = config.auth_window.as_millis() as i64;
            if (now_ms - ts).abs() > window {
                return Err(Refusal::StaleTimestamp);
            }
            if !(16..=128).contains(&nonce.len())
                || !nonce.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                return Err(Refusal::BadNonce);
            }
            if !nonces.first_use(nonce, now_ms, window) {
                return Err(Refusal::ReplayedNonce);
            }
            Ok(id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cortex_cloud_types::SecretString;

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn advanced_keys_check_hash_window_and_replay() {
        let key = "k".repeat(40);
        let config = CortexConfig::new(
            KeyId::new(9).unwrap(),
            SecretString::from(key.clone()),
            KeyType::Advanced,
        );
        let book = NonceBook::default();
        let now = 1_760_000_000_000i64;
        let nonce = "A".repeat(64);
        let ts = now.to_string();
        let signed = |nonce: &str, ts: &str| {
            headers(&[
                ("authorization", advanced_hash(&key, nonce, ts)),
                (AUTH_ID_HEADER, "9".into()),
                (NONCE_HEADER, nonce.into()),
                (TIMESTAMP_HEADER, ts.into()),
            ])
        };
        assert_eq!(
            verify(&config, &book, &signed(&nonce, &ts), now),
            Ok(KeyId::new(9).unwrap())
        );
        assert_eq!(
            verify(&config, &book, &signed(&nonce, &ts), now),
            Err(Refusal::ReplayedNonce)
        );
        let old = (now - 301_000).to_string();
        assert_eq!(
            verify(&config, &book, &signed(&"B".repeat(64), &old), now),
            Err(Refusal::StaleTimestamp)
        );
        let mut wrong = signed(&"C".repeat(64), &ts);
        wrong.insert(
            "authorization",
            advanced_hash("other", &"C".repeat(64), &ts)
                .parse()
                .unwrap(),
        );
        assert_eq!(verify(&config, &book, &wrong, now), Err(Refusal::WrongKey));
        // The raw key is refused for an advanced key.
        let raw = headers(&[("authorization", key.clone()), (AUTH_ID_HEADER, "9".into())]);
        assert_eq!(verify(&config, &book, &raw, now), Err(Refusal::WrongKey));
        let unknown = headers(&[
            ("authorization", key.clone()),
            (AUTH_ID_HEADER, "10".into()),
        ]);
        assert_eq!(
            verify(&config, &book, &unknown, now),
            Err(Refusal::UnknownKey)
        );
        // The docs' sample timestamp (whole seconds × 1000) is a valid ms value.
        let whole = (now / 1000 * 1000).to_string();
        assert!(verify(&config, &book, &signed(&"D".repeat(64), &whole), now).is_ok());
    }

    #[test]
    fn standard_keys_compare_the_key() {
        let key = "s".repeat(40);
        let config = CortexConfig::new(
            KeyId::new(3).unwrap(),
            SecretString::from(key.clone()),
            KeyType::Standard,
        );
        let book = NonceBook::default();
        let ok = headers(&[("authorization", key), (AUTH_ID_HEADER, "3".into())]);
        assert!(verify(&config, &book, &ok, 0).is_ok());
        let bad = headers(&[
            ("authorization", "x".repeat(40)),
            (AUTH_ID_HEADER, "3".into()),
        ]);
        assert_eq!(verify(&config, &book, &bad, 0), Err(Refusal::WrongKey));
        assert_eq!(
            verify(&config, &book, &HeaderMap::new(), 0),
            Err(Refusal::MissingHeaders)
        );
    }
}
