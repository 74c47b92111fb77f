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

use std::collections::{HashMap, VecDeque};
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

/// Nonces seen within the window, with when they were first used.
#[derive(Default)]
pub struct NonceBook {
    seen: Mutex<Seen>,
}

/// The nonces by value, and the same in the order they arrived, so the expired ones are
/// dropped from the front — constant work per request however many are in the window (a
/// sweep over the whole map once it held 10,000 made every request at saturation pay for
/// all of them).
#[derive(Default)]
struct Seen {
    at: HashMap<String, i64>,
    order: VecDeque<(i64, String)>,
}

impl NonceBook {
    /// Records `nonce`; false when it was already used within `window_ms` of `now_ms`.
    fn first_use(&self, nonce: &str, now_ms: i64, window_ms: i64) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let Seen { at, order } = &mut *seen;
        while let Some((first, _)) = order.front()
            && now_ms - *first > window_ms
        {
            let (first, old) = order.pop_front().expect("front exists");
            if at.get(&old) == Some(&first) {
                at.remove(&old);
            }
        }
        match at.get(nonce) {
            Some(used) if now_ms - *used <= window_ms => false,
            _ => {
                at.insert(nonce.to_owned(), now_ms);
                order.push_back((now_ms, nonce.to_owned()));
                true
            }
        }
    }
}

/// Lower-case hex SHA-256 of key + nonce + timestamp.
pub fn advanced_hash(key: &str, nonce: &str, timestamp: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut h = Sha256::new();
    h.update(key.as_bytes());
    h.update(nonce.as_bytes());
    h.update(timestamp.as_bytes());
    let mut out = String::with_capacity(64);
    for b in h.finalize() {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
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
    fn the_nonce_book_forgets_only_what_left_the_window() {
        let book = NonceBook::default();
        let window = 300_000;
        for n in 0..20_000i64 {
            assert!(book.first_use(&format!("n{n}"), n, window));
        }
        assert!(
            !book.first_use("n0", 20_000, window),
            "still within the window"
        );
        let len = |b: &NonceBook| b.seen.lock().unwrap().at.len();
        assert_eq!(len(&book), 20_000);
        // 300 s later the first 10,000 have left the window: dropped, and usable again.
        assert!(book.first_use("n0", 310_000, window));
        assert_eq!(len(&book), 10_001, "10,000 left, n0 is back");
        assert!(!book.first_use("n15000", 310_000, window));
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
