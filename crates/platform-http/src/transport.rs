//! One HTTP exchange: send, read the whole body, time it; a failure is classified by whether
//! the request may have reached the server (which decides if a create may be re-sent).
//!
//! [`send`] is the exchange step of every attempt of both clients: it reports the `Call` event
//! and, when the exchange broke, words the [`TransportFailure`] and applies the call's re-send
//! rule — so a create whose request may have reached the server is never sent twice.

use std::fmt;
use std::time::Instant;

use bytes::Bytes;
use http::HeaderMap;
use reqwest::StatusCode;

use crate::attempts::Verdict;
use crate::events::HttpEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// Could not connect: nothing was sent.
    Connect,
    /// No complete answer in time.
    Timeout,
    /// The connection broke (reset, closed early, body cut off).
    Broken,
}

impl TransportKind {
    pub fn of(e: &reqwest::Error) -> Self {
        if e.is_connect() {
            TransportKind::Connect
        } else if e.is_timeout() {
            TransportKind::Timeout
        } else {
            TransportKind::Broken
        }
    }

    /// True when the request may have gone out, so the server may have acted on it.
    pub fn maybe_processed(self) -> bool {
        self != TransportKind::Connect
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Connect => "could not connect",
            TransportKind::Timeout => "timed out",
            TransportKind::Broken => "connection broken",
        })
    }
}

/// A complete answer.
pub struct Exchange {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub elapsed_ms: u64,
    /// The server's request id (from the header [`send`] was told), for errors and events.
    pub request_id: Option<String>,
}

/// A request that got no complete answer: the error both clients' error enums wrap.
/// Its message names the endpoint and what broke, and says when the server may have acted on
/// the request; the URL is not in it (URLs may carry signed queries).
#[derive(Debug)]
pub struct TransportFailure {
    pub endpoint: String,
    pub kind: TransportKind,
    /// True when the request had gone out, so a create may have been committed.
    pub maybe_processed: bool,
    pub source: Option<reqwest::Error>,
}

impl fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.endpoint, self.kind)?;
        if self.maybe_processed {
            f.write_str(" (the server may have processed it)")?;
        }
        Ok(())
    }
}

impl std::error::Error for TransportFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// A broken attempt and whether the call's rule lets it be sent again.
pub struct BrokenAttempt {
    pub failure: TransportFailure,
    pub resend: bool,
}

impl BrokenAttempt {
    /// The attempt loop's verdict, with the failure wrapped into the client's error.
    pub fn verdict<T, E>(self, wrap: impl FnOnce(TransportFailure) -> E) -> Verdict<T, E> {
        let error = wrap(self.failure);
        if self.resend {
            Verdict::Retry {
                error,
                retry_after: None,
            }
        } else {
            Verdict::Fail(error)
        }
    }
}

/// One attempt's exchange: sends `request`, reports the `Call` event to `emit` (no status when
/// the exchange broke; the request id from `request_id_header`), and on a broken exchange
/// decides whether the call may be sent again: always when nothing was sent, and when the
/// request may have reached the server only if `resend_ambiguous` (reads, checks and other
/// calls that are harmless twice; never a create).
pub async fn send(
    request: reqwest::RequestBuilder,
    endpoint: &'static str,
    attempt: u32,
    resend_ambiguous: bool,
    request_id_header: &str,
    emit: &(dyn Fn(HttpEvent) + Send + Sync),
) -> Result<Exchange, BrokenAttempt> {
    match exchange(request).await {
        Ok(mut answer) => {
            answer.request_id = header_str(&answer.headers, request_id_header);
            emit(HttpEvent::Call {
                endpoint: endpoint.to_owned(),
                status: Some(answer.status.as_u16()),
                attempt,
                elapsed_ms: answer.elapsed_ms,
                request_id: answer.request_id.clone(),
            });
            Ok(answer)
        }
        Err(broken) => {
            emit(HttpEvent::Call {
                endpoint: endpoint.to_owned(),
                status: None,
                attempt,
                elapsed_ms: broken.elapsed_ms,
                request_id: None,
            });
            let maybe_processed = broken.kind.maybe_processed();
            Err(BrokenAttempt {
                resend: resend_ambiguous || !maybe_processed,
                failure: TransportFailure {
                    endpoint: endpoint.to_owned(),
                    kind: broken.kind,
                    maybe_processed,
                    source: Some(broken.error),
                },
            })
        }
    }
}

/// A failed exchange: its kind, the error (its URL removed: URLs may carry signed queries) and
/// how long it took.
pub struct Broken {
    pub kind: TransportKind,
    pub error: reqwest::Error,
    pub elapsed_ms: u64,
}

/// Sends `request` and reads the whole answer.
pub async fn exchange(request: reqwest::RequestBuilder) -> Result<Exchange, Broken> {
    let sent_at = Instant::now();
    let result = async {
        let mut response = request.send().await?;
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let body = response.bytes().await?;
        Ok::<_, reqwest::Error>((status, headers, body))
    }
    .await;
    let elapsed_ms = sent_at.elapsed().as_millis() as u64;
    match result {
        Ok((status, headers, body)) => Ok(Exchange {
            status,
            headers,
            body,
            elapsed_ms,
            request_id: None,
        }),
        Err(e) => Err(Broken {
            kind: TransportKind::of(&e),
            error: e.without_url(),
            elapsed_ms,
        }),
    }
}

/// A header's value parsed in place (no copy: this runs on every answer).
pub fn header_parse<T: std::str::FromStr>(headers: &HeaderMap, name: &str) -> Option<T> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

pub fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Lets `pacer` learn the server's limits from the `X-RateLimit-*` headers of the answer to
/// `ticket`'s attempt; returns the new (rps, burst) when they changed.
pub fn learn_limits(
    pacer: &crate::Pacer,
    endpoint: &str,
    ticket: crate::ratelimit::Ticket,
    headers: &HeaderMap,
) -> Option<(f64, u32)> {
    let rate = header_parse(headers, "x-ratelimit-replenish-rate");
    let burst = header_parse(headers, "x-ratelimit-burst-capacity");
    let remaining = header_parse(headers, "x-ratelimit-remaining");
    pacer.observe(endpoint, ticket, rate, burst, remaining)
}

/// The HTTP client both platforms use: connect and request timeouts, redirects refused (the
/// key or token header would follow them), our user agent, an optional extra trusted CA.
/// The error names what was wrong, for a configuration error.
pub fn http_client(
    connect: std::time::Duration,
    request: std::time::Duration,
    user_agent: &str,
    extra_ca_pem: Option<&str>,
) -> Result<reqwest::Client, (&'static str, String)> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(connect)
        .timeout(request)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(user_agent)
        .pool_idle_timeout(std::time::Duration::from_secs(30));
    if let Some(pem) = extra_ca_pem {
        let cert = reqwest::Certificate::from_pem(pem.as_bytes())
            .map_err(|e| ("ca_cert", format!("is not a PEM certificate: {e}")))?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build().map_err(|e| ("http_client", e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A server that reads the request and closes the connection without answering: the
    /// request reached it, so it may have acted on it.
    async fn hang_up_server() -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut buf).await;
                drop(socket);
            }
        });
        addr
    }

    /// An address nothing listens on: the connection never opens.
    async fn closed_port() -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    }

    async fn send_once(
        addr: std::net::SocketAddr,
        resend_ambiguous: bool,
    ) -> (Verdict<(), String>, Vec<HttpEvent>) {
        let events = Mutex::new(Vec::new());
        let emit = |e: HttpEvent| events.lock().unwrap().push(e);
        let request = reqwest::Client::new().post(format!("http://{addr}/create?sig=s3cr3t"));
        let verdict = match send(
            request,
            "POST /create",
            2,
            resend_ambiguous,
            "x-request-id",
            &emit,
        )
        .await
        {
            Ok(_) => Verdict::Done(()),
            Err(broken) => broken.verdict(|f| f.to_string()),
        };
        (verdict, events.into_inner().unwrap())
    }

    #[tokio::test]
    async fn a_request_that_may_have_arrived_is_resent_only_when_the_call_allows_it() {
        let addr = hang_up_server().await;
        let (create, events) = send_once(addr, false).await;
        let Verdict::Fail(message) = create else {
            panic!("a create whose request may have arrived must not be re-sent");
        };
        assert_eq!(
            message,
            "POST /create: connection broken (the server may have processed it)"
        );
        assert!(!message.contains("s3cr3t"));
        assert_eq!(
            events,
            [HttpEvent::Call {
                endpoint: "POST /create".into(),
                status: None,
                attempt: 2,
                elapsed_ms: match &events[0] {
                    HttpEvent::Call { elapsed_ms, .. } => *elapsed_ms,
                    _ => 0,
                },
                request_id: None,
            }]
        );
        let (read, _) = send_once(addr, true).await;
        assert!(matches!(
            read,
            Verdict::Retry {
                retry_after: None,
                ..
            }
        ));
        // Nothing was sent: even a create goes again.
        let (never_opened, _) = send_once(closed_port().await, false).await;
        let Verdict::Retry { error, .. } = never_opened else {
            panic!("a connection that never opened is always retried");
        };
        assert_eq!(error, "POST /create: could not connect");
    }
}
