//! One HTTP exchange: send, read the whole body, time it; a failure is classified by whether
//! the request may have reached the server (which decides if a create may be re-sent).
//!
//! [`Transport`] is the HTTP client of one platform client: reqwest's connection pool and a cap
//! on the exchanges in flight. [`Transport::send`] is the exchange step of every attempt of both
//! clients: it reports the `Call` event and, when the exchange broke, words the
//! [`TransportFailure`] and applies the call's re-send rule — so a create whose request may have
//! reached the server is never sent twice.
//!
//! Why a cap: reqwest opens a new connection whenever every pooled one is busy, with no limit.
//! A caller that starts thousands of calls at once (a library user's `join_all`, a page of
//! lookups) would open thousands of connections to one host — a TCP (and TLS) handshake each,
//! which cost more CPU than the calls themselves (docs/benchmarks.md, "saturation"), and a
//! server sees a burst of new connections where a polite client keeps a pool. Calls past the
//! cap wait for a free slot after their pacing token, so they never send faster than paced.

use std::fmt;
use std::time::{Duration, Instant};

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
    /// The server's request id (from the header [`Transport::send`] was told), for errors and
    /// events.
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

/// Exchanges in flight per client unless configured otherwise: the engine's most jobs at once
/// (each job has one call in flight), so a batch never waits here; only callers that start more
/// calls at once than that queue for a slot.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;

/// What both clients send as `User-Agent`.
pub const USER_AGENT: &str = concat!("azure-cortex/", env!("CARGO_PKG_VERSION"));

/// How long a client waits (each client's configuration has its own defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP + TLS connect.
    pub connect: Duration,
    /// One attempt, from sending to the last byte of the body.
    pub request: Duration,
}

/// The HTTP client both platforms use: connect and request timeouts, redirects refused (the
/// key or token header would follow them), our user agent, an optional extra trusted CA, and at
/// most `max_in_flight` exchanges at once.
pub struct Transport {
    http: reqwest::Client,
    in_flight: tokio::sync::Semaphore,
}

impl Transport {
    /// `extra_ca_pem`: a CA (PEM) to trust besides the system's; `max_in_flight` at least 1.
    /// The error names the setting that was wrong, for a configuration error.
    pub fn new(
        timeouts: Timeouts,
        extra_ca_pem: Option<&str>,
        max_in_flight: usize,
    ) -> Result<Self, (&'static str, String)> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.request)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .pool_idle_timeout(Duration::from_secs(30));
        if let Some(pem) = extra_ca_pem {
            let cert = reqwest::Certificate::from_pem(pem.as_bytes())
                .map_err(|e| ("ca_cert", format!("is not a PEM certificate: {e}")))?;
            builder = builder.add_root_certificate(cert);
        }
        if max_in_flight == 0 {
            return Err(("max_in_flight", "must be at least 1".to_owned()));
        }
        Ok(Self {
            http: builder
                .build()
                .map_err(|e| ("http_client", e.to_string()))?,
            in_flight: tokio::sync::Semaphore::new(max_in_flight),
        })
    }

    /// A request to build and hand to [`Self::send`].
    pub fn request(&self, method: http::Method, url: reqwest::Url) -> reqwest::RequestBuilder {
        self.http.request(method, url)
    }

    /// One attempt's exchange: waits for a slot under the cap, sends `request`, reports the
    /// `Call` event to `emit` (no status when the exchange broke; the request id from
    /// `request_id_header`), and on a broken exchange decides whether the call may be sent
    /// again: always when nothing was sent, and when the request may have reached the server
    /// only if `resend_ambiguous` (reads, checks and other calls that are harmless twice;
    /// never a create).
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
        endpoint: &'static str,
        attempt: u32,
        resend_ambiguous: bool,
        request_id_header: &str,
        emit: &(dyn Fn(HttpEvent) + Send + Sync),
    ) -> Result<Exchange, BrokenAttempt> {
        // The slot is held for the exchange only. The semaphore is never closed, so `acquire`
        // cannot fail; were it to, the call would go out uncapped rather than fail.
        let exchanged = {
            let _slot = self.in_flight.acquire().await.ok();
            exchange(request).await
        };
        match exchanged {
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

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

    fn transport(max_in_flight: usize) -> Result<Transport, (&'static str, String)> {
        let timeouts = Timeouts {
            connect: Duration::from_secs(5),
            request: Duration::from_secs(5),
        };
        Transport::new(timeouts, None, max_in_flight)
    }

    /// A server that holds every request for `hold` before answering 200, and records the
    /// most requests it held at once.
    async fn slow_server(hold: Duration) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let now = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let seen = most.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (now, most) = (now.clone(), most.clone());
                tokio::spawn(async move {
                    let mut socket = tokio::io::BufStream::new(socket);
                    loop {
                        // A GET has no body: its head ends at the empty line.
                        let mut line = String::new();
                        loop {
                            line.clear();
                            match socket.read_line(&mut line).await {
                                Ok(0) | Err(_) => return,
                                Ok(_) if line == "\r\n" => break,
                                Ok(_) => {}
                            }
                        }
                        let held = now.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(held, Ordering::SeqCst);
                        tokio::time::sleep(hold).await;
                        now.fetch_sub(1, Ordering::SeqCst);
                        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                        if socket.write_all(ok).await.is_err() || socket.flush().await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (addr, seen)
    }

    #[tokio::test]
    async fn calls_past_the_cap_wait_for_a_slot_and_all_complete() {
        let (addr, most_held) = slow_server(Duration::from_millis(40)).await;
        let transport = transport(3).unwrap();
        let url: reqwest::Url = format!("http://{addr}/read").parse().unwrap();
        let calls = (0..12).map(|_| {
            let request = transport.request(http::Method::GET, url.clone());
            transport.send(request, "GET /read", 1, true, "x-request-id", &|_| {})
        });
        let answers = futures::future::join_all(calls).await;
        assert!(
            answers
                .iter()
                .all(|a| matches!(a, Ok(e) if e.status == 200))
        );
        // Without the cap, reqwest opens a connection per waiting call: all 12 at once.
        assert_eq!(most_held.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_cap_of_zero_is_refused_naming_the_setting() {
        let Err((setting, message)) = transport(0) else {
            panic!("a transport that can never send must be refused");
        };
        assert_eq!(
            (setting, message.as_str()),
            ("max_in_flight", "must be at least 1")
        );
    }

    async fn send_once(
        addr: std::net::SocketAddr,
        resend_ambiguous: bool,
    ) -> (Verdict<(), String>, Vec<HttpEvent>) {
        let events = Mutex::new(Vec::new());
        let emit = |e: HttpEvent| events.lock().unwrap().push(e);
        let transport = transport(8).unwrap();
        let url = format!("http://{addr}/create?sig=s3cr3t").parse().unwrap();
        let request = transport.request(http::Method::POST, url);
        let verdict = match transport
            .send(
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
