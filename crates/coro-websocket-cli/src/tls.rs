//! TLS material for the CLI: server configurations from PEM files, the `bench` client's
//! configuration, and generated demo certificates. The library's own client TLS is not used here:
//! `bench` drives raw streams and needs a bare rustls `ClientConfig`.

use std::sync::Arc;

use anyhow::{Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use rustls_pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName, UnixTime};

/// A rustls server configuration from a PEM certificate chain and a PEM private key.
pub fn server_config_from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<ServerConfig>> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .context("reading the certificate PEM")?;
    anyhow::ensure!(
        !chain.is_empty(),
        "no certificate found in the certificate PEM"
    );
    let key = PrivateKeyDer::from_pem_slice(key_pem).context("reading the private key PEM")?;
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .context("the certificate and key do not form a usable pair")?;
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

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls client configuration: trusting the PEM CA certificates in `ca_pem` if given, else the
/// Mozilla roots (`webpki-roots`), as `connect` does; or, with `insecure`, any certificate.
///
/// # Errors
/// An unreadable or empty CA PEM, or a CA certificate rustls refuses.
pub fn client_config(ca_pem: Option<&[u8]>, insecure: bool) -> Result<Arc<ClientConfig>> {
    let builder =
        ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let builder = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider())))
    } else {
        let mut roots = RootCertStore::empty();
        match ca_pem {
            Some(pem) => {
                let certs = CertificateDer::pem_slice_iter(pem)
                    .collect::<Result<Vec<_>, _>>()
                    .context("reading the CA PEM")?;
                anyhow::ensure!(!certs.is_empty(), "no certificate found in the CA PEM");
                for cert in certs {
                    roots.add(cert).context("unusable CA certificate")?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        builder.with_root_certificates(roots)
    };
    Ok(Arc::new(builder.with_no_client_auth()))
}

/// The name a client sends in SNI and verifies: `host` as a DNS name or an IP address.
///
/// # Errors
/// `host` is neither.
pub fn server_name(host: &str) -> Result<ServerName<'static>> {
    ServerName::try_from(host.to_owned())
        .with_context(|| format!("{host:?} is not a valid TLS server name"))
}

/// `--insecure`: checks the handshake signatures, trusts any certificate chain.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
