//! Connections the emulator can cut on purpose, optionally over TLS.
//!
//! Faults like "connection reset" and "commit the create, then drop the response" need a
//! handler to kill the very connection its request came on. [`EmulatorListener`] wraps every
//! accepted connection in a [`KillableIo`] and hands the handler a [`ConnInfo`] (through axum's
//! `ConnectInfo`) whose [`ConnControl::kill`] makes the next read or write fail and closes the
//! socket with an RST (SO_LINGER 0), which is what a client sees from a real network reset.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Shared between a connection's IO and the handlers serving requests on it.
#[derive(Debug, Default)]
pub struct ConnControl {
    killed: AtomicBool,
}

impl ConnControl {
    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
    }

    fn is_killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }
}

/// What a handler learns about its connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub control: Arc<ConnControl>,
}

impl Connected<IncomingStream<'_, EmulatorListener>> for ConnInfo {
    fn connect_info(stream: IncomingStream<'_, EmulatorListener>) -> Self {
        stream.remote_addr().clone()
    }
}

pub enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Transport {
    fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(s) => s.get_ref().0,
        }
    }
}

pub struct KillableIo {
    inner: Transport,
    control: Arc<ConnControl>,
    reset_sent: bool,
}

impl KillableIo {
    fn check(&mut self) -> io::Result<()> {
        if self.control.is_killed() {
            if !self.reset_sent {
                self.reset_sent = true;
                // Linger 0: closing sends RST instead of FIN, like a middlebox reset.
                let _ = socket2::SockRef::from(self.inner.tcp()).set_linger(Some(Duration::ZERO));
            }
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "fault: connection reset",
            ));
        }
        Ok(())
    }
}

macro_rules! with_inner {
    ($self:ident, $s:ident => $e:expr) => {
        match &mut $self.inner {
            Transport::Plain($s) => $e,
            Transport::Tls($s) => $e,
        }
    };
}

impl AsyncRead for KillableIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Err(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        let this = &mut *self;
        with_inner!(this, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for KillableIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Err(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        let this = &mut *self;
        with_inner!(this, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Err(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        let this = &mut *self;
        with_inner!(this, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        with_inner!(this, s => Pin::new(s).poll_shutdown(cx))
    }
}

/// An axum [`Listener`]: accepts TCP (and performs TLS handshakes off the accept path), and
/// yields killable connections.
pub struct EmulatorListener {
    local: SocketAddr,
    incoming: mpsc::Receiver<(KillableIo, ConnInfo)>,
}

impl EmulatorListener {
    pub fn new(listener: TcpListener, tls: Option<TlsAcceptor>) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, incoming) = mpsc::channel(256);
        tokio::spawn(accept_loop(listener, tls, tx));
        Ok(Self { local, incoming })
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    tx: mpsc::Sender<(KillableIo, ConnInfo)>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let control = Arc::new(ConnControl::default());
        let info = ConnInfo {
            peer,
            control: control.clone(),
        };
        let tx = tx.clone();
        match tls.clone() {
            None => {
                let io = KillableIo {
                    inner: Transport::Plain(stream),
                    control,
                    reset_sent: false,
                };
                if tx.send((io, info)).await.is_err() {
                    return;
                }
            }
            Some(acceptor) => {
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
                    match handshake.await {
                        Ok(Ok(tls_stream)) => {
                            let io = KillableIo {
                                inner: Transport::Tls(Box::new(tls_stream)),
                                control,
                                reset_sent: false,
                            };
                            let _ = tx.send((io, info)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, %peer, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        }
    }
}

impl Listener for EmulatorListener {
    type Io = KillableIo;
    type Addr = ConnInfo;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.incoming.recv().await {
            Some(pair) => pair,
            // The accept loop only ends when this listener is gone; never resolve.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(ConnInfo {
            peer: self.local,
            control: Arc::new(ConnControl::default()),
        })
    }
}
