//! The session token: when it expires, when to refresh it, and which token a 401 spoke about.
//!
//! The token's lifetime is read from the JWT (`exp - iat`, measured from when we received it,
//! so a skewed clock does not matter); an opaque token is assumed to live 10 minutes. It is
//! refreshed ahead of expiry with a margin of a quarter of its life (at most 60 s). The
//! refresh itself is single-flight: callers that find the token stale queue on one mutex and
//! the first does the work — 200 concurrent calls with an expired token cause one login.

use std::sync::RwLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use prisma_types::SecretString;

const DEFAULT_TTL: Duration = Duration::from_secs(600);

struct Current {
    token: Option<SecretString>,
    refresh_at: Instant,
    expires_at: Instant,
    generation: u64,
    /// Set when the server refused the token: extend is pointless, log in.
    revoked: bool,
}

pub(crate) struct Session {
    current: RwLock<Current>,
    pub(crate) refresh: tokio::sync::Mutex<()>,
}

/// What a stale session allows.
pub(crate) enum Renewal {
    /// The token still lives: try `/auth_token/extend` with it.
    Extend(SecretString),
    /// Log in from scratch, for this reason.
    Login(&'static str),
}

impl Session {
    pub(crate) fn new() -> Self {
        let now = Instant::now();
        Self {
            current: RwLock::new(Current {
                token: None,
                refresh_at: now,
                expires_at: now,
                generation: 0,
                revoked: false,
            }),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// The token and its generation, if it does not need refreshing yet.
    pub(crate) fn fresh(&self) -> Option<(SecretString, u64)> {
        let c = self.current.read().unwrap_or_else(|p| p.into_inner());
        match &c.token {
            Some(t) if !c.revoked && Instant::now() < c.refresh_at => {
                Some((t.clone(), c.generation))
            }
            _ => None,
        }
    }

    pub(crate) fn renewal(&self) -> Renewal {
        let c = self.current.read().unwrap_or_else(|p| p.into_inner());
        match &c.token {
            None => Renewal::Login("first call"),
            Some(_) if c.revoked => Renewal::Login("token refused"),
            Some(t) if Instant::now() < c.expires_at => Renewal::Extend(t.clone()),
            Some(_) => Renewal::Login("token expired"),
        }
    }

    pub(crate) fn store(&self, token: SecretString, received: Instant) -> (SecretString, u64) {
        // `iat` and `exp` are whole seconds and `iat` is rounded down, so the token may have
        // been issued up to a second after `iat`: it can live one second less than `exp - iat`.
        let ttl = token_lifetime(token.expose())
            .map(|t| {
                t.saturating_sub(Duration::from_secs(1))
                    .max(Duration::from_millis(500))
            })
            .unwrap_or(DEFAULT_TTL);
        let margin = (ttl / 4).min(Duration::from_secs(60));
        let mut c = self.current.write().unwrap_or_else(|p| p.into_inner());
        c.token = Some(token.clone());
        c.expires_at = received + ttl;
        c.refresh_at = received + ttl - margin;
        c.generation += 1;
        c.revoked = false;
        (token, c.generation)
    }

    /// The server refused the token of `generation`; if it is still current, stop using it.
    pub(crate) fn revoke(&self, generation: u64) {
        let mut c = self.current.write().unwrap_or_else(|p| p.into_inner());
        if c.generation == generation {
            c.revoked = true;
        }
    }
}

/// `exp - iat` of a JWT, or `exp - now` when `iat` is missing; `None` for opaque tokens.
pub(crate) fn token_lifetime(token: &str) -> Option<Duration> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?.as_i64()?;
    let secs = match claims.get("iat").and_then(|v| v.as_i64()) {
        Some(iat) => exp - iat,
        None => exp - SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs() as i64,
    };
    (secs > 0).then(|| Duration::from_secs(secs as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", b(r#"{"alg":"HS256"}"#), b(claims))
    }

    #[test]
    fn lifetime_from_claims() {
        assert_eq!(
            token_lifetime(&jwt(r#"{"iat":100,"exp":700}"#)),
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            token_lifetime(&jwt(r#"{"iat":100,"exp":120}"#)),
            Some(Duration::from_secs(20))
        );
        assert_eq!(token_lifetime("opaque"), None);
        assert_eq!(token_lifetime(&jwt(r#"{"iat":100,"exp":50}"#)), None);
    }

    #[test]
    fn refresh_is_due_before_expiry_and_revocation_is_per_generation() {
        let s = Session::new();
        assert!(matches!(s.renewal(), Renewal::Login("first call")));
        let (_, g1) = s.store(
            SecretString::from(jwt(r#"{"iat":0,"exp":600}"#)),
            Instant::now(),
        );
        assert!(s.fresh().is_some());
        s.revoke(g1 + 1); // an older token's 401 does not affect the new one
        assert!(s.fresh().is_some());
        s.revoke(g1);
        assert!(s.fresh().is_none());
        assert!(matches!(s.renewal(), Renewal::Login("token refused")));
        // A 5-second token counts as 4 s (whole-second claims): due for refresh after 3 s,
        // extendable until 4 s.
        let t = Instant::now() - Duration::from_millis(3500);
        s.store(SecretString::from(jwt(r#"{"iat":0,"exp":5}"#)), t);
        assert!(s.fresh().is_none());
        assert!(matches!(s.renewal(), Renewal::Extend(_)));
    }
}
