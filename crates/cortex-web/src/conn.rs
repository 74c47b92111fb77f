//! The connections of [`crate::serve`]: every accepted TCP connection, plain or TLS, is
//! admitted under a cap, watched, and served by hyper. A client that never finishes cannot
//! hold a connection (and its file descriptor) for long:
//!
//! * **Header read timeout** — from the first byte of a request (or of the TLS hello) to the
//!   end of its headers: a slowloris trickling one header a second is closed.
//! * **Idle timeout** — a connection with no request in flight that sends nothing (a fresh
//!   connection, or a keep-alive one between requests) is closed.
//! * **Connection cap** — at most [`Limits::max_connections`] open connections (lowered at start
//!   to fit the process's open-file limit). At the cap a new connection takes the place of the
//!   one idle the longest (as nginx reuses keep-alive connections); only when every connection
//!   has a request in flight is the new one refused (closed at once). Either way it is logged
//!   (at most every 10 s) and counted: `cortex_web_connections{state}` (gauge: open, idle,
//!   limit) and `cortex_web_connections_closed_total{reason}` (counter: `evicted_idle`,
//!   `refused_full`, `header_timeout`, `idle_timeout`, `tls_handshake_failed`), on `/metrics`.
//!
//! A request in flight — including a response still streaming, such as an event stream — is
//! never timed out or evicted.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How long and how many (from the configuration).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// Why a connection was closed by us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Closed {
    EvictedIdle,
    RefusedFull,
    HeaderTimeout,
    IdleTimeout,
    TlsHandshakeFailed,
}

impl Closed {
    const ALL: [Closed; 5] = [
        Closed::EvictedIdle,
        Closed::RefusedFull,
        Closed::HeaderTimeout,
        Closed::IdleTimeout,
        Closed::TlsHandshakeFailed,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Closed::EvictedIdle => "evicted_idle",
            Closed::RefusedFull => "refused_full",
            Closed::HeaderTimeout => "header_timeout",
            Closed::IdleTimeout => "idle_timeout",
            Closed::TlsHandshakeFailed => "tls_handshake_failed",
        }
    }
}

/// The figures `/metrics` shows (kept by the [`Registry`] of the running server).
#[derive(Default)]
pub struct ConnectionStats {
    open: AtomicUsize,
    limit: AtomicUsize,
    accepted: AtomicU64,
    accept_errors: AtomicU64,
    closed: [AtomicU64; Closed::ALL.len()],
    /// The registry, to count idle connections at a scrape.
    registry: Mutex<Option<std::sync::Weak<Registry>>>,
}

impl ConnectionStats {
    fn closed(&self, why: Closed) {
        let i = Closed::ALL.iter().position(|c| *c == why).unwrap_or(0);
        self.closed[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Prometheus text for the connection figures.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        let idle = self
            .registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(std::sync::Weak::upgrade)
            .map_or(0, |r| r.idle_count());
        let _ = write!(
            out,
            "# HELP cortex_web_connections Connections to this server: open, idle (no request in flight) and the cap.\n\
             # TYPE cortex_web_connections gauge\n\
             cortex_web_connections{{state=\"open\"}} {}\n\
             cortex_web_connections{{state=\"idle\"}} {idle}\n\
             cortex_web_connections{{state=\"limit\"}} {}\n\
             # HELP cortex_web_connections_accepted_total Connections accepted (before the cap is applied).\n\
             # TYPE cortex_web_connections_accepted_total counter\n\
             cortex_web_connections_accepted_total {}\n\
             # HELP cortex_web_accept_errors_total Failed accepts (such as too many open files).\n\
             # TYPE cortex_web_accept_errors_total counter\n\
             cortex_web_accept_errors_total {}\n\
             # HELP cortex_web_connections_closed_total Connections this server closed, by reason.\n\
             # TYPE cortex_web_connections_closed_total counter\n",
            self.open.load(Ordering::Relaxed),
            self.limit.load(Ordering::Relaxed),
            self.accepted.load(Ordering::Relaxed),
            self.accept_errors.load(Ordering::Relaxed),
        );
        for (why, n) in Closed::ALL.iter().zip(&self.closed) {
            let _ = writeln!(
                out,
                "cortex_web_connections_closed_total{{reason=\"{}\"}} {}",
                why.as_str(),
                n.load(Ordering::Relaxed)
            );
        }
    }
}

/// One connection's activity, shared by its task, its requests and its socket wrapper.
struct Activity {
    /// Requests whose response has not been sent completely.
    in_flight: AtomicUsize,
    /// Milliseconds since the registry's epoch at which it last became idle.
    idle_since: AtomicU64,
    /// When the first byte arrived while idle (a request head, or the TLS hello), plus one;
    /// 0 for none.
    head_started: AtomicU64,
    evict: CancellationToken,
}

impl Activity {
    fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }
}

/// The open connections.
struct Registry {
    limits: Limits,
    epoch: Instant,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Activity>>>,
    stats: Arc<ConnectionStats>,
    last_warning: Mutex<Option<Instant>>,
    /// Connections evicted whose task has not yet run to close the socket: each still holds
    /// a file descriptor (see [`CLOSING_SLACK`]).
    closing: AtomicUsize,
    /// Told each time an evicted connection's socket is closed.
    closed: tokio::sync::Notify,
}

/// The most evicted connections whose sockets are not closed yet before the accept loop waits
/// for them. An eviction only signals the connection's task; under load that task runs late,
/// and accepting on meanwhile spent the descriptors kept for the databases and outgoing calls
/// (EMFILE on `accept` with a thousand idle connections under `ulimit -n 1024`).
const CLOSING_SLACK: usize = 4;

impl Registry {
    fn new(limits: Limits, stats: Arc<ConnectionStats>) -> Self {
        Registry {
            limits,
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
            stats,
            last_warning: Mutex::new(None),
            closing: AtomicUsize::new(0),
            closed: tokio::sync::Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn idle_count(&self) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.values().filter(|a| a.is_idle()).count()
    }

    /// A slot for a new connection: free, or taken from the connection idle the longest.
    fn admit(self: &Arc<Self>) -> Option<Admitted> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.len() >= self.limits.max_connections {
            let oldest_idle = open
                .iter()
                .filter(|(_, a)| a.is_idle())
                .min_by_key(|(_, a)| a.idle_since.load(Ordering::Relaxed))
                .map(|(id, _)| *id);
            let Some(victim) = oldest_idle else {
                drop(open);
                self.stats.closed(Closed::RefusedFull);
                self.warn_full("every connection has a request in flight: a new one was refused");
                return None;
            };
            if let Some(a) = open.remove(&victim) {
                self.closing.fetch_add(1, Ordering::AcqRel);
                a.evict.cancel();
            }
            self.stats.closed(Closed::EvictedIdle);
            self.warn_full("the connection idle the longest was closed for a new one");
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity {
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(self.now_ms()),
            head_started: AtomicU64::new(0),
            evict: CancellationToken::new(),
        });
        open.insert(id, activity.clone());
        self.stats.open.store(open.len(), Ordering::Relaxed);
        Some(Admitted {
            registry: self.clone(),
            id,
            activity,
        })
    }

    fn warn_full(&self, what: &str) {
        let mut last = self.last_warning.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
            *last = Some(Instant::now());
            tracing::warn!(
                limit = self.limits.max_connections,
                "connection limit reached: {what} (max_connections; see \
                 cortex_web_connections_closed_total on /metrics)"
            );
        }
    }

    /// Why the connection should be closed now, if it should.
    fn expired(&self, a: &Activity) -> Option<Closed> {
        if !a.is_idle() {
            return None;
        }
        let now = self.now_ms();
        let head = a.head_started.load(Ordering::Acquire);
        if head > 0 {
            let started = head - 1;
            (now.saturating_sub(started) >= self.limits.header_read_timeout.as_millis() as u64)
                .then_some(Closed::HeaderTimeout)
        } else {
            let since = a.idle_since.load(Ordering::Acquire);
            (now.saturating_sub(since) >= self.limits.idle_timeout.as_millis() as u64)
                .then_some(Closed::IdleTimeout)
        }
    }

    /// How often a connection checks its timeouts.
    fn tick(&self) -> Duration {
        (self
            .limits
            .header_read_timeout
            .min(self.limits.idle_timeout)
            / 4)
        .clamp(Duration::from_millis(50), Duration::from_secs(1))
    }
}

/// A connection's place in the [`Registry`]; freed when dropped.
struct Admitted {
    registry: Arc<Registry>,
    id: u64,
    activity: Arc<Activity>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        // The socket is closed by now: the connection's task dropped it before this.
        let mut open = self.registry.open.lock().unwrap_or_else(|p| p.into_inner());
        open.remove(&self.id);
        self.registry
            .stats
            .open
            .store(open.len(), Ordering::Relaxed);
        drop(open);
        if self.activity.evict.is_cancelled() {
            self.registry.closing.fetch_sub(1, Ordering::AcqRel);
            self.registry.closed.notify_waiters();
        }
    }
}

/// A request in flight on a connection: counted from its head to the end of its response.
struct InFlight {
    activity: Arc<Activity>,
    registry: Arc<Registry>,
}

impl InFlight {
    fn start(activity: &Arc<Activity>, registry: &Arc<Registry>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        activity.head_started.store(0, Ordering::Release);
        InFlight {
            activity: activity.clone(),
            registry: registry.clone(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.activity
            .idle_since
            .store(self.registry.now_ms(), Ordering::Release);
        self.activity.head_started.store(0, Ordering::Release);
        self.activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The socket, noting when bytes arrive on an idle connection (a request head begins).
struct Watched<IO> {
    io: IO,
    activity: Arc<Activity>,
    registry: Arc<Registry>,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let result = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let a = &this.activity;
            if a.is_idle() && a.head_started.load(Ordering::Acquire) == 0 {
                a.head_started
                    .store(this.registry.now_ms() + 1, Ordering::Release);
            }
        }
        result
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// The process's soft open-file limit, where the system says (Linux: `/proc/self/limits`).
fn open_file_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The cap actually used: the configured one, lowered to leave file descriptors for the
/// databases, Terraform and outgoing calls (an eighth of the limit, at least 32).
pub fn effective_max(configured: usize, file_limit: Option<usize>) -> usize {
    match file_limit {
        Some(limit) => {
            let reserve = (limit / 8).max(32);
            configured.min(limit.saturating_sub(reserve).max(1))
        }
        None => configured,
    }
}

/// Accepts on `listener` until `shutdown`; then open connections finish their requests
/// (idle ones close at once) and this returns when all are closed.
pub(crate) async fn run(
    listener: TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    mut limits: Limits,
    stats: Arc<ConnectionStats>,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let configured = limits.max_connections;
    limits.max_connections = effective_max(configured, open_file_limit());
    if limits.max_connections < configured {
        tracing::warn!(
            configured,
            used = limits.max_connections,
            "max_connections lowered to fit the open-file limit (ulimit -n)"
        );
    }
    let registry = Arc::new(Registry::new(limits, stats.clone()));
    stats.limit.store(limits.max_connections, Ordering::Relaxed);
    *stats.registry.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::downgrade(&registry));
    let tracker = TaskTracker::new();
    let mut last_accept_error: Option<Instant> = None;
    'accept: loop {
        while registry.closing.load(Ordering::Acquire) >= CLOSING_SLACK {
            // The timeout guards a wake-up that came between the check and the wait.
            tokio::select! {
                _ = registry.closed.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(10)) => {}
                _ = shutdown.cancelled() => break 'accept,
            }
        }
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    stats.accept_errors.fetch_add(1, Ordering::Relaxed);
                    if last_accept_error.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                        last_accept_error = Some(Instant::now());
                        tracing::warn!(error = %e, "accept failed");
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        let Some(admitted) = registry.admit() else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        tracker.spawn(connection(
            stream,
            peer,
            admitted,
            router.clone(),
            tls.clone(),
            shutdown.clone(),
        ));
    }
    drop(listener);
    tracker.close();
    tracker.wait().await;
    Ok(())
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    admitted: Admitted,
    router: Router,
    tls: Option<TlsAcceptor>,
    shutdown: CancellationToken,
) {
    let registry = admitted.registry.clone();
    let activity = admitted.activity.clone();
    let watched = Watched {
        io: stream,
        activity: activity.clone(),
        registry: registry.clone(),
    };
    match tls {
        None => serve_http(watched, peer, &admitted, router, shutdown).await,
        Some(acceptor) => {
            let handshake = tokio::select! {
                done = tokio::time::timeout(
                    registry.limits.header_read_timeout,
                    acceptor.accept(watched),
                ) => done,
                _ = activity.evict.cancelled() => return,
                _ = shutdown.cancelled() => return,
            };
            match handshake {
                Ok(Ok(tls)) => {
                    // The hello was the handshake's, not a request's.
                    activity.head_started.store(0, Ordering::Release);
                    activity
                        .idle_since
                        .store(registry.now_ms(), Ordering::Release);
                    serve_http(tls, peer, &admitted, router, shutdown).await
                }
                Ok(Err(e)) => {
                    registry.stats.closed(Closed::TlsHandshakeFailed);
                    tracing::debug!(error = %e, %peer, "TLS handshake failed");
                }
                Err(_) => {
                    registry.stats.closed(Closed::HeaderTimeout);
                    tracing::debug!(%peer, "TLS handshake timed out");
                }
            }
        }
    }
}

async fn serve_http<IO>(
    io: IO,
    peer: SocketAddr,
    admitted: &Admitted,
    router: Router,
    shutdown: CancellationToken,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let registry = admitted.registry.clone();
    let activity = admitted.activity.clone();
    let service = {
        let registry = registry.clone();
        let activity = activity.clone();
        hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            let in_flight = InFlight::start(&activity, &registry);
            req.extensions_mut().insert(ConnectInfo(peer));
            let router = router.clone();
            async move {
                let response = router
                    .oneshot(req.map(Body::new))
                    .await
                    .unwrap_or_else(|never| match never {});
                // The request counts until its body is sent (or the connection drops).
                Ok::<_, Infallible>(response.map(|body| {
                    Body::new(body.map_frame(move |frame| {
                        let _ = &in_flight;
                        frame
                    }))
                }))
            }
        })
    };
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(conn);
    let tick = registry.tick();
    let mut draining = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                return;
            }
            _ = activity.evict.cancelled() => return,
            _ = shutdown.cancelled(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tokio::time::sleep(tick) => {
                if let Some(why) = registry.expired(&activity) {
                    registry.stats.closed(why);
                    tracing::debug!(%peer, reason = why.as_str(), "connection closed");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_under_the_open_file_limit() {
        assert_eq!(effective_max(1024, None), 1024);
        assert_eq!(effective_max(1024, Some(20_000)), 1024);
        assert_eq!(effective_max(1024, Some(1024)), 896);
        assert_eq!(effective_max(1024, Some(256)), 224);
        assert_eq!(effective_max(1024, Some(16)), 1);
    }

    fn registry(max: usize) -> Arc<Registry> {
        Arc::new(Registry::new(
            Limits {
                max_connections: max,
                ..Limits::default()
            },
            Arc::default(),
        ))
    }

    #[test]
    fn at_the_cap_the_longest_idle_goes_and_busy_ones_stay() {
        let r = registry(2);
        let first = r.admit().unwrap();
        let second = r.admit().unwrap();
        first.activity.idle_since.store(0, Ordering::Relaxed);
        second.activity.idle_since.store(5, Ordering::Relaxed);
        let busy = InFlight::start(&second.activity, &r);
        let third = r.admit().expect("the idle one makes room");
        assert!(first.activity.evict.is_cancelled());
        assert!(!second.activity.evict.is_cancelled());
        let _busy_too = InFlight::start(&third.activity, &r);
        assert!(r.admit().is_none(), "every connection is busy");
        let mut out = String::new();
        r.stats.render(&mut out);
        assert!(out.contains("cortex_web_connections_closed_total{reason=\"evicted_idle\"} 1"));
        assert!(out.contains("cortex_web_connections_closed_total{reason=\"refused_full\"} 1"));
        drop(busy);
        assert!(second.activity.is_idle());
        // The evicted connection holds its descriptor until its task drops it.
        assert_eq!(r.closing.load(Ordering::Acquire), 1);
        drop(first);
        assert_eq!(r.closing.load(Ordering::Acquire), 0);
        assert_eq!(r.open.lock().unwrap().len(), 2);
    }

    #[test]
    fn a_started_head_has_the_header_timeout_and_silence_the_idle_one() {
        let quick_headers = |header_read_timeout, idle_timeout| {
            Arc::new(Registry {
                limits: Limits {
                    max_connections: 4,
                    header_read_timeout,
                    idle_timeout,
                },
                ..Arc::into_inner(registry(4)).unwrap()
            })
        };
        let r = quick_headers(Duration::from_millis(1), Duration::from_secs(3600));
        let a = r.admit().unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(
            r.expired(&a.activity),
            None,
            "silent: the idle timeout (1 h)"
        );
        a.activity.head_started.store(1, Ordering::Relaxed);
        assert_eq!(r.expired(&a.activity), Some(Closed::HeaderTimeout));
        let busy = InFlight::start(&a.activity, &r);
        a.activity.head_started.store(1, Ordering::Relaxed);
        assert_eq!(r.expired(&a.activity), None, "a request in flight stays");
        drop(busy);
        let r = quick_headers(Duration::from_secs(3600), Duration::from_millis(1));
        let a = r.admit().unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(r.expired(&a.activity), Some(Closed::IdleTimeout));
    }
}
