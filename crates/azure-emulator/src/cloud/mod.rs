//! Emulated Azure for a caller that runs Terraform: the token endpoints the azurerm/azuread
//! providers use, ARM (subscriptions, management groups, role assignments and definitions)
//! and Microsoft Graph (the signed-in principal and its directory roles), over the seeded
//! tenant ([`crate::tenant_seed`]). One listener answers for `login.microsoftonline.com`,
//! `management.azure.com`, `graph.microsoft.com` and the managed-identity endpoints: the
//! client is given the same base URL as authority host, ARM and Graph endpoint.
//!
//! | method | path | what |
//! | --- | --- | --- |
//! | POST | `/{tenant}/oauth2/v2.0/token` | `client_credentials` (secret, certificate assertion, federated assertion), `refresh_token` |
//! | GET | `/metadata/identity/oauth2/token` | IMDS managed identity (`Metadata: true`) |
//! | GET | `/msi/token` | App Service managed identity (`X-IDENTITY-HEADER`) |
//! | GET | `/_github/token` | a GitHub Actions-style OIDC token issuer (bearer = the request token) |
//! | GET | `/subscriptions` | subscriptions the caller can see |
//! | GET | `/subscriptions/{id}` | one subscription |
//! | GET | `/providers/Microsoft.Management/managementGroups` | groups the caller can see |
//! | GET | `/providers/Microsoft.Management/managementGroups/{id}` | one group |
//! | GET | `/providers/Microsoft.Management/managementGroups/{id}/descendants` | groups and subscriptions below |
//! | GET | `{scope}/providers/Microsoft.Authorization/roleAssignments` | `$filter=atScope() and assignedTo('{oid}')` |
//! | GET | `{scope}/providers/Microsoft.Authorization/roleDefinitions[/{id}]` | built-in roles |
//! | GET | `/v1.0/me`, `/v1.0/me/memberOf` | a signed-in user and its directory roles |
//! | GET | `/v1.0/servicePrincipals?$filter=appId eq '…'`, `/v1.0/servicePrincipals/{id}[/memberOf]` | service principals |
//! | GET, POST | `/_emulator/azure/scenario` | the scenario switches ([`Scenario`]) |
//! | POST | `/_emulator/azure/certificates` | register a client certificate (DER, base64) for a client id |
//! | POST | `/_emulator/azure/cli-login` | a refresh token for a user, as `az login` would keep |

// Early returns in the handlers are the HTTP responses themselves (as in axum's own style).
#![allow(clippy::result_large_err)]

mod arm;
mod graph;
mod login;
mod token;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use serde::{Deserialize, Serialize};

use crate::tenant_seed::{Caller, Tenant};
pub use token::{Claims, TokenKey};

/// Scenario switches, changed at run time by `POST /_emulator/azure/scenario` (the whole
/// object; absent fields reset).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Scenario {
    /// Every token request is refused (AADSTS7000215 for secrets, AADSTS700024 for
    /// assertions, 400 from the managed-identity endpoints).
    pub refuse_tokens: bool,
    /// Refresh tokens have expired (AADSTS700082): the Azure CLI needs `az login`.
    pub expired_login: bool,
    /// These callers (object ids) have lost their Azure role assignments.
    pub without_role_assignments: Vec<String>,
    /// These callers (object ids) have lost their directory roles.
    pub without_directory_roles: Vec<String>,
    /// The IMDS / App Service endpoints answer 404 (no managed identity on this host).
    pub no_managed_identity: bool,
    /// Every ARM call answers 429 `TooManyRequests` with `Retry-After: 30`.
    pub throttle_arm: bool,
}

/// A client certificate: its SHA-1 thumbprint and SubjectPublicKeyInfo DER.
type RegisteredCertificate = ([u8; 20], Vec<u8>);

/// The running emulated cloud.
pub struct CloudState {
    pub tenant: Tenant,
    base_url: String,
    key: TokenKey,
    /// The GitHub-style issuer's key (federated tokens the tenant trusts).
    issuer_key: TokenKey,
    scenario: Mutex<Scenario>,
    /// client id → registered certificates: (SHA-1 thumbprint, SubjectPublicKeyInfo DER).
    certificates: Mutex<HashMap<String, Vec<RegisteredCertificate>>>,
    /// refresh token → user object id.
    refresh_tokens: Mutex<HashMap<String, String>>,
    /// The bearer a GitHub runner gets as `ACTIONS_ID_TOKEN_REQUEST_TOKEN`.
    pub github_request_token: String,
}

#[derive(Debug, thiserror::Error)]
#[error("RSA key: {0}")]
pub struct CloudKeyError(&'static str);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl CloudState {
    pub fn new(tenant: Tenant, base_url: &str) -> Result<Self, CloudKeyError> {
        Ok(Self {
            tenant,
            base_url: base_url.trim_end_matches('/').to_owned(),
            key: TokenKey::generate()?,
            issuer_key: TokenKey::generate()?,
            scenario: Mutex::default(),
            certificates: Mutex::default(),
            refresh_tokens: Mutex::default(),
            github_request_token: token::random_id(),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The issuer of federated (workload identity) tokens the tenant trusts: GitHub's
    /// `https://token.actions.githubusercontent.com` stand-in.
    pub fn federated_issuer(&self) -> String {
        format!("{}/_github", self.base_url)
    }

    pub fn scenario(&self) -> Scenario {
        lock(&self.scenario).clone()
    }

    pub fn set_scenario(&self, scenario: Scenario) {
        *lock(&self.scenario) = scenario;
    }

    /// Registers a certificate (DER) for `client_id`; returns its SHA-1 thumbprint (hex).
    pub fn register_certificate(&self, client_id: &str, der: &[u8]) -> Result<String, String> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| format!("not an X.509 certificate: {e}"))?;
        let spki = cert.public_key().raw.to_vec();
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
        let mut thumb = [0u8; 20];
        thumb.copy_from_slice(digest.as_ref());
        lock(&self.certificates)
            .entry(client_id.to_ascii_lowercase())
            .or_default()
            .push((thumb, spki));
        Ok(thumb.iter().map(|b| format!("{b:02X}")).collect())
    }

    /// A refresh token for a user, as `az login` keeps it.
    pub fn cli_login(&self, user_principal_name: &str) -> Option<String> {
        let caller = self.tenant.callers.iter().find(|c| {
            matches!(&c.credential, crate::tenant_seed::Credential::User { user_principal_name: u }
                if u.eq_ignore_ascii_case(user_principal_name))
        })?;
        let token = token::random_id();
        lock(&self.refresh_tokens).insert(token.clone(), caller.object_id.clone());
        Some(token)
    }

    /// A federated token from the emulated GitHub issuer, for `subject` and `audience`.
    pub fn federated_token(&self, subject: &str, audience: &str) -> String {
        let now = token::now();
        let claims = serde_json::json!({
            "iss": self.federated_issuer(), "sub": subject, "aud": audience,
            "iat": now, "nbf": now, "exp": now + 600,
        });
        self.issuer_key.sign(&claims).unwrap_or_default()
    }

    pub(crate) fn caller(&self, object_id: &str) -> Option<&Caller> {
        self.tenant
            .callers
            .iter()
            .find(|c| c.object_id.eq_ignore_ascii_case(object_id))
    }

    pub(crate) fn caller_by_client_id(&self, client_id: &str) -> Option<&Caller> {
        self.tenant.callers.iter().find(|c| {
            c.client_id()
                .is_some_and(|id| id.eq_ignore_ascii_case(client_id))
        })
    }

    /// The caller's role assignments as the scenario leaves them.
    pub(crate) fn role_assignments(&self, caller: &Caller) -> Vec<(&'static str, String)> {
        if self
            .scenario()
            .without_role_assignments
            .iter()
            .any(|o| o.eq_ignore_ascii_case(&caller.object_id))
        {
            return Vec::new();
        }
        caller.role_assignments.clone()
    }

    pub(crate) fn directory_roles(&self, caller: &Caller) -> Vec<&'static str> {
        if self
            .scenario()
            .without_directory_roles
            .iter()
            .any(|o| o.eq_ignore_ascii_case(&caller.object_id))
        {
            return Vec::new();
        }
        caller.directory_roles.clone()
    }

    /// Whether `caller` holds any role at `scope` or above (may read it).
    pub(crate) fn can_see(&self, caller: &Caller, scope: &str) -> bool {
        let chain = self.tenant.scope_chain(scope);
        self.role_assignments(caller)
            .iter()
            .any(|(_, s)| chain.iter().any(|c| c.eq_ignore_ascii_case(s)))
    }
}

/// Every route of the emulated cloud.
pub fn router(state: Arc<CloudState>) -> Router {
    login::routes()
        .merge(arm::routes())
        .merge(graph::routes())
        .with_state(state)
}
