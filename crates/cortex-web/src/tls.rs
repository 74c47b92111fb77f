//! HTTPS from a PEM certificate chain and private key, HTTP/2 and HTTP/1.1 offered by ALPN
//! (`h2` first: browsers then multiplex every event stream over one connection instead of
//! capping them at six per origin), and certificate reload without a restart.
//!
//! The handshakes happen in each connection's own task, under the connection cap and the header
//! read timeout ([`crate::conn`]), so a slow or silent client stalls nobody else.
//!
//! **Reload**: on `SIGHUP` (see [`crate::serve`]) the certificate and key files are read again;
//! new connections get the new certificate, open ones keep theirs. A pair that cannot be read,
//! or whose key does not match the certificate, is refused with a log line and the previous
//! certificate stays in use. (A signal rather than a file watch: renewal tools such as certbot
//! or cert-manager write the two files one after the other, and a watch could catch a new
//! certificate with the old key; they all have a hook that can send the signal once both are
//! written: `systemctl reload azure-cortex` does.)

use std::sync::{Arc, RwLock};

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

use crate::config::TlsFiles;

/// The certificate new handshakes get, replaceable while the server runs.
#[derive(Debug)]
pub struct CertReloader {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertReloader {
    /// Reads the files again and, if they make a valid pair, serves them to new connections.
    /// On error the previous certificate stays.
    pub fn reload(&self) -> Result<(), String> {
        let key = load(&self.files, &self.provider)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(key);
        Ok(())
    }

    /// The certificate files.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }
}

impl ResolvesServerCert for CertReloader {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

/// Reads the chain and key (errors name the file, never the key material) and checks that
/// they belong together.
fn load(files: &TlsFiles, provider: &CryptoProvider) -> Result<CertifiedKey, String> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let cert_pem = read(&files.cert)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{}: not a PEM certificate chain", files.cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate found", files.cert.display()));
    }
    let key_pem = read(&files.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|_| format!("{}: not a PEM private key", files.key.display()))?;
    CertifiedKey::from_der(certs, key, provider)
        .map_err(|e| format!("certificate and key do not make a TLS configuration: {e}"))
}

/// The acceptor for `files`, and the handle that reloads its certificate.
pub fn acceptor(files: &TlsFiles) -> Result<(TlsAcceptor, Arc<CertReloader>), String> {
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let first = load(files, &provider)?;
    let reloader = Arc::new(CertReloader {
        files: files.clone(),
        provider: provider.clone(),
        current: RwLock::new(Arc::new(first)),
    });
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(reloader.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((TlsAcceptor::from(Arc::new(config)), reloader))
}

/// Reloads the certificate (when there is one) on every `SIGHUP` until `stop` (Unix; elsewhere
/// nothing). Without TLS a `SIGHUP` is logged and changes nothing: it must not end the server
/// (`systemctl reload` sends one).
pub async fn reload_on_hangup(
    reloader: Option<Arc<CertReloader>>,
    stop: tokio_util::sync::CancellationToken,
) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: certificate reload is off");
            return;
        };
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                got = hangups.recv() => {
                    if got.is_none() {
                        return;
                    }
                    let Some(reloader) = &reloader else {
                        tracing::info!("SIGHUP: no TLS certificate to reload");
                        continue;
                    };
                    match reloader.reload() {
                        Ok(()) => tracing::info!(
                            cert = %reloader.files().cert.display(),
                            "TLS certificate reloaded"
                        ),
                        Err(e) => tracing::error!(
                            error = %e,
                            "TLS certificate not reloaded; the previous one stays in use"
                        ),
                    }
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (reloader, stop);
    }
}
