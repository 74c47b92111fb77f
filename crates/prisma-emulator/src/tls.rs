//! A throwaway certificate authority and server certificate, made at start-up.
//!
//! Official SDKs only speak https; `--tls` lets them talk to the emulator. The CA certificate
//! (never its key) can be written out for clients to trust.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

pub struct GeneratedTls {
    pub acceptor: TlsAcceptor,
    /// PEM of the CA that signed the server certificate.
    pub ca_cert_pem: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("generating the certificate failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("building the TLS configuration failed: {0}")]
    Rustls(#[from] tokio_rustls::rustls::Error),
}

/// Makes a CA and a server certificate for `localhost`, `127.0.0.1`, `::1` and `extra_names`.
pub fn generate(extra_names: &[String]) -> Result<GeneratedTls, TlsSetupError> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "azure-cortex emulator CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    names.extend(extra_names.iter().cloned());
    let mut leaf_params = CertificateParams::new(names)?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "azure-cortex emulator");
    leaf_params.use_authority_key_identifier_extension = true;
    let leaf_key = KeyPair::generate()?;
    let leaf = leaf_params.signed_by(&leaf_key, &issuer)?;

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone(), ca_cert.der().clone()], key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(GeneratedTls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        ca_cert_pem: ca_cert.pem(),
    })
}
