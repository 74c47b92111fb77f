//! Access tokens: RS256 JWTs signed by the emulated tenant, verified again by its ARM and
//! Graph faces (signature, expiry, audience); and the RS256 verification of client assertions.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _, RSA_PKCS1_SHA256, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Value, json};

use super::CloudKeyError;

pub(crate) fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

pub(crate) fn random_id() -> String {
    use aws_lc_rs::rand::SecureRandom as _;
    let mut bytes = [0u8; 24];
    let _ = SystemRandom::new().fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// One RSA key that signs tokens.
pub struct TokenKey {
    pair: KeyPair,
}

/// The claims ARM and Graph read from an access token.
#[derive(Clone, Debug, Deserialize)]
pub struct Claims {
    pub aud: String,
    pub oid: String,
    pub tid: String,
    pub exp: i64,
    #[serde(default)]
    pub appid: Option<String>,
    #[serde(default)]
    pub idtyp: Option<String>,
}

impl TokenKey {
    pub fn generate() -> Result<Self, CloudKeyError> {
        let pair =
            KeyPair::generate(KeySize::Rsa2048).map_err(|_| CloudKeyError("key generation"))?;
        Ok(Self { pair })
    }

    pub fn sign(&self, claims: &Value) -> Result<String, CloudKeyError> {
        let header = json!({"typ": "JWT", "alg": "RS256", "kid": "emulated"});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| CloudKeyError("signing"))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }

    /// The payload of a token this key signed, or why not.
    pub fn verify(&self, jwt: &str) -> Result<Value, &'static str> {
        verify_rs256(self.pair.public_key().as_ref(), jwt).map(|(_, payload)| payload)
    }
}

/// Splits a compact JWS and checks its RS256 signature with `public_key` (PKCS#1 or SPKI
/// DER); returns the header and the payload.
pub(crate) fn verify_rs256(public_key: &[u8], jwt: &str) -> Result<(Value, Value), &'static str> {
    let (header, payload) = decode_unverified(jwt)?;
    if header["alg"] != "RS256" {
        return Err("the token is not signed with RS256");
    }
    let (input, sig) = jwt.rsplit_once('.').ok_or("not a JWT")?;
    let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| "not a JWT")?;
    UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, public_key)
        .verify(input.as_bytes(), &sig)
        .map_err(|_| "the signature does not verify")?;
    Ok((header, payload))
}

/// Header and payload without checking anything.
pub(crate) fn decode_unverified(jwt: &str) -> Result<(Value, Value), &'static str> {
    let mut parts = jwt.split('.');
    let (Some(h), Some(p), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a JWT");
    };
    let decode = |s: &str| -> Result<Value, &'static str> {
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| "not a JWT")?;
        serde_json::from_slice(&bytes).map_err(|_| "not a JWT")
    };
    Ok((decode(h)?, decode(p)?))
}

/// A GUID derived from `input` (stable across runs, like Azure's ids for the same object).
pub(crate) fn stable_id(input: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, input.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}
