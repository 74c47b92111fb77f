//! Which credential method the azurerm/azuread providers would use, a token obtained as they
//! would obtain it, and who it belongs to.
//!
//! The providers' order (azurerm 4.x / go-azure-sdk `auth.NewAuthorizerFromCredentials`):
//! client secret, client certificate, OIDC (a token, a token file, AKS workload identity, or
//! GitHub Actions' request URL), managed identity (`ARM_USE_MSI`), then the Azure CLI (unless
//! `ARM_USE_CLI=false`). The first method that is configured is the one used; if it yields no
//! token, that is the answer (the providers do not fall through to the next either).

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use prisma_types::SecretString;
use serde::Serialize;
use serde_json::{Value, json};

use crate::env::{Endpoints, Env, IMDS};
use crate::http::{client, get_json};

/// A credential method as the providers name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    ClientSecret,
    ClientCertificate,
    /// `ARM_USE_OIDC` with `ARM_OIDC_TOKEN(_FILE_PATH)` or a request URL (GitHub Actions).
    Oidc,
    /// `ARM_USE_AKS_WORKLOAD_IDENTITY` with `AZURE_FEDERATED_TOKEN_FILE`.
    AksWorkloadIdentity,
    ManagedIdentity,
    AzureCli,
}

impl Method {
    pub fn words(self) -> &'static str {
        match self {
            Method::ClientSecret => "client secret (ARM_CLIENT_ID + ARM_CLIENT_SECRET)",
            Method::ClientCertificate => {
                "client certificate (ARM_CLIENT_ID + ARM_CLIENT_CERTIFICATE_PATH)"
            }
            Method::Oidc => "workload identity federation (ARM_USE_OIDC)",
            Method::AksWorkloadIdentity => {
                "AKS workload identity (ARM_USE_AKS_WORKLOAD_IDENTITY + AZURE_FEDERATED_TOKEN_FILE)"
            }
            Method::ManagedIdentity => "managed identity (ARM_USE_MSI)",
            Method::AzureCli => "Azure CLI login (az)",
        }
    }
}

/// A configured method that yields no token, or a result that cannot be used.
#[derive(Clone, Debug, Serialize, thiserror::Error)]
#[error("{reason}")]
pub struct CredentialError {
    /// `None`: no method is configured at all.
    pub method: Option<Method>,
    pub reason: String,
    pub fix: String,
}

fn fail(method: Method, reason: impl Into<String>, fix: impl Into<String>) -> CredentialError {
    CredentialError {
        method: Some(method),
        reason: reason.into(),
        fix: fix.into(),
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SubscriptionInfo {
    pub id: String,
    pub name: String,
    pub state: String,
}

/// Who Terraform will act as.
#[derive(Clone, Debug, Serialize)]
pub struct Identity {
    pub method: Method,
    pub tenant_id: String,
    /// `user`, `service principal` or `managed identity`.
    pub principal_kind: &'static str,
    pub principal_name: String,
    pub principal_object_id: String,
    pub client_id: Option<String>,
    pub subscription: Option<SubscriptionInfo>,
}

impl Identity {
    /// One line for doctor and the job's log.
    pub fn summary(&self) -> String {
        let sub = match &self.subscription {
            Some(s) => format!("subscription {} ({}, {})", s.name, s.id, s.state),
            None => "no subscription selected".into(),
        };
        format!(
            "{}: {} {} (object id {}) in tenant {}; {sub}",
            self.method.words(),
            self.principal_kind,
            self.principal_name,
            self.principal_object_id,
            self.tenant_id
        )
    }
}

/// A checked identity with its tokens, for the privilege and discovery calls.
pub struct Session {
    pub identity: Identity,
    pub endpoints: Endpoints,
    pub(crate) arm_token: SecretString,
    pub(crate) graph_token: SecretString,
    pub(crate) http: reqwest::Client,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// The method the providers would pick from `env`.
pub fn detect(env: &Env) -> Option<Method> {
    if env.get("ARM_CLIENT_SECRET").is_some() || env.get("ARM_CLIENT_SECRET_FILE_PATH").is_some() {
        return Some(Method::ClientSecret);
    }
    if env.get("ARM_CLIENT_CERTIFICATE_PATH").is_some()
        || env.get("ARM_CLIENT_CERTIFICATE").is_some()
    {
        return Some(Method::ClientCertificate);
    }
    if env.flag("ARM_USE_AKS_WORKLOAD_IDENTITY") {
        return Some(Method::AksWorkloadIdentity);
    }
    if env.flag("ARM_USE_OIDC") {
        return Some(Method::Oidc);
    }
    if env.flag("ARM_USE_MSI") {
        return Some(Method::ManagedIdentity);
    }
    let cli_off = env
        .get("ARM_USE_CLI")
        .is_some_and(|v| v.eq_ignore_ascii_case("false"));
    if !cli_off && find_on_path(env, "az").is_some() {
        return Some(Method::AzureCli);
    }
    None
}

pub fn find_on_path(env: &Env, name: &str) -> Option<std::path::PathBuf> {
    std::env::split_paths(env.path()?)
        .map(|p| p.join(name))
        .find(|p| p.is_file())
}

/// The method, a token for ARM and one for Graph, the principal and the subscription.
pub async fn check(env: &Env, endpoints: &Endpoints) -> Result<Session, CredentialError> {
    let Some(method) = detect(env) else {
        return Err(CredentialError {
            method: None,
            reason: "no Azure credentials for Terraform: no ARM_* method is configured and `az` is not on PATH".into(),
            fix: "run `az login`, or set ARM_TENANT_ID and ARM_CLIENT_ID with one of ARM_CLIENT_SECRET, ARM_CLIENT_CERTIFICATE_PATH, ARM_USE_OIDC=true, ARM_USE_MSI=true (docs/azure-privileges.md)".into(),
        });
    };
    let http = client();
    let source = Source {
        method,
        env,
        endpoints,
        http: &http,
    };
    let arm = source.token(&endpoints.arm_resource).await?;
    let graph = source.token(&endpoints.graph_resource).await?;
    let claims = claims(&arm.token).map_err(|why| {
        fail(
            method,
            why,
            "report this: Entra ID issued a token we cannot read",
        )
    })?;
    let tenant_id = claims["tid"].as_str().unwrap_or_default().to_owned();
    let object_id = claims["oid"].as_str().unwrap_or_default().to_owned();
    let app_id = claims["appid"]
        .as_str()
        .or(claims["azp"].as_str())
        .map(str::to_owned);
    let is_user = claims["idtyp"] == "user" || claims["upn"].is_string();
    let (principal_kind, client_id) = match (is_user, method) {
        (true, _) => ("user", None),
        (false, Method::ManagedIdentity) => ("managed identity", app_id),
        (false, _) => ("service principal", app_id),
    };
    let principal_name = principal_name(&http, endpoints, &graph, is_user, client_id.as_deref())
        .await
        .or_else(|| claims["name"].as_str().map(str::to_owned))
        .unwrap_or_else(|| object_id.clone());
    let wanted = env
        .get("ARM_SUBSCRIPTION_ID")
        .map(str::to_owned)
        .or(arm.subscription);
    let subscription = match wanted {
        Some(id) => Some(subscription(&http, endpoints, &arm.token, &id, method).await?),
        None => None,
    };
    Ok(Session {
        identity: Identity {
            method,
            tenant_id,
            principal_kind,
            principal_name,
            principal_object_id: object_id,
            client_id,
            subscription,
        },
        endpoints: endpoints.clone(),
        arm_token: arm.token,
        graph_token: graph.token,
        http,
    })
}

/// The token's payload (not verified: ARM and Graph verify it; we only read who it names).
fn claims(token: &SecretString) -> Result<Value, &'static str> {
    let payload = token
        .expose()
        .split('.')
        .nth(1)
        .ok_or("the access token is not a JWT")?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| "the access token is not a JWT")?;
    serde_json::from_slice(&bytes).map_err(|_| "the access token is not a JWT")
}

async fn principal_name(
    http: &reqwest::Client,
    endpoints: &Endpoints,
    graph: &Token,
    is_user: bool,
    client_id: Option<&str>,
) -> Option<String> {
    if is_user {
        let me = get_json(http, &format!("{}v1.0/me", endpoints.graph), &graph.token)
            .await
            .ok()?;
        return me["userPrincipalName"].as_str().map(str::to_owned);
    }
    let url = format!(
        "{}v1.0/servicePrincipals?$filter=appId eq '{}'",
        endpoints.graph, client_id?
    );
    let list = get_json(http, &url, &graph.token).await.ok()?;
    list["value"][0]["displayName"].as_str().map(str::to_owned)
}

async fn subscription(
    http: &reqwest::Client,
    endpoints: &Endpoints,
    token: &SecretString,
    id: &str,
    method: Method,
) -> Result<SubscriptionInfo, CredentialError> {
    let url = format!("{}subscriptions/{id}?api-version=2022-12-01", endpoints.arm);
    match get_json(http, &url, token).await {
        Ok(s) => Ok(SubscriptionInfo {
            id: s["subscriptionId"].as_str().unwrap_or(id).to_owned(),
            name: s["displayName"].as_str().unwrap_or_default().to_owned(),
            state: s["state"].as_str().unwrap_or_default().to_owned(),
        }),
        Err(e) if e.status == 403 || e.status == 404 => {
            let list_url = format!("{}subscriptions?api-version=2022-12-01", endpoints.arm);
            let visible: Vec<String> = get_json(http, &list_url, token)
                .await
                .map(|l| {
                    l["value"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|s| s["subscriptionId"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let shown = if visible.is_empty() {
                "none".to_owned()
            } else {
                let mut s = visible
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ");
                if visible.len() > 5 {
                    s.push_str(&format!(" and {} more", visible.len() - 5));
                }
                s
            };
            Err(fail(
                method,
                format!(
                    "ARM_SUBSCRIPTION_ID: subscription {id} is not visible to this principal (visible: {shown})"
                ),
                "set ARM_SUBSCRIPTION_ID to a subscription the principal can read, or grant it Reader there (`az account list -o table` shows what a login sees)",
            ))
        }
        Err(e) => Err(fail(
            method,
            format!("reading subscription {id} from ARM failed: {e}"),
            "check the network and any proxy to management.azure.com",
        )),
    }
}

struct Token {
    token: SecretString,
    /// The CLI's selected subscription.
    subscription: Option<String>,
}

struct Source<'a> {
    method: Method,
    env: &'a Env,
    endpoints: &'a Endpoints,
    http: &'a reqwest::Client,
}

/// `AADSTS…: text` without the trace and correlation ids.
fn aad_reason(body: &Value, status: u16) -> String {
    let text = body["error_description"]
        .as_str()
        .or(body["error"].as_str())
        .unwrap_or("no error description");
    let text = text.split(" Trace ID:").next().unwrap_or(text).trim();
    format!("Entra ID refused the token request ({status}): {text}")
}

impl Source<'_> {
    fn require(&self, key: &str, fix: &str) -> Result<String, CredentialError> {
        self.env.get(key).map(str::to_owned).ok_or_else(|| {
            fail(
                self.method,
                format!("{} is configured but {key} is not set", self.method.words()),
                fix,
            )
        })
    }

    /// `ARM_TENANT_ID` and `ARM_CLIENT_ID`, both required by the service principal methods.
    fn tenant_and_client(&self) -> Result<(String, String), CredentialError> {
        Ok((
            self.require(
                "ARM_TENANT_ID",
                "set ARM_TENANT_ID to the directory (tenant) id",
            )?,
            self.require(
                "ARM_CLIENT_ID",
                "set ARM_CLIENT_ID to the application (client) id",
            )?,
        ))
    }

    async fn token(&self, resource: &str) -> Result<Token, CredentialError> {
        let scope = format!("{resource}.default");
        match self.method {
            Method::ClientSecret => {
                let (tenant, client) = self.tenant_and_client()?;
                let secret = match self.env.get("ARM_CLIENT_SECRET") {
                    Some(s) => SecretString::new(s),
                    None => {
                        let path =
                            self.require("ARM_CLIENT_SECRET_FILE_PATH", "set ARM_CLIENT_SECRET")?;
                        SecretString::new(
                            std::fs::read_to_string(&path)
                                .map_err(|e| {
                                    fail(
                                        self.method,
                                        format!(
                                            "ARM_CLIENT_SECRET_FILE_PATH: cannot read {path}: {e}"
                                        ),
                                        "point ARM_CLIENT_SECRET_FILE_PATH at a readable file",
                                    )
                                })?
                                .trim(),
                        )
                    }
                };
                self.client_credentials(&tenant, &[("client_id", client.as_str()), ("client_secret", secret.expose()), ("scope", scope.as_str())],
                    "check ARM_CLIENT_SECRET: use the secret's Value (not its Secret ID), and that it has not expired (App registrations → Certificates & secrets)").await
            }
            Method::ClientCertificate => {
                let (tenant, client) = self.tenant_and_client()?;
                let assertion = self.certificate_assertion(&tenant, &client)?;
                self.client_credentials(&tenant, &[
                    ("client_id", client.as_str()),
                    ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                    ("client_assertion", assertion.expose()),
                    ("scope", scope.as_str()),
                ], "upload this certificate's public part to the app registration (Certificates & secrets → Certificates), or point ARM_CLIENT_CERTIFICATE_PATH at the one registered there").await
            }
            Method::Oidc | Method::AksWorkloadIdentity => {
                let (tenant_key, client_key) = if self.method == Method::AksWorkloadIdentity {
                    ("AZURE_TENANT_ID", "AZURE_CLIENT_ID")
                } else {
                    ("ARM_TENANT_ID", "ARM_CLIENT_ID")
                };
                let tenant = self.env.get("ARM_TENANT_ID").or(self.env.get(tenant_key)).map(str::to_owned)
                    .ok_or_else(|| fail(self.method, format!("{} is configured but neither ARM_TENANT_ID nor {tenant_key} is set", self.method.words()), "set ARM_TENANT_ID"))?;
                let client = self.env.get("ARM_CLIENT_ID").or(self.env.get(client_key)).map(str::to_owned)
                    .ok_or_else(|| fail(self.method, format!("{} is configured but neither ARM_CLIENT_ID nor {client_key} is set", self.method.words()), "set ARM_CLIENT_ID to the application (client) id that trusts the federated token"))?;
                let federated = self.federated_token().await?;
                self.client_credentials(&tenant, &[
                    ("client_id", client.as_str()),
                    ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                    ("client_assertion", federated.expose()),
                    ("scope", scope.as_str()),
                ], "add a federated credential to the app registration whose issuer, subject (e.g. repo:ORG/REPO:ref:refs/heads/main) and audience (api://AzureADTokenExchange) match the token").await
            }
            Method::ManagedIdentity => self.managed_identity(resource).await,
            Method::AzureCli => self.azure_cli(resource).await,
        }
    }

    async fn client_credentials(
        &self,
        tenant: &str,
        form: &[(&str, &str)],
        fix: &str,
    ) -> Result<Token, CredentialError> {
        let url = self.endpoints.token_url(tenant);
        let mut form: Vec<(&str, &str)> = form.to_vec();
        form.push(("grant_type", "client_credentials"));
        let response = self.http.post(&url).form(&form).send().await.map_err(|e| {
            fail(self.method, format!("Entra ID at {} did not answer: {}", self.endpoints.authority_host, e.without_url()), "check the network and any proxy to login.microsoftonline.com (AZURE_AUTHORITY_HOST)")
        })?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        match body["access_token"].as_str() {
            Some(t) if status == 200 => Ok(Token {
                token: SecretString::new(t),
                subscription: None,
            }),
            _ => {
                let reason = aad_reason(&body, status);
                let fix = if reason.contains("AADSTS90002") {
                    "ARM_TENANT_ID: use the directory (tenant) id or its primary domain (`az account show --query tenantId`)"
                } else if reason.contains("AADSTS700016") {
                    "ARM_CLIENT_ID: use the application (client) id of an app registration in this tenant"
                } else {
                    fix
                };
                Err(fail(self.method, reason, fix))
            }
        }
    }

    /// An RS256 client assertion signed by the PKCS#12 certificate's key, with its SHA-1
    /// thumbprint as `x5t` (what Entra ID looks the key up by).
    fn certificate_assertion(
        &self,
        tenant: &str,
        client: &str,
    ) -> Result<SecretString, CredentialError> {
        let fix = "point ARM_CLIENT_CERTIFICATE_PATH at a PKCS#12 (.pfx) file with the private key, and set ARM_CLIENT_CERTIFICATE_PASSWORD if it has one";
        let data = match self.env.get("ARM_CLIENT_CERTIFICATE") {
            Some(b64) => STANDARD
                .decode(b64.trim())
                .map_err(|_| fail(self.method, "ARM_CLIENT_CERTIFICATE: not base64", fix))?,
            None => {
                let path = self.require("ARM_CLIENT_CERTIFICATE_PATH", fix)?;
                std::fs::read(Path::new(&path)).map_err(|e| {
                    fail(
                        self.method,
                        format!("ARM_CLIENT_CERTIFICATE_PATH: cannot read {path}: {e}"),
                        fix,
                    )
                })?
            }
        };
        let password = self
            .env
            .get("ARM_CLIENT_CERTIFICATE_PASSWORD")
            .unwrap_or_default();
        let store = p12_keystore::KeyStore::from_pkcs12(&data, password, p12_keystore::Pkcs12ImportPolicy::Relaxed)
            .map_err(|_| fail(self.method, "the client certificate is not a PKCS#12 file, or ARM_CLIENT_CERTIFICATE_PASSWORD does not open it", fix))?;
        let (_, chain) = store
            .private_key_chain()
            .ok_or_else(|| fail(self.method, "the PKCS#12 file holds no private key", fix))?;
        let cert = chain
            .certs()
            .first()
            .ok_or_else(|| fail(self.method, "the PKCS#12 file holds no certificate", fix))?;
        let key = aws_lc_rs::rsa::KeyPair::from_pkcs8(chain.key().as_der()).map_err(|_| {
            fail(
                self.method,
                "the certificate's key is not an RSA key (Entra ID needs RSA)",
                fix,
            )
        })?;
        let thumb =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, cert.as_der());
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let header =
            json!({"alg": "RS256", "typ": "JWT", "x5t": URL_SAFE_NO_PAD.encode(thumb.as_ref())});
        let claims = json!({
            "aud": self.endpoints.token_url(tenant), "iss": client, "sub": client,
            "jti": uuid::Uuid::new_v4().to_string(), "nbf": now, "iat": now, "exp": now + 600,
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0u8; key.public_modulus_len()];
        key.sign(
            &aws_lc_rs::signature::RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            input.as_bytes(),
            &mut sig,
        )
        .map_err(|_| fail(self.method, "signing the client assertion failed", fix))?;
        Ok(SecretString::new(format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(sig)
        )))
    }

    /// The federated token: `ARM_OIDC_TOKEN`, `ARM_OIDC_TOKEN_FILE_PATH`,
    /// `AZURE_FEDERATED_TOKEN_FILE` (AKS), or asked from the CI's request URL (GitHub
    /// Actions' `ACTIONS_ID_TOKEN_REQUEST_URL`/`_TOKEN`, or `ARM_OIDC_REQUEST_URL`/`_TOKEN`).
    async fn federated_token(&self) -> Result<SecretString, CredentialError> {
        if let Some(t) = self.env.get("ARM_OIDC_TOKEN") {
            return Ok(SecretString::new(t));
        }
        let file = if self.method == Method::AksWorkloadIdentity {
            self.env
                .get("AZURE_FEDERATED_TOKEN_FILE")
                .or(self.env.get("ARM_OIDC_TOKEN_FILE_PATH"))
        } else {
            self.env.get("ARM_OIDC_TOKEN_FILE_PATH")
        };
        if let Some(path) = file {
            return std::fs::read_to_string(path)
                .map(|t| SecretString::new(t.trim()))
                .map_err(|e| fail(self.method, format!("cannot read the federated token file {path}: {e}"), "check the projected service account token volume (AKS) or ARM_OIDC_TOKEN_FILE_PATH"));
        }
        if self.method == Method::AksWorkloadIdentity {
            return Err(fail(
                self.method,
                "ARM_USE_AKS_WORKLOAD_IDENTITY is set but AZURE_FEDERATED_TOKEN_FILE is not",
                "label the pod `azure.workload.identity/use: \"true\"` and its service account with the client id, so the webhook sets AZURE_FEDERATED_TOKEN_FILE",
            ));
        }
        let url = self
            .env
            .get("ARM_OIDC_REQUEST_URL")
            .or(self.env.get("ACTIONS_ID_TOKEN_REQUEST_URL"));
        let bearer = self
            .env
            .get("ARM_OIDC_REQUEST_TOKEN")
            .or(self.env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN"));
        let (Some(url), Some(bearer)) = (url, bearer) else {
            return Err(fail(
                self.method,
                "ARM_USE_OIDC is set but there is no federated token: none of ARM_OIDC_TOKEN, ARM_OIDC_TOKEN_FILE_PATH, or ACTIONS_ID_TOKEN_REQUEST_URL with ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                "in GitHub Actions give the job `permissions: id-token: write`; elsewhere set ARM_OIDC_TOKEN or ARM_OIDC_TOKEN_FILE_PATH",
            ));
        };
        let response = self
            .http
            .get(url)
            .query(&[("audience", "api://AzureADTokenExchange")])
            .bearer_auth(bearer)
            .send()
            .await
            .map_err(|e| {
                fail(
                    self.method,
                    format!(
                        "the OIDC token request URL did not answer: {}",
                        e.without_url()
                    ),
                    "check ACTIONS_ID_TOKEN_REQUEST_URL",
                )
            })?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        match body["value"].as_str() {
            Some(t) if status == 200 => Ok(SecretString::new(t)),
            _ => Err(fail(
                self.method,
                format!("the OIDC token request was refused ({status})"),
                "give the workflow job `permissions: id-token: write`",
            )),
        }
    }

    /// App Service (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`) or IMDS (`ARM_MSI_ENDPOINT`,
    /// default 169.254.169.254); `ARM_CLIENT_ID` picks a user-assigned identity.
    async fn managed_identity(&self, resource: &str) -> Result<Token, CredentialError> {
        let client_id = self.env.get("ARM_CLIENT_ID");
        let mut query = vec![("resource", resource)];
        if let Some(id) = client_id {
            query.push(("client_id", id));
        }
        let (endpoint, request) = match (
            self.env.get("IDENTITY_ENDPOINT"),
            self.env.get("IDENTITY_HEADER"),
        ) {
            (Some(endpoint), Some(header)) => {
                query.push(("api-version", "2019-08-01"));
                (
                    endpoint.to_owned(),
                    self.http.get(endpoint).header("X-IDENTITY-HEADER", header),
                )
            }
            _ => {
                let endpoint = self.env.get("ARM_MSI_ENDPOINT").unwrap_or(IMDS).to_owned();
                query.push(("api-version", "2018-02-01"));
                let r = self.http.get(&endpoint).header("Metadata", "true");
                (endpoint, r)
            }
        };
        let response = request.query(&query).timeout(Duration::from_secs(10)).send().await.map_err(|_| {
            fail(self.method, format!("no managed identity endpoint answers at {endpoint}: this host is not an Azure VM, scale set, App Service or container with an identity"), "run on an Azure host with a managed identity assigned (or set ARM_MSI_ENDPOINT), or choose another method")
        })?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        match body["access_token"].as_str() {
            Some(t) if status == 200 => Ok(Token {
                token: SecretString::new(t),
                subscription: None,
            }),
            _ if status == 404 => Err(fail(
                self.method,
                format!("no managed identity endpoint at {endpoint} (404)"),
                "assign a managed identity to this host (Identity → System assigned: On), or choose another method",
            )),
            _ => Err(fail(
                self.method,
                format!(
                    "the managed identity endpoint refused the request ({status}): {}",
                    body["error_description"]
                        .as_str()
                        .unwrap_or("no description")
                ),
                if client_id.is_some() {
                    "ARM_CLIENT_ID: use the client id of a user-assigned identity attached to this host, or unset it for the system-assigned one"
                } else {
                    "turn on the system-assigned identity, or set ARM_CLIENT_ID to a user-assigned one attached to this host"
                },
            )),
        }
    }

    /// `az account get-access-token --resource R -o json`, as the providers run it.
    async fn azure_cli(&self, resource: &str) -> Result<Token, CredentialError> {
        let az = find_on_path(self.env, "az").ok_or_else(|| {
            fail(
                self.method,
                "az is not on PATH",
                "install the Azure CLI and run `az login`",
            )
        })?;
        let mut cmd = tokio::process::Command::new(&az);
        cmd.args([
            "account",
            "get-access-token",
            "--resource",
            resource,
            "-o",
            "json",
        ])
        .env_clear()
        .envs(self.env.pairs())
        .kill_on_drop(true)
        .stdin(std::process::Stdio::null());
        if let Some(t) = self.env.get("ARM_TENANT_ID") {
            cmd.args(["--tenant", t]);
        }
        let output = tokio::time::timeout(Duration::from_secs(60), cmd.output())
            .await
            .map_err(|_| {
                fail(
                    self.method,
                    "`az account get-access-token` did not answer in 60 s",
                    "run it yourself to see what it waits for",
                )
            })?
            .map_err(|e| {
                fail(
                    self.method,
                    format!("{} does not run: {e}", az.display()),
                    "reinstall the Azure CLI",
                )
            })?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            let first = stderr
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("no message");
            let expired = stderr.contains("az login")
                || stderr.contains("AADSTS700082")
                || stderr.contains("AADSTS50173");
            return Err(fail(
                self.method,
                format!(
                    "the Azure CLI has no usable login: `az account get-access-token` failed: {first}"
                ),
                if expired {
                    "run `az login` (and `az account set --subscription <id>`), then try again"
                } else {
                    "run `az account get-access-token` yourself to see why; `az login` if needed"
                },
            ));
        }
        let body: Value = serde_json::from_slice(&output.stdout).map_err(|_| {
            fail(
                self.method,
                "`az account get-access-token` printed no JSON",
                "upgrade the Azure CLI (2.30 or later)",
            )
        })?;
        let token = body["accessToken"].as_str().ok_or_else(|| {
            fail(
                self.method,
                "`az account get-access-token` printed no accessToken",
                "upgrade the Azure CLI",
            )
        })?;
        Ok(Token {
            token: SecretString::new(token),
            subscription: body["subscription"].as_str().map(str::to_owned),
        })
    }
}
