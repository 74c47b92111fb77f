//! The tenant's token-signing keys: RSA 2048 (aws-lc), published as a JWKS, rotated on request.
//!
//! Entra ID signs with one key at a time and keeps the previous ones in its JWKS for a while,
//! so that tokens signed just before a rotation still verify; clients are expected to refetch
//! the JWKS when a token names a `kid` they do not know. [`KeyRing`] does the same: a rotation
//! makes a new signing key and keeps the old ones published for [`KeyRing::retention`].

use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// One RSA signing key and its public half in JWK terms.
pub struct SigningKey {
    pub kid: String,
    pair: KeyPair,
    /// Base64url big-endian modulus and exponent.
    n: String,
    e: String,
}

#[derive(Debug, thiserror::Error)]
#[error("RSA: {0}")]
pub struct KeyError(&'static str);

impl SigningKey {
    /// A fresh RSA 2048 key with a random `kid`.
    pub fn generate() -> Result<Self, KeyError> {
        let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError("key generation"))?;
        let (n, e) = rsa_public_components(pair.public_key().as_ref())
            .map(|(n, e)| (URL_SAFE_NO_PAD.encode(n), URL_SAFE_NO_PAD.encode(e)))
            .ok_or(KeyError("cannot read the public key"))?;
        // Entra's kids are base64url SHA-1 thumbprints of the certificate (27 characters);
        // ours are 20 random bytes in the same alphabet.
        let kid = URL_SAFE_NO_PAD.encode(random_bytes::<20>());
        Ok(Self { kid, pair, n, e })
    }

    /// The JWK Entra publishes for a signing key (`x5t`/`x5c` left out: we have no
    /// certificate, and clients verify with `n`/`e`).
    pub fn jwk(&self, issuer: &str) -> Value {
        json!({
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "n": self.n,
            "e": self.e,
            "issuer": issuer,
        })
    }

    /// A compact JWS (RS256) of `claims` with `kid` in the header.
    pub fn sign_jwt(&self, kid: &str, claims: &Value) -> Result<String, KeyError> {
        let header = json!({"typ": "JWT", "alg": "RS256", "kid": kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| KeyError("signing"))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

/// `N` bytes from the system's random source.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    use aws_lc_rs::rand::SecureRandom as _;
    let mut bytes = [0u8; N];
    // The system generator does not fail on Linux; a zeroed buffer would only weaken a test.
    let _ = SystemRandom::new().fill(&mut bytes);
    bytes
}

/// Reads one DER element: `(tag, contents, rest)`.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[count..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// `(modulus, exponent)` of an RFC 8017 `RSAPublicKey` (DER `SEQUENCE { INTEGER, INTEGER }`),
/// without the sign byte DER puts before a high bit.
fn rsa_public_components(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (0x30, body, _) = der_element(der)? else {
        return None;
    };
    let (0x02, n, rest) = der_element(body)? else {
        return None;
    };
    let (0x02, e, _) = der_element(rest)? else {
        return None;
    };
    let trim = |v: &[u8]| -> usize { v.iter().take_while(|b| **b == 0).count() };
    Some((&n[trim(n)..], &e[trim(e)..]))
}

/// The signing key and the retired ones still published.
pub struct KeyRing {
    current: SigningKey,
    retired: Vec<(SigningKey, Instant)>,
    /// How long a retired key stays in the JWKS.
    pub retention: Duration,
}

impl KeyRing {
    pub fn new(retention: Duration) -> Result<Self, KeyError> {
        Ok(Self {
            current: SigningKey::generate()?,
            retired: Vec::new(),
            retention,
        })
    }

    pub fn current(&self) -> &SigningKey {
        &self.current
    }

    /// A new signing key; the old one stays published for `retention`. Returns the new `kid`.
    pub fn rotate(&mut self) -> Result<String, KeyError> {
        let next = SigningKey::generate()?;
        let old = std::mem::replace(&mut self.current, next);
        self.retired.push((old, Instant::now()));
        self.prune();
        Ok(self.current.kid.clone())
    }

    fn prune(&mut self) {
        let retention = self.retention;
        self.retired.retain(|(_, at)| at.elapsed() < retention);
    }

    /// The published key set: the current key first, then the retired ones still kept.
    pub fn jwks(&mut self, issuer: &str) -> Value {
        self.prune();
        let keys: Vec<Value> = std::iter::once(&self.current)
            .chain(self.retired.iter().rev().map(|(k, _)| k))
            .map(|k| k.jwk(issuer))
            .collect();
        json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_components_are_read_from_der() {
        // SEQUENCE { INTEGER 0x00 0xC1 0x02, INTEGER 0x01 0x00 0x01 }
        let der = [
            0x30, 0x0a, 0x02, 0x03, 0x00, 0xc1, 0x02, 0x02, 0x03, 0x01, 0x00, 0x01,
        ];
        let (n, e) = rsa_public_components(&der).unwrap();
        assert_eq!(n, [0xc1, 0x02]);
        assert_eq!(e, [0x01, 0x00, 0x01]);
        assert!(rsa_public_components(&der[..5]).is_none());
    }

    #[test]
    fn rotation_keeps_the_old_key_published_for_a_while() {
        let mut ring = KeyRing::new(Duration::from_secs(3600)).unwrap();
        let first = ring.current().kid.clone();
        let second = ring.rotate().unwrap();
        assert_ne!(first, second);
        let jwks = ring.jwks("iss");
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, [second.as_str(), first.as_str()]);
        assert_eq!(jwks["keys"][0]["e"], "AQAB");

        let mut short = KeyRing::new(Duration::ZERO).unwrap();
        short.rotate().unwrap();
        assert_eq!(short.jwks("iss")["keys"].as_array().unwrap().len(), 1);
    }
}
