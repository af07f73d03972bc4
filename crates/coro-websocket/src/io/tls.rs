//! Client TLS: turns the [`Tls`] option into a rustls configuration.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::error::Error;
use crate::options::{Tls, TlsConfig};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn builder() -> Result<rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>, Error> {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::TlsConfig(Box::new(e)))
}

fn webpki_store() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// The rustls configuration for a `Tls` option (`Tls::On` is built once and shared).
pub(crate) fn client_config(tls: &Tls) -> Result<Arc<ClientConfig>, Error> {
    static DEFAULT: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    match tls {
        Tls::Off | Tls::On => {
            if let Some(c) = DEFAULT.get() {
                return Ok(c.clone());
            }
            let config = Arc::new(
                builder()?
                    .with_root_certificates(webpki_store())
                    .with_no_client_auth(),
            );
            Ok(DEFAULT.get_or_init(|| config).clone())
        }
        Tls::Config(c) => custom_config(c),
    }
}

pub(crate) fn custom_config(c: &TlsConfig) -> Result<Arc<ClientConfig>, Error> {
    if let Some(config) = &c.rustls {
        return Ok(config.clone());
    }
    let builder = builder()?;
    let builder = if c.accept_invalid_certs {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider())))
    } else {
        let mut store = RootCertStore::empty();
        // With no root named at all, trust the Mozilla roots as `Tls::On` does.
        if c.webpki_roots || (c.roots.is_empty() && !c.native_roots) {
            store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        if c.native_roots {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
        }
        for root in &c.roots {
            store
                .add(root.clone())
                .map_err(|e| Error::TlsConfig(Box::new(e)))?;
        }
        builder.with_root_certificates(store)
    };
    let config = match &c.client_auth {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain.clone(), key.clone_key())
            .map_err(|e| Error::TlsConfig(Box::new(e)))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// The name to send in SNI and to verify: the override, else the host connected to.
pub(crate) fn server_name(tls: &Tls, host: &str) -> Result<ServerName<'static>, Error> {
    let name = match tls {
        Tls::Config(TlsConfig {
            server_name: Some(n),
            ..
        }) => n.as_str(),
        _ => host,
    };
    ServerName::try_from(name.to_owned()).map_err(|e| Error::TlsConfig(Box::new(e)))
}

/// The verifier behind `dangerous_accept_invalid_certs`: checks signatures, trusts any chain.
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
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
