//! One HTTP exchange: send, read the whole body, time it; a failure is classified by whether
//! the request may have reached the server (which decides if a create may be re-sent).

use std::fmt;
use std::time::Instant;

use bytes::Bytes;
use http::HeaderMap;
use reqwest::StatusCode;

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

/// Lets `pacer` learn the server's limits from an answer's `X-RateLimit-*` headers; returns
/// the new (rps, burst) when they changed.
pub fn learn_limits(
    pacer: &crate::Pacer,
    endpoint: &str,
    headers: &HeaderMap,
) -> Option<(f64, u32)> {
    let rate = header_parse(headers, "x-ratelimit-replenish-rate");
    let burst = header_parse(headers, "x-ratelimit-burst-capacity");
    let remaining = header_parse(headers, "x-ratelimit-remaining");
    pacer.observe(endpoint, rate, burst, remaining)
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
