//! The authentication headers of one attempt (fact sheet §2.2–2.3).
//!
//! * standard key: `Authorization: <key>`, `x-xdr-auth-id: <id>`;
//! * advanced key: `x-xdr-nonce` = 64 characters of `[A-Za-z0-9]` from the OS-seeded RNG,
//!   `x-xdr-timestamp` = now in milliseconds, `Authorization` = lower-case hex
//!   SHA-256(key + nonce + timestamp). Computed afresh for every attempt, retries included.
//!
//! Every value is marked sensitive, so `http`'s `Debug` prints `Sensitive`.

use std::time::{SystemTime, UNIX_EPOCH};

use cortex_cloud_types::{ApiKey, KeyType};
use http::{HeaderMap, HeaderValue};
use rand::Rng;
use sha2::{Digest, Sha256};

pub const AUTH_ID_HEADER: &str = "x-xdr-auth-id";
pub const NONCE_HEADER: &str = "x-xdr-nonce";
pub const TIMESTAMP_HEADER: &str = "x-xdr-timestamp";

const NONCE_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// 64 characters of `[A-Za-z0-9]`.
pub fn nonce() -> String {
    let mut rng = rand::rng();
    (0..64)
        .map(|_| char::from(NONCE_CHARS[rng.random_range(0..NONCE_CHARS.len())]))
        .collect()
}

/// Lower-case hex SHA-256 of key + nonce + timestamp.
pub fn advanced_hash(key: &str, nonce: &str, timestamp: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::new()
        .chain_update(key.as_bytes())
        .chain_update(nonce.as_bytes())
        .chain_update(timestamp.as_bytes())
        .finalize();
    let mut out = String::with_capacity(64);
    for b in digest.iter() {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn sensitive(value: &str) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(value).ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// The headers for one attempt. `None` only if the key holds bytes a header cannot carry
/// (refused earlier by [`ApiKey::new`]).
pub fn headers(key: &ApiKey) -> Option<HeaderMap> {
    let mut h = HeaderMap::with_capacity(4);
    h.insert(AUTH_ID_HEADER, HeaderValue::from(key.id.get()));
    match key.kind {
        KeyType::Standard => {
            h.insert(http::header::AUTHORIZATION, sensitive(key.key.expose())?);
        }
        KeyType::Advanced => {
            let nonce = nonce();
            let timestamp = now_ms().to_string();
            let hash = advanced_hash(key.key.expose(), &nonce, &timestamp);
            h.insert(http::header::AUTHORIZATION, sensitive(&hash)?);
            h.insert(NONCE_HEADER, sensitive(&nonce)?);
            h.insert(TIMESTAMP_HEADER, HeaderValue::from_str(&timestamp).ok()?);
        }
    }
    Some(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cortex_cloud_types::{KeyId, SecretString};

    #[test]
    fn the_hash_recipe_matches_a_known_vector() {
        // sha256("abc") — the key + nonce + timestamp concatenation is plain UTF-8.
        assert_eq!(
            advanced_hash("a", "b", "c"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn advanced_headers_are_fresh_and_never_carry_the_key() {
        let key = ApiKey::new(
            KeyId::new(12).unwrap(),
            SecretString::from("canary-cortex-key-0123456789"),
            KeyType::Advanced,
        )
        .unwrap();
        let a = headers(&key).unwrap();
        let b = headers(&key).unwrap();
        let nonce = a[NONCE_HEADER].to_str().unwrap();
        assert_eq!(nonce.len(), 64);
        assert!(nonce.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a[NONCE_HEADER], b[NONCE_HEADER]);
        let auth = a["authorization"].to_str().unwrap();
        assert_eq!(
            auth,
            advanced_hash(
                key.key.expose(),
                nonce,
                a[TIMESTAMP_HEADER].to_str().unwrap()
            )
        );
        assert!(
            a.values()
                .all(|v| !v.to_str().unwrap_or_default().contains("canary"))
        );
        assert_eq!(a[AUTH_ID_HEADER], "12");
        assert!(!format!("{a:?}").contains("canary"));
        let ts: u128 = a[TIMESTAMP_HEADER].to_str().unwrap().parse().unwrap();
        assert!(ts > 1_600_000_000_000, "milliseconds");
    }
}
