//! Single sign-on with OpenID Connect (authorization-code flow with PKCE S256, `state` and
//! `nonce`), Entra ID as the documented default (`docs/sso.md`).
//!
//! * [`OidcSettings`] — the `[oidc]` table of the server's TOML file and `CORTEX_WEB_OIDC_*`;
//!   checked into [`OidcConfig`] (the client secret comes from a file or the environment only).
//! * [`OidcClient`] — the relying party: discovery (cached; its `issuer` must be the configured
//!   one), the token request over our reqwest (no redirects followed), and the ID token's
//!   validation with `jsonwebtoken`: RS256 only, signature from the provider's JWKS (refetched
//!   once when a token names a `kid` we do not have — key rotation), `iss`, `aud`, `exp`/`nbf`
//!   (60 s leeway), then our `nonce`.
//! * [`Refusal`] — every reason a sign-in is refused, with a stable code and a sentence for
//!   the page; none carries a token.
//! * Roles: [`OidcConfig::role_for`] maps Entra group object ids (`groups` claim) and app role
//!   values (`roles` claim) to viewer/operator/admin, the highest match winning. A token with
//!   the groups *overage* marker (`_claim_names.groups`: the user is in more groups than fit in
//!   a token) is not followed to Graph: the choice, and the app-roles alternative, are in
//!   `docs/sso.md`.
//!
//! The handlers are in [`super::oidc_pages`]; the pending logins (state → nonce, PKCE
//! verifier) and the SSO users in [`super::oidc_store`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use prisma_types::SecretString;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::auth::Role;
use crate::config::ConfigError;

/// The `[oidc]` table (and `CORTEX_WEB_OIDC_*`). Every field optional; [`OidcConfig::check`]
/// says what is missing.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// The authority: for Entra ID `https://login.microsoftonline.com/<tenant id>/v2.0`.
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    /// A file holding the client secret (only the secret; surrounding whitespace ignored).
    pub client_secret_file: Option<PathBuf>,
    /// The secret itself: from `CORTEX_WEB_OIDC_CLIENT_SECRET` only (never the file's table,
    /// never a flag).
    #[serde(skip)]
    pub client_secret: Option<SecretString>,
    /// `https://<this server>/auth/oidc/callback`, registered at the provider.
    pub redirect_url: Option<String>,
    /// Default `openid profile email`.
    pub scopes: Option<Vec<String>>,
    /// The sign-in button says "Sign in with <display_name>" (default "Microsoft Entra ID").
    pub display_name: Option<String>,
    /// Group object id → role.
    pub groups: Option<BTreeMap<String, String>>,
    /// App role value → role.
    pub app_roles: Option<BTreeMap<String, String>>,
}

/// The variables read for [`OidcSettings`] (and `local_users`).
pub const ENV_VARS: [&str; 8] = [
    "CORTEX_WEB_LOCAL_USERS",
    "CORTEX_WEB_OIDC_ISSUER",
    "CORTEX_WEB_OIDC_CLIENT_ID",
    "CORTEX_WEB_OIDC_CLIENT_SECRET",
    "CORTEX_WEB_OIDC_CLIENT_SECRET_FILE",
    "CORTEX_WEB_OIDC_REDIRECT_URL",
    "CORTEX_WEB_OIDC_SCOPES",
    "CORTEX_WEB_OIDC_DISPLAY_NAME",
];

impl OidcSettings {
    /// From `CORTEX_WEB_OIDC_*` (already filtered to non-empty values); `None` when none set.
    pub fn from_env(vars: &std::collections::HashMap<String, String>) -> Option<Self> {
        let get = |k: &str| vars.get(k).map(|v| v.trim().to_owned());
        let s = OidcSettings {
            issuer: get("CORTEX_WEB_OIDC_ISSUER"),
            client_id: get("CORTEX_WEB_OIDC_CLIENT_ID"),
            client_secret_file: get("CORTEX_WEB_OIDC_CLIENT_SECRET_FILE").map(PathBuf::from),
            client_secret: get("CORTEX_WEB_OIDC_CLIENT_SECRET").map(SecretString::from),
            redirect_url: get("CORTEX_WEB_OIDC_REDIRECT_URL"),
            scopes: get("CORTEX_WEB_OIDC_SCOPES")
                .map(|v| v.split_whitespace().map(str::to_owned).collect()),
            display_name: get("CORTEX_WEB_OIDC_DISPLAY_NAME"),
            groups: None,
            app_roles: None,
        };
        (s != OidcSettings::default()).then_some(s)
    }

    /// `self` where set, else `lower`, field by field.
    pub fn over(self, lower: OidcSettings) -> OidcSettings {
        OidcSettings {
            issuer: self.issuer.or(lower.issuer),
            client_id: self.client_id.or(lower.client_id),
            client_secret_file: self.client_secret_file.or(lower.client_secret_file),
            client_secret: self.client_secret.or(lower.client_secret),
            redirect_url: self.redirect_url.or(lower.redirect_url),
            scopes: self.scopes.or(lower.scopes),
            display_name: self.display_name.or(lower.display_name),
            groups: self.groups.or(lower.groups),
            app_roles: self.app_roles.or(lower.app_roles),
        }
    }
}

/// The path of the callback on this server.
pub const CALLBACK_PATH: &str = "/auth/oidc/callback";

/// A checked SSO configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct OidcConfig {
    /// Without a trailing slash, compared exactly with `iss`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: SecretString,
    pub redirect_url: url::Url,
    pub scopes: Vec<String>,
    pub display_name: String,
    pub groups: BTreeMap<String, Role>,
    pub app_roles: BTreeMap<String, Role>,
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

fn roles(
    key: &'static str,
    map: Option<BTreeMap<String, String>>,
) -> Result<BTreeMap<String, Role>, ConfigError> {
    map.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let role = v.parse::<Role>().map_err(|_| {
                invalid(
                    key,
                    format!("{k}: `{v}` is not a role (viewer, operator, admin)"),
                )
            })?;
            if k.trim().is_empty() {
                return Err(invalid(key, "an empty group id or app role"));
            }
            Ok((k.trim().to_owned(), role))
        })
        .collect()
}

impl OidcConfig {
    /// Checks the settings; errors name the key (`oidc.issuer`, …).
    pub fn check(s: OidcSettings) -> Result<Self, ConfigError> {
        let issuer = s.issuer.ok_or_else(|| {
            invalid(
                "oidc.issuer",
                "missing (for Entra ID: https://login.microsoftonline.com/<tenant id>/v2.0)",
            )
        })?;
        let parsed = url::Url::parse(&issuer)
            .map_err(|_| invalid("oidc.issuer", "must be an absolute https URL"))?;
        if !(parsed.scheme() == "https" || is_loopback_http(&parsed)) {
            return Err(invalid(
                "oidc.issuer",
                "must be https (http only on loopback, for the emulator)",
            ));
        }
        let client_id = s
            .client_id
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty() && c.len() <= 200)
            .ok_or_else(|| {
                invalid(
                    "oidc.client_id",
                    "missing (the app registration's Application (client) ID)",
                )
            })?;
        let client_secret = match (s.client_secret, s.client_secret_file) {
            (Some(secret), _) => secret,
            (None, Some(path)) => {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    invalid(
                        "oidc.client_secret_file",
                        format!("cannot read {}: {}", path.display(), e.kind()),
                    )
                })?;
                SecretString::from(text.trim().to_owned())
            }
            (None, None) => {
                return Err(invalid(
                    "oidc.client_secret_file",
                    "missing: put the client secret in a file (or CORTEX_WEB_OIDC_CLIENT_SECRET)",
                ));
            }
        };
        if client_secret.is_empty() {
            return Err(invalid(
                "oidc.client_secret_file",
                "the client secret is empty",
            ));
        }
        let redirect = s.redirect_url.ok_or_else(|| {
            invalid(
                "oidc.redirect_url",
                format!("missing (https://<this server>{CALLBACK_PATH})"),
            )
        })?;
        let redirect_url = url::Url::parse(&redirect)
            .map_err(|_| invalid("oidc.redirect_url", "must be an absolute URL"))?;
        if redirect_url.path() != CALLBACK_PATH
            || redirect_url.query().is_some()
            || !(redirect_url.scheme() == "https" || is_loopback_http(&redirect_url))
        {
            return Err(invalid(
                "oidc.redirect_url",
                format!("must be https://<this server>{CALLBACK_PATH} (http only on loopback)"),
            ));
        }
        let scopes = s
            .scopes
            .unwrap_or_else(|| vec!["openid".into(), "profile".into(), "email".into()]);
        if !scopes.iter().any(|x| x == "openid") {
            return Err(invalid("oidc.scopes", "must include openid"));
        }
        let groups = roles("oidc.groups", s.groups)?;
        let app_roles = roles("oidc.app_roles", s.app_roles)?;
        if groups.is_empty() && app_roles.is_empty() {
            return Err(invalid(
                "oidc.groups",
                "map at least one group object id (or app role in oidc.app_roles) to a role: \
                 nobody could sign in",
            ));
        }
        Ok(OidcConfig {
            issuer: issuer.trim_end_matches('/').to_owned(),
            client_id,
            client_secret,
            redirect_url,
            scopes,
            display_name: s
                .display_name
                .unwrap_or_else(|| "Microsoft Entra ID".into()),
            groups,
            app_roles,
        })
    }

    /// The highest role the claims map to, or why there is none.
    pub fn role_for(&self, claims: &IdClaims) -> Result<Role, Refusal> {
        let by_group = claims.groups.iter().filter_map(|g| self.groups.get(g));
        let by_app_role = claims.roles.iter().filter_map(|r| self.app_roles.get(r));
        match by_group.chain(by_app_role).max() {
            Some(role) => Ok(*role),
            None if claims.has_group_overage() => Err(Refusal::GroupsOverage),
            None => Err(Refusal::NoMappedRole),
        }
    }

    /// Where the provider's end-session page sends the browser back: our sign-in page.
    pub fn post_logout_url(&self) -> String {
        let mut url = self.redirect_url.clone();
        url.set_path("/login");
        url.to_string()
    }
}

fn is_loopback_http(url: &url::Url) -> bool {
    url.scheme() == "http"
        && match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        }
}

/// Why a sign-in was refused: a stable code for the audit log, a sentence for the page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The callback's `state` is not the one this browser started with.
    StateMismatch,
    /// No pending sign-in for this `state`: used already (a replayed callback) or too old.
    LoginExpired,
    /// The provider answered the authorize request with an error (`error` code kept).
    Provider(String),
    /// The token endpoint refused the code (`error` code and Entra's AADSTS number kept).
    TokenRefused(String),
    /// The provider could not be reached or answered nonsense.
    ProviderUnavailable,
    InvalidAudience,
    InvalidIssuer,
    Expired,
    NonceMismatch,
    InvalidSignature,
    UnknownSigningKey,
    MalformedToken,
    NoMappedRole,
    GroupsOverage,
    /// A local user already has the name the provider gave.
    NameTaken,
    /// Local sign-in is switched off (`local_users = false`).
    LocalUsersOff,
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::StateMismatch => "state_mismatch",
            Refusal::LoginExpired => "login_expired",
            Refusal::Provider(_) => "provider_error",
            Refusal::TokenRefused(_) => "token_refused",
            Refusal::ProviderUnavailable => "provider_unavailable",
            Refusal::InvalidAudience => "invalid_audience",
            Refusal::InvalidIssuer => "invalid_issuer",
            Refusal::Expired => "token_expired",
            Refusal::NonceMismatch => "nonce_mismatch",
            Refusal::InvalidSignature => "invalid_signature",
            Refusal::UnknownSigningKey => "unknown_signing_key",
            Refusal::MalformedToken => "malformed_token",
            Refusal::NoMappedRole => "no_mapped_role",
            Refusal::GroupsOverage => "groups_overage",
            Refusal::NameTaken => "name_taken",
            Refusal::LocalUsersOff => "local_users_off",
        }
    }

    /// What the refusal page says (no token, no secret: codes only).
    pub fn message(&self) -> String {
        match self {
            Refusal::StateMismatch => "This sign-in did not start in this browser (its state does not match). Start again from the sign-in page.".into(),
            Refusal::LoginExpired => "This sign-in link was already used or is more than 10 minutes old. Start again from the sign-in page.".into(),
            Refusal::Provider(code) => format!("The identity provider did not sign you in ({code})."),
            Refusal::TokenRefused(code) => format!("The identity provider refused to redeem the sign-in code ({code}). Start again from the sign-in page."),
            Refusal::ProviderUnavailable => "The identity provider could not be reached or gave an answer that is not OpenID Connect. Try again later, or ask an administrator to check the oidc settings.".into(),
            Refusal::InvalidAudience => "The identity provider issued a token for another application (audience). Ask an administrator to check oidc.client_id.".into(),
            Refusal::InvalidIssuer => "The token was issued by another authority than the configured one (issuer). Ask an administrator to check oidc.issuer.".into(),
            Refusal::Expired => "The identity provider's token has expired (or the clocks differ by more than a minute).".into(),
            Refusal::NonceMismatch => "The token does not belong to this sign-in (nonce). Start again from the sign-in page.".into(),
            Refusal::InvalidSignature => "The token's signature does not verify with the identity provider's published keys.".into(),
            Refusal::UnknownSigningKey => "The token is signed with a key the identity provider does not publish.".into(),
            Refusal::MalformedToken => "The identity provider's answer is not a usable ID token (RS256 JWT).".into(),
            Refusal::NoMappedRole => "You are signed in at the identity provider, but none of your groups or app roles is mapped to a role here (viewer, operator or admin). Ask an administrator to add your group to the oidc.groups mapping.".into(),
            Refusal::GroupsOverage => "You are in more groups than fit in a token, so the identity provider left them out (groups overage), and no app role of yours is mapped. Ask an administrator to assign you an app role mapped in oidc.app_roles (or to emit only the groups assigned to the application).".into(),
            Refusal::NameTaken => "A local user already has your user name; an administrator must rename or remove that local user before you can sign in with single sign-on.".into(),
            Refusal::LocalUsersOff => "Sign-in with a local name and password is switched off here; use single sign-on.".into(),
        }
    }
}

/// The claims we read from an ID token (Entra's names; `oid` falls back to `sub` for other
/// providers).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct IdClaims {
    pub sub: String,
    #[serde(default)]
    pub oid: Option<String>,
    #[serde(default)]
    pub tid: Option<String>,
    #[serde(default)]
    pub nonce: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub preferred_username: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default, rename = "_claim_names")]
    pub claim_names: Option<serde_json::Value>,
}

impl IdClaims {
    /// The stable id of the person: Entra's object id, else `sub`.
    pub fn object_id(&self) -> &str {
        self.oid.as_deref().unwrap_or(&self.sub)
    }

    /// The name shown and audited: `preferred_username`, else `email`, else `name`, else the id.
    pub fn user_name(&self) -> String {
        [&self.preferred_username, &self.email, &self.name]
            .into_iter()
            .flatten()
            .map(|s| s.trim())
            .find(|s| !s.is_empty())
            .unwrap_or(self.object_id())
            .chars()
            .filter(|c| !c.is_control())
            .take(128)
            .collect()
    }

    pub fn has_group_overage(&self) -> bool {
        self.claim_names
            .as_ref()
            .is_some_and(|c| c.get("groups").is_some())
    }
}

/// A PKCE verifier (43 base64url characters from 32 random bytes) and its S256 challenge.
pub fn pkce_pair() -> (String, String) {
    let verifier = crate::auth::store::random_token();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// What discovery tells us.
#[derive(Clone, Debug, Deserialize)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
}

#[derive(Deserialize)]
struct TokenResponse {
    id_token: Option<String>,
}

#[derive(Deserialize)]
struct TokenErrorBody {
    error: Option<String>,
    #[serde(default)]
    error_codes: Vec<u64>,
}

/// How long discovery is trusted before it is read again.
const METADATA_TTL: Duration = Duration::from_secs(3600);

/// The relying party. Cheap to share (`Arc` inside [`crate::AppState`]).
pub struct OidcClient {
    config: OidcConfig,
    http: reqwest::Client,
    metadata: Mutex<Option<(ProviderMetadata, Instant)>>,
    jwks: Mutex<Option<JwkSet>>,
    schema: tokio::sync::OnceCell<()>,
}

impl OidcClient {
    pub fn new(config: OidcConfig) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap_or_default();
        Self {
            config,
            http,
            metadata: Mutex::new(None),
            jwks: Mutex::new(None),
            schema: tokio::sync::OnceCell::new(),
        }
    }

    /// Creates the pending-login table once per process.
    pub async fn ensure_schema(
        &self,
        store: &crate::auth::AuthStore,
    ) -> Result<(), crate::auth::AuthError> {
        self.schema
            .get_or_try_init(|| super::oidc_store::ensure_schema(store))
            .await
            .map(|_| ())
    }

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// Discovery (cached for an hour). Its `issuer` must be the configured one (OpenID
    /// Connect Discovery 1.0 §4.3).
    pub async fn metadata(&self) -> Result<ProviderMetadata, Refusal> {
        let mut cached = self.metadata.lock().await;
        if let Some((m, at)) = cached.as_ref()
            && at.elapsed() < METADATA_TTL
        {
            return Ok(m.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", self.config.issuer);
        let m: ProviderMetadata = self.get_json(&url).await?;
        if m.issuer.trim_end_matches('/') != self.config.issuer {
            tracing::warn!("OIDC discovery names another issuer than oidc.issuer");
            return Err(Refusal::InvalidIssuer);
        }
        *cached = Some((m.clone(), Instant::now()));
        Ok(m)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, Refusal> {
        let r = self.http.get(url).send().await.map_err(|e| {
            tracing::warn!(error = %e.without_url(), "OIDC provider unreachable");
            Refusal::ProviderUnavailable
        })?;
        if !r.status().is_success() {
            tracing::warn!(
                status = r.status().as_u16(),
                "OIDC provider refused a metadata read"
            );
            return Err(Refusal::ProviderUnavailable);
        }
        r.json().await.map_err(|_| Refusal::ProviderUnavailable)
    }

    /// The authorize URL for one sign-in.
    pub async fn authorize_url(
        &self,
        state: &str,
        nonce: &str,
        challenge: &str,
    ) -> Result<String, Refusal> {
        let m = self.metadata().await?;
        let mut url =
            url::Url::parse(&m.authorization_endpoint).map_err(|_| Refusal::ProviderUnavailable)?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.config.client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", self.config.redirect_url.as_str())
            .append_pair("response_mode", "query")
            .append_pair("scope", &self.config.scopes.join(" "))
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(url.into())
    }

    /// The provider's end-session URL (back to our sign-in page), if it has one.
    pub async fn end_session_url(&self) -> Option<String> {
        let m = self.metadata().await.ok()?;
        let mut url = url::Url::parse(m.end_session_endpoint.as_deref()?).ok()?;
        url.query_pairs_mut()
            .append_pair("post_logout_redirect_uri", &self.config.post_logout_url())
            .append_pair("client_id", &self.config.client_id);
        Some(url.into())
    }

    /// Redeems `code` (with the PKCE verifier) and validates the ID token against `nonce`.
    pub async fn redeem(
        &self,
        code: &str,
        verifier: &str,
        nonce: &str,
    ) -> Result<IdClaims, Refusal> {
        let m = self.metadata().await?;
        let body = {
            let mut s = url::form_urlencoded::Serializer::new(String::new());
            s.append_pair("grant_type", "authorization_code")
                .append_pair("code", code)
                .append_pair("redirect_uri", self.config.redirect_url.as_str())
                .append_pair("client_id", &self.config.client_id)
                .append_pair("client_secret", self.config.client_secret.expose())
                .append_pair("code_verifier", verifier)
                .append_pair("scope", &self.config.scopes.join(" "));
            s.finish()
        };
        let r = self
            .http
            .post(&m.token_endpoint)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                tracing::warn!(error = %e.without_url(), "OIDC token endpoint unreachable");
                Refusal::ProviderUnavailable
            })?;
        let status = r.status();
        if !status.is_success() {
            // Only the error code and Entra's AADSTS number: the description is not logged.
            let e: TokenErrorBody = r.json().await.unwrap_or(TokenErrorBody {
                error: None,
                error_codes: Vec::new(),
            });
            let code = match (e.error, e.error_codes.first()) {
                (Some(err), Some(n)) => format!("{}, AADSTS{n}", safe_code(&err)),
                (Some(err), None) => safe_code(&err),
                (None, _) => format!("HTTP {}", status.as_u16()),
            };
            return Err(Refusal::TokenRefused(code));
        }
        let token: TokenResponse = r.json().await.map_err(|_| Refusal::MalformedToken)?;
        let id_token = token.id_token.ok_or(Refusal::MalformedToken)?;
        let claims = self.validate(&m, &id_token).await?;
        let given = claims.nonce.as_deref().unwrap_or_default();
        if !crate::auth::store::constant_time_eq(given.as_bytes(), nonce.as_bytes()) {
            return Err(Refusal::NonceMismatch);
        }
        Ok(claims)
    }

    /// Signature (JWKS, refetched once for an unknown `kid`), then `iss`, `aud`, `exp`, `nbf`.
    async fn validate(&self, m: &ProviderMetadata, id_token: &str) -> Result<IdClaims, Refusal> {
        let header = jsonwebtoken::decode_header(id_token).map_err(|_| Refusal::MalformedToken)?;
        if header.alg != Algorithm::RS256 {
            return Err(Refusal::MalformedToken);
        }
        let kid = header.kid.ok_or(Refusal::MalformedToken)?;
        let key = self.key(m, &kid).await?;
        let mut v = Validation::new(Algorithm::RS256);
        v.set_issuer(&[&self.config.issuer]);
        v.set_audience(&[&self.config.client_id]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.validate_nbf = true;
        v.leeway = 60;
        use jsonwebtoken::errors::ErrorKind;
        jsonwebtoken::decode::<IdClaims>(id_token, &key, &v)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => Refusal::InvalidSignature,
                ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => Refusal::Expired,
                ErrorKind::InvalidIssuer => Refusal::InvalidIssuer,
                ErrorKind::InvalidAudience => Refusal::InvalidAudience,
                _ => Refusal::MalformedToken,
            })
    }

    /// The verification key for `kid`. A `kid` not in the cached set makes one refetch: the
    /// provider rotated its keys. (The ID token comes from the token endpoint over our own
    /// connection, not from the browser, so a stranger cannot make us refetch at will.)
    async fn key(&self, m: &ProviderMetadata, kid: &str) -> Result<DecodingKey, Refusal> {
        let mut cached = self.jwks.lock().await;
        if let Some(set) = cached.as_ref()
            && let Some(jwk) = set.find(kid)
        {
            return DecodingKey::from_jwk(jwk).map_err(|_| Refusal::MalformedToken);
        }
        let set: JwkSet = self.get_json(&m.jwks_uri).await?;
        let found = set.find(kid).map(DecodingKey::from_jwk);
        *cached = Some(set);
        match found {
            Some(key) => key.map_err(|_| Refusal::MalformedToken),
            None => Err(Refusal::UnknownSigningKey),
        }
    }
}

/// An OAuth error code as shown: letters, digits and `_` only, at most 64.
fn safe_code(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> OidcSettings {
        OidcSettings {
            issuer: Some("https://login.microsoftonline.com/t/v2.0".into()),
            client_id: Some("client".into()),
            client_secret: Some(SecretString::from("s3cr3t-canary")),
            redirect_url: Some("https://cortex.example/auth/oidc/callback".into()),
            groups: Some(BTreeMap::from([
                ("g-admin".to_owned(), "admin".to_owned()),
                ("g-view".to_owned(), "viewer".to_owned()),
            ])),
            app_roles: Some(BTreeMap::from([(
                "Cortex.Operator".to_owned(),
                "operator".to_owned(),
            )])),
            ..OidcSettings::default()
        }
    }

    #[test]
    fn the_highest_mapped_role_wins_and_unmapped_users_are_told_why() {
        let c = OidcConfig::check(settings()).unwrap();
        let claims = |groups: &[&str], roles: &[&str], overage: bool| IdClaims {
            sub: "s".into(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            claim_names: overage.then(|| serde_json::json!({"groups": "src1"})),
            ..IdClaims::default()
        };
        assert_eq!(
            c.role_for(&claims(&["g-view"], &[], false)),
            Ok(Role::Viewer)
        );
        assert_eq!(
            c.role_for(&claims(&["g-view"], &["Cortex.Operator"], false)),
            Ok(Role::Operator)
        );
        assert_eq!(
            c.role_for(&claims(&["g-view", "g-admin", "other"], &[], false)),
            Ok(Role::Admin)
        );
        assert_eq!(
            c.role_for(&claims(&["other"], &[], false)),
            Err(Refusal::NoMappedRole)
        );
        assert_eq!(
            c.role_for(&claims(&[], &[], true)),
            Err(Refusal::GroupsOverage)
        );
        assert_eq!(
            c.role_for(&claims(&[], &["Cortex.Operator"], true)),
            Ok(Role::Operator)
        );
    }

    #[test]
    fn bad_settings_name_their_key_and_never_show_the_secret() {
        let e = OidcConfig::check(OidcSettings {
            issuer: Some("http://idp.example/t".into()),
            ..settings()
        })
        .unwrap_err();
        assert!(
            matches!(
                e,
                ConfigError::Invalid {
                    key: "oidc.issuer",
                    ..
                }
            ),
            "{e}"
        );
        let e = OidcConfig::check(OidcSettings {
            redirect_url: Some("https://cortex.example/elsewhere".into()),
            ..settings()
        })
        .unwrap_err();
        assert!(matches!(
            e,
            ConfigError::Invalid {
                key: "oidc.redirect_url",
                ..
            }
        ));
        let e = OidcConfig::check(OidcSettings {
            groups: Some(BTreeMap::from([("g".to_owned(), "root".to_owned())])),
            ..settings()
        })
        .unwrap_err();
        assert!(e.to_string().contains("root"), "{e}");
        let e = OidcConfig::check(OidcSettings {
            client_secret: None,
            ..settings()
        })
        .unwrap_err();
        assert!(matches!(
            e,
            ConfigError::Invalid {
                key: "oidc.client_secret_file",
                ..
            }
        ));
        let c = OidcConfig::check(settings()).unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t-canary"));
        assert_eq!(c.post_logout_url(), "https://cortex.example/login");
        // The file's table cannot carry the secret itself.
        let t: Result<OidcSettings, _> = toml::from_str("client_secret = \"x\"\n");
        assert!(t.is_err());
    }

    #[test]
    fn the_oidc_table_and_its_variables_merge_key_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "  from-the-file\n").unwrap();
        let file = dir.path().join("web.toml");
        std::fs::write(
            &file,
            format!(
                "local_users = false\n[oidc]\nissuer = \"https://login.microsoftonline.com/t/v2.0\"\n\
                 client_id = \"file-client\"\nclient_secret_file = \"{}\"\n\
                 redirect_url = \"https://cortex.example/auth/oidc/callback\"\n\
                 [oidc.groups]\n\"g-1\" = \"operator\"\n",
                secret.display()
            ),
        )
        .unwrap();
        let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let c =
            crate::WebConfig::load(Some(&file), env(&[]), crate::WebSettings::default()).unwrap();
        assert!(!c.local_users);
        let oidc = c.oidc.unwrap();
        assert_eq!(oidc.client_id, "file-client");
        assert_eq!(oidc.client_secret.expose(), "from-the-file");
        assert_eq!(oidc.groups["g-1"], Role::Operator);
        let c = crate::WebConfig::load(
            Some(&file),
            env(&[
                ("CORTEX_WEB_OIDC_CLIENT_ID", "env-client"),
                ("CORTEX_WEB_OIDC_CLIENT_SECRET", "from-the-env"),
                ("CORTEX_WEB_LOCAL_USERS", "true"),
            ]),
            crate::WebSettings::default(),
        )
        .unwrap();
        let oidc = c.oidc.unwrap();
        assert!(c.local_users);
        assert_eq!(oidc.client_id, "env-client");
        assert_eq!(oidc.client_secret.expose(), "from-the-env");
        assert_eq!(oidc.issuer, "https://login.microsoftonline.com/t/v2.0");
        // Switching local users off needs single sign-on.
        let e = crate::WebConfig::load(
            None,
            env(&[("CORTEX_WEB_LOCAL_USERS", "false")]),
            crate::WebSettings::default(),
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                ConfigError::Invalid {
                    key: "local_users",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn pkce_is_s256_of_the_verifier() {
        let (verifier, challenge) = pkce_pair();
        assert_eq!(verifier.len(), 43);
        assert_eq!(
            challenge,
            URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
        );
    }
}
