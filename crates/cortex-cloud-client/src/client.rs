//! The request loop of every endpoint: the shared attempt loop of [`platform_http`] with
//! Cortex's parts — fresh key headers per attempt, the envelope, and which answers are worth
//! another attempt.
//!
//! Retried: 429, 502, 503, 504 and transport failures (the official SDK's list, minus 401,
//! which a static key never cures). A create (`create_instance_template`, `edit_instance`
//! issue new templates) is re-sent only when the answer proves it was not processed — 429,
//! 503, or a connection that never opened — so a timeout never makes a second pending
//! instance.

use std::sync::Arc;
use std::time::SystemTime;

use cortex_cloud_types::{Reply, Request};
use http::{HeaderValue, header};
use platform_http::attempts::Budget;
use platform_http::retry::{parse_retry_after, proves_not_processed};
use platform_http::transport::{Exchange, Transport, header_str};
use platform_http::{Failure, HttpEvent, Pacer, Verdict};
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::auth;
use crate::config::ClientConfig;
use crate::error::{ApiError, Error};

/// Receives every call and retry event; must be cheap (called inline).
pub type EventHook = Arc<dyn Fn(&HttpEvent) + Send + Sync>;

/// The Cortex Cloud client. Cheap to clone; clones share pacing and the connection pool.
#[derive(Clone)]
pub struct CortexClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClientConfig,
    /// `config.api_url` parsed once: a call sets only its path (parsing the whole URL, its host
    /// through IDNA, was a thirtieth of the client's CPU per request).
    origin: reqwest::Url,
    http: Transport,
    pacer: Pacer,
    hook: Option<EventHook>,
}

/// One call: its name for pacing and events, its path, its body and whether it creates.
/// The body is shared (`Bytes`), so an attempt sends it without copying it.
pub(crate) struct Call {
    pub endpoint: &'static str,
    pub method: Method,
    pub path: &'static str,
    pub body: Option<bytes::Bytes>,
    pub creates: bool,
}

static JSON: HeaderValue = HeaderValue::from_static("application/json");

impl CortexClient {
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        Self::with_hook(config, None)
    }

    /// A client that reports every call and retry to `hook`.
    pub fn with_hook(config: ClientConfig, hook: Option<EventHook>) -> Result<Self, Error> {
        // Redirects are refused: the auth header would follow them to another host.
        let http = Transport::new(
            config.timeouts,
            config.extra_ca_pem.as_deref(),
            config.max_in_flight,
        )
        .map_err(|(setting, message)| Error::config(setting, message))?;
        let origin = reqwest::Url::parse(config.api_url.as_str())
            .map_err(|e| Error::config("api_url", format!("is not a URL ({e})")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                origin,
                pacer: Pacer::new(config.pacing.clone()),
                config,
                http,
                hook,
            }),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    fn emit(&self, event: HttpEvent) {
        if let Some(hook) = &self.inner.hook {
            hook(&event);
        }
    }

    /// POSTs `{"request_data": data}` and returns the `reply`.
    pub(crate) async fn post<Q: Serialize, R: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        path: &'static str,
        data: &Q,
        creates: bool,
    ) -> Result<R, Error> {
        let body = serde_json::to_vec(&Request::new(data)).expect("wire models always serialize");
        let call = Call {
            endpoint,
            method: Method::POST,
            path,
            body: Some(body.into()),
            creates,
        };
        let (status, body) = self.execute(call).await?;
        platform_http::body::decode_json::<Reply<R>>(&body)
            .map(|r| r.reply)
            .map_err(|e| Error::Decode {
                endpoint: endpoint.to_owned(),
                status,
                message: e.to_string(),
            })
    }

    pub(crate) async fn execute(&self, call: Call) -> Result<(u16, bytes::Bytes), Error> {
        let emit = |e: HttpEvent| self.emit(e);
        let budget = Budget {
            endpoint: call.endpoint,
            pacer: &self.inner.pacer,
            policy: &self.inner.config.retry,
        };
        let (client, call_ref) = (self, &call);
        let outcome = platform_http::run(budget, &emit, retry_reason, move |n| async move {
            client.attempt(call_ref, n.number).await
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

    async fn attempt(&self, call: &Call, attempt: u32) -> Verdict<(u16, bytes::Bytes), Error> {
        let Some(auth) = auth::headers(&self.inner.config.key) else {
            return Verdict::Fail(Error::config(
                "key",
                "holds characters a header cannot carry",
            ));
        };
        let mut url = self.inner.origin.clone();
        url.set_path(call.path);
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), url)
            .headers(auth)
            .header(header::ACCEPT, JSON.clone());
        if let Some(body) = &call.body {
            request = request
                .header(header::CONTENT_TYPE, JSON.clone())
                .body(body.clone());
        }
        // A create may be re-sent only when its request certainly never reached the server.
        let resend_ambiguous = !call.creates;
        let Exchange {
            status,
            headers,
            body,
            ..
        } = match self
            .inner
            .http
            .send(
                request,
                call.endpoint,
                attempt,
                resend_ambiguous,
                "x-request-id",
                &|e| self.emit(e),
            )
            .await
        {
            Ok(x) => x,
            Err(broken) => return broken.verdict(Error::Transport),
        };
        let code = status.as_u16();
        if status.is_success() {
            return Verdict::Done((code, body));
        }
        if code == 429 {
            self.inner.pacer.drain(call.endpoint);
        }
        let retry_after = header_str(&headers, "retry-after")
            .and_then(|v| parse_retry_after(&v, SystemTime::now()));
        let error = Error::Api(Box::new(ApiError::from_answer(
            call.endpoint,
            code,
            &body,
            retry_after,
        )));
        let retryable = matches!(code, 429 | 502 | 503 | 504);
        if retryable && (!call.creates || proves_not_processed(code)) {
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
