//! Entra ID's OpenID Connect face: one tenant, its app registrations and directory users, the
//! `v2.0` endpoints at the paths Entra uses under `https://login.microsoftonline.com`.
//!
//! | method | path | what |
//! | --- | --- | --- |
//! | GET | `/{tenant}/v2.0/.well-known/openid-configuration` | discovery |
//! | GET, POST | `/{tenant}/oauth2/v2.0/authorize` | a plain sign-in page: pick or type a user (no password); PKCE S256 required |
//! | POST | `/{tenant}/oauth2/v2.0/token` | `authorization_code` → `id_token` (RS256) + `access_token`; codes are one-time |
//! | GET | `/{tenant}/discovery/v2.0/keys` | JWKS: the signing key and the retired ones still kept |
//! | GET | `/{tenant}/oauth2/v2.0/logout` | end-session |
//! | POST | `/_emulator/entra/keys/rotate` | admin: a new signing key (the old one stays published) |
//! | POST | `/_emulator/entra/next-token` | admin: make the next issued token wrong in a chosen way (tests) |
//!
//! Errors follow Entra's shapes: `{error, error_description: "AADSTS…: …", error_codes, …}`
//! from the token endpoint, an error page (never a redirect) for an unknown client or a
//! redirect URI that is not registered (AADSTS700016 / AADSTS50011), and `error=…&state=…` on
//! the redirect URI for the rest. A user in more than `group_overage_limit` groups gets no
//! `groups` claim but `_claim_names`/`_claim_sources` pointing at Graph, as Entra does.
//! What is simplified and why: `docs/sso.md` ("The emulated provider").

pub mod keys;
mod page;
mod routes;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

pub use keys::{KeyError, KeyRing, SigningKey};
pub use routes::router;

/// An app registration: what the client must present.
#[derive(Clone, Debug)]
pub struct AppRegistration {
    pub client_id: String,
    pub client_secret: String,
    pub display_name: String,
    /// Exact-match redirect URIs (Entra compares them as strings).
    pub redirect_uris: Vec<String>,
    /// Where end-session may send the browser back to (Entra: the app's front-channel logout
    /// URL and redirect URIs).
    pub logout_redirect_uris: Vec<String>,
}

/// A directory user. App roles are the ones assigned to them in the (one) app.
#[derive(Clone, Debug)]
pub struct DirectoryUser {
    pub object_id: String,
    pub user_principal_name: String,
    pub display_name: String,
    /// Group object ids.
    pub groups: Vec<String>,
    /// App role values (`roles` claim).
    pub app_roles: Vec<String>,
}

/// The tenant as configured.
#[derive(Clone, Debug)]
pub struct EntraConfig {
    pub tenant_id: String,
    pub apps: Vec<AppRegistration>,
    pub users: Vec<DirectoryUser>,
    /// More groups than this: the `groups` claim is replaced by an overage pointer (Entra: 200
    /// in a JWT).
    pub group_overage_limit: usize,
    /// How long a rotated-out key stays in the JWKS.
    pub key_retention: Duration,
    /// How long an authorization code can be redeemed (Entra: about 10 minutes).
    pub code_ttl: Duration,
    /// The tokens' lifetime (`exp - iat`).
    pub token_ttl: Duration,
}

/// The sandbox tenant's id.
pub const SANDBOX_TENANT: &str = "9c1d5c3e-5b7a-4f0e-9d55-3a1e2f4b6c70";
/// Sandbox groups (object ids) the server maps to roles.
pub const SANDBOX_ADMINS_GROUP: &str = "5f0a6c1e-0a4b-4c7e-8d12-a1b2c3d4e501";
pub const SANDBOX_OPERATORS_GROUP: &str = "5f0a6c1e-0a4b-4c7e-8d12-a1b2c3d4e502";
pub const SANDBOX_VIEWERS_GROUP: &str = "5f0a6c1e-0a4b-4c7e-8d12-a1b2c3d4e503";
/// A group no role is mapped to.
pub const SANDBOX_UNMAPPED_GROUP: &str = "5f0a6c1e-0a4b-4c7e-8d12-a1b2c3d4e5ff";
/// The sandbox app role that the server maps to operator.
pub const SANDBOX_OPERATOR_APP_ROLE: &str = "Cortex.Operator";

impl EntraConfig {
    /// The sandbox tenant: one app (`client_id`, `client_secret`, `redirect_uri`, where
    /// sign-out returns: `logout_redirect_uri`) and five
    /// users: an admin and a viewer by group, an operator by app role, one in no mapped group,
    /// and one in more groups than the overage limit (with the operator app role, so the app
    /// roles alternative signs them in).
    pub fn sandbox(
        client_id: &str,
        client_secret: &str,
        redirect_uri: &str,
        logout_redirect_uri: &str,
    ) -> Self {
        let user =
            |oid: &str, upn: &str, name: &str, groups: Vec<String>, roles: &[&str]| DirectoryUser {
                object_id: oid.into(),
                user_principal_name: upn.into(),
                display_name: name.into(),
                groups,
                app_roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            };
        let many: Vec<String> = (0..210)
            .map(|i| format!("7e000000-0000-4000-8000-{i:012x}"))
            .collect();
        EntraConfig {
            tenant_id: SANDBOX_TENANT.into(),
            apps: vec![AppRegistration {
                client_id: client_id.into(),
                client_secret: client_secret.into(),
                display_name: "azure-cortex (sandbox)".into(),
                redirect_uris: vec![redirect_uri.into()],
                logout_redirect_uris: vec![logout_redirect_uri.into()],
            }],
            users: vec![
                user(
                    "1a000000-0000-4000-8000-00000000a001",
                    "alice@contoso.example",
                    "Alice Admin",
                    vec![SANDBOX_ADMINS_GROUP.into(), SANDBOX_UNMAPPED_GROUP.into()],
                    &[],
                ),
                user(
                    "1a000000-0000-4000-8000-00000000a002",
                    "oscar@contoso.example",
                    "Oscar Operator",
                    vec![],
                    &[SANDBOX_OPERATOR_APP_ROLE],
                ),
                user(
                    "1a000000-0000-4000-8000-00000000a003",
                    "vera@contoso.example",
                    "Vera Viewer",
                    vec![SANDBOX_VIEWERS_GROUP.into()],
                    &[],
                ),
                user(
                    "1a000000-0000-4000-8000-00000000a004",
                    "nick@contoso.example",
                    "Nick Nogroup",
                    vec![SANDBOX_UNMAPPED_GROUP.into()],
                    &[],
                ),
                user(
                    "1a000000-0000-4000-8000-00000000a005",
                    "gina@contoso.example",
                    "Gina Manygroups",
                    many,
                    &[SANDBOX_OPERATOR_APP_ROLE],
                ),
            ],
            group_overage_limit: 200,
            key_retention: Duration::from_secs(24 * 3600),
            code_ttl: Duration::from_secs(600),
            token_ttl: Duration::from_secs(3600),
        }
    }
}

/// What the next token issued gets wrong (the admin call `/_emulator/entra/next-token`); all
/// cleared once a token is issued.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TokenFaults {
    /// Another `aud`.
    pub audience: Option<String>,
    /// Another `iss`.
    pub issuer: Option<String>,
    /// Another `nonce`.
    pub nonce: Option<String>,
    /// `exp` an hour ago.
    #[serde(default)]
    pub expired: bool,
    /// Signed by a key that is not the tenant's, under the current key's `kid`.
    #[serde(default)]
    pub bad_signature: bool,
    /// Signed by a key that is never published, under its own `kid`.
    #[serde(default)]
    pub unknown_key: bool,
}

/// An issued authorization code, until it expires.
struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    nonce: Option<String>,
    code_challenge: String,
    scope: String,
    user: DirectoryUser,
    issued: Instant,
    redeemed: bool,
}

/// The running tenant.
pub struct EntraState {
    config: EntraConfig,
    /// `http://127.0.0.1:PORT`, the emulated `https://login.microsoftonline.com`.
    base_url: String,
    keys: Mutex<KeyRing>,
    codes: Mutex<HashMap<String, CodeGrant>>,
    next_token: Mutex<TokenFaults>,
}

impl EntraState {
    pub fn new(config: EntraConfig, base_url: &str) -> Result<Self, KeyError> {
        Ok(Self {
            keys: Mutex::new(KeyRing::new(config.key_retention)?),
            config,
            base_url: base_url.trim_end_matches('/').to_owned(),
            codes: Mutex::new(HashMap::new()),
            next_token: Mutex::new(TokenFaults::default()),
        })
    }

    pub fn config(&self) -> &EntraConfig {
        &self.config
    }

    /// `{base}/{tenant}/v2.0`: what Entra puts in `iss` and what clients configure.
    pub fn issuer(&self) -> String {
        format!("{}/{}/v2.0", self.base_url, self.config.tenant_id)
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}/{}/{path}", self.base_url, self.config.tenant_id)
    }

    /// Rotates the signing key; returns the new `kid`.
    pub fn rotate_keys(&self) -> Result<String, KeyError> {
        lock(&self.keys).rotate()
    }

    /// The current signing key's `kid`.
    pub fn current_kid(&self) -> String {
        lock(&self.keys).current().kid.clone()
    }

    pub fn set_next_token_faults(&self, faults: TokenFaults) {
        *lock(&self.next_token) = faults;
    }

    fn app(&self, client_id: &str) -> Option<&AppRegistration> {
        self.config.apps.iter().find(|a| a.client_id == client_id)
    }

    fn user(&self, name: &str) -> Option<&DirectoryUser> {
        let name = name.trim();
        self.config
            .users
            .iter()
            .find(|u| u.user_principal_name.eq_ignore_ascii_case(name) || u.object_id == name)
    }
}

/// A poisoned lock only means a panic elsewhere; the data is still consistent for an emulator.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
