//! Sessions as the real service issues them: HS256 JWTs with `exp = iat + ttl`, carried in
//! `x-redlock-auth`, refreshable with `GET /auth_token/extend` while still valid.

use std::time::Duration;

use axum::http::StatusCode;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use prisma_types::SecretString;
use serde::{Deserialize, Serialize};

use crate::clock::epoch_secs;
use crate::error::ApiFailure;

/// The claims of a token (names as observed in real access-key tokens).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Claims {
    pub sub: String,
    pub username: String,
    pub access_key_id: String,
    pub is_access_key_login: bool,
    pub selected_customer_name: String,
    pub prisma_id: String,
    pub user_role_type_name: String,
    pub session_timeout: u64,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    /// Unique per token, so two tokens minted in the same second differ.
    pub jti: String,
}

/// Why a token was refused; the variant picks the i18n key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    Missing,
    Expired,
    Invalid,
}

impl From<TokenError> for ApiFailure {
    fn from(e: TokenError) -> Self {
        let key = match e {
            TokenError::Missing => "auth_token_missing",
            TokenError::Expired => "token_expired",
            TokenError::Invalid => "invalid_auth_token",
        };
        ApiFailure::new(StatusCode::UNAUTHORIZED, key)
    }
}

pub struct TokenIssuer {
    keys: std::sync::RwLock<(EncodingKey, DecodingKey)>,
    ttl: Duration,
    issuer: String,
}

impl TokenIssuer {
    pub fn new(signing_secret: &[u8], ttl: Duration, issuer: String) -> Self {
        Self {
            keys: std::sync::RwLock::new(Self::key_pair(signing_secret)),
            ttl,
            issuer,
        }
    }

    fn key_pair(secret: &[u8]) -> (EncodingKey, DecodingKey) {
        (
            EncodingKey::from_secret(secret),
            DecodingKey::from_secret(secret),
        )
    }

    /// Signs with a new key: every token issued so far is refused from now on (as after a
    /// server-side session purge). Lets tests exercise the client's 401 → re-login path.
    pub fn rotate(&self, signing_secret: &[u8]) {
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Self::key_pair(signing_secret);
    }

    pub fn mint(&self, access_key_id: &str, customer: &str) -> SecretString {
        let iat = epoch_secs();
        let claims = Claims {
            sub: access_key_id.to_owned(),
            username: access_key_id.to_owned(),
            access_key_id: access_key_id.to_owned(),
            is_access_key_login: true,
            selected_customer_name: customer.to_owned(),
            prisma_id: format!("emulator-{customer}"),
            user_role_type_name: "System Admin".to_owned(),
            session_timeout: 60,
            iss: self.issuer.clone(),
            aud: self.issuer.clone(),
            iat,
            exp: iat + self.ttl.as_secs() as i64,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.0)
            .expect("HS256 encoding of plain claims cannot fail");
        SecretString::from(token)
    }

    /// Verifies the signature and expiry (no leeway: an expired token is expired).
    pub fn verify(&self, token: Option<&str>) -> Result<Claims, TokenError> {
        let token = token.filter(|t| !t.is_empty()).ok_or(TokenError::Missing)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_audience(&[self.issuer.as_str()]);
        validation.set_issuer(&[self.issuer.as_str()]);
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        match jsonwebtoken::decode::<Claims>(token, &keys.1, &validation) {
            Ok(data) => {
                // jsonwebtoken checks `exp < now`; the real service also refuses at `exp`.
                if data.claims.exp <= epoch_secs() {
                    Err(TokenError::Expired)
                } else {
                    Ok(data.claims)
                }
            }
            Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) => {
                Err(TokenError::Expired)
            }
            Err(_) => Err(TokenError::Invalid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_verify_and_expire() {
        let issuer = TokenIssuer::new(b"k", Duration::from_secs(600), "https://x".into());
        let t = issuer.mint("AK", "sandbox");
        let claims = issuer.verify(Some(t.expose())).unwrap();
        assert_eq!(claims.exp - claims.iat, 600);
        assert_eq!(claims.access_key_id, "AK");
        assert_eq!(issuer.verify(None).unwrap_err(), TokenError::Missing);
        assert_eq!(
            issuer.verify(Some("abc.def.ghi")).unwrap_err(),
            TokenError::Invalid
        );
        let zero = TokenIssuer::new(b"k", Duration::from_secs(0), "https://x".into());
        let t = zero.mint("AK", "sandbox");
        assert_eq!(
            zero.verify(Some(t.expose())).unwrap_err(),
            TokenError::Expired
        );
        let other = TokenIssuer::new(b"other", Duration::from_secs(600), "https://x".into());
        assert_eq!(
            other
                .verify(Some(issuer.mint("AK", "s").expose()))
                .unwrap_err(),
            TokenError::Invalid
        );
    }
}
