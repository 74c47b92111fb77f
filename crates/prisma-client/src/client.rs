//! The request loop every endpoint goes through: pace → authenticate → send with a timeout →
//! classify → (re-login and replay once on 401 | wait and retry | fail).

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use prisma_types::SecretString;
use prisma_types::wire::{
    AUTH_HEADER, ApiErrorBody, LoginRequest, LoginResponse, REDLOCK_STATUS_HEADER,
    REQUEST_ID_HEADER, RedlockStatus,
};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use platform_http::attempts::{Attempt, Budget};
use platform_http::transport::{self, Exchange, Transport, header_str};
use platform_http::{Failure, HttpEvent, Pacer, Verdict};

use crate::config::ClientConfig;
use crate::error::{ApiError, AuthError, Error, safe_snippet};
use crate::events::{ClientEvent, EventHook};
use crate::retry::{is_retryable_status, parse_retry_after, proves_not_processed};
use crate::session::{Renewal, Session};

/// The Prisma Cloud client. Cheap to clone; clones share the session and pacing.
#[derive(Clone)]
pub struct PrismaClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: ClientConfig,
    http: Transport,
    session: Session,
    pub(crate) pacer: Pacer,
    hook: Option<EventHook>,
}

/// How a call authenticates.
#[derive(Clone)]
pub(crate) enum AuthMode {
    None,
    Session,
    Explicit(SecretString),
}

/// One API call: the endpoint's name (method + route template, used for pacing and events),
/// the concrete path, and whether re-sending it is harmless.
pub(crate) struct Call<'a> {
    pub endpoint: &'static str,
    pub method: Method,
    pub path: String,
    pub query: Vec<(&'a str, String)>,
    pub body: Option<Vec<u8>>,
    pub idempotent: bool,
    pub auth: AuthMode,
}

impl<'a> Call<'a> {
    pub(crate) fn new(endpoint: &'static str, path: impl Into<String>) -> Self {
        let method = match endpoint.split(' ').next() {
            Some("POST") => Method::POST,
            Some("PUT") => Method::PUT,
            Some("PATCH") => Method::PATCH,
            Some("DELETE") => Method::DELETE,
            _ => Method::GET,
        };
        let idempotent = method != Method::POST;
        Self {
            endpoint,
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            idempotent,
            auth: AuthMode::Session,
        }
    }

    pub(crate) fn json(mut self, body: &impl serde::Serialize) -> Self {
        self.body = Some(serde_json::to_vec(body).expect("wire models always serialize"));
        self
    }

    pub(crate) fn query(mut self, key: &'a str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }

    /// A POST that only reads or checks (status check, children): safe to re-send.
    pub(crate) fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }

    pub(crate) fn auth(mut self, auth: AuthMode) -> Self {
        self.auth = auth;
        self
    }
}

/// A successful answer.
pub(crate) struct Reply {
    pub status: u16,
    pub body: bytes::Bytes,
}

impl PrismaClient {
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        Self::with_hook(config, None)
    }

    /// A client that reports every call, retry and login to `hook`.
    pub fn with_hook(config: ClientConfig, hook: Option<EventHook>) -> Result<Self, Error> {
        // Redirects are refused: the auth header would follow them to another host.
        let http = Transport::new(
            config.timeouts,
            config.extra_ca_pem.as_deref(),
            config.max_in_flight,
        )
        .map_err(|(setting, message)| Error::config(setting, message))?;
        Ok(Self {
            inner: Arc::new(Inner {
                pacer: Pacer::new(config.pacing.clone()),
                config,
                http,
                session: Session::new(),
                hook,
            }),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The client's pacer (its buckets' state, for benchmarks and diagnostics).
    pub fn pacer(&self) -> &Pacer {
        &self.inner.pacer
    }

    pub(crate) fn emit(&self, event: ClientEvent) {
        if let Some(hook) = &self.inner.hook {
            hook(&event);
        }
    }

    /// Makes sure there is a session (logs in if needed). Useful to check a key.
    pub async fn ensure_session(&self) -> Result<(), Error> {
        self.session_token().await.map(|_| ())
    }

    /// A token fit for use now: the current one, an extended one, or a new login.
    async fn session_token(&self) -> Result<(SecretString, u64), Error> {
        if let Some(fresh) = self.inner.session.fresh() {
            return Ok(fresh);
        }
        let _single_flight = self.inner.session.refresh.lock().await;
        if let Some(fresh) = self.inner.session.fresh() {
            return Ok(fresh);
        }
        let reason = match self.inner.session.renewal() {
            Renewal::Extend(old) => {
                let started = Instant::now();
                match self.extend_with(old).await {
                    Ok(token) => {
                        self.emit(ClientEvent::Extended);
                        return Ok(self.inner.session.store(token, started));
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "extend failed; logging in again");
                        "extend failed"
                    }
                }
            }
            Renewal::Login(reason) => reason,
        };
        self.emit(ClientEvent::Login {
            reason: reason.to_owned(),
        });
        let started = Instant::now();
        let token = self.login().await?;
        Ok(self.inner.session.store(token, started))
    }

    async fn login(&self) -> Result<SecretString, Error> {
        let creds = &self.inner.config.credentials;
        let body = LoginRequest {
            username: creds.access_key_id.clone(),
            password: creds.secret_key.clone(),
            customer_name: creds.customer_name.clone(),
            prisma_id: creds.prisma_id.clone(),
        };
        let call = Call::new("POST /login", "/login")
            .json(&body)
            .idempotent()
            .auth(AuthMode::None);
        let response: LoginResponse = match self.execute_json(call).await {
            Ok(r) => r,
            Err(Error::Api(e)) if e.status == 401 => {
                let key = e
                    .i18n_keys
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "invalid_credentials".into());
                return Err(Error::Auth(AuthError::Rejected { i18n_key: key }));
            }
            Err(e) => return Err(e),
        };
        match response.token {
            Some(t) if !t.is_empty() => Ok(t),
            _ if response.message.as_deref() == Some("login_needs_customer_name") => {
                Err(Error::Auth(AuthError::NeedsCustomerName {
                    choices: response
                        .customer_names
                        .into_iter()
                        .map(|c| c.customer_name)
                        .collect(),
                }))
            }
            _ => Err(Error::Auth(AuthError::NoToken)),
        }
    }

    async fn extend_with(&self, token: SecretString) -> Result<SecretString, Error> {
        let call = Call::new("GET /auth_token/extend", "/auth_token/extend")
            .auth(AuthMode::Explicit(token));
        let response: LoginResponse = self.execute_json(call).await?;
        response
            .token
            .filter(|t| !t.is_empty())
            .ok_or(Error::Auth(AuthError::NoToken))
    }

    pub(crate) async fn execute_json<T: DeserializeOwned>(
        &self,
        call: Call<'_>,
    ) -> Result<T, Error> {
        let endpoint = call.endpoint;
        let reply = self.execute(call).await?;
        platform_http::body::decode_json(&reply.body).map_err(|e| Error::Decode {
            endpoint: endpoint.to_owned(),
            status: reply.status,
            message: e.to_string(),
            raw: safe_snippet(&String::from_utf8_lossy(&reply.body), 300),
        })
    }

    /// Runs a call to completion under its own attempt budget and deadline (the shared loop
    /// of [`platform_http::attempts`]; a 401 on a session call logs in again and replays once).
    pub(crate) async fn execute(&self, call: Call<'_>) -> Result<Reply, Error> {
        let emit = |e: HttpEvent| self.emit(e.into());
        let budget = Budget {
            endpoint: call.endpoint,
            pacer: &self.inner.pacer,
            policy: &self.inner.config.retry,
        };
        let (client, call) = (self, &call);
        let outcome = platform_http::run(budget, &emit, retry_reason, move |attempt| async move {
            let (token, generation) = match &call.auth {
                AuthMode::None => (None, 0),
                AuthMode::Explicit(t) => (Some(t.clone()), 0),
                AuthMode::Session => {
                    // Boxed: logging in runs `execute` itself (with AuthMode::None).
                    match Box::pin(client.session_token()).await {
                        Ok((t, g)) => (Some(t), g),
                        Err(e) => return Verdict::Fail(e),
                    }
                }
            };
            match client.attempt(call, token.as_ref(), attempt).await {
                Verdict::Replay(error) if matches!(call.auth, AuthMode::Session) => {
                    client.inner.session.revoke(generation);
                    client.emit(ClientEvent::Replayed {
                        endpoint: call.endpoint.to_owned(),
                    });
                    Verdict::Replay(error)
                }
                Verdict::Replay(error) => Verdict::Fail(error),
                other => other,
            }
        })
        .await;
        outcome.map_err(|failure| match failure {
            Failure::Final(e) => e,
            Failure::Exhausted {
                attempts,
                elapsed,
                last,
            } => Error::RetriesExhausted {
                endpoint: call.endpoint.to_owned(),
                attempts,
                elapsed,
                last: Box::new(last),
            },
        })
    }

    /// One attempt: send, report, classify. A 401 asks for a replay (the caller decides).
    async fn attempt(
        &self,
        call: &Call<'_>,
        token: Option<&SecretString>,
        attempt: Attempt,
    ) -> Verdict<Reply, Error> {
        let url = self.inner.config.base_url.join(&call.path);
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), url)
            .header("accept", "application/json");
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        if let Some(token) = token {
            let mut value = match HeaderValue::from_str(token.expose()) {
                Ok(v) => v,
                Err(_) => return Verdict::Fail(Error::Auth(AuthError::NoToken)),
            };
            value.set_sensitive(true);
            request = request.header(AUTH_HEADER, value);
        }
        if let Some(body) = &call.body {
            request = request
                .header("content-type", "application/json")
                .body(body.clone());
        }
        let Exchange {
            status,
            headers,
            body,
            request_id,
            ..
        } = match self
            .inner
            .http
            .send(
                request,
                call.endpoint,
                attempt.number,
                call.idempotent,
                REQUEST_ID_HEADER,
                &|e| self.emit(e.into()),
            )
            .await
        {
            Ok(exchange) => exchange,
            Err(broken) => return broken.verdict(Error::Transport),
        };
        if let Some((rps, burst)) =
            transport::learn_limits(&self.inner.pacer, call.endpoint, attempt.ticket, &headers)
        {
            self.emit(ClientEvent::PacingUpdated {
                endpoint: call.endpoint.to_owned(),
                rps,
                burst,
            });
        }
        if status.is_success() {
            return Verdict::Done(Reply {
                status: status.as_u16(),
                body,
            });
        }
        let error = api_error(call.endpoint, status, &headers, &body, request_id);
        let retry_after = match &error {
            Error::Api(e) => e.retry_after,
            _ => None,
        };
        if status == StatusCode::UNAUTHORIZED {
            return Verdict::Replay(error);
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            self.inner.pacer.drain(call.endpoint);
        }
        let code = status.as_u16();
        if is_retryable_status(code) && (call.idempotent || proves_not_processed(code)) {
            Verdict::Retry { error, retry_after }
        } else {
            Verdict::Fail(error)
        }
    }
}

fn retry_reason(error: &Error) -> String {
    match error {
        Error::Api(e) if e.status == 429 => "rate limited (429)".to_owned(),
        Error::Api(e) => format!("server answered {}", e.status),
        Error::Transport(failure) => failure.kind.to_string(),
        other => other.code().to_owned(),
    }
}

/// Decodes an error answer: keys from `x-redlock-status`, else from a JSON error body (Spring
/// `ApiError` or `{error:{code,message}}`); an HTML body (the gateway's 429 page) is noted.
fn api_error(
    endpoint: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    request_id: Option<String>,
) -> Error {
    let mut keys = Vec::new();
    let mut subject = None;
    let mut server_message = None;
    if let Some(raw) = header_str(headers, REDLOCK_STATUS_HEADER)
        && let Ok(entries) = serde_json::from_str::<Vec<RedlockStatus>>(&raw)
    {
        subject = entries.iter().find_map(|e| e.subject.clone());
        keys.extend(entries.into_iter().map(|e| e.i18n_key));
    }
    let content_type = header_str(headers, "content-type").unwrap_or_default();
    let html = content_type.contains("html") || body.trim_ascii_start().starts_with(b"<");
    if keys.is_empty() && !html && !body.is_empty() {
        if let Ok(b) = serde_json::from_slice::<ApiErrorBody>(body) {
            if !b.debug_message.is_empty() && !b.debug_message.contains(' ') {
                keys.push(b.debug_message.clone());
            }
            server_message = Some(safe_snippet(&b.message, 300)).filter(|m| !m.is_empty());
        } else if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
            if let Some(code) = v.pointer("/error/code").and_then(|c| c.as_str()) {
                keys.push(code.to_owned());
            }
            server_message = v
                .pointer("/error/message")
                .and_then(|m| m.as_str())
                .map(|m| safe_snippet(m, 300));
        }
    }
    let retry_after =
        header_str(headers, "retry-after").and_then(|v| parse_retry_after(&v, SystemTime::now()));
    Error::Api(Box::new(ApiError {
        endpoint: endpoint.to_owned(),
        status: status.as_u16(),
        i18n_keys: keys,
        subject,
        server_message,
        request_id,
        html,
        retry_after,
    }))
}
