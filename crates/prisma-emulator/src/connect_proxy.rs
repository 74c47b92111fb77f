//! A minimal HTTP `CONNECT` proxy that routes chosen host names to the emulator.
//!
//! The official Python SDK and `pc` accept only `*.prismacloud.io` API hosts without a port.
//! With `--tls-name api.sandbox.prismacloud.io` (a name in the emulator's certificate) and
//! this proxy, an unchanged client reaches the emulator:
//! `HTTPS_PROXY=http://127.0.0.1:PORT REQUESTS_CA_BUNDLE=ca.pem pc ...`. The client opens a
//! tunnel to `api.sandbox.prismacloud.io:443`; the proxy connects it to the emulator's TLS
//! listener and then only copies bytes, so TLS runs end to end between client and emulator.
//! Any other host (or port) is refused with 403: nothing is forwarded to the internet.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Longest `CONNECT` request head accepted.
const MAX_HEAD: usize = 8 * 1024;

/// Which tunnels the proxy opens: `host:443` for each of `hosts` (compared without case),
/// all to `upstream`.
#[derive(Clone, Debug)]
pub struct ProxyRoutes {
    pub hosts: Vec<String>,
    pub upstream: SocketAddr,
}

impl ProxyRoutes {
    fn allows(&self, authority: &str) -> bool {
        let Some((host, port)) = authority.rsplit_once(':') else {
            return false;
        };
        port == "443" && self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }
}

/// Serves `CONNECT` on `listener` until `shutdown` resolves (open tunnels are dropped then).
pub async fn serve(
    listener: TcpListener,
    routes: ProxyRoutes,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let routes = routes.clone();
                tokio::spawn(async move {
                    if let Err(e) = tunnel(stream, &routes).await {
                        tracing::debug!(error = %e, %peer, "connect proxy: tunnel ended");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "connect proxy: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn tunnel(mut client: TcpStream, routes: &ProxyRoutes) -> io::Result<()> {
    let (head, rest) = tokio::time::timeout(Duration::from_secs(10), read_head(&mut client))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no request head in 10 s"))??;
    let request_line = head.lines().next().unwrap_or("");
    let mut parts = request_line.split_ascii_whitespace();
    let (method, authority) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !method.eq_ignore_ascii_case("CONNECT") {
        return refuse(
            &mut client,
            "405 Method Not Allowed",
            "only CONNECT is served",
        )
        .await;
    }
    if !routes.allows(authority) {
        tracing::info!(%authority, "connect proxy: refused a tunnel to a host it does not route");
        return refuse(
            &mut client,
            "403 Forbidden",
            "this proxy routes only the emulator's host names",
        )
        .await;
    }
    let mut upstream = match TcpStream::connect(routes.upstream).await {
        Ok(s) => s,
        Err(e) => {
            refuse(
                &mut client,
                "502 Bad Gateway",
                "the emulator is not reachable",
            )
            .await?;
            return Err(e);
        }
    };
    let _ = upstream.set_nodelay(true);
    client
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await?;
    if !rest.is_empty() {
        upstream.write_all(&rest).await?;
    }
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

/// Reads up to the blank line that ends the request head; returns the head and any bytes
/// the client already sent after it.
async fn read_head(client: &mut TcpStream) -> io::Result<(String, Vec<u8>)> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok((String::from_utf8_lossy(&buf).into_owned(), rest));
        }
        if buf.len() > MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too long",
            ));
        }
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before the head ended",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn refuse(client: &mut TcpStream, status: &str, why: &str) -> io::Result<()> {
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{why}",
        why.len()
    );
    client.write_all(response.as_bytes()).await?;
    client.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn routes_only_the_named_host_on_443() {
        let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let routes = ProxyRoutes {
            hosts: vec!["api.sandbox.prismacloud.io".into()],
            upstream: upstream.local_addr().unwrap(),
        };
        let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_addr = proxy.local_addr().unwrap();
        let stop = tokio_util::sync::CancellationToken::new();
        tokio::spawn(serve(proxy, routes, stop.clone().cancelled_owned()));
        tokio::spawn(async move {
            let (mut s, _) = upstream.accept().await.unwrap();
            let mut got = [0u8; 4];
            s.read_exact(&mut got).await.unwrap();
            s.write_all(&got).await.unwrap();
        });

        let ask = |line: &'static str| async move {
            let mut s = TcpStream::connect(proxy_addr).await.unwrap();
            s.write_all(line.as_bytes()).await.unwrap();
            let mut answer = vec![0u8; 39];
            s.read_exact(&mut answer).await.unwrap();
            (s, String::from_utf8(answer).unwrap())
        };
        let (_, refused) =
            ask("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n").await;
        assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
        let (_, wrong_port) = ask("CONNECT api.sandbox.prismacloud.io:8443 HTTP/1.1\r\n\r\n").await;
        assert!(wrong_port.starts_with("HTTP/1.1 403"), "{wrong_port}");
        let (mut s, ok) = ask("CONNECT API.Sandbox.PrismaCloud.io:443 HTTP/1.1\r\n\r\n").await;
        assert_eq!(ok, "HTTP/1.1 200 Connection Established\r\n\r\n");
        s.write_all(b"ping").await.unwrap();
        let mut echo = [0u8; 4];
        s.read_exact(&mut echo).await.unwrap();
        assert_eq!(&echo, b"ping");
        stop.cancel();
    }
}
