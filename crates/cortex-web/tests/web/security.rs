//! What an attacker tries: open redirects through `next=`, connections that never finish,
//! HTTPS without HSTS.

use std::time::Duration;

use reqwest::Url;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{Auth, OPERATOR, Options, Server, VIEWER};

/// `next=` values, as the server decodes them from the query (the test percent-encodes every
/// byte). Some are encoded once more, as a proxy or a second decoding would see them.
const NEXT_PAYLOADS: [&str; 26] = [
    "/\t/evil.example/x",
    "/\t\t/evil.example",
    "\t//evil.example",
    "/\n/evil.example",
    "/\r/evil.example",
    "/\r\nSet-Cookie: owned=1",
    "/jobs\r\nLocation: https://evil.example/",
    "/\u{0}/evil.example",
    "/\u{1b}/evil.example",
    "/\u{7f}/evil.example",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "/\\/evil.example",
    "https://evil.example/",
    "http:evil.example",
    "javascript:alert(1)",
    "evil.example",
    " //evil.example",
    "/%2F/evil.example",
    "%2F%2Fevil.example",
    "/%5Cevil.example",
    "/%09/evil.example",
    "/%0D%0ASet-Cookie:%20owned=1",
    "/%252F%252Fevil.example",
];

fn encode_all(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// Where a browser on `base` goes for this `Location` (the WHATWG parser: tabs and newlines
/// dropped, `\` read as `/`): it must be `base`'s origin.
fn assert_stays_home(base: &Url, location: &str, payload: &str) {
    let target = base
        .join(location)
        .unwrap_or_else(|e| panic!("{payload:?} → {location:?}: {e}"));
    assert_eq!(
        target.origin(),
        base.origin(),
        "{payload:?} sent the browser to {target}"
    );
    assert!(
        location.starts_with('/') && !location.starts_with("//"),
        "{payload:?} → {location:?}"
    );
    assert!(
        !location.chars().any(|c| c.is_control() || c == '\\'),
        "{payload:?} → {location:?}"
    );
}

#[tokio::test]
async fn next_never_leaves_the_origin_and_never_fails() {
    let server = Server::start_with(Options {
        worker: false,
        ..Default::default()
    })
    .await;
    let base = Url::parse(&server.base).unwrap();
    let session = server.login(OPERATOR).await;
    for payload in NEXT_PAYLOADS {
        let path = format!("/login?next={}", encode_all(payload));
        // Signed in: straight on, to a local page.
        let r = server.request("GET", &path, &session, None).await;
        assert_eq!(r.status(), 303, "{payload:?}");
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        assert_eq!(location, "/", "{payload:?}");
        assert_stays_home(&base, &location, payload);
        // Signed out: the form carries a local `next` only.
        let r = server.request("GET", &path, &Auth::None, None).await;
        assert_eq!(r.status(), 200, "{payload:?}");
        let html = r.text().await.unwrap();
        assert!(
            html.contains(r#"name="next" value="/">"#),
            "{payload:?}: {html}"
        );
    }
    // Local targets survive, encoded as a header value.
    let r = server
        .request(
            "GET",
            "/login?next=%2Fjobs%3Fstate%3Dfailed%26q%3Da%2520b",
            &session,
            None,
        )
        .await;
    assert_eq!(r.headers()["location"], "/jobs?state=failed&q=a%20b");
    // The sign-in form's `next` goes through the same check (a few payloads: each is a real
    // password check).
    for payload in [
        "/\t/evil.example/x",
        "/\r\n/evil.example",
        "//evil.example",
        "/onboard",
    ] {
        let r = server.request("GET", "/login", &Auth::None, None).await;
        let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
        let token = cookie
            .split(';')
            .next()
            .unwrap()
            .split_once('=')
            .unwrap()
            .1
            .to_owned();
        let r = server
            .http
            .post(server.url("/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", format!("cortex_login={token}"))
            .header("origin", &server.base)
            .body(format!(
                "login_token={token}&next={}&name={}&password={}",
                encode_all(payload),
                OPERATOR.0,
                OPERATOR.1
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{payload:?}");
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        assert_stays_home(&base, &location, payload);
        let expected = if payload == "/onboard" {
            "/onboard"
        } else {
            "/"
        };
        assert_eq!(location, expected, "{payload:?}");
    }
}

async fn tls_server(configure: fn(&mut cortex_web::WebConfig)) -> (Server, tempfile::TempDir) {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, ca) = crate::auth::certificate(certs.path());
    let mut server = Server::start_with(Options {
        worker: false,
        tls: Some((cert, key)),
        configure,
        ..Default::default()
    })
    .await;
    server.http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    (server, certs)
}

#[tokio::test]
async fn hsts_is_sent_under_tls_only() {
    let (server, _certs) = tls_server(|_| {}).await;
    for path in ["/healthz", "/api/v1/nope", "/login"] {
        let r = server.request("GET", path, &Auth::None, None).await;
        assert_eq!(
            r.headers()
                .get("strict-transport-security")
                .map(|v| v.to_str().unwrap()),
            Some("max-age=31536000"),
            "{path}"
        );
    }
    let plain = Server::start_with(Options {
        worker: false,
        ..Default::default()
    })
    .await;
    let r = plain.request("GET", "/healthz", &Auth::None, None).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("strict-transport-security").is_none());
}

/// Reads until the server closes the connection (or `within` passes: `false`).
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

async fn metric(server: &Server, viewer: &Auth, name: &str) -> u64 {
    let (status, body) = server.call("GET", "/metrics", viewer, None).await;
    assert_eq!(status, 200, "{body}");
    let text = body["text"].as_str().unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} not in {text}"))
}

#[tokio::test]
async fn slow_headers_and_silent_connections_are_closed() {
    let server = Server::start_with(Options {
        worker: false,
        configure: |web| {
            web.connections.header_read_timeout = Duration::from_secs(1);
            web.connections.idle_timeout = Duration::from_secs(2);
        },
        ..Default::default()
    })
    .await;
    let viewer = server.token(VIEWER).await;
    // A slowloris: the request line and one header, then one more header a second later
    // (after the timeout) — never the blank line.
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    assert!(closed_by_server(&mut slow, Duration::from_secs(20)).await);
    assert!(closed_by_server(&mut silent, Duration::from_secs(20)).await);
    // A keep-alive connection that answered a request and then stays silent goes too.
    let mut kept = TcpStream::connect(server.addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(closed_by_server(&mut kept, Duration::from_secs(20)).await);
    assert!(
        metric(
            &server,
            &viewer,
            "cortex_web_connections_closed_total{reason=\"header_timeout\"}"
        )
        .await
            >= 1
    );
    assert!(
        metric(
            &server,
            &viewer,
            "cortex_web_connections_closed_total{reason=\"idle_timeout\"}"
        )
        .await
            >= 2
    );
}

#[tokio::test]
async fn under_tls_idle_connections_at_the_cap_make_room_for_a_real_request() {
    let (server, _certs) = tls_server(|web| {
        web.connections.max_connections = 8;
    })
    .await;
    let viewer = server.token(VIEWER).await;
    // 40 connections that never start the TLS handshake (or start it and stall).
    let mut idle = Vec::new();
    for i in 0..40 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        if i % 2 == 0 {
            s.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
        }
        idle.push(s);
    }
    let (status, body) = server.call("GET", "/healthz", &Auth::None, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        metric(&server, &viewer, "cortex_web_connections{state=\"limit\"}").await,
        8
    );
    assert!(metric(&server, &viewer, "cortex_web_connections{state=\"open\"}").await <= 8);
    assert!(
        metric(
            &server,
            &viewer,
            "cortex_web_connections_closed_total{reason=\"evicted_idle\"}"
        )
        .await
            >= 32
    );
    drop(idle);
}
