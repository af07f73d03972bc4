//! TLS material for the CLI: server configurations from PEM files, the client settings behind
//! `--ca`/`--insecure`, and generated demo certificates.

use std::sync::Arc;

use anyhow::{Context, Result};
use rustls::ServerConfig;
use rustls_pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};

/// A rustls server configuration from a PEM certificate chain and a PEM private key, offering
/// `h2` and `http/1.1` by ALPN.
pub fn server_config_from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<ServerConfig>> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .context("reading the certificate PEM")?;
    anyhow::ensure!(
        !chain.is_empty(),
        "no certificate found in the certificate PEM"
    );
    let key = PrivateKeyDer::from_pem_slice(key_pem).context("reading the private key PEM")?;
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .context("the certificate and key do not form a usable pair")?;
    // `serve` speaks both on one port (RFC 7301 ALPN; RFC 8441 over h2).
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A freshly generated CA, and a server certificate it signed for `localhost` and `127.0.0.1`.
pub struct DemoCerts {
    /// The CA certificate, PEM: what a client trusts.
    pub ca_pem: String,
    /// The server's certificate chain, PEM.
    pub server_cert_pem: String,
    /// The server's private key, PEM.
    pub server_key_pem: String,
}

/// Generates [`DemoCerts`] with rcgen.
pub fn generate_demo_certs() -> Result<DemoCerts> {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "coro-websocket demo CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
    let server_key = KeyPair::generate()?;
    let server_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    let server_cert = server_params.signed_by(&server_key, &ca)?;
    Ok(DemoCerts {
        ca_pem: ca.pem(),
        server_cert_pem: server_cert.pem(),
        server_key_pem: server_key.serialize_pem(),
    })
}

/// The `--ca FILE` and `--insecure` flags of `connect` as the library's TLS settings. `bench`
/// has the same flags, so the one definition is in the bench crate.
pub use coro_websocket_bench::tls_settings as settings;
