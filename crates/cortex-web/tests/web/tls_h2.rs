//! Under TLS the server offers HTTP/2 (ALPN `h2`) and still HTTP/1.1, and a `SIGHUP` makes it
//! serve a renewed certificate to new connections without a restart (a broken pair is refused
//! and the previous certificate stays).

use std::time::Duration;

use crate::common::{Options, Server};

fn client_trusting(ca_pem: &str, http1_only: bool) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap());
    let builder = if http1_only {
        builder.http1_only()
    } else {
        builder
    };
    builder.build().unwrap()
}

fn hang_up() {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_offers_h2_and_reloads_its_certificate_on_sighup() {
    // This process takes SIGHUP as a signal to handle (not to die) before anyone sends one.
    let _hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).unwrap();
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, first_ca) = crate::auth::certificate(certs.path());
    let server = Server::start_with(Options {
        worker: false,
        tls: Some((cert.clone(), key.clone())),
        ..Default::default()
    })
    .await;
    let url = server.url("/healthz");

    // ALPN: h2 for a client that offers it, HTTP/1.1 for one that does not; h2 with prior
    // knowledge works too.
    let h2 = client_trusting(&first_ca, false);
    let r = h2.get(&url).send().await.unwrap();
    assert_eq!(
        (r.status().as_u16(), r.version()),
        (200, reqwest::Version::HTTP_2)
    );
    let r = client_trusting(&first_ca, true)
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status().as_u16(), r.version()),
        (200, reqwest::Version::HTTP_11)
    );
    let prior = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(first_ca.as_bytes()).unwrap())
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let r = prior.get(&url).send().await.unwrap();
    assert_eq!(
        (r.status().as_u16(), r.version()),
        (200, reqwest::Version::HTTP_2)
    );

    // Renewed: a certificate from another CA in the same files, then SIGHUP.
    let (_, _, second_ca) = crate::auth::certificate(certs.path());
    hang_up();
    let renewed = async {
        loop {
            // A fresh client: a new connection, so a new handshake.
            if let Ok(r) = client_trusting(&second_ca, false).get(&url).send().await {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let r = tokio::time::timeout(Duration::from_secs(20), renewed)
        .await
        .expect("the renewed certificate is served after SIGHUP");
    assert_eq!(
        (r.status().as_u16(), r.version()),
        (200, reqwest::Version::HTTP_2)
    );
    // New connections no longer get the old one.
    assert!(
        client_trusting(&first_ca, false)
            .get(&url)
            .send()
            .await
            .is_err()
    );
    // The connection opened before the reload goes on with the certificate it has.
    let r = h2.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // A broken pair (a key that is not the certificate's) is refused: the renewed one stays.
    let other = tempfile::tempdir().unwrap();
    let (_, other_key, _) = crate::auth::certificate(other.path());
    std::fs::copy(&other_key, &key).unwrap();
    hang_up();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = client_trusting(&second_ca, false)
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
